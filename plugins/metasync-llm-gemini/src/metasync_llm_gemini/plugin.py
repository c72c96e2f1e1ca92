"""The ``Gemini`` SDK plugin: Google's Gemini API through the ``google-genai`` library."""

from __future__ import annotations

import math
import warnings
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import aclosing, closing, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from metasync_llm import BaseLLMSDK, toolkit

if TYPE_CHECKING:
    from metasync_llm.request import Message, Request
    from metasync_llm.result import StreamItem

SDK = "Gemini"
DEFAULT_ENDPOINT = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"

#: Gemini's finish reasons in the vocabulary of the other SDKs (others: lower case).
FINISH_REASONS: dict[str, str | None] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    # A long answer paused for a continuation request: the plugin makes no more requests.
    "CONTINUATION": "length",
    "FINISH_REASON_UNSPECIFIED": None,
}
#: Finish reasons that stop an answer for its content: a ContentFilterError naming them.
FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_VERSION = r"v\d+(?:alpha|beta)?\d*"
_VERTEX_FIELDS = ("vertexai", "project", "location")


class GeminiSDK(BaseLLMSDK):
    """SDK ``Gemini``: ``google.genai.Client`` on the Gemini API (an API key; no Vertex AI).

    The client sends the request (the key in ``x-goog-api-key``, errors by HTTP status as
    ``ClientError``/``ServerError``); tenacity retries, automatic function calling and
    automatic continuation are off, so one call is one request. A blocking call reads the
    raw JSON body strictly (``should_return_http_response``); a stream
    (``streamGenerateContent`` with server-sent events) reads the chunks google-genai
    parses. The httpx2 transport applies the document's timeouts and the core's deadline
    at every chunk. The core pools the clients (async ones, ``Client.aio``, per event loop).
    """

    sdk_name = SDK
    features: ClassVar[frozenset[str]] = frozenset(
        {"messages", "schema", "stop", "tools", "attachments", "reasoning"}
    )
    reasoning_budget = True
    max_stop: ClassVar[int | None] = 5
    # An error sent inside a stream that began with 200 carries Google's canonical status.
    error_codes: ClassVar[Mapping[str, str]] = {
        "INTERNAL": "ServerError",
        "UNAVAILABLE": "ServerError",
        "RESOURCE_EXHAUSTED": "RateLimitError",
    }

    def attachment_rules(self, config: Mapping[str, Any]) -> toolkit.AttachmentRules:
        # Inline data: at most 20 MB a request (the Gemini API's limit); URLs go as fileData.
        return toolkit.AttachmentRules(max_bytes=20 * 2**20, max_request_bytes=20 * 2**20)

    def validate_config(self, config: Mapping[str, Any]) -> None:
        toolkit.check_config(config, sdk=SDK, required=("deployment",), problems=_problems(config))

    def create_client(
        self, config: Mapping[str, Any], api_key: str | None, *, asynchronous: bool
    ) -> Any:
        from google import genai  # noqa: PLC0415 - the client library loads on first use only

        # google-genai warns when a chunk holds an enum value its version does not know
        # ("BLOCK_REASON_UNSPECIFIED is not a valid BlockedReason"): the plugin reads those
        # fields from the wire values itself, so the warning would only litter stderr.
        warnings.filterwarnings(
            "ignore", r".* is not a valid \w+$", UserWarning, r"google\.genai\._common"
        )

        import httpx2  # noqa: PLC0415 - google-genai's HTTP library

        # google-genai reads bodies itself: its httpx2 transports check the deadline (toolkit).
        sync_args, async_args = toolkit.httpx_client_args(httpx2, config)
        millis = max(1, round(toolkit.timeout_of(config) * 1000))
        options: dict[str, Any] = {"timeout": millis}  # also sent as X-Server-Timeout
        # google-genai's own async stack when aiohttp is installed: at 64 concurrent calls
        # 9.78 M instructions a call against 11.24 M on httpx2, whose connection pool scans
        # every connection per request (`python bench/instructions.py gemini-async64`).
        # The session is ours, for the connect timeout; aiohttp would bound a whole stream
        # by `timeout`, so the awaits run within the core's deadline instead (astream).
        context = async_args["verify"]
        session = (
            toolkit.aiohttp_session(config, context, trust_env=True, read_bufsize=2**22)
            if asynchronous
            else None
        )
        if session is not None:
            async_args = {"ssl": context}
            options = {"headers": {"X-Server-Timeout": str(math.ceil(millis / 1000))}}
        client = genai.Client(
            api_key=api_key,
            vertexai=False,
            http_options=genai.types.HttpOptions(
                base_url=toolkit.endpoint_of(config) if "endpoint" in config else DEFAULT_ENDPOINT,
                api_version=config.get("apiVersion", DEFAULT_API_VERSION),
                retry_options=genai.types.HttpRetryOptions(attempts=1),
                client_args=sync_args,
                async_client_args=async_args,
                aiohttp_client=session,
                **options,
            ),
        )
        if not asynchronous:
            return client
        return client.aio if session is None else _AsyncClient(client.aio, session)

    def stream(self, request: Request) -> Iterator[StreamItem]:
        models, reader = self.client_for(request).models, _Reader(request)
        if not request.stream:  # one plain request: the whole answer, read from its body
            response = models.generate_content(**_arguments(request))
            yield from reader.whole(toolkit.loads(response.sdk_http_response.body or ""))
            return
        with (
            _parsed(request),
            closing(models.generate_content_stream(**_arguments(request))) as chunks,
        ):
            yield from toolkit.read_events(map(_Chunk, chunks), reader)

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        models, reader = (await self.async_client_for(request)).models, _Reader(request)
        if not request.stream:
            response = await toolkit.await_within_deadline(
                models.generate_content(**_arguments(request))
            )
            for item in reader.whole(toolkit.loads(response.sdk_http_response.body or "")):
                yield item
            return
        with _parsed(request):
            chunks = await toolkit.await_within_deadline(
                models.generate_content_stream(**_arguments(request))
            )
            async with aclosing(chunks):
                chunked = (_Chunk(c) async for c in toolkit.within_deadline(chunks))
                async for item in toolkit.aread_events(chunked, reader):
                    yield item


class _AsyncClient:
    """google-genai's async client with the aiohttp session it was given (which it leaves
    open on ``aclose``): the core's pool closes both."""

    def __init__(self, client: Any, session: Any) -> None:
        self.models, self._client, self._session = client.models, client, session

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        finally:
            await self._session.close()


def _problems(config: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    import re  # noqa: PLC0415 - validation runs at the first call, not at discovery

    version = config.get("apiVersion")
    if version is not None and not (isinstance(version, str) and re.fullmatch(_VERSION, version)):
        yield "apiVersion", f"'apiVersion' must be a version such as 'v1beta', got {version!r}"
    endpoint = config.get("endpoint")
    if isinstance(endpoint, str) and re.search(rf"/{_VERSION}/?$", endpoint):
        yield (
            "endpoint",
            f"'endpoint' ends with an API version ({endpoint!r}): give the base URL (e.g."
            f" {DEFAULT_ENDPOINT}) and the version in 'apiVersion'",
        )
    for field in _VERTEX_FIELDS:
        if field in config:
            yield (
                field,
                f"'{field}' is for Vertex AI, which the Gemini plugin does not support: use"
                " the Gemini API with an API key",
            )


def _arguments(request: Request) -> dict[str, Any]:
    """``generate_content``'s arguments: the model, the turns and the generation config."""
    system = request.system_prompt
    turns = list(request.turns())
    if not turns:  # the API wants a user turn: the system prompt goes as one (the seed's way)
        system, turns = "", [toolkit.Message("user", system)]
    config: dict[str, Any] = {
        "max_output_tokens": request.max_tokens,
        "automatic_function_calling": {"disable": True},
        "automatic_continuation": False,
    }
    if not request.stream:
        config["should_return_http_response"] = True  # the raw body, read strictly here
    if not request.config.get("omitTemperature"):
        config["temperature"] = request.temperature
    if system:
        config["system_instruction"] = system
    if request.stop:
        config["stop_sequences"] = list(request.stop)
    if request.schema is not None:
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = dict(request.schema)
    reasoning = request.reasoning
    if reasoning is not None:  # a budget (0: none), or a level (Gemini 3's thinkingLevel)
        thinking: dict[str, Any] = {"include_thoughts": reasoning != "none"}
        if isinstance(reasoning, int) or reasoning == "none":
            thinking["thinking_budget"] = 0 if reasoning == "none" else reasoning
        else:
            thinking["thinking_level"] = reasoning.upper()
        config["thinking_config"] = thinking
    if request.tools:
        declarations = [
            {"name": t.name, "description": t.description, "parameters_json_schema": t.parameters}
            for t in request.tools
        ]
        config["tools"] = [{"function_declarations": declarations}]
    if request.tool_choice is not None:
        choice = request.tool_choice
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice)
        calling: dict[str, Any] = {"mode": mode or "ANY"}
        if mode is None:  # one tool, forced
            calling["allowed_function_names"] = [choice]
        config["tool_config"] = {"function_calling_config": calling}
    extra = toolkit.extra_body(request.config)
    if extra:
        config["http_options"] = {"extra_body": extra}
    return {"model": request.config["deployment"], "contents": _contents(turns), "config": config}


def _contents(turns: list[Message]) -> str | list[dict[str, Any]]:
    """The turns with Gemini's roles and parts (tool calls as ``function_call`` parts of the
    model's turn, results as ``function_response`` parts of a user turn); turns of one role
    in a row make one turn of parts."""
    if len(turns) == 1 and turns[0].role == "user" and not turns[0].parts:
        # The same one user turn: google-genai checks a string in ~18 us, a list of dicts
        # in ~51 us (measured here); one-turn prompts are the common case.
        return turns[0].content
    contents: list[dict[str, Any]] = []
    for turn in turns:
        role = "model" if turn.role == "assistant" else "user"
        parts = [_part(p) for p in turn.items()]
        if turn.role == "tool":
            response = toolkit.tool_result_object(turn.content)
            call = {"id": turn.tool_call_id, "name": turn.name, "response": response}
            parts = [{"function_response": call}]
        parts += [
            {"function_call": {"id": c.id, "name": c.name, "args": c.arguments}}
            for c in turn.tool_calls
        ]
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _part(part: str | toolkit.Attachment) -> dict[str, Any]:
    """Text, inline data, or a URL as ``file_data``. google-genai encodes the bytes itself,
    URL-safe (the API's proto3 JSON takes both alphabets; the 2024 OpenAPI spec's pattern
    only the standard one), once per request."""
    if isinstance(part, str):
        return {"text": part}
    if part.url is not None:
        return {"file_data": {"file_uri": part.url, "mime_type": part.mime_type}}
    return {"inline_data": {"data": part.data, "mime_type": part.mime_type}}


class _Chunk:
    """A chunk google-genai parsed, as an event whose JSON is the API's shape again."""

    __slots__ = ("chunk",)

    def __init__(self, chunk: Any) -> None:
        self.chunk = chunk

    def json(self) -> Any:
        return self.chunk.model_dump(mode="json", by_alias=True, exclude_none=True)  # ~2 us


@contextmanager
def _parsed(request: Request) -> Iterator[None]:
    """A chunk google-genai could not parse (a count of 1.5) is the provider's error, not
    a bad document (the library raises ``ValueError`` subclasses for both)."""
    import pydantic  # noqa: PLC0415
    from google.genai.errors import UnknownApiResponseError  # noqa: PLC0415

    try:
        yield
    except (pydantic.ValidationError, UnknownApiResponseError) as exc:
        raise toolkit.errors.CompletionError(
            f"{SDK} model {request.model_name!r} sent a chunk google-genai could not read:"
            f" {type(exc).__name__}: {toolkit.clip(str(exc), 500)}",
            sdk=SDK,
            model=request.model_name,
        ) from exc


class _Reader:
    """Reads one answer, a whole body or a stream's chunks: text, usage, finish, blocks."""

    def __init__(self, request: Request) -> None:
        self.model = request.model_name
        self.request_id: str | None = None
        self.usage: Mapping[str, Any] = {}
        self.reason: str | None = None
        self.finished = False  # a candidate said why it stopped: the answer is complete
        self.done = False  # the stream goes on to its end (usage may follow the reason)
        self.calls: list[toolkit.RawToolCall] = []  # whole calls, as Gemini sends them
        self.thoughts: list[str] = []  # thought summaries (include_thoughts)

    def whole(self, body: object) -> list[StreamItem]:
        """A whole answer (not streamed): its text, then its ``StreamEnd``."""
        if not isinstance(body, dict):
            raise toolkit.errors.CompletionError(
                f"{SDK} answered with something that is not a GenerateContentResponse:"
                f" {str(body)[:200]}"
            )
        text = self._take(body)
        return [text, self._end()] if text else [self._end()]

    def feed(self, event: Any) -> str:
        """One chunk of a stream: its text."""
        return self._take(event.json())

    def end(self) -> toolkit.StreamEnd | None:
        """After the last chunk: the answer's end, if a candidate said why it stopped."""
        return self._end() if self.finished else None

    def _take(self, data: dict[str, Any]) -> str:
        """One response or chunk: its text (thoughts and non-text parts left out).

        JSON objects are dicts: ``isinstance(x, dict)`` takes ~20 ns, an ABC check against
        ``Mapping`` ~115 ns (``python -m timeit``), and this runs ~10 of them per chunk."""
        if isinstance(data.get("responseId"), str):
            self.request_id = data["responseId"]
        usage = data.get("usageMetadata")
        if isinstance(usage, dict):  # each chunk repeats the running counts
            self.usage = usage
        feedback = data.get("promptFeedback")
        blocked = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if isinstance(blocked, str) and blocked != "BLOCK_REASON_UNSPECIFIED":
            message = feedback.get("blockReasonMessage")  # type: ignore[union-attr]
            why = f": {message}" if isinstance(message, str) and message else ""
            raise self._filtered(f"the prompt was blocked ({blocked}){why}")
        candidates = data.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(candidate, dict):
            return ""
        if isinstance(candidate.get("finishReason"), str):
            self.reason, self.finished = candidate["finishReason"], True
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        parts = [p for p in (parts if isinstance(parts, list) else ()) if isinstance(p, dict)]
        for part in parts:
            call = part.get("functionCall")
            if isinstance(call, dict) and isinstance(call.get("name"), str):
                args = call.get("args")
                self.calls.append(
                    toolkit.RawToolCall(call.get("id"), call["name"], args if args else {})
                )
        texts = [p for p in parts if isinstance(p.get("text"), str)]
        self.thoughts += [p["text"] for p in texts if p.get("thought") is True]
        return "".join(p["text"] for p in texts if p.get("thought") is not True)

    def _end(self) -> toolkit.StreamEnd:
        """The answer's usage and finish reason; an answer stopped for its content raises."""
        reason = self.reason
        if reason in FILTERED:
            raise self._filtered(f"the answer was stopped for its content ({reason})")
        usage = self.usage
        prompt = toolkit.usage_count(usage.get("promptTokenCount"))
        # Google bills thinking tokens as output tokens: they count as completion tokens.
        fields = ["candidatesTokenCount"]
        if "thoughtsTokenCount" in usage:
            fields.append("thoughtsTokenCount")
        counts = [toolkit.usage_count(usage.get(field)) for field in fields]
        completion = None if None in counts else sum(c for c in counts if c is not None)
        total = toolkit.total_of(prompt, completion, usage.get("totalTokenCount"))
        finish = FINISH_REASONS.get(reason, reason.lower()) if reason is not None else None
        return toolkit.StreamEnd(
            prompt,
            completion,
            total,
            finish,
            self.request_id,
            tuple(self.calls),
            reasoning="".join(self.thoughts) or None,
            reasoning_tokens=toolkit.usage_count(usage.get("thoughtsTokenCount")),
        )

    def _filtered(self, why: str) -> Exception:
        return toolkit.errors.ContentFilterError(
            f"{SDK} model {self.model!r}: {why}",
            sdk=SDK,
            model=self.model,
            request_id=self.request_id,
        )
