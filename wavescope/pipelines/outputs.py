"""Writing a pipeline's outputs: JSON, text, figure bytes and tables, each atomically.

Paths are checked with :func:`wavescope.io.outputs.check_output_path` before the work
starts (the callers do that); :func:`save` then writes what the work produced.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from wavescope.io.outputs import write_bytes_atomic, write_json, write_text_atomic

__all__ = ["save", "save_table"]


def save(path: str | os.PathLike, content) -> Path:
    """Write ``content`` to ``path`` atomically: bytes as they are, str as UTF-8 text,
    anything else as JSON."""
    if isinstance(content, (bytes, bytearray)):
        return write_bytes_atomic(path, bytes(content))
    if isinstance(content, str):
        return write_text_atomic(path, content)
    return write_json(path, content)


def save_table(path: str | os.PathLike, rows: Sequence[dict], columns: Sequence[str]) -> Path:
    """Write rows as CSV with ``columns`` (missing values empty), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows([{c: ("" if r.get(c) is None else r.get(c)) for c in columns} for r in rows])
    return write_text_atomic(path, buf.getvalue())
