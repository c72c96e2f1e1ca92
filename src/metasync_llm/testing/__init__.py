"""Test helpers for plugin authors: a loopback server with faults, and the conformance suite.

Importing this package imports no provider SDK and no test framework.
"""

from metasync_llm.testing._server import LoopbackServer, RecordedRequest, Reply, Responder
from metasync_llm.testing.conformance import SDKConformance

__all__ = ["LoopbackServer", "RecordedRequest", "Reply", "Responder", "SDKConformance"]
