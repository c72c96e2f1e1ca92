"""The totals of a batch job, per model: calls, failures by type, tokens, cost, time."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelTotals:
    """One model's share of a job."""

    calls: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: dict[str, float] = field(default_factory=dict)  # by currency
    seconds: float = 0.0  # the calls' own time, summed

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "succeeded": self.calls - self.failed,
            "failed": self.failed,
            "failures": dict(self.failures),
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.total_tokens,
            },
            "cost": {currency: round(amount, 10) for currency, amount in self.cost.items()},
            "seconds": round(self.seconds, 3),
        }


class BatchSummary:
    """The job's totals, per model, kept as rows arrive (rows kept from an earlier run of a
    resumed job included, counted apart in ``resumed``)."""

    def __init__(self) -> None:
        self.models: dict[str, ModelTotals] = {}
        self.rows = 0
        self.failed = 0
        self.resumed = 0
        self.total_tokens = 0
        self.cost: dict[str, float] = {}
        self.started = time.monotonic()
        self.finished: float | None = None
        self.interrupted = False

    def add(self, row: dict[str, Any], *, resumed: bool = False) -> None:
        """Count one output row."""
        self.rows += 1
        self.resumed += resumed
        name = row.get("model")
        totals = self.models.setdefault(
            str(name) if name is not None else "(no model)", ModelTotals()
        )
        totals.calls += 1
        error = row.get("error")
        if error:
            self.failed += 1
            totals.failed += 1
            totals.failures[str(error.get("type") if isinstance(error, dict) else error)] += 1
        usage = row.get("usage") or {}
        for attr, key in (
            ("prompt_tokens", "prompt"),
            ("completion_tokens", "completion"),
            ("total_tokens", "total"),
        ):
            value = usage.get(key) if isinstance(usage, dict) else None
            if isinstance(value, int):
                setattr(totals, attr, getattr(totals, attr) + value)
                if key == "total":
                    self.total_tokens += value
        cost = row.get("cost")
        if isinstance(cost, dict) and isinstance(cost.get("total"), int | float):
            currency = str(cost.get("currency") or "")
            totals.cost[currency] = totals.cost.get(currency, 0.0) + cost["total"]
            self.cost[currency] = self.cost.get(currency, 0.0) + cost["total"]
        elapsed = row.get("elapsed")
        if isinstance(elapsed, int | float):
            totals.seconds += elapsed

    @property
    def seconds(self) -> float:
        """Wall-clock seconds of this run."""
        return (self.finished or time.monotonic()) - self.started

    def cost_text(self) -> str:
        if not self.cost:
            return "cost ?"
        return ", ".join(
            f"{amount:.6f} {currency}".strip() for currency, amount in self.cost.items()
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON (``--summary FILE``)."""
        return {
            "rows": self.rows,
            "succeeded": self.rows - self.failed,
            "failed": self.failed,
            "resumed": self.resumed,
            "tokens": self.total_tokens,
            "cost": {currency: round(amount, 10) for currency, amount in self.cost.items()},
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "models": {name: totals.to_dict() for name, totals in self.models.items()},
        }

    def render(self) -> str:
        """A table for people, one line per model."""
        lines = [
            f"batch: {_count(self.rows, 'row')} ({self.resumed} from earlier runs),"
            f" {self.failed} failed,"
            f" {self.total_tokens} tokens, {self.cost_text()}, {self.seconds:.1f}s"
            + (" (interrupted: run again with --resume)" if self.interrupted else "")
        ]
        for name, totals in sorted(self.models.items()):
            failures = ", ".join(f"{kind} {n}" for kind, n in totals.failures.most_common())
            cost = ", ".join(f"{a:.6f} {c}".strip() for c, a in totals.cost.items()) or "?"
            lines.append(
                f"  {name}: {_count(totals.calls, 'call')}, {totals.failed} failed"
                + (f" ({failures})" if failures else "")
                + f", {totals.total_tokens} tokens, cost {cost}, {totals.seconds:.1f}s of calls"
            )
        return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
