"""The OpenAI plugin against the metasync-llm conformance suite (loopback API stand-in)."""

from metasync_llm.testing import SDKConformance
from metasync_llm.testing.wires import openai_chat


class TestConformance(SDKConformance):
    sdk_name = "OpenAI"
    model = {
        "name": "conformance",
        "sdk": "OpenAI",
        "endpoint": "https://replaced.invalid",
        "deployment": "gpt-4o",
        "key": "KEY-CONFORMANCE",
    }
    replies = staticmethod(openai_chat)
