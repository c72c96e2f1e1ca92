"""The checks of a call's arguments, each against the document and what the plugin declares.

``_prepare.prepare`` runs them in turn; each returns the checked value or raises a
:class:`~metasync_llm.ConfigurationError` naming the argument and the fix (``config_error``
puts the document's names on it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metasync_llm._model import is_number
from metasync_llm.errors import ConfigurationError

if TYPE_CHECKING:
    from metasync_llm._model import ModelSettings
    from metasync_llm._tools._define import PreparedTool
    from metasync_llm.registry import LoadedSDK
    from metasync_llm.request import Message

#: ``max_tokens`` when the caller gives none (lowered to the document's ``maxToken``).
DEFAULT_MAX_TOKENS = 4096


def config_error(message: str, settings: ModelSettings, *fields: str) -> ConfigurationError:
    """The error of a call argument: its message, the fields it names, the model's names."""
    return ConfigurationError(message, fields=fields, sdk=settings.sdk, model=settings.name)


#: The levels ``reasoning=`` takes (besides a token budget).
REASONING_LEVELS = ("none", "low", "medium", "high")


def reasoning_argument(
    value: object,
    loaded: LoadedSDK,
    config: Mapping[str, Any],
    settings: ModelSettings,
    max_tokens: int,
) -> str | int | None:
    """``reasoning=``, else the document's ``reasoning``: a level or a positive token
    budget, that the plugin says it can honour for this document."""
    if value is None:
        value = config.get("reasoning")
    if value is None:
        return None
    if not (
        value in REASONING_LEVELS
        or (isinstance(value, int) and not isinstance(value, bool) and value > 0)
    ):
        raise config_error(
            f"reasoning must be one of {', '.join(REASONING_LEVELS)} or a token budget (a"
            f" positive integer), got {value!r}",
            settings,
            "reasoning",
        )
    assert isinstance(value, str | int)
    sdk = loaded.sdk
    why = (
        "it does not declare reasoning controls"
        if "reasoning" not in sdk.features
        else sdk.reasoning_problem(config, value, max_tokens)
    )
    if why is not None:
        raise config_error(
            f"SDK {settings.sdk} ({loaded.info.origin}) cannot honour reasoning={value!r}: {why}",
            settings,
            "reasoning",
        )
    return value


def tools_argument(
    tools: object,
    tool_choice: object,
    turns: tuple[Message, ...],
    loaded: LoadedSDK,
    settings: ModelSettings,
) -> tuple[dict[str, PreparedTool], str | None]:
    """The checked tools and tool choice; a plugin that does not declare ``"tools"`` gets
    neither tools nor a conversation holding tool calls (never a silent drop)."""
    used = tools is not None or any(t.tool_calls or t.role == "tool" for t in turns)
    if not used:
        if tool_choice is not None:
            raise config_error(
                "tool_choice is given without tools: pass tools=[...] too", settings, "tool_choice"
            )
        return {}, None
    if "tools" not in loaded.sdk.features:
        what = "tools" if tools is not None else "a conversation holding tool calls"
        raise config_error(
            f"SDK {settings.sdk} ({loaded.info.origin}) does not declare tool calling;"
            f" {what} cannot be sent through it",
            settings,
            "tools" if tools is not None else "messages",
        )
    if tools is None:
        return {}, tool_choice_argument(tool_choice, {}, settings) if tool_choice else None
    from metasync_llm._tools._define import prepare_tools  # noqa: PLC0415 - tool calls only

    try:
        offered = prepare_tools(tools)
    except ConfigurationError as exc:
        exc.sdk, exc.model = settings.sdk, settings.name
        raise
    return offered, tool_choice_argument(tool_choice, offered, settings)


def tool_choice_argument(
    value: object, offered: Mapping[str, PreparedTool], settings: ModelSettings
) -> str | None:
    from metasync_llm._tools._define import tool_choice_argument as checked  # noqa: PLC0415

    try:
        return checked(value, offered)
    except ConfigurationError as exc:
        exc.sdk, exc.model = settings.sdk, settings.name
        raise


def stop_argument(value: object, limit: int | None, settings: ModelSettings) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = (value,) if isinstance(value, str) else value
    if (
        not isinstance(stops, Sequence)
        or not stops
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise config_error(
            f"stop must be a non-empty string or a list of them, got {value!r}", settings, "stop"
        )
    if limit is not None and len(stops) > limit:
        raise config_error(
            f"stop has {len(stops)} sequences; SDK {settings.sdk} takes at most {limit}",
            settings,
            "stop",
        )
    return tuple(stops)


def text_argument(name: str, value: object, settings: ModelSettings) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise config_error(f"{name} must be a string, got {type(value).__name__}", settings, name)
    return value


def temperature_argument(value: object, settings: ModelSettings) -> float:
    """The temperature asked for (clamped later): a finite number; below 0 only when the
    document's ``minTemperature`` will clamp it up, as the seed did."""
    if not is_number(value) or (value < 0 and settings.min_temperature is None):
        raise config_error(
            f"temperature must be a finite number >= 0, got {value!r}", settings, "temperature"
        )
    return float(value)


def max_tokens_argument(value: object, settings: ModelSettings) -> int:
    if value is None:
        value = DEFAULT_MAX_TOKENS
    elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise config_error(
            f"max_tokens must be a positive integer, got {value!r}", settings, "max_tokens"
        )
    if settings.max_token is not None and value > settings.max_token:
        return settings.max_token
    return value
