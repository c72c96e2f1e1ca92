"""The plugin registry: SDK plugins and observers, discovered once per process from entry points.

:data:`SDKRegistry` (a :class:`PluginRegistry`) runs discovery on first use, thread-safely,
and answers ``list_sdks``/``get_sdk``/``get_loaded``; a missing SDK is an
:class:`~metasync_llm.SDKNotFoundError` that says why (not installed, failed to load, not
in the allow-list). The work is in ``metasync_llm._plugins``: ``_discovery`` loads each
entry point on its own (one broken plugin never stops the others), ``_policing`` checks
the hooks against the contract, ``_records`` holds what was found. Observers
(``metasync_llm.observers`` entry points, ``register_observer``, and the usage ledger when
``METASYNC_LLM_LEDGER`` is set) join the same pluggy manager for the broadcast
``metasync_llm_call_*`` hooks.
"""

from __future__ import annotations

import _thread  # threading's lock, without importing threading at every start
import importlib
import sys
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from metasync_llm._plugins._discovery import ALLOW_ENV, LEDGER_ENV, discover
from metasync_llm._plugins._policing import (
    PluginManager,
    add_observer,
    new_plugin_manager,
    plugin_problems,
    registration_problems,
    signature_problems,
)
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
from metasync_llm.base_sdk import BaseLLMSDK

if TYPE_CHECKING:
    from metasync_llm.errors import SDKNotFoundError

#: The distribution that provides each SDK of this project, for "not installed" messages.
KNOWN_DISTRIBUTIONS = {
    "OpenAI": "metasync-llm-openai",
    "AzureOpenAI": "metasync-llm-azure-openai",
    "Anthropic": "metasync-llm-anthropic",
    "ChatCompletionsClient": "metasync-llm-azure-inference",
    "Gemini": "metasync-llm-gemini",
}


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


__all__ = [
    "ALLOW_ENV",
    "DUPLICATE_NAME",
    "GET_NAME_ERROR",
    "IMPORT_ERROR",
    "INIT_ERROR",
    "KNOWN_DISTRIBUTIONS",
    "LEDGER_ENV",
    "MISSING_HOOKS",
    "NAME_MISMATCH",
    "NOT_AN_OBSERVER",
    "NOT_A_PLUGIN",
    "SIGNATURE_MISMATCH",
    "Discovery",
    "LoadedSDK",
    "PluginInfo",
    "PluginLoadFailure",
    "PluginManager",
    "PluginRegistry",
    "SDKRegistry",
    "discover",
    "environment_summary",
    "new_plugin_manager",
    "plugin_problems",
    "registration_problems",
    "signature_problems",
]
