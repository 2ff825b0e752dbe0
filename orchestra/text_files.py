"""Reading a user's text file: UTF-8, with or without a byte-order mark, any line endings.

Windows tools (Notepad, PowerShell's ``Out-File``, Excel's "CSV UTF-8") start a UTF-8 file with
a byte-order mark (``EF BB BF``) and end its lines with CRLF. Neither changes what the file says,
so neither may change what orchestra reads: ``tomllib`` rejects a TOML file that starts with a
BOM, and ``json.loads`` a JSON document that does. Every place that reads a file the user wrote
(endpoint TOML files, simulator scripts, question files, trace files, datasets, predictions)
reads it through :func:`read_user_text`. Batch inputs are read line by line as bytes instead
(:func:`orchestra.batch.formats.parse_line` drops the BOM there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestra.errors import UsageError

__all__ = ["BOM", "cut_torn_line", "json_lines", "read_user_text", "user_text"]

BOM = "\ufeff"


def user_text(data: bytes, where: str, *, errors: str = "strict") -> str:
    """``data`` decoded as UTF-8 text, a leading BOM dropped and every CRLF / CR made ``\\n``.

    Args:
        data: the file's bytes.
        where: the file's name or URL, for the error message.
        errors: ``"strict"`` (a byte that is not UTF-8 is an error) or ``"replace"``.

    Raises:
        UsageError: ``data`` is not UTF-8 (with ``errors="strict"``).
    """
    try:
        text = data.decode("utf-8-sig", errors=errors)
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_user_text(path: str | os.PathLike[str], *, errors: str = "strict") -> str:
    """The text of the file at ``path``, as :func:`user_text` decodes it.

    Raises:
        OSError: the file cannot be read (FileNotFoundError, IsADirectoryError, ...; the CLI
            reports each as a usage error naming the path).
        UsageError: the file is not UTF-8 (with ``errors="strict"``).
    """
    return user_text(Path(path).read_bytes(), str(path), errors=errors)


def json_lines(text: str, where: str) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of a JSONL ``text`` (numbers from 1).

    Args:
        text: the file's text (from :func:`read_user_text`).
        where: the file's name, for the error message.

    Raises:
        UsageError: ``<where>:<line>: not valid JSON (<reason>)`` for the first line that is not.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise UsageError(f"{where}:{number}: not valid JSON ({reason})") from None
        yield number, value


def cut_torn_line(path: str | os.PathLike[str]) -> None:
    """Cut a last line that has no newline (a kill mid-write) from a JSONL file we append to.

    An append after a torn line would join the two into one line that parses as neither, so
    the new record would be lost too. Files that do not exist or end with a newline are left
    as they are.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        data = handle.read()
        handle.truncate(data.rfind(b"\n") + 1)
