"""The pytest-plugin way: naming the SDK and a model opts this module into the suite."""

METASYNC_SDK = "test"
METASYNC_MODEL = {"name": "conformance", "sdk": "test", "deployment": "json-answer"}
