"""The interchange .npz reader against bad files (issue 12, items 1, 10, 11, 12).

A key outside the format is an error naming the closest key, never ignored; members are
size-checked against their headers before anything is loaded; a file of another kind
under an .npz name is named for what it is; nothing is ever unpickled.
"""

from __future__ import annotations

import io
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest

import wavescope.core.validate as validate
from wavescope.core.errors import WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import read_npz, write_npz


def _npy(arr, shape=None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr)
    raw = buf.getvalue()
    if shape is None:
        return raw
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    hdr, true = io.BytesIO(), io.BytesIO()
    np.lib.format.write_array_header_1_0(
        hdr, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    np.lib.format.write_array_header_1_0(
        true, {"descr": descr, "fortran_order": False, "shape": arr.shape}
    )
    return hdr.getvalue() + raw[len(true.getvalue()) :]


def _zip(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return path


@pytest.fixture
def wave():
    return planar_wave(
        grid_positions(4, 4, 1.0), fs=250, duration=4, frequency=10, speed=300.0,
        space_unit="mm", seed=0,
    )  # fmt: skip


def _members(f):
    return {"data": f.data, "fs": np.float64(f.fs), "positions": f.positions}


@pytest.mark.parametrize(
    ("typo", "closest"),
    [("space_units", "space_unit"), ("bads", "bad"), ("timeunit", "time_unit"),
     ("channel_names", "ch_names"), ("Data", "data")],
)  # fmt: skip
def test_a_misspelt_key_is_an_error_naming_the_closest_known_key(tmp_path, wave, typo, closest):
    members = _members(wave)
    if typo == "Data":
        members.pop("data")
    np.savez(tmp_path / "rec.npz", **members, **{typo: np.array("mm")})
    with pytest.raises(WaveInputError, match=rf"unknown key.*{typo!r}.*did you mean {closest!r}"):
        read_npz(tmp_path / "rec.npz")


def test_an_unused_large_member_is_refused_from_its_header_without_loading_it(tmp_path, wave):
    """A 1 MB recording with an extra 256 MB member (deflated to about 256 KB): the error
    comes from the member's name and header alone; traced allocations stay under 4 MB."""
    members = {f"{k}.npy": _npy(v) for k, v in _members(wave).items()}
    members["junk.npy"] = _npy(np.zeros((2**26,), np.float32))
    path = _zip(tmp_path / "rec.npz", members, zipfile.ZIP_DEFLATED)
    tracemalloc.start()
    try:
        with pytest.raises(WaveInputError, match="unknown key"):
            read_npz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("mmap", [False, True, "auto"])
def test_a_header_that_claims_more_data_than_the_member_holds_is_refused(
    tmp_path, wave, compression, mmap
):
    members = {f"{k}.npy": _npy(v) for k, v in _members(wave).items()}
    members["data.npy"] = _npy(wave.data, shape=(16, 10**9))  # claims 64 GB
    path = _zip(tmp_path / "rec.npz", members, compression)
    if mmap is True and compression == zipfile.ZIP_DEFLATED:
        with pytest.raises(WaveInputError, match="compressed|declares shape"):
            read_npz(path, mmap=mmap)
        return
    with pytest.raises(WaveInputError, match=r"declares shape \(16, 1000000000\).*holds"):
        read_npz(path, mmap=mmap)


def test_a_member_larger_than_the_memory_available_is_refused_before_loading(
    tmp_path, wave, monkeypatch
):
    """A zip bomb: a deflated member whose honest header asks for more memory than the
    machine has (here: the limit is lowered to 1 MB for a 4 MB member)."""
    members = {f"{k}.npy": _npy(v) for k, v in _members(wave).items()}
    members["data.npy"] = _npy(np.zeros((16, 2**16), np.float32))
    path = _zip(tmp_path / "rec.npz", members, zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(validate, "MEMORY_LIMIT_BYTES", 2**20)
    with pytest.raises(WaveInputError, match=r"needs 4 MiB, more than the 1 MiB.*mmap=True"):
        read_npz(path)


def test_a_truncated_archive_is_called_truncated_or_corrupt(tmp_path, wave):
    write_npz(tmp_path / "rec.npz", wave)
    raw = (tmp_path / "rec.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(WaveInputError, match="truncated or corrupt"):
        read_npz(tmp_path / "cut.npz")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (_npy(np.zeros((4, 10))), "single .npy array"),
        (b"time,ch1,ch2\n0,1,2\n", "text file"),
        (b"", "empty file"),
        (b"\x1f\x8b\x08\x00rest", "gzip"),
    ],
)
def test_a_file_of_another_kind_under_an_npz_name_is_named_for_what_it_is(tmp_path, content, named):
    path = tmp_path / "rec.npz"
    path.write_bytes(content)
    with pytest.raises(WaveInputError, match=named) as err:
        read_npz(path)
    assert "pickled" not in str(err.value)
    assert "write_npz" in str(err.value)


class _Trap:
    path = None

    def __reduce__(self):
        return (open, (str(_Trap.path), "w"))


def test_a_pickle_renamed_npz_is_refused_and_never_unpickled(tmp_path):
    _Trap.path = tmp_path / "was-unpickled"
    (tmp_path / "rec.npz").write_bytes(pickle.dumps({"data": _Trap()}))
    with pytest.raises(WaveInputError, match="pickle"):
        read_npz(tmp_path / "rec.npz")
    assert not _Trap.path.exists()


def test_an_object_array_member_is_refused_as_unpicklable(tmp_path, wave):
    np.savez(tmp_path / "rec.npz", **_members(wave),
             ch_names=np.array([1, "a"] * 8, dtype=object))  # fmt: skip
    with pytest.raises(WaveInputError, match="Python objects.*refused"):
        read_npz(tmp_path / "rec.npz")


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [("fs", np.array([250.0, 250.0]), "real scalar"), ("fs", np.complex128(250), "real scalar"),
     ("space_unit", np.float64(1.0), "string"), ("data", np.zeros(10), "numeric array")],
)  # fmt: skip
def test_a_member_of_the_wrong_form_is_refused_from_its_header(tmp_path, wave, key, value, what):
    members = _members(wave)
    members[key] = value
    np.savez(tmp_path / "rec.npz", **members)
    with pytest.raises(WaveInputError, match=rf"{key!r} must be a.*{what}"):
        read_npz(tmp_path / "rec.npz")


@pytest.mark.parametrize("mmap", [False, True, "auto"])
def test_an_intact_file_reads_back_equal_with_and_without_mapping(tmp_path, wave, mmap):
    bad = np.zeros(16, bool)
    bad[5] = True
    f = wave.with_bad(bad)
    write_npz(tmp_path / "rec.npz", f)
    g = read_npz(tmp_path / "rec.npz", mmap=mmap)
    np.testing.assert_array_equal(np.asarray(g.data), f.data)
    np.testing.assert_array_equal(g.positions, f.positions)
    assert (g.fs, g.space_unit, g.ch_names) == (f.fs, f.space_unit, f.ch_names)
    np.testing.assert_array_equal(g.bad, f.bad)
    assert g.is_memmap == (mmap is not False)


def test_bool_like_strings_in_bad_are_read_by_meaning(tmp_path, wave):
    np.savez(tmp_path / "rec.npz", **_members(wave), bad=np.array(["False"] * 15 + ["True"]))
    assert read_npz(tmp_path / "rec.npz").bad.tolist() == [False] * 15 + [True]


def test_a_mapped_member_cut_short_is_refused_before_mapping(tmp_path, wave):
    """A stored data member 1000 bytes shorter than its header says (a header written
    before a crash, the rest of the data never written)."""
    members = {f"{k}.npy": _npy(v) for k, v in _members(wave).items()}
    members["data.npy"] = members["data.npy"][:-1000]
    path = _zip(tmp_path / "short.npz", members)
    with pytest.raises(WaveInputError, match="declares shape"):
        read_npz(path, mmap=True)
