"""Route documents in a catalog: ``{"name": "chat", "route": ["a", "b"], "strategy": ...}``.

A catalog (the batch job's, the CLI's ``--model FILE``) may hold routes beside model
documents; a route's names are resolved against the catalog it stands in, a route naming
another route takes its documents, in place. An unknown name, a cycle or an unknown
strategy is a :class:`~metasync_llm.ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metasync_llm.errors import ConfigurationError

#: The settings a route document may carry beside its documents (``Router``'s keywords).
ROUTE_SETTINGS = ("failures", "window", "cooldown", "deadline")
ROUTE_FIELDS = frozenset({"name", "route", "strategy", *ROUTE_SETTINGS, "_id", "_metadata"})
STRATEGIES = ("fallback", "balance")


def is_route(document: object) -> bool:
    """Whether a catalog entry is a route (it has ``route``)."""
    return isinstance(document, Mapping) and "route" in document


def resolve_route(
    catalog: Sequence[Mapping[str, Any]], name: str
) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    """The route ``name`` and its model documents, in order (nested routes flattened)."""
    by_name = {d.get("name"): d for d in catalog if isinstance(d, Mapping)}
    route = by_name.get(name)
    if not is_route(route):
        raise ConfigurationError(f"no route named {name!r} in the catalog", fields=("route",))
    assert route is not None
    problem = _problem(route, by_name)
    if problem is not None:
        raise ConfigurationError(f"route {name!r}: {problem}", fields=("route",), model=name)
    return route, _documents(route, by_name, ())


def check_routes(catalog: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """Each route's name and what is wrong with it (``None``: it resolves)."""
    by_name = {d.get("name"): d for d in catalog if isinstance(d, Mapping)}
    return {str(d.get("name")): _problem(d, by_name) for d in catalog if is_route(d)}


def _problem(route: Mapping[str, Any], by_name: Mapping[Any, Any]) -> str | None:
    names = route.get("route")
    if not isinstance(route.get("name"), str) or not route.get("name"):
        return "a route needs a 'name'"
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return "'route' must be a non-empty list of document names"
    unknown = sorted(set(route) - ROUTE_FIELDS)
    if unknown:
        return (
            f"unknown fields {unknown}; a route has 'name', 'route', 'strategy' and the"
            " optional 'failures', 'window', 'cooldown', 'deadline'"
        )
    strategy = route.get("strategy", "fallback")
    if strategy not in STRATEGIES:
        return f"'strategy' must be 'fallback' or 'balance', got {strategy!r}"
    try:
        _documents(route, by_name, ())
    except ConfigurationError as exc:
        return exc.message
    return None


def _documents(
    route: Mapping[str, Any], by_name: Mapping[Any, Any], path: tuple[str, ...]
) -> list[Mapping[str, Any]]:
    name = str(route.get("name"))
    if name in path:
        raise ConfigurationError(
            f"routes refer to each other in a cycle: {' -> '.join((*path, name))}"
        )
    found: list[Mapping[str, Any]] = []
    for member in route.get("route") or ():
        document = by_name.get(member)
        if document is None:
            raise ConfigurationError(f"the route names {member!r}, which the catalog does not hold")
        if is_route(document):
            found += _documents(document, by_name, (*path, name))
        elif all(d.get("name") != member for d in found):
            found.append(document)
    return found
