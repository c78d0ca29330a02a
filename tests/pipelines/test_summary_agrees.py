"""Every output of one recording reads the same typed summary, so they agree.

Before, the summary (``--json`` and the text), the batch table and the comparison's
property table computed the per-recording properties three times and disagreed where a
property is undefined: without surrogates the summary said wave fraction 0.0 and the
table NaN; on a line the summary gave a circular mean (0 deg, concentration 1.0) that the
design forbids and the table NaN. Here the three cases where they disagreed are built
and every output is checked against the others: a number is the same number everywhere,
an undefined property is null (NaN in the pandas table) with its reason everywhere.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from wavescope.core.field import WaveField
from wavescope.datasets import grid_positions, planar_wave
from wavescope.pipelines.batch import BatchRecord, summary_rows
from wavescope.pipelines.properties import wave_properties
from wavescope.pipelines.recording import VelocityOptions, measure_recording
from wavescope.report.text import format_summary

COMPARED = (
    "speed_median",
    "wave_fraction",
    "pgd_median",
    "direction_concentration",
    "forward_fraction",
)


def _pulse_on_a_line() -> WaveField:
    """A pulse travelling forward at 2 sites/step along 32 sites (model-state-like)."""
    rng = np.random.default_rng(0)
    t, x = np.arange(128), np.arange(32)
    data = np.exp(-((t[None] - 0.5 * x[:, None] - 10) ** 2) / 8)
    data += 1e-3 * rng.standard_normal(data.shape)
    return WaveField(data, 1.0, x[:, None].astype(float), "site", "step")


def _noise() -> WaveField:
    """White noise on a 4 x 4 grid: nothing travels, so no wave epoch."""
    rng = np.random.default_rng(0)
    return WaveField(rng.standard_normal((16, 2000)), 100.0, grid_positions(4, 4, 1.0), "mm", "s")


def _grid_wave() -> WaveField:
    return planar_wave(
        grid_positions(6, 6, 1e-3), fs=250.0, duration=4.0, frequency=10.0, speed=0.3,
        direction=0.7, snr_db=5.0, seed=1,
    )  # fmt: skip


CASES = {
    # no surrogates: no wave epochs sought, so the wave fraction is undefined
    "no-surrogates": (_grid_wave, VelocityOptions(band=(8, 12), extra={"n_surrogates": 0})),
    # a line: a forward fraction, never a circular mean
    "line": (_pulse_on_a_line, VelocityOptions(extra={"n_surrogates": 0})),
    # a group without waves: no wave epoch, no speed
    "no-waves": (_noise, VelocityOptions()),
}


def _outputs(case: str):
    make, opts = CASES[case]
    field = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = measure_recording(field, opts)
    js = json.loads(json.dumps(rec.to_json()))
    (row,) = summary_rows([BatchRecord("x", True, summary=rec.summary)])
    table = wave_properties({"g": [(rec.result, field)]}, samples=opts.summary_of)
    return rec, js, row, table.iloc[0], format_summary(rec.summary)


def _json_value(js: dict, name: str):
    return {
        "speed_median": js["speed"]["median"],
        "wave_fraction": js["wave_fraction"],
        "pgd_median": js["pgd"]["median"],
        "direction_concentration": js["direction"]["concentration"],
        "forward_fraction": js["direction"].get("forward_fraction"),
    }[name]


@pytest.mark.parametrize("case", list(CASES))
def test_json_batch_row_and_property_table_agree(case):
    rec, js, row, prop, _ = _outputs(case)
    s = rec.summary
    for name in COMPARED:
        typed = getattr(s, name)
        got = {"json": _json_value(js, name), "batch": row.get(name, typed)}
        if typed is None:
            # null with its reason in every output; NaN is the pandas table's null
            assert all(v is None for v in got.values()), (name, got)
            assert math.isnan(prop[name]), (name, prop[name])
            assert s.undefined.get(name), name
            assert js["undefined"][name] == s.undefined[name]
            assert f"{name}: {s.undefined[name]}" in prop["undefined"]
        else:
            # the same float everywhere: one computation, not three that agree closely
            assert all(v == typed for v in got.values()), (name, typed, got)
            assert prop[name] == typed, (name, typed, prop[name])


def test_no_surrogates_has_no_wave_fraction_anywhere():
    rec, js, row, prop, text = _outputs("no-surrogates")
    assert js["wave_fraction"] is None and row["wave_fraction"] is None
    assert math.isnan(prop["wave_fraction"])
    assert "n_surrogates" in js["undefined"]["wave_fraction"]
    assert "waves        n/a (no wave epochs were sought" in text
    # the speed is defined all the same (all valid samples)
    assert js["speed"]["median"] == pytest.approx(0.3, rel=0.05)  # 5 dB, 36 sites


def test_a_line_gets_a_forward_fraction_and_no_circular_mean():
    rec, js, row, prop, text = _outputs("line")
    d = js["direction"]
    assert d["forward_fraction"] == 1.0 and d["majority"] == "forward"
    assert d["mean_rad"] is None and d["mean_deg"] is None and d["concentration"] is None
    assert row["direction_deg"] is None and row["direction_concentration"] is None
    assert math.isnan(prop["direction_mean"]) and math.isnan(prop["direction_concentration"])
    assert prop["forward_fraction"] == row["forward_fraction"] == 1.0
    assert "forward along the line  (forward fraction 1.00; 90% CI forward" in text
    assert "direction_mean" in js["undefined"] and "line" in js["undefined"]["direction_mean"]


def test_a_group_without_waves_has_no_speed_and_a_zero_wave_fraction():
    rec, js, row, prop, text = _outputs("no-waves")
    assert js["wave_fraction"] == row["wave_fraction"] == prop["wave_fraction"] == 0.0
    assert js["speed"]["median"] is None and row["speed_median"] is None
    assert math.isnan(prop["speed_median"])
    assert js["undefined"]["speed_median"] == rec.summary.undefined["speed_median"]
    assert "waves        0.0% of the time in 0 epoch(s)" in text
    assert "speed        n/a" in text
