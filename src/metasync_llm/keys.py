"""API key resolution (model document ``key`` → environment variable) and key redaction."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from metasync_llm.errors import ConfigurationError, MissingAPIKeyError
from metasync_llm.model import ModelSettings

#: A caller-supplied function that returns the key for a model document (or ``None``).
KeyResolver = Callable[[Mapping[str, Any]], "str | None"]

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]")
REDACTED = "***"


def env_var_for(key_ref: str) -> str:
    """The environment variable a document's ``key`` names: ``KEY-GPTEST`` → ``KEY_GPTEST``."""
    return _NOT_IN_NAME.sub("_", key_ref.strip())


def resolve_api_key(
    settings: ModelSettings,
    model: Mapping[str, Any],
    *,
    api_key: str | None = None,
    key_resolver: KeyResolver | None = None,
    required: bool = True,
) -> str | None:
    """Find the API key for a call: ``api_key``, else ``key_resolver(model)``, else the env var.

    Returns ``None`` only when ``required`` is false and nothing was found. The error for a
    missing key names the variable to set and never contains a key.
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
        return api_key
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
        if found or not required:
            return found
        raise MissingAPIKeyError(
            f"no API key for {where}: key_resolver returned None",
            sdk=settings.sdk,
            model=settings.name,
        )
    if settings.key is None:
        if not required:
            return None
        raise MissingAPIKeyError(
            f"{where} has no 'key' field: set 'key' to the name of the environment variable"
            ' that holds the API key (for example "KEY-GPTEST" reads $KEY_GPTEST),'
            " or pass api_key= / key_resolver=",
            sdk=settings.sdk,
            model=settings.name,
        )
    var = env_var_for(settings.key)
    value = os.environ.get(var)
    if value and value.strip():
        return value
    if not required:
        return None
    raise MissingAPIKeyError(
        f"no API key for {where}: set the environment variable {var}"
        f" (named by the document's key {settings.key!r})",
        env_var=var,
        sdk=settings.sdk,
        model=settings.name,
    )


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, REDACTED)
    return text
