"""Stand-ins for provider APIs: responders for :class:`LoopbackServer` in each wire format.

Each answers a chat request with a fixed text and usage, as JSON or, when the request
asks for ``"stream": true``, as the provider's server-sent events.
"""

from __future__ import annotations

from typing import Any

from metasync_llm.testing._server import RecordedRequest, Reply

TEXT = "Hello from the loopback server."
WORDS = ["Hello ", "from ", "the ", "loopback ", "server."]
USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


def _wants_stream(request: RecordedRequest) -> bool:
    body = request.json()
    return isinstance(body, dict) and body.get("stream") is True


def openai_chat(request: RecordedRequest) -> Reply:
    """OpenAI-style ``/chat/completions`` (OpenAI, Azure OpenAI, compatible servers)."""
    if not _wants_stream(request):
        return Reply.json(
            {
                "id": "chatcmpl-loopback",
                "object": "chat.completion",
                "created": 0,
                "model": "loopback",
                "usage": USAGE,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": TEXT},
                    }
                ],
            }
        )
    events: list[Any] = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "loopback",
            "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
        }
        for w in WORDS
    ]
    events.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "loopback",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    events.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "loopback",
            "choices": [],
            "usage": USAGE,
        }
    )
    return Reply.sse(events)


def azure_inference_chat(request: RecordedRequest) -> Reply:
    """Azure AI Inference ``/chat/completions`` (the same shapes, no ``object`` fields)."""
    return openai_chat(request)


def anthropic_messages(request: RecordedRequest) -> Reply:
    """Anthropic ``/v1/messages``, JSON or named server-sent events."""
    usage = {"input_tokens": USAGE["prompt_tokens"], "output_tokens": USAGE["completion_tokens"]}
    if not _wants_stream(request):
        return Reply.json(
            {
                "id": "msg_loopback",
                "type": "message",
                "role": "assistant",
                "model": "loopback",
                "content": [{"type": "text", "text": TEXT}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        )
    events: list[Any] = [
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
                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
            for w in WORDS
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    return Reply.sse(events, done=False, named=True)
