"""What discovery found: each plugin's origin, each failure with its kind, the outcome.

Value types built for every plugin at every process start; see ``_record`` for why they
are not dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from metasync_llm._record import Record
from metasync_llm.hookspecs import OBSERVER_HOOKS

if TYPE_CHECKING:
    import pluggy

    from metasync_llm.base_sdk import BaseLLMSDK

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

    __slots__ = ("distribution", "name", "target", "version")
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

    __slots__ = ("kind", "plugin", "reason")
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

    __slots__ = ("info", "sdk")
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
