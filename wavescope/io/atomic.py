"""Atomic writes: a file is either its old self or complete, never half written."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed into place."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json(path, obj, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (with a final newline) to ``path``, atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")
