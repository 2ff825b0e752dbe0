"""File tools: normal use works, and no path reaches outside the root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestra._tool import Tool
from orchestra.errors import ToolError, UsageError
from orchestra.tools._files import Confinement, make_files


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, dict[str, Tool]]:
    """A root with some files, and a secret file next to (outside) it."""
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("alpha")
    (root / "b.md").write_text("# bravo\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP SECRET")
    tools = {t.name: t for t in make_files(root, max_read_bytes=100, max_write_bytes=50)}
    return root, outside, tools


async def test_read_write_list(layout: tuple[Path, Path, dict[str, Tool]]) -> None:
    root, _, tools = layout
    assert await tools["read_file"].call({"path": "docs/a.txt"}) == "alpha"
    written = await tools["write_file"].call({"path": "new/dir/c.txt", "content": "charlie ✓"})
    assert written == {"path": "new/dir/c.txt", "bytes": len("charlie ✓".encode())}
    assert (root / "new" / "dir" / "c.txt").read_text() == "charlie ✓"
    assert await tools["read_file"].call({"path": "./new/dir/../dir/c.txt"}) == "charlie ✓"
    listing = await tools["list_dir"].call({})
    assert listing == [
        {"name": "b.md", "type": "file", "size": 8},
        {"name": "docs", "type": "dir", "size": None},
        {"name": "new", "type": "dir", "size": None},
    ]
    assert [e["name"] for e in await tools["list_dir"].call({"path": "docs"})] == ["a.txt"]


async def test_overwrite_replaces_content(layout: tuple[Path, Path, dict[str, Tool]]) -> None:
    root, _, tools = layout
    await tools["write_file"].call({"path": "docs/a.txt", "content": "z"})
    assert (root / "docs" / "a.txt").read_text() == "z"


@pytest.mark.parametrize("tool_name", ["read_file", "list_dir", "write_file"])
@pytest.mark.parametrize("escape", ["../secret.txt", "docs/../../secret.txt", "..", "/etc/passwd", "/"])
async def test_dotdot_and_absolute_escapes_are_refused(
    layout: tuple[Path, Path, dict[str, Tool]], tool_name: str, escape: str
) -> None:
    _, outside, tools = layout
    args = {"path": escape} | ({"content": "overwritten"} if tool_name == "write_file" else {})
    with pytest.raises(ToolError, match="outside the allowed directory") as info:
        await tools[tool_name].call(args)
    assert info.value.tool == tool_name
    assert outside.read_text() == "TOP SECRET"


async def test_absolute_path_inside_the_root_is_fine(layout: tuple[Path, Path, dict[str, Tool]]) -> None:
    root, _, tools = layout
    assert await tools["read_file"].call({"path": str(root / "docs" / "a.txt")}) == "alpha"


async def test_symlink_escapes_are_refused(layout: tuple[Path, Path, dict[str, Tool]]) -> None:
    root, outside, tools = layout
    (root / "link.txt").symlink_to(outside)
    (root / "linkdir").symlink_to(outside.parent)
    for path in ("link.txt", "linkdir/secret.txt", "linkdir"):
        with pytest.raises(ToolError, match="outside"):
            await tools["read_file"].call({"path": path})
    with pytest.raises(ToolError, match="outside"):
        await tools["write_file"].call({"path": "link.txt", "content": "overwritten"})
    with pytest.raises(ToolError, match="outside"):
        await tools["write_file"].call({"path": "linkdir/planted.txt", "content": "x"})
    with pytest.raises(ToolError, match="outside"):
        await tools["list_dir"].call({"path": "linkdir"})
    assert outside.read_text() == "TOP SECRET"
    assert not (outside.parent / "planted.txt").exists()
    # The listing reports the links without following them.
    kinds = {e["name"]: e["type"] for e in await tools["list_dir"].call({})}
    assert kinds["link.txt"] == "other" and kinds["linkdir"] == "other"


async def test_symlink_inside_the_root_is_followed(layout: tuple[Path, Path, dict[str, Tool]]) -> None:
    root, _, tools = layout
    (root / "alias.txt").symlink_to(root / "docs" / "a.txt")
    assert await tools["read_file"].call({"path": "alias.txt"}) == "alpha"


async def test_size_limits(layout: tuple[Path, Path, dict[str, Tool]]) -> None:
    root, _, tools = layout
    (root / "big.txt").write_text("x" * 101)
    with pytest.raises(ToolError, match="101 bytes, over the read limit of 100"):
        await tools["read_file"].call({"path": "big.txt"})
    with pytest.raises(ToolError, match="over the limit of 50"):
        await tools["write_file"].call({"path": "w.txt", "content": "y" * 51})
    assert not (root / "w.txt").exists()


async def test_special_files_and_missing_paths(layout: tuple[Path, Path, dict[str, Tool]]) -> None:
    root, _, tools = layout
    with pytest.raises(ToolError, match="is a directory"):
        await tools["read_file"].call({"path": "docs"})
    os.mkfifo(root / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):  # and it does not hang on the FIFO
        await tools["read_file"].call({"path": "pipe"})
    with pytest.raises(ToolError, match="cannot write 'pipe'"):  # no reader: refused, not blocked
        await tools["write_file"].call({"path": "pipe", "content": "x"})
    with pytest.raises(ToolError, match=r"cannot read 'nope\.txt'"):
        await tools["read_file"].call({"path": "nope.txt"})
    with pytest.raises(ToolError, match="cannot list"):
        await tools["list_dir"].call({"path": "b.md"})
    with pytest.raises(ToolError, match="invalid path"):
        await tools["read_file"].call({"path": "a\x00b"})


def test_read_only_set_and_bad_root(tmp_path: Path) -> None:
    assert [t.name for t in make_files(tmp_path, writable=False)] == ["read_file", "list_dir"]
    names_and_effects = [(t.name, t.side_effects) for t in make_files(tmp_path)]
    assert names_and_effects == [("read_file", False), ("write_file", True), ("list_dir", False)]
    with pytest.raises(UsageError, match="not an existing directory"):
        make_files(tmp_path / "missing")


def test_confinement_is_pure_resolution(tmp_path: Path) -> None:
    jail = Confinement(tmp_path)
    assert jail.resolve("a/../b") == tmp_path.resolve() / "b"
    assert jail.relative(jail.resolve(".")) == "."
    with pytest.raises(ToolError):
        jail.resolve("a/../../b")


def _tools_by_name(root: Path) -> dict[str, Any]:
    return {t.name: t for t in make_files(root)}


async def test_a_hard_link_planted_in_the_root_is_neither_read_nor_overwritten(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "secret.txt"
    root.mkdir()
    outside.write_text("outside secret")
    os.link(outside, root / "innocent.txt")
    tools = _tools_by_name(root)
    with pytest.raises(ToolError, match="2 hard links"):
        await tools["read_file"].call({"path": "innocent.txt"})
    with pytest.raises(ToolError, match="2 hard links"):
        await tools["write_file"].call({"path": "innocent.txt", "content": "overwritten"})
    assert outside.read_text() == "outside secret"  # not even truncated


def test_a_directory_swapped_for_a_symlink_after_the_check_is_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "f.txt").write_text("outside")
    (root / "sub" / "f.txt").write_text("inside")
    jail = Confinement(root)
    real = jail.resolve("sub/f.txt")
    # The race: between the check and the open, the directory becomes a link out of the root.
    (root / "sub" / "f.txt").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(outside)
    with pytest.raises(ToolError, match="symbolic link"):
        jail.open(real, os.O_RDONLY, tool="read_file")


_BIND_MOUNT = """
import anyio, subprocess, sys
from pathlib import Path
from orchestra.tools import make_files
root, outside = Path(sys.argv[1]), Path(sys.argv[2])
subprocess.run(["mount", "--bind", str(outside), str(root / "mnt")], check=True)
tools = {t.name: t for t in make_files(root)}
for name, args in [("read_file", {"path": "mnt/f.txt"}), ("list_dir", {"path": "mnt"})]:
    try:
        print(name, anyio.run(tools[name].call, args))
    except Exception as exc:
        print(name, "refused:", exc)
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a private bind mount")
def test_a_bind_mount_inside_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "mnt").mkdir(parents=True)
    outside.mkdir()
    (outside / "f.txt").write_text("outside secret")
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this kernel refuses user and mount namespaces")
    done = subprocess.run(
        ["unshare", "-Urm", sys.executable, "-c", _BIND_MOUNT, str(root), str(outside)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "outside secret" not in done.stdout
    assert done.stdout.count("refused:") == 2 and "mount point" in done.stdout, done.stdout
