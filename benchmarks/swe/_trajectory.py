"""Read recorded agent runs as replay steps: mini-swe-agent trajectories and orchestra traces.

mini-swe-agent (format ``mini-swe-agent-1.1``, ``*.traj.json``): ``messages`` in the OpenAI
chat format, each with an ``extra`` dict. An assistant message's ``extra`` has ``actions``
(``[{"command": ...}]``), ``timestamp`` (when the response arrived, epoch seconds) and
``response.usage``; each observation (role ``user`` or ``tool``) has ``extra.timestamp`` (when
the command finished) and ``extra.returncode``. So a model call lasted from the previous
timestamp to its own, and an action from the one before its observation to its observation. The
first call has no timestamp before it: its time is estimated from its completion tokens at the
median seconds per token of the other calls.

orchestra traces (``*.trace.jsonl`` from ``orchestra bench swe solve --trace-dir``): one span per
line; ``llm``/``plan``/``join`` spans are model calls, ``task`` spans are tool calls with
``attrs.tool`` and ``attrs.args``; a task belongs to the last model call that started before it.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

from orchestra.benchmarks.swe._effects import effects_of_command, effects_of_tool
from orchestra.benchmarks.swe._replay import Action, Step
from orchestra.errors import UsageError
from orchestra.text_files import json_lines, read_user_text

__all__ = ["Run", "read_mini_swe_agent", "read_orchestra_trace", "read_run"]

_CD_ROOT = re.compile(r"(?:^|&&|;)\s*cd\s+(/[^\s;&|]+)")
_MODEL_KINDS = ("llm", "plan", "join")


class Run:
    """A recorded run: its steps and its own wall time."""

    def __init__(self, name: str, steps: list[Step], recorded: float | None, fmt: str) -> None:
        self.name, self.steps, self.recorded, self.format = name, steps, recorded, fmt


def _root_of(commands: list[str]) -> str:
    for command in commands:
        found = _CD_ROOT.search(command)
        if found:
            return found.group(1).rstrip("/")
    return ""


def _completion_tokens(extra: dict[str, Any]) -> int:
    usage = (extra.get("response") or {}).get("usage") or {}
    value = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return int(value) if isinstance(value, int | float) else 0


def _first_call_seconds(model_times: list[float], tokens: list[int]) -> float:
    rates = [t / n for t, n in zip(model_times[1:], tokens[1:], strict=False) if n > 0]
    if rates and tokens[0] > 0:
        return statistics.median(rates) * tokens[0]
    return statistics.median(model_times[1:]) if len(model_times) > 1 else 0.0


def read_mini_swe_agent(path: Path, data: dict[str, Any] | None = None) -> Run:
    """A mini-swe-agent trajectory as steps.

    Raises:
        UsageError: not a mini-swe-agent trajectory, or no timestamps in it.
    """
    data = data if data is not None else json.loads(read_user_text(path))
    fmt = str(data.get("trajectory_format", ""))
    messages = data.get("messages")
    if not fmt.startswith("mini-swe-agent") or not isinstance(messages, list):
        raise UsageError(f"{path}: not a mini-swe-agent trajectory (no trajectory_format/messages)")
    commands = [
        str(a.get("command", ""))
        for m in messages
        for a in ((m.get("extra") or {}).get("actions") or [])
        if isinstance(a, dict)
    ]
    root = _root_of(commands)
    calls: list[tuple[float, list[str], int]] = []  # model end, commands, completion tokens
    durations: list[list[float]] = []
    model_times: list[float] = []
    last: float | None = None
    for message in messages:
        extra = message.get("extra") or {}
        stamp = extra.get("timestamp")
        if not isinstance(stamp, int | float):
            continue
        if message.get("role") == "assistant":
            acts = [str(a.get("command", "")) for a in (extra.get("actions") or []) if isinstance(a, dict)]
            model_times.append(stamp - last if last is not None else -1.0)
            calls.append((float(stamp), acts, _completion_tokens(extra)))
            durations.append([])
        elif "returncode" in extra and calls:
            durations[-1].append(stamp - (last if last is not None else stamp))
        last = float(stamp)
    if not calls:
        raise UsageError(f"{path}: no timestamped assistant messages")
    model_times[0] = _first_call_seconds(model_times, [c[2] for c in calls])
    steps = []
    for (_, acts, _), seconds, times in zip(calls, model_times, durations, strict=True):
        actions = tuple(
            Action(cmd[:80], times[k] if k < len(times) else 0.0, effects_of_command(cmd, root))
            for k, cmd in enumerate(acts)
        )
        steps.append(Step(max(0.0, seconds), actions))
    recorded = (last or 0.0) - (calls[0][0] - model_times[0])
    return Run(path.name, steps, recorded, fmt)


def read_orchestra_trace(path: Path) -> Run:
    """An orchestra trace (JSONL spans) as steps.

    Raises:
        UsageError: a line that is not a span, or no model calls.
    """
    spans = []
    for _, span in json_lines(read_user_text(path), str(path)):
        if (
            isinstance(span, dict)
            and isinstance(span.get("start"), int | float)
            and span.get("end") is not None
        ):
            spans.append(span)
    spans.sort(key=lambda s: s["start"])
    models = [s for s in spans if s.get("kind") in _MODEL_KINDS]
    if not models:
        raise UsageError(f"{path}: no model calls (llm/plan/join spans) in this trace")
    owned: list[list[Action]] = [[] for _ in models]
    for span in spans:
        if span.get("kind") != "task":
            continue
        owner = max((i for i, m in enumerate(models) if m["start"] <= span["start"]), default=0)
        attrs = span.get("attrs") or {}
        tool = str(attrs.get("tool", span.get("name", "")))
        raw = attrs.get("args")
        args: dict[str, object] = dict(raw) if isinstance(raw, dict) else {}
        owned[owner].append(
            Action(str(span.get("name", tool)), span["end"] - span["start"], effects_of_tool(tool, args))
        )
    steps = [Step(m["end"] - m["start"], tuple(acts)) for m, acts in zip(models, owned, strict=True)]
    recorded = max(s["end"] for s in spans) - spans[0]["start"]
    return Run(path.name, steps, recorded, "orchestra-trace")


def read_run(path: str | Path) -> Run:
    """A mini-swe-agent ``*.traj.json`` or an orchestra ``*.jsonl`` trace, by its content.

    Raises:
        UsageError: a missing file or neither format.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    text = read_user_text(path)
    if text.lstrip().startswith("{") and '"messages"' in text[:200_000]:
        try:
            return read_mini_swe_agent(path, json.loads(text))
        except json.JSONDecodeError:
            pass
    return read_orchestra_trace(path)
