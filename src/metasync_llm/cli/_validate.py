"""``metasync-llm validate``: check the model documents in a JSON file, each on its own."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any, TextIO

from metasync_llm._routing._documents import check_routes, is_route
from metasync_llm.cli._common import EXIT_FAILED, EXIT_OK, load_documents
from metasync_llm.connector import validate_model
from metasync_llm.errors import ConfigurationError, MetasyncLLMError


def add_parser(sub: Any) -> None:
    validate = sub.add_parser("validate", help="check model documents in a JSON file")
    validate.add_argument(
        "model_file",
        metavar="FILE",
        help="a JSON file with one model document or a list of them",
    )
    validate.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, inp: TextIO) -> int:
    """Check each document of the file; exit 1 when any is invalid."""
    documents = load_documents(args.model_file)
    routes = check_routes(documents)
    report = []
    for index, doc in enumerate(documents):
        name = doc.get("name") if isinstance(doc, Mapping) else None
        label = str(name) if name else f"document #{index + 1}"
        if is_route(doc):  # names that resolve, no cycle, a known strategy
            problem = routes.get(label)
            report.append(
                {
                    "model": label,
                    "sdk": "route",
                    "valid": problem is None,
                    "error": problem,
                    "fields": ["route"] if problem else [],
                }
            )
            continue
        try:
            settings = validate_model(doc)
        except (ConfigurationError, MetasyncLLMError) as exc:
            report.append(
                {
                    "model": label,
                    "sdk": getattr(exc, "sdk", None),
                    "valid": False,
                    "error": str(exc),
                    "fields": list(getattr(exc, "fields", ())),
                }
            )
        else:
            report.append(
                {"model": label, "sdk": settings.sdk, "valid": True, "error": None, "fields": []}
            )
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        for row in report:
            sdk = f" ({row['sdk']})" if row["sdk"] else ""
            if row["valid"]:
                out.write(f"ok       {row['model']}{sdk}\n")
            else:
                out.write(f"invalid  {row['model']}{sdk}: {row['error']}\n")
        bad = sum(not r["valid"] for r in report)
        out.write(f"{len(report) - bad} valid, {bad} invalid\n")
    return EXIT_FAILED if any(not r["valid"] for r in report) else EXIT_OK
