"""Bad input at the container: WaveField and the small check_* helpers (issue 12).

Each case ends in a correct value or a WaveInputError whose message names the problem
and the fix; nothing is converted silently (a complex fs, 2.7 samples, "False" as True).
"""

from __future__ import annotations

import numpy as np
import pytest

from wavescope.core.errors import WaveInputError, WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import (
    band_record_notes,
    check_band_record,
    check_bool_mask,
    check_int,
    check_open_unit,
    check_positive,
    closest_names,
    is_collinear,
    unknown_names_message,
)
from wavescope.datasets import grid_positions

POS = grid_positions(4, 4, 1e-3)


def _data(n_sites=16, n_times=200, seed=0):
    return np.random.default_rng(seed).normal(size=(n_sites, n_times))


@pytest.mark.parametrize("fs", [250 + 0j, np.complex128(250 + 1j), True, "250", [250.0]])
def test_fs_that_is_complex_boolean_text_or_an_array_is_a_type_error(fs):
    with pytest.raises(WaveTypeError, match="fs must be a positive number"):
        WaveField(_data(), fs, POS)


@pytest.mark.parametrize("fs", [0.0, -1.0, float("nan"), float("inf")])
def test_fs_that_is_not_a_finite_positive_number_is_refused(fs):
    with pytest.raises(WaveInputError, match="fs must be a finite number > 0"):
        WaveField(_data(), fs, POS)


def test_transposed_data_gets_a_transpose_hint():
    with pytest.raises(WaveInputError, match=r"looks transposed.*data\.T"):
        WaveField(_data().T, 250.0, POS)


def test_masked_samples_become_nan_and_the_rest_is_kept():
    x = _data()
    mask = np.zeros_like(x, bool)
    mask[3, 10:20] = True
    f = WaveField(np.ma.masked_array(x, mask=mask), 250.0, POS)
    assert np.all(np.isnan(f.data[3, 10:20]))
    np.testing.assert_array_equal(f.data[~mask], x[~mask])


def test_a_masked_array_without_masked_samples_is_read_unchanged():
    x = _data()
    f = WaveField(np.ma.masked_array(x), 250.0, POS)
    np.testing.assert_array_equal(f.data, x)


def test_duplicate_channel_names_are_refused_by_name():
    names = [f"E{i}" for i in range(15)] + ["E3"]
    with pytest.raises(WaveInputError, match=r"unique.*'E3'"):
        WaveField(_data(), 250.0, POS, ch_names=names)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (["False"] * 16, np.zeros(16, bool)),
        (["true"] + ["false"] * 15, np.r_[True, np.zeros(15, bool)]),
        ([0, 1] * 8, np.tile([False, True], 8)),
        (np.r_[1.0, np.zeros(15)], np.r_[True, np.zeros(15, bool)]),
    ],
)
def test_bad_masks_of_bool_like_strings_and_numbers_are_read_by_meaning(bad, expected):
    np.testing.assert_array_equal(WaveField(_data(), 250.0, POS, bad=bad).bad, expected)


@pytest.mark.parametrize("bad", [[3, 7] + [0] * 14, ["E1"] + ["False"] * 15, [np.nan] * 16])
def test_bad_masks_that_are_not_clearly_true_or_false_are_refused(bad):
    with pytest.raises(WaveInputError, match="bad"):
        WaveField(_data(), 250.0, POS, bad=bad)


def test_with_bad_names_the_closest_channel_for_a_misspelt_name():
    names = [f"EEG {i:03d}" for i in range(1, 61)]
    f = WaveField(_data(60), 250.0, grid_positions(6, 10, 1e-3), ch_names=names)
    with pytest.raises(WaveInputError) as err:
        f.with_bad(["EEG 59"])
    assert "'EEG 059'" in str(err.value)


def test_the_list_of_known_names_is_never_cut_before_the_asked_for_one():
    """A name far down a long sorted list ('ZZ 99' after 200 others) is answered with the
    names next to where it would be, not with the first few of the list."""
    known = [f"A{i:03d}" for i in range(200)] + ["ZZ 98", "ZZ 100"]
    near = closest_names("ZZ 99", known)
    assert "ZZ 98" in near or "ZZ 100" in near
    msg = unknown_names_message("channel(s)", ["ZZ 99"], known)
    assert "ZZ 98" in msg or "ZZ 100" in msg


@pytest.mark.parametrize(
    ("value", "ok"), [(3, 3), (3.0, 3), (np.int64(4), 4), (2.7, None), (True, None), ("3", None)]
)
def test_check_int_accepts_whole_numbers_only(value, ok):
    if ok is None:
        with pytest.raises(WaveInputError):
            check_int("decimate", value, minimum=1)
    else:
        assert check_int("decimate", value, minimum=1) == ok


@pytest.mark.parametrize("alpha", [0, 1, float("nan"), -0.1, 1.5])
def test_a_false_positive_rate_outside_the_open_unit_interval_is_refused(alpha):
    with pytest.raises(WaveInputError, match=r"\(0, 1\)"):
        check_open_unit("alpha", alpha)


def test_check_positive_keeps_ordinary_numbers():
    assert check_positive("fs", np.float32(250)) == 250.0


@pytest.mark.parametrize(
    ("band", "duration"), [((0.1, 0.5), 1.0), ((0.01, 0.05), 4.0), ((0, 3e-12), 4.0),
                           ((1e-306, 12.0), 4.0), ((1e-9, 1e-8), 4.0)]
)  # fmt: skip
def test_a_band_the_record_cannot_resolve_is_refused_with_the_numbers(band, duration):
    with pytest.raises(WaveInputError, match=r"cycles in the .* record"):
        check_band_record(band, duration)


@pytest.mark.parametrize("duration", [1.0, 2.0, 4.0, 60.0])
def test_a_band_with_cycles_to_spare_is_accepted(duration):
    assert check_band_record((8, 12), duration) == (8.0, 12.0)


def test_record_notes_warn_about_few_cycles_and_filter_transients_with_the_numbers():
    # 2-4 Hz on 1.2 s: the low edge completes 2.4 cycles; edges of 0.5 Hz settle in 4 s
    notes = band_record_notes((2, 4), (0.5, 0.5), 1.2)
    assert len(notes) == 2
    assert "2.4 cycles" in notes[0] and "fewer than 3" in notes[0]
    assert "settling time (4 s" in notes[1]
    assert band_record_notes((8, 12), (1, 1), 4.0) == []


def test_collinear_layouts_are_detected_at_any_angle_and_offset():
    t = np.linspace(0, 1, 12)
    for ang in np.linspace(0, np.pi, 7):
        line = np.column_stack([t * np.cos(ang), t * np.sin(ang)]) + [5.0, -3.0]
        assert is_collinear(line)
    assert not is_collinear(POS)


def test_to_line_gives_distances_along_a_strip_and_its_direction():
    ang = 0.6
    t = np.arange(8) * 1e-3
    pos = np.column_stack([t * np.cos(ang), t * np.sin(ang)]) + [0.01, 0.02]
    f = WaveField(_data(8), 250.0, pos).to_line()
    np.testing.assert_allclose(f.positions[:, 0], t, atol=1e-15)
    assert f.meta["line_direction"] == pytest.approx(ang)


def test_check_bool_mask_refuses_a_wrong_length():
    with pytest.raises(WaveInputError, match=r"shape \(16,\)"):
        check_bool_mask("bad", [True] * 15, 16)
