"""A fast loopback stub of the five provider APIs, for benchmarks (run in its own process).

Answers OpenAI / Azure OpenAI / Azure AI Inference chat completions, Anthropic messages and
Gemini generateContent with fixed valid bodies (SSE streams when the request asks for
``"stream": true``, or for Gemini ``:streamGenerateContent``), built
by ``metasync_llm.testing.wires``, over HTTP/1.1 keep-alive, so only client-side cost
remains to be measured.

usage: python stub_server.py PORT [LATENCY [CAPACITY]]: LATENCY seconds before each answer
(default 0); CAPACITY answers at once at most (default: no limit), as a deployment that
saturates (the router's balance figure).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys

from metasync_llm.testing import wires

TEXT = ["Hello", ", ", "world", "! ", "This is a fixed answer."]
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
ANTHROPIC = {"input_tokens": 12, "output_tokens": 9}
LATENCY = 0.0
GEMINI = {"promptTokenCount": 12, "candidatesTokenCount": 9, "totalTokenCount": 21}

BODIES = {
    ("chat", False): (
        b"application/json",
        json.dumps(wires.chat_completion("".join(TEXT), usage=USAGE, model="bench")).encode(),
    ),
    ("chat", True): (
        b"text/event-stream",
        wires.sse_bytes(wires.chat_chunks(TEXT, usage=USAGE, model="bench")),
    ),
    ("messages", False): (
        b"application/json",
        json.dumps(wires.anthropic_message("".join(TEXT), usage=ANTHROPIC)).encode(),
    ),
    ("messages", True): (
        b"text/event-stream",
        wires.sse_bytes(
            wires.anthropic_events(TEXT, input_tokens=12, output_tokens=9), named=True, done=False
        ),
    ),
    ("gemini", False): (
        b"application/json",
        json.dumps(wires.gemini_response("".join(TEXT), usage=GEMINI)).encode(),
    ),
    ("gemini", True): (
        b"text/event-stream",
        wires.sse_bytes(wires.gemini_chunks(TEXT, usage=GEMINI), done=False),
    ),
}


async def handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    capacity: asyncio.Semaphore | None = None,
) -> None:
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
            if b":generateContent" in path or b":streamGenerateContent" in path:
                kind, stream = "gemini", b":streamGenerateContent" in path
            content_type, payload = BODIES[(kind, stream)]
            if capacity is not None:
                async with capacity:
                    await asyncio.sleep(LATENCY)
            elif LATENCY:
                await asyncio.sleep(LATENCY)
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


async def main(port: int, capacity: int | None) -> None:
    limit = asyncio.Semaphore(capacity) if capacity else None
    server = await asyncio.start_server(
        functools.partial(handle, capacity=limit), "127.0.0.1", port, backlog=1024
    )
    print(f"stub listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    LATENCY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[3]) if len(sys.argv) > 3 else None))
