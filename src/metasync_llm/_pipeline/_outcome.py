"""What a plugin's answer and its exceptions become: the last step of every call.

The loops in ``_run`` hand the text and end marker of a finished attempt to
:func:`result_of` (checked, counted, costed), then :func:`finished` (validated against
the schema, or JSON-repaired); whatever a plugin raised goes through :func:`call_error`
into the core's hierarchy with the key scrubbed out. :func:`reasked` and
:func:`without_native_schema` word the next ask when an answer misses the schema.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

from metasync_llm._keys import redact
from metasync_llm._log import get_logger
from metasync_llm._model import CostRates, is_number
from metasync_llm._pipeline import _native_schema
from metasync_llm._pipeline._prepare import Call
from metasync_llm._structured._json_output import repair_json_text
from metasync_llm._wire._answers import require_text, usage_count
from metasync_llm._wire._mapping import clip, error_from_exception
from metasync_llm._wire._scrub import scrubbed
from metasync_llm.errors import (
    ConfigurationError,
    MetasyncLLMError,
    PluginError,
    SchemaValidationError,
    TruncatedResponseError,
)
from metasync_llm.request import Message
from metasync_llm.result import CompletionResult, Cost, RawToolCall, StreamEnd

if TYPE_CHECKING:
    from metasync_llm.tools import ToolCall

logger = get_logger("metasync_llm.connector")


def without_native_schema(call: Call) -> Call:
    """``call`` with its schema told to the model in the system prompt instead."""
    from metasync_llm._structured._schema import instruction  # noqa: PLC0415 - schema calls only

    assert call.schema is not None
    request = call.request
    system = _native_schema.told(request.system_prompt, instruction(call.schema))
    return replace(call, request=replace(request, schema=None, system_prompt=system))


def reasked(call: Call, error: SchemaValidationError) -> Call:
    """``call`` again, with the invalid answer and what was wrong with it as two more turns."""
    from metasync_llm._structured._schema import feedback  # noqa: PLC0415

    answer = error.result.raw_text if error.result is not None else ""
    request = call.request
    if "messages" in call.loaded.sdk.features:
        turns = (
            *request.turns(),
            Message("assistant", answer),
            Message("user", feedback(error.errors)),
        )
        return replace(call, request=replace(request, messages=turns, user_content=""))
    # A plugin of one turn: the turn says it all.
    user = (
        f"{request.user_content}\n\nYour previous answer was:\n{answer}\n\n{feedback(error.errors)}"
    )
    return replace(call, request=replace(request, user_content=user))


def result_of(
    call: Call,
    text: str,
    end: StreamEnd,
    elapsed: float,
    first_chunk: float | None = None,
    attempts: int = 1,
    setup: float | None = None,
) -> CompletionResult:
    """The connector's result for a plugin's answer, checked (before any JSON repair).

    A malformed answer is a :class:`PluginError`; no text raises the error saying why.
    """
    if not _well_formed(text, end):
        _reject(text, end, call)
    settings = call.settings
    # Counts above any plausible call (10**30 from a provider) are unknown, as absent ones.
    prompt, completion = usage_count(end.prompt_tokens), usage_count(end.completion_tokens)
    total = usage_count(end.total_tokens)
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    finish = end.finish_reason
    calls: tuple[ToolCall, ...] = ()
    if end.tool_calls:
        from metasync_llm._tools._calls import read_calls  # noqa: PLC0415 - tool calls only

        calls = read_calls(end.tool_calls, call.tools)
        if call.tools and finish in (None, "stop"):  # Gemini says STOP for calls
            finish = "tool_calls"
    truncated = finish == "length" or (
        finish is None and completion is not None and completion >= call.request.max_tokens
    )
    result = CompletionResult(
        text=text,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        elapsed=elapsed,
        sdk=settings.sdk,
        model=settings.name,
        cost=cost_of(settings.cost, prompt, completion),
        json_repaired=False,
        raw_text=text,
        finish_reason=finish,
        truncated=truncated,
        request_id=end.request_id,
        temperature=call.request.temperature,
        max_tokens=call.request.max_tokens,
        time_to_first_chunk=first_chunk,
        attempts=attempts,
        setup=setup,
        tool_calls=calls,
        reasoning=end.reasoning if isinstance(end.reasoning, str) and end.reasoning else None,
        reasoning_tokens=usage_count(end.reasoning_tokens),
        reasoning_blocks=tuple(end.reasoning_blocks),
    )
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s model %r: %.3fs, tokens prompt=%s completion=%s total=%s, finish=%s",
            settings.sdk,
            settings.name,
            elapsed,
            prompt,
            completion,
            total,
            finish,
        )
    return result


def finished(call: Call, result: CompletionResult) -> CompletionResult:
    """The result as the caller asked for it: validated against ``schema=`` (with its
    ``data``), or with ``repair_json`` applied.

    An answer cut at ``max_tokens`` is never mended into something that looks complete: it
    raises :class:`TruncatedResponseError`. An answer the schema refuses raises
    :class:`SchemaValidationError` (the connector re-asks, as ``schemaRetries`` says).
    """
    if result.tool_calls and call.tools:  # not the answer yet: the model asks for results
        return result
    if call.schema is None:
        return repaired(call, result)
    if result.truncated:
        raise _truncated(call, result, "its JSON is incomplete and was not repaired")
    from metasync_llm._structured._schema import check  # noqa: PLC0415 - schema calls only

    checked = check(call.schema, result.text)
    if checked.errors:
        raise SchemaValidationError(
            f"{call.settings.sdk} model {call.settings.name!r}: the answer is not valid against"
            f" the schema {call.schema.name!r}: " + "; ".join(checked.errors),
            result=result,
            errors=checked.errors,
            sdk=call.settings.sdk,
            model=call.settings.name,
        )
    return replace(result, text=checked.text, json_repaired=checked.repaired, data=checked.data)


def combined(spent: CompletionResult | None, result: CompletionResult) -> CompletionResult:
    """``result`` with the usage, cost and time of earlier asks (``spent``) added in."""
    if spent is None:
        return result

    def plus(a: int | None, b: int | None) -> int | None:
        return a + b if a is not None and b is not None else None

    cost = result.cost
    if cost is not None and spent.cost is not None:
        cost = plus_cost(cost, spent.cost)
    return replace(
        result,
        prompt_tokens=plus(result.prompt_tokens, spent.prompt_tokens),
        completion_tokens=plus(result.completion_tokens, spent.completion_tokens),
        total_tokens=plus(result.total_tokens, spent.total_tokens),
        cost=cost,
        elapsed=result.elapsed + spent.elapsed,
        attempts=result.attempts + spent.attempts,
    )


def plus_cost(a: Cost, b: Cost) -> Cost:
    """Two costs added part by part (in ``a``'s currency); an unknown part stays unknown."""
    return Cost(
        a.currency,
        plus_float(a.input, b.input),
        plus_float(a.output, b.output),
        plus_float(a.total, b.total),
    )


def plus_float(a: float | None, b: float | None) -> float | None:
    return round(a + b, 12) if a is not None and b is not None else None


def _truncated(call: Call, result: CompletionResult, what: str) -> TruncatedResponseError:
    return TruncatedResponseError(
        f"{call.settings.sdk} model {call.settings.name!r} stopped at"
        f" max_tokens={call.request.max_tokens}; {what} (the partial answer is in .result; raise"
        " max_tokens or shorten the request)",
        result=result,
        sdk=call.settings.sdk,
        model=call.settings.name,
    )


def repaired(call: Call, result: CompletionResult) -> CompletionResult:
    """Apply ``repair_json``: mend JSON-shaped text, refuse to mend a truncated answer."""
    if not call.repair_json:
        return result
    if result.truncated:
        raise _truncated(call, result, "the JSON answer is incomplete and was not repaired")
    text, changed = repair_json_text(result.text)
    if not changed:
        return result
    return replace(result, text=text, json_repaired=True)


def call_error(exc: Exception, call: Call) -> MetasyncLLMError:
    """Turn whatever a plugin raised into the core hierarchy, with the key nowhere in it.

    The error returned chains (``__cause__``) to a scrubbed copy of ``exc`` and its own
    chain, never to the live exception; raise it outside the ``except`` block that caught
    ``exc``, so that no implicit ``__context__`` links it back.
    """
    settings, info, key = call.settings, call.loaded.info, call.request.api_key
    if isinstance(exc, MetasyncLLMError):
        exc.sdk = exc.sdk or settings.sdk
        exc.model = exc.model or settings.name
        if isinstance(exc, PluginError) and exc.distribution is None:
            exc.distribution = info.distribution
            exc.message = f"{exc.message} (plugin {info.origin})"
        scrubbed(exc, (key,))
        return exc
    try:
        text = str(exc)
    except Exception as broken:
        error: MetasyncLLMError = PluginError(
            f"SDK {settings.sdk} ({info.origin}) raised {type(exc).__name__}, whose str()"
            f" raised {type(broken).__name__}: a plugin's exceptions must print",
            sdk=settings.sdk,
            model=settings.name,
            distribution=info.distribution,
        )
    else:
        # A ValueError from a plugin is a configuration problem (the seed's contract),
        # except a body that failed to decode: openai and anthropic raise bare
        # JSONDecodeErrors for those, azure-core a DeserializationError (a ValueError).
        if isinstance(exc, ValueError) and not _undecodable(exc):
            error = ConfigurationError(
                f"SDK {settings.sdk} rejected model {settings.name!r}:"
                f" {type(exc).__name__}: {clip(text)}",
                sdk=settings.sdk,
                model=settings.name,
            )
        else:
            error = error_from_exception(
                exc, sdk=settings.sdk, model=settings.name, codes=call.loaded.sdk.error_codes
            )
        error.message = redact(error.message, (key,))
        error.args = (error.message,)
    error.__cause__ = scrubbed(exc, (key,))
    error.__suppress_context__ = True
    return error


def _undecodable(exc: ValueError) -> bool:
    return isinstance(exc, (json.JSONDecodeError, UnicodeError)) or any(
        "Deserializ" in cls.__name__ or "Decode" in cls.__name__ for cls in type(exc).__mro__
    )


_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _count(value: object) -> bool:
    # The contract: None or a non-negative int (an implausibly large one reads as None).
    return value is None or (type(value) is int and value >= 0)


def _valid_calls(value: object) -> bool:
    return isinstance(value, tuple) and all(
        type(c) is RawToolCall and isinstance(c.name, str) for c in value
    )


def _reason(value: object) -> bool:
    return value is None or isinstance(value, str)


def _well_formed(text: str, end: StreamEnd) -> bool:
    return (
        _valid_calls(end.tool_calls)
        and (text != "" or bool(end.tool_calls))
        and _count(end.prompt_tokens)
        and _count(end.completion_tokens)
        and _count(end.total_tokens)
        and _reason(end.finish_reason)
    )


def _reject(text: str, end: StreamEnd, call: Call) -> NoReturn:
    """Raise the error that says why an answer is not :func:`_well_formed`."""
    settings, info = call.settings, call.loaded.info
    if text == "" and not end.tool_calls:
        require_text(
            None,
            end.finish_reason,
            sdk=settings.sdk,
            model=settings.name,
            request_id=end.request_id,
        )
    problems = [
        f"{field} is {getattr(end, field)!r}, not a non-negative int or None"
        for field in _COUNTS
        if not _count(getattr(end, field))
    ]
    if not _valid_calls(end.tool_calls):
        problems.append(
            f"tool_calls is {end.tool_calls!r}, not a tuple of metasync_llm.result.RawToolCall"
        )
    if not _reason(end.finish_reason):
        problems.append(f"finish_reason is {end.finish_reason!r}, not str or None")
    raise PluginError(
        f"SDK {settings.sdk} ({info.origin}) returned a malformed result: " + "; ".join(problems),
        sdk=settings.sdk,
        model=settings.name,
        distribution=info.distribution,
    )


def cost_of(rates: CostRates | None, prompt: int | None, completion: int | None) -> Cost | None:
    """The cost of a call's counts; a part built from an unknown count is ``None``."""
    if rates is None:
        return None
    inp = _price(prompt, rates.input, rates.tokens)
    out = _price(completion, rates.output, rates.tokens)
    total = _finite(inp + out) if inp is not None and out is not None else None
    return Cost(currency=rates.currency, input=inp, output=out, total=total)


def _price(count: int | None, rate: float, per: float) -> float | None:
    return _finite(count / per * rate) if count is not None else None


def _finite(value: float) -> float | None:
    return round(value, 12) if is_number(value) else None
