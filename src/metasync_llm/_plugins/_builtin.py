"""The built-in ``test`` SDK: deterministic, offline, keyless, and able to rehearse failures.

A model document needs only ``deployment``. An optional ``test`` object changes what the
SDK does, so a service can rehearse every path of the connector::

    {"name": "rehearsal", "sdk": "test", "deployment": "echo",
     "test": {"reply": "fixed text", "error": "rate_limit", "retryAfter": 2,
              "finishReason": "stop", "omitUsage": false, "delay": 0.1,
              "chunkDelay": 0.01, "cutAfter": 3}}

Streams yield the answer in word-sized chunks (``chunkDelay`` seconds apart; no delay by
default) and end with the usage; ``cutAfter`` breaks a stream after that many chunks
with :class:`~metasync_llm.APIConnectionError`, to rehearse a connection lost mid-way.

``deployment: "fail-503"`` (``fail-429``, ``fail-401``, ``fail-timeout``, ...: see
``FAILING_DEPLOYMENTS``) always fails so, to rehearse routing.

``deployment: "echo"`` answers with the user content itself (in a conversation, the last
user turn); any other deployment answers with a JSON object describing the request, and
a call with a schema with a deterministic instance of it. ``reply`` may be a list: the
n-th ask (after n assistant turns, as a re-ask after an invalid answer) gets the n-th.
Token counts are the number of words and punctuation marks of the prompt (every turn)
and of the answer; an answer longer than ``max_tokens`` is cut there and reported with
finish reason ``"length"``, one that reaches a stop sequence ends before it
(``"stop_sequence"``).

Given tools (and a ``tool_choice`` other than ``"none"``), a turn that is not a tool
result is answered with tool calls: the forced tool, else every tool the last user turn
names (in the order named), else the first tool, each with a schema-valid example of its
arguments (``test.toolArguments``, a string, replaces them: to rehearse invalid ones).
After tool results, the answer quotes them: ``Tool results: name: content; ...``.

A last user turn with attachments is answered with what arrived (``Received:`` and each
attachment's type, size and digest); ``reasoning`` other than ``"none"`` adds a reasoning
text (``result.reasoning``) whose tokens count as output, as providers bill them.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from metasync_llm import toolkit
from metasync_llm.base_sdk import BaseLLMSDK

if TYPE_CHECKING:
    from metasync_llm.errors import CompletionError
    from metasync_llm.request import Request
    from metasync_llm.result import Completion, RawToolCall, StreamEnd, StreamItem

_TOKEN = r"\w+|[^\w\s]"  # a pattern: re compiles and caches it on first use
MAX_DELAY = 60.0


#: The failures a document can ask for with ``test.error``: the exception (a name in
#: :mod:`metasync_llm.errors`, looked up when raised), its HTTP status, what it simulates.
SIMULATED_ERRORS: dict[str, tuple[str, int | None, str]] = {
    "authentication": ("AuthenticationError", 401, "authentication failure"),
    "permission": ("PermissionDeniedError", 403, "permission denied"),
    "not_found": ("NotFoundError", 404, "unknown deployment"),
    "rate_limit": ("RateLimitError", 429, "rate limit"),
    "bad_request": ("BadRequestError", 400, "bad request"),
    "context_window": ("ContextWindowExceededError", 400, "context window overflow"),
    "content_filter": ("ContentFilterError", 400, "content filter refusal"),
    "server": ("ServerError", 500, "server error"),
    "timeout": ("APITimeoutError", None, "timeout"),
    "connection": ("APIConnectionError", None, "connection failure"),
    "empty": ("EmptyResponseError", 200, "empty response"),
}


#: ``deployment: "fail-<what>"``: a document that always fails so (to rehearse routing).
FAILING_DEPLOYMENTS = {
    "fail-400": "bad_request",
    "fail-401": "authentication",
    "fail-403": "permission",
    "fail-404": "not_found",
    "fail-429": "rate_limit",
    "fail-500": "server",
    "fail-503": "server",
    "fail-timeout": "timeout",
    "fail-connection": "connection",
    "fail-context": "context_window",
}


def simulated_error(kind: str, model: str, options: Mapping[str, Any]) -> CompletionError:
    """The exception ``test.error: kind`` raises (``retryAfter`` for a rate limit)."""
    name, status, text = SIMULATED_ERRORS[kind]
    cls: type[CompletionError] = getattr(toolkit.errors, name)
    extra: dict[str, Any] = {}
    if kind == "rate_limit":
        retry_after = options.get("retryAfter")
        extra["retry_after"] = float(retry_after) if retry_after is not None else None
    return cls(
        f"test SDK: simulated {text} for model {model!r}",
        sdk="test",
        model=model,
        status=status,
        request_id="test-request",
        **extra,
    )


def count_tokens(text: str) -> int:
    """The test SDK's token count: words and punctuation marks."""
    return sum(1 for _ in re.finditer(_TOKEN, text))


def _cut(text: str, max_tokens: int) -> str | None:
    """``text`` cut after ``max_tokens`` tokens, or ``None`` when it already fits."""
    for i, match in enumerate(re.finditer(_TOKEN, text), start=1):
        if i == max_tokens:
            rest = text[match.end() :]
            return text[: match.end()] if re.search(_TOKEN, rest) else None
    return None


def _option(config: Mapping[str, Any], name: str) -> float:
    value = (config.get("test") or {}).get(name)
    return float(value) if value else 0.0


_CHUNK = r"\S+\s*|\s+"


def _chunks(text: str, config: Mapping[str, Any], stream: bool = True) -> Iterator[str]:
    """The answer in word-sized chunks (one chunk when nobody reads them as they come);
    with ``test.cutAfter`` the stream breaks after N."""
    cut_after = (config.get("test") or {}).get("cutAfter")
    if not stream and cut_after is None:
        if text:
            yield text
        return
    for i, match in enumerate(re.finditer(_CHUNK, text)):
        if cut_after is not None and i >= cut_after:
            raise toolkit.errors.APIConnectionError(
                f"test SDK: simulated stream cut after {cut_after} chunks",
                sdk="test",
                model=str(config.get("name", "test")),
            )
        yield match.group()


def _end(answer: Completion, calls: tuple[RawToolCall, ...], request: Request) -> StreamEnd:
    thought = _reasoning(request)
    spent = count_tokens(thought) if thought and answer.completion_tokens is not None else None
    return toolkit.StreamEnd(
        answer.prompt_tokens,
        None if answer.completion_tokens is None else answer.completion_tokens + (spent or 0),
        None if answer.total_tokens is None else answer.total_tokens + (spent or 0),
        answer.finish_reason,
        answer.request_id,
        calls,
        reasoning=thought,
        reasoning_tokens=spent,
    )


def _reasoning(request: Request) -> str | None:
    if request.reasoning is None or request.reasoning == "none":
        return None
    return f"Thought it over (reasoning={request.reasoning})."


class BuiltinTestSDK(BaseLLMSDK):
    """SDK ``test``: no network, no key, deterministic answers and rehearsable failures."""

    requires_api_key = False
    features = frozenset({"messages", "schema", "stop", "tools", "attachments", "reasoning"})
    reasoning_budget = True

    def get_name(self) -> str:
        return "test"

    def validate_config(self, config: Mapping[str, Any]) -> None:
        toolkit.check_config(config, sdk="test", required=("deployment",), urls=())
        deployment = config.get("deployment")
        failing = isinstance(deployment, str) and deployment.startswith("fail-")
        if failing and deployment not in FAILING_DEPLOYMENTS:
            raise toolkit.errors.ConfigurationError(
                f"test SDK: 'deployment' {deployment!r} is not one of the failing ones"
                f" ({', '.join(FAILING_DEPLOYMENTS)})",
                fields=("deployment",),
                sdk="test",
            )
        options = config.get("test")
        if options is None:
            return
        if not isinstance(options, Mapping):
            raise toolkit.errors.ConfigurationError(
                f"'test' must be an object, got {options!r}", fields=("test",), sdk="test"
            )
        problems: list[tuple[str, str]] = []
        error = options.get("error")
        if error is not None and error not in SIMULATED_ERRORS:
            problems.append(
                (
                    "test.error",
                    f"'test.error' must be one of {', '.join(SIMULATED_ERRORS)}, got {error!r}",
                )
            )
        reply = options.get("reply")
        if reply is not None and not (
            isinstance(reply, str)
            or (isinstance(reply, list) and reply and all(isinstance(r, str) for r in reply))
        ):
            problems.append(("test.reply", "'test.reply' must be a string or a list of them"))
        if options.get("toolArguments") is not None and not isinstance(
            options["toolArguments"], str
        ):
            problems.append(("test.toolArguments", "'test.toolArguments' must be a string"))
        finish = options.get("finishReason")
        if finish is not None and not isinstance(finish, str):
            problems.append(("test.finishReason", "'test.finishReason' must be a string"))
        if options.get("omitUsage") is not None and not isinstance(options["omitUsage"], bool):
            problems.append(("test.omitUsage", "'test.omitUsage' must be true or false"))
        cut_after = options.get("cutAfter")
        if cut_after is not None and (
            isinstance(cut_after, bool) or not isinstance(cut_after, int) or cut_after < 0
        ):
            problems.append(("test.cutAfter", "'test.cutAfter' must be an integer >= 0"))
        for field, limit in (("delay", MAX_DELAY), ("chunkDelay", 5.0), ("retryAfter", None)):
            value = options.get(field)
            if value is not None and (
                not toolkit.is_number(value) or value < 0 or (limit is not None and value > limit)
            ):
                bound = f" and at most {limit:g}" if limit is not None else ""
                problems.append(
                    (f"test.{field}", f"'test.{field}' must be a number >= 0{bound} (seconds)")
                )
        if problems:
            raise toolkit.errors.ConfigurationError(
                "test SDK: " + "; ".join(msg for _, msg in problems),
                fields=[f for f, _ in problems],
                sdk="test",
            )

    def stream(self, request: Request) -> Iterator[StreamItem]:
        config = request.config
        delay, pause = _option(config, "delay"), _option(config, "chunkDelay")
        if delay:
            time.sleep(delay)
        answer, calls = _answer(request)
        for i, chunk in enumerate(_chunks(answer.text, config, request.stream)):
            if i and pause:
                time.sleep(pause)
            yield chunk
        yield _end(answer, calls, request)

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        import asyncio  # noqa: PLC0415 - not for sync-only processes: its import costs ~40 ms

        config = request.config
        delay, pause = _option(config, "delay"), _option(config, "chunkDelay")
        if delay:
            await asyncio.sleep(delay)
        answer, calls = _answer(request)
        for i, chunk in enumerate(_chunks(answer.text, config, request.stream)):
            if i and pause:
                await asyncio.sleep(pause)
            yield chunk
        yield _end(answer, calls, request)


def _answer(request: Request) -> tuple[Completion, tuple[RawToolCall, ...]]:
    config = request.config
    options: Mapping[str, Any] = config.get("test") or {}
    model = str(config.get("name", "test"))
    error = options.get("error") or FAILING_DEPLOYMENTS.get(str(config.get("deployment")))
    if error is not None:
        raise simulated_error(error, model, options)
    turns = request.turns()
    calls: tuple[RawToolCall, ...] = ()
    if request.tools and request.tool_choice != "none" and turns and turns[-1].role != "tool":
        calls = _tool_calls(request, options)
    reply = "" if calls else options.get("reply")
    if isinstance(reply, list):  # one reply per ask: the n-th after n assistant turns
        asked = sum(turn.role == "assistant" for turn in turns)
        reply = reply[min(asked, len(reply) - 1)]
    if reply is None:
        reply = _default_reply(request)
    finish_reason = options.get("finishReason", "stop")
    cut = _cut(reply, request.max_tokens)
    if cut is not None:
        reply, finish_reason = cut, "length"
    for stop in request.stop:  # the answer ends where a stop sequence would begin
        if stop in reply:
            reply, finish_reason = reply[: reply.index(stop)], "stop_sequence"
    if calls:
        finish_reason = "tool_calls"
    if options.get("omitUsage"):
        return toolkit.Completion(reply, None, None, None, finish_reason, "test-request"), calls
    prompt_tokens = count_tokens(request.system_prompt) + sum(
        count_tokens(turn.content) for turn in turns
    )
    completion_tokens = count_tokens(reply) + sum(count_tokens(str(c.arguments)) for c in calls)
    answer = toolkit.Completion(
        reply,
        prompt_tokens,
        completion_tokens,
        prompt_tokens + completion_tokens,
        finish_reason,
        "test-request",
    )
    return answer, calls


def _tool_calls(request: Request, options: Mapping[str, Any]) -> tuple[RawToolCall, ...]:
    """The forced tool, else the tools the last user turn names, else the first tool; each
    called once with an example of its arguments."""
    import json  # noqa: PLC0415 - not needed at discovery

    from metasync_llm._structured._schema import example  # noqa: PLC0415

    tools = {tool.name: tool for tool in request.tools}
    if request.tool_choice in tools:
        chosen = [request.tool_choice]
    else:
        said = next((t.content for t in reversed(request.turns()) if t.role == "user"), "")
        named = sorted((said.find(name), name) for name in tools if name in said)
        chosen = [name for _, name in named] or [request.tools[0].name]
    asked = sum(turn.role == "assistant" for turn in request.turns())
    fixed = options.get("toolArguments")
    return tuple(
        toolkit.RawToolCall(
            f"call_{asked}_{n}",
            name,
            fixed if fixed is not None else json.dumps(example(tools[name].parameters)),
        )
        for n, name in enumerate(chosen)
    )


def _default_reply(request: Request) -> str:
    import json  # noqa: PLC0415 - not needed at discovery

    if request.schema is not None:  # a deterministic instance of the schema
        from metasync_llm._structured._schema import example  # noqa: PLC0415

        return json.dumps(example(request.schema), ensure_ascii=False)
    turns = request.turns()
    attached = [p for p in turns[-1].parts if not isinstance(p, str)] if turns else []
    if attached:  # what arrived, without its content
        return "Received: " + "; ".join(a.describe() for a in attached)
    if request.tools and turns and turns[-1].role == "tool":  # quote the results
        results = []
        for turn in reversed(turns):
            if turn.role != "tool":
                break
            results.append(f"{turn.name}: {turn.content}")
        return "Tool results: " + "; ".join(reversed(results))
    if request.config.get("deployment") == "echo":  # the last user turn
        return next((t.content for t in reversed(request.turns()) if t.role == "user"), "")
    described: dict[str, Any] = {
        "sdk": "test",
        "deployment": request.config.get("deployment"),
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "system_prompt": request.system_prompt,
        "user_content": request.user_content,
    }
    if request.messages:
        described["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
    if request.stop:
        described["stop"] = list(request.stop)
    return json.dumps(described, ensure_ascii=False)
