"""JSON repair of model output that never loses data: non-JSON text is returned unchanged."""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)\r?\n?```\s*$", re.DOTALL)


_DECODER = json.JSONDecoder()


def _unfenced(text: str) -> str:
    match = _FENCE.match(text)
    return (match.group(1) if match else text).strip()


def looks_like_json(text: str) -> bool:
    """True when ``text`` (after an optional Markdown code fence) starts like an object or array."""
    return _unfenced(text)[:1] in ("{", "[")


def repair_json_text(text: str) -> tuple[str, bool]:
    """Return ``(text, changed)``: valid JSON for JSON-shaped text, else ``text`` unchanged.

    Strips a Markdown code fence around JSON and mends broken JSON with ``json-repair``.
    Text that does not start like JSON, a complete JSON value followed by more text, and
    text the repair cannot turn into the same kind of value (object or array) come back
    unchanged. Never raises.
    """
    candidate = _unfenced(text)
    if candidate[:1] not in ("{", "["):
        return text, False
    try:
        _, end = _DECODER.raw_decode(candidate)
    except ValueError:
        pass
    else:
        if end == len(candidate):
            # Valid already: only a code fence may have been removed (whitespace is no repair).
            return (candidate, True) if candidate != text.strip() else (text, False)
        # A whole JSON value followed by more text: "repairing" would drop that text.
        return text, False
    try:
        from json_repair import repair_json  # noqa: PLC0415 - only callers that repair pay

        repaired: object = repair_json(candidate, skip_json_loads=True)
    except Exception:  # a repair library bug must not cost the caller the answer
        return text, False
    if not isinstance(repaired, str):
        return text, False
    try:
        value = json.loads(repaired)
    except ValueError:
        return text, False
    # An answer that opened an object must still be an object (and an array an array).
    if isinstance(value, dict) != (candidate[0] == "{") or not repaired.strip():
        return text, False
    return repaired, repaired != text
