"""The ``OpenAI`` SDK plugin: Chat Completions through the ``openai`` client library."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from metasync_llm import toolkit
from metasync_llm.chat_completions import ChatCompletionsSDK

if TYPE_CHECKING:
    from metasync_llm.request import Request
    from metasync_llm.result import StreamItem


class OpenAISDK(ChatCompletionsSDK):
    """SDK ``OpenAI``: ``openai.OpenAI`` against ``endpoint`` (any OpenAI-compatible base URL).

    The client sends the request (authentication, headers, errors by HTTP status); the
    core reads the raw body, as JSON or server-sent events, strictly and within the
    document's timeout (the library's models would coerce ``"12"`` into a token count).
    Non-streamed calls make a plain request; streams ask for usage in their last chunk.
    The core pools the clients; their own retries are off: one call is one request.
    """

    sdk_name = "OpenAI"
    message_format = "separate"  # a system and a user turn (not one of the seed's SDKs)
    limits_hosts: ClassVar[tuple[str, ...] | None] = ("api.openai.com",)  # elsewhere: the server

    def create_client(
        self, config: Mapping[str, Any], api_key: str | None, *, asynchronous: bool
    ) -> Any:
        import openai  # noqa: PLC0415 - the client library loads on first use only

        return self.client_class(openai, asynchronous=asynchronous)(
            **self.client_options(config),
            api_key=api_key,
            max_retries=0,
            timeout=openai.Timeout(
                toolkit.timeout_of(config), connect=toolkit.connect_timeout_of(config)
            ),
        )

    def client_class(self, openai: Any, *, asynchronous: bool) -> Any:
        """The ``openai`` client class to create (``openai`` is the imported library)."""
        return openai.AsyncOpenAI if asynchronous else openai.OpenAI

    def client_options(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Where the client connects: ``base_url`` from the document's ``endpoint``."""
        return {"base_url": toolkit.endpoint_of(config)}

    def stream(self, request: Request) -> Iterator[StreamItem]:
        create = self.client_for(request).chat.completions.with_streaming_response.create
        with create(**self._body(request)) as response:
            reader = self.reader(request, response.headers.get("x-request-id"))
            yield from toolkit.read_answer(response.headers, response.iter_bytes(), reader)

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        client = await self.async_client_for(request)
        async with client.chat.completions.with_streaming_response.create(
            **self._body(request)
        ) as response:
            reader = self.reader(request, response.headers.get("x-request-id"))
            async for item in toolkit.aread_answer(response.headers, response.iter_bytes(), reader):
                yield item

    def _body(self, request: Request) -> dict[str, Any]:
        body = self.chat_body(request)
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        extra = toolkit.extra_body(request.config)
        if extra:
            body["extra_body"] = extra
        return body
