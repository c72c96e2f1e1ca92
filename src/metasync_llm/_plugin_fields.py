"""A plugin's side of the model document: checking its own fields, reading the shared ones.

A plugin's ``validate_config`` checks its fields with :func:`check_config`, which also
knows the fields shared by chat-style plugins (``messageFormat``, ``omitTemperature``,
``maxCompletionToken``, ``timeout``, ``connectTimeout``, ``extraBody``); plugins read
those through the readers here (``toolkit.endpoint_of``, ``toolkit.timeout_of``...). The
common fields the core checks itself are :mod:`metasync_llm._model`'s.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from metasync_llm._model import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    MAX_DEPTH,
    MAX_TIMEOUT,
    MAX_URL_LENGTH,
    MESSAGE_FORMATS,
    Problems,
    _invalid,
    is_number,
    too_deep,
)
from metasync_llm.errors import ConfigurationError


def require_fields(config: Mapping[str, Any], fields: Iterable[str], *, sdk: str) -> None:
    """Raise :class:`ConfigurationError` naming every field of ``fields`` that is missing or empty.

    A helper for plugins' ``validate_config``; :func:`check_config` checks more.
    """
    check_config(config, sdk=sdk, required=tuple(fields), urls=())


def check_config(
    config: Mapping[str, Any],
    *,
    sdk: str,
    required: tuple[str, ...] = (),
    urls: tuple[str, ...] = ("endpoint",),
    problems: Iterable[tuple[str, str]] = (),
) -> None:
    """Validate a plugin's fields; raise one :class:`ConfigurationError` naming every problem.

    ``required`` fields must be non-empty strings; ``urls`` must be ``https://`` URLs (plain
    ``http://`` only on a loopback host); the chat options ``messageFormat``,
    ``omitTemperature``, ``maxCompletionToken``, ``timeout``, ``connectTimeout`` and
    ``extraBody`` are checked when present. ``problems`` are ``(field, message)`` pairs the
    plugin found itself, reported with the others.
    """
    found: Problems = []
    for field in required:
        value = config.get(field)
        if not isinstance(value, str) or not value.strip():
            how = "is missing" if value is None else f"must be a non-empty string, got {value!r}"
            found.append((field, f"'{field}' {how}"))
    for field in urls:
        if field in config and field not in (f for f, _ in found):
            problem = endpoint_problem(config.get(field), field)
            if problem:
                found.append((field, problem))
    fmt = config.get("messageFormat")
    if fmt is not None and fmt not in MESSAGE_FORMATS:
        found.append(
            (
                "messageFormat",
                f"'messageFormat' must be one of {', '.join(MESSAGE_FORMATS)}, got {fmt!r}",
            )
        )
    for flag in ("omitTemperature", "maxCompletionToken"):
        value = config.get(flag)
        if value is not None and not isinstance(value, bool):
            found.append((flag, f"'{flag}' must be true or false, got {value!r}"))
    extra = config.get("extraBody")
    if extra is not None:
        problem = _json_object_problem(extra, "extraBody")
        if problem:
            found.append(("extraBody", problem))
    for field in ("timeout", "connectTimeout"):
        value = config.get(field)
        if value is not None and not (is_number(value) and 0 < value <= MAX_TIMEOUT):
            found.append(
                (field, f"'{field}' must be seconds > 0 and at most {MAX_TIMEOUT:g}, got {value!r}")
            )
    found.extend(problems)
    if found:
        name = config.get("name")
        label = f"{sdk} model {name!r}" if isinstance(name, str) else f"{sdk} model document"
        raise _invalid(label, found, sdk, name)


def _json_object_problem(value: object, field: str) -> str | None:
    """What keeps ``value`` from being sent as a JSON object, if anything."""
    if not isinstance(value, Mapping):
        return f"'{field}' must be an object, got {value!r}"
    if too_deep({field: value}):
        return f"'{field}' is nested more than {MAX_DEPTH} levels deep"
    import json  # noqa: PLC0415 - only for documents with this field

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"'{field}' must hold JSON values only (no NaN or Infinity): {exc}"
    return None


# -- readers of the plugin fields ----------------------------------------------------------


def timeout_of(config: Mapping[str, Any]) -> float:
    """The document's ``timeout`` in seconds, or the default."""
    value = config.get("timeout")
    return float(value) if is_number(value) and value > 0 else DEFAULT_TIMEOUT


def connect_timeout_of(config: Mapping[str, Any]) -> float:
    """The document's ``connectTimeout`` in seconds (default 10), never above ``timeout``."""
    value = config.get("connectTimeout")
    seconds = float(value) if is_number(value) and value > 0 else DEFAULT_CONNECT_TIMEOUT
    return min(seconds, timeout_of(config))


def extra_body(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document's ``extraBody`` parameters, or ``None``."""
    extra = config.get("extraBody")
    return dict(extra) if isinstance(extra, Mapping) and extra else None


# -- endpoints -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    import ipaddress  # noqa: PLC0415 - only when an endpoint is checked

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_problem(endpoint: object, field: str = "endpoint") -> str | None:
    """Say what is wrong with an endpoint URL, or return ``None`` when it is acceptable.

    ``https://`` is required for remote hosts; plain ``http://`` only for loopback hosts.
    Anything that HTTP clients could read differently is refused: backslashes, whitespace
    and control characters, user information (``user:pass@``), a port that is not a
    number from 1 to 65535, a fragment, more than :data:`MAX_URL_LENGTH` characters.
    """
    if not isinstance(endpoint, str) or not endpoint.strip():
        return f"'{field}' is missing"
    if len(endpoint) > MAX_URL_LENGTH:
        return f"'{field}' is {len(endpoint)} characters long; at most {MAX_URL_LENGTH}"
    return _parsed(endpoint, field)[1]


def endpoint_of(config: Mapping[str, Any], field: str = "endpoint") -> str:
    """The document's endpoint, normalized (scheme and host lower case): the URL to give
    the client library, checked by :func:`endpoint_problem` as its ``validate_config`` did.
    """
    url, problem = _parsed(config[field], field)
    if problem is not None:  # validate_config lets no such document through
        raise ConfigurationError(problem, fields=(field,))
    return url


# Checked on every call of a document that is not prepared: parsing a URL costs ~5 us,
# a cache hit ~0.2 us.
@functools.lru_cache(maxsize=256)
def _parsed(endpoint: str, field: str) -> tuple[str, str | None]:
    """``(normalized URL, problem)``: the problem is ``None`` when the URL is acceptable."""
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415 - not at discovery

    shown = repr(endpoint) if len(endpoint) <= 200 else repr(endpoint[:200] + "...")
    if "\\" in endpoint or any(c.isspace() or not c.isprintable() for c in endpoint):
        return endpoint, (
            f"'{field}' holds a backslash, whitespace or a control character, which HTTP"
            f" clients read differently: {shown}"
        )
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        return endpoint, f"'{field}' is not a valid URL ({exc}): {shown}"
    if parts.scheme not in ("http", "https") or not host:
        return endpoint, f"'{field}' must be an https:// URL, got {shown}"
    if "@" in parts.netloc:
        return endpoint, (
            f"'{field}' must not hold user information (user:password@): the key goes in"
            f" 'key', got {shown}"
        )
    if port == 0 or parts.netloc.endswith(":"):
        return endpoint, f"'{field}' has no valid port (1 to 65535): {shown}"
    if parts.fragment or endpoint.endswith("#"):
        return endpoint, f"'{field}' must not have a fragment (#...): {shown}"
    if parts.scheme == "http" and not is_loopback_host(host):
        return endpoint, (
            f"'{field}' must use https:// for a remote host ({host}); plain http:// is allowed"
            " only for loopback hosts (localhost, 127.0.0.1, ::1)"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), None
