"""Discovery of SDK plugins and observers from their entry points, into a pluggy manager.

Each entry point is loaded on its own, so one broken plugin never stops the others. Every
SDK that loads is registered with the discovery's ``pluggy.PluginManager`` under its
entry-point name, so pluggy validates it against the hook specs; what pluggy refuses, and
what the contract asks beyond pluggy (every hook a method accepting every spec parameter
by name, the async hooks async), is recorded with the plugin, its distribution and
version, and the reason, and the plugin is left out.

The connector calls the one plugin a model document names (SDK hooks are one-to-one).
Observers (``metasync_llm.observers`` entry points, ``register_observer``, and the usage
ledger when ``METASYNC_LLM_LEDGER`` is set) join the same manager for the broadcast
``metasync_llm_call_*`` hooks; a broken one is recorded like a broken SDK.
"""

from __future__ import annotations

import _thread  # threading's lock, without importing threading at every start
import importlib
import inspect
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from metasync_llm import hookspecs
from metasync_llm._plugins._entry_points import EntryPoint, scan_groups
from metasync_llm._record import Record
from metasync_llm.base_sdk import BaseLLMSDK, implements_a_call
from metasync_llm.hookspecs import (
    ENTRY_POINT_GROUP,
    OBSERVER_GROUP,
    OBSERVER_HOOKS,
    PROJECT_NAME,
    SDK_HOOKS,
)

if TYPE_CHECKING:
    from metasync_llm.errors import SDKNotFoundError

#: Comma-separated allow-list of SDK names; when set, only these plugins are loaded.
ALLOW_ENV = "METASYNC_LLM_SDKS"
#: A SQLite file: when set, every call is recorded there (see :mod:`metasync_llm.ledger`).
LEDGER_ENV = "METASYNC_LLM_LEDGER"

#: The distribution that provides each SDK of this project, for "not installed" messages.
KNOWN_DISTRIBUTIONS = {
    "OpenAI": "metasync-llm-openai",
    "AzureOpenAI": "metasync-llm-azure-openai",
    "Anthropic": "metasync-llm-anthropic",
    "ChatCompletionsClient": "metasync-llm-azure-inference",
    "Gemini": "metasync-llm-gemini",
}

# Reasons a plugin is not available, as recorded in PluginLoadFailure.kind.
IMPORT_ERROR = "import-error"
NOT_A_PLUGIN = "not-a-plugin"
MISSING_HOOKS = "missing-hooks"
INIT_ERROR = "init-error"
GET_NAME_ERROR = "get-name-error"
NAME_MISMATCH = "name-mismatch"
DUPLICATE_NAME = "duplicate-name"
SIGNATURE_MISMATCH = "signature-mismatch"
NOT_AN_OBSERVER = "not-an-observer"

_set = object.__setattr__  # how a Record's __init__ sets its fields


class PluginInfo(Record):
    """Where a plugin comes from: its SDK name, distribution, version and entry-point target."""

    __slots__ = ("name", "distribution", "version", "target")
    name: str
    distribution: str | None
    version: str | None
    target: str

    def __init__(
        self, name: str, distribution: str | None, version: str | None, target: str
    ) -> None:
        _set(self, "name", name)
        _set(self, "distribution", distribution)
        _set(self, "version", version)
        _set(self, "target", target)

    @property
    def origin(self) -> str:
        """``distribution version`` (or the entry-point target when there is no distribution)."""
        if self.distribution is None:
            return self.target
        return f"{self.distribution} {self.version}" if self.version else self.distribution


class PluginLoadFailure(Record):
    """A plugin that could not be loaded, and why."""

    __slots__ = ("plugin", "kind", "reason")
    plugin: PluginInfo
    kind: str
    reason: str

    def __init__(self, plugin: PluginInfo, kind: str, reason: str) -> None:
        _set(self, "plugin", plugin)
        _set(self, "kind", kind)
        _set(self, "reason", reason)

    def __str__(self) -> str:
        return f"{self.plugin.name} ({self.plugin.origin}): {self.reason}"


class LoadedSDK(Record):
    """A plugin that loaded: its instance and where it came from."""

    __slots__ = ("sdk", "info")
    sdk: BaseLLMSDK
    info: PluginInfo

    def __init__(self, sdk: BaseLLMSDK, info: PluginInfo) -> None:
        _set(self, "sdk", sdk)
        _set(self, "info", info)


class Discovery:
    """One discovery's outcome: the plugin manager, what loaded, failed, or was left out."""

    __slots__ = (
        "allow",
        "disabled",
        "failures",
        "observed",
        "observers",
        "path",
        "plugin_manager",
        "sdks",
    )

    def __init__(
        self,
        plugin_manager: pluggy.PluginManager,
        sdks: Mapping[str, LoadedSDK],
        failures: Sequence[PluginLoadFailure],
        disabled: Sequence[PluginInfo],
        allow: frozenset[str] | None,
        path: Sequence[str],
        observers: dict[str, PluginInfo] | None = None,
    ) -> None:
        #: The pluggy manager holding the hook specs and every loaded SDK, by SDK name.
        self.plugin_manager = plugin_manager
        self.sdks = sdks
        self.failures = tuple(failures)
        self.disabled = tuple(disabled)
        self.allow = allow
        self.path = tuple(path)
        #: The observers registered, by name (entry-point name, or the name given in code).
        self.observers: dict[str, PluginInfo] = observers or {}
        #: Whether any observer hook is implemented: calls skip the events when not.
        self.observed = False
        self.update_observed()

    def update_observed(self) -> None:
        """Recompute :attr:`observed` after observers came or went."""
        hook = self.plugin_manager.hook
        self.observed = any(getattr(hook, name).get_hookimpls() for name in OBSERVER_HOOKS)

    def __repr__(self) -> str:
        return (
            f"<Discovery sdks={sorted(self.sdks)} failures={len(self.failures)}"
            f" disabled={len(self.disabled)}>"
        )


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
    must be accepted that way; ``acomplete`` must be a coroutine function, ``astream`` an
    async generator, the others not async. Empty when they match.
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
    if hook == "acomplete" and not coroutine:
        details.append("must be a coroutine function (async def)")
    elif hook == "astream" and not inspect.isasyncgenfunction(method):
        details.append("must be an async generator (async def with yield), not a coroutine")
    elif hook not in ("acomplete", "astream") and (coroutine or inspect.isasyncgenfunction(method)):
        details.append("must not be async (use acomplete/astream for asyncio)")
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


def _read_allow_list() -> frozenset[str] | None:
    raw = os.environ.get(ALLOW_ENV, "")
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    return names or None


def _plugin_info(ep: EntryPoint) -> PluginInfo:
    return PluginInfo(ep.name, ep.distribution, ep.version, ep.value)


def _instantiate(obj: object, info: PluginInfo) -> BaseLLMSDK | PluginLoadFailure:
    if isinstance(obj, BaseLLMSDK):
        return obj
    if not (isinstance(obj, type) and issubclass(obj, BaseLLMSDK)):
        what = f"class {obj.__qualname__}" if isinstance(obj, type) else type(obj).__name__
        return PluginLoadFailure(
            info,
            NOT_A_PLUGIN,
            f"entry point {info.target!r} is a {what}, not a subclass of"
            " metasync_llm.BaseLLMSDK implementing get_name, validate_config and complete",
        )
    missing = sorted(obj.__abstractmethods__)
    if not implements_a_call(obj):
        missing.append("complete (or stream and astream)")
    if missing:
        return PluginLoadFailure(
            info,
            MISSING_HOOKS,
            f"{obj.__qualname__} does not implement the hooks: {', '.join(missing)}",
        )
    try:
        return obj()
    except Exception as exc:
        return PluginLoadFailure(
            info, INIT_ERROR, f"{obj.__qualname__}() raised {type(exc).__name__}: {exc}"
        )


def _load_one(
    pm: pluggy.PluginManager, ep: EntryPoint, info: PluginInfo
) -> LoadedSDK | PluginLoadFailure:
    try:
        obj = ep.load()
    except Exception as exc:
        return PluginLoadFailure(
            info, IMPORT_ERROR, f"importing {info.target!r} failed: {type(exc).__name__}: {exc}"
        )
    sdk = _instantiate(obj, info)
    if isinstance(sdk, PluginLoadFailure):
        return sdk
    try:
        name = sdk.get_name()
    except Exception as exc:
        return PluginLoadFailure(
            info, GET_NAME_ERROR, f"get_name() raised {type(exc).__name__}: {exc}"
        )
    if name != info.name:
        return PluginLoadFailure(
            info,
            NAME_MISMATCH,
            f"get_name() returns {name!r} but the entry point is named {info.name!r};"
            " they must be equal",
        )
    problems = plugin_problems(sdk, pm, info.name)
    if problems:
        return PluginLoadFailure(
            info,
            SIGNATURE_MISMATCH,
            "hook signature does not match the spec: " + "; ".join(problems),
        )
    return LoadedSDK(sdk, info)


def discover(
    *, path: Sequence[str] | None = None, allow: Collection[str] | None = None
) -> Discovery:
    """Load every plugin of the entry-point group (on ``path``, default ``sys.path``).

    ``allow`` restricts loading to those SDK names (default: the ``METASYNC_LLM_SDKS``
    environment variable, unrestricted when unset); the others are blocked in the plugin
    manager. Never raises for a broken plugin.
    """
    search = list(path) if path is not None else list(sys.path)
    allowed = frozenset(allow) if allow is not None else _read_allow_list()
    groups = scan_groups(search, (ENTRY_POINT_GROUP, OBSERVER_GROUP))
    by_name: dict[str, list[tuple[EntryPoint, PluginInfo]]] = {}
    for ep in groups[ENTRY_POINT_GROUP]:
        by_name.setdefault(ep.name, []).append((ep, _plugin_info(ep)))

    pm = new_plugin_manager()
    sdks: dict[str, LoadedSDK] = {}
    failures: list[PluginLoadFailure] = []
    disabled: list[PluginInfo] = []
    for name in sorted(by_name):
        claims = by_name[name]
        if len(claims) > 1:
            origins = " and ".join(info.origin for _, info in claims)
            for _, info in claims:
                failures.append(
                    PluginLoadFailure(
                        info,
                        DUPLICATE_NAME,
                        f"SDK name {name!r} is claimed by more than one distribution: {origins};"
                        " uninstall one of them",
                    )
                )
            continue
        ep, info = claims[0]
        if allowed is not None and name not in allowed:
            pm.set_blocked(name)
            disabled.append(info)
            continue
        outcome = _load_one(pm, ep, info)
        if isinstance(outcome, PluginLoadFailure):
            failures.append(outcome)
        else:
            sdks[name] = outcome
    observers: dict[str, PluginInfo] = {}
    for ep in groups[OBSERVER_GROUP]:
        info = _plugin_info(ep)
        failure = _load_observer(pm, ep, info, observers)
        if failure is not None:
            failures.append(failure)
    ledger = os.environ.get(LEDGER_ENV)
    if ledger:
        from metasync_llm.ledger import Ledger  # noqa: PLC0415 - only when asked for

        pm.register(Ledger(ledger), name="observer:ledger")
        observers["ledger"] = PluginInfo("ledger", None, None, "metasync_llm.ledger:Ledger")
    if failures:
        from metasync_llm._log import get_logger  # noqa: PLC0415 - only for failures

        logger = get_logger(__name__)
        for failure in failures:
            logger.warning("plugin not loaded: %s", failure)
    return Discovery(pm, sdks, failures, disabled, allowed, search, observers)


def _load_observer(
    pm: pluggy.PluginManager, ep: EntryPoint, info: PluginInfo, observers: dict[str, PluginInfo]
) -> PluginLoadFailure | None:
    """Register one observer entry point (a module, a class, or an object) in ``pm``."""
    if info.name in observers:
        first = observers[info.name].origin
        return PluginLoadFailure(
            info,
            DUPLICATE_NAME,
            f"observer name {info.name!r} is claimed by {first} and {info.origin};"
            " uninstall one of them",
        )
    try:
        obj = ep.load()
    except Exception as exc:
        return PluginLoadFailure(
            info, IMPORT_ERROR, f"importing {info.target!r} failed: {type(exc).__name__}: {exc}"
        )
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            return PluginLoadFailure(
                info, INIT_ERROR, f"{info.target}() raised {type(exc).__name__}: {exc}"
            )
    problem = add_observer(pm, obj, f"observer:{info.name}")
    if problem is not None:
        return PluginLoadFailure(info, NOT_AN_OBSERVER, problem)
    observers[info.name] = info
    return None


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


class PluginRegistry:
    """SDK plugins of one environment, discovered once and on demand, thread-safely.

    Most code uses the process-wide instance :data:`SDKRegistry`. Tests and tools create
    their own with an explicit ``path`` (where to look for distributions) or ``allow``
    (an allow-list of SDK names, overriding ``METASYNC_LLM_SDKS``).
    """

    def __init__(
        self, *, path: Sequence[str] | None = None, allow: Collection[str] | None = None
    ) -> None:
        self._path = tuple(path) if path is not None else None
        self._allow = frozenset(allow) if allow is not None else None
        self._lock = _thread.allocate_lock()
        self._discovery: Discovery | None = None
        self._observers: dict[str, object] = {}  # registered in code: kept across refreshes

    def discovery(self) -> Discovery:
        """The current discovery, running it on first use."""
        found = self._discovery
        if found is None:
            with self._lock:
                found = self._discovery
                if found is None:
                    found = self._discovery = self._discover()
        return found

    def _discover(self) -> Discovery:
        found = discover(path=self._path, allow=self._allow)
        for name, observer in self._observers.items():
            if add_observer(found.plugin_manager, observer, f"observer:{name}") is None:
                found.observers[name] = _code_observer(name, observer)
        found.update_observed()
        return found

    def register_observer(self, observer: object, *, name: str | None = None) -> str:
        """Register ``observer`` for every call through this registry; returns its name."""
        found = self.discovery()
        with self._lock:
            base = name or type(observer).__name__
            chosen, n = base, 1
            while chosen in found.observers:
                n += 1
                chosen = f"{base}-{n}"
            problem = add_observer(found.plugin_manager, observer, f"observer:{chosen}")
            if problem is not None:
                raise ValueError(f"cannot register observer {chosen!r}: {problem}")
            self._observers[chosen] = observer
            found.observers[chosen] = _code_observer(chosen, observer)
            found.update_observed()
        return chosen

    def unregister_observer(self, name: str) -> None:
        """Stop the observer registered as ``name`` (by code or by an entry point)."""
        found = self.discovery()
        with self._lock:
            if name not in found.observers:
                raise KeyError(f"no observer named {name!r}; registered: {sorted(found.observers)}")
            found.plugin_manager.unregister(name=f"observer:{name}")
            del found.observers[name]
            self._observers.pop(name, None)
            found.update_observed()

    @property
    def discovered(self) -> bool:
        """Whether discovery has run (so :meth:`discovery` returns without blocking)."""
        return self._discovery is not None

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy manager of the current discovery."""
        return self.discovery().plugin_manager

    def refresh(self) -> Discovery:
        """Discover again, seeing distributions installed since the last discovery.

        Modules already imported stay imported: upgrading a plugin in place needs a restart.
        """
        importlib.invalidate_caches()
        with self._lock:
            self._discovery = self._discover()
            return self._discovery

    def list_sdks(self) -> list[str]:
        """Names of the SDKs that loaded, sorted."""
        return sorted(self.discovery().sdks)

    def get_sdk(self, name: str) -> BaseLLMSDK:
        """The plugin instance for SDK ``name``; :class:`SDKNotFoundError` if unavailable."""
        return self.get_loaded(name).sdk

    def get_all_sdks(self) -> dict[str, BaseLLMSDK]:
        """Every loaded SDK, by name."""
        return {name: loaded.sdk for name, loaded in self.discovery().sdks.items()}

    def get_loaded(self, name: str) -> LoadedSDK:
        """The loaded plugin and its origin; :class:`SDKNotFoundError` says why not."""
        found = self.discovery()
        loaded = found.sdks.get(name)
        if loaded is not None:
            return loaded
        raise self._not_found(found, name)

    def plugins(self) -> list[PluginInfo]:
        """Where each loaded SDK comes from."""
        found = self.discovery()
        return [found.sdks[name].info for name in sorted(found.sdks)]

    def load_failures(self) -> list[PluginLoadFailure]:
        """Every plugin that failed to load, with the reason."""
        return list(self.discovery().failures)

    @staticmethod
    def _not_found(found: Discovery, name: str) -> SDKNotFoundError:
        from metasync_llm.errors import SDKNotFoundError  # noqa: PLC0415 - not at discovery

        available = sorted(found.sdks)
        listing = ", ".join(available) if available else "none"
        failures = [f for f in found.failures if f.plugin.name == name]
        if not isinstance(name, str) or not name:
            message = f"no SDK named {name!r}"
        elif failures:
            message = f"SDK {name!r} is installed but failed to load: " + "; ".join(
                str(f) for f in failures
            )
        elif any(info.name == name for info in found.disabled):
            message = (
                f"SDK {name!r} is installed but not in the allow-list {ALLOW_ENV}="
                f"{','.join(sorted(found.allow or ()))}"
            )
        else:
            close = [n for n in available if n.lower() == name.lower()]
            known = KNOWN_DISTRIBUTIONS.get(name)
            if close:
                hint = f" (did you mean {close[0]!r}? SDK names are case-sensitive)"
            elif known:
                hint = (
                    f"; it comes with {known}, not on PyPI yet: pip install"
                    f" ./plugins/{known} from a clone of metasync-llm, or pip install"
                    f" --find-links DIR {known} from a folder of wheels (README, 'Set-up')"
                )
            else:
                hint = "; install the distribution that provides it"
            message = f"no SDK named {name!r} is installed{hint}"
        return SDKNotFoundError(
            f"{message}. Available SDKs: {listing}",
            name=name,
            available=available,
            load_error="; ".join(str(f) for f in failures) or None,
        )


#: The process-wide registry: ``SDKRegistry.list_sdks()``, ``SDKRegistry.get_sdk(name)``, ...
SDKRegistry = PluginRegistry()


def environment_summary() -> dict[str, Any]:
    """The Python environment discovery looks in (for ``metasync-llm sdks``)."""
    return {"python": sys.executable, "version": sys.version.split()[0], "prefix": sys.prefix}


def _code_observer(name: str, observer: object) -> PluginInfo:
    cls = type(observer)
    return PluginInfo(name, None, None, f"{cls.__module__}:{cls.__qualname__} (registered in code)")
