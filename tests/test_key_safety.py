"""The API key, in every form a user or a provider puts it, never shows up in an error,
its chain, a traceback or a log.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hostile_servers import KEY, MODULES, assert_no_key, doc, error_body, registry

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    complete_with_model,
    stream_with_model,
)
from metasync_llm._keys import redact
from metasync_llm.testing import LoopbackServer, Reply, wires


def test_a_key_read_with_its_newline_is_stripped(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reg = registry("OpenAI")
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("KEY_HARD", f"  {KEY}\n")
    loopback.add(Reply.json(wires.chat_completion("ok")))
    result = complete_with_model(doc("OpenAI", loopback.url), "", "hi", registry=reg)
    assert result.text == "ok"
    assert loopback.requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("bad", [f"{KEY[:10]}\n{KEY[10:]}", f"{KEY}\x00", "sk-1234"])
def test_a_key_that_cannot_be_sent_or_is_too_short_is_refused_unseen(
    bad: str, monkeypatch: pytest.MonkeyPatch, loopback: LoopbackServer
) -> None:
    reg = registry("OpenAI")
    ways: list[dict[str, Any]] = [{"api_key": bad}, {"key_resolver": lambda _m: bad}]
    if "\x00" not in bad:  # the environment cannot hold a NUL
        monkeypatch.setenv("KEY_HARD", bad)
        ways.append({})
    for how in ways:
        with pytest.raises(msl.MissingAPIKeyError) as info:
            complete_with_model(doc("OpenAI", loopback.url), "", "hi", registry=reg, **how)
        assert bad.strip() not in str(info.value) and KEY[:10] not in str(info.value)
    assert loopback.requests == [], "nothing was sent"


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_an_echoed_key_is_nowhere_in_the_chain(
    sdk: str, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    reg = registry(sdk)
    caplog.set_level(logging.DEBUG)
    message = f"Incorrect API key provided: {KEY}"
    body = error_body(sdk, message, "authentication_error")
    loopback.add(Reply.json(body, status=401))
    with pytest.raises(msl.AuthenticationError) as info:
        complete_with_model(doc(sdk, loopback.url), "", "hi", api_key=KEY, registry=reg)
    assert "***" in str(info.value)
    cause = info.value.__cause__
    assert cause is not None and "***" in repr(vars(cause))
    assert info.value.__context__ is None or info.value.__context__ is cause
    assert_no_key(info.value, caplog)


def test_an_error_event_echoing_the_key_is_scrubbed(
    loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    reg = registry("Anthropic")
    caplog.set_level(logging.DEBUG)
    events = wires.anthropic_events(["partial "], stop=None)
    events.append(wires.anthropic_error(f"bad key {KEY}", kind="invalid_request_error"))
    loopback.add(Reply.sse(events, done=False, named=True))
    with pytest.raises(msl.CompletionError) as info:
        list(stream_with_model(doc("Anthropic", loopback.url), "", "hi", api_key=KEY, registry=reg))
    assert info.value.partial_text == "partial "
    assert_no_key(info.value, caplog)


@pytest.mark.parametrize(
    "kind", ["bytes", "dict", "list", "str", "notes", "group", "cause", "context"]
)
def test_a_plugin_raising_the_key_in_any_form_leaks_nothing(
    kind: str, plugin_registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model = {
        "name": "r",
        "sdk": "Raiser",
        "deployment": "d",
        "raise": kind,
        "retry": {"attempts": 2, "initialDelay": 0.01},
    }
    with pytest.raises(msl.MetasyncLLMError) as info:
        complete_with_model(model, "", "hi", api_key=KEY, registry=plugin_registry)
    assert_no_key(info.value, caplog)
    logging.getLogger("test").exception("logged", exc_info=info.value)
    assert_no_key(info.value, caplog)


def test_redaction_replaces_whole_tokens_only() -> None:
    assert redact("the password is: passwords-and-more", ["passwords"]) == (
        "the password is: ***-and-more"
    )
    assert redact("sk-12345678 and xsk-12345678x", ["sk-12345678"]) == "*** and xsk-12345678x"
    assert redact("a HTTP error for model m", ["HTTP1234"]) == "a HTTP error for model m"


def test_a_plugin_exception_whose_str_raises_is_a_plugin_error(
    plugin_registry: PluginRegistry,
) -> None:
    model = {"name": "r", "sdk": "Raiser", "deployment": "d", "raise": "unprintable"}
    with pytest.raises(msl.PluginError) as info:
        complete_with_model(model, "", "hi", api_key=KEY, registry=plugin_registry)
    assert "Raiser (msl-raiser 1.0)" in str(info.value) and "str()" in str(info.value)
    assert not isinstance(info.value, ZeroDivisionError)
