"""The rules for a provider's answer: which token counts are real, and why there is no text.

The connector checks every plugin's answer with them, and plugins read their provider's
answer with the same rules (through :mod:`metasync_llm.toolkit`).
"""

from __future__ import annotations

from collections.abc import Iterable

from metasync_llm.errors import (
    ContentFilterError,
    EmptyResponseError,
    PluginError,
    TruncatedResponseError,
)
from metasync_llm.result import Completion, StreamEnd

#: More tokens than any call uses: a count above it is a provider's error, not a count.
PLAUSIBLE_TOKENS = 10**12


def usage_count(value: object) -> int | None:
    """A provider's token count, or ``None`` when it is absent or not a plausible count.

    Only a JSON integer from 0 to :data:`PLAUSIBLE_TOKENS` is a count: not ``"12"``, not
    ``true``, not ``-2147483648`` (a specification's placeholder), not ``10**30``.
    """
    if type(value) is not int or not 0 <= value <= PLAUSIBLE_TOKENS:
        return None
    return value


def total_of(prompt: int | None, completion: int | None, reported: object = None) -> int | None:
    """The provider's total if it gave a valid one, else ``prompt + completion`` when both known."""
    total = usage_count(reported)
    if total is not None:
        return total
    return prompt + completion if prompt is not None and completion is not None else None


def require_text(
    text: str | None,
    finish_reason: str | None,
    *,
    sdk: str,
    model: str | None,
    request_id: str | None = None,
) -> str:
    """``text`` when there is some; otherwise the error saying why there is none.

    No text because ``max_tokens`` ran out (a reasoning model that spent it thinking) is a
    :class:`TruncatedResponseError`; blocked by a filter, a :class:`ContentFilterError`;
    anything else, the seed's empty-response error (:class:`EmptyResponseError`).
    """
    if text:
        return text
    where = f"{sdk} model {model!r}"
    if finish_reason == "length":
        raise TruncatedResponseError(
            f"{where} used all max_tokens before writing any answer: raise max_tokens",
            sdk=sdk,
            model=model,
        )
    if finish_reason == "content_filter":
        raise ContentFilterError(
            f"{where}: the answer was blocked by the content filter",
            sdk=sdk,
            model=model,
            request_id=request_id,
        )
    raise EmptyResponseError(
        f"{sdk} returned empty response content for model {model!r}.",
        sdk=sdk,
        model=model,
        request_id=request_id,
    )


def seed_answer(answer: object, *, sdk: str) -> Completion:
    """What a plugin's seed-style ``complete`` returned, as a :class:`Completion`.

    A 4-tuple or a ``Completion`` with ``str`` text; anything else is a
    :class:`PluginError`. Counts and finish reason are checked with the rest of the answer.
    """
    if isinstance(answer, tuple) and len(answer) == 4:
        answer = Completion(*answer)
    if not isinstance(answer, Completion):
        got = f"a {len(answer)}-tuple" if isinstance(answer, tuple) else type(answer).__name__
        raise PluginError(
            f"SDK {sdk} returned {got} from complete(); it must return (response_text,"
            " prompt_tokens, completion_tokens, total_tokens) or a metasync_llm.Completion",
            sdk=sdk,
        )
    text: object = answer.text  # typed str, but plugins can send anything
    if not isinstance(text, str):
        raise PluginError(
            f"SDK {sdk} returned a malformed result from complete(): response_text is"
            f" {type(text).__name__}, not str",
            sdk=sdk,
        )
    return answer


def collect(items: Iterable[object], *, sdk: str, model: str | None) -> Completion:
    """The whole answer of a plugin's stream: its text chunks joined, with its ``StreamEnd``."""
    chunks: list[str] = []
    end: StreamEnd | None = None
    for item in items:
        end = _take(item, chunks, end, sdk)
    return _whole(chunks, end)


def _take(item: object, chunks: list[str], end: StreamEnd | None, sdk: str) -> StreamEnd | None:
    if isinstance(item, str):
        chunks.append(item)
        return end
    if isinstance(item, StreamEnd):
        return item
    raise PluginError(
        f"SDK {sdk} yielded {type(item).__name__} from its stream; a stream yields str"
        " chunks and then one metasync_llm.StreamEnd",
        sdk=sdk,
    )


def _whole(chunks: list[str], end: StreamEnd | None) -> Completion:
    end = end or StreamEnd()
    return Completion(
        "".join(chunks),
        end.prompt_tokens,
        end.completion_tokens,
        end.total_tokens,
        end.finish_reason,
        end.request_id,
    )
