"""Batch input: the model catalog, and request lines parsed and checked one by one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metasync_llm._model import is_number
from metasync_llm._pipeline._prepare import PreparedModel, prepare_model
from metasync_llm._routing._documents import is_route
from metasync_llm.errors import ConfigurationError
from metasync_llm.registry import PluginRegistry
from metasync_llm.routing import Router, from_catalog

#: The fields a request line may have.
REQUEST_FIELDS = frozenset(
    {
        "id",
        "model",
        "system",
        "user",
        "messages",
        "temperature",
        "max_tokens",
        "schema",
        "stop",
        "attachments",
        "reasoning",
        "metadata",
    }
)


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a batch job: a completion for ``model`` (a name in the catalog).

    ``id`` (a string or an integer) is unique in the job; ``metadata`` (any JSON) is copied
    to the request's output row. ``line`` is the input line it came from, if any.
    """

    id: str | int
    model: str
    system: str = ""
    user: str = ""
    messages: tuple[Mapping[str, Any], ...] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    schema: Mapping[str, Any] | None = None
    stop: tuple[str, ...] = ()
    #: Paths of images or PDFs for the user turn (relative ones: to the input file's folder).
    attachments: tuple[str, ...] = ()
    reasoning: str | int | None = None
    metadata: Any = None
    line: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """The id as the job tracks it (``"7"`` and ``7`` are two ids)."""
        return id_key(self.id)


@dataclass(frozen=True, slots=True)
class InputProblem:
    """A request line the job cannot run: reported with its line number, never called."""

    line: int | None
    message: str
    #: The line's id when it had a valid one (an unknown model, an invalid request).
    id: str | int | None = None
    type: str = "InvalidRequest"

    @property
    def key(self) -> str:
        """What the output row of this line is tracked by: its id, else its line number."""
        return id_key(self.id) if self.id is not None else f"line:{self.line}"


def id_key(value: str | int) -> str:
    """The key of a request id in the job's sets: its JSON text."""
    return json.dumps(value) if not isinstance(value, str) else '"' + value + '"'


class Catalog:
    """The job's model documents by name, each checked (and prepared) before any call.

    An invalid document, or two of one name, raise :class:`ConfigurationError` naming
    them all, unless ``keep_broken``: then each document that cannot be prepared (its
    plugin is missing on a Ray worker, say) is kept in :attr:`broken` with the reason.
    """

    def __init__(
        self,
        documents: Sequence[object] | Mapping[str, Any],
        registry: PluginRegistry | None = None,
        *,
        keep_broken: bool = False,
    ) -> None:
        if isinstance(documents, Mapping):
            documents = [documents]
        if not documents:
            raise ConfigurationError("the model catalog is empty", fields=("catalog",))
        self.models: dict[str, PreparedModel] = {}
        self.broken: dict[str, str] = {}
        #: Route documents (``{"name", "route": [...], "strategy"}``) as routers.
        self.routes: dict[str, Router] = {}
        problems = []
        for index, document in enumerate(documents):
            if is_route(document):
                continue
            try:
                prepared = prepare_model(document, registry)
            except ConfigurationError as exc:
                name = document.get("name") if isinstance(document, Mapping) else None
                if keep_broken and isinstance(name, str):
                    self.broken[name] = str(exc)
                problems.append(f"model {index + 1}: {exc}")
                continue
            if prepared.name in self.models:
                problems.append(f"model {index + 1}: the name {prepared.name!r} is taken")
                continue
            self.models[prepared.name] = prepared
        routes = [d for d in documents if is_route(d)]
        for route in routes:
            assert isinstance(route, Mapping)
            try:
                self.routes[str(route.get("name"))] = from_catalog(
                    [d for d in documents if isinstance(d, Mapping)],
                    str(route.get("name")),
                    registry=registry,
                )
            except ConfigurationError as exc:
                problems.append(f"route {route.get('name')!r}: {exc}")
        if problems and not keep_broken:
            raise ConfigurationError(
                "invalid model catalog: " + "; ".join(problems), fields=("catalog",)
            )

    def get(self, name: str) -> PreparedModel | None:
        """The prepared model called ``name``, if the catalog has it."""
        return self.models.get(name)

    def knows(self, name: object) -> bool:
        """Whether ``name`` is a model or a route of the catalog."""
        return isinstance(name, str) and (name in self.models or name in self.routes)


def parse_request(item: object, line: int | None, catalog: Catalog) -> BatchRequest | InputProblem:
    """A request from an input line (JSON text) or a mapping, or the problem with it."""
    if isinstance(item, BatchRequest):
        return _known_model(item, catalog)
    if isinstance(item, bytes):
        try:
            item = item.decode("utf-8")
        except UnicodeDecodeError as exc:
            return InputProblem(
                line,
                f"not UTF-8 text (byte 0x{item[exc.start]:02x} at byte {exc.start + 1})",
                type="InvalidLine",
            )
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except (ValueError, RecursionError) as exc:
            return InputProblem(line, f"not JSON ({str(exc)[:120]})", type="InvalidLine")
    if not isinstance(item, Mapping):
        return InputProblem(
            line, f"a request must be a JSON object, got {type(item).__name__}", type="InvalidLine"
        )
    request_id = item.get("id")
    if not (isinstance(request_id, str) and request_id) and not (
        isinstance(request_id, int) and not isinstance(request_id, bool)
    ):
        how = "is missing" if request_id is None else "must be a non-empty string or an integer"
        return InputProblem(line, f"'id' {how}", type="InvalidLine")
    problems = _problems(item, catalog)
    if problems:
        return InputProblem(line, "; ".join(problems), request_id)
    model = item.get("model")
    if model is None:
        model = next(iter(catalog.models))  # the catalog's only model (checked above)
    stop = item.get("stop") or ()
    messages = item.get("messages")
    return BatchRequest(
        id=request_id,
        model=model,
        system=item.get("system") or "",
        user=item.get("user") or "",
        messages=tuple(messages) if messages is not None else None,
        temperature=item.get("temperature"),
        max_tokens=item.get("max_tokens"),
        schema=item.get("schema"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        attachments=tuple(item.get("attachments") or ()),
        reasoning=item.get("reasoning"),
        metadata=item.get("metadata"),
        line=line,
    )


def _known_model(request: BatchRequest, catalog: Catalog) -> BatchRequest | InputProblem:
    if not catalog.knows(request.model):
        return InputProblem(request.line, _unknown(request.model, catalog), request.id)
    return request


def _unknown(model: object, catalog: Catalog) -> str:
    return (
        f"unknown model {model!r}; the catalog has: {', '.join([*catalog.models, *catalog.routes])}"
    )


def _problems(item: Mapping[str, Any], catalog: Catalog) -> list[str]:
    """What is wrong with a request's fields (the connector checks the rest at call time)."""
    problems = []
    unknown = sorted(set(item) - REQUEST_FIELDS)
    if unknown:
        problems.append(f"unknown fields {unknown}; known: {', '.join(sorted(REQUEST_FIELDS))}")
    model = item.get("model")
    if model is None:
        if len(catalog.models) != 1 or catalog.routes:
            problems.append("'model' is missing (the catalog has several models)")
    elif not catalog.knows(model):
        problems.append(_unknown(model, catalog))
    for name in ("system", "user"):
        if item.get(name) is not None and not isinstance(item[name], str):
            problems.append(f"'{name}' must be a string")
    messages = item.get("messages")
    if messages is not None and not (
        isinstance(messages, list) and all(isinstance(m, Mapping) for m in messages)
    ):
        problems.append("'messages' must be a list of {role, content} objects")
    if item.get("user") is None and messages is None:
        problems.append("give 'user' (the prompt) or 'messages' (a conversation)")
    temperature = item.get("temperature")
    if temperature is not None and not is_number(temperature):
        problems.append(f"'temperature' must be a number, got {temperature!r}")
    max_tokens = item.get("max_tokens")
    if max_tokens is not None and not (
        isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0
    ):
        problems.append(f"'max_tokens' must be a positive integer, got {max_tokens!r}")
    schema = item.get("schema")
    if schema is not None and not isinstance(schema, Mapping):
        problems.append("'schema' must be a JSON Schema object")
    stop = item.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        problems.append("'stop' must be a string or a list of strings")
    attachments = item.get("attachments")
    if attachments is not None and not (
        isinstance(attachments, list) and all(isinstance(a, str) and a for a in attachments)
    ):
        problems.append("'attachments' must be a list of file paths")
    return problems
