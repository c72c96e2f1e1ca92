"""The library's loggers, made on first use: ``logging`` costs ~3 ms to import at every start."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (under ``metasync_llm``), importing ``logging`` on first use."""
    import logging  # noqa: PLC0415 - see the module docstring

    root = logging.getLogger("metasync_llm")
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        # A library logs but never prints: without this, Python's last-resort handler would
        # write warnings (a broken plugin) to stderr of services that configured no logging.
        root.addHandler(logging.NullHandler())
    return logging.getLogger(name)
