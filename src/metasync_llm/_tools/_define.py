"""The tools a caller offers, checked before any request: ``tools=`` and ``tool_choice=``.

``_pipeline._prepare`` calls :func:`prepare_tools` for a call with ``tools=``. A function
becomes a :class:`~metasync_llm.Tool` through pydantic (its parameters' JSON Schema from
the type hints; the same adapter later calls it with validated arguments); every tool's
parameters are checked as a JSON Schema object with ``jsonschema``, and its validator kept
to check the arguments a model sends.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from metasync_llm.errors import ConfigurationError
from metasync_llm.tools import Tool

if TYPE_CHECKING:
    from metasync_llm._structured._schema import Schema

#: What every provider takes as a function name (OpenAI and Anthropic: ``[a-zA-Z0-9_-]``,
#: 1 to 64; Gemini: starting with a letter or an underscore).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
CHOICES = ("auto", "none", "required")


@dataclass(frozen=True, slots=True, eq=False)
class PreparedTool:
    """A checked tool: the :class:`Tool` sent to the provider, the validator of its
    arguments, and (for a function) the pydantic adapter that calls it."""

    tool: Tool
    schema: Schema
    adapter: Any = None

    @property
    def runnable(self) -> bool:
        return self.tool.function is not None


def prepare_tools(value: object) -> dict[str, PreparedTool]:
    """The checked tools of ``tools=``, by name, in the caller's order."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise _error(f"tools must be a list of tools, got {type(value).__name__}")
    prepared: dict[str, PreparedTool] = {}
    for index, item in enumerate(value):
        tool = _prepared(item, index)
        name = tool.tool.name
        if name in prepared:
            raise _error(f"tools[{index}]: two tools are named {name!r}; tool names must differ")
        prepared[name] = tool
    if not prepared:
        raise _error("tools is empty: pass at least one tool, or leave tools out")
    return prepared


def tool_choice_argument(value: object, tools: Mapping[str, PreparedTool]) -> str | None:
    """``None``, ``"auto"``, ``"none"``, ``"required"`` or the name of an offered tool."""
    if value is None:
        return None
    if not tools:
        raise ConfigurationError(
            "tool_choice is given without tools: pass tools=[...] too", fields=("tool_choice",)
        )
    if isinstance(value, str) and (value in CHOICES or value in tools):
        return value
    raise ConfigurationError(
        f"tool_choice must be 'auto', 'none', 'required' or the name of one of the tools"
        f" ({', '.join(map(repr, tools))}), got {value!r}",
        fields=("tool_choice",),
    )


def _prepared(item: object, index: int) -> PreparedTool:
    where = f"tools[{index}]"
    adapter = None
    if isinstance(item, Tool):
        tool = item
    elif isinstance(item, Mapping):
        unknown = set(item) - {"name", "description", "parameters"}
        if unknown:
            raise _error(
                f"{where} has unknown keys {sorted(unknown)}: a tool dict holds 'name',"
                " 'description' and 'parameters'"
            )
        parameters = item.get("parameters", {"type": "object", "properties": {}})
        tool = Tool(str(item.get("name", "")), item.get("description") or "", parameters)
    elif callable(item):
        tool, adapter = _from_function(item, where)
    else:
        raise _error(
            f"{where} is a {type(item).__name__}: a tool is a function, a metasync_llm.Tool"
            " or a dict with 'name', 'description' and 'parameters'"
        )
    if not isinstance(tool.name, str) or not NAME.fullmatch(tool.name):
        raise _error(
            f"{where} has the name {tool.name!r}: a tool name is 1 to 64 letters, digits,"
            " '_' or '-', starting with a letter or '_' (what every provider accepts)"
        )
    where = f"{where} ({tool.name!r})"
    if not isinstance(tool.description, str):
        raise _error(f"{where}: description must be a string")
    if tool.function is not None and not callable(tool.function):
        raise _error(f"{where}: function must be callable")
    return PreparedTool(tool, _parameters(tool.parameters, where), adapter)


def _from_function(function: Callable[..., Any], where: str) -> tuple[Tool, Any]:
    name = getattr(function, "__name__", "")
    where = f"{where} ({name!r})"
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise _error(f"{where}: its signature cannot be read") from None
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise _error(
                f"{where}: *{parameter.name} has no JSON Schema; a tool function takes named"
                " parameters only"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise _error(f"{where}: {parameter.name} is positional-only; the model passes names")
    try:
        import pydantic  # noqa: PLC0415 - only for calls with function tools
    except ImportError:
        raise _error(
            f'{where}: a function tool needs pydantic: pip install "metasync-llm[tools]"'
        ) from None
    try:
        adapter: Any = pydantic.TypeAdapter(cast(Any, function))
        parameters = adapter.json_schema()
    except pydantic.PydanticUserError as exc:  # a type with no JSON Schema, a bad hint
        raise _error(f"{where}: a parameter has no JSON Schema ({_first_line(str(exc))})") from None
    except Exception as exc:  # pydantic reports some unsupported types with core errors
        raise _error(
            f"{where}: its parameters cannot be described: {_first_line(str(exc))}"
        ) from None
    description = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    parameters.pop("title", None)
    for field, schema in (parameters.get("properties") or {}).items():
        # pydantic's titles repeat the names ("city" -> "City"): tokens on every request.
        if isinstance(schema, dict) and schema.get("title") == field.replace("_", " ").title():
            del schema["title"]
    return Tool(name, description, parameters, function), adapter


def _parameters(value: object, where: str) -> Schema:
    from metasync_llm._structured._schema import prepare_schema  # noqa: PLC0415

    try:
        import jsonschema  # noqa: F401, PLC0415 - checks every tool's parameters and arguments
    except ImportError:
        raise _error(
            f'{where}: tools need the jsonschema library: pip install "metasync-llm[tools]"'
        ) from None
    if not isinstance(value, Mapping) or value.get("type") != "object":
        raise _error(
            f"{where}: parameters must be a JSON Schema object ({{'type': 'object',"
            f" 'properties': ...}}), got {str(value)[:100]}"
        )
    try:
        return prepare_schema(value)
    except ConfigurationError as exc:
        raise _error(f"{where}: parameters: {exc.message}") from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _error(message: str) -> ConfigurationError:
    return ConfigurationError(message, fields=("tools",))
