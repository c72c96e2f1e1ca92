"""``metasync-llm sdks``: the installed SDK plugins, observers and load failures."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from metasync_llm.cli._common import EXIT_FAILED, EXIT_OK
from metasync_llm.registry import ALLOW_ENV, SDKRegistry, environment_summary


def add_parser(sub: Any) -> None:
    sdks = sub.add_parser("sdks", help="list installed SDK plugins and load errors")
    sdks.add_argument("--json", action="store_true", help="print JSON for scripts")
    sdks.add_argument("--check", action="store_true", help="exit 1 when any plugin failed to load")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, inp: TextIO) -> int:
    """List the SDK plugins, observers and load failures."""
    found = SDKRegistry.discovery()
    env = environment_summary()
    if args.json:
        json.dump(
            {
                "sdks": [
                    {
                        "name": n,
                        "distribution": s.info.distribution,
                        "version": s.info.version,
                        "entry_point": s.info.target,
                    }
                    for n, s in sorted(found.sdks.items())
                ],
                "failures": [
                    {
                        "name": f.plugin.name,
                        "distribution": f.plugin.distribution,
                        "version": f.plugin.version,
                        "entry_point": f.plugin.target,
                        "kind": f.kind,
                        "reason": f.reason,
                    }
                    for f in found.failures
                ],
                "observers": [
                    {
                        "name": n,
                        "distribution": i.distribution,
                        "version": i.version,
                        "entry_point": i.target,
                    }
                    for n, i in sorted(found.observers.items())
                ],
                "disabled": [
                    {"name": i.name, "distribution": i.distribution, "version": i.version}
                    for i in found.disabled
                ],
                "allow_list": sorted(found.allow) if found.allow is not None else None,
                "environment": env,
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        rows = [("SDK", "DISTRIBUTION", "VERSION", "ENTRY POINT")] + [
            (n, s.info.distribution or "-", s.info.version or "-", s.info.target)
            for n, s in sorted(found.sdks.items())
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))
            out.write(f"  {row[3]}\n")
        if not found.sdks:
            out.write("(no SDK loaded)\n")
        if found.observers:
            out.write("\nObservers:\n")
            for name, info in sorted(found.observers.items()):
                out.write(f"  {name} ({info.origin})\n")
        if found.failures:
            out.write(f"\nFailed to load ({len(found.failures)}):\n")
            for failure in found.failures:
                out.write(
                    f"  {failure.plugin.name} ({failure.plugin.origin}) [{failure.kind}]:"
                    f" {failure.reason}\n"
                )
        if found.disabled:
            allowed = ",".join(sorted(found.allow or ()))
            out.write(f"\nNot loaded, not in {ALLOW_ENV}={allowed}:\n")
            for info in found.disabled:
                out.write(f"  {info.name} ({info.origin})\n")
        out.write(f"\nPython: {env['python']} ({env['version']}, prefix {env['prefix']})\n")
    return EXIT_FAILED if args.check and found.failures else EXIT_OK
