"""A unified diff as the file edits an agent would make: replace-once edits and whole new files.

Used to replay a known patch through the agent's own tools (a scripted model that "writes" the
gold patch, end to end) and to check that a patch's hunks are unambiguous. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Edit", "edits_of_patch"]

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")


@dataclass(frozen=True)
class Edit:
    """One change: ``old`` -> ``new`` in ``path``; ``create`` means ``new`` is the whole new file."""

    path: str
    old: str
    new: str
    create: bool = False


def _path(line: str) -> str | None:
    name = line[4:].split("\t")[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def edits_of_patch(patch: str) -> list[Edit]:
    """The edits of a git-format unified diff, one per hunk (a new file is one ``create`` edit).

    Deleted files are not supported (the tools cannot delete); their hunks become edits to empty.
    """
    edits: list[Edit] = []
    lines = patch.splitlines()
    i, path, new_file = 0, "", False
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- "):
            new_file = _path(line) is None
        elif line.startswith("+++ "):
            path = _path(line) or path
        elif _HUNK.match(line):
            old: list[str] = []
            new: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith(("@@", "diff --git", "--- ")):
                body = lines[i]
                tag, text = body[:1], body[1:]
                if tag in (" ", ""):
                    old.append(text)
                    new.append(text)
                elif tag == "-":
                    old.append(text)
                elif tag == "+":
                    new.append(text)
                i += 1
            old_text = "\n".join(old) + ("\n" if old else "")
            new_text = "\n".join(new) + ("\n" if new else "")
            edits.append(Edit(path, old_text, new_text, create=new_file))
            continue
        i += 1
    return edits
