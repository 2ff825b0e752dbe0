"""Lay the sources out as a wheel installs them, for tools that read packages from disk.

The repository keeps ``planners/``, ``tools/`` and ``benchmarks/`` at its root, and setuptools'
``package-dir`` maps them into ``orchestra.*``. mypy and import-linter (grimp) find modules by
walking directories, not through the editable install's import hook, so CI copies the mapped
tree into one folder first and points them there.

Usage: ``python .ci/layout.py DEST``; prints DEST.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

root = Path(__file__).resolve().parent.parent
dest = Path(sys.argv[1]).resolve()
mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
shutil.rmtree(dest, ignore_errors=True)
# Parents first, so a mapped child (orchestra.planners) lands inside its parent's copy.
for package, folder in sorted(mapping.items(), key=lambda item: item[0].count(".")):
    shutil.copytree(
        root / folder, dest.joinpath(*package.split(".")), ignore=shutil.ignore_patterns("__pycache__")
    )
print(dest)
