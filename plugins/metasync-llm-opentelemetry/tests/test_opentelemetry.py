"""Spans and metrics of calls through every provider plugin, over loopback servers.

The OpenTelemetry SDK (a test dependency) is the process's tracer and meter provider, with
in-memory exporters; the observer is the one the installed distribution registers.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from metasync_llm_opentelemetry.observer import CAPTURE_CONTENT_ENV, OpenTelemetryObserver
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.observers import register_observer, unregister_observer
from metasync_llm.testing import LoopbackServer, RecordedRequest, Reply, wires

SPANS = InMemorySpanExporter()
READER = InMemoryMetricReader()

KEY = "sk-otel-test-key-1234"
#: SDK -> (plugin module, stand-in API, extra document fields, gen_ai.provider.name)
SDKS: dict[str, tuple[str, Callable[[RecordedRequest], Reply], dict[str, Any], str]] = {
    "OpenAI": ("metasync_llm_openai", wires.openai_chat, {}, "openai"),
    "AzureOpenAI": (
        "metasync_llm_azure_openai",
        wires.openai_chat,
        {"apiVersion": "2024-10-21"},
        "azure.ai.openai",
    ),
    "Anthropic": ("metasync_llm_anthropic", wires.anthropic_messages, {}, "anthropic"),
    "ChatCompletionsClient": (
        "metasync_llm_azure_inference",
        wires.azure_inference_chat,
        {"apiVersion": "2025-04-01"},
        "azure.ai.inference",
    ),
    "Gemini": ("metasync_llm_gemini", wires.gemini_generate, {}, "gcp.gemini"),
}


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    """The process's providers, set when this module's tests start (once per process: the
    API refuses a second one), not when pytest collects it: other modules' calls stay out."""
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(tracing)
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


@pytest.fixture(autouse=True)
def _clear() -> Iterator[None]:
    SPANS.clear()
    yield
    SPANS.clear()


def registry(sdk: str) -> PluginRegistry:
    module = SDKS[sdk][0]
    if importlib.util.find_spec(module) is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail(f"{module} is not installed")
        pytest.skip(f"{module} is not installed")
    found = PluginRegistry(allow={sdk})
    assert "opentelemetry" in found.discovery().observers  # installed: found by discovery
    return found


def doc(sdk: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"{sdk}-otel",
        "sdk": sdk,
        "endpoint": url,
        "deployment": "claude-opus-5" if sdk == "Anthropic" else "gpt-4o",
        "key": "KEY-OTEL",
        "retry": {"attempts": 1},
        **SDKS[sdk][2],
        **extra,
    }


def only_span() -> ReadableSpan:
    spans = SPANS.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]  # one call, one span (no SDK's own)
    return spans[0]


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_a_call_is_one_span_with_the_gen_ai_attributes(sdk: str) -> None:
    reg = registry(sdk)
    with LoopbackServer(default=SDKS[sdk][1]) as server:
        model = doc(sdk, server.url)
        result = complete_with_model(model, "Be brief.", "Hi", 0.3, 77, api_key=KEY, registry=reg)
    span = only_span()
    deployment = model["deployment"]
    assert span.name == f"chat {deployment}" and span.kind == trace.SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == SDKS[sdk][3]
    assert attributes["gen_ai.request.model"] == deployment
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.request.max_tokens"] == 77
    assert attributes["gen_ai.usage.input_tokens"] == result.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == result.completion_tokens
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    if result.request_id is not None:
        assert attributes["gen_ai.response.id"] == result.request_id
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == server.port
    assert "error.type" not in attributes and span.status.status_code == StatusCode.UNSET
    assert "gen_ai.input.messages" not in attributes  # content only when opted in
    assert KEY not in json.dumps(dict(attributes))


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_streams_and_async_calls_nest_under_the_callers_span(sdk: str) -> None:
    reg = registry(sdk)
    tracer = trace.get_tracer("test")
    with LoopbackServer(default=SDKS[sdk][1]) as server:
        model = doc(sdk, server.url)
        with tracer.start_as_current_span("handler") as parent:
            with stream_with_model(model, "", "Hi", api_key=KEY, registry=reg) as stream:
                assert next(stream)
                assert not SPANS.get_finished_spans()  # the span lasts as long as the stream
                list(stream)
            streamed = [s for s in SPANS.get_finished_spans() if s.name.startswith("chat")]
            assert len(streamed) == 1  # ended with the stream

            async def run() -> None:
                await acomplete_with_model(model, "", "Hi", api_key=KEY, registry=reg)

            asyncio.run(run())
    spans = [s for s in SPANS.get_finished_spans() if s.name.startswith("chat")]
    assert len(spans) == 2
    for span in spans:
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
    events = [e.name for e in spans[0].events]
    assert "gen_ai.first_chunk" in events


def test_a_failed_call_has_an_error_status_and_type() -> None:
    reg = registry("OpenAI")
    with LoopbackServer() as server:
        server.add(Reply.json(wires.chat_error("boom"), status=500))
        with pytest.raises(msl.ServerError):
            complete_with_model(doc("OpenAI", server.url), "", "Hi", api_key=KEY, registry=reg)
    span = only_span()
    assert span.status.status_code == StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "ServerError"


def test_retries_are_span_events() -> None:
    reg = registry("OpenAI")
    with LoopbackServer() as server:
        server.add(
            Reply.json(wires.chat_error("busy"), status=503), Reply.json(wires.chat_completion())
        )
        model = doc("OpenAI", server.url, retry={"attempts": 2, "initialDelay": 0.01})
        complete_with_model(model, "", "Hi", api_key=KEY, registry=reg)
    span = only_span()
    [retry] = [e for e in span.events if e.name == "metasync_llm.retry"]
    assert dict(retry.attributes or {})["error.type"] == "ServerError"
    assert dict(span.attributes or {})["metasync_llm.attempts"] == 2


def _slow_stream(request: RecordedRequest) -> Reply:
    reply = Reply.sse(wires.chat_chunks([f"w{i} " for i in range(40)]))
    return Reply(reply.status, reply.body, reply.headers, reply.chunks, chunk_delay=0.05)


def test_a_closed_stream_ends_its_span_and_a_cancelled_one_is_an_error() -> None:
    reg = registry("OpenAI")
    with LoopbackServer(default=_slow_stream) as server:
        model = doc("OpenAI", server.url)
        stream = stream_with_model(model, "", "Hi", api_key=KEY, registry=reg)
        next(stream)
        stream.close()
        closed = only_span()
        assert dict(closed.attributes or {})["metasync_llm.outcome"] == "closed"
        assert closed.status.status_code == StatusCode.UNSET
        SPANS.clear()

        async def run() -> None:
            stream = await astream_with_model(model, "", "Hi", api_key=KEY, registry=reg)
            first = asyncio.Event()

            async def consume() -> None:
                async for _ in stream:
                    first.set()

            task = asyncio.create_task(consume())
            await first.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(run())
    cancelled = only_span()
    assert cancelled.status.status_code == StatusCode.ERROR
    assert dict(cancelled.attributes or {})["error.type"] == "CancelledError"


def test_the_gen_ai_client_metrics() -> None:
    reg = registry("OpenAI")
    with LoopbackServer(default=wires.openai_chat) as server:
        model = doc("OpenAI", server.url, deployment="metrics-model")
        complete_with_model(model, "", "Hi", api_key=KEY, registry=reg)
    data = READER.get_metrics_data()
    assert data is not None
    found = {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        if scope.scope.name == "metasync_llm_opentelemetry"
        for metric in scope.metrics
    }

    def ours(metric: Any) -> list[Any]:  # other tests' calls are recorded too
        return [
            p
            for p in metric.data.data_points
            if p.attributes.get("gen_ai.request.model") == "metrics-model"
        ]

    duration = found["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    [point] = ours(duration)
    assert point.count == 1 and point.attributes["gen_ai.provider.name"] == "openai"
    assert point.attributes["server.address"] == "127.0.0.1"
    tokens = found["gen_ai.client.token.usage"]
    assert tokens.unit == "{token}"
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in ours(tokens)} == {
        "input": wires.USAGE["prompt_tokens"],
        "output": wires.USAGE["completion_tokens"],
    }


def test_content_only_when_the_conventions_opt_in_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    reg = PluginRegistry(allow={"test"})
    unregister_observer("opentelemetry", registry=reg)
    register_observer(OpenTelemetryObserver(), registry=reg)
    model = {"name": "t", "sdk": "test", "deployment": "echo"}
    complete_with_model(model, "Be kind.", "hello", registry=reg)
    attributes = dict(only_span().attributes or {})
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello"}]}
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"]))[0]["parts"][0]["content"] == (
        "hello"
    )
    assert json.loads(str(attributes["gen_ai.system_instructions"]))[0]["content"] == "Be kind."
    assert attributes["gen_ai.provider.name"] == "test"


def test_a_routed_call_is_one_span_with_a_child_per_try() -> None:
    reg = registry("OpenAI")
    with LoopbackServer() as down, LoopbackServer(default=wires.openai_chat) as up:
        down.add(Reply.json(wires.chat_error("boom"), status=503))
        router = msl.Router(
            [doc("OpenAI", down.url, name="east"), doc("OpenAI", up.url, name="west")],
            registry=reg,
            name="chat-route",
        )
        result = router.complete("", "Hi", api_key=KEY)
    assert result.model == "west"
    spans = {span.name: span for span in SPANS.get_finished_spans()}
    route = spans["chat chat-route"]
    tries = [s for s in SPANS.get_finished_spans() if s.name == "chat gpt-4o"]
    assert len(tries) == 2
    assert all(s.parent is not None and s.parent.span_id == route.context.span_id for s in tries)
    assert [dict(s.attributes or {})["metasync_llm.model"] for s in tries] == ["east", "west"]
    assert tries[0].status.status_code == StatusCode.ERROR
    attributes = dict(route.attributes or {})
    assert attributes["metasync_llm.route.answered_by"] == "west"
    assert attributes["metasync_llm.route.tries"] == 2
    assert route.status.status_code != StatusCode.ERROR


def test_a_route_that_fails_everywhere_is_an_error_span() -> None:
    reg = registry("OpenAI")
    with LoopbackServer() as down:
        down.default = Reply.json(wires.chat_error("boom"), status=503)
        router = msl.Router([doc("OpenAI", down.url)], registry=reg, name="lonely")
        with pytest.raises(msl.AllModelsFailedError):
            router.complete("", "Hi", api_key=KEY)
    route = next(s for s in SPANS.get_finished_spans() if s.name == "chat lonely")
    assert route.status.status_code == StatusCode.ERROR
    assert dict(route.attributes or {})["error.type"] == "AllModelsFailedError"
