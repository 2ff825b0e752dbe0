"""The crash-safe, exactly-once journal of a batch run: the output JSONL itself.

Choice: there is no separate state file and no SQLite. The output file
*is* the journal, because it is the one thing that must be right after a crash, and a second
store could disagree with it.

- **Append, flush, fsync.** Each finished row is appended as one line with ``os.write`` on an
  ``O_APPEND`` descriptor. The group of rows that finished together is written in one call and
  then fsynced in one call (group commit), so 100,000 fast rows do not cost 100,000 fsyncs.
- **Torn lines.** A crash can leave the last line half-written. JSON escapes newlines, so every
  complete line is a complete row. :meth:`Journal.open` first checks that the file is a journal
  (every complete line a result row, and the unfinished tail the start of one), and only then
  cuts the tail back to the last newline. A file that is not a journal (the input itself,
  ``notes.txt``) is refused without a byte changed; before, its last line was cut first.
- **Errors of the disk.** A full disk (ENOSPC), a lost permission (EACCES) or an I/O error
  raises :class:`~orchestra.errors.OutputError`, one line. What was written stays a valid
  journal (a torn tail at worst), so the next run resumes each row exactly once. A failed
  compaction removes its temporary file and leaves the journal as it was (the next run
  compacts it).
- **What resume skips.** Ok rows and final errors (a 400, a malformed line) are done. Rows whose
  error code is retryable (:data:`~orchestra.batch.formats.RETRYABLE_CODES`), or any error under
  ``retry_failed``, are sent again.
- **Exactly once.** A row that is redone gets a second line. It is appended, so a crash never
  loses the earlier answer. When the run finishes, :meth:`Journal.compact` rewrites the file
  keeping only the *last* line of each ``custom_id``: it writes a temporary file, fsyncs it,
  ``os.replace``\\ s it over the output and fsyncs the directory, so a crash in the middle leaves
  either the old file or the new one. While the file holds two lines for one id (between a
  crash and the next finish), the last line wins, both here and in :func:`merge_journals`.
- **One writer.** An exclusive ``flock`` on the output refuses a second run on the same file,
  which would otherwise break exactly-once.

:func:`merge_journals` joins several journals (the Ray engine's shards) into one, with the same
exactly-once rule.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.batch.formats import dumps_row, journal_key, row_state
from orchestra.errors import OutputError, UsageError

# Every row orchestra writes starts so (``dumps_row`` of ``ok_row``/``error_row``, key order kept
# by merging); an unfinished tail must be a prefix of a row that starts so.
_ROW_START = b'{"id":"'

__all__ = ["Journal", "Recovery", "iter_journal", "merge_journals", "winning_lines"]


@dataclass
class Recovery:
    """What :meth:`Journal.open` found in an existing output.

    Args:
        lines: complete lines read.
        truncated_bytes: bytes of a torn last line that were cut off.
        ok: rows already answered.
        failed: rows already final errors (not redone).
        redo: rows in the file that will be sent again.
    """

    lines: int = 0
    truncated_bytes: int = 0
    ok: int = 0
    failed: int = 0
    redo: int = 0


def iter_journal(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Every complete line of a journal as ``(line_number, byte_offset, row)``, streamed.

    Raises:
        UsageError: a complete line is not a JSON object with a ``custom_id``.
    """
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            start, offset = offset, offset + len(raw)
            if not raw.endswith(b"\n"):
                return  # a torn tail; Journal.open cuts it, readers just stop before it
            try:
                row = json.loads(raw)
            except ValueError as exc:
                raise UsageError(
                    f"{path}:{number}: not a result line ({exc}); refusing to resume over it"
                ) from exc
            if not _is_result_row(row):
                raise UsageError(
                    f"{path}:{number}: not a result line (no custom_id with a response or error); "
                    "refusing to write to it"
                )
            yield number, start, row


def _is_result_row(row: Any) -> bool:
    """A Batch API output row: a ``custom_id`` and a ``response`` or an ``error``, and no request."""
    return (
        isinstance(row, dict)
        and isinstance(row.get("custom_id"), str)
        and ("response" in row or "error" in row)
        and "body" not in row
    )


def _os_error(action: str, path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot {action} {path}: {exc.strerror or exc}", path=str(path))


class Journal:
    """The output JSONL of a batch, used as its own journal.

    Args:
        path: the output file (created if missing).
        retry_failed: redo final errors too, not only retryable ones.
        durable: fsync after each group of rows (turn off only for throwaway outputs).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, retry_failed: bool = False, durable: bool = True
    ) -> None:
        self.path = Path(path)
        self.retry_failed = retry_failed
        self.durable = durable
        self.recovery = Recovery()
        self._state: dict[str, str] = {}  # custom_id -> "ok" | "failed" | "redo", last line wins
        self._multi: set[str] = set()  # ids with more than one line: compaction drops the earlier ones
        self._fd = -1

    # -- lifecycle --------------------------------------------------------------------------

    def open(self, input: str | os.PathLike[str] | None = None) -> Recovery:
        """Lock the output, check it is a journal, cut a torn tail, and read what is already done.

        Opening an open journal does nothing more and returns the same :class:`Recovery`.

        Args:
            input: the batch's input file: an output that is the same file (by any path or
                link) is refused.

        Raises:
            UsageError: the output is the input, another run holds it, or it is not a journal
                (a corrupt line, or not result rows at all); the file is left untouched.
            OutputError: the file cannot be opened or written (permission, disk).
        """
        if self._fd >= 0:
            return self.recovery
        if input is not None and self.path.exists():
            try:
                same = self.path.samefile(input)
            except OSError:
                same = False
            if same:
                raise UsageError(f"the output {self.path} is the input file; choose another output")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except IsADirectoryError as exc:
            raise UsageError(f"output {self.path} is a directory") from exc
        except OSError as exc:
            raise _os_error("open", self.path, exc) from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self.close()
            raise UsageError(f"{self.path} is being written by another batch run") from exc
        try:
            self._recover()
        except BaseException:
            self.close()
            raise
        return self.recovery

    def _recover(self) -> None:
        states: dict[str, str] = {}
        multi: set[str] = set()
        lines = 0
        for number, _, row in iter_journal(self.path):  # reads only: refuses a foreign file first
            key = journal_key(row)
            if key in states:
                multi.add(key)
            states[key] = row_state(row, retry_failed=self.retry_failed)
            lines = number
        self.recovery = Recovery(lines=lines, truncated_bytes=self._cut_torn_tail())
        self._state, self._multi = states, multi
        for state in self._state.values():
            setattr(self.recovery, state, getattr(self.recovery, state) + 1)

    def _cut_torn_tail(self) -> int:
        size = os.fstat(self._fd).st_size
        keep = size
        while keep > 0:
            start = max(0, keep - 65536)
            block = os.pread(self._fd, keep - start, start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        if keep == size:
            return 0
        tail = os.pread(self._fd, min(size - keep, len(_ROW_START)), keep)
        if not _ROW_START.startswith(tail):
            raise UsageError(
                f"{self.path} does not end with a result line (its last line is not a row this "
                "command wrote); refusing to write to it"
            )
        try:
            os.ftruncate(self._fd, keep)
            os.fsync(self._fd)
        except OSError as exc:
            raise _os_error("repair", self.path, exc) from exc
        return size - keep

    def _note(self, custom_id: str, state: str) -> None:
        if custom_id in self._state:
            self._multi.add(custom_id)
        self._state[custom_id] = state

    def is_done(self, custom_id: str) -> bool:
        """Whether the output already holds a final line for ``custom_id`` (resume skips it)."""
        state = self._state.get(custom_id)
        return state is not None and state != "redo"

    @property
    def needs_compaction(self) -> bool:
        """Whether some id has more than one line (a redone row)."""
        return bool(self._multi)

    # -- writing ----------------------------------------------------------------------------

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows as lines, in one write, then fsync (blocking: call it from a worker thread)."""
        if self._fd < 0:
            raise RuntimeError("journal is not open")
        data = b"".join(dumps_row(row) for row in rows)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self.durable:
                os.fsync(self._fd)
        except OSError as exc:
            # What reached the file is whole rows and at most one torn line, which the next
            # open cuts: the journal stays resumable.
            raise _os_error("write", self.path, exc) from exc
        for row in rows:
            self._note(journal_key(row), row_state(row, retry_failed=False))

    def compact(self) -> int:
        """Keep only the last line of each id (atomically); returns the number of lines dropped."""
        if not self._multi:
            return 0
        try:
            dropped = _rewrite_last_wins([self.path], self.path, self._multi)
        except OSError as exc:
            raise _os_error("compact", self.path, exc) from exc
        self._multi.clear()
        return dropped

    def close(self) -> None:
        """Release the lock and the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def winning_lines(paths: Sequence[Path], ids: set[str] | None) -> dict[str, tuple[int, int]]:
    """For each id (of ``ids``, or every id when None): (index in ``paths``, byte offset) of its winning line.

    The last line wins, except that an ok line is never replaced by a later error (two shards of a
    resharded run may both hold the id).
    """
    best: dict[str, tuple[int, int, bool]] = {}
    for index, path in enumerate(paths):
        for _, offset, row in iter_journal(path):
            cid = journal_key(row)
            if ids is not None and cid not in ids:
                continue
            ok = not row.get("error")
            held = best.get(cid)
            if held is None or ok or not held[2]:
                best[cid] = (index, offset, ok)
    return {cid: (i, o) for cid, (i, o, _) in best.items()}


def _rewrite_last_wins(paths: Sequence[Path], dest: Path, ids: set[str] | None) -> int:
    """Write ``dest`` from ``paths`` with one line per id (see :func:`winning_lines`), atomically."""
    winners = winning_lines(paths, ids)
    tmp = dest.with_name(dest.name + ".compact.tmp")
    dropped = 0
    try:
        with open(tmp, "wb") as out:
            for index, path in enumerate(paths):
                for _, offset, row in iter_journal(path):
                    cid = journal_key(row)
                    if (ids is None or cid in ids) and winners.get(cid) != (index, offset):
                        dropped += 1
                        continue
                    out.write(dumps_row(row))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written copy (disk full) must not stay behind
        raise
    _fsync_dir(dest.parent)
    return dropped


def merge_journals(sources: Sequence[str | os.PathLike[str]], dest: str | os.PathLike[str]) -> int:
    """Merge journals into ``dest`` so that every ``custom_id`` appears exactly once.

    Later sources win over earlier ones, later lines over earlier lines, and an ok row is never
    replaced by an error. ``dest`` may be one of the sources; it is replaced atomically.

    Returns:
        the number of lines written.

    Raises:
        UsageError: a source is not a journal.
        OutputError: ``dest`` cannot be written.
    """
    paths = [Path(p) for p in sources if Path(p).exists()]
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _rewrite_last_wins(paths, dest, None)
        with open(dest, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError as exc:
        raise _os_error("write", dest, exc) from exc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
