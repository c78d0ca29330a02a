"""The fuzz suite's past findings, kept as plain tests (issue 20, item 7)."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_strategies import FieldSpec

from wavescope.core.errors import WaveInputError
from wavescope.waves import measure_velocity
from wavescope.waves.planar import fit_phase_plane


def test_a_record_within_its_edges_is_refused_not_an_indexerror():
    """20 samples at 200 Hz: after the edges no sample of the surrogates is left for the
    wave-epoch null (numpy's quantile of an empty array raised IndexError)."""
    spec = FieldSpec(seed=0, layout="grid", n=8, pitch=1.0, n_times=20, fs=200.0,
                     content="wave+noise", f_rel=0.125, wavelength_sites=1.0, scale=1.0,
                     scale_all=True, dtype="float32", bad_fraction=0.0, nan_samples=False,
                     space_unit="m")  # fmt: skip
    field = spec.build()
    with pytest.raises(WaveInputError, match="no sample is left for the wave-epoch null"):
        for band in ((20.0, 30.0), (10.0, 40.0), (5.0, 60.0)):
            measure_velocity(field, band, method="phase-gradient", n_surrogates=1, edge=0.05)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weights", ["uniform", "spread"])
def test_collinear_positions_far_from_the_origin_give_no_2d_gradient(dtype, weights):
    """Sites on the line y = 2x + 1, spaced 1e-5 and offset by 1000: float32 round-off of
    the weighted normal matrix once made it look regular."""
    rng = np.random.default_rng(1)
    t = np.arange(20, dtype=float)
    pos = np.column_stack([t, 2 * t + 1]) * 1e-5 + 1000.0
    phase = np.angle(np.exp(1j * (pos @ rng.normal(size=2))[:, None] + 1j * rng.uniform(0, 6, 20)))
    W = None if weights == "uniform" else 10.0 ** rng.uniform(-300, 300, size=phase.shape)
    g, fit = fit_phase_plane(phase.astype(dtype), pos, W)
    assert g.shape == (2, 20)
    assert not np.isfinite(g).any()


def test_a_widefield_npz_whose_zip_version_byte_was_damaged_is_refused(tmp_path):
    """One byte of the central directory set to 64 ("zip file version 6.4"): the format
    sniffing raised NotImplementedError (long fuzz run of the frame readers)."""
    import io

    from wavescope.io import read_recording

    buf = io.BytesIO()
    frames = np.full((4, 8, 8), 1000, np.uint16)
    np.savez(buf, frames=frames, fs_hz=np.float64(50.0), pixel_size_m=np.float64(1e-4))
    raw = bytearray(buf.getvalue())
    at = raw.rfind(b"PK\x01\x02") + 5  # "version made by" (high byte) of the last entry
    raw[at - 1] = 64
    raw[at + 1] = 64  # "version needed to extract"
    path = tmp_path / "wf.npz"
    path.write_bytes(bytes(raw))
    with pytest.raises(WaveInputError):
        read_recording(path)
