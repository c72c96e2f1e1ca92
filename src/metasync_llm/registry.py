"""Discovery of SDK plugins from the ``metasync_llm.sdks`` entry-point group, one plugin at a time.

Each entry point is loaded on its own, so one broken plugin never stops the others; every
failure is recorded with the plugin, its distribution and version, and the reason. Each
plugin is checked against the hook specs as it loads; the pluggy manager that holds them
is built on first use, as the connector calls plugins directly.
"""

from __future__ import annotations

import _thread  # threading's lock, without importing threading at every start
import importlib
import inspect
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any

import pluggy

from metasync_llm import hookspecs
from metasync_llm._entry_points import EntryPoint, scan
from metasync_llm._record import Record
from metasync_llm._record import set_field as _set
from metasync_llm.base_sdk import BaseLLMSDK
from metasync_llm.hookspecs import ALL_HOOKS, ENTRY_POINT_GROUP, PROJECT_NAME, REQUIRED_HOOKS

if TYPE_CHECKING:
    from metasync_llm.errors import SDKNotFoundError

#: Comma-separated allow-list of SDK names; when set, only these plugins are loaded.
ALLOW_ENV = "METASYNC_LLM_SDKS"

# Reasons a plugin is not available, as recorded in PluginLoadFailure.kind.
IMPORT_ERROR = "import-error"
NOT_A_PLUGIN = "not-a-plugin"
MISSING_HOOKS = "missing-hooks"
INIT_ERROR = "init-error"
GET_NAME_ERROR = "get-name-error"
NAME_MISMATCH = "name-mismatch"
DUPLICATE_NAME = "duplicate-name"
SIGNATURE_MISMATCH = "signature-mismatch"


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


class Discovery(Record):
    """One discovery's outcome: what loaded, what failed, what the allow-list left out."""

    __slots__ = ("sdks", "failures", "disabled", "allow", "path", "_plugin_manager")
    sdks: Mapping[str, LoadedSDK]
    failures: tuple[PluginLoadFailure, ...]
    disabled: tuple[PluginInfo, ...]
    allow: frozenset[str] | None
    path: tuple[str, ...]
    _plugin_manager: pluggy.PluginManager | None

    def __init__(
        self,
        sdks: Mapping[str, LoadedSDK],
        failures: tuple[PluginLoadFailure, ...],
        disabled: tuple[PluginInfo, ...],
        allow: frozenset[str] | None,
        path: tuple[str, ...],
    ) -> None:
        _set(self, "sdks", sdks)
        _set(self, "failures", failures)
        _set(self, "disabled", disabled)
        _set(self, "allow", allow)
        _set(self, "path", path)
        _set(self, "_plugin_manager", None)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """A pluggy manager holding the specs and every loaded SDK, built on first use.

        The connector calls plugins directly, and discovery has already checked each one
        against what pluggy verifies, so process start does not pay for registering them.
        """
        pm = self._plugin_manager
        if pm is None:
            with _MANAGER_LOCK:
                pm = self._plugin_manager
                if pm is None:
                    pm = _SDKPluginManager(PROJECT_NAME)
                    pm.add_hookspecs(hookspecs)
                    for name, loaded in self.sdks.items():
                        pm.register(loaded.sdk, name=name)
                    _set(self, "_plugin_manager", pm)
        return pm


_MANAGER_LOCK = _thread.allocate_lock()


class _SDKPluginManager(pluggy.PluginManager):
    """Treats a ``BaseLLMSDK``'s contract methods as hook implementations without markers."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        is_sdk = isinstance(plugin, BaseLLMSDK)
        if name.startswith("__") or (is_sdk and name not in ALL_HOOKS):
            # Never a hook: this skips pluggy's static attribute lookup (the bulk of
            # registering) for the dunders and a plugin's own helpers.
            return None
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and is_sdk:
            return {
                "wrapper": False,
                "hookwrapper": False,
                "optionalhook": False,
                "tryfirst": False,
                "trylast": False,
                "specname": None,
            }
        return opts


def _spec_parameters(hook: str) -> tuple[str, ...]:
    # The specs are plain functions with positional-or-keyword parameters only: their code
    # object names them (inspect.signature would cost ~0.3 ms at every start).
    code = getattr(hookspecs, hook).__code__
    names: tuple[str, ...] = code.co_varnames[: code.co_argcount]
    return names


_SPEC_PARAMETERS = {hook: _spec_parameters(hook) for hook in ALL_HOOKS}


def signature_mismatches(sdk: object) -> list[str]:
    """Describe how ``sdk``'s hook methods differ from the specs (empty when they match).

    The connector calls hooks with keyword arguments, so every spec parameter must be
    accepted by name and no other parameter may be required. pluggy's own check is
    weaker: it ignores parameters with defaults, which it would then never pass.
    """
    problems = []
    for hook, expected in _SPEC_PARAMETERS.items():
        method = getattr(sdk, hook, None)
        if not callable(method):
            problems.append(f"{hook}: not implemented")
            continue
        if _plainly_matches(hook, method, expected):
            continue
        try:
            params = inspect.signature(method).parameters
        except (TypeError, ValueError):
            continue  # builtins without signatures: pluggy's check below still applies
        var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
        missing = [n for n in expected if n not in params and not var_kw]
        extra = [
            n
            for n, p in params.items()
            if n not in expected
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.default is p.empty
        ]
        positional_only = [n for n, p in params.items() if p.kind is p.POSITIONAL_ONLY]
        details = (
            [f"missing parameter {n!r}" for n in missing]
            + [f"unexpected required parameter {n!r}" for n in extra]
            + [f"positional-only parameter {n!r}" for n in positional_only]
        )
        kind = _kind_problem(hook, method)
        if kind:
            details.append(kind)
        if details:
            problems.append(f"{hook}({', '.join(expected)}) expected: {', '.join(details)}")
    return problems


_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08
_CO_COROUTINE, _CO_ASYNC_GENERATOR = 0x80, 0x200
_KIND_FLAGS = {"acomplete": _CO_COROUTINE, "astream": _CO_ASYNC_GENERATOR}


def _plainly_matches(hook: str, method: Any, expected: tuple[str, ...]) -> bool:
    """True for a plain method whose parameters are exactly the spec's, of the right kind.

    The common case, read off the code object: ``inspect.signature`` costs ~50 us a
    method, at every process start. Anything else takes the full check.
    """
    code = getattr(getattr(method, "__func__", None), "__code__", None)
    if code is None or getattr(method, "__self__", None) is None:
        return False
    if code.co_posonlyargcount or code.co_kwonlyargcount:
        return False
    if code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS):
        return False
    kind = code.co_flags & (_CO_COROUTINE | _CO_ASYNC_GENERATOR)
    params: tuple[str, ...] = code.co_varnames[1 : code.co_argcount]
    return kind == _KIND_FLAGS.get(hook, 0) and params == expected


def _kind_problem(hook: str, method: Any) -> str | None:
    coroutine = inspect.iscoroutinefunction(method)
    if hook == "acomplete" and not coroutine:
        return "must be a coroutine function (async def)"
    if hook == "astream" and coroutine:
        return "must be an async generator (async def with yield), not a coroutine"
    if hook in ("complete", "stream", "get_name", "validate_config") and (
        coroutine or inspect.isasyncgenfunction(method)
    ):
        return "must not be async (use acomplete/astream for asyncio)"
    return None


_HOOKABLE = (FunctionType, MethodType, staticmethod, classmethod)
_ABSENT = object()
_MARKER = PROJECT_NAME + "_impl"
#: hookimpl options that change how pluggy calls a hook; the connector calls SDK methods
#: directly, so a plugin using them would not behave as it says.
_CALL_OPTIONS = ("wrapper", "hookwrapper", "specname")


def registration_problems(sdk: BaseLLMSDK) -> list[str]:
    """What pluggy would refuse (or silently change) when registering ``sdk``'s hooks.

    Checked at discovery without registering: :attr:`Discovery.plugin_manager` registers
    the plugins on first use, and must then accept every plugin discovery accepted.
    """
    problems = []
    own = getattr(sdk, "__dict__", {})
    for hook in ALL_HOOKS:
        raw = own.get(hook, _ABSENT)
        if raw is _ABSENT:
            raw = next((k.__dict__[hook] for k in type(sdk).__mro__ if hook in k.__dict__), None)
        if not isinstance(raw, _HOOKABLE) or (
            hook in own and isinstance(raw, (staticmethod, classmethod))
        ):
            problems.append(
                f"{hook} is a {type(raw).__name__}, not a method (pluggy only registers"
                " functions, methods, staticmethods and classmethods)"
            )
            continue
        opts = getattr(raw, _MARKER, None) or getattr(getattr(raw, "__func__", None), _MARKER, None)
        used = [option for option in _CALL_OPTIONS if isinstance(opts, dict) and opts.get(option)]
        if used:
            problems.append(
                f"{hook} is marked @hookimpl({', '.join(f'{o}=...' for o in used)}), which SDK"
                " hooks do not support: the connector calls them directly; remove the option"
            )
    return problems


def _read_allow_list() -> frozenset[str] | None:
    raw = os.environ.get(ALLOW_ENV, "")
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    return names or None


def _plugin_info(ep: EntryPoint) -> PluginInfo:
    return PluginInfo(
        name=ep.name, distribution=ep.distribution, version=ep.version, target=ep.value
    )


def _instantiate(obj: object, info: PluginInfo) -> BaseLLMSDK | PluginLoadFailure:
    if isinstance(obj, BaseLLMSDK):
        return obj
    if not (isinstance(obj, type) and issubclass(obj, BaseLLMSDK)):
        what = f"class {obj.__qualname__}" if isinstance(obj, type) else type(obj).__name__
        return PluginLoadFailure(
            info,
            NOT_A_PLUGIN,
            f"entry point {info.target!r} is a {what}, not a subclass of"
            " metasync_llm.BaseLLMSDK implementing " + ", ".join(REQUIRED_HOOKS),
        )
    if obj.__abstractmethods__:
        missing = ", ".join(sorted(obj.__abstractmethods__))
        return PluginLoadFailure(
            info, MISSING_HOOKS, f"{obj.__qualname__} does not implement the hooks: {missing}"
        )
    try:
        return obj()
    except Exception as exc:
        return PluginLoadFailure(
            info, INIT_ERROR, f"{obj.__qualname__}() raised {type(exc).__name__}: {exc}"
        )


def _load_one(ep: EntryPoint, info: PluginInfo) -> LoadedSDK | PluginLoadFailure:
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
    mismatches = signature_mismatches(sdk)
    if mismatches:
        return PluginLoadFailure(
            info,
            SIGNATURE_MISMATCH,
            "hook signature does not match the spec: " + "; ".join(mismatches),
        )
    refused = registration_problems(sdk)
    if refused:
        return PluginLoadFailure(
            info, SIGNATURE_MISMATCH, "pluggy cannot register the hooks: " + "; ".join(refused)
        )
    return LoadedSDK(sdk, info)


def discover(
    *, path: Sequence[str] | None = None, allow: Collection[str] | None = None
) -> Discovery:
    """Load every plugin of the entry-point group (on ``path``, default ``sys.path``).

    ``allow`` restricts loading to those SDK names (default: the ``METASYNC_LLM_SDKS``
    environment variable, unrestricted when unset). Never raises for a broken plugin.
    """
    search = list(path) if path is not None else list(sys.path)
    allowed = frozenset(allow) if allow is not None else _read_allow_list()
    by_name: dict[str, list[tuple[EntryPoint, PluginInfo]]] = {}
    for ep in scan(search, ENTRY_POINT_GROUP):
        by_name.setdefault(ep.name, []).append((ep, _plugin_info(ep)))

    sdks: dict[str, LoadedSDK] = {}
    failures: list[PluginLoadFailure] = []
    disabled: list[PluginInfo] = []
    for name in sorted(by_name):
        claims = _unique_distributions(by_name[name])
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
            disabled.append(info)
            continue
        outcome = _load_one(ep, info)
        if isinstance(outcome, PluginLoadFailure):
            failures.append(outcome)
        else:
            sdks[name] = outcome
    if failures:
        from metasync_llm._log import get_logger  # noqa: PLC0415 - only for failures

        logger = get_logger(__name__)
        for failure in failures:
            logger.warning("SDK plugin not loaded: %s", failure)
    return Discovery(
        sdks=sdks,
        failures=tuple(failures),
        disabled=tuple(disabled),
        allow=allowed,
        path=tuple(search),
    )


def _unique_distributions(
    claims: list[tuple[EntryPoint, PluginInfo]],
) -> list[tuple[EntryPoint, PluginInfo]]:
    # The same distribution can be seen twice (e.g. on two sys.path entries); the first
    # copy wins, as it would for an import. Only different distributions conflict.
    seen: dict[str | None, tuple[EntryPoint, PluginInfo]] = {}
    for ep, info in claims:
        key = _normalize(info.distribution) if info.distribution else info.target
        seen.setdefault(key, (ep, info))
    return list(seen.values())


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


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

    def discovery(self) -> Discovery:
        """The current discovery, running it on first use."""
        found = self._discovery
        if found is None:
            with self._lock:
                found = self._discovery
                if found is None:
                    found = self._discovery = discover(path=self._path, allow=self._allow)
        return found

    @property
    def discovered(self) -> bool:
        """Whether discovery has run (so :meth:`discovery` returns without blocking)."""
        return self._discovery is not None

    def refresh(self) -> Discovery:
        """Discover again, seeing distributions installed since the last discovery.

        Modules already imported stay imported: upgrading a plugin in place needs a restart.
        """
        importlib.invalidate_caches()
        with self._lock:
            self._discovery = discover(path=self._path, allow=self._allow)
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
            hint = (
                f" (did you mean {close[0]!r}? SDK names are case-sensitive)"
                if close
                else ("; install the distribution that provides it")
            )
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
