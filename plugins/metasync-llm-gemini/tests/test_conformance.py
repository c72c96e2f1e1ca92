"""The Gemini plugin against the metasync-llm conformance suite (loopback API stand-in)."""

from metasync_llm.testing import SDKConformance
from metasync_llm.testing.wires import gemini_generate


class TestConformance(SDKConformance):
    sdk_name = "Gemini"
    model = {
        "name": "conformance",
        "sdk": "Gemini",
        "endpoint": "https://replaced.invalid",
        "deployment": "gemini-2.5-flash",
        "key": "KEY-CONFORMANCE",
    }
    replies = staticmethod(gemini_generate)
