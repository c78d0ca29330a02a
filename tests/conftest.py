"""Shared fixtures: paths to ../shared/data (tests that need it skip when it is absent), and
the hypothesis profiles that set every fuzz test's example count."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from paths import DAVIS2021, ROOT, SHARED_DATA, shared_file  # noqa: F401 (re-exported)

# --------------------------------------------------------------------- hypothesis
#: Example counts of every property and fuzz test come from a hypothesis profile, chosen
#: by ``WAVESCOPE_FUZZ_PROFILE``:
#:
#: - ``ci`` (default): 60 examples per test (per parametrized case), derandomized, so the
#:   default suite is fast and the same on every run;
#: - ``long``: ``WAVESCOPE_FUZZ_EXAMPLES`` examples per test (default 20000), random seeds,
#:   e.g. ``WAVESCOPE_FUZZ_PROFILE=long WAVESCOPE_FUZZ_EXAMPLES=20000 pytest tests/fuzz``.
#:
#: The per-example deadline is generous: hypothesis re-runs an example that exceeds it
#: before reporting, so a stall of a shared machine does not fail a test.
_FUZZ = dict(
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("ci", max_examples=60, derandomize=True, **_FUZZ)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("WAVESCOPE_FUZZ_EXAMPLES", "20000")),
    derandomize=False,
    database=None,
    **_FUZZ,
)
settings.load_profile(os.environ.get("WAVESCOPE_FUZZ_PROFILE", "ci"))


@pytest.fixture
def ecog_fif() -> Path:
    return shared_file("mne_sample_ecog", "sample_ecog_ieeg.fif")


@pytest.fixture
def widefield_npz() -> Path:
    return shared_file("lens_widefield_ketamine", "frames.npz")
