"""Shared fixtures: paths to ../shared/data (tests that need it skip when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import DAVIS2021, ROOT, SHARED_DATA, shared_file  # noqa: F401 (re-exported)


@pytest.fixture
def ecog_fif() -> Path:
    return shared_file("mne_sample_ecog", "sample_ecog_ieeg.fif")


@pytest.fixture
def widefield_npz() -> Path:
    return shared_file("lens_widefield_ketamine", "frames.npz")
