"""Structured output: the schema a caller asks for, answers checked against it, examples of it.

``schema=`` takes a JSON Schema (a dict) or a pydantic model class. Answers are parsed as
JSON (mended with ``json-repair`` when almost JSON, never when cut at ``max_tokens``) and
validated with the ``jsonschema`` library; a model class also validates them into an
instance. Both libraries are optional (``pip install "metasync-llm[schema]"``) and load
only when a schema is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metasync_llm.errors import ConfigurationError
from metasync_llm.json_output import repair_json_text

#: Validation errors listed at most, in messages and in a re-ask.
MAX_ERRORS = 10


@dataclass(frozen=True, slots=True, eq=False)
class Schema:
    """A checked schema: its JSON Schema, the pydantic model it came from (if any), a name."""

    json: Mapping[str, Any]
    model: type | None
    name: str
    validator: Any  # a jsonschema validator for ``json``


@dataclass(frozen=True, slots=True)
class Checked:
    """An answer checked against a schema: its data when valid, else the errors."""

    text: str
    repaired: bool
    data: Any
    errors: tuple[str, ...]


def prepare_schema(value: object) -> Schema:
    """The :class:`Schema` for what a caller passed as ``schema=``; a ``ConfigurationError``
    (naming ``schema``) for anything that is not a valid JSON Schema or a pydantic model."""
    model: type | None = None
    if isinstance(value, type) and _is_pydantic_model(value):
        model = value
        document: Any = value.model_json_schema()  # type: ignore[attr-defined]
        name = value.__name__
    elif isinstance(value, Mapping):
        document = dict(value)
        name = schema_name(document)
    else:
        raise ConfigurationError(
            "schema must be a JSON Schema (a dict) or a pydantic model class, got"
            f" {type(value).__name__}",
            fields=("schema",),
        )
    jsonschema = _jsonschema()
    cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(document)
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(
            f"schema is not a valid JSON Schema: {exc.message}", fields=("schema",)
        ) from None
    return Schema(document, model, schema_name({"title": name}), cls(document))


def schema_name(schema: Mapping[str, Any]) -> str:
    """A name for ``schema`` where APIs want one: its ``title``, in ``[A-Za-z0-9_-]{1,64}``."""
    title = schema.get("title")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", title)[:64] if isinstance(title, str) else ""
    return name or "response"


def strict_ready(schema: Mapping[str, Any]) -> bool:
    """Whether OpenAI-style ``strict`` mode takes ``schema`` as it is: every object lists
    all its properties as required and allows no others. (Otherwise the schema is sent
    without ``strict``, and the connector's validation does the enforcing.)"""
    todo: list[Any] = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, Mapping):
            properties = node.get("properties")
            if isinstance(properties, Mapping) and (
                node.get("additionalProperties") is not False
                or set(node.get("required") or ()) != set(properties)
            ):
                return False
            todo.extend(node.values())
    return True


def check(schema: Schema, text: str) -> Checked:
    """Parse ``text`` as JSON (mending almost-JSON) and validate it against ``schema``."""
    repaired = False
    try:
        value = json.loads(text)
    except ValueError:
        mended, repaired = repair_json_text(text)
        try:
            value = json.loads(mended)
        except ValueError as exc:
            return Checked(text, False, None, (f"the answer is not JSON ({exc})",))
        text = mended
    except RecursionError:
        return Checked(text, False, None, ("the answer is JSON nested too deeply",))
    errors = sorted(
        (f"{_path(e.absolute_path)}: {e.message}" for e in schema.validator.iter_errors(value)),
    )[:MAX_ERRORS]
    if errors:
        return Checked(text, repaired, None, tuple(errors))
    if schema.model is None:
        return Checked(text, repaired, value, ())
    try:
        return Checked(text, repaired, schema.model.model_validate(value), ())  # type: ignore[attr-defined]
    except ValueError as exc:  # pydantic's ValidationError
        return Checked(text, repaired, None, (str(exc),))


def instruction(schema: Schema) -> str:
    """What the system prompt says when the provider does not enforce the schema itself."""
    return (
        "Answer with JSON only, no prose and no code fence, valid against this JSON Schema:\n"
        + json.dumps(schema.json, ensure_ascii=False)
    )


def feedback(errors: tuple[str, ...]) -> str:
    """The user turn that re-asks after an answer that does not validate."""
    listed = "\n".join(f"- {e}" for e in errors)
    return (
        "Your answer is not valid against the required JSON Schema:\n"
        f"{listed}\nAnswer again with only the corrected JSON."
    )


def _path(parts: Any) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return f"${path}"


def _is_pydantic_model(cls: type) -> bool:
    import sys  # noqa: PLC0415

    pydantic = sys.modules.get("pydantic")  # a class from pydantic means it is imported
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


def _jsonschema() -> Any:
    try:
        import jsonschema  # noqa: PLC0415 - only for calls with a schema
    except ImportError:
        raise ConfigurationError(
            'schema= needs the jsonschema library: pip install "metasync-llm[schema]"',
            fields=("schema",),
        ) from None
    return jsonschema


# -- examples ---------------------------------------------------------------------------------


def example(schema: Mapping[str, Any]) -> Any:
    """A deterministic instance of ``schema``: the built-in ``test`` SDK's structured answer.

    Covers what structured output uses: objects with their properties (required and
    optional), arrays, strings (with lengths and the common formats), numbers and
    integers within their bounds, booleans, ``null``, ``enum``, ``const``,
    ``anyOf``/``oneOf``/``allOf`` and local ``$ref``s (pydantic's ``$defs``).
    """
    return _example(schema, schema, 0)


_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _example(node: Any, root: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(node, Mapping) or depth > 32:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _example(
            {**target, **{k: v for k, v in node.items() if k != "$ref"}}, root, depth + 1
        )
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and options:
            chosen = next((o for o in options if _kind(o, root) != "null"), options[0])
            return _example(chosen, root, depth + 1)
    if isinstance(node.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            if isinstance(part, Mapping):
                merged.update(part)
        return _example(
            {**merged, **{k: v for k, v in node.items() if k != "allOf"}}, root, depth + 1
        )
    kind = _kind(node, root)
    if kind == "object":
        properties = node.get("properties")
        if not isinstance(properties, Mapping):
            properties = {}
        return {name: _example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        prefix = node.get("prefixItems")
        if not isinstance(prefix, list):
            prefix = []
        count = max(int(node.get("minItems", 1) or 0), len(prefix), 1)
        if isinstance(node.get("maxItems"), int):
            count = min(count, node["maxItems"])
        items = [_example(p, root, depth + 1) for p in prefix]
        while len(items) < count:
            items.append(_example(node.get("items", {}), root, depth + 1))
        return items[:count]
    if kind == "string":
        text = _FORMATS.get(str(node.get("format")), "example")
        low, high = node.get("minLength", 0), node.get("maxLength")
        text = text.ljust(low if isinstance(low, int) else 0, "x")
        return text[:high] if isinstance(high, int) else text
    if kind in ("integer", "number"):
        return _number(node, integer=kind == "integer")
    if kind == "boolean":
        return True
    return None


def _kind(node: Any, root: Mapping[str, Any]) -> str | None:
    if not isinstance(node, Mapping):
        return None
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in node:
            return "object"
        if "items" in node or "prefixItems" in node:
            return "array"
    return kind if isinstance(kind, str) else None


def _number(node: Mapping[str, Any], *, integer: bool) -> int | float:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    step = 1 if integer else 0.5
    value: float = 0
    if isinstance(low, int | float) and value <= low:
        value = low + (step if "exclusiveMinimum" in node and "minimum" not in node else 0)
    if isinstance(high, int | float) and value >= high:
        value = high - (step if "exclusiveMaximum" in node and "maximum" not in node else 0)
    multiple = node.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        value = (value // multiple + (1 if value % multiple else 0)) * multiple
    return int(value) if integer else float(value)
