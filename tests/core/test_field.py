"""WaveField construction, validation and the .npz interchange format."""

import numpy as np
import pytest

from wavescope import WaveField, read_npz, write_npz
from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions


def make(n=4, t=50, **kw):
    rng = np.random.default_rng(0)
    return WaveField.from_array(rng.standard_normal((n, t)), 100.0, np.arange(n)[:, None], **kw)


def test_basic_properties():
    f = make(space_unit="mm", time_unit="s")
    assert (f.n_sites, f.n_times, f.n_dims) == (4, 50, 1)
    assert f.speed_unit == "mm/s"
    assert f.duration == pytest.approx(0.5)
    assert f.ch_names[0] == "S000"
    assert WaveField.from_line(np.zeros((3, 5))).speed_unit == "sites/step"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(data=np.zeros(10)), "2-D"),
        (dict(fs=0), "fs"),
        (dict(fs=-1.0), "fs"),
        (dict(positions=None), "positions are missing"),
        (dict(positions=np.zeros((3, 2))), "one position per row"),
        (dict(positions=np.zeros((4, 4))), "(n_sites, 1|2|3)"),
        (dict(positions=np.array([[0.0], [np.nan], [1], [2]])), "not finite"),
        (dict(space_unit="furlong"), "unknown space unit"),
        (dict(time_unit="hour"), "unknown time unit"),
        (dict(bad=np.zeros(3, bool)), "bad must be"),
        (dict(ch_names=("a", "b")), "ch_names"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    args = dict(data=np.zeros((4, 10)), fs=100.0, positions=np.arange(4.0)[:, None])
    args.update(kwargs)
    with pytest.raises(
        WaveInputError, match=message.replace("|", r"\|").replace("(", r"\(").replace(")", r"\)")
    ):
        WaveField(**args)


def test_from_grid_orientation_and_mask():
    frames = np.zeros((5, 3, 4))
    frames[:, 1, 2] = 1.0
    mask = np.ones((3, 4), bool)
    mask[0, 0] = False
    f = WaveField.from_grid(frames, 10.0, 0.5e-3, mask=mask)
    assert f.n_sites == 11
    i = int(np.argmax(f.data[:, 0]))
    # x = col * pitch, y = row * pitch
    np.testing.assert_allclose(f.positions[i], [2 * 0.5e-3, 1 * 0.5e-3])
    with pytest.raises(WaveInputError, match="mask"):
        WaveField.from_grid(frames, 10.0, 0.5e-3, mask=np.ones((2, 2), bool))


def test_npz_roundtrip(tmp_path):
    f = make(space_unit="mm", time_unit="s").with_bad(["S001"])
    p = write_npz(tmp_path / "f.npz", f)
    g = read_npz(p)
    np.testing.assert_array_equal(g.data, f.data)
    np.testing.assert_array_equal(g.positions, f.positions)
    assert g.space_unit == "mm" and g.ch_names == f.ch_names
    assert g.bad.tolist() == [False, True, False, False]
    with pytest.raises(WaveInputError, match="exists"):
        write_npz(p, f)


def test_npz_rejects_missing_keys_corrupt_and_pickles(tmp_path):
    np.savez(tmp_path / "nokeys.npz", data=np.zeros((2, 3)))
    with pytest.raises(WaveInputError, match="missing key"):
        read_npz(tmp_path / "nokeys.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(WaveInputError, match="corrupt"):
        read_npz(tmp_path / "corrupt.npz")
    np.savez(
        tmp_path / "pickled.npz",
        data=np.array([{"a": 1}], dtype=object),
        fs=1.0,
        positions=np.zeros((1, 1)),
    )
    with pytest.raises(WaveInputError):
        read_npz(tmp_path / "pickled.npz")
    with pytest.raises(WaveInputError, match="no such file"):
        read_npz(tmp_path / "absent.npz")


def test_pick_crop_and_units():
    f = WaveField.from_array(np.ones((4, 100)), 100.0, grid_positions(2, 2, 1.0), space_unit="mm")
    assert f.pick([0, 3]).n_sites == 2
    assert f.crop(0.1, 0.5).n_times == 40
    assert f.to_space_unit("m").positions.max() == pytest.approx(1e-3)
    with pytest.raises(WaveInputError, match="outside"):
        f.crop(0.5, 2.0)
    with pytest.raises(WaveInputError, match="cannot convert"):
        WaveField.from_line(np.ones((2, 3))).to_space_unit("m")
