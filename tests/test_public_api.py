"""The public surface: exported names and the error hierarchy."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import metasync_llm
from metasync_llm import errors


def test_all_matches_the_public_names() -> None:
    public = {n for n in dir(metasync_llm) if not n.startswith("_")}
    modules = {n for n in public if inspect.ismodule(getattr(metasync_llm, n))}
    assert set(metasync_llm.__all__) - {"__version__"} == public - modules


def test_every_error_is_exported_and_in_one_hierarchy() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    for cls in classes:
        assert issubclass(cls, errors.MetasyncLLMError)
        assert cls.__name__ in metasync_llm.__all__
        assert cls.__name__ in errors.__all__


def test_configuration_errors_are_value_errors_and_failures_runtime_errors() -> None:
    for cls in (errors.ConfigurationError, errors.MissingAPIKeyError, errors.SDKNotFoundError):
        assert issubclass(cls, ValueError) and not issubclass(cls, RuntimeError)
    call_failures = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.CompletionError)
    ]
    assert len(call_failures) == 17  # CompletionError and its 16 kinds
    for cls in [*call_failures, errors.PluginError]:
        assert issubclass(cls, RuntimeError) and not issubclass(cls, ValueError)


def test_status_classification() -> None:
    f = errors.error_class_for
    assert f(429) is errors.RateLimitError
    assert f(401) is errors.AuthenticationError
    assert f(503) is errors.ServerError
    assert f(413) is errors.ContextWindowExceededError
    assert f(400, "This model's maximum context length is 8192 tokens") is (
        errors.ContextWindowExceededError
    )
    assert f(400, '{"code": "content_filter"}') is errors.ContentFilterError
    assert f(400, "bad role") is errors.BadRequestError
    assert f(418) is errors.BadRequestError
    assert f(None) is errors.CompletionError


def test_retry_after_seconds_and_http_dates() -> None:
    f = errors.retry_after_seconds
    assert f("7") == 7 and f("0.5") == 0.5 and f("0") == 0
    assert f("Wed, 21 Oct 2099 07:28:00 GMT") > 3600 * 24 * 365
    assert f("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past: retry now
    for bad in ("soon", "-3", "nan", "", None, 5):
        assert f(bad) is None


def test_toolkit_names_are_the_core_objects_they_stand_for() -> None:
    from metasync_llm import _model as model
    from metasync_llm import _plugin_fields as plugin_fields
    from metasync_llm import attachments, request, result, toolkit
    from metasync_llm._tools import _calls as tool_calls
    from metasync_llm._wire import _answers as answers
    from metasync_llm._wire import _clients as clients
    from metasync_llm._wire import _mapping as mapping
    from metasync_llm._wire import _reader as reader
    from metasync_llm._wire import _sse as responses
    from metasync_llm._wire import _transport as transport

    sources = {
        **vars(answers),
        **vars(clients),
        **vars(model),
        **vars(plugin_fields),
        **vars(request),
        **vars(responses),
        **vars(result),
        **vars(mapping),
        **vars(reader),
        **vars(transport),
        **vars(tool_calls),
        **vars(attachments),
        **vars(errors),
    }
    for name in toolkit.__all__:
        expected = errors if name == "errors" else sources[name]
        assert getattr(toolkit, name) is expected, name
    assert set(toolkit.__all__) <= set(dir(toolkit))
    with pytest.raises(AttributeError, match=r"'metasync_llm\.toolkit' has no attribute 'missing'"):
        toolkit.missing  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_toolkit_imports_none_of_its_sources() -> None:
    code = (
        "import sys; from metasync_llm import toolkit; toolkit.check_config;"
        "print(' '.join(m for m in sys.modules if m.startswith('metasync_llm.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.split()
    assert "metasync_llm._plugin_fields" in loaded  # asked for
    assert not {"metasync_llm._wire._answers", "metasync_llm._wire._clients"} & set(loaded)
