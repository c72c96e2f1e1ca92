"""``metasync-llm new-sdk``: write a complete distribution for a new SDK plugin."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from metasync_llm.cli._common import EXIT_OK, UsageError


def add_parser(sub: Any) -> None:
    new_sdk = sub.add_parser("new-sdk", help="write a complete distribution for a new SDK plugin")
    new_sdk.add_argument("name", metavar="NAME", help="the SDK identifier, e.g. MySdk")
    new_sdk.add_argument("--dir", default=".", help="where to write it (default: here)")
    new_sdk.add_argument("--force", action="store_true", help="overwrite an existing folder")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, inp: TextIO) -> int:
    """Write the distribution and say what to do next."""
    from metasync_llm._plugins._scaffold import BEGIN, write_plugin  # noqa: PLC0415 - this command only

    try:
        root = write_plugin(args.name, Path(args.dir), force=args.force)
    except (ValueError, FileExistsError, NotADirectoryError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        where = exc.filename or args.dir
        raise UsageError(f"cannot write the plugin into {where}: {exc.strerror or exc}") from None
    out.write(
        f"wrote {root}\n"
        f"next: write the API call in src/.../plugin.py (look for '{BEGIN}'), then\n"
        f"  pip install -e '{root}[test]'\n"
        f"  metasync-llm sdks            # lists {args.name}\n"
        f"  pytest {root}                # the conformance suite\n"
    )
    return EXIT_OK
