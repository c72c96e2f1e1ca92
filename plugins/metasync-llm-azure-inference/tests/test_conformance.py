"""The ChatCompletionsClient plugin against the conformance suite (loopback API stand-in)."""

from metasync_llm.testing import SDKConformance
from metasync_llm.testing.wires import azure_inference_chat


class TestConformance(SDKConformance):
    sdk_name = "ChatCompletionsClient"
    model = {
        "name": "conformance",
        "sdk": "ChatCompletionsClient",
        "endpoint": "https://replaced.invalid",
        "deployment": "Phi-4",
        "apiVersion": "2025-04-01",
        "key": "KEY-CONFORMANCE",
    }
    replies = staticmethod(azure_inference_chat)
