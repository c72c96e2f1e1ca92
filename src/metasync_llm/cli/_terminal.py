"""Model output bound for a terminal: control characters shown, not obeyed.

A model's answer is untrusted text. Written raw to a terminal, its escape sequences can
retitle the window, clear the screen or rewrite lines the user already read. ``complete``
and ``chat`` pass what they print through :func:`for_terminal`: at a terminal, every
control character but newline and tab is shown as an escape (``\\x1b``); piped or
redirected output stays byte-exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

#: C0 controls but tab and newline, DEL, and the C1 controls (CSI is ``\x9b``).
_SHOWN = {
    code: f"\\x{code:02x}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
    if code not in (0x09, 0x0A)
}


def escaped(text: str) -> str:
    """``text`` with its control characters (but newline and tab) written as escapes."""
    return text.translate(_SHOWN)


def for_terminal(stream: TextIO) -> Callable[[str], str]:
    """What to apply to model text before writing it to ``stream``: :func:`escaped` at a
    terminal, nothing elsewhere."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return escaped if tty else str
