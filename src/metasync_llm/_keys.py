"""API key resolution (model document ``key`` → environment variable) and key redaction."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from metasync_llm._model import ModelSettings
from metasync_llm.errors import ConfigurationError, MissingAPIKeyError

#: A caller-supplied function that returns the key for a model document (or ``None``).
KeyResolver = Callable[[Mapping[str, Any]], "str | None"]

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]")
REDACTED = "***"


def env_var_for(key_ref: str) -> str:
    """The environment variable a document's ``key`` names: ``KEY-GPTEST`` → ``KEY_GPTEST``."""
    return _NOT_IN_NAME.sub("_", key_ref.strip())


#: Keys shorter than this are refused: no provider issues them, and a short key would be
#: found (and "redacted") inside ordinary words of messages.
MIN_KEY_LENGTH = 8


def resolve_api_key(
    settings: ModelSettings,
    model: Mapping[str, Any],
    *,
    api_key: str | None = None,
    key_resolver: KeyResolver | None = None,
    required: bool = True,
) -> str | None:
    """Find the API key for a call: ``api_key``, else ``key_resolver(model)``, else the env var.

    Surrounding whitespace (a secrets file's trailing newline) is stripped; a key with
    whitespace or control characters inside, or shorter than :data:`MIN_KEY_LENGTH`, is
    refused with a :class:`MissingAPIKeyError` that says where it came from and never
    shows it. Returns ``None`` only when ``required`` is false and nothing was found.
    """
    where = f"model {settings.name!r} (sdk {settings.sdk})"
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigurationError(
                f"api_key for {where} must be a non-empty string",
                fields=("api_key",),
                sdk=settings.sdk,
                model=settings.name,
            )
        return _checked_key(api_key, "api_key=", settings, field="api_key")
    if key_resolver is not None:
        found = key_resolver(model)
        if found is not None and (not isinstance(found, str) or not found.strip()):
            raise ConfigurationError(
                f"key_resolver returned {type(found).__name__} for {where}; it must return"
                " a non-empty string or None",
                fields=("key_resolver",),
                sdk=settings.sdk,
                model=settings.name,
            )
        if found:
            return _checked_key(found, "key_resolver", settings, field="key_resolver")
        if not required:
            return None
        raise MissingAPIKeyError(
            f"no API key for {where}: key_resolver returned None",
            sdk=settings.sdk,
            model=settings.name,
        )
    if settings.key is None:
        if not required:
            return None
        raise no_key_field(settings)
    var = env_var_for(settings.key)
    value = os.environ.get(var)
    if value and value.strip():
        return _checked_key(value, f"${var}", settings, env_var=var)
    if not required:
        return None
    raise MissingAPIKeyError(
        f"no API key for {where}: set the environment variable {var}"
        f" (named by the document's key {settings.key!r})",
        env_var=var,
        sdk=settings.sdk,
        model=settings.name,
    )


def no_key_field(settings: ModelSettings) -> MissingAPIKeyError:
    """The error for a document without ``key`` whose SDK needs one."""
    return MissingAPIKeyError(
        f"model {settings.name!r} (sdk {settings.sdk}) has no 'key' field: set 'key' to the"
        ' name of the environment variable that holds the API key (for example "KEY-GPTEST"'
        " reads $KEY_GPTEST), or pass api_key= / key_resolver=",
        sdk=settings.sdk,
        model=settings.name,
    )


def _checked_key(
    key: str,
    source: str,
    settings: ModelSettings,
    *,
    field: str = "key",
    env_var: str | None = None,
) -> str:
    """``key`` without surrounding whitespace, or an error that names ``source``, never the key."""
    key = key.strip()
    problem = None
    if any(c.isspace() or not c.isprintable() for c in key):
        problem = "holds whitespace or control characters inside it, which no HTTP header takes"
    elif len(key) < MIN_KEY_LENGTH:
        problem = (
            f"is {len(key)} characters long: too short for an API key"
            f" (at least {MIN_KEY_LENGTH}); is it the right secret?"
        )
    if problem is None:
        if key not in _KEYS_IN_USE:  # a set lookup per call; the work is once per key
            _keep_out_of_logs(key)
        return key
    error = MissingAPIKeyError(
        f"the API key from {source} for model {settings.name!r} (sdk {settings.sdk}) {problem}",
        env_var=env_var,
        sdk=settings.sdk,
        model=settings.name,
    )
    error.fields = (field,)
    raise error


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace each secret in ``text`` with ``***`` where it stands as a whole token.

    A whole token: not run into letters or digits on either side, so a secret is never
    "found" inside a longer word.
    """
    for secret in secrets:
        if secret and secret in text:  # the cheap test first: error bodies can be large
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", REDACTED, text)
    return text


#: The keys resolved in this process: no log record, of any logger, shows them.
_KEYS_IN_USE: set[str] = set()
_INSTALLING = threading.Lock()


def _keep_out_of_logs(key: str) -> None:
    """Redact ``key`` from every log record made from now on, whichever library logs it.

    A gateway that echoes the key in a response header put it in httpcore's DEBUG records
    of the headers (60 of 90 calls); a filter on a logger misses its children, and one on
    a handler misses handlers a service adds, so the log-record factory does it: records
    are only made for enabled levels, so quiet loggers cost nothing.
    """
    import logging  # noqa: PLC0415 - loaded by the client libraries anyway

    with _INSTALLING:  # two threads' first keys must not wrap the factory twice
        if _KEYS_IN_USE:
            _KEYS_IN_USE.add(key)
            return
        made = logging.getLogRecordFactory()

        def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = made(*args, **kwargs)
            try:
                text = record.getMessage()
            except (TypeError, ValueError):  # a broken format: logging reports it as such
                return record
            if any(secret in text for secret in _KEYS_IN_USE):
                record.msg, record.args = redact(text, _KEYS_IN_USE), None
            return record

        logging.setLogRecordFactory(redacting)
        _KEYS_IN_USE.add(key)
