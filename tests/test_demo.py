"""``orchestra demo`` as a real subprocess on the embedded model: a plan, an answer, overlapping tasks."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.local_model


def test_demo_shows_plan_answer_and_overlapping_tasks():
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "orchestra", "demo"], capture_output=True, text=True, timeout=110, env=env
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "What are the capitals of France and Japan?" in out
    if "fallback plan" in out:  # the model's plan was invalid: the demo must say why
        assert "plan was invalid" in out
    else:
        assert re.search(r"^Plan$", out, re.M) and re.search(r"^1\. search\(", out, re.M)
        assert re.search(r"^Answer\n.+", out, re.M)
    if re.search(r"1\. search and 2\. search overlapped for \d+\.\d\d s", out):
        return
    # The plan streams, so task 2 starts once the model has written it: only a starved CPU (other
    # heavy work on the machine) makes that later than task 1's end. On an idle machine the model
    # writes ~135 tokens/s and the two 2 s searches overlap by ~1.8 s; below 15 tokens/s the
    # overlap is not the executor's to give.
    rate = float(re.search(r"planner: \d+ tokens in [\d.]+ s \((\d+) tokens/s\)", out).group(1))
    assert rate < 15, f"fast planner ({rate} tokens/s) but no overlap:\n{out}"


def test_an_answer_cut_by_the_length_bound_keeps_whole_sentences():
    from orchestra.cli.demo import whole_sentences

    cut = "Paris is the capital of France. Tokyo is the capital of Japan. The capital of Japan,"
    assert (
        whole_sentences(cut, limit=len(cut))
        == "Paris is the capital of France. Tokyo is the capital of Japan."
    )
    assert whole_sentences("Short answer, not cut", limit=120) == "Short answer, not cut"
