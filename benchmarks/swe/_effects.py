"""Which files an agent's action reads and writes, from its tool name or its shell command.

Trajectory replay (:mod:`._replay`) calls two actions dependent when one writes what the other
reads or writes. Pure. How a shell command is read (``shlex`` tokens, split at ``&&``, ``||``,
``;`` and ``|``):

- readers: ``cat head tail nl less more wc grep egrep rg sed`` (without ``-i``) ``ls find diff
  file stat awk`` (without redirection) read their path operands (a folder covers what is inside);
- writers: ``>``/``>>`` targets, ``tee``, ``touch``, ``mkdir``, ``rm``, ``sed -i`` (reads too),
  ``cp`` (reads the source), ``mv`` (writes both), ``cat <<EOF > file``;
- code runners (``python``, ``pytest``, ``pip``, ``make``, ``git``, ``patch`` ...) and anything
  unknown read and write the whole tree (``.``): they are ordered against every other action;
- ``echo``/``printf``/``true``/``pwd`` without redirection touch nothing; ``cd DIR`` makes later
  relative paths relative to DIR.

Paths are normalised (``./a`` = ``a``; with ``root="/testbed"``, ``/testbed/a`` = ``a``). Two path sets overlap when
a path equals another or lies inside it.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

__all__ = ["ALL", "Effects", "effects_of_command", "effects_of_tool", "overlap"]

ALL = "."
"""The whole tree: an action with this in a set conflicts with every action touching anything."""

_READERS = {"cat", "head", "tail", "nl", "less", "more", "wc", "grep", "egrep", "fgrep", "rg", "ls", "find"}
_READERS |= {"diff", "file", "stat", "awk", "sort", "uniq", "cut", "tree", "xxd", "od", "md5sum", "sha256sum"}
_QUIET = {"echo", "printf", "true", "false", "pwd", "sleep", "which", "whoami", "date", "exit", ":"}
_WRITERS = {"touch", "mkdir", "rm", "rmdir", "tee", "chmod"}
_PATTERN_FIRST = {"grep", "egrep", "fgrep", "rg", "awk"}
_DIR_DEFAULT = {"ls", "find", "tree", "rg"}  # with no operand they read the working directory
_OPERATORS = {"&&", "||", ";", "|", "&"}


@dataclass
class Effects:
    """Paths an action reads and writes (``.`` for the whole tree)."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)

    def everything(self) -> Effects:
        """Mark the action as touching the whole tree."""
        self.reads.add(ALL)
        self.writes.add(ALL)
        return self


def _norm(path: str, cwd: str, root: str = "") -> str:
    if not path or path == "-":
        return ""
    joined = path if path.startswith("/") or cwd in ("", ".") else posixpath.join(cwd, path)
    normal = posixpath.normpath(joined)
    if root and (normal == root or normal.startswith(root + "/")):
        normal = normal[len(root) + 1 :] or "."
    return ALL if normal in (".", "") else normal


def _inside(a: str, b: str) -> bool:
    return a == b or b == ALL or a.startswith(b.rstrip("/") + "/")


def overlap(left: set[str], right: set[str]) -> bool:
    """Whether two path sets share a file (a folder covers its contents; ``.`` covers all)."""
    return any(_inside(a, b) or _inside(b, a) for a in left for b in right)


def _segments(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for token in tokens:
        if token in _OPERATORS:
            out.append([])
        else:
            out[-1].append(token)
    return [s for s in out if s]


def _redirections(words: list[str], cwd: str, effects: Effects) -> list[str]:
    """Record ``> file`` / ``>> file`` / ``< file`` and return the words without them."""
    kept: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        for op, target in ((">>", effects.writes), (">", effects.writes), ("<", effects.reads)):
            if word == op and i + 1 < len(words):
                target.add(_norm(words[i + 1], cwd))
                i += 2
                break
            if word.startswith(op) and len(word) > len(op) and word[len(op)] not in "&<>":
                target.add(_norm(word[len(op) :], cwd))
                i += 1
                break
        else:
            if word.startswith("2>") or word.startswith("&>") or word in ("1>&2", "2>&1"):
                i += 1
                continue
            kept.append(word)
            i += 1
    return kept


def _simple(words: list[str], cwd: str, effects: Effects) -> str:
    """Add one simple command's effects; return the working directory after it."""
    words = _redirections(words, cwd, effects)
    while words and "=" in words[0] and not words[0].startswith("="):  # VAR=value prefixes
        words = words[1:]
    if not words:
        return cwd
    name, args = posixpath.basename(words[0]), words[1:]
    operands = [a for a in args if not a.startswith("-")]
    if name == "cd":
        return _norm(operands[0], cwd) if operands else cwd
    if name in _QUIET:
        return cwd
    if name == "sed":
        in_place = any(a.startswith("-i") or a == "--in-place" for a in args)
        files = [_norm(p, cwd) for p in operands[1:]]
        effects.reads.update(files)
        if in_place:
            effects.writes.update(files)
        return cwd
    if name in _READERS:
        files = operands[1:] if name in _PATTERN_FIRST else operands
        if files:
            effects.reads.update(_norm(p, cwd) for p in files)
        elif name in _DIR_DEFAULT:
            effects.reads.add(_norm(".", cwd))
        return cwd
    if name in _WRITERS:
        effects.writes.update(_norm(p, cwd) for p in operands)
        return cwd
    if name in ("cp", "mv") and len(operands) >= 2:
        effects.reads.update(_norm(p, cwd) for p in operands[:-1])
        effects.writes.add(_norm(operands[-1], cwd))
        if name == "mv":
            effects.writes.update(_norm(p, cwd) for p in operands[:-1])
        return cwd
    effects.everything()  # python, pytest, git, make, an unknown program: could touch anything
    return cwd


def effects_of_command(command: str, root: str = "") -> Effects:
    """The files a bash command reads and writes (see the module docstring for the rules).

    Args:
        command: the command line.
        root: the repository's absolute path (e.g. ``/testbed``); paths under it are made relative.
    """
    effects = Effects()
    body = command.split("<<", 1)
    text = body[0]
    if len(body) == 2:  # a here-document: only its first line (with any redirection) is a command
        head, _, _rest = body[1].partition("\n")
        text = body[0] + " " + " ".join(head.split()[1:])
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return effects.everything()  # unbalanced quotes: we cannot tell
    cwd = "."
    for words in _segments(tokens):
        cwd = _simple(words, cwd, effects)
    if root:
        effects.reads = {_norm(p, ".", root) if p.startswith("/") else p for p in effects.reads}
        effects.writes = {_norm(p, ".", root) if p.startswith("/") else p for p in effects.writes}
    effects.reads.discard("")
    effects.writes.discard("")
    return effects


def effects_of_tool(tool: str, args: dict[str, object]) -> Effects:
    """The files one of our agent's tools reads and writes, from its name and arguments."""
    path = _norm(str(args.get("path", ".")), ".")
    if tool in ("view_file", "search"):
        return Effects(reads={path})
    if tool == "edit_file":
        return Effects(reads={path}, writes={path})
    if tool == "create_file":
        return Effects(writes={path})
    if tool == "shell":
        return effects_of_command(str(args.get("command", "")))
    return Effects().everything()
