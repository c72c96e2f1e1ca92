"""A fast loopback stub of the four provider APIs, for benchmarks (run in its own process).

Answers OpenAI / Azure OpenAI / Azure AI Inference chat completions and Anthropic messages
with fixed valid bodies (SSE streams when the request asks for ``"stream": true``), over
HTTP/1.1 keep-alive, so only client-side cost remains to be measured.

usage: python stub_server.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

TEXT = ["Hello", ", ", "world", "! ", "This is a fixed answer."]
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}


def _chat() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "".join(TEXT)},
                }
            ],
            "usage": USAGE,
        }
    ).encode()


def _chat_stream() -> bytes:
    events = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
        }
        for t in TEXT
    ]
    events.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    events.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [],
            "usage": USAGE,
        }
    )
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return body.encode()


def _message() -> bytes:
    return json.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "bench",
            "content": [{"type": "text", "text": "".join(TEXT)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 9},
        }
    ).encode()


def _message_stream() -> bytes:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "bench",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
            for t in TEXT
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


BODIES = {
    ("chat", False): (b"application/json", _chat()),
    ("chat", True): (b"text/event-stream", _chat_stream()),
    ("messages", False): (b"application/json", _message()),
    ("messages", True): (b"text/event-stream", _message_stream()),
}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1]
            length = 0
            for line in lines[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            stream = b'"stream": true' in body or b'"stream":true' in body
            kind = "messages" if b"/messages" in path else "chat"
            content_type, payload = BODIES[(kind, stream)]
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: "
                + content_type
                + b"\r\nx-request-id: req-bench\r\nrequest-id: req-bench\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print(f"stub listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
