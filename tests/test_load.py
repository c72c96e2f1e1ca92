"""Under load: hundreds of concurrent calls (threads and asyncio) against a faulty server.

Every call must end in its own correct answer or the correct error; threads, file
descriptors and memory must not grow from one round to the next.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import PluginRegistry, acomplete_with_model, complete_with_model
from metasync_llm.testing import LoopbackServer, RecordedRequest, Reply, wires

CALLS_PER_KIND = 150  # per round, for threads and for asyncio each
ROUNDS = 4  # the first warms pools and allocator arenas; leaks show from the second on


def _chat_prompt(body: Any) -> str:
    return str(body["messages"][0]["content"])


def _chat_ok(text: str) -> Reply:
    usage = {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    return Reply.json(wires.chat_completion(text, usage=usage))


def _chat_error(status: int, message: str, headers: dict[str, str]) -> Reply:
    return Reply.json({"error": {"message": message}}, status, headers)


def _gemini_prompt(body: Any) -> str:
    return str(body["contents"][0]["parts"][0]["text"])


def _gemini_ok(text: str) -> Reply:
    usage = {"promptTokenCount": 2, "candidatesTokenCount": 1, "totalTokenCount": 3}
    return Reply.json(wires.gemini_response(text, usage=usage))


def _gemini_error(status: int, message: str, headers: dict[str, str]) -> Reply:
    return Reply.json(wires.gemini_error(status, message, "ERROR"), status, headers)


#: SDK -> (plugin module, the prompt of a request body, an answer, an error reply)
WIRES: dict[str, tuple[str, Callable[[Any], str], Callable[[str], Reply], Any]] = {
    "OpenAI": ("metasync_llm_openai", _chat_prompt, _chat_ok, _chat_error),
    "Gemini": ("metasync_llm_gemini", _gemini_prompt, _gemini_ok, _gemini_error),
}


class FaultyServer:
    """Answers by the prompt: ``kind:id``. Some kinds fail once, some always."""

    def __init__(self, sdk: str) -> None:
        _, self.prompt_of, self.ok, self.error = WIRES[sdk]
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = LoopbackServer(default=self.respond)

    def respond(self, request: RecordedRequest) -> Reply:
        prompt = self.prompt_of(request.json())
        kind = prompt.split(":")[0]
        with self.lock:
            self.seen[prompt] += 1
            first = self.seen[prompt] == 1
        if kind == "throttled" and first:
            return self.error(429, "slow down", {"retry-after": "0"})
        if kind == "reset" and first:
            return Reply(drop=True)
        if kind == "broken":
            return self.error(500, "upstream failed", {})
        if kind == "invalid":
            return self.error(400, "bad role", {})
        return self.ok(f"answer to {prompt}")


#: kind -> (expected outcome: answer or error class, attempts)
EXPECTED: dict[str, tuple[type[Exception] | None, int]] = {
    "plain": (None, 1),
    "throttled": (None, 2),
    "reset": (None, 2),
    "broken": (msl.ServerError, 2),
    "invalid": (msl.BadRequestError, 1),
}
KINDS = sorted(EXPECTED)


def _check(prompt: str, outcome: msl.CompletionResult | BaseException) -> None:
    error, attempts = EXPECTED[prompt.split(":", maxsplit=1)[0]]
    if error is None:
        assert isinstance(outcome, msl.CompletionResult), f"{prompt}: {outcome!r}"
        assert outcome.text == f"answer to {prompt}", "an answer reached the wrong caller"
        assert outcome.attempts == attempts
    else:
        assert isinstance(outcome, error), f"{prompt}: {outcome!r}"
        assert outcome.attempts == attempts


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.parametrize("sdk", sorted(WIRES))
def test_hundreds_of_concurrent_calls_with_faults_stay_correct_and_leak_nothing(sdk: str) -> None:
    module = WIRES[sdk][0]
    if importlib.util.find_spec(module) is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail(f"{module} is not installed")
        pytest.skip(f"{module} is not installed")
    registry = PluginRegistry(allow={sdk})
    faulty = FaultyServer(sdk)
    measures: list[tuple[int, int, float, int, int]] = []
    requests = 0
    with faulty.server as server:
        model: dict[str, Any] = {
            "name": "load",
            "sdk": sdk,
            "endpoint": server.url,
            "deployment": "m",
            "key": "K",
            "timeout": 10,
            "retry": {"attempts": 2, "initialDelay": 0.001, "maxDelay": 0.002},
        }

        def blocking(prompt: str) -> msl.CompletionResult | BaseException:
            try:
                return complete_with_model(
                    model, "", prompt, api_key="sk-load-test", registry=registry
                )
            except msl.CompletionError as exc:
                return exc

        async def concurrent(prompts: list[str]) -> list[msl.CompletionResult | BaseException]:
            async def one(prompt: str) -> msl.CompletionResult | BaseException:
                try:
                    return await acomplete_with_model(
                        model, "", prompt, api_key="sk-load-test", registry=registry
                    )
                except msl.CompletionError as exc:
                    return exc

            return await asyncio.gather(*(one(p) for p in prompts))

        for round_ in range(ROUNDS):
            prompts = [f"{KINDS[i % len(KINDS)]}:{round_}-{i}" for i in range(CALLS_PER_KIND)]
            with ThreadPoolExecutor(max_workers=32) as pool:
                for prompt, outcome in zip(prompts, pool.map(blocking, prompts), strict=True):
                    _check(prompt, outcome)
            aprompts = [f"{p}-async" for p in prompts]
            for prompt, outcome in zip(aprompts, asyncio.run(concurrent(aprompts)), strict=True):
                _check(prompt, outcome)
            requests += len(server.requests)
            server.requests.clear()  # the test's own records, not the library's memory
            faulty.seen.clear()
            gc.collect()
            measures.append(
                (
                    threading.active_count(),
                    _open_fds(),
                    _rss_mb(),
                    len(gc.get_objects()),
                    sys.getallocatedblocks(),
                )
            )

    expected_requests = sum(EXPECTED[k][1] for k in KINDS) * CALLS_PER_KIND // len(KINDS)
    assert requests == expected_requests * 2 * ROUNDS
    print(f"\nrounds (threads, open fds, RSS MB, live objects, blocks): {measures}")
    _, (threads1, fds1, rss1, objects1, blocks1), *_, last = measures
    threads_n, fds_n, rss_n, objects_n, blocks_n = last
    # Idle keep-alive connections (one server thread and two fds each) come and go by a
    # few; the leak this guards against added ~100 threads and ~200 fds per round.
    assert threads_n <= threads1 + 12, f"threads grew: {measures}"
    assert fds_n <= fds1 + 24, f"file descriptors grew: {measures}"
    # Python's own memory: objects and allocated blocks must stay flat after warm-up.
    assert objects_n <= objects1 * 1.02, f"live objects grew: {measures}"
    assert blocks_n <= blocks1 * 1.02, f"allocated memory blocks grew: {measures}"
    # RSS also moves with native allocator arenas (a new thread pool per round, a new SSL
    # context per event loop): only a gross native leak should trip this.
    assert rss_n - rss1 < 48, f"resident memory grew: {measures}"
