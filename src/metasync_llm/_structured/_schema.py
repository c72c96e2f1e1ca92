"""Structured output: the schema a caller asks for, answers checked against it, examples of it.

``schema=`` takes a JSON Schema (a dict) or a pydantic model class. Answers are parsed as
JSON (mended with ``json-repair`` when almost JSON, never when cut at ``max_tokens``) and
validated with the ``jsonschema`` library; a model class also validates them into an
instance. Both libraries are optional (``pip install "metasync-llm[schema]"``) and load
only when a schema is used.

A schema never reaches out and never runs without bound: ``$ref``s resolve within the
schema only (a remote one is a ``ConfigurationError`` before any call, never fetched),
a ``$ref`` cycle that never descends into the answer is refused when the schema is
prepared, and ``pattern``/``patternProperties`` run on the ``regex`` engine with a
timeout (``re``, which jsonschema uses, took 8 s on 28 characters of a backtracking
pattern, doubling per character).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metasync_llm._structured._json_output import repair_json_text
from metasync_llm.errors import ConfigurationError

#: Validation errors listed at most, in messages and in a re-ask.
MAX_ERRORS = 10
#: Seconds one ``pattern`` may take on one string of an answer: past it, that string is
#: invalid (the re-ask tells the model), instead of holding the call without bound.
PATTERN_TIMEOUT = 0.5
#: Keywords whose values are data, not schemas: a ``$ref`` inside them is no reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "examples", "default"})


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
    except RecursionError:
        raise _endless() from None
    registry = _local_registry(document, cls)
    validator = _bounded(cls)(document, registry=registry)
    try:
        probes: tuple[object, ...] = (None, {}, [], "", 0)
        for probe in probes:  # a $ref cycle at one place recurses on any of them
            validator.is_valid(probe)
    except RecursionError:
        raise _endless() from None
    return Schema(document, model, schema_name({"title": name}), validator)


def _endless() -> ConfigurationError:
    return ConfigurationError(
        "schema refers to itself without end (a $ref cycle that never descends into the"
        " answer); break the cycle",
        fields=("schema",),
    )


def _local_registry(document: Mapping[str, Any], cls: Any) -> Any:
    """A ``referencing`` registry of the schema's own resources that refuses to retrieve
    any other; every ``$ref`` of the schema is resolved now, so a remote or broken one is a
    ``ConfigurationError`` before any call."""
    from referencing import Registry  # noqa: PLC0415 - jsonschema's own dependency
    from referencing.exceptions import NoSuchResource, Unresolvable  # noqa: PLC0415
    from referencing.jsonschema import specification_with  # noqa: PLC0415

    def refuse(uri: str) -> Any:
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs, unseen by mypy

    spec = specification_with(cls.META_SCHEMA.get("$schema", ""))
    root = spec.create_resource(document)
    empty: Any = Registry(retrieve=refuse)  # type: ignore[call-arg]  # attrs, as above
    registry = empty.with_resource(root.id() or "", root).crawl()
    todo: list[tuple[Any, Any]] = [(document, registry.resolver(base_uri=root.id() or ""))]
    while todo:
        node, resolver = todo.pop()
        if isinstance(node, list):
            todo.extend((item, resolver) for item in node)
            continue
        if not isinstance(node, Mapping):
            continue
        if isinstance(node.get("$id"), str) and node is not document:
            resolver = resolver.in_subresource(spec.create_resource(node))
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if not isinstance(ref, str):
                continue
            try:
                resolver.lookup(ref)
            except Unresolvable:
                raise ConfigurationError(
                    f"schema {keyword} {ref[:200]!r} does not resolve within the schema;"
                    " remote references are never fetched: put the referenced schema under"
                    " $defs",
                    fields=("schema",),
                ) from None
        todo.extend((v, resolver) for k, v in node.items() if k not in _DATA_KEYWORDS)
    return registry


@functools.cache
def _bounded(cls: Any) -> Any:
    """``cls`` with ``pattern`` and ``patternProperties`` on the ``regex`` engine, each
    match within :data:`PATTERN_TIMEOUT`."""
    try:
        import regex  # noqa: PLC0415 - only for calls with a schema
    except ImportError:
        raise ConfigurationError(
            'schema= needs the regex library: pip install "metasync-llm[schema]"',
            fields=("schema",),
        ) from None
    from jsonschema import ValidationError  # noqa: PLC0415
    from jsonschema.validators import extend  # noqa: PLC0415

    def matches(pattern: str, text: str) -> bool | None:
        """Whether ``pattern`` matches in ``text``; ``None``: not found out in time."""
        try:
            return regex.search(pattern, text, timeout=PATTERN_TIMEOUT) is not None
        except TimeoutError:
            return None

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string"):
            found = matches(patrn, instance)
            if found is None:
                yield ValidationError(
                    f"{_short(instance)} could not be checked against {patrn!r} within"
                    f" {PATTERN_TIMEOUT}s"
                )
            elif not found:
                yield ValidationError(f"{_short(instance)} does not match {patrn!r}")

    def pattern_properties(validator: Any, properties: Any, instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in properties.items():
            for key, value in instance.items():
                found = matches(patrn, key)
                if found is None:
                    yield ValidationError(
                        f"property {_short(key)} could not be checked against {patrn!r}"
                        f" within {PATTERN_TIMEOUT}s"
                    )
                elif found:
                    yield from validator.descend(value, subschema, path=key, schema_path=patrn)

    keywords = {"pattern": pattern, "patternProperties": pattern_properties}
    return extend(cls, keywords)  # type: ignore[no-untyped-call]


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


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
    try:
        errors = sorted(
            f"{_path(e.absolute_path)}: {e.message}" for e in schema.validator.iter_errors(value)
        )[:MAX_ERRORS]
    except RecursionError:  # a cycle only this answer reaches (the probes did not)
        raise _endless() from None
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


#: Past this depth an example holds only what its schema requires, so that a recursive
#: schema's example ends (optional properties and empty arrays stop the recursion).
_SHALLOW = 8


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
        if depth > _SHALLOW:  # a recursive schema (a tree): only what it requires
            required = node.get("required") or ()
            properties = {k: v for k, v in properties.items() if k in required}
        return {name: _example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        prefix = node.get("prefixItems")
        if not isinstance(prefix, list):
            prefix = []
        least = 0 if depth > _SHALLOW else 1
        count = max(int(node.get("minItems", 1) or 0), len(prefix), least)
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
