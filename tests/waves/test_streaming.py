"""Streaming: memory-mapped .npz recordings measured chunk by chunk, equal to in memory."""

import json
import sys
import zipfile

import numpy as np
import pytest

import wavescope.waves.inputs as inputs
from wavescope import WaveField, read_npz, write_npz
from wavescope.cli.main import main
from wavescope.core.field import release_pages
from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.waves.velocity import auto_band, check_field, measure_velocity

SPEED = 0.3  # m/s, the synthetic truth


@pytest.fixture(scope="module")
def wave(tmp_path_factory):
    """A 6 x 6 grid, 40 s at 500 Hz (20000 samples), 10 Hz plane wave at 0 dB, on disk."""
    f = planar_wave(
        grid_positions(6, 6, 0.4e-3),
        fs=500.0,
        duration=40.0,
        frequency=10.0,
        speed=SPEED,
        direction=0.4,
        snr_db=0.0,
        seed=9,
    )
    f = f.with_data(f.data.astype(np.float32))
    path = write_npz(tmp_path_factory.mktemp("stream") / "wave.npz", f)
    return f, path


def test_read_npz_mmap_maps_data_without_loading(wave):
    f, path = wave
    m = read_npz(path, mmap=True)
    assert isinstance(m.data, np.memmap) and m.data.mode == "r" and m.is_memmap
    np.testing.assert_array_equal(m.data, f.data)  # same bytes, read in place
    assert m.positions.shape == f.positions.shape and m.meta["mmap"] is True
    # WaveField transforms keep the map (no copy); a crop is a view of the file
    assert isinstance(m.crop(1.0, 2.0).data, np.memmap)
    assert isinstance(m.with_bad([True] + [False] * 35).data, np.memmap)
    assert not read_npz(path).is_memmap  # default: loaded


def test_fortran_order_and_float64_members_map(tmp_path):
    x = np.asfortranarray(np.random.default_rng(1).standard_normal((5, 300)))
    p = tmp_path / "f.npz"
    np.savez(p, data=x, fs=100.0, positions=np.arange(5.0))
    m = read_npz(p, mmap=True)
    assert m.data.dtype == np.float64 and m.data.flags.f_contiguous
    np.testing.assert_array_equal(m.data, x)


def test_compressed_npz_refused_with_the_fix_and_auto_loads(tmp_path):
    p = tmp_path / "c.npz"
    x = np.ones((4, 100), np.float32)
    np.savez_compressed(p, data=x, fs=100.0, positions=np.arange(4.0))
    with pytest.raises(WaveInputError, match=r"compressed.*np\.savez\("):
        read_npz(p, mmap=True)
    f = read_npz(p, mmap="auto")
    assert not f.is_memmap and np.array_equal(f.data, x)
    with pytest.raises(WaveInputError, match="mmap must be"):
        read_npz(p, mmap="yes")


def test_integer_memmap_refused(tmp_path):
    p = tmp_path / "i.npz"
    np.savez(p, data=np.ones((4, 100), np.int16), fs=100.0, positions=np.arange(4.0))
    with pytest.raises(WaveInputError, match="float32"):
        read_npz(p, mmap=True)
    assert read_npz(p, mmap="auto").data.dtype == np.float64  # loaded and converted
    mm = np.memmap(tmp_path / "raw.bin", dtype=np.int16, mode="w+", shape=(4, 100))
    with pytest.raises(WaveInputError, match="memory-mapped data must be float"):
        WaveField(np.memmap(tmp_path / "raw.bin", np.int16, "r", shape=(4, 100)), 1.0, np.arange(4))
    del mm


@pytest.mark.parametrize("method", ["phase-gradient", "circlinear"])
def test_memmap_equals_in_memory_exactly_over_many_chunks(wave, method):
    # chunk_samples=3000 cuts 20000 samples into 7 chunks. The mapped and the loaded field
    # go through the same arithmetic on the same float32 values, so every per-sample
    # output and the surrogate threshold must be bit-identical (not just close).
    f, path = wave
    m = read_npz(path, mmap=True)
    kw = dict(method=method, chunk_samples=3000, seed=3)
    a = measure_velocity(f, **kw)
    b = measure_velocity(m, **kw)
    assert a.band == b.band
    for key in ("speed", "direction", "wavelength", "frequency", "pgd", "fit", "wave"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert a.threshold == b.threshold
    assert a.summary() == b.summary()


@pytest.mark.parametrize("method", ["phase-gradient", "circlinear"])
def test_chunked_memmap_matches_unchunked_in_memory(wave, method):
    # Chunks are filtered with an overlap of 4 / (transition width) = 4 s on each side,
    # where the raised-cosine filter's response has decayed, so the chunked analytic signal
    # differs from the whole-record one by float32 rounding and the leftover tail only:
    # PGD within 2e-3 and speed within 0.5% per sample (the same bound as
    # test_accuracy::test_chunked_processing_matches_in_memory), the median speed within
    # 0.1%. Thresholds differ (the surrogates draw per chunk), so they are not compared.
    f, path = wave
    m = read_npz(path, mmap=True)
    whole = measure_velocity(f, (8, 12), method=method, n_surrogates=0)
    parts = measure_velocity(m, (8, 12), method=method, n_surrogates=0, chunk_samples=3000)
    v = whole.valid
    assert parts.pgd.shape == whole.pgd.shape and np.array_equal(parts.valid, v)
    np.testing.assert_allclose(parts.pgd[v], whole.pgd[v], atol=2e-3)
    np.testing.assert_allclose(parts.speed[v], whole.speed[v], rtol=5e-3)
    sp_w, sp_p = whole.summary()["speed"]["median"], parts.summary()["speed"]["median"]
    assert sp_p == pytest.approx(sp_w, rel=1e-3)
    assert sp_p == pytest.approx(SPEED, rel=0.02)  # and both measure the truth


def test_per_sample_outputs_do_not_scale_with_sites_times_samples(wave):
    # circlinear used to keep the (sites x samples) phase for a final fit; now it is fitted
    # per chunk, and no output array holds one value per site and sample
    f, _ = wave
    r = measure_velocity(f, (8, 12), method="circlinear", chunk_samples=3000)
    n_out = len(r.index)
    arrays = [v for v in vars(r).values() if isinstance(v, np.ndarray)]
    arrays += [v for v in vars(r.patterns).values() if isinstance(v, np.ndarray)]
    assert max(a.size for a in arrays) < f.n_sites * n_out
    assert all(a.size <= 2 * n_out for a in arrays)


def test_check_field_scans_a_memmap_blockwise(tmp_path, monkeypatch):
    # 100-value blocks force many blocks; a NaN in the last block and a flat site must be
    # found and named exactly as on the loaded array
    monkeypatch.setattr(inputs, "CHECK_BLOCK_VALUES", 100)
    x = np.random.default_rng(2).standard_normal((4, 1000)).astype(np.float32)
    x[2, 990] = np.nan
    p = tmp_path / "n.npz"
    np.savez(p, data=x, fs=100.0, positions=np.arange(4.0))
    with pytest.raises(WaveInputError, match=r"NaN/inf samples in site\(s\) \['S002'\]"):
        check_field(read_npz(p, mmap=True))
    x[2, 990] = 0.0
    x[1] = 0.5
    np.savez(p, data=x, fs=100.0, positions=np.arange(4.0))
    with pytest.raises(WaveInputError, match=r"flat .*\['S001'\]"):
        check_field(read_npz(p, mmap=True))
    good = check_field(read_npz(p, mmap=True).with_bad([False, True, False, False]))
    np.testing.assert_array_equal(good, [0, 2, 3])


def test_auto_band_bounded_subset_finds_the_peak_same_for_memmap(wave, monkeypatch):
    # Force the bounded path (a few Hann segments of at most 2**15 samples, 32 sites at a
    # time) on the 20000-sample record: the band must still hold the 10 Hz peak, within
    # the Welch resolution fs / nperseg = 500 / 2500 = 0.2 Hz, and be the same mapped or not.
    f, path = wave
    monkeypatch.setattr(inputs, "AUTO_BAND_MAX_VALUES", 1000)
    lo, hi = auto_band(f)
    assert lo * 1.25 == pytest.approx(10.0, abs=0.2) and hi == pytest.approx(lo * 1.25**2)
    assert auto_band(read_npz(path, mmap=True)) == (lo, hi)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_release_pages_returns_mapped_pages(tmp_path):
    # Reading every page of a 64 MB map raises RssFile by about 64 MB; release_pages must
    # give it back (the measures call it after each chunk, so the resident set stays at
    # one chunk). 32 MB is a loose bound against other file pages of the process.
    def rss_file_mb():
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("RssFile")) / 1024

    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float32, (16, 2**20))
    x[:] = 1.0
    x.flush()
    del x
    m = np.load(tmp_path / "x.npy", mmap_mode="r")
    before = rss_file_mb()
    assert float(m.sum(dtype=np.float64)) == 16 * 2**20
    touched = rss_file_mb()
    release_pages(m[:, :10])  # a view: the whole mapping is released
    after = rss_file_mb()
    assert touched - before > 32
    assert touched - after > 32


def test_cli_streams_a_npz_with_small_chunks_like_the_library(wave, tmp_path):
    f, path = wave
    out = tmp_path / "s.json"
    rc = main(["velocity", str(path), "--band", "8", "12", "--chunk-samples", "3000"])
    assert rc == 0
    assert main(["velocity", str(path), "--band", "8", "12", "--chunk-samples", "3000",
                 "--json", str(out)]) == 0  # fmt: skip
    s = json.loads(out.read_text())
    ref = measure_velocity(f, (8, 12), chunk_samples=3000).summary()
    assert s["speed"] == ref["speed"] and s["pgd"] == ref["pgd"]
    # the archive really stores data uncompressed (what makes the map possible)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("data.npy").compress_type == zipfile.ZIP_STORED
