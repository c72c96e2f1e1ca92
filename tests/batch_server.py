"""A stand-in OpenAI API in a process of its own, for the batch tests (and a kill -9 of the
job beside it): answers every chat completion after ``--latency`` seconds, the first
``--storm`` of them with 429 and ``Retry-After``, and logs each request it answers
(``<unix time> <status> <prompt>``) to LOG, one flushed line per request.

usage: python batch_server.py LOG [--latency S] [--storm N] [--retry-after S]
Prints the port it listens on, then serves until killed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time

from metasync_llm.testing import LoopbackServer, RecordedRequest, Reply, wires


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--storm", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=0.5)
    args = parser.parse_args()
    counter = itertools.count()
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives until killed

    def respond(request: RecordedRequest) -> Reply:
        body = request.json()
        prompt = " ".join(str(m.get("content")) for m in body.get("messages", []))
        with lock:
            storm = next(counter) < args.storm
            status = 429 if storm else 200
            log.write(f"{time.time():.6f} {status} {prompt.split()[-1]}\n")
        if storm:
            error = wires.chat_error("Rate limit reached", code="rate_limit_exceeded")
            return Reply.json(error, 429, {"retry-after": str(args.retry_after)})
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        reply = Reply.json(wires.chat_completion(f"answer to {prompt}", usage=usage))
        return Reply(reply.status, reply.body, reply.headers, delay=args.latency)

    with LoopbackServer(default=respond) as server:
        print(server.port, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
