"""``metasync-llm usage``: calls, failures, tokens, cost and latency from the usage ledger."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from metasync_llm.cli._common import EXIT_OK, UsageError


def add_parser(sub: Any) -> None:
    usage = sub.add_parser(
        "usage",
        help="calls, failures, tokens, cost and latency from the usage ledger",
        description="Report the calls recorded in the usage ledger (METASYNC_LLM_LEDGER).",
    )
    usage.add_argument("--db", metavar="PATH", help="the ledger (default: $METASYNC_LLM_LEDGER)")
    usage.add_argument(
        "--since", metavar="WHEN", help="only calls since a date, a time, or an age (7d, 12h)"
    )
    usage.add_argument(
        "--by", choices=("model", "sdk", "day"), default="model", help="group by (default model)"
    )
    usage.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, inp: TextIO) -> int:
    """Report the ledger's calls, grouped."""
    import os  # noqa: PLC0415

    from metasync_llm import ledger  # noqa: PLC0415 - this command only
    from metasync_llm.registry import LEDGER_ENV  # noqa: PLC0415

    path = args.db or os.environ.get(LEDGER_ENV)
    if not path:
        raise UsageError(f"no ledger: give --db PATH or set {LEDGER_ENV}")
    try:
        since = ledger.parse_since(args.since) if args.since else None
        rows = ledger.usage(path, since=since, by=args.by)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        json.dump([row.to_dict() for row in rows], out, indent=2)
        out.write("\n")
    else:
        out.write(ledger.render(rows, args.by) + "\n")
    return EXIT_OK
