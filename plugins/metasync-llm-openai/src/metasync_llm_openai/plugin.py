"""The ``OpenAI`` SDK plugin: Chat Completions through the ``openai`` client library."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from metasync_llm import toolkit
from metasync_llm.chat_completions import ChatCompletionsSDK

if TYPE_CHECKING:
    from metasync_llm.request import Request
    from metasync_llm.result import StreamItem


class OpenAISDK(ChatCompletionsSDK):
    """SDK ``OpenAI``: ``openai.OpenAI`` against ``endpoint`` (any OpenAI-compatible base URL).

    Non-streamed calls make a plain request; streams ask for usage in their last chunk.
    The core pools the clients (async ones per event loop); their own retries are off, so
    one call is one HTTP request.
    """

    sdk_name = "OpenAI"

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
        return {"base_url": config["endpoint"]}

    def stream(self, request: Request) -> Iterator[StreamItem]:
        client = self.client_for(request)
        if not request.stream:
            response = client.chat.completions.create(**self._body(request))
            yield from self.answer(request, response, response._request_id)
            return
        with client.chat.completions.create(**self._body(request, stream=True)) as chunks:
            reader = self.chunk_reader(chunks.response.headers.get("x-request-id"))
            for chunk in chunks:
                text = reader.feed(chunk)
                if text:
                    yield text
        yield reader.end()

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        client = await self.async_client_for(request)
        if not request.stream:
            response = await client.chat.completions.create(**self._body(request))
            whole, end = self.answer(request, response, response._request_id)
            yield whole
            yield end
            return
        async with await client.chat.completions.create(
            **self._body(request, stream=True)
        ) as chunks:
            reader = self.chunk_reader(chunks.response.headers.get("x-request-id"))
            async for chunk in chunks:
                text = reader.feed(chunk)
                if text:
                    yield text
        yield reader.end()

    def _body(self, request: Request, *, stream: bool = False) -> dict[str, Any]:
        body = self.chat_body(request)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        extra = toolkit.extra_body(request.config)
        if extra:
            body["extra_body"] = extra
        return body
