"""The ``ChatCompletionsClient`` SDK plugin: Azure AI Inference through ``azure-ai-inference``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from metasync_llm import toolkit
from metasync_llm.chat_completions import ChatCompletionsSDK

if TYPE_CHECKING:
    from metasync_llm.request import Request
    from metasync_llm.result import StreamItem


class ChatCompletionsClientSDK(ChatCompletionsSDK):
    """SDK ``ChatCompletionsClient``: ``azure.ai.inference.ChatCompletionsClient``.

    Parameters the SDK does not model (``max_completion_tokens``, ``extraBody``) go in
    ``model_extras``, which makes the SDK send the ``extra-parameters: pass-through``
    header. The core pools the clients (async ones, from ``azure.ai.inference.aio``, per
    event loop); azure-core's retries are off, so one call is one request.
    """

    sdk_name = "ChatCompletionsClient"
    required_fields = ("endpoint", "apiVersion", "deployment")
    # The API has no request-id header: the response's id identifies the call.
    response_id_is_request_id = True

    @staticmethod
    def field(obj: Any, name: str) -> Any:
        # azure-core models are mappings over the raw JSON: reading that is ~25x cheaper
        # than their attributes, which deserialize on every access.
        return obj.get(name) if obj is not None else None

    def create_client(
        self, config: Mapping[str, Any], api_key: str | None, *, asynchronous: bool
    ) -> Any:
        from azure.core.credentials import AzureKeyCredential  # noqa: PLC0415 - first use only

        if asynchronous:
            from azure.ai.inference.aio import ChatCompletionsClient  # noqa: PLC0415
        else:
            from azure.ai.inference import ChatCompletionsClient  # type: ignore[assignment] # noqa: PLC0415
        return ChatCompletionsClient(
            endpoint=config["endpoint"],
            credential=AzureKeyCredential(api_key or ""),
            api_version=config["apiVersion"],
            retry_total=0,
            connection_timeout=toolkit.connect_timeout_of(config),
            read_timeout=toolkit.timeout_of(config),
        )

    def stream(self, request: Request) -> Iterator[StreamItem]:
        client = self.client_for(request)
        if not request.stream:
            yield from self.answer(request, client.complete(**self._body(request)))
            return
        reader = self.chunk_reader()
        with client.complete(stream=True, **self._body(request)) as updates:
            for update in updates:
                text = reader.feed(update)
                if text:
                    yield text
        yield reader.end()

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        client = await self.async_client_for(request)
        if not request.stream:
            whole, end = self.answer(request, await client.complete(**self._body(request)))
            yield whole
            yield end
            return
        reader = self.chunk_reader()
        async with await client.complete(stream=True, **self._body(request)) as updates:
            async for update in updates:
                text = reader.feed(update)
                if text:
                    yield text
        yield reader.end()

    def _body(self, request: Request) -> dict[str, Any]:
        body = self.chat_body(request)
        extras = toolkit.extra_body(request.config) or {}
        if "max_completion_tokens" in body:  # not a parameter of the SDK's complete()
            extras["max_completion_tokens"] = body.pop("max_completion_tokens")
        body["model_extras"] = extras or None
        return body
