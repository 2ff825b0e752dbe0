"""SWE-bench predictions: ``instance_id``, ``model_name_or_path``, ``model_patch`` per record.

A predictions file is JSONL, a JSON list, or a JSON object keyed by instance id (the three forms
the swebench harness reads). ``gold`` and ``empty`` stand for each task's own patch and for no
patch at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.benchmarks.swe._task import SWETask, read_json_records
from orchestra.errors import UsageError
from orchestra.text_files import read_user_text

__all__ = ["Prediction", "load_predictions", "predictions_for", "write_predictions"]


@dataclass(frozen=True)
class Prediction:
    """One model's patch for one instance (``model_patch`` None: the model gave none)."""

    instance_id: str
    model_name_or_path: str
    model_patch: str | None

    def to_dict(self) -> dict[str, Any]:
        """The SWE-bench record."""
        return {
            "instance_id": self.instance_id,
            "model_name_or_path": self.model_name_or_path,
            "model_patch": self.model_patch,
        }


def _records(path: Path) -> list[Any]:
    text = read_user_text(path) if path.is_file() else None
    if text is not None and text.lstrip().startswith("{") and "\n{" not in text.strip():
        data = json.loads(text) if text.strip() else {}
        if isinstance(data, dict) and "instance_id" not in data:
            return [dict(v, instance_id=k) if isinstance(v, dict) else v for k, v in data.items()]
    return read_json_records(path)


def load_predictions(path: str | Path) -> dict[str, Prediction]:
    """The predictions in ``path`` by instance id.

    Raises:
        UsageError: a missing or empty file, a record without ``instance_id``, a ``model_patch`` that is
            neither a string nor null, or an id given twice.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--predictions {path}: no such file (or say 'gold' or 'empty')")
    try:
        records = _records(path)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON: {exc.msg}") from exc
    out: dict[str, Prediction] = {}
    for n, record in enumerate(records, 1):
        where = f"{path}: record {n}"
        if not isinstance(record, dict) or not isinstance(record.get("instance_id"), str):
            raise UsageError(f"{where}: needs an instance_id")
        patch = record.get("model_patch")
        if patch is not None and not isinstance(patch, str):
            raise UsageError(f"{where}: model_patch must be a string or null")
        iid = record["instance_id"]
        if iid in out:
            raise UsageError(f"{where}: instance id {iid!r} appears twice")
        out[iid] = Prediction(iid, str(record.get("model_name_or_path", "")), patch)
    if not out:
        raise UsageError(f"{path}: no predictions (the file is empty)")
    return out


def predictions_for(source: str, tasks: Sequence[SWETask]) -> dict[str, Prediction]:
    """``--predictions``: ``gold`` (each task's patch), ``empty`` (no change), or a file."""
    if source == "gold":
        return {t.instance_id: Prediction(t.instance_id, "gold", t.patch) for t in tasks}
    if source == "empty":
        return {t.instance_id: Prediction(t.instance_id, "empty", "") for t in tasks}
    return load_predictions(source)


def write_predictions(predictions: Iterable[Prediction], path: str | Path) -> Path:
    """Write predictions as JSONL; returns the path."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        for p in predictions:
            fh.write(json.dumps(p.to_dict()) + "\n")
    return path
