"""Loading SDK plugins and observers from their entry points, each on its own.

:func:`discover` scans the dist-info folders on a path (``_entry_points``), imports each
entry point, checks it (``_policing``) and records what loaded, what failed and why, and
what the allow-list left out (``_records``). One broken plugin never stops the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Sequence

import pluggy

from metasync_llm._plugins._entry_points import EntryPoint, scan_groups
from metasync_llm._plugins._policing import add_observer, new_plugin_manager, plugin_problems
from metasync_llm._plugins._records import (
    DUPLICATE_NAME,
    GET_NAME_ERROR,
    IMPORT_ERROR,
    INIT_ERROR,
    MISSING_HOOKS,
    NAME_MISMATCH,
    NOT_A_PLUGIN,
    NOT_AN_OBSERVER,
    SIGNATURE_MISMATCH,
    Discovery,
    LoadedSDK,
    PluginInfo,
    PluginLoadFailure,
)
from metasync_llm.base_sdk import BaseLLMSDK, missing_hooks
from metasync_llm.hookspecs import ENTRY_POINT_GROUP, OBSERVER_GROUP

#: Comma-separated allow-list of SDK names; when set, only these plugins are loaded.
ALLOW_ENV = "METASYNC_LLM_SDKS"
#: A SQLite file: when set, every call is recorded there (see :mod:`metasync_llm.ledger`).
LEDGER_ENV = "METASYNC_LLM_LEDGER"


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
    missing = missing_hooks(obj)
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
