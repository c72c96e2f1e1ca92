"""pytest plugin (entry point ``pytest11``): the conformance suite, opted into per module.

A test module opts in by naming its SDK and a working model document::

    METASYNC_SDK = "MySdk"
    METASYNC_MODEL = {"name": "m", "sdk": "MySdk", "endpoint": "...", "deployment": "x"}
    METASYNC_REPLIES = my_responder   # optional: a loopback server stands in for the API

and gets the whole suite as ``<module>::TestMetasyncConformance``. Modules that do not
define ``METASYNC_SDK`` are left alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from metasync_llm.testing.conformance import SDKConformance


def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> Any:
    if name != "METASYNC_SDK" or not isinstance(collector, pytest.Module):
        return None
    module = collector.obj
    attrs: dict[str, Any] = {"sdk_name": obj, "model": module.METASYNC_MODEL}
    replies = getattr(module, "METASYNC_REPLIES", None)
    if replies is not None:
        attrs["replies"] = staticmethod(replies)
    suite = type("TestMetasyncConformance", (SDKConformance,), attrs)
    # pytest finds a class collector's object by name on the module: put it there.
    module.TestMetasyncConformance = suite
    return pytest.Class.from_parent(collector, name="TestMetasyncConformance")
