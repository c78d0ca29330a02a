"""Hypothesis strategies for the fuzz suite: adversarial fields and interchange files.

Every strategy draws a seed and builds its arrays with numpy from it, so that examples
shrink to small seeds and sizes and can be rebuilt from the printed draw.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from wavescope.core.field import WaveField

#: Layouts drawn: the usual ones and the degenerate ones that broke measures before.
LAYOUTS = ("grid", "line", "irregular", "collinear-2d", "one-site", "two-sites", "duplicate")


def positions_for(layout: str, n: int, rng: np.random.Generator, pitch: float) -> np.ndarray:
    if layout == "grid":
        side = max(2, int(math.isqrt(max(n, 4))))
        r, c = np.divmod(np.arange(side * side), side)
        return np.column_stack([c, r]).astype(float) * pitch
    if layout == "line":
        return (np.arange(max(n, 2), dtype=float) * pitch)[:, None]
    if layout == "irregular":
        return rng.uniform(0, pitch * max(n, 3) ** 0.5, size=(max(n, 3), 2))
    if layout == "collinear-2d":
        t = np.arange(max(n, 3), dtype=float) * pitch
        ang = rng.uniform(0, np.pi)
        return np.column_stack([t * np.cos(ang), t * np.sin(ang)]) + rng.uniform(-5, 5, 2)
    if layout == "one-site":
        return np.zeros((1, 2))
    if layout == "two-sites":
        return np.array([[0.0, 0.0], [pitch, 0.0]])
    pos = rng.uniform(0, pitch * 4, size=(max(n, 4), 2))
    pos[1] = pos[0]  # duplicate
    return pos


@dataclass(frozen=True)
class FieldSpec:
    """What :func:`build_field` needs to rebuild one fuzzed field (a compact repr for
    hypothesis' failure reports, instead of the arrays)."""

    seed: int
    layout: str
    n: int
    pitch: float
    n_times: int
    fs: float
    content: str
    f_rel: float
    wavelength_sites: float
    scale: float
    scale_all: bool
    dtype: str
    bad_fraction: float
    nan_samples: bool
    space_unit: str

    def build(self) -> WaveField:
        return build_field(self)


def build_field(spec: FieldSpec) -> WaveField:
    rng = np.random.default_rng(spec.seed)
    pos = positions_for(spec.layout, spec.n, rng, spec.pitch)
    n_sites, n_times, fs = len(pos), spec.n_times, spec.fs
    t = np.arange(n_times) / fs
    if spec.content == "constant":
        data = np.tile(rng.normal(size=(n_sites, 1)), (1, n_times))
    elif spec.content == "zeros+one":
        data = np.zeros((n_sites, n_times))
        data[:, 0] = 1.0
    else:
        k = rng.normal(size=pos.shape[1]) * (2 * np.pi / (spec.pitch * spec.wavelength_sites))
        wave = np.cos(2 * np.pi * spec.f_rel * fs * t[None] - (pos @ k)[:, None])
        noise = rng.normal(size=(n_sites, n_times))
        data = {"wave": wave, "noise": noise, "wave+noise": wave + 0.5 * noise}[spec.content]
    if spec.scale_all:
        data = data * spec.scale
    else:  # one channel far louder or quieter than the rest
        data[int(rng.integers(n_sites))] *= spec.scale
    if spec.dtype == "int16":
        peak = max(float(np.max(np.abs(data))), 1e-300)
        data = np.clip(np.round(data / peak * 3e4), -32768, 32767)
    data = data.astype(spec.dtype)
    bad = rng.random(n_sites) < spec.bad_fraction
    if spec.nan_samples:
        data = data.astype(float)
        data[rng.random(n_sites) < 0.3, rng.integers(n_times)] = np.nan
    time_unit = "step" if spec.space_unit == "site" else "s"
    return WaveField(data, fs, pos, space_unit=spec.space_unit, time_unit=time_unit, bad=bad)


#: Adversarial twists; each example applies up to two of them to a plausible recording.
TWISTS = ("layout", "length", "content", "scale", "int16", "bad", "nan", "high-frequency")


@st.composite
def field_specs(draw, max_sites: int = 25, max_times: int = 1200) -> FieldSpec:
    """A plausible recording (a noisy wave on a grid, line or irregular layout) with up to
    two adversarial twists: a degenerate layout, 1-199 samples, constant or impulse or
    noise content, data scaled by 1e-30..1e30 (all sites or one), int16 samples, bad
    sites, NaN samples, a frequency near Nyquist."""
    twists = draw(st.sets(st.sampled_from(TWISTS), max_size=2))
    if "layout" in twists:
        layout = draw(st.sampled_from(LAYOUTS))
        n = draw(st.integers(1, max_sites))
    else:
        layout = draw(st.sampled_from(("grid", "line", "irregular")))
        n = draw(st.integers(8, max_sites))
    if "length" in twists:
        n_times = draw(st.integers(1, 8) | st.integers(9, 199))
    else:
        n_times = draw(st.integers(300, max_times))
    content = "wave+noise"
    if "content" in twists:
        content = draw(st.sampled_from(["wave", "noise", "constant", "zeros+one"]))
    scale, scale_all = 1.0, True
    if "scale" in twists:
        scale, scale_all = 10.0 ** draw(st.floats(-30, 30)), draw(st.booleans())
    dtype = "int16" if "int16" in twists else draw(st.sampled_from(["float32", "float64"]))
    return FieldSpec(
        seed=draw(st.integers(0, 2**16)),
        layout=layout,
        n=n,
        pitch=10.0 ** draw(st.floats(-4, 1)),
        n_times=n_times,
        fs=draw(st.sampled_from([1.0, 250.0, 1000.0]) | st.floats(0.5, 4000.0)),
        content=content,
        f_rel=draw(st.floats(0.3, 0.45))
        if "high-frequency" in twists
        else draw(st.floats(0.02, 0.2)),
        wavelength_sites=draw(st.floats(1.0, 50.0)),
        scale=scale,
        scale_all=scale_all,
        dtype=dtype,
        bad_fraction=draw(st.sampled_from([0.2, 0.6, 0.9])) if "bad" in twists else 0.0,
        nan_samples="nan" in twists and dtype != "int16",
        space_unit=draw(st.sampled_from(["m", "mm", "site"])),
    )


@st.composite
def bands(draw, fs: float):
    """None (auto), an ordinary band, or one with edges near 0 or Nyquist."""
    kind = draw(
        st.sampled_from(
            ["auto", "ordinary", "ordinary", "ordinary", "tiny", "lowpass", "near-nyquist", "odd"]
        )
    )
    nyq = fs / 2
    if kind == "auto":
        return None
    if kind == "ordinary":
        lo = draw(st.floats(0.001, 0.4)) * nyq
        return (lo, min(lo * draw(st.floats(1.05, 3.0)), 0.98 * nyq))
    if kind == "tiny":
        lo = 10.0 ** draw(st.floats(-308, -3))
        return (lo, lo * draw(st.floats(1.001, 100.0)))
    if kind == "lowpass":
        return (0.0, nyq * 10.0 ** draw(st.floats(-12, -0.01)))
    if kind == "near-nyquist":
        return (nyq * 0.9, nyq * (1 - 10.0 ** draw(st.floats(-12, -2))))
    return draw(
        st.sampled_from(
            [(0.0, 0.0), (-1.0, 5.0), (5.0, 4.0), (float("nan"), 1.0), (1.0, float("inf"))]
        )
    )


def finite_numbers_problems(node, path="") -> list[str]:
    """Paths of the numbers in a (JSON-ready) summary that are NaN or infinite."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out += finite_numbers_problems(v, f"{path}{k}.")
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            out += finite_numbers_problems(v, f"{path}{i}.")
    elif isinstance(node, (float, np.floating)) and not np.isfinite(node):
        out.append(path.rstrip("."))
    return out


def assert_clean_summary(summary: dict) -> None:
    """No NaN/inf anywhere; a None speed comes with a warning saying why; valid JSON."""
    problems = finite_numbers_problems(summary)
    assert not problems, f"non-finite numbers in the summary: {problems}"
    if summary["speed"]["median"] is None:
        assert summary["warnings"], "speed is None without a warning giving the reason"
    json.dumps(summary, allow_nan=False)


# ------------------------------------------------------------------ files


def npy_bytes(arr: np.ndarray, shape=None) -> bytes:
    """A .npy file for ``arr``; with ``shape`` its header claims that shape instead."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    raw = buf.getvalue()
    if shape is None:
        return raw
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        hdr, {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False,
              "shape": tuple(shape)}
    )  # fmt: skip
    true = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        true, {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False,
               "shape": arr.shape}
    )  # fmt: skip
    return hdr.getvalue() + raw[len(true.getvalue()) :]


def archive(members: dict[str, bytes], compressed: bool) -> bytes:
    buf = io.BytesIO()
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", mode) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return buf.getvalue()


def recording_members(rng: np.random.Generator, n_sites: int = 6, n_times: int = 64):
    data = rng.normal(size=(n_sites, n_times)).astype(np.float32)
    return {
        "data.npy": npy_bytes(data),
        "fs.npy": npy_bytes(np.float64(250.0)),
        "positions.npy": npy_bytes(np.arange(n_sites, dtype=float)[:, None]),
        "space_unit.npy": npy_bytes(np.array("mm")),
        "ch_names.npy": npy_bytes(np.array([f"E{i}" for i in range(n_sites)])),
        "bad.npy": npy_bytes(np.zeros(n_sites, bool)),
    }
