"""Fuzz: the frame-stack readers (widefield .npz, HDF5, TIFF) read a stack or refuse it.

Stacks of any shape (including 1-D, 4-D and empty ones), dtype (bool, integers, floats,
strings), content (constant, zeros, negative, NaN, inf), frame rates and pixel sizes of
any value and type (0, negative, NaN, text, arrays), then damaged (truncated, bytes
overwritten). The claim: each ends in a WaveField or a WaveInputError, never another
exception; example counts come from the hypothesis profile (``tests/conftest.py``).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from wavescope.core.errors import WaveInputError
from wavescope.core.field import WaveField
from wavescope.io import read_recording

SHAPES = st.sampled_from(
    [(3, 6, 5), (2, 4, 4), (1, 8, 8), (0, 4, 4), (8, 1, 1), (40,), (6, 6), (4, 6, 6, 2),
     (12, 0, 5), (30, 10, 12)]
)  # fmt: skip
DTYPES = st.sampled_from(["int16", "float64", "uint8", "bool", "float32"])
CONTENT = st.sampled_from(["constant", "zeros", "negative", "nan", "inf", "huge"])
RATES = st.sampled_from(
    [1.0, 0.0, -5.0, float("nan"), float("inf"), 1e300, "fast", [10.0, 20.0], b"50"]
)
PIXELS = st.sampled_from([0.0, -1e-4, float("nan"), "small", [1e-4, 2e-4], [1, 2, 3]])
#: What a case changes from a readable stack (up to two of them at once).
TWISTS = ("shape", "dtype", "content", "fs", "pixel", "truncate", "overwrite")


@st.composite
def stack_cases(draw):
    """A readable stack (a bright disk of cortex in a dark frame, uint16 camera counts,
    50 Hz, 0.1 mm pixels) with up to two twists."""
    twists = draw(st.sets(st.sampled_from(TWISTS), max_size=2))
    return dict(
        shape=draw(SHAPES) if "shape" in twists else (20, 12, 12),
        dtype=draw(DTYPES) if "dtype" in twists else "uint16",
        content=draw(CONTENT) if "content" in twists else "camera",
        fs=draw(RATES) if "fs" in twists else 50.0,
        px=draw(PIXELS) if "pixel" in twists else 1e-4,
        damage=next((t for t in ("truncate", "overwrite") if t in twists), "none"),
        seed=draw(st.integers(0, 2**16)),
    )


def frames(shape, dtype, content, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(100, 200, size=shape)
    if len(shape) == 3 and shape[1] and shape[2]:  # a bright disk: the cortex
        r, c = np.ogrid[: shape[1], : shape[2]]
        disk = (r - shape[1] / 2) ** 2 + (c - shape[2] / 2) ** 2 < (min(shape[1:]) / 2.5) ** 2
        x = x + 2000 * disk
    if content == "constant":
        x[...] = 500
    elif content == "zeros":
        x[...] = 0
    elif content == "negative":
        x -= 5000
    elif content == "huge":
        x *= 1e300 if dtype.startswith("float64") else 1
    if dtype == "bool":
        return x > 2000
    x = x.astype(dtype)
    if content in ("nan", "inf") and x.dtype.kind == "f" and x.size:
        x.flat[int(rng.integers(x.size))] = np.nan if content == "nan" else np.inf
    return x


def _frames(case) -> np.ndarray:
    return frames(case["shape"], case["dtype"], case["content"], case["seed"])


def damage(raw: bytes, how: str, data) -> bytes:
    if how == "truncate" and raw:
        return raw[: data.draw(st.integers(0, len(raw) - 1), label="cut")]
    if how == "overwrite" and raw:
        raw = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8), label="n_bytes")):
            at = data.draw(st.integers(0, len(raw) - 1), label="at")
            raw[at] = data.draw(st.integers(0, 255), label="value")
        return bytes(raw)
    return raw


def _value(v):
    if isinstance(v, str):
        return np.str_(v)
    if isinstance(v, bytes):
        return np.bytes_(v)
    return np.asarray(v, dtype=float)


def _read(path, kind, **options):
    try:
        field = read_recording(path, **options)
    except WaveInputError:
        event(f"{kind}: refused")
        return None
    event(f"{kind}: read")
    assert isinstance(field, WaveField)
    assert np.all(np.isfinite(field.data)), "a stack was read into non-finite samples"
    return field


@given(st.data(), stack_cases())
def test_widefield_npz_is_read_or_refused(tmp_path, data, case):
    buf = io.BytesIO()
    np.savez(buf, frames=_frames(case), fs_hz=_value(case["fs"]),
             pixel_size_m=_value(case["px"]))  # fmt: skip
    path = tmp_path / "wf.npz"
    path.write_bytes(damage(buf.getvalue(), case["damage"], data))
    _read(path, "widefield")


@given(st.data(), stack_cases())
def test_hdf5_frames_are_read_or_refused(tmp_path, data, case):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("frames", data=_frames(case))
        for key, v in (("fs_hz", case["fs"]), ("pixel_size_m", case["px"])):
            if data.draw(st.booleans(), label=f"{key} on the root group"):
                f.attrs[key] = v
            else:
                d.attrs[key] = v
    path.write_bytes(damage(path.read_bytes(), case["damage"], data))
    _read(path, "hdf5")


@given(st.data(), stack_cases())
def test_tiff_stacks_are_read_or_refused(tmp_path, data, case):
    tifffile = pytest.importorskip("tifffile")
    arr, dtype = _frames(case), case["dtype"]
    path = tmp_path / "stack.tif"
    finterval = data.draw(st.just(0.02) | st.sampled_from([0.0, -1.0, float("nan"), 1e-300]))
    try:
        tifffile.imwrite(path, arr, imagej=dtype != "float64" and arr.ndim >= 2,
                         metadata={"finterval": finterval, "unit": "um"},
                         resolution=(10.0, 10.0))  # fmt: skip
    except (ValueError, TypeError):  # a shape or dtype tifffile will not write
        event("tifffile refused to write")
        return
    path.write_bytes(damage(path.read_bytes(), case["damage"], data))
    options = {}
    if data.draw(st.booleans(), label="give fs_hz and pixel_size_m"):
        options = dict(fs_hz=case["fs"], pixel_size_m=case["px"])
    _read(path, "tiff", **options)
