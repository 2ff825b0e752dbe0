"""One import namespace: what the wheel installs, what a user's own folders cannot shadow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGES: list[str] = SETUPTOOLS["packages"]
MAPPING: dict[str, str] = SETUPTOOLS["package-dir"]


def folder_of(package: str) -> Path:
    """The repository folder a package is built from, by pyproject's package-dir mapping."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in MAPPING:
            return ROOT / MAPPING[prefix] / Path(*parts[cut:])
    raise AssertionError(f"{package} is not under any mapped folder")


def test_every_package_folder_is_listed_in_pyproject() -> None:
    found = set()
    for top, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            name = ".".join([top, *relative.parts])
            # A folder whose name is not an identifier is data, not a package (the SWE example
            # tasks' own repositories, e.g. swe/tasks/orchestra-examples__stats-5/repo/stats).
            if not any(part.startswith((".", "__")) or not part.isidentifier() for part in relative.parts):
                found.add(name)
    assert found == set(PACKAGES), "list new package folders under [tool.setuptools] packages"


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def test_no_bare_top_level_module_after_importing_everything(tmp_path: Path) -> None:
    modules = []
    for package in PACKAGES:
        modules.append(package)
        for path in folder_of(package).glob("*.py"):
            if path.stem not in {"__init__", "__main__"}:
                modules.append(f"{package}.{path.stem}")
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert not loaded & {"planners", "tools", "benchmarks"}
    assert {"orchestra.planners", "orchestra.tools", "orchestra.benchmarks"} <= loaded


@pytest.mark.timeout(900)
def test_no_package_exports_a_name_equal_to_one_of_its_modules(tmp_path: Path) -> None:
    # A fresh interpreter per package: importing a submodule later would rebind the name.
    def shadowed(package: str) -> list[str]:
        submodules = sorted(
            {p.stem for p in folder_of(package).glob("*.py") if p.stem != "__init__"}
            | {p.name for p in folder_of(package).iterdir() if (p / "__init__.py").exists()}
        )
        code = (
            "import importlib, inspect, json\n"
            f"pkg = importlib.import_module({package!r})\n"
            f"names = {submodules!r}\n"
            "print(json.dumps([n for n in names if hasattr(pkg, n) and not inspect.ismodule(getattr(pkg, n))]))\n"
        )
        proc = _python(code, tmp_path)
        assert proc.returncode == 0, proc.stderr
        return [f"{package}.{name}" for name in json.loads(proc.stdout)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        found = [name for names in pool.map(shadowed, PACKAGES) for name in names]
    assert found == [], "these names are both an exported object and a submodule"


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("orchestra_runtime-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"orchestra"}
    for expected in (
        "orchestra/planners/__init__.py",
        "orchestra/tools/__init__.py",
        "orchestra/tools/data/sample_corpus.jsonl",
        "orchestra/benchmarks/perf/batch_throughput.py",
        "orchestra/py.typed",
        "orchestra/planners/py.typed",
    ):
        assert expected in names
    # Every module of the source tree is in the wheel, under its namespaced path.
    for package in PACKAGES:
        for path in folder_of(package).glob("*.py"):
            assert "/".join([*package.split("."), path.name]) in names


@pytest.fixture
def users_project(tmp_path: Path) -> Path:
    """A user's folder with its own tools.py, tools/ and planners/ (names common in agent projects)."""
    (tmp_path / "tools.py").write_text("raise ImportError('the user tools.py must not be imported')\n")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "__init__.py").write_text("")
    (tmp_path / "planners").mkdir()
    (tmp_path / "planners" / "__init__.py").write_text("")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("")
    return tmp_path


def _orchestra(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestra", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.local_model
def test_run_from_a_folder_with_the_users_own_tools(users_project: Path) -> None:
    proc = _orchestra(users_project, "run", "What is 2+3?", "--tools", "calculator", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["answer"]


@pytest.mark.local_model
def test_demo_from_a_folder_with_the_users_own_planners(users_project: Path) -> None:
    proc = _orchestra(users_project, "demo")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
