"""The AzureOpenAI plugin against the metasync-llm conformance suite (loopback API stand-in)."""

from metasync_llm.testing import SDKConformance
from metasync_llm.testing.wires import openai_chat


class TestConformance(SDKConformance):
    sdk_name = "AzureOpenAI"
    model = {
        "name": "conformance",
        "sdk": "AzureOpenAI",
        "endpoint": "https://replaced.invalid",
        "deployment": "gpt-4o",
        "apiVersion": "2024-10-21",
        "key": "KEY-CONFORMANCE",
    }
    replies = staticmethod(openai_chat)
