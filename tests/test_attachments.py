"""Images and PDFs in a turn, through the public API: the checks, every plugin's wire form, the
limits, and content kept out of messages, logs and events.

The ``test`` SDK answers with what it received (type, size, digest), so the core runs
offline; loopback servers show each plugin's request; the spec servers accept them.
"""

from __future__ import annotations

import base64
import json
import logging
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_conversations_plugins import SDKS, doc, registry
from test_tools_plugins import text_answer

import metasync_llm as msl
from metasync_llm import Attachment, complete_with_model, stream_with_model
from metasync_llm.testing import LoopbackServer

KEY = "sk-attachments-test-9012"
TEST = {"name": "seeing", "sdk": "test", "deployment": "x"}
#: A real 1x1 PNG, a minimal JPEG/GIF/WebP head and a minimal PDF: the magic numbers count.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 10
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 " + b"\x00" * 14
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SECRET_TEXT = "CONFIDENTIAL-PAYLOAD"


# -- making attachments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (PDF, "application/pdf"),
    ],
)
def test_the_type_is_read_from_the_bytes_not_the_name(
    tmp_path: Path, data: bytes, mime: str
) -> None:
    path = tmp_path / "misnamed.txt"
    path.write_bytes(data)
    attachment = Attachment.from_path(path)
    assert (attachment.mime_type, attachment.size, attachment.name) == (
        mime,
        len(data),
        "misnamed.txt",
    )
    assert Attachment.from_bytes(data).mime_type == mime


def test_anything_else_is_refused_saying_what_was_found(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"GIF? no: plain text")
    with pytest.raises(msl.ConfigurationError, match="begins with 47 49 46 3f") as info:
        Attachment.from_path(path)
    assert info.value.fields == ("attachments",)
    with pytest.raises(msl.ConfigurationError, match="is image/png by its bytes, not image/jpeg"):
        Attachment.from_bytes(PNG, "image/jpeg")


def test_a_missing_or_unreadable_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(msl.ConfigurationError, match=r"'.*nope\.png' cannot be read: No such file"):
        Attachment.from_path(tmp_path / "nope.png")
    with pytest.raises(msl.ConfigurationError, match="cannot be read: Is a directory"):
        Attachment.from_path(tmp_path)


@pytest.mark.parametrize(
    ("url", "mime", "error"),
    [
        ("https://example.com/cat.png", None, None),
        ("https://example.com/report", "application/pdf", None),
        ("https://example.com/report", None, "give mime_type="),
        ("ftp://example.com/cat.png", None, "absolute https://"),
        ("cat.png", None, "absolute https://"),
    ],
)
def test_a_url_takes_its_type_from_its_path_or_mime_type(
    url: str, mime: str | None, error: str | None
) -> None:
    if error is None:
        attachment = Attachment.from_url(url, mime)
        assert attachment.url == url and attachment.data is None
    else:
        with pytest.raises(msl.ConfigurationError, match=error):
            Attachment.from_url(url, mime)


def test_nothing_of_the_content_is_in_the_repr() -> None:
    text = repr(Attachment.from_bytes(PDF + SECRET_TEXT.encode()))
    assert SECRET_TEXT not in text and "application/pdf" in text and "sha256" in text


# -- through a call ------------------------------------------------------------------------


def test_the_test_sdk_answers_with_what_it_received() -> None:
    png, pdf = Attachment.from_bytes(PNG), Attachment.from_bytes(PDF)
    result = complete_with_model(TEST, "", "What are these?", attachments=[png, pdf])
    assert result.text == f"Received: {png.describe()}; {pdf.describe()}"
    turns = [{"role": "user", "content": ["Look: ", png]}]
    assert complete_with_model(TEST, "", messages=turns).text == f"Received: {png.describe()}"


def test_streams_and_async_calls_take_attachments() -> None:
    png = Attachment.from_bytes(PNG)
    with stream_with_model(TEST, "", "x", attachments=[png]) as stream:
        assert "".join(stream).startswith("Received: image/png")

    import asyncio

    result = asyncio.run(msl.acomplete_with_model(TEST, "", "x", attachments=[png]))
    assert result.text.startswith("Received: image/png")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attachments": "photo.png"}, "must be a list of Attachment values"),
        ({"attachments": [b"raw"]}, "holds a bytes"),
        ({"messages": [{"role": "user", "content": ["x", 3]}]}, "a part is a string or"),
        (
            {"messages": [{"role": "assistant", "content": ["x", Attachment.from_bytes(PNG)]}]},
            "only user turns take attachments",
        ),
    ],
)
def test_bad_attachment_arguments_are_configuration_errors(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(msl.ConfigurationError, match=message):
        complete_with_model(TEST, "", **kwargs)


def test_a_seed_plugin_refuses_attachments_naming_itself(
    plugin_registry: msl.PluginRegistry,
) -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        complete_with_model(
            {"name": "g", "sdk": "Good", "deployment": "d"},
            "",
            "x",
            attachments=[Attachment.from_bytes(PNG)],
            api_key="sk-test-1234",
            registry=plugin_registry,
        )
    assert "Good (msl-good" in str(info.value) and "does not declare attachments" in str(info.value)


# -- every plugin's wire form ----------------------------------------------------------------


def _content(sdk: str, body: dict[str, Any]) -> Any:
    if sdk == "Gemini":
        return body["contents"][-1]["parts"]
    return body["messages"][-1]["content"]


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_an_image_goes_in_the_providers_own_form(sdk: str, loopback: LoopbackServer) -> None:
    loopback.add(text_answer(sdk, "A pixel."))
    png = Attachment.from_bytes(PNG)
    result = complete_with_model(
        doc(sdk, loopback.url),
        "Be brief.",
        "What is it?",
        attachments=[png],
        api_key=KEY,
        registry=registry(sdk),
    )
    assert result.text == "A pixel."
    content = _content(sdk, loopback.requests[0].json())
    encoded = base64.b64encode(PNG).decode()
    if sdk == "Anthropic":
        assert content == [
            {"type": "text", "text": "What is it?"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": encoded},
            },
        ]
    elif sdk == "Gemini":  # google-genai's own encoding: URL-safe base64, snake_case keys
        safe = base64.urlsafe_b64encode(PNG).decode()
        assert content == [
            {"text": "What is it?"},
            {"inlineData": {"data": safe, "mime_type": "image/png"}},
        ]
    else:
        assert content == [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}},
        ]


@pytest.mark.parametrize("sdk", ["OpenAI", "Anthropic", "Gemini"])
def test_a_pdf_goes_as_a_document(sdk: str, loopback: LoopbackServer) -> None:
    loopback.add(text_answer(sdk, "A report."))
    pdf = Attachment.from_bytes(PDF, name="report.pdf")
    complete_with_model(
        doc(sdk, loopback.url),
        "",
        "Summarise.",
        attachments=[pdf],
        api_key=KEY,
        registry=registry(sdk),
    )
    part = _content(sdk, loopback.requests[0].json())[-1]
    encoded = base64.b64encode(PDF).decode()
    if sdk == "Anthropic":
        assert part == {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": encoded},
        }
    elif sdk == "Gemini":
        safe = base64.urlsafe_b64encode(PDF).decode()
        assert part == {"inlineData": {"data": safe, "mime_type": "application/pdf"}}
    else:
        assert part == {
            "type": "file",
            "file": {
                "filename": "report.pdf",
                "file_data": f"data:application/pdf;base64,{encoded}",
            },
        }


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_a_url_goes_as_a_url(sdk: str, loopback: LoopbackServer) -> None:
    loopback.add(text_answer(sdk, "A cat."))
    url = "https://example.com/cat.png"
    complete_with_model(
        doc(sdk, loopback.url),
        "",
        "What?",
        attachments=[Attachment.from_url(url)],
        api_key=KEY,
        registry=registry(sdk),
    )
    part = _content(sdk, loopback.requests[0].json())[-1]
    if sdk == "Anthropic":
        assert part == {"type": "image", "source": {"type": "url", "url": url}}
    elif sdk == "Gemini":
        assert part == {"fileData": {"file_uri": url, "mime_type": "image/png"}}
    else:
        assert part == {"type": "image_url", "image_url": {"url": url}}
    assert len(loopback.requests) == 1  # the core fetched nothing


@pytest.mark.parametrize(
    ("sdk", "attachment", "message"),
    [
        (
            "AzureOpenAI",
            Attachment.from_bytes(PDF),
            r"application/pdf is not accepted \(it takes image/",
        ),
        ("ChatCompletionsClient", Attachment.from_bytes(PDF), "application/pdf is not accepted"),
        (
            "OpenAI",
            Attachment.from_url("https://example.com/a.pdf"),
            "a application/pdf URL is not accepted",
        ),
    ],
)
def test_what_a_provider_cannot_take_is_refused_before_any_request(
    sdk: str, attachment: Attachment, message: str, loopback: LoopbackServer
) -> None:
    with pytest.raises(msl.ConfigurationError, match=message) as info:
        complete_with_model(
            doc(sdk, loopback.url),
            "",
            "x",
            attachments=[attachment],
            api_key=KEY,
            registry=registry(sdk),
        )
    assert f"SDK {sdk} (" in str(info.value) and info.value.fields == ("attachments",)
    assert loopback.requests == []


@pytest.mark.parametrize(
    ("sdk", "size", "message"),
    [
        ("Anthropic", 5 * 2**20 + 1, "over the limit of 5242880 bytes a file"),
        ("Gemini", 21 * 2**20, "over the limit of 20971520 bytes a file"),
        ("AzureOpenAI", 21 * 2**20, "over the limit of 20971520 bytes a file"),
    ],
)
def test_the_providers_size_limits_hold_with_the_figures(
    sdk: str, size: int, message: str, loopback: LoopbackServer
) -> None:
    big = Attachment.from_bytes(PNG + b"\x00" * (size - len(PNG)))
    with pytest.raises(msl.ConfigurationError, match=message):
        complete_with_model(
            doc(sdk, loopback.url), "", "x", attachments=[big], api_key=KEY, registry=registry(sdk)
        )
    assert loopback.requests == []


def test_the_request_limit_counts_every_attachment(loopback: LoopbackServer) -> None:
    half = Attachment.from_bytes(PDF + b"\x00" * (12 * 2**20))
    with pytest.raises(msl.ConfigurationError, match=r"hold \d+ bytes; the limit is 33554432"):
        complete_with_model(
            doc("Anthropic", loopback.url),
            "",
            "x",
            attachments=[half, half, half],
            api_key=KEY,
            registry=registry("Anthropic"),
        )


#: A server in a process of its own (so that the memory measured is the client's): it reads
#: and drops each body, answers the second request (the measured call's first) 503, the
#: others with a completion.
DISCARDING_SERVER = """
import http.server, json, sys
message = {"role": "assistant", "content": "ok"}
answer = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
seen = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        left = int(self.headers["content-length"])
        while left:
            left -= len(self.rfile.read(min(left, 1 << 20)))
        seen.append(1)
        status, body = (503, b'{"error": {"message": "busy"}}') if len(seen) == 2 else (200, answer)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def test_a_20_mb_pdf_costs_one_encoded_copy_of_ours_and_retries_reuse_it() -> None:
    """Memory is measured, not timed: tracemalloc's peak in this process over a call that
    retries once, against a server in another process."""
    import subprocess
    import sys

    server = subprocess.Popen(
        [sys.executable, "-c", DISCARDING_SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        pdf = Attachment.from_bytes(PDF + b"\x00" * (20 * 2**20))
        encoded = len(pdf.data or b"") * 4 // 3
        model = {**doc("OpenAI", url), "retry": {"attempts": 2, "initialDelay": 0.01}}
        complete_with_model(model, "", "warm-up", api_key=KEY, registry=registry("OpenAI"))
        tracemalloc.start()
        try:
            result = complete_with_model(
                model, "", "x", attachments=[pdf], api_key=KEY, registry=registry("OpenAI")
            )
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        server.kill()
        server.wait()
        assert server.stdout is not None
        server.stdout.close()
    assert result.text == "ok" and result.attempts == 2
    # Kept: our one data URL, on the attachment, for the next call. At the peak, beside it,
    # the JSON text and bytes the client library serialises the body into (one attempt's
    # at a time): no copy per attempt.
    assert kept < 1.1 * encoded, kept / encoded
    assert peak < 3.3 * encoded, peak / encoded
    assert pdf.data_url() is pdf.data_url()


# -- content stays out of messages, logs and events ----------------------------------------


def test_attachment_content_reaches_no_log_error_or_event(caplog: pytest.LogCaptureFixture) -> None:
    secret = Attachment.from_bytes(PDF + SECRET_TEXT.encode())
    ended: list[Any] = []

    class Observer:
        @msl.hookimpl
        def metasync_llm_call_ended(self, event: Any) -> None:
            ended.append(event)

    msl.register_observer(Observer())
    caplog.set_level(logging.DEBUG, logger="metasync_llm")
    try:
        complete_with_model(TEST, "", "x", attachments=[secret])
        with pytest.raises(msl.RateLimitError) as info:
            complete_with_model(
                {**TEST, "test": {"error": "rate_limit"}, "retry": {"attempts": 1}},
                "",
                "x",
                attachments=[secret],
            )
    finally:
        msl.unregister_observer("Observer")
    encoded = secret.base64()
    for text in (caplog.text, str(info.value), repr(ended)):
        assert SECRET_TEXT not in text and encoded[:40] not in text


# -- the official specs accept them --------------------------------------------------------


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_the_spec_server_accepts_images_and_pdfs(sdk: str, peer: Callable[[str], str]) -> None:
    if sdk == "AzureOpenAI":
        pytest.skip("the Azure OpenAI 2024-10-21 spec served here rejects valid bodies (README)")
    model = doc(sdk, peer(SDKS[sdk][1]))
    attachments = [Attachment.from_url("https://example.com/cat.png")]
    if sdk != "Gemini":
        # google-genai sends inline data URL-safe: the API's proto3 JSON takes it, the
        # served 2024 spec's pattern does not (the loopback tests above check the bytes).
        attachments.append(Attachment.from_bytes(PNG))
    if sdk not in ("ChatCompletionsClient", "Gemini"):
        attachments.append(Attachment.from_bytes(PDF, name="r.pdf"))
    result = complete_with_model(
        model,
        "Be brief.",
        "Describe.",
        attachments=attachments,
        max_tokens=32,
        api_key=KEY,
        registry=registry(sdk),
    )
    assert isinstance(result.text, str)
    json.dumps(result.to_dict())


# -- the command line and batch jobs -------------------------------------------------------


def _cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    import io

    from metasync_llm.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_complete_attach_sends_each_file(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "b.pdf").write_bytes(PDF)
    code, out, _ = _cli(
        "complete",
        "What?",
        "--attach",
        str(tmp_path / "a.png"),
        "--attach",
        str(tmp_path / "b.pdf"),
        "-q",
    )
    png, pdf = Attachment.from_bytes(PNG), Attachment.from_bytes(PDF)
    assert code == 0 and out == f"Received: {png.describe()}; {pdf.describe()}\n"
    code, _, err = _cli("complete", "What?", "--attach", str(tmp_path / "gone.png"))
    assert code == 2 and "gone.png' cannot be read" in err


def test_chat_attach_adds_a_file_to_the_next_turn(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    turns = f"/attach {tmp_path / 'a.png'}\nwhat is it\n/attach {tmp_path / 'nope.png'}\n"
    code, out, err = _cli("chat", "-q", stdin=turns)
    assert out.splitlines()[0] == f"Received: {Attachment.from_bytes(PNG).describe()}"
    assert "[attached image/png" in err and "nope.png' cannot be read" in err and code == 1


def test_batch_rows_attach_files_relative_to_the_input_and_a_bad_one_is_an_error_row(
    tmp_path: Path,
) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(PNG)
    lines = [
        {"id": 1, "user": "what", "attachments": ["imgs/a.png"], "reasoning": "low"},
        {"id": 2, "user": "what", "attachments": ["imgs/missing.png"]},
    ]
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows: list[dict[str, Any]] = []
    summary = msl.run_batch(str(source), [TEST], on_result=rows.append)
    by_id = {row["id"]: row for row in rows}
    assert by_id[1]["text"] == f"Received: {Attachment.from_bytes(PNG).describe()}"
    assert by_id[2]["error"]["type"] == "ConfigurationError"
    assert "missing.png' cannot be read" in by_id[2]["error"]["message"]
    assert summary.rows == 2
