"""The plugin manager, and what the contract asks of a plugin's hooks beyond pluggy.

Discovery registers every SDK with :class:`PluginManager`; pluggy validates the hooks
against the specs, and :func:`plugin_problems` adds the rest (each hook a method taking
every spec parameter by name, the async hooks async, registered once under its own
name). The conformance suite runs the same checks.
"""

from __future__ import annotations

import inspect
from typing import Any

import pluggy

from metasync_llm import hookspecs
from metasync_llm.base_sdk import BaseLLMSDK
from metasync_llm.hookspecs import OBSERVER_HOOKS, PROJECT_NAME, SDK_HOOKS


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, told where an SDK plugin's hooks are.

    Registering a plugin looks up every name of ``dir(plugin)`` statically
    (``inspect.getattr_static``, ~10 us a name) to find its hook implementations: 3.1 ms
    for the five bundled SDKs at every process start (measured). An SDK plugin's hooks are
    the SDK hooks, methods its class defines and ``BaseLLMSDK`` marks, so for those the
    marker is read off the class and the other names are skipped: 0.5 ms. Plugins of other
    kinds (observers) are searched as pluggy does, but for their dunder names, which are
    never hooks: an observer object has ~30 (``object``'s), and skipping them took
    registering the OpenTelemetry observer from ~1.0 to ~0.15 ms (measured).
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        if not isinstance(plugin, BaseLLMSDK):
            if name[:2] == "__" and name[-2:] == "__":
                return None
            opts = super().parse_hookimpl_opts(plugin, name)
            # An observer's hook needs no marker: its name says what it is.
            if (
                opts is None
                and name in _OBSERVER_HOOK_NAMES
                and inspect.isroutine(getattr(plugin, name, None))
            ):
                return _PLAIN_HOOKIMPL
            return opts
        if name not in _SDK_HOOK_NAMES:
            return None
        opts = getattr(getattr(type(plugin), name, None), _MARKER, None)
        return opts if isinstance(opts, dict) else None


_SDK_HOOK_NAMES = frozenset(SDK_HOOKS)
_OBSERVER_HOOK_NAMES = frozenset(OBSERVER_HOOKS)
_PLAIN_HOOKIMPL: pluggy.HookimplOpts = {
    "wrapper": False,
    "hookwrapper": False,
    "optionalhook": False,
    "tryfirst": False,
    "trylast": False,
    "specname": None,
}
_MARKER = PROJECT_NAME + "_impl"


def new_plugin_manager() -> PluginManager:
    """A plugin manager with the SDK hook specs."""
    pm = PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def registration_problems(pm: pluggy.PluginManager, sdk: BaseLLMSDK) -> list[str]:
    """How ``pm``'s records of ``sdk``'s hooks differ from plain hook implementations.

    The connector calls the one plugin a document names, so each hook must be registered
    once, under its own name (a method, not a property; no ``specname``), and not as a
    ``wrapper``/``hookwrapper``. Empty when every hook is plain.
    """
    problems = []
    for hook in SDK_HOOKS:
        caller = getattr(pm.hook, hook)
        impls = [i for i in caller.get_hookimpls() if i.plugin is sdk]
        if len(impls) != 1 or impls[0].function.__name__ != hook:
            problems.append(_not_a_plain_hook(sdk, hook, impls))
        elif impls[0].wrapper or impls[0].hookwrapper:
            problems.append(
                f"{hook} is marked @hookimpl(wrapper=...) or (hookwrapper=...): the connector"
                " calls the one plugin a document names; remove the option"
            )
        else:
            problem = _checked_signature(hook, impls[0].function, caller.spec.argnames)
            if problem:
                problems.append(problem)
    return problems


def _checked_signature(hook: str, method: Any, expected: tuple[str, ...]) -> str | None:
    # inspect.signature costs ~10 us a method, 0.3 ms at every start for the bundled SDKs
    # (measured): the core's own hook methods are checked by its tests instead, and a
    # method shared by several plugins (a base class's) is checked once.
    function = getattr(method, "__func__", method)
    if getattr(function, "__module__", "").startswith("metasync_llm."):
        return None
    key = (function, hook)
    if key not in _SIGNATURES:
        _SIGNATURES[key] = _signature_problem(hook, method, expected)
    return _SIGNATURES[key]


_SIGNATURES: dict[tuple[object, str], str | None] = {}


def signature_problems(sdk: BaseLLMSDK, pm: pluggy.PluginManager | None = None) -> list[str]:
    """How ``sdk``'s hook methods differ from the specs, beyond what pluggy checks.

    The connector (and seed-style callers) pass every spec parameter by name, so each
    must be accepted that way; ``astream`` must be an async generator, the others not
    async. Empty when they match.
    """
    pm = pm or new_plugin_manager()
    problems = []
    for hook in SDK_HOOKS:
        method = getattr(sdk, hook, None)
        spec = getattr(pm.hook, hook).spec
        if callable(method) and spec is not None:
            problem = _signature_problem(hook, method, spec.argnames)
            if problem:
                problems.append(problem)
    return problems


def _not_a_plain_hook(sdk: BaseLLMSDK, hook: str, impls: list[pluggy.HookImpl]) -> str:
    redirected = [i.function.__name__ for i in impls if i.function.__name__ != hook]
    if redirected:
        return (
            f"{', '.join(redirected)} is marked @hookimpl(specname={hook!r}), which SDK hooks"
            " do not support: name the method after the hook"
        )
    static = inspect.getattr_static(sdk, hook, None)
    return (
        f"{hook} is a {type(static).__name__}, not a method (pluggy only registers"
        " functions, methods, staticmethods and classmethods)"
    )


def _signature_problem(hook: str, method: Any, expected: tuple[str, ...]) -> str | None:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin without a signature: pluggy checked it
        return None
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    details = [f"missing parameter {n!r}" for n in expected if n not in params and not var_kw]
    details += [
        f"unexpected required parameter {n!r}"
        for n, p in params.items()
        if n not in expected
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.default is p.empty
    ]
    details += [
        f"positional-only parameter {n!r}" for n, p in params.items() if p.kind is p.POSITIONAL_ONLY
    ]
    coroutine = inspect.iscoroutinefunction(method)
    if hook == "astream" and not inspect.isasyncgenfunction(method):
        details.append("must be an async generator (async def with yield), not a coroutine")
    elif hook != "astream" and (coroutine or inspect.isasyncgenfunction(method)):
        details.append("must not be async (use astream for asyncio)")
    if not details:
        return None
    return f"{hook}({', '.join(expected)}) expected: {', '.join(details)}"


def plugin_problems(
    sdk: BaseLLMSDK, pm: pluggy.PluginManager | None = None, name: str | None = None
) -> list[str]:
    """Why discovery refuses ``sdk``'s hooks (empty when it accepts them).

    Registers ``sdk`` with ``pm`` (a new manager by default); pluggy validates the hooks
    against the specs, and :func:`registration_problems` and :func:`signature_problems`
    add what the contract asks beyond pluggy. A refused plugin is left unregistered.
    """
    pm = pm or new_plugin_manager()
    try:
        pm.register(sdk, name=name or type(sdk).__name__)
    except Exception as exc:  # pluggy's PluginValidationError, or what it asserts
        reason = str(exc).replace("\n", "; ")
        return [f"pluggy refused the hooks: {reason}", *signature_problems(sdk, pm)]
    problems = registration_problems(pm, sdk)
    if problems:
        pm.unregister(sdk)
    return problems


def add_observer(pm: pluggy.PluginManager, observer: object, name: str) -> str | None:
    """Register ``observer`` in ``pm`` as ``name``; what is wrong with it, if anything."""
    try:
        pm.register(observer, name=name)
    except pluggy.PluginValidationError as exc:
        return f"a hook does not match the observer hooks' spec: {exc}"
    except ValueError as exc:
        return str(exc)
    if not pm.get_hookcallers(observer):
        pm.unregister(observer)
        hooks = ", ".join(OBSERVER_HOOKS)
        return f"{type(observer).__name__} has none of the observer hooks ({hooks})"
    return None
