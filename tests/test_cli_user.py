"""The ``orchestra`` command as a new user meets it: the real CLI in a subprocess, every command.

- the model you asked for, or an error (never a silent substitute);
- errors are one honest line, with the same exit codes in every command;
- help that teaches (examples, defaults, no type tags, readable at 80 columns).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.sim import SimConfig, SimProcess

ORCHESTRA = [sys.executable, "-m", "orchestra"]
COMMANDS = [
    (),
    ("chat",),
    ("run",),
    ("demo",),
    ("batch", "run"),
    ("batch", "merge"),
    ("bench", "compiler"),
    ("sim", "serve"),
    ("local", "serve"),
]


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``orchestra ARGS`` with no endpoint configured (unless ``env`` says), 80 columns."""
    base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "ORCHESTRA_ENDPOINTS")}
    base.update({"NO_COLOR": "1", "COLUMNS": "80", "XDG_CONFIG_HOME": "/nonexistent-orchestra-config"})
    base.update(env or {})
    return subprocess.run([*ORCHESTRA, *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=60)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error: ...`` line of ``result`` (and nothing else on stderr)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    """A simulator serving exactly one model, gpt-4o-mini, that echoes the question."""
    with SimProcess(SimConfig(models=["gpt-4o-mini"], content="echo", completion_tokens=4)) as process:
        yield process


@pytest.fixture(scope="module")
def two_models() -> Iterator[SimProcess]:
    with SimProcess(SimConfig(models=["alpha", "beta"], completion_tokens=2)) as process:
        yield process


# -- 2. the model you asked for, or an error ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("chat", "hi", "--model", "gpt-4o"),
        ("run", "What is 2 + 3?", "--model", "gpt-4o"),
    ],
)
def test_a_model_with_no_endpoint_is_refused_not_answered_by_the_embedded_one(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    line = one_line_error(result)
    assert "gpt-4o" in line and "OPENAI_BASE_URL" in line and "--endpoint" in line


def test_batch_rows_naming_a_model_with_no_endpoint_are_refused_before_any_download(tmp_path: Path) -> None:
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"id": "a", "prompt": "hi", "model": "gpt-4o-mini"}) + "\n")
    result = cli("batch", "run", str(rows), "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2, result.stderr
    assert "gpt-4o-mini" in one_line_error(result)
    assert not (tmp_path / "out.jsonl").exists()


def test_openai_base_url_selects_the_endpoint(sim: SimProcess, tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": sim.url, "OPENAI_API_KEY": "sk-test"}
    chat = cli("chat", "hello there", "--model", "gpt-4o-mini", env=env)
    assert chat.returncode == 0, chat.stderr
    assert "hello there" in chat.stdout
    rows = tmp_path / "in.jsonl"
    rows.write_text("".join(json.dumps({"id": f"r{i}", "prompt": f"q{i}"}) + "\n" for i in range(3)))
    batch = cli("batch", "run", str(rows), "-o", str(tmp_path / "out.jsonl"), "-q", env=env)
    assert batch.returncode == 0, batch.stderr
    answered = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {r["response"]["body"]["model"] for r in answered} == {"gpt-4o-mini"}


def test_a_single_model_server_needs_no_model_flag(sim: SimProcess) -> None:
    result = cli("chat", "just one model", "--endpoint", sim.url)
    assert result.returncode == 0, result.stderr
    assert "just one model" in result.stdout


def test_a_model_the_endpoint_does_not_serve_is_an_error_naming_what_it_serves(sim: SimProcess) -> None:
    result = cli("chat", "hi", "--endpoint", sim.url, "--model", "gpt-4o")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "does not serve model 'gpt-4o'" in line and "gpt-4o-mini" in line


def test_several_models_and_no_model_flag_asks_for_one(two_models: SimProcess) -> None:
    result = cli("chat", "hi", "--endpoint", two_models.url)
    assert result.returncode == 2
    line = one_line_error(result)
    assert "--model" in line and "alpha" in line and "beta" in line


def test_batch_rows_naming_an_unserved_model_become_error_rows(
    two_models: SimProcess, tmp_path: Path
) -> None:
    rows = tmp_path / "in.jsonl"
    rows.write_text(
        json.dumps({"id": "ok", "prompt": "hi"})
        + "\n"
        + json.dumps({"id": "x", "prompt": "hi", "model": "gpt-4o"})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = cli("batch", "run", str(rows), "-o", str(out), "-e", two_models.url, "-m", "alpha", "-q")
    assert result.returncode == 1, result.stderr  # finished, one row failed
    by_id = {r["custom_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert by_id["ok"]["response"]["body"]["model"] == "alpha"
    assert by_id["x"]["response"] is None and "gpt-4o" in by_id["x"]["error"]["message"]


def test_a_base_url_without_v1_suggests_it(sim: SimProcess) -> None:
    bare = sim.url.removesuffix("/v1")
    result = cli("chat", "hi", "--endpoint", bare, "--model", "gpt-4o-mini")
    assert result.returncode == 2
    assert f"did you mean {bare}/v1?" in one_line_error(result)


def test_orchestra_endpoints_and_the_default_location_name_the_file(sim: SimProcess, tmp_path: Path) -> None:
    toml = f'[[endpoints]]\nname = "mine"\nbase_url = "{sim.url}"\nmodel = "gpt-4o-mini"\n'
    named = tmp_path / "elsewhere.toml"
    named.write_text(toml)
    by_env = cli("chat", "via env", "--endpoint", "mine", env={"ORCHESTRA_ENDPOINTS": str(named)})
    assert by_env.returncode == 0, by_env.stderr
    assert "via env" in by_env.stdout
    config = tmp_path / "config"
    (config / "orchestra").mkdir(parents=True)
    (config / "orchestra" / "endpoints.toml").write_text(toml)
    by_default = cli("chat", "via default file", env={"XDG_CONFIG_HOME": str(config)})
    assert by_default.returncode == 0, by_default.stderr
    assert "via default file" in by_default.stdout


def test_an_endpoints_file_from_the_environment_routes_rows_by_model(
    sim: SimProcess, two_models: SimProcess, tmp_path: Path
) -> None:
    toml = f'[[endpoints]]\nname = "a"\nbase_url = "{two_models.url}"\nmodel = "alpha"\n'
    toml += f'[[endpoints]]\nname = "g"\nbase_url = "{sim.url}"\nmodel = "gpt-4o-mini"\n'
    (tmp_path / "e.toml").write_text(toml)
    rows = tmp_path / "in.jsonl"
    rows.write_text(
        "".join(json.dumps({"id": m, "prompt": "hi", "model": m}) + "\n" for m in ("alpha", "gpt-4o-mini"))
    )
    out = tmp_path / "out.jsonl"
    result = cli(
        "batch", "run", str(rows), "-o", str(out), "-q", env={"ORCHESTRA_ENDPOINTS": str(tmp_path / "e.toml")}
    )
    assert result.returncode == 0, result.stderr
    by_id = {
        r["custom_id"]: r["response"]["body"]["model"] for r in map(json.loads, out.read_text().splitlines())
    }
    assert by_id == {"alpha": "alpha", "gpt-4o-mini": "gpt-4o-mini"}


# -- 3. errors are one honest line -----------------------------------------------------------------------


def test_brackets_in_messages_are_printed_not_eaten(tmp_path: Path) -> None:
    odd = tmp_path / "[/red]x[bold]"
    odd.mkdir(parents=True)
    missing = odd / "endpoints.toml"
    result = cli("chat", "hi", "--endpoints", str(missing))
    assert result.returncode == 2
    assert str(missing) in one_line_error(result)
    bad = tmp_path / "bad.toml"
    bad.write_text("title = 1\n")
    result = cli("chat", "hi", "--endpoints", str(bad), "--endpoint", "x")
    assert result.returncode == 2
    assert "[[endpoints]]" in one_line_error(result)
    batch = cli("batch", "run", str(odd / "in.jsonl"), "-o", str(tmp_path / "[o].jsonl"))
    assert batch.returncode == 2
    assert str(odd / "in.jsonl") in one_line_error(batch)


@pytest.mark.parametrize(
    "args",
    [
        ("run", ""),
        ("run", "   "),
        ("chat", ""),
        ("chat", " \t "),
    ],
)
def test_a_blank_question_is_a_usage_error(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert "empty or blank" in result.stderr and "Traceback" not in result.stderr


def test_a_directory_given_as_a_file_is_reported_as_a_directory(tmp_path: Path) -> None:
    for args in (
        ("batch", "run", str(tmp_path), "-o", str(tmp_path / "o.jsonl")),
        ("batch", "merge", str(tmp_path), "-o", str(tmp_path / "o.jsonl")),
        ("chat", "hi", "--endpoints", str(tmp_path)),
        ("run", "hi", "--endpoints", str(tmp_path)),
    ):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "is a directory" in one_line_error(result), args


def test_a_missing_file_exits_2_in_every_command(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    for args in (
        ("batch", "run", missing, "-o", str(tmp_path / "o.jsonl")),
        ("batch", "merge", missing, "-o", str(tmp_path / "o.jsonl")),
        ("chat", "hi", "--endpoints", missing),
        ("run", "hi", "--endpoints", missing),
        ("run", "hi", "--tools", "search", "--corpus", missing),
    ):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert missing in one_line_error(result), args


def test_an_unreachable_endpoint_is_a_failure_with_exit_1(tmp_path: Path) -> None:
    closed = "http://127.0.0.1:9/v1"
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"id": "a", "prompt": "hi"}) + "\n")
    for args in (
        ("chat", "hi", "-e", closed, "-m", "m"),
        ("run", "hi", "-e", closed, "-m", "m"),
        ("batch", "run", str(rows), "-o", str(tmp_path / "o.jsonl"), "-e", closed, "-m", "m"),
    ):
        result = cli(*args)
        assert result.returncode == 1, (args, result.stderr)
        assert "127.0.0.1:9" in one_line_error(result), args


def test_an_exception_group_is_unwrapped_to_its_one_line() -> None:
    from orchestra.cli.boundary import exit_code, one_line
    from orchestra.errors import EndpointError, UsageError

    group = ExceptionGroup(
        "outer", [ExceptionGroup("inner", [UsageError("output is the input")]), EndpointError("x")]
    )
    assert one_line(group) == "output is the input"
    assert exit_code(group) == 2
    assert exit_code(BaseExceptionGroup("g", [KeyboardInterrupt()])) == 130
    assert one_line(IsADirectoryError(21, "Is a directory", "/tmp/d")) == "/tmp/d is a directory, not a file"


def test_our_own_messages_keep_their_brackets() -> None:
    import io

    from orchestra.cli.boundary import report
    from orchestra.errors import UsageError

    out = io.StringIO()
    assert report(UsageError("--engine ray needs Ray: pip install 'orchestra-runtime[ray]'"), out) == 2
    assert out.getvalue() == "error: --engine ray needs Ray: pip install 'orchestra-runtime[ray]'\n"


# -- 4. help that teaches ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(("orchestra", *c)))
def test_every_command_has_an_example_and_plain_80_column_help(command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Examples:" in text and " ".join(("orchestra", *command)) in text.split("Examples:")[1]
    assert not re.search(r"\{\w+\}|<(bool|str|int|float|path|int range|float range)>", text), text
    assert "[default: False]" not in text
    assert all(len(line) <= 80 for line in text.splitlines()), max(text.splitlines(), key=len)
    assert not re.search(r"\bissue\s*#?\d", text, re.IGNORECASE)


def test_help_shows_defaults_even_where_the_flag_defers_to_the_config() -> None:
    text = cli("sim", "serve", "--help").stdout
    assert re.search(r"--ttft NUMBER\s+Seconds to the first token.\s+\[default: 0.0\]", text), text
    assert "[default: sim-model]" in text and "[default: 8787]" in text


def test_help_describes_the_built_in_tools() -> None:
    text = " ".join(cli("run", "--help").stdout.split())
    assert "BM25" in text and "sample corpus" in text and "--corpus" in text
    assert "calculator" in text and "python" in text


def test_bench_compiler_offers_concurrency() -> None:
    assert "--concurrency" in cli("bench", "compiler", "--help").stdout


def test_the_product_never_mentions_its_own_issue_numbers() -> None:
    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"\bissues?\s+#?\d+\b|\(issue\s+\d+\)", re.IGNORECASE)
    offenders = []
    for folder in ("orchestra", "planners", "tools", "benchmarks", "examples", "docs"):
        for path in (root / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".toml") and pattern.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(root)))
    readme = root / "README.md"
    if pattern.search(readme.read_text(encoding="utf-8")):
        offenders.append("README.md")
    assert offenders == []


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    with SimProcess(SimConfig(ttft=30.0)) as slow:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "ORCHESTRA_ENDPOINTS")}
        proc = subprocess.Popen(
            [*ORCHESTRA, "chat", "hi", "-e", slow.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "NO_COLOR": "1"},
        )
        deadline = time.monotonic() + 60
        while slow.stats().requests == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() in ("", "interrupted"), err  # no traceback
