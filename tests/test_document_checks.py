"""Model documents a call cannot use are refused before any request: deep nesting,
endpoints clients would read differently, what `validate` must refuse too; the seed's
temperature clamp.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hostile_servers import KEY, MODULES, answer, doc, registry

import metasync_llm as msl
from metasync_llm import (
    complete_with_model,
    prepare_model,
)
from metasync_llm.cli import main as cli
from metasync_llm.connector import validate_model
from metasync_llm.testing import LoopbackServer


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize("field", ["_metadata", "cost", "test"])
def test_a_deeply_nested_document_is_a_configuration_error(field: str) -> None:
    model = {"name": "deep", "sdk": "test", "deployment": "echo", field: _deep(1000)}
    for check in (
        lambda: complete_with_model(model, "", "hi"),
        lambda: validate_model(model),
        lambda: prepare_model(model),
    ):
        with pytest.raises(msl.ConfigurationError) as info:
            check()
        assert info.value.fields[0] == field and "nested more than" in str(info.value)


def test_the_cli_reports_deep_documents_in_one_line(tmp_path: Path) -> None:
    deep_doc = tmp_path / "deep.json"
    deep_doc.write_text(
        json.dumps({"name": "d", "sdk": "test", "deployment": "echo", "_metadata": _deep(500)})
    )
    deeper = tmp_path / "deeper.json"
    deeper.write_text('{"name": "d", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for argv, expected in (
        (["validate", str(deep_doc)], 1),
        (["complete", "--model", str(deep_doc), "hi"], 2),
        (["complete", "--model", str(deeper), "hi"], 2),
    ):
        err = io.StringIO()
        assert cli(argv, stdout=io.StringIO(), stderr=err) == expected
        assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.255.255.1\\@127.0.0.1:4010",
        "http://user:pass@127.0.0.1:4010",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:http",
        "http://127.0.0.1 :4010",
        "http://127.0.0.1:4010/v1\r\nX-Injected: 1",
        "https://api.example.com/v1#frag",
        "https://" + "a" * 5_000_000 + ".com",
    ],
)
@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_an_endpoint_clients_could_read_differently_is_refused(sdk: str, endpoint: str) -> None:
    reg = registry(sdk)
    model = doc(sdk, endpoint)
    for check in (
        lambda: validate_model(model, registry=reg),
        lambda: complete_with_model(model, "", "hi", api_key=KEY, registry=reg),
    ):
        with pytest.raises(msl.ConfigurationError) as info:
            check()
        assert info.value.fields == ("endpoint",) and len(str(info.value)) < 1000


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_the_normalized_endpoint_reaches_the_client(sdk: str, loopback: LoopbackServer) -> None:
    reg = registry(sdk)
    loopback.add(answer(sdk, "ok"))
    model = doc(sdk, loopback.url.replace("http://127.0.0.1", "HTTP://LocalHost"))
    assert complete_with_model(model, "", "hi", api_key=KEY, registry=reg).text == "ok"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeout": 1e12}, "timeout"),
        ({"connectTimeout": 1e12}, "connectTimeout"),
        ({"endpoint": "http://127.0.0.1:99999"}, "endpoint"),
        ({"extraBody": {"top_p": float("nan")}}, "extraBody"),
        ({"extraBody": {"stop": {"a", "b"}}}, "extraBody"),
        ({"extraBody": _deep(100)}, "extraBody"),
        ({"maxTemperature": -1}, "maxTemperature"),
        ({"minTemperature": -0.5}, "minTemperature"),
        ({"key": None}, "key"),
    ],
)
@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_validate_refuses_what_a_call_would_fail_on(
    sdk: str, change: dict[str, Any], field: str
) -> None:
    reg = registry(sdk)
    model = {**doc(sdk, "http://127.0.0.1:4010"), **change}
    with pytest.raises(msl.ConfigurationError) as info:
        validate_model(model, registry=reg)
    assert field in info.value.fields


def test_the_validate_command_refuses_them_too(tmp_path: Path) -> None:
    registry("OpenAI")
    models = [
        {**doc("OpenAI", "http://127.0.0.1:4010"), "name": "ok"},
        {**doc("OpenAI", "http://127.0.0.1:4010"), "name": "nokey", "key": None},
        {**doc("OpenAI", "http://127.0.0.1:4010"), "name": "slow", "timeout": 1e12},
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(models))
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("METASYNC_LLM_SDKS", "OpenAI")
        msl.SDKRegistry.refresh()
        try:
            code = cli(["validate", "--json", str(path)], stdout=out, stderr=io.StringIO())
        finally:
            patch.undo()
            msl.SDKRegistry.refresh()
    assert code == 1
    assert [row["valid"] for row in json.loads(out.getvalue())] == [True, False, False]


def test_a_temperature_below_the_minimum_is_clamped_up() -> None:
    model = {
        "name": "t",
        "sdk": "test",
        "deployment": "t",
        "minTemperature": 0.2,
        "maxTemperature": 0.8,
    }
    assert complete_with_model(model, "", "hi", temperature=-3).temperature == 0.2
    assert complete_with_model(model, "", "hi", temperature=5).temperature == 0.8
    for bad in (float("nan"), "hot", float("inf")):
        with pytest.raises(msl.ConfigurationError):
            complete_with_model(model, "", "hi", temperature=bad)  # type: ignore[arg-type]
    with pytest.raises(msl.ConfigurationError, match="temperature"):
        complete_with_model({**model, "minTemperature": None}, "", "hi", temperature=-3)
