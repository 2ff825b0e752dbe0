"""SIGTERM (what docker, systemd and Kubernetes send) stops a batch as Ctrl-C does: the message,
the summary, exit code 143, and an output that resumes exactly once (issue: it stopped silently)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestra.sim import SimConfig, SimProcess


def test_sigterm_is_ctrl_c(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "prompt": f"q{i}"}) + "\n" for i in range(60)))
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig(ttft=0.25, seed=5)) as sim:
        args = [sys.executable, "-m", "orchestra", "batch", "run", str(source), "-o", str(out)]
        args += ["--endpoint", sim.url, "--model", "sim-model", "-c", "4"]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the first rows are on disk
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 143, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
        summary = json.loads((tmp_path / "out.summary.json").read_text())
        assert summary["interrupted"] is True and 0 < summary["this_run"]["ok"] < 60
        again = subprocess.run([*args, "-q"], capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
    ids = [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"r{i}" for i in range(60))
