"""Every metasync-llm call as an OpenTelemetry span, with the GenAI client metrics.

Follows the OpenTelemetry semantic conventions for generative-AI client operations: a
``CLIENT`` span named ``chat {gen_ai.request.model}`` with the ``gen_ai.*`` attributes,
and the histograms ``gen_ai.client.operation.duration`` (s) and
``gen_ai.client.token.usage`` ({token}). The prompt and the answer are recorded
(``gen_ai.system_instructions``, ``gen_ai.input.messages``, ``gen_ai.output.messages``)
only when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true``.

The span starts when the call starts, under the caller's current span, and ends with it:
a stream's when the stream ends, is closed, or its task is cancelled. A call through a
``Router`` is one ``chat {route}`` span (``INTERNAL``) with a child span per try. ``opentelemetry``
is imported on the first call, never when plugins are discovered.
"""

from __future__ import annotations

import _thread  # threading's lock: this module loads at every start, threading need not
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metasync_llm.events import (
        CallContent,
        CallEnded,
        CallRetry,
        CallStarted,
        FirstChunk,
        RouteEnded,
        RouteStarted,
    )

VERSION = "0.1.0"
#: The conventions' opt-in for message content.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
#: ``gen_ai.provider.name`` of each SDK (the conventions' well-known values).
PROVIDERS = {
    "OpenAI": "openai",
    "AzureOpenAI": "azure.ai.openai",
    "Anthropic": "anthropic",
    "ChatCompletionsClient": "azure.ai.inference",
    "Gemini": "gcp.gemini",
}
# The conventions' advisory bucket boundaries.
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48]
DURATION_BUCKETS += [40.96, 81.92]
TOKEN_BUCKETS = [float(4**n) for n in range(14)]  # 1, 4, 16, ... 67108864


class OpenTelemetryObserver:
    """The observer the ``opentelemetry`` entry point registers (or ``register_observer``)."""

    def __init__(self) -> None:
        self._spans: dict[int, Any] = {}
        self._routes: dict[int, Any] = {}  # the open span of each routed call
        self._lock = _thread.allocate_lock()
        self._api: _Api | None = None
        if os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in ("true", "1"):
            # Implementing the content hook is the opt-in: only then is it defined.
            self.metasync_llm_call_content = self._content

    def _otel(self) -> _Api:
        api = self._api
        if api is None:
            with self._lock:
                api = self._api = self._api or _Api()
        return api

    def metasync_llm_call_started(self, event: CallStarted) -> None:
        api = self._otel()
        model = event.deployment or event.model
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _provider(event.sdk),
            "gen_ai.request.model": model,
            "gen_ai.request.temperature": event.temperature,
            "gen_ai.request.max_tokens": event.max_tokens,
            "metasync_llm.model": event.model,
            "metasync_llm.sdk": event.sdk,
        }
        if event.schema:
            attributes["gen_ai.output.type"] = "json"
        attributes.update(_server(event.endpoint))
        parent = self._routes.get(event.route_id) if event.route_id is not None else None
        context = None
        if parent is not None:  # a try of a routed call: a child of the route's span
            attributes["metasync_llm.route"] = event.route
            context = api.in_span(parent)
        span = api.tracer.start_span(
            f"chat {model}", context=context, kind=api.client, attributes=attributes
        )
        self._spans[event.call_id] = span

    def metasync_llm_route_started(self, event: RouteStarted) -> None:
        api = self._otel()
        attributes = {
            "gen_ai.operation.name": "chat",
            "metasync_llm.route": event.name,
            "metasync_llm.route.strategy": event.strategy,
            "metasync_llm.route.models": list(event.models),
        }
        span = api.tracer.start_span(f"chat {event.name}", kind=api.internal, attributes=attributes)
        self._routes[event.route_id] = span

    def metasync_llm_route_ended(self, event: RouteEnded) -> None:
        span = self._routes.pop(event.start.route_id, None)
        if span is None:
            return
        span.set_attribute("metasync_llm.route.tries", len(event.attempts))
        if event.model is not None:
            span.set_attribute("metasync_llm.route.answered_by", event.model)
        if event.error_type is not None:
            api = self._otel()
            span.set_attribute("error.type", event.error_type)
            span.set_status(api.status(api.error, event.error_type))
        span.end()

    def metasync_llm_call_first_chunk(self, event: FirstChunk) -> None:
        span = self._spans.get(event.call_id)
        if span is not None:
            span.add_event("gen_ai.first_chunk", {"metasync_llm.seconds": event.seconds})

    def metasync_llm_call_retry(self, event: CallRetry) -> None:
        span = self._spans.get(event.call_id)
        if span is not None:
            attributes: dict[str, Any] = {
                "metasync_llm.attempt": event.attempt,
                "error.type": event.error_type,
                "metasync_llm.retry_in": event.delay,
            }
            if event.status is not None:
                attributes["http.response.status_code"] = event.status
            span.add_event("metasync_llm.retry", attributes)

    def _content(self, event: CallContent) -> None:
        import json  # noqa: PLC0415 - only with content capture

        span = self._spans.get(event.call_id)
        if span is None:
            return
        if event.system_prompt:
            span.set_attribute(
                "gen_ai.system_instructions",
                json.dumps([{"type": "text", "content": event.system_prompt}]),
            )
        messages = [
            {"role": role, "parts": [{"type": "text", "content": text}]}
            for role, text in event.messages
        ]
        span.set_attribute("gen_ai.input.messages", json.dumps(messages))
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": event.answer}]}]
        span.set_attribute("gen_ai.output.messages", json.dumps(answer))

    def metasync_llm_call_ended(self, event: CallEnded) -> None:
        api = self._otel()
        span = self._spans.pop(event.call_id, None)
        start = event.start
        common: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _provider(start.sdk),
            "gen_ai.request.model": start.deployment or start.model,
            **_server(start.endpoint),
        }
        error = event.error_type if event.outcome in ("error", "cancelled") else None
        if error is not None:
            common["error.type"] = error
        api.duration.record(event.elapsed, common)
        for kind, count in (("input", event.prompt_tokens), ("output", event.completion_tokens)):
            if count is not None:
                api.tokens.record(count, {**common, "gen_ai.token.type": kind})
        if span is None:
            return
        if event.request_id:
            span.set_attribute("gen_ai.response.id", event.request_id)
        if event.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [event.finish_reason])
        if event.prompt_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", event.prompt_tokens)
        if event.completion_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", event.completion_tokens)
        span.set_attribute("metasync_llm.attempts", event.attempts)
        span.set_attribute("metasync_llm.outcome", event.outcome)
        if event.cost is not None:
            span.set_attribute("metasync_llm.cost", event.cost)
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(api.status(api.error, event.outcome))
        span.end()


class _Api:
    """The OpenTelemetry objects, made on the first call."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace  # noqa: PLC0415 - on the first call only

        self.tracer = trace.get_tracer("metasync_llm_opentelemetry", VERSION)
        self.client = trace.SpanKind.CLIENT
        self.internal = trace.SpanKind.INTERNAL
        self.in_span = trace.set_span_in_context
        self.status = trace.Status
        self.error = trace.StatusCode.ERROR
        meter = metrics.get_meter("metasync_llm_opentelemetry", VERSION)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )


def _provider(sdk: str) -> str:
    return PROVIDERS.get(sdk, sdk.lower())


def _server(endpoint: str | None) -> dict[str, Any]:
    """``server.address`` and ``server.port`` of an endpoint."""
    if not endpoint:
        return {}
    from urllib.parse import urlsplit  # noqa: PLC0415 - not at discovery

    parts = urlsplit(endpoint)
    if not parts.hostname:
        return {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}
