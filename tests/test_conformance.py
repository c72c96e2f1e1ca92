"""The built-in test SDK against the conformance suite, both ways plugin authors can run it."""

from metasync_llm.testing import SDKConformance


class TestBuiltinSDKConformance(SDKConformance):
    """The base-class way."""

    sdk_name = "test"
    model = {"name": "conformance", "sdk": "test", "deployment": "echo"}
