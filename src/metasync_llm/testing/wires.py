"""Provider wire formats for tests: answer and error bodies, streams, and stand-in APIs.

The payload builders return what each API sends (JSON-ready dicts, or the events of a
server-sent-event stream); the responders answer a :class:`LoopbackServer`'s chat
requests with them, as JSON or, when the request asks for ``"stream": true``, as
server-sent events. Plugin tests, the fault-injection suite and the benchmark stub all
build their bodies here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from metasync_llm.testing._server import RecordedRequest, Reply

TEXT = "Hello from the loopback server."
WORDS = ["Hello ", "from ", "the ", "loopback ", "server."]
USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}

# -- OpenAI-style Chat Completions (OpenAI, Azure OpenAI, Azure AI Inference) ------------


def chat_completion(
    text: str | None = TEXT,
    *,
    finish: str | None = "stop",
    usage: dict[str, int] | None = USAGE,
    id: str = "chatcmpl-loopback",
    model: str = "loopback",
) -> dict[str, Any]:
    """A ``chat.completion`` body; ``usage=None`` leaves the usage out."""
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text}}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chat_chunk(
    content: str | None = None,
    finish: str | None = None,
    *,
    id: str = "chatcmpl-loopback",
    model: str = "loopback",
) -> dict[str, Any]:
    """One ``chat.completion.chunk``: a text delta, or the finish reason."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}
        ],
    }


def chat_chunks(
    words: Iterable[str] = WORDS,
    *,
    finish: str | None = "stop",
    usage: dict[str, int] | None = USAGE,
    model: str = "loopback",
) -> list[dict[str, Any]]:
    """A whole stream's chunks: the words, the finish reason, then the usage (if any)."""
    events = [chat_chunk(word, model=model) for word in words]
    if finish is not None:
        events.append(chat_chunk(finish=finish, model=model))
    if usage is not None:
        events.append(
            {
                "id": "chatcmpl-loopback",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    return events


#: A tool call on the wire: ``(id, name, arguments as JSON text)``.
WireCall = tuple[str, str, str]


def chat_tool_calls(calls: Sequence[WireCall], text: str | None = None) -> dict[str, Any]:
    """A ``chat.completion`` body whose message calls tools (``finish_reason: tool_calls``)."""
    body = chat_completion(text, finish="tool_calls")
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
    ]
    return body


def chat_tool_chunks(
    calls: Sequence[WireCall], *, pieces: int = 3, finish: str | None = "tool_calls"
) -> list[dict[str, Any]]:
    """A stream's chunks calling tools as the API streams them: per call, a first fragment
    with its index, id and name, then its arguments' text in ``pieces`` fragments; then the
    finish reason and the usage (``finish=None``: a stream cut inside the calls)."""
    events = []
    for index, (call_id, name, arguments) in enumerate(calls):
        first = {"index": index, "id": call_id, "type": "function"}
        fragments = [{**first, "function": {"name": name, "arguments": ""}}]
        size = max(1, -(-len(arguments) // pieces))
        fragments += [
            {"index": index, "function": {"arguments": arguments[at : at + size]}}
            for at in range(0, len(arguments), size)
        ]
        for fragment in fragments:
            chunk = chat_chunk()
            chunk["choices"][0]["delta"] = {"tool_calls": [fragment]}
            events.append(chunk)
    if finish is not None:
        events += chat_chunks([], finish=finish)
    return events


def chat_error(message: str, *, code: str | None = None, type: str = "error") -> dict[str, Any]:
    """OpenAI's error body (Azure AI Inference sends the same ``error.code``/``message``)."""
    return {"error": {"message": message, "type": type, "code": code}}


# -- Anthropic Messages ------------------------------------------------------------------


def anthropic_message(
    text: str = TEXT,
    *,
    stop: str = "end_turn",
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A ``message`` body."""
    return {
        "id": "msg_loopback",
        "type": "message",
        "role": "assistant",
        "model": "loopback",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage or _anthropic_usage(USAGE),
    }


def anthropic_events(
    words: Iterable[str] = WORDS,
    *,
    stop: str | None = "end_turn",
    input_tokens: int = USAGE["prompt_tokens"],
    output_tokens: int = USAGE["completion_tokens"],
    start_usage: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """The events of a streamed message: start, text deltas, stop reason, ``message_stop``.

    ``stop=None`` leaves out the ``message_delta`` and ``message_stop`` (a stream cut short).
    """
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_loopback",
                "type": "message",
                "role": "assistant",
                "model": "loopback",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1, **(start_usage or {})},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
            for w in words
        ),
        {"type": "content_block_stop", "index": 0},
    ]
    if stop is not None:
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            }
        )
        events.append({"type": "message_stop"})
    return events


def anthropic_tool_events(
    calls: Sequence[WireCall], *, text: str | None = None, stop: str | None = "tool_use"
) -> list[dict[str, Any]]:
    """A streamed message calling tools: an optional text block, then a ``tool_use`` block
    per call with its input in ``input_json_delta`` fragments (``stop=None``: cut short)."""
    events = anthropic_events([text] if text else [], stop=stop)
    head, tail = events[:4] if text else events[:1], events[4:] if text else events[3:]
    blocks: list[dict[str, Any]] = []
    for offset, (call_id, name, arguments) in enumerate(calls):
        index = offset + (1 if text else 0)
        start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        half = len(arguments) // 2
        blocks += [
            {"type": "content_block_start", "index": index, "content_block": start},
            *(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
                for piece in (arguments[:half], arguments[half:])
            ),
            {"type": "content_block_stop", "index": index},
        ]
    return [*head, *blocks, *tail]


def anthropic_error(message: str, *, kind: str = "api_error") -> dict[str, Any]:
    """Anthropic's error body (also the data of an in-stream ``error`` event)."""
    return {"type": "error", "error": {"type": kind, "message": message}}


def _anthropic_usage(usage: dict[str, int]) -> dict[str, int]:
    return {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}


# -- Gemini generateContent ----------------------------------------------------------------

GEMINI_USAGE = {"promptTokenCount": 7, "candidatesTokenCount": 5, "totalTokenCount": 12}


def gemini_response(
    text: str | None = TEXT,
    *,
    finish: str | None = "STOP",
    usage: dict[str, int] | None = GEMINI_USAGE,
    response_id: str = "resp-loopback",
    block: str | None = None,
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` (also one chunk of a stream).

    ``text=None`` sends a candidate without parts, ``finish=None`` one that has not
    finished; ``block`` a prompt blocked for that reason (no candidates).
    """
    body: dict[str, Any] = {"modelVersion": "loopback", "responseId": response_id}
    if block is not None:
        body["promptFeedback"] = {"blockReason": block}
    else:
        candidate: dict[str, Any] = {"index": 0, "content": {"role": "model", "parts": []}}
        if text is not None:
            candidate["content"]["parts"] = [{"text": text}]
        if finish is not None:
            candidate["finishReason"] = finish
        body["candidates"] = [candidate]
    if usage is not None:
        body["usageMetadata"] = usage
    return body


def gemini_chunks(
    words: Iterable[str] = WORDS,
    *,
    finish: str | None = "STOP",
    usage: dict[str, int] | None = GEMINI_USAGE,
) -> list[dict[str, Any]]:
    """A stream's chunks: one per word, the last with the finish reason and the usage
    (``finish=None``: a stream cut short)."""
    words = list(words) or [""]
    chunks = [gemini_response(w, finish=None, usage=None) for w in words]
    last = chunks[-1]
    if finish is not None:
        last["candidates"][0]["finishReason"] = finish
    if usage is not None:
        last["usageMetadata"] = usage
    return chunks


def gemini_tool_response(
    calls: Sequence[tuple[str | None, str, dict[str, Any]]], *, finish: str | None = "STOP"
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` calling tools: a ``functionCall`` part per
    ``(id or None, name, args)`` (Gemini sends whole calls and says ``STOP``)."""
    body = gemini_response(None, finish=finish)
    body["candidates"][0]["content"]["parts"] = [
        {"functionCall": {"name": n, "args": a, **({"id": i} if i else {})}} for i, n, a in calls
    ]
    return body


def gemini_error(code: int, message: str, status: str) -> dict[str, Any]:
    """Google's error body (``status`` is the canonical code, e.g. ``RESOURCE_EXHAUSTED``)."""
    return {"error": {"code": code, "message": message, "status": status}}


# -- server-sent events ------------------------------------------------------------------


def sse_bytes(events: Sequence[object], *, named: bool = False, done: bool = True) -> bytes:
    """Events as one server-sent-event body (``event:`` lines from ``type`` when ``named``)."""
    parts = []
    for event in events:
        name = event.get("type") if named and isinstance(event, dict) else None
        prefix = f"event: {name}\n" if name else ""
        parts.append(f"{prefix}data: {json.dumps(event)}\n\n")
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


# -- stand-in APIs for a LoopbackServer --------------------------------------------------


def _wants_stream(request: RecordedRequest) -> bool:
    body = request.json()
    return isinstance(body, dict) and body.get("stream") is True


def _answer(schema: object) -> str:
    """:data:`TEXT`, or an instance of the JSON Schema a request asks for."""
    if not isinstance(schema, dict):
        return TEXT
    from metasync_llm._structured._schema import example  # noqa: PLC0415 - for requests with a schema

    return json.dumps(example(schema))


def openai_chat(request: RecordedRequest) -> Reply:
    """OpenAI-style ``/chat/completions`` (OpenAI, Azure OpenAI, compatible servers).

    A request with a ``json_schema`` response format gets an instance of the schema.
    """
    body = request.json()
    response_format = body.get("response_format") if isinstance(body, dict) else None
    schema = (response_format or {}).get("json_schema", {}).get("schema")
    text = _answer(schema)
    if not _wants_stream(request):
        return Reply.json(chat_completion(text))
    return Reply.sse(chat_chunks([text] if schema else WORDS))


def azure_inference_chat(request: RecordedRequest) -> Reply:
    """Azure AI Inference ``/chat/completions`` (the same shapes)."""
    return openai_chat(request)


def anthropic_messages(request: RecordedRequest) -> Reply:
    """Anthropic ``/v1/messages``, JSON or named server-sent events.

    A request with an ``output_config`` JSON format gets an instance of its schema.
    """
    body = request.json()
    output = body.get("output_config") if isinstance(body, dict) else None
    schema = ((output or {}).get("format") or {}).get("schema")
    text = _answer(schema)
    if not _wants_stream(request):
        return Reply.json(anthropic_message(text))
    return Reply.sse(anthropic_events([text] if schema else WORDS), done=False, named=True)


def gemini_generate(request: RecordedRequest) -> Reply:
    """Gemini ``models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``.

    A request with a ``responseJsonSchema`` gets an instance of the schema.
    """
    body = request.json()
    config = body.get("generationConfig") if isinstance(body, dict) else None
    schema = (config or {}).get("responseJsonSchema")
    text = _answer(schema)
    if ":streamGenerateContent" not in request.path:
        return Reply.json(gemini_response(text))
    return Reply.sse(gemini_chunks([text] if schema else WORDS), done=False)
