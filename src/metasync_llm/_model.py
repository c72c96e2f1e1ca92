"""The model document's common fields, each rule written once: what the core checks.

A model document is the JSON a service keeps per model. The core checks the common fields
(:func:`parse_model`: name, sdk, key, temperatures, tokens, cost, retry, rate limit...)
before any plugin sees it; a plugin checks its own with
:mod:`metasync_llm._plugin_fields`, which uses the limits defined here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from metasync_llm.errors import ConfigurationError
from metasync_llm.retry import DEFAULT_POLICY, RetryPolicy

#: Values of a document's ``messageFormat``: how a one-turn prompt becomes chat messages.
MESSAGE_FORMATS = ("combined", "separate")
#: Seconds to wait for a provider's answer when the document has no ``timeout``.
DEFAULT_TIMEOUT = 600.0
#: Seconds to wait for a connection when the document has no ``connectTimeout``.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: The longest ``timeout``/``connectTimeout`` a document may ask for: a day.
MAX_TIMEOUT = 86400.0
#: How deep a document may nest (``_metadata`` included): JSON a service stores is shallow,
#: and deeper values break copying and encoding (RecursionError at ~1000 levels).
MAX_DEPTH = 32
#: The longest endpoint URL.
MAX_URL_LENGTH = 2048
#: Keys of a document's ``retry`` block, and the :class:`RetryPolicy` field each sets.
RETRY_FIELDS = {
    "attempts": "attempts",
    "initialDelay": "initial_delay",
    "maxDelay": "max_delay",
    "deadline": "deadline",
    "jitter": "jitter",
}

Problems = list[tuple[str, str]]  # (field, message)


@dataclass(frozen=True, slots=True)
class CostRates:
    """A model document's ``cost`` block: prices per ``tokens`` tokens."""

    tokens: float
    input: float
    output: float
    currency: str | None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A model document's ``rateLimit`` block: what a batch job may send to the model.

    ``requests_per_minute`` and ``tokens_per_minute`` pace the calls; ``concurrency``
    bounds the calls in flight. ``None``: no limit of that kind.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    concurrency: int | None = None


#: The smallest ``rateLimit.requestsPerMinute``: one request a day.
MIN_REQUESTS_PER_MINUTE = 1 / 1440

#: Keys of a document's ``rateLimit`` block, and the :class:`RateLimit` field each sets.
RATE_LIMIT_FIELDS = {
    "requestsPerMinute": "requests_per_minute",
    "tokensPerMinute": "tokens_per_minute",
    "concurrency": "concurrency",
}


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """The common fields of a model document, checked. SDK-specific fields stay in the document."""

    name: str
    sdk: str
    key: str | None
    min_temperature: float | None
    max_temperature: float | None
    max_token: int | None
    cost: CostRates | None
    retry: RetryPolicy
    #: ``schemaRetries``: re-asks after an answer that does not fit ``schema=`` (default 1).
    schema_retries: int = 1
    #: ``nativeSchema``: ask the provider to enforce ``schema=`` itself (default true);
    #: false for models that reject it: the schema then goes in the system prompt.
    native_schema: bool = True
    #: ``rateLimit``: how fast batch jobs may call the model (``None``: no limit).
    rate_limit: RateLimit | None = None

    def clamp_temperature(self, temperature: float) -> float:
        """Clamp ``temperature`` to ``minTemperature``/``maxTemperature``."""
        if self.min_temperature is not None and temperature < self.min_temperature:
            return self.min_temperature
        if self.max_temperature is not None and temperature > self.max_temperature:
            return self.max_temperature
        return temperature


def is_number(value: object) -> TypeGuard[int | float]:
    """True for a finite int or float (``bool`` is not a number here)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and -_INF < value < _INF  # finite: NaN fails both comparisons
    )


_INF = float("inf")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _invalid(label: str, problems: Problems, sdk: object, name: object) -> ConfigurationError:
    return ConfigurationError(
        f"{label} is invalid: " + "; ".join(message for _, message in problems),
        fields=[field for field, _ in problems],
        sdk=sdk if isinstance(sdk, str) else None,
        model=name if isinstance(name, str) else None,
    )


# -- the common fields ---------------------------------------------------------------------


def parse_model(model: object) -> ModelSettings:
    """Check the common fields of a model document and return them typed.

    Extra fields (MongoDB's ``_id``, ``_metadata``, SDK-specific ones, a service's own)
    are ignored, but one that looks like a misspelt field of the contract (``maxTokens``,
    ``Endpoint``) is refused with what was meant. Raises :class:`ConfigurationError`
    listing every bad field with what to put there.
    """
    if not isinstance(model, Mapping):
        raise ConfigurationError(
            f"model document must be a JSON object (a dict), got {_type_name(model)}",
            fields=("model",),
        )
    problems: Problems = []
    deep = too_deep(model)
    if deep is not None:
        problems.append((deep, f"'{deep}' is nested more than {MAX_DEPTH} levels deep"))

    def text_field(field: str, *, required: bool) -> str | None:
        value = model.get(field)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            how = "is missing" if value is None else f"must be a non-empty string, got {value!r}"
            problems.append((field, f"'{field}' {how}"))
            return None
        return value

    def number_field(field: str) -> float | None:
        value = model.get(field)
        if value is None:
            return None
        if not is_number(value) or value < 0:
            problems.append((field, f"'{field}' must be a finite number >= 0, got {value!r}"))
            return None
        return float(value)

    name = text_field("name", required=True)
    sdk = text_field("sdk", required=True)
    key = text_field("key", required=False)
    if key is not None and looks_like_a_secret(key):
        problems.append(
            (
                "key",
                "'key' holds what looks like an API key itself (not shown); it must name the"
                ' environment variable that holds the key, e.g. "OPENAI_API_KEY": put the'
                " key there, and its variable's name here",
            )
        )
        key = None
    lo = number_field("minTemperature")
    hi = number_field("maxTemperature")
    if lo is not None and hi is not None and lo > hi:
        problems.append(
            ("minTemperature", f"'minTemperature' ({lo:g}) is above 'maxTemperature' ({hi:g})")
        )
    max_token = model.get("maxToken")
    if max_token is not None and not _positive_int(max_token):
        problems.append(("maxToken", f"'maxToken' must be a positive integer, got {max_token!r}"))
        max_token = None
    cost = _parse_cost(model.get("cost"), problems)
    retry = _parse_retry(model.get("retry"), problems)
    schema_retries = model.get("schemaRetries", 1)
    if type(schema_retries) is not int or not 0 <= schema_retries <= 5:
        problems.append(
            (
                "schemaRetries",
                f"'schemaRetries' must be an integer from 0 to 5, got {schema_retries!r}",
            )
        )
    native_schema = model.get("nativeSchema", True)
    if not isinstance(native_schema, bool):
        problems.append(
            ("nativeSchema", f"'nativeSchema' must be true or false, got {native_schema!r}")
        )

    reasoning = model.get("reasoning")
    levels = ("none", "low", "medium", "high")
    if reasoning is not None and reasoning not in levels and not _positive_int(reasoning):
        problems.append(
            (
                "reasoning",
                "'reasoning' must be none, low, medium, high or a token budget (a positive"
                f" integer), got {reasoning!r}",
            )
        )
    rate_limit = _parse_rate_limit(model.get("rateLimit"), problems)
    problems.extend(misspelled_fields(model))

    if problems:
        raise _invalid(f"model {name!r}" if name else "model document", problems, sdk, name)
    assert name is not None and sdk is not None
    return ModelSettings(
        name, sdk, key, lo, hi, max_token, cost, retry, schema_retries, native_schema, rate_limit
    )


#: The top-level fields of the contract: the seed's, the core's and its plugins' options.
#: A document field close to one of them, and not one of them, is taken for a misspelling.
DOCUMENT_FIELDS = frozenset(
    {
        "name",
        "sdk",
        "endpoint",
        "apiVersion",
        "deployment",
        "key",
        "maxToken",
        "minTemperature",
        "maxTemperature",
        "cost",
        "retry",
        "schemaRetries",
        "nativeSchema",
        "rateLimit",
        "timeout",
        "connectTimeout",
        "messageFormat",
        "omitTemperature",
        "maxCompletionToken",
        "extraBody",
        "reasoning",
        "test",
    }
)
_BY_LOWER = {field.lower(): field for field in DOCUMENT_FIELDS}


def misspelled_fields(document: Mapping[str, Any]) -> Problems:
    """``(field, message)`` for each top-level field of ``document`` that is not a field of
    the contract but looks like one (``maxTokens`` for ``maxToken``), naming the one meant.
    Fields starting with ``_`` (``_id``, ``_metadata``) are a service's own, never checked.
    """
    found: Problems = []
    for field in document:
        if not isinstance(field, str) or field in DOCUMENT_FIELDS or field.startswith("_"):
            continue
        import difflib  # noqa: PLC0415 - only for fields beyond the contract's

        close = difflib.get_close_matches(field.lower(), _BY_LOWER, n=1, cutoff=0.8)
        if close:
            meant = _BY_LOWER[close[0]]
            found.append((field, f"unknown field '{field}': did you mean '{meant}'?"))
    return found


#: How providers' keys begin (OpenAI and Anthropic ``sk-``, Google ``AIza``, xAI, Groq,
#: Stripe-style ``sk_live``): no environment variable's name begins so.
_SECRET_PREFIXES = ("sk-", "sk_", "AIza", "xai-", "gsk_", "pk-", "pk_", "Bearer ")


def looks_like_a_secret(reference: str) -> bool:
    """Whether a document's ``key``, which names an environment variable (``KEY-GPTEST``
    names ``KEY_GPTEST``), is rather a key pasted in: a provider's key prefix, characters
    no variable name has (``/``, ``+``, ``=``, spaces), or a long random-looking
    mix of lower case, upper case and digits."""
    value = reference.strip()
    if value.startswith(_SECRET_PREFIXES):
        return True
    if any(not (c.isascii() and (c.isalnum() or c in "_-.")) for c in value):
        return True
    mixed = (
        any(c.islower() for c in value)
        and any(c.isupper() for c in value)
        and sum(c.isdigit() for c in value) >= 3
    )
    return len(value) >= 32 and mixed


def too_deep(document: Mapping[str, Any]) -> str | None:
    """The top-level field of ``document`` nested more than :data:`MAX_DEPTH` deep, if any.

    Walks without recursion, so any depth is measured safely.
    """
    for field, value in document.items():
        todo: list[tuple[object, int]] = [(value, 1)]
        while todo:
            item, depth = todo.pop()
            if isinstance(item, Mapping | list | tuple):
                if depth > MAX_DEPTH:
                    return str(field)
                children = item.values() if isinstance(item, Mapping) else item
                todo.extend((child, depth + 1) for child in children)
    return None


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _parse_cost(cost: object, problems: Problems) -> CostRates | None:
    if cost is None:
        return None
    if not isinstance(cost, Mapping):
        problems.append(
            ("cost", f"'cost' must be an object with tokens/input/output, got {cost!r}")
        )
        return None

    def price(field: str, *, positive: bool) -> float | None:
        value = cost.get(field)
        if is_number(value) and (value > 0 if positive else value >= 0):
            return float(value)
        need = "a positive number" if positive else "a price >= 0"
        problems.append((f"cost.{field}", f"'cost.{field}' must be {need}, got {value!r}"))
        return None

    tokens = price("tokens", positive=True)
    inp = price("input", positive=False)
    out = price("output", positive=False)
    currency = cost.get("currency")
    if currency is not None and not isinstance(currency, str):
        problems.append(("cost.currency", f"'cost.currency' must be a string, got {currency!r}"))
        return None
    if tokens is None or inp is None or out is None:
        return None
    return CostRates(tokens, inp, out, currency)


def _parse_retry(block: object, problems: Problems) -> RetryPolicy:
    """The policy in a document's ``retry`` block (defaults for what it leaves out)."""
    if block is None:
        return DEFAULT_POLICY
    if not isinstance(block, Mapping):
        problems.append(("retry", f"'retry' must be an object, got {block!r}"))
        return DEFAULT_POLICY
    values: dict[str, Any] = {}
    for key, attr in RETRY_FIELDS.items():
        if key not in block:
            continue
        value = block[key]
        if attr == "jitter":
            ok, need = isinstance(value, bool), "true or false"
        elif attr == "attempts":
            ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 20
            need = "an integer from 1 to 20"
        else:
            ok, need = is_number(value) and 0 <= value <= 3600, "seconds from 0 to 3600"
        if ok:
            values[attr] = value
        else:
            problems.append((f"retry.{key}", f"'retry.{key}' must be {need}, got {value!r}"))
    unknown = sorted(set(block) - set(RETRY_FIELDS))
    if unknown:
        problems.append(
            ("retry", f"'retry' has unknown keys {unknown}; known: {', '.join(RETRY_FIELDS)}")
        )
    return RetryPolicy(**values)


def _parse_rate_limit(block: object, problems: Problems) -> RateLimit | None:
    """The limits in a document's ``rateLimit`` block."""
    if block is None:
        return None
    if not isinstance(block, Mapping):
        problems.append(("rateLimit", f"'rateLimit' must be an object, got {block!r}"))
        return None
    values: dict[str, Any] = {}
    for key, attr in RATE_LIMIT_FIELDS.items():
        value = block.get(key)
        if value is None:
            continue
        if attr == "concurrency":
            ok, need = _positive_int(value) and value <= 100_000, "an integer from 1 to 100000"
        else:
            # Bounded below by what a job can still run: one request a day, one token a
            # minute (a smaller limit is a job that waits forever).
            low = MIN_REQUESTS_PER_MINUTE if attr == "requests_per_minute" else 1.0
            ok = is_number(value) and low <= value <= 1e12
            need = f"a number from {low:g} to 1e12"
        if ok:
            values[attr] = value
        else:
            field = f"rateLimit.{key}"
            problems.append((field, f"'{field}' must be {need}, got {value!r}"))
    unknown = sorted(set(block) - set(RATE_LIMIT_FIELDS))
    if unknown:
        problems.append(
            (
                "rateLimit",
                f"'rateLimit' has unknown keys {unknown}; known: {', '.join(RATE_LIMIT_FIELDS)}",
            )
        )
    return RateLimit(**values)


# -- the plugin fields ---------------------------------------------------------------------
