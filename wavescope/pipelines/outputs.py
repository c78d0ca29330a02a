"""Writing a pipeline's outputs: the one pattern every job and command follows.

1. Before the work starts, each output path is checked with
   :func:`wavescope.io.outputs.check_output_path` (refused if it exists without
   ``--overwrite``, names an input, or has the wrong suffix).
2. After the work, :func:`save` writes what it produced, atomically: a typed result as its
   ``to_json()``, a dict or list as JSON, text, rendered figure bytes, or a
   :class:`~wavescope.core.field.WaveField` in the .npz interchange format;
   :func:`save_table` writes rows as CSV.

Figures and HTML are rendered by the report layer (passed in by the command line) and
reach :func:`save` as bytes or text: pipelines never import the report layer.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from wavescope.core.field import WaveField
from wavescope.core.results import Result
from wavescope.io.outputs import write_bytes_atomic, write_json, write_text_atomic

__all__ = ["save", "save_table"]


def save(path: str | os.PathLike, content, *, indent: int = 2, overwrite: bool = True) -> Path:
    """Write ``content`` to ``path`` atomically and return the path written.

    Parameters
    ----------
    path : path-like
        Checked beforehand with :func:`~wavescope.io.outputs.check_output_path`.
    content : bytes, str, Result, WaveField, or JSON-ready dict / list
        Bytes as they are, str as UTF-8 text, a :class:`~wavescope.core.results.Result`
        as its ``to_json()``, a WaveField as an interchange .npz, anything else as JSON.
    indent : int
        JSON indentation.
    overwrite : bool
        For a WaveField: replace an existing file (the other kinds keep what the path's
        check decided).
    """
    if isinstance(content, WaveField):
        from wavescope.io.npz import write_npz

        return write_npz(path, content, overwrite=overwrite)
    if isinstance(content, Result):
        content = content.to_json()
    if isinstance(content, (bytes, bytearray)):
        return write_bytes_atomic(path, bytes(content))
    if isinstance(content, str):
        return write_text_atomic(path, content)
    return write_json(path, content, indent=indent)


def save_table(path: str | os.PathLike, rows: Sequence[dict], columns: Sequence[str]) -> Path:
    """Write rows as CSV with ``columns`` (missing values empty), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows([{c: ("" if r.get(c) is None else r.get(c)) for c in columns} for r in rows])
    return write_text_atomic(path, buf.getvalue())
