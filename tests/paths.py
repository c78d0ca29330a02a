"""Paths the tests need: the repository root and ../shared/data (skip when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# WAVESCOPE_SHARED_DATA points a checkout elsewhere (e.g. a git worktree) at the real data
SHARED_DATA = Path(os.environ.get("WAVESCOPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
DAVIS2021 = SHARED_DATA / "davis2021_speeds"


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (a plain clone has no ../shared)")
    return path
