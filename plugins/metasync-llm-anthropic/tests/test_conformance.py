"""The Anthropic plugin against the metasync-llm conformance suite (loopback API stand-in)."""

from metasync_llm.testing import SDKConformance
from metasync_llm.testing.wires import anthropic_messages


class TestConformance(SDKConformance):
    sdk_name = "Anthropic"
    model = {
        "name": "conformance",
        "sdk": "Anthropic",
        "endpoint": "https://replaced.invalid",
        "deployment": "claude-opus-5",
        "key": "KEY-CONFORMANCE",
    }
    replies = staticmethod(anthropic_messages)
