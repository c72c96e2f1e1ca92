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

    The client's pipeline sends the request (endpoint, API version, the key, no retries:
    one call is one request) through ``send_request``; the core reads the raw body, as JSON
    or server-sent events (the library's own event parser rejects keep-alive comments and
    ignores error events). Parameters the API does not model (``max_completion_tokens``,
    ``extraBody``) go with the ``extra-parameters: pass-through`` header. The core pools
    the clients (async ones, from ``azure.ai.inference.aio``, per event loop).
    """

    sdk_name = "ChatCompletionsClient"
    required_fields = ("endpoint", "apiVersion", "deployment")
    # The API has no request-id header: the response's id identifies the call.
    response_id_is_request_id = True
    # 2025-04-01 takes image content items (no documents) and no reasoning control; its
    # answers' reasoning_content is read all the same.
    features = ChatCompletionsSDK.features - {"reasoning"}
    attachment_types = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
    max_attachment_bytes = None
    max_request_attachment_bytes = None

    def create_client(
        self, config: Mapping[str, Any], api_key: str | None, *, asynchronous: bool
    ) -> Any:
        from azure.core.credentials import AzureKeyCredential  # noqa: PLC0415 - first use only

        if asynchronous:
            from azure.ai.inference.aio import ChatCompletionsClient  # noqa: PLC0415
        else:
            from azure.ai.inference import ChatCompletionsClient  # type: ignore[assignment] # noqa: PLC0415
        return ChatCompletionsClient(
            endpoint=toolkit.endpoint_of(config),
            credential=AzureKeyCredential(api_key or ""),
            api_version=config["apiVersion"],
            retry_total=0,
            connection_timeout=toolkit.connect_timeout_of(config),
            read_timeout=toolkit.timeout_of(config),
        )

    def stream(self, request: Request) -> Iterator[StreamItem]:
        response = self.client_for(request).send_request(self._http_request(request), stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                _raise_for_status(response)
            reader = self.reader(request)
            yield from toolkit.read_answer(response.headers, response.iter_bytes(), reader)
        finally:
            response.close()

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        client = await self.async_client_for(request)
        response = await client.send_request(self._http_request(request), stream=True)
        try:
            if response.status_code >= 400:
                await response.read()
                _raise_for_status(response)
            reader = self.reader(request)
            async for item in toolkit.aread_answer(response.headers, response.iter_bytes(), reader):
                yield item
        finally:
            await response.close()

    def _http_request(self, request: Request) -> Any:
        from azure.core.rest import HttpRequest  # noqa: PLC0415 - imported with the client

        body = self.chat_body(request)
        extras = toolkit.extra_body(request.config) or {}
        if "max_completion_tokens" in body:  # not a parameter the API models
            extras["max_completion_tokens"] = body.pop("max_completion_tokens")
        if request.stream:
            body["stream"] = True
        headers = {"extra-parameters": "pass-through"} if extras else {}
        return HttpRequest(
            "POST",
            "/chat/completions",
            params={"api-version": request.config["apiVersion"]},
            json={**body, **extras},  # as the SDK merges model_extras: they win
            headers=headers,
        )


def _raise_for_status(response: Any) -> None:
    from azure.core.exceptions import HttpResponseError  # noqa: PLC0415 - not at discovery

    raise HttpResponseError(response=response)
