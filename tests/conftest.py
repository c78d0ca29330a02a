"""Shared fixtures: paths to ../shared/data (tests that need it skip when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (a plain clone has no ../shared)")
    return path


@pytest.fixture
def ecog_fif() -> Path:
    return shared_file("mne_sample_ecog", "sample_ecog_ieeg.fif")


@pytest.fixture
def widefield_npz() -> Path:
    return shared_file("lens_widefield_ketamine", "frames.npz")
