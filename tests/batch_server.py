"""A stand-in OpenAI API in a process of its own, for the batch tests (and a kill -9 of the
job beside it): answers every chat completion after ``--latency`` seconds, the first
``--storm`` of them with 429 and ``Retry-After`` (``--retry-after 0``: none), and those
beyond ``--max-in-flight`` at once with 429 too, as a provider's concurrency limit does;
logs each request it answers (``<unix time> <status> <prompt>``) to LOG, one flushed line
per request.

usage: python batch_server.py LOG [--latency S] [--storm N] [--retry-after S]
                              [--max-in-flight N]
Prints the port it listens on, then serves until killed. :class:`StandIn` runs it for a
test (the ``stand_in`` fixture of ``conftest.py``).
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

from metasync_llm.testing import LoopbackServer, RecordedRequest, Reply, wires


class StandIn:
    """``batch_server.py`` in its own process, and what it logged."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / "requests.log"
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.log), *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().strip()}"

    def requests(self) -> list[tuple[float, int, str]]:
        entries = []
        for line in self.log.read_text().splitlines():
            when, status, prompt = line.split(" ", 2)
            entries.append((float(when), int(status), prompt))
        return entries

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--storm", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=0.5)
    parser.add_argument("--max-in-flight", type=int, default=0)
    args = parser.parse_args()
    counter = itertools.count()
    in_flight = 0
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives until killed

    def respond(request: RecordedRequest) -> Reply:
        nonlocal in_flight
        body = request.json()
        prompt = " ".join(str(m.get("content")) for m in body.get("messages", []))
        with lock:
            crowded = 0 < args.max_in_flight <= in_flight
            storm = next(counter) < args.storm or crowded
            status = 429 if storm else 200
            in_flight += not storm
            log.write(f"{time.time():.6f} {status} {prompt.split()[-1]}\n")
        if storm:
            error = wires.chat_error("Rate limit reached", code="rate_limit_exceeded")
            headers = {"retry-after": str(args.retry_after)} if args.retry_after else {}
            return Reply.json(error, 429, headers)
        try:
            time.sleep(args.latency)  # here, not as the reply's delay: it counts in flight
        finally:
            with lock:
                in_flight -= 1
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        return Reply.json(wires.chat_completion(f"answer to {prompt}", usage=usage))

    with LoopbackServer(default=respond) as server:
        print(server.port, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
