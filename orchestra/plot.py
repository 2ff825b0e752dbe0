"""Timeline pictures of a trace: SVG, PNG, or one self-contained HTML file.

One lane per concurrent activity (:func:`orchestra.timeline.lanes`: planner stream, tasks, joiner,
interrupts ...), time on the x axis, so overlap is visible at a glance; the critical path
(:func:`orchestra.timeline.critical_path`) is drawn solid with a dark edge, everything else paler.
Every span is one element of the SVG, with the id ``span-<id>`` and a ``<title>`` tooltip.

Drawn with matplotlib (``pip install "orchestra-runtime[plot]"``): it writes SVG and PNG itself,
with no browser, JavaScript runtime or network (plotly needs kaleido and a headless Chrome for
static images), it is maintained by a large team with yearly releases, and its ``Figure`` API
needs no global state (no pyplot), so plotting is safe inside a library.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orchestra.errors import UsageError
from orchestra.timeline import critical_path, lanes
from orchestra.trace import Span

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FORMATS", "plot_timeline", "render_figure"]

FORMATS = ("svg", "png", "html")
_COLOURS = {
    "command": "#9e9e9e",
    "run": "#bdbdbd",
    "plan": "#f2b134",
    "llm": "#b05fc9",
    "task": "#2f9fd0",
    "join": "#3fae5a",
    "row": "#6d7fcc",
    "interrupt": "#e0453a",
}


def _require() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            'timeline pictures need the plot extra: pip install "orchestra-runtime[plot]"'
        ) from None


def _tooltip(span: Span, t0: float) -> str:
    end = span.end if span.end is not None else span.start
    parts = [f"{span.name} ({span.kind})", f"{span.start - t0:.3f}–{end - t0:.3f} s"]
    if "prompt_tokens" in span.attrs:
        parts.append(f"{span.attrs['prompt_tokens']}+{span.attrs.get('completion_tokens', 0)} tokens")
    if span.attrs.get("status") not in (None, "ok"):
        parts.append(str(span.attrs["status"]))
    if span.error:
        parts.append(span.error[:200])
    return " · ".join(parts)


def render_figure(spans: Sequence[Span], *, title: str | None = None) -> Figure:
    """A matplotlib figure of ``spans``: one lane per concurrent activity, critical path highlighted.

    Raises:
        UsageError: matplotlib is not installed, or there are no spans.
    """
    return _draw(spans, title)[0]


def _draw(spans: Sequence[Span], title: str | None) -> tuple[Figure, dict[str, str]]:
    _require()
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not spans:
        raise UsageError("the trace has no spans to draw")
    rows = lanes(spans)
    tips: dict[str, str] = {}
    critical = {s.id for s in critical_path(spans)}
    t0 = min(s.start for s in spans)
    t1 = max((s.end if s.end is not None else s.start) for s in spans)
    total = max(t1 - t0, 1e-6)
    figure = Figure(figsize=(10, 1.2 + 0.36 * len(rows)), layout="constrained")
    axes = figure.add_subplot()
    for y, lane in enumerate(rows):
        for span in lane.spans:
            start = span.start - t0
            end = (span.end if span.end is not None else t1) - t0
            on_path = span.id in critical
            colour = "#e0453a" if span.error else _COLOURS.get(span.kind, "#888888")
            if end - start <= total * 1e-4:  # an instant (an interrupt): a marker, not a bar
                (artist,) = axes.plot([start], [y], marker="v", markersize=9, color=colour, linestyle="none")
            else:
                artist = axes.barh(
                    y, end - start, left=start, height=0.62, color=colour,
                    alpha=1.0 if on_path or not critical else 0.45,
                    edgecolor="#202020" if on_path else "none", linewidth=1.6 if on_path else 0,
                )[0]  # fmt: skip
            lines = [e.time - t0 for e in span.events if e.name == "task"]
            if lines:  # each plan line as it arrived: tasks start at these moments
                axes.plot(
                    lines, [y] * len(lines), marker="|", markersize=14, color="#202020", linestyle="none"
                )
            artist.set_gid(f"span-{span.id}")
            artist.set_url(None)
            artist.set_label("_nolegend_")
            tips[f"span-{span.id}"] = _tooltip(span, t0)
    axes.set_yticks(range(len(rows)), [lane.label for lane in rows])
    axes.invert_yaxis()
    axes.set_xlim(0, total * 1.02)
    axes.set_xlabel("seconds since the start")
    axes.grid(axis="x", alpha=0.3)
    kinds = [k for k in _COLOURS if any(s.kind == k for s in spans)]
    handles: list[Artist] = [Patch(color=_COLOURS[k], label=k) for k in kinds]
    handles.append(Patch(facecolor="white", edgecolor="#202020", linewidth=1.6, label="critical path"))
    if any(e.name == "task" for s in spans for e in s.events):
        handles.append(
            Line2D([], [], marker="|", markersize=10, color="#202020", linestyle="none", label="plan line")
        )
    axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.5 / max(1, len(rows)) - 0.12),
                ncol=min(len(handles), 9), frameon=False, fontsize=8)  # fmt: skip
    if title:
        axes.set_title(title, fontsize=10, loc="left")
    return figure, tips


def _svg(figure: Figure, tips: dict[str, str]) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    # A <title> child gives each span a tooltip in browsers (matplotlib writes ids, not titles).
    for gid, tip in tips.items():
        text = text.replace(f'<g id="{gid}">', f'<g id="{gid}">\n   <title>{html.escape(tip)}</title>', 1)
    return text


def plot_timeline(spans: Sequence[Span], path: str | Path, *, title: str | None = None) -> Path:
    """Draw ``spans`` to ``path``; the suffix picks the format: ``.svg``, ``.png`` or ``.html``
    (one self-contained file: the SVG inline, no scripts or external files).

    Raises:
        UsageError: an unknown suffix, no spans, or matplotlib missing.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"cannot tell the picture format from {path.name!r}: use .svg, .png or .html")
    figure, tips = _draw(spans, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "png":
        figure.savefig(path, format="png", dpi=150)
    elif fmt == "svg":
        path.write_text(_svg(figure, tips), encoding="utf-8")
    else:
        path.write_text(_html(_svg(figure, tips), title or "orchestra trace"), encoding="utf-8")
    return path


def _html(svg: str, title: str) -> str:
    body = svg[svg.index("<svg") :]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1.5em} svg{max-width:100%;height:auto}</style>"
        f'</head><body><h1 style="font-size:1.1em">{html.escape(title)}</h1>\n{body}\n'
        "<p>Hover a bar for its span. Outlined bars are the critical path.</p></body></html>\n"
    )
