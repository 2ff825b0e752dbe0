"""Render a :class:`~orchestra.benchmarks.ttc.compare.Comparison`: a rich table, JSON and a PNG plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestra.benchmarks.ttc.compare import Comparison
from orchestra.benchmarks.ttc.saving import KNEE_GAIN
from orchestra.errors import UsageError

__all__ = ["print_report", "write_json", "write_plot"]

_LABELS = {
    "sc": "fixed-k SC",
    "certaindex": "Certaindex (1 − H/log n)",
    "posterior": "Certaindex (posterior)",
    "adaptive": "adaptive allocation",
    "oracle": "oracle",
}


def _pct(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.1f}"


def _interval(low: float | None, high: float | None, reached: float | None) -> str:
    if low is None or high is None:
        return "–"
    note = "" if reached is None or reached >= 1.0 else f" ({reached:.0%} reach)"
    return f"{_pct(low)} – {_pct(high)}{note}"


def print_report(comparison: Comparison, console: Console) -> None:
    """The saved-samples table and each method's curve, compactly."""
    data = comparison.to_json()
    sc = data["curves"]["sc"]
    console.print(
        f"{comparison.queries} queries, {comparison.seeds} seeds; fixed-k SC at k={comparison.k_max}: "
        f"accuracy {_pct(sc['accuracy'][-1])}, {sc['mean_tokens'][-1]:.0f} tokens/query"
    )
    table = Table(
        title="Samples saved at equal accuracy, on the curves averaged over seeds. Levels come from "
        f"fixed-k SC alone: its knee ({KNEE_GAIN:.0%} of its gain from k=1 to its best k) and its "
        "accuracy at k=N. 95% bootstrap intervals over seeds and over problems"
    )
    for column in (
        "method",
        "level",
        "accuracy",
        "SC's k",
        "samples",
        "saved",
        "over seeds",
        "over problems",
    ):
        table.add_column(column, justify="left" if column in ("method", "level") else "right")
    for name, by_level in data["saved_at_equal_accuracy"].items():
        for level, f in by_level.items():
            table.add_row(
                _LABELS.get(name, name),
                level,
                _pct(f["accuracy"]),
                f"{f['sc_k']:.1f}",
                _num(f["samples"]),
                _pct(f["saved"]),
                _interval(f["seeds_low"], f["seeds_high"], f["seeds_reached"]),
                _interval(f["problems_low"], f["problems_high"], f["problems_reached"]),
            )
    console.print(table)
    curves = Table(title="Accuracy against mean samples per query (mean over seeds)")
    curves.add_column("method")
    curves.add_column("setting → (samples, accuracy, k equivalent)")
    for name, curve in data["curves"].items():
        points = [
            f"{s:g}→({m:.1f}, {_pct(a)}, {'–' if k is None else f'{k:.1f}'})"
            for s, m, a, k in zip(
                curve["settings"],
                curve["mean_samples"],
                curve["accuracy"],
                curve["k_equivalent"],
                strict=True,
            )
        ]
        if name == "sc":
            points = [p for i, p in enumerate(points) if i in (0, 1, 3, 7, 15, len(points) - 1)]
        curves.add_row(_LABELS.get(name, name), "  ".join(points))
    console.print(curves)
    if data["allocator_check"] is not None:
        verdict = "agrees" if data["allocator_check"] else "DISAGREES"
        console.print(
            f"allocator check (Certaindex seed 0 through the allocator and replay endpoint): {verdict}"
        )


def write_json(comparison: Comparison, path: Path) -> Path:
    """Write the comparison's JSON; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
    return path


def write_plot(comparison: Comparison, path: Path) -> Path:
    """Accuracy against mean samples and mean tokens per query, one line per method (PNG).

    Raises:
        UsageError: matplotlib is not installed (``pip install "orchestra-runtime[ttc]"``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError('the plot needs matplotlib: pip install "orchestra-runtime[ttc]"') from exc
    data: dict[str, Any] = comparison.to_json()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for name, curve in data["curves"].items():
        style = {"sc": "o-", "oracle": "k--"}.get(name, ".-")
        for ax, x in zip(axes, ("mean_samples", "mean_tokens"), strict=True):
            ax.plot(curve[x], curve["accuracy"], style, label=_LABELS.get(name, name), markersize=3)
    knee = next(
        (f["knee"]["accuracy"] for f in data["saved_at_equal_accuracy"].values() if "knee" in f), None
    )
    if knee is not None:  # the headline level of the saved-samples figure
        for ax in axes:
            ax.axhline(knee, color="grey", linestyle=":", linewidth=1)
        axes[0].annotate(
            f"fixed-k SC's knee ({KNEE_GAIN:.0%} of its gain)",
            (1, knee),
            fontsize=7,
            color="grey",
            va="bottom",
        )
    axes[0].set_xlabel("mean samples per query")
    axes[1].set_xlabel("mean tokens per query")
    axes[0].set_ylabel("accuracy")
    axes[0].set_xscale("log", base=2)
    axes[1].set_xscale("log", base=2)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{comparison.queries} queries, {comparison.seeds} seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
