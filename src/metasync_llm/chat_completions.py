"""``ChatCompletionsSDK``: the shared base of plugins for APIs shaped like Chat Completions.

OpenAI, Azure OpenAI, Azure AI Inference and the many OpenAI-compatible servers take the
same request (``model``, ``messages``, ``temperature``, ``max_tokens``) and answer in the
same shape (``choices[0].message.content``, ``finish_reason``, ``usage``; streamed as
``choices[0].delta`` chunks). This base builds that request from a model document's
quirks and reads that answer, so a plugin for such an API writes only its client calls.

Imported at discovery by the plugins that subclass it: it loads nothing else until used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from metasync_llm.base_sdk import BaseLLMSDK

if TYPE_CHECKING:
    from metasync_llm.request import Request
    from metasync_llm.result import StreamEnd


class ChatCompletionsSDK(BaseLLMSDK):
    """Base of an SDK plugin for a Chat Completions-shaped API.

    Set :attr:`sdk_name` and :attr:`required_fields`, implement
    :meth:`~BaseLLMSDK.create_client`, :meth:`~BaseLLMSDK.stream` and
    :meth:`~BaseLLMSDK.astream` with the client library's calls, and use
    :meth:`chat_body` for the request, :meth:`answer` for a whole response and
    :meth:`chunk_reader` for a stream. The document's quirks are honoured:
    ``messageFormat``, ``omitTemperature``, ``maxCompletionToken`` (see
    :mod:`metasync_llm.model`).
    """

    #: The SDK identifier (``get_name()``).
    sdk_name: ClassVar[str]
    #: Document fields ``validate_config`` requires (non-empty strings).
    required_fields: ClassVar[tuple[str, ...]] = ("endpoint", "deployment")
    #: Report the response's ``id`` as the request id (for APIs without a request-id header).
    response_id_is_request_id: ClassVar[bool] = False

    @staticmethod
    def field(obj: Any, name: str) -> Any:
        """Read a field of a response object (``None`` if absent).

        Attribute access, as the ``openai`` library's models need; a plugin whose library
        returns mappings overrides it.
        """
        return getattr(obj, name, None)

    def get_name(self) -> str:
        return self.sdk_name

    def validate_config(self, config: Mapping[str, Any]) -> None:
        from metasync_llm.model import check_config  # noqa: PLC0415 - loaded on first call

        check_config(config, sdk=self.sdk_name, required=self.required_fields)

    # -- the request ---------------------------------------------------------------------

    def chat_body(self, request: Request) -> dict[str, Any]:
        """``model``, ``messages``, and the sampling options under the names the document asks for.

        ``temperature`` is left out with ``omitTemperature``; the token limit is sent as
        ``max_completion_tokens`` with ``maxCompletionToken``, else as ``max_tokens``.
        """
        config = request.config
        body: dict[str, Any] = {"model": config["deployment"], "messages": chat_messages(request)}
        if not config.get("omitTemperature"):
            body["temperature"] = request.temperature
        limit = "max_completion_tokens" if config.get("maxCompletionToken") else "max_tokens"
        body[limit] = request.max_tokens
        return body

    # -- the answer ----------------------------------------------------------------------

    def answer(
        self, request: Request, response: Any, request_id: str | None = None
    ) -> tuple[str, StreamEnd]:
        """A whole (non-streamed) response: its text and its ``StreamEnd``, to yield in turn."""
        from metasync_llm.answers import require_text  # noqa: PLC0415

        field = self.field
        if request_id is None and self.response_id_is_request_id:
            request_id = field(response, "id")
        choices = field(response, "choices")
        choice = choices[0] if choices else None
        finish = _finish_reason(field(choice, "finish_reason"))
        text = require_text(
            field(field(choice, "message"), "content"),
            finish,
            sdk=self.sdk_name,
            model=request.model_name,
            request_id=request_id,
        )
        return text, self._end(field(response, "usage"), finish, request_id)

    def chunk_reader(self, request_id: str | None = None) -> ChunkReader:
        """A reader for the chunks of one streamed response."""
        return ChunkReader(self, request_id)

    def _end(self, usage: Any, finish: str | None, request_id: str | None) -> StreamEnd:
        from metasync_llm.answers import total_of, usage_count  # noqa: PLC0415
        from metasync_llm.result import StreamEnd  # noqa: PLC0415

        field = self.field
        prompt = usage_count(field(usage, "prompt_tokens"))
        completion = usage_count(field(usage, "completion_tokens"))
        total = total_of(prompt, completion, field(usage, "total_tokens"))
        return StreamEnd(prompt, completion, total, finish, request_id)


class ChunkReader:
    """Reads a streamed chat completion: each chunk's text, and the finish reason and usage."""

    def __init__(self, sdk: ChatCompletionsSDK, request_id: str | None) -> None:
        self._sdk = sdk
        self.request_id = request_id
        self.finish: str | None = None
        self.usage: Any = None

    def feed(self, chunk: Any) -> str | None:
        """The text of one chunk (``None`` if it has none), noting its finish reason and usage."""
        field = self._sdk.field
        usage = field(chunk, "usage")
        if usage is not None:
            self.usage = usage
        if self.request_id is None and self._sdk.response_id_is_request_id:
            self.request_id = field(chunk, "id")
        choices = field(chunk, "choices")
        if not choices:
            return None
        choice = choices[0]
        self.finish = _finish_reason(field(choice, "finish_reason")) or self.finish
        content: str | None = field(field(choice, "delta"), "content")
        return content

    def end(self) -> StreamEnd:
        """The ``StreamEnd`` of the stream read so far."""
        return self._sdk._end(self.usage, self.finish, self.request_id)


def chat_messages(request: Request) -> list[dict[str, str]]:
    """The ``messages`` list for the document's ``messageFormat``.

    ``"combined"`` (the default, the seed's way: one system message holding the system
    prompt followed by the user content) or ``"separate"`` (a system and a user message).
    """
    system, user = request.system_prompt, request.user_content
    if request.config.get("messageFormat") == "separate":
        messages = []
        if system:
            messages.append({"role": "system", "content": system})
        if user or not messages:
            messages.append({"role": "user", "content": user})
        return messages
    return [{"role": "system", "content": (system or "") + (user or "")}]


def _finish_reason(value: Any) -> str | None:
    # openai sends str; azure-ai-inference an enum (or its raw str through the mapping).
    if value is None:
        return None
    return value if isinstance(value, str) else str(getattr(value, "value", value))
