"""The conformance suite: every rule of the SDK contract, as tests a plugin author runs.

Subclass :class:`SDKConformance` in a test module (or opt in through the pytest plugin,
see :mod:`metasync_llm.testing.pytest_plugin`)::

    from metasync_llm.testing import SDKConformance, Reply

    class TestMySdk(SDKConformance):
        sdk_name = "MySdk"
        model = {"name": "m", "sdk": "MySdk", "endpoint": "https://api.example.com",
                 "deployment": "x", "key": "KEY-MYSDK"}
        # For a network SDK: a loopback server answers instead of the real API; its URL
        # replaces the document's "endpoint".
        replies = staticmethod(lambda request: Reply.json({...}))

Every test runs the installed plugin through the public API, as a service would. With
``replies``, the suite also serves faults made from your replies: a stalled server, one
that trickles its body, a 429 with ``Retry-After``, a stream cut part-way, replies
without usage. They pass
only if the plugin feeds the response's raw bytes to ``toolkit.sse_events`` /
``toolkit.read_json`` (the attempt's deadline) and lets the SDK's HTTP errors escape (the
core's mapping): the guarantees the bundled plugins have.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from metasync_llm._plugins._entry_points import EntryPoint, scan
from metasync_llm.connector import (
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.errors import (
    CompletionError,
    ConfigurationError,
    MetasyncLLMError,
)
from metasync_llm.events import CallEnded, CallStarted
from metasync_llm.hookspecs import ENTRY_POINT_GROUP
from metasync_llm.registry import PluginRegistry, plugin_problems
from metasync_llm.result import CompletionResult
from metasync_llm.testing._faults import FaultChecks
from metasync_llm.testing._server import LoopbackServer, RecordedRequest, Reply

#: Client libraries a plugin must not import when its module is imported (discovery).
HEAVY_MODULES = (
    "openai",
    "anthropic",
    "azure",
    "httpx",
    "httpx2",
    "requests",
    "aiohttp",
    "google",
    "boto3",
    "botocore",
    "cohere",
    "mistralai",
    "litellm",
    "opentelemetry",
)
#: Common model-document fields, validated by the core rather than the plugin.
COMMON_FIELDS = frozenset(
    {
        "name",
        "sdk",
        "key",
        "minTemperature",
        "maxTemperature",
        "maxToken",
        "cost",
        "retry",
        "schemaRetries",
        "nativeSchema",
        "rateLimit",
        "_id",
        "_metadata",
    }
)
CANARY_KEY = "sk-conformance-canary-4f9a2c7e1b"


#: A 1x1 PNG image, for the attachment check.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4"
    "890000000d4944415478da6364f8cf500f00038601805a347d6b0000000049454e44ae426082"
)


class SDKConformance(FaultChecks):
    """Base class of a plugin's conformance tests (pytest collects ``Test*`` subclasses)."""

    #: The SDK identifier under test (entry-point name and ``get_name()``).
    sdk_name: ClassVar[str]
    #: A model document the plugin accepts and can complete with.
    model: ClassVar[Mapping[str, Any]]
    #: For network SDKs: a function of the request returning the :class:`Reply` of a
    #: loopback server that stands in for the API (wrap it in ``staticmethod``); its URL
    #: replaces ``model["endpoint"]``. ``None``: the document is used as it is.
    replies: ClassVar[Any] = None
    #: The loopback server's port (0: any free one); pin it where a client or proxy needs a
    #: known port.
    server_port: ClassVar[int] = 0
    #: The key passed to calls (a canary: it must never show up in an error).
    api_key: ClassVar[str] = CANARY_KEY
    #: Top-level modules that importing the plugin must not import.
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES
    _server: LoopbackServer | None = None

    # -- helpers -------------------------------------------------------------------------

    def registry(self) -> PluginRegistry:
        """A registry that loads only the SDK under test."""
        return PluginRegistry(allow={self.sdk_name})

    @contextmanager
    def document(self, fault: Callable[[Reply], Reply] | None = None) -> Iterator[dict[str, Any]]:
        """The model document to call with (pointed at the loopback server, if any, whose
        replies pass through ``fault``)."""
        doc = dict(self.model)
        if self.replies is None:
            yield doc
            return
        replies: Callable[[RecordedRequest], Reply] = type(self).replies
        responder = replies if fault is None else (lambda request: fault(replies(request)))
        with LoopbackServer(default=responder, port=self.server_port) as server:
            doc["endpoint"] = server.url
            self._server = server
            try:
                yield doc
            finally:
                self._server = None

    def call(self, doc: Mapping[str, Any], **kwargs: Any) -> CompletionResult:
        kwargs.setdefault("registry", self.registry())
        return complete_with_model(
            doc, "You are a test.", "Say hello.", api_key=self.api_key, **kwargs
        )

    def _entry_point(self) -> EntryPoint:
        # The same scan discovery uses, so the suite checks what the registry will see.
        found = [ep for ep in scan(sys.path, ENTRY_POINT_GROUP) if ep.name == self.sdk_name]
        assert found, (
            f"no entry point named {self.sdk_name!r} in group {ENTRY_POINT_GROUP!r}: is the"
            " plugin installed (pip install -e .) and is its entry-point name the SDK name?"
        )
        return found[0]

    def _check_result(self, result: CompletionResult) -> None:
        assert isinstance(result.text, str) and result.text, "complete() returned no text"
        for name, count in zip(("prompt", "completion", "total"), result.usage, strict=True):
            assert count is None or (
                isinstance(count, int) and not isinstance(count, bool) and count >= 0
            ), f"{name}_tokens is {count!r}"
        p, c, t = result.usage
        if p is not None and c is not None and t is not None:
            assert t >= p + c, f"total_tokens {t} < prompt {p} + completion {c}"

    # -- the contract ----------------------------------------------------------------------

    def test_entry_point_name_equals_get_name(self) -> None:
        self._entry_point()
        registry = self.registry()
        failures = [str(f) for f in registry.load_failures() if f.plugin.name == self.sdk_name]
        assert not failures, f"the plugin did not load: {failures}"
        assert registry.get_sdk(self.sdk_name).get_name() == self.sdk_name

    def test_hook_signatures_match_the_specs(self) -> None:
        assert plugin_problems(self.registry().get_sdk(self.sdk_name)) == []

    def test_validate_config_accepts_the_model(self) -> None:
        with self.document() as doc:
            self.registry().get_sdk(self.sdk_name).validate_config(doc)

    def test_validate_config_names_each_missing_required_field(self) -> None:
        sdk = self.registry().get_sdk(self.sdk_name)
        required = []
        for field in sorted(set(self.model) - COMMON_FIELDS):
            doc = {k: v for k, v in self.model.items() if k != field}
            try:
                sdk.validate_config(doc)
            except ValueError as exc:
                required.append(field)
                assert field in str(exc), f"missing {field!r}: the error does not name it: {exc}"
        assert required, "validate_config accepts a document without any of its fields"

    def test_complete_returns_text_and_integer_counts(self) -> None:
        with self.document() as doc:
            result = self.call(doc)
        self._check_result(result)
        assert (result.sdk, result.model) == (self.sdk_name, self.model["name"])

    def test_stream_and_async_forms_agree(self) -> None:
        registry = self.registry()
        with self.document() as doc:
            with stream_with_model(
                doc, "You are a test.", "Say hello.", api_key=self.api_key, registry=registry
            ) as stream:
                chunks = list(stream)
            assert all(isinstance(c, str) for c in chunks)
            assert "".join(chunks) == stream.result.text
            self._check_result(stream.result)

            async def run() -> tuple[CompletionResult, CompletionResult]:
                done = await acomplete_with_model(
                    doc, "You are a test.", "Say hello.", api_key=self.api_key, registry=registry
                )
                async with astream_with_model(
                    doc, "You are a test.", "Say hello.", api_key=self.api_key, registry=registry
                ) as astream:
                    return done, await astream.until_done()

            done, streamed = asyncio.run(run())
        self._check_result(done)
        self._check_result(streamed)

    def test_observers_see_each_call_start_and_end_with_its_usage(self) -> None:
        """The events observers (OpenTelemetry, the usage ledger) get for a blocking call
        and a stream: one start, one end with the outcome and the result's counts."""
        registry = self.registry()
        seen = _Events()
        registry.register_observer(seen, name="conformance")
        with self.document() as doc:
            result = self.call(doc, registry=registry)
            with stream_with_model(
                doc, "You are a test.", "Say hello.", api_key=self.api_key, registry=registry
            ) as stream:
                streamed = stream.until_done()
        assert [(e.sdk, e.stream) for e in seen.started] == [
            (self.sdk_name, False),
            (self.sdk_name, True),
        ], "each call sends one CallStarted"
        assert [e.outcome for e in seen.ended] == ["ok", "ok"], "each call sends one CallEnded"
        for ended, done in zip(seen.ended, (result, streamed), strict=True):
            assert (ended.prompt_tokens, ended.completion_tokens, ended.total_tokens) == tuple(
                done.usage
            ), "CallEnded carries the result's counts"
        assert seen.ended[1].time_to_first_chunk is not None, "a stream reports its first chunk"

    def test_errors_come_out_in_the_core_hierarchy_without_the_key(self) -> None:
        if "endpoint" not in self.model:
            import pytest  # noqa: PLC0415 - the suite runs under pytest; importing it does not

            pytest.skip("the document has no endpoint to point at an unreachable server")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed once the block ends: nothing listens
        doc = {
            **self.model,
            "endpoint": f"http://127.0.0.1:{port}",
            "retry": {"attempts": 1},
            "timeout": 5,
        }
        try:
            self.call(doc)
        except ConfigurationError as exc:
            raise AssertionError(
                f"an unreachable server is not a configuration error: {exc}"
            ) from exc
        except CompletionError as exc:
            chain: list[BaseException] = []
            current: BaseException | None = exc
            while current is not None and current not in chain:
                chain.append(current)
                assert self.api_key not in str(current) + repr(current), "the API key leaked"
                current = current.__cause__ or current.__context__
            assert isinstance(exc, MetasyncLLMError) and exc.sdk == self.sdk_name
        else:
            raise AssertionError("a call to an unreachable endpoint succeeded")

    def _feature(self, name: str) -> None:
        features = self.registry().get_sdk(self.sdk_name).features
        if name not in features:
            import pytest  # noqa: PLC0415 - the suite runs under pytest; importing it does not

            pytest.skip(f"{self.sdk_name} does not declare the {name!r} feature")

    def test_a_conversation_goes_as_turns_in_order(self) -> None:
        self._feature("messages")
        turns = [
            {"role": "user", "content": "first question 1111"},
            {"role": "assistant", "content": "first answer 2222"},
            {"role": "user", "content": "second question 3333"},
        ]
        with self.document() as doc:
            result = complete_with_model(
                doc,
                "You are a test.",
                messages=turns,
                api_key=self.api_key,
                registry=self.registry(),
            )
            sent = self._sent()
        self._check_result(result)
        if sent is not None:
            places = [sent.find(turn["content"]) for turn in turns]
            assert all(p >= 0 for p in places) and places == sorted(places), (
                "the request does not carry the turns in order"
            )

    def test_a_schema_is_enforced_and_the_answer_validated(self) -> None:
        self._feature("schema")
        schema = {
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"],
            "additionalProperties": False,
        }
        with self.document() as doc:
            result = self.call(doc, schema=schema)
        assert isinstance(result.data, dict) and isinstance(result.data.get("answer"), str)
        assert json.loads(result.text) == result.data

    def test_stop_sequences_are_accepted(self) -> None:
        self._feature("stop")
        with self.document() as doc:
            self._check_result(self.call(doc, stop=["\n\nUser:"]))

    def test_an_image_attachment_goes_with_the_turn(self) -> None:
        self._feature("attachments")
        import base64  # noqa: PLC0415

        from metasync_llm.attachments import Attachment  # noqa: PLC0415

        png = Attachment.from_bytes(_PNG)
        with self.document() as doc:
            rules = self.registry().get_sdk(self.sdk_name).attachment_rules(doc)
            assert rules.problem(png) is None, f"a 1x1 PNG is refused: {rules.problem(png)}"
            result = self.call(doc, attachments=[png])
            sent = self._sent()
        self._check_result(result)
        if sent is not None:  # standard or URL-safe base64: the API's JSON takes both
            forms = (base64.b64encode(_PNG).decode(), base64.urlsafe_b64encode(_PNG).decode())
            assert any(form in sent for form in forms), "the request does not carry the image"

    def test_reasoning_is_accepted_or_refused_before_any_request(self) -> None:
        self._feature("reasoning")
        sdk = self.registry().get_sdk(self.sdk_name)
        with self.document() as doc:
            level = next(
                (v for v in ("low", "high", "none") if sdk.reasoning_problem(doc, v, 4096) is None),
                None,
            )
            if level is not None:
                self._check_result(self.call(doc, reasoning=level, max_tokens=4096))
            refused = next(
                (v for v in ("low", "high", 2048) if sdk.reasoning_problem(doc, v, 4096)), None
            )
            if refused is not None:
                sent = len(self._server.requests) if self._server else 0
                try:
                    self.call(doc, reasoning=refused, max_tokens=4096)
                except ConfigurationError as exc:
                    assert exc.fields == ("reasoning",), exc.fields
                else:
                    raise AssertionError(f"reasoning={refused!r} was sent, not refused")
                assert not self._server or len(self._server.requests) == sent

    def _sent(self) -> str | None:
        server = self._server
        return server.requests[-1].body.decode("utf-8", "replace") if server else None

    def test_importing_the_plugin_imports_no_heavy_library(self) -> None:
        module = self._entry_point().value.split(":")[0]
        code = (
            f"import sys, json, importlib; importlib.import_module({module!r}); "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{list(self.heavy_modules)!r})))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert json.loads(done.stdout) == [], (
            f"importing {module} imported client libraries: import them on first use"
        )


class _Events:
    """An observer that keeps the start and end events it is sent."""

    def __init__(self) -> None:
        self.started: list[CallStarted] = []
        self.ended: list[CallEnded] = []

    def metasync_llm_call_started(self, event: CallStarted) -> None:
        self.started.append(event)

    def metasync_llm_call_ended(self, event: CallEnded) -> None:
        self.ended.append(event)
