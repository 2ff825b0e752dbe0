"""Start-up stays short: ``import orchestra`` and the command tree load no heavy dependency.

Timings are measured by ``benchmarks/perf/cli_startup.py`` (the machine running tests may be
loaded); here the cause is checked instead: which modules an import pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "openai",
    "aiohttp",
    "httpx2",
    "pydantic",
    "rich",
    "typer",
    "starlette",
    "uvicorn",
    "xllamacpp",
    "ray",
)


def loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nimport json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_import_orchestra_loads_no_heavy_module() -> None:
    assert loaded_after("import orchestra").isdisjoint(HEAVY)


def test_public_names_still_resolve_lazily() -> None:
    loaded = loaded_after("import orchestra; orchestra.ChatRequest; orchestra.tool")
    assert "openai" not in loaded  # the chat types and the tool decorator need no HTTP stack
    import orchestra

    assert orchestra.Agent.__name__ == "Agent"
    with pytest.raises(AttributeError):
        orchestra.no_such_name  # noqa: B018


def test_the_command_tree_loads_no_runtime_dependency() -> None:
    loaded = loaded_after("import orchestra.cli.app")
    # rich is allowed: several command modules draw progress bars and it costs ~20 ms.
    assert loaded.isdisjoint(
        {"openai", "aiohttp", "httpx2", "pydantic", "starlette", "uvicorn", "xllamacpp", "ray"}
    )


def test_version_answers_without_typer() -> None:
    code = "import sys; sys.argv = ['orchestra', '--version']\nfrom orchestra.cli.main import main\nmain()"
    loaded = loaded_after(code)
    assert loaded.isdisjoint(HEAVY)


def test_a_command_imports_only_its_own_command_module() -> None:
    probe = (
        "import sys, json\nfrom orchestra.cli.app import build\nbuild(['batch', 'run', 'in.jsonl'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('orchestra.cli.'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "orchestra.cli.batch" in loaded
    assert loaded.isdisjoint(
        {"orchestra.cli.bench", "orchestra.cli.swe", "orchestra.cli.ttc", "orchestra.cli.trace"}
    )


def test_help_and_typos_still_see_every_command() -> None:
    from orchestra.cli.app import build

    assert {"batch", "bench", "chat", "trace", "ttc"} <= set(build(["--help"]).commands)
    assert {"batch", "bench", "chat", "trace", "ttc"} <= set(build(["bacth"]).commands)
