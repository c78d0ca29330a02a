"""A folder's files and their bytes, to assert that a refused command changed nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def snapshot(folder) -> dict[str, str]:
    """``{relative path: sha256 or link target}`` of everything below ``folder``.

    Pipes, devices and links are recorded by kind and target, never opened.
    """
    folder = Path(folder)
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link -> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[rel] = "folder"
        else:
            out[rel] = "special"
    return out
