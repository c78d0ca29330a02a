"""Fuzz: every public measure ends in a clean result or in one of the toolkit's errors.

Random layouts (grids, lines, irregular, collinear 2-D, one and two sites, duplicated
positions), lengths from 1 sample, float32/float64/int16 data scaled over 1e-30..1e30 (all
sites or one), NaN samples, bad sites, any sampling rate and bands from auto to edges
near 0 and Nyquist. The claim: each example returns (a summary without NaN/inf, a None
speed explained by a warning) or raises a :class:`WaveInputError`, within the deadline.
Example counts come from the hypothesis profile (``tests/conftest.py``: ``ci`` by default,
``WAVESCOPE_FUZZ_PROFILE=long`` for a long run).
"""

from __future__ import annotations

import numpy as np
from fuzz_strategies import assert_clean_summary, bands, field_specs
from hypothesis import event, given
from hypothesis import strategies as st

from wavescope.core.errors import WaveInputError
from wavescope.waves import (
    auto_band,
    event_time_velocity,
    komega_velocity,
    measure_velocity,
    xcorr_velocity,
)
from wavescope.waves.velocity import METHODS

UNGUARDED_DIVISIONS: list = []  # none left: the divisions run under np.errstate


def unguarded_divisions(fn):
    for mark in UNGUARDED_DIVISIONS:
        fn = mark(fn)
    return fn


def _measure(spec, band, method, n_surrogates, which, options):
    try:
        field = spec.build()
        result = measure_velocity(
            field, band, method=method, n_surrogates=n_surrogates, patterns=True, **options
        )
    except WaveInputError as exc:
        event(f"refused: {str(exc).split(':')[0][:40]}")
        return None
    event("measured")
    summary = result.summary(which)
    assert_clean_summary(summary)
    return summary


@st.composite
def velocity_cases(draw):
    spec = draw(field_specs())
    return (
        spec,
        draw(bands(spec.fs)),
        draw(st.sampled_from(METHODS)),
        draw(st.integers(0, 3)),
        draw(st.sampled_from(["all", "waves"])),
        draw(options()),
    )


@st.composite
def options(draw):
    """Keyword options of measure_velocity, legal or not (each example sets a few)."""
    choices = {
        "generalized": st.booleans(),
        "decimate": st.sampled_from([None, 1, 2, 3.0, 2.7, 0, -1, 10**12, True]),
        "alpha": st.sampled_from([0.05, 0.2, 0.0, 1.0, float("nan"), -0.1]),
        "edge": st.sampled_from([None, 0.0, 0.05, -1.0, float("inf")]),
        "min_duration": st.sampled_from([None, 0.0, 0.1, -0.5]),
        "weights": st.sampled_from(["amplitude", "uniform"]),
        "chunk_samples": st.sampled_from([None, 256, 1000]),
        "debias": st.booleans(),
    }
    keys = draw(st.sets(st.sampled_from(sorted(choices)), max_size=3))
    return {k: draw(choices[k]) for k in sorted(keys)}


@unguarded_divisions
@given(velocity_cases())
def test_measure_velocity_gives_a_clean_summary_or_a_toolkit_error(case):
    _measure(*case)


def _broadband(spec, which):
    fn = {"event-time": event_time_velocity, "xcorr": xcorr_velocity, "komega": komega_velocity}
    try:
        bb = fn[which](spec.build())
    except WaveInputError as exc:
        event(f"refused: {str(exc).split(':')[0][:40]}")
        return
    event("measured")
    # infinite speed is a legal answer (zero delay between every pair), NaN is not
    assert not np.isnan(bb.speed)
    assert bb.speed > 0
    assert np.isfinite(bb.quality)


@given(field_specs(), st.sampled_from(["event-time", "xcorr", "komega"]))
def test_broadband_measures_give_a_speed_or_a_toolkit_error(spec, which):
    _broadband(spec, which)


def _auto_band(spec):
    try:
        field = spec.build()
        lo, hi = auto_band(field)
    except WaveInputError:
        return
    assert 0 <= lo < hi < field.fs / 2


@given(field_specs())
def test_auto_band_gives_a_band_below_nyquist_or_a_toolkit_error(spec):
    _auto_band(spec)
