"""The training log ``metrics.jsonl``: one reader for training, resuming and reports.

One JSON object per line (written by :mod:`wavescope.models.training`): ``step``,
``split`` (``"train"`` or ``"eval"``), ``loss``, ``char_acc``, ``exact_acc``, ``time``
(seconds of training), ``lr``. A run killed while writing can leave a torn last line (no
final newline, not valid JSON); the reader skips it and says so, and
:func:`truncate_metrics` removes it together with the lines of the lost part of a run.
This module needs no torch.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from wavescope.core.errors import WaveFileNotFoundError, WaveInputError
from wavescope.io.outputs import write_text_atomic

__all__ = ["METRICS", "read_metrics", "steps_to_threshold", "truncate_metrics"]

#: File name of the log inside a run folder.
METRICS = "metrics.jsonl"


def _path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p / METRICS if p.is_dir() else p


def _lines(p: Path) -> tuple[list[tuple[str, dict]], bool]:
    """(raw line, record) pairs of the valid lines, and whether a torn last line was dropped."""
    text = p.read_text(encoding="utf-8", errors="replace")
    raw = text.split("\n")
    out, torn = [], False
    for i, line in enumerate(raw):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(raw) - 1:  # the last line, without its newline: a torn write
                torn = True
                continue
            raise WaveInputError(
                f"{p}, line {i + 1}: not JSON ({line[:60]!r}); the metrics file is corrupt "
                "in the middle, not just torn at its end."
            ) from None
        if not isinstance(rec, dict) or "step" not in rec:
            raise WaveInputError(f"{p}, line {i + 1}: not a metrics record (no 'step').")
        out.append((line, rec))
    return out, torn


def read_metrics(
    path: str | os.PathLike, split: str | None = "train", *, required: bool = False
) -> list[dict]:
    """Records of a ``metrics.jsonl`` (the file or its run folder), optionally one split.

    Parameters
    ----------
    path : path-like
        The file, or the run folder holding it.
    split : {"train", "eval"} or None
        Keep only that split (None: all lines).
    required : bool
        Raise when no record of the split is found (for reports that need a curve).

    Raises
    ------
    WaveFileNotFoundError
        The file does not exist.
    WaveInputError
        A line in the middle is not JSON, or ``required`` and no record was found.
    """
    p = _path(path)
    if not p.is_file():
        raise WaveFileNotFoundError(f"{p}: no such metrics file (written by 'wavescope train').")
    pairs, torn = _lines(p)
    if torn:
        warnings.warn(
            f"{p}: the last line is torn (a run killed while writing); it is skipped.",
            stacklevel=2,
        )
    out = [r for _, r in pairs if split is None or r.get("split", "train") == split]
    if required and not out:
        raise WaveInputError(f"{p} has no {split or 'metrics'} lines with 'step' and 'loss'.")
    return out


def truncate_metrics(path: str | os.PathLike, step: int) -> None:
    """Keep only the lines up to ``step`` (and drop a torn last line), atomically."""
    p = _path(path)
    if not p.exists():
        return
    pairs, _ = _lines(p)
    keep = [line + "\n" for line, rec in pairs if rec["step"] <= step]
    write_text_atomic(p, "".join(keep))


def steps_to_threshold(records, threshold: float = 0.95, key: str = "exact_acc") -> int | None:
    """First logged step at which ``key`` reaches ``threshold`` (None if never).

    ``records`` is a list of metric dicts (see :func:`read_metrics`) or a path. Train lines
    average the steps since the previous line, so the result is late by at most one
    logging interval.
    """
    if isinstance(records, (str, os.PathLike)):
        records = read_metrics(records)
    for rec in sorted(records, key=lambda r: r["step"]):
        if rec.get(key) is not None and rec[key] >= threshold:
            return int(rec["step"])
    return None
