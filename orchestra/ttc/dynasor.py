"""Certaindex for one chain of thought (Dynasor-CoT): probe the partial reasoning, stop when sure.

Dynasor (Fu et al.) lets one long reasoning chain grow ``probe_every`` tokens at a time. After
each step it sends a side request: the partial reasoning followed by the probe suffix
``… **Final Answer** \\boxed{``, allowed a few tokens, which makes the model state the answer it
would give now. The chain stops once the last ``window`` probe answers are non-empty, agree after
normalisation, and none contains a hedge word ("wait", "hmm", ...).

Two details the public code gets wrong are right here:

- Hedge words match as whole words: "denominator" does not contain the word "no".
- Every stop checks that the answers agree; Dynasor's public code has a path that stops on
  non-empty, unhedged probe answers without comparing them.

Each step's continuation and its probe are separate units, both charged to the budget. The
continuation is requested as a final assistant message to be continued (the prefill that
llama.cpp and vLLM honour).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from orchestra.chat import ChatRequest, Message
from orchestra.errors import UsageError
from orchestra.ttc.answers import extract_answer, normalize_answer
from orchestra.ttc.program import Selection, UnitKind, UnitResult, WorkUnit

__all__ = ["DEFAULT_HEDGES", "PROBE_SUFFIX", "DynasorCoT", "has_hedge", "probe_answer", "probes_agree"]

PROBE_SUFFIX = "\n\n... Oh, I suddenly got the answer to the whole problem, **Final Answer**\n\n\\boxed{"
"""Appended to the partial reasoning to make the model state its current answer (Dynasor's)."""

DEFAULT_HEDGES = ("wait", "hold", "but", "okay", "no", "hmm", "maybe", "perhaps", "not sure")
"""Words that mark a probe answer as unsure (Dynasor's list, and a few more)."""


def _hedge_pattern(hedges: Sequence[str]) -> re.Pattern[str]:
    words = "|".join(re.escape(h).replace(r"\ ", r"\s+") for h in hedges)
    return re.compile(rf"(?<![\w'])(?:{words})(?![\w'])", re.IGNORECASE)


_DEFAULT_PATTERN = _hedge_pattern(DEFAULT_HEDGES)


def has_hedge(text: str, hedges: Sequence[str] = DEFAULT_HEDGES) -> bool:
    """Whether ``text`` contains one of ``hedges`` as a whole word (case-insensitive).

    >>> has_hedge("the denominator is 4"), has_hedge("No, it is 4"), has_hedge("wait...")
    (False, True, True)
    """
    pattern = _DEFAULT_PATTERN if tuple(hedges) == DEFAULT_HEDGES else _hedge_pattern(hedges)
    return pattern.search(text) is not None


def probe_answer(text: str) -> str | None:
    """The answer a probe completed: its text up to the ``}`` closing the ``\\boxed{``, normalised."""
    depth, end = 1, len(text)
    for i, ch in enumerate(text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            end = i
            break
    answer = normalize_answer(text[:end])
    return answer or None


def probes_agree(
    probes: Sequence[tuple[str | None, str]], window: int, hedges: Sequence[str] = DEFAULT_HEDGES
) -> bool:
    """Dynasor-CoT's stopping rule over ``(answer, raw text)`` probes in chain order.

    True only if there are at least ``window`` probes and the last ``window`` all have an
    answer, all name the *same* answer, and none hedges.
    """
    if window < 1 or len(probes) < window:
        return False
    last = probes[-window:]
    answers = [a for a, _ in last]
    if any(a is None for a in answers) or any(has_hedge(raw, hedges) for _, raw in last):
        return False
    return len(set(answers)) == 1


class DynasorCoT:
    """One chain of thought grown ``probe_every`` tokens at a time, probed after each step.

    Args:
        request: the question (its ``max_tokens`` is ignored: ``max_tokens`` below bounds the chain).
        probe_every: tokens per step between probes (Dynasor's k).
        window: probes that must agree (Dynasor's w).
        max_tokens: the chain's completion tokens at most.
        probe_tokens: tokens a probe may write.
        query_id: names the query (cache affinity: the chain and its probes share a prefix).
        hedges: words that make a probe unsure.

    Raises:
        UsageError: non-positive sizes.
    """

    def __init__(
        self,
        request: ChatRequest,
        *,
        probe_every: int = 64,
        window: int = 3,
        max_tokens: int = 2048,
        probe_tokens: int = 16,
        query_id: str = "q",
        hedges: Sequence[str] = DEFAULT_HEDGES,
    ) -> None:
        if min(probe_every, window, max_tokens, probe_tokens) < 1:
            raise UsageError("DynasorCoT: probe_every, window, max_tokens and probe_tokens must be >= 1")
        self.request = request
        self.probe_every = probe_every
        self.window = window
        self.max_tokens = max_tokens
        self.probe_tokens = probe_tokens
        self.query_id = query_id
        self.hedges = tuple(hedges)
        self.chain = ""
        self.chain_tokens = 0
        self.finished = False  # the chain ended by itself (or failed)
        self.steps = 0
        self.chain_at: dict[int, str] = {}  # step -> the chain after it, which its probe extends
        self._probes: dict[int, tuple[str | None, str]] = {}  # step -> (answer, raw)
        self._continuing = False
        self._to_probe: list[int] = []

    def _request(self, partial: str, max_tokens: int) -> ChatRequest:
        messages = [*self.request.messages]
        if partial:
            messages.append(Message(role="assistant", content=partial))
        return self.request.model_copy(update={"messages": messages, "max_tokens": max_tokens, "n": 1})

    def ordered_probes(self) -> list[tuple[str | None, str]]:
        """Probe results in chain order, up to the first one still missing."""
        out = []
        for step in range(1, self.steps + 1):
            if step not in self._probes:
                break
            out.append(self._probes[step])
        return out

    @property
    def certain(self) -> bool:
        """Whether the probes so far satisfy the stopping rule."""
        return probes_agree(self.ordered_probes(), self.window, self.hedges)

    @property
    def done(self) -> bool:
        return self.finished or self.chain_tokens >= self.max_tokens or self.certain

    def propose(self) -> Sequence[WorkUnit]:
        if self.done:
            return []
        units = []
        for step in self._to_probe:
            probe = self._request(self.chain_at[step] + PROBE_SUFFIX, self.probe_tokens)
            units.append(WorkUnit(UnitKind.PROBE, probe, value=1.0, prefix=self.query_id, tag=step))
        self._to_probe = []
        if not self._continuing:
            self._continuing = True
            size = min(self.probe_every, self.max_tokens - self.chain_tokens)
            units.append(WorkUnit(UnitKind.CONTINUE, self._request(self.chain, size), prefix=self.query_id))
        return units

    def observe(self, result: UnitResult) -> None:
        if result.unit.kind is UnitKind.PROBE:
            step: Any = result.unit.tag
            raw = "" if result.error else result.text
            self._probes[int(step)] = (probe_answer(raw) if raw else None, raw)
            return
        self._continuing = False
        if result.error is not None:
            self.finished = True
            return
        self.chain += result.text
        self.chain_tokens += result.completion_tokens
        self.steps += 1
        self.chain_at[self.steps] = self.chain
        if result.finish_reason not in (None, "length"):
            self.finished = True  # the chain stated its own end: no probe needed
        else:
            self._to_probe.append(self.steps)

    def select(self) -> Selection:
        probes = self.ordered_probes()
        certain = probes_agree(probes, self.window, self.hedges)
        if certain:
            answer = probes[-1][0]
        else:
            answer = extract_answer(self.chain) if self.chain else None
            if answer is None and probes:
                answer = probes[-1][0]
        agreeing = sum(1 for a, _ in probes[-self.window :] if a is not None and a == answer)
        certainty = 1.0 if certain else agreeing / self.window
        return Selection(
            answer,
            certainty,
            self.steps,
            {"probes": [a for a, _ in probes], "chain_tokens": self.chain_tokens},
        )
