"""The conformance suite's fault checks, made from a plugin's own loopback replies.

:class:`FaultChecks` is a base of :class:`~metasync_llm.testing.SDKConformance`: a
stalled server, one that trickles its body, a 429 with ``Retry-After``, a stream cut
part-way, replies without usage. They pass only if the plugin reads the raw body through
the toolkit (the attempt's deadline) and lets the SDK's HTTP errors escape (the core's
mapping).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from metasync_llm.connector import stream_with_model
from metasync_llm.errors import (
    APIConnectionError,
    APITimeoutError,
    CompletionError,
    RateLimitError,
)
from metasync_llm.registry import PluginRegistry
from metasync_llm.result import CompletionResult
from metasync_llm.testing._server import LoopbackServer, Reply


class FaultChecks:
    """The fault tests; the suite supplies the document, the call and the result check."""

    replies: ClassVar[Any] = None
    api_key: ClassVar[str]
    document: Callable[..., AbstractContextManager[dict[str, Any]]]
    call: Callable[..., CompletionResult]
    registry: Callable[[], PluginRegistry]
    _check_result: Callable[[CompletionResult], None]
    _server: LoopbackServer | None

    def _faulty(self, fault: Callable[[Reply], Reply], **fields: Any) -> CompletionError:
        """The error of a blocking call (one attempt) against replies passed through
        ``fault``; fails if the call succeeds or its error is not the core's."""
        if self.replies is None:
            import pytest  # noqa: PLC0415

            pytest.skip("no loopback replies (replies = None): no server to make faults of")
        with self.document(fault) as doc:
            doc.update({"retry": {"attempts": 1}, **fields})
            try:
                result = self.call(doc)
            except CompletionError as exc:
                assert self.api_key not in str(exc) + repr(exc), "the API key leaked"
                return exc
        raise AssertionError(f"the call succeeded against a faulty server: {result.text!r}")

    def test_a_stalled_server_is_a_timeout(self) -> None:
        started = time.monotonic()
        error = self._faulty(lambda reply: dataclasses.replace(reply, delay=4.0), timeout=0.5)
        assert isinstance(error, APITimeoutError), f"{type(error).__name__}: {error}"
        assert time.monotonic() - started < 3.5, "the timeout did not hold"

    def test_a_trickling_server_is_stopped_at_the_deadline(self) -> None:
        """Bytes every 0.1 s never trip a read timeout: only the attempt's deadline, which
        the core checks where it reads the body (toolkit.sse_events / read_json)."""
        started = time.monotonic()
        error = self._faulty(lambda reply: _rechunked(reply, size=2, every=0.1), timeout=0.5)
        assert isinstance(error, APITimeoutError), f"{type(error).__name__}: {error}"
        assert time.monotonic() - started < 3.5, (
            "a trickling server held the call past its timeout: read the raw body through"
            " toolkit.sse_events / toolkit.read_json"
        )

    def test_a_429_carries_its_retry_after(self) -> None:
        throttled = Reply.json(
            {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
            429,
            {"retry-after": "7"},
        )
        error = self._faulty(lambda reply: throttled)
        assert isinstance(error, RateLimitError), f"{type(error).__name__}: {error}"
        assert error.retry_after == 7, "Retry-After was not read (see the plugin guide)"

    def test_a_stream_cut_part_way_is_an_error_not_a_short_answer(self) -> None:
        error = self._faulty(lambda reply: _rechunked(reply, size=None, cut=True))
        assert isinstance(error, APIConnectionError), f"{type(error).__name__}: {error}"

    def test_an_answer_without_usage_reports_unknown_counts_not_zero(self) -> None:
        """Servers that do not count tokens (many OpenAI-compatible ones, a stream not asked
        for usage) leave every count ``None``: a made-up 0 would be billed as free."""
        if self.replies is None:
            import pytest  # noqa: PLC0415

            pytest.skip("no loopback replies (replies = None): no server to strip usage from")
        with self.document(_without_usage) as doc:
            result = self.call(doc)
        assert isinstance(result.text, str) and result.text, "no text without usage"
        assert tuple(result.usage) == (None, None, None), (
            f"usage {tuple(result.usage)} from replies that carry none: report None"
        )

    def test_calls_read_to_their_end_share_one_connection(self) -> None:
        """Bodies whose end comes 50 ms after their last event: a plugin that closes a body
        before its end (at the end marker, say) closes the connection with it, and every
        call opens a new one. Read through toolkit.read_answer / read_events, which drain.
        A client that sends ``Connection: close`` (urllib) keeps no connections: skipped."""
        if self.replies is None:
            import pytest  # noqa: PLC0415

            pytest.skip("no loopback replies (replies = None): no server to count connections")
        registry = self.registry()  # one registry: one plugin instance, one client pool
        with self.document(lambda reply: _rechunked(reply, size=None, every=0.05)) as doc:
            self.call(doc, registry=registry)
            with stream_with_model(
                doc, "You are a test.", "Say hello.", api_key=self.api_key, registry=registry
            ) as stream:
                stream.until_done()
            self.call(doc, registry=registry)
            assert self._server is not None
            requests = list(self._server.requests)
        if any(r.headers.get("connection", "").lower() == "close" for r in requests):
            import pytest  # noqa: PLC0415

            pytest.skip("the plugin's HTTP client asks for a connection per request (urllib)")
        clients = {request.client for request in requests}
        assert len(clients) == 1, (
            f"3 calls opened {len(clients)} connections: read bodies to the end"
        )


def _without_usage(reply: Reply) -> Reply:
    """``reply`` with every key naming usage (``usage``, ``usageMetadata``, ...) removed from
    its JSON body or from each JSON ``data:`` line of its event stream."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "usage" not in k.lower()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    body = b"".join(reply.chunks) if reply.chunks is not None else reply.body
    try:
        return dataclasses.replace(reply, body=json.dumps(strip(json.loads(body))).encode())
    except ValueError:
        pass  # not one JSON document: an event stream

    def event_line(line: bytes) -> bytes:
        if line.startswith(b"data:") and line[5:].strip() not in (b"", b"[DONE]"):
            return b"data: " + json.dumps(strip(json.loads(line[5:]))).encode()
        return line

    lines = [event_line(line) for line in body.split(b"\n")]
    return dataclasses.replace(reply, body=b"\n".join(lines), chunks=None)


def _rechunked(reply: Reply, *, size: int | None, every: float = 0.0, cut: bool = False) -> Reply:
    """``reply``'s body in pieces of ``size`` bytes, ``every`` seconds apart (``size``
    ``None``: two halves); with ``cut``, the connection breaks after the first piece."""
    body = b"".join(reply.chunks) if reply.chunks is not None else reply.body
    size = size or max(1, len(body) // 2)
    pieces = tuple(body[i : i + size] for i in range(0, len(body), size))
    return dataclasses.replace(
        reply, body=b"", chunks=pieces, chunk_delay=every, cut_after=1 if cut else None
    )
