"""The validation bank's breadth cells: the layouts, signals and backgrounds users also bring.

The core bank (:mod:`wavescope.datasets.bank`) is recording-like and 2-D. These cells add,
each with its truth in ``meta["truth"]`` (speed in the field's own units):

Layouts
    ``"line-steps"``: 32 model-state sites on a line, one sample per step (space in sites,
    time in steps; speeds in sites/step, as :func:`wavescope.models.probe.capture_states`
    writes them). ``"uneven-line"``: 16 contacts on a line at 0.1 mm +-40% (a laminar
    probe), metres and seconds. ``"depth3d"``: 4 depth-electrode shafts of 8 contacts
    (0.5 mm apart, shafts 1 mm apart) on a curved, tilted sheet in 3-D, projected onto
    their best-fit plane as the MNE and BIDS readers do
    (:func:`wavescope.io.projection.project_positions`, ``"plane"``); the wave travels in
    3-D and its truth is the plane wave that best fits its delays on the projected sites.
Signals
    ``"pulses"``: a Gabor transient (1/f0 wide) crossing the array, repeated every 10
    cycles of f0. ``"impulse"``: a delay line's (shift register's) broadband impulse
    response, a 0.7-step Gaussian travelling ``speed`` sites/step (one impulse, as a model
    probe gives). ``"ssm"``: the real part of a complex diagonal SSM's state driven by white
    input, ``h_n(t+1) = lambda_n h_n(t) + b_n u(t)``, each site one damped complex mode at
    frequency f0 (damping 0.008-0.012 cycles/step) with input phases ``b_n`` that make the
    phase velocity across the line ``speed``.
Backgrounds
    ``"pink"`` smoothed over ``smooth_length`` (0.5-3 mm in these cells; on a line of state
    sites the length is read in 0.4 mm sites: 1 mm = 2.5 sites) and ``"smooth"``:
    band-limited (1-40 Hz; 0.01-0.3 cycles/step) spatially smooth noise that does not
    propagate (:func:`wavescope.datasets.synthetic.smooth_noise`) plus 10% white.

Frequencies are drawn per seed: 8-14 Hz, or 0.05-0.15 cycles/step. ``truth["band"]`` is
the band the scorecard gives in its band-given mode: f0 +-2 Hz, f0 +-0.02 cycles/step,
or 0.02-0.45 cycles/step for the broadband impulse.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.signal import lfilter

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.datasets import bank
from wavescope.datasets.backgrounds import mix_at_snr, pink_background
from wavescope.datasets.synthetic import noise_field, smooth_noise
from wavescope.io.projection import project_positions

__all__ = ["breadth_cells", "breadth_field"]

N_LINE_SITES = 32


def _line_uneven(rng) -> np.ndarray:
    gaps = 1e-4 * rng.uniform(0.6, 1.4, 15)
    return np.concatenate([[0.0], np.cumsum(gaps)])[:, None]


def _depth3d(rng) -> np.ndarray:
    """4 shafts x 8 contacts on a sheet of curvature radius 8 mm, randomly rotated."""
    u, v = np.meshgrid(np.arange(8) * 0.5e-3, np.arange(4) * 1e-3, indexing="ij")
    u, v = u.ravel() - u.mean(), v.ravel() - v.mean()
    w = (u**2 + v**2) / (2 * 8e-3) + rng.normal(0, 0.05e-3, u.size)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return np.column_stack([u, v, w]) @ q.T + 0.02


def _layout(cell, rng) -> dict:
    """Positions, their 3-D original where there is one, the units and fs."""
    if cell.layout == "line-steps":
        pos = np.arange(N_LINE_SITES, dtype=float)[:, None]
        return dict(pos=pos, pos3=None, space="site", time="step", fs=1.0)
    if cell.layout == "uneven-line":
        return dict(pos=_line_uneven(rng), pos3=None, space="m", time="s", fs=bank.FS)
    if cell.layout == "depth3d":
        p3 = _depth3d(rng)
        xy, _ = project_positions(p3, "plane")
        return dict(pos=xy, pos3=p3, space="m", time="s", fs=bank.FS)
    return dict(pos=bank._positions(cell.layout, rng), pos3=None, space="m", time="s", fs=bank.FS)


def _direction(lay: dict, rng) -> np.ndarray:
    """A unit propagation vector in the space the signal is generated in."""
    if lay["pos3"] is not None:  # within the sheet: a random direction in its plane
        c = lay["pos3"] - lay["pos3"].mean(0)
        _, _, vt = np.linalg.svd(c, full_matrices=False)
        a = rng.uniform(-np.pi, np.pi)
        return np.cos(a) * vt[0] + np.sin(a) * vt[1]
    if lay["pos"].shape[1] == 1:
        return np.array([1.0 if rng.random() < 0.5 else -1.0])
    a = rng.uniform(-np.pi, np.pi)
    return np.array([np.cos(a), np.sin(a)])


def _truth_plane(pos: np.ndarray, delays: np.ndarray) -> tuple[float, float]:
    """Speed and direction of the plane wave that best fits ``delays`` on ``pos``."""
    a = np.column_stack([pos, np.ones(len(pos))])
    slow = np.linalg.lstsq(a, delays, rcond=None)[0][:-1]
    return float(1 / np.linalg.norm(slow)), float(
        np.arctan2(slow[-1] if slow.size > 1 else 0, slow[0])
    )


def _gabor(tau: np.ndarray, f0: float) -> np.ndarray:
    return np.exp(-0.5 * (tau * f0 / 0.6) ** 2) * np.cos(2 * np.pi * f0 * tau)


def _clean_wave(cell, t, delays, f0, fs, rng) -> np.ndarray:
    if cell.kind == "wave":
        return np.cos(2 * np.pi * f0 * (t[None, :] - delays[:, None]))
    if cell.kind == "bursts":
        env = bank._envelope(cell, t, rng)
        return np.cos(2 * np.pi * f0 * (t[None, :] - delays[:, None])) * env
    if cell.kind == "pulses":
        period = 10 / f0
        starts = np.arange(period / 2, t[-1] - period / 2, period)
        starts = starts + rng.uniform(-0.2, 0.2, starts.size) * period
        out = np.zeros((len(delays), t.size))
        for s in starts:
            out += _gabor(t[None, :] - s - delays[:, None], f0)
        return out
    if cell.kind == "impulse":
        tau = t[None, :] - 8.0 - (delays - delays.min())[:, None]
        return np.exp(-0.5 * (tau / 0.7) ** 2)
    # ssm: damped complex modes driven by one white input
    u = rng.standard_normal(t.size)
    damping = rng.uniform(0.008, 0.012, len(delays))
    out = np.empty((len(delays), t.size))
    for i, (d, b) in enumerate(zip(damping, delays)):
        lam = np.exp(-2 * np.pi * d / fs + 2j * np.pi * f0 / fs)
        z = lfilter([1.0], [1.0, -lam], u)
        out[i] = np.real(np.exp(-2j * np.pi * f0 * b) * z)
    return out


def _clean_no_wave(cell, lay, t, f0, rng) -> np.ndarray | None:
    if cell.kind in ("white", "pink", "smooth"):
        return None
    if cell.kind in ("volume", "patches") and lay["pos"].shape[1] == 1:
        raise WaveInputError(f"{cell.kind} cells need a 2-D layout, not {cell.layout}.")
    clean, _ = bank._signal(cell, lay["pos"], t, f0, rng)
    return clean


def _background(cell, lay, n_t: int, f0_band, rng) -> WaveField:
    seed = int(rng.integers(2**31))
    gen_pos = lay["pos3"] if lay["pos3"] is not None else lay["pos"]
    units = dict(space_unit=lay["space"], time_unit=lay["time"])
    fs, duration = lay["fs"], n_t / lay["fs"]
    length = cell.smooth_length / (bank.PITCH if lay["space"] == "site" else 1.0)
    if cell.background == "white":
        bg = noise_field(gen_pos, fs=fs, duration=duration, seed=seed, **units)
    elif cell.background == "pink":
        bg = pink_background(
            gen_pos, fs=fs, duration=duration, exponent=float(rng.uniform(1, 2)),
            smooth_length=length, white_fraction=0.1, seed=seed, **units,
        )  # fmt: skip
    else:
        band = (1.0, 40.0) if lay["time"] == "s" else (0.01, 0.3)
        sm = smooth_noise(
            gen_pos, fs=fs, duration=duration, band=band, length_scale=length, seed=seed, **units
        )
        white = np.random.default_rng(seed + 1).standard_normal(sm.data.shape)
        data = (
            np.sqrt(0.9) * sm.data / np.std(sm.data, axis=1, keepdims=True) + np.sqrt(0.1) * white
        )
        bg = replace(sm, data=data.astype(np.float32))
    return replace(bg, positions=lay["pos"])


def breadth_field(cell, seed: int) -> WaveField:
    """Draw a breadth cell's field for ``seed`` (see the module docstring).

    Returns
    -------
    WaveField
        ``meta["truth"]``: ``wave``, ``cell``, ``band`` (cycles per time unit), and for waves
        ``speed`` (space unit / time unit: m/s or sites/step), ``direction`` (radians, in
        the field's own, projected, frame; 0 or pi on a line), ``frequency``.
    """
    if cell.kind == "bursts" and cell.layout == "line-steps":
        raise WaveInputError("bursts are 1 s long: use a layout in seconds.")
    rng = np.random.default_rng(seed)
    lay = _layout(cell, rng)
    fs, steps = lay["fs"], lay["time"] == "step"
    t = np.arange(int(round(fs * cell.duration))) / fs
    f0 = float(rng.uniform(0.05, 0.15) if steps else rng.uniform(8, 14))
    if cell.kind == "impulse":
        band = (0.02, 0.45)
    else:
        band = (f0 - 0.02, f0 + 0.02) if steps else (f0 - 2.0, f0 + 2.0)
    truth: dict = dict(band=[float(band[0]), float(band[1])])
    if cell.is_wave:
        speed = cell.speed or cell.wavelength * bank.layout_extent(lay["pos"]) * f0
        n_hat = _direction(lay, rng)
        gen_pos = lay["pos3"] if lay["pos3"] is not None else lay["pos"]
        delays = gen_pos @ n_hat / speed
        clean = _clean_wave(cell, t, delays, f0, fs, rng)
        true_speed, theta = _truth_plane(lay["pos"], delays)
        truth.update(pattern=cell.kind, speed=true_speed, direction=theta, frequency=f0)
        if lay["pos3"] is not None:
            truth["speed_3d"] = float(speed)
    else:
        clean = _clean_no_wave(cell, lay, t, f0, rng)
        truth.update(pattern=cell.kind if clean is not None else "noise")
        if clean is not None:
            truth["frequency"] = f0
    bg = _background(cell, lay, t.size, band, rng)
    if clean is None:
        field = bg
    else:
        sig = WaveField(clean.astype(np.float32), fs, lay["pos"], lay["space"], lay["time"])
        field = mix_at_snr(sig, bg, cell.snr_db, band)
    truth = {**field.meta.get("truth", {}), **truth, "wave": cell.is_wave, "cell": cell.to_json()}
    return replace(field, meta={**field.meta, "truth": truth})


def breadth_cells() -> list:
    """The breadth selection (``bank_cells("breadth")``): 16 wave cells and 9 no-wave
    cells over the new layouts, signals and backgrounds (see the module docstring)."""
    c = bank.BankCell
    steps = dict(layout="line-steps", duration=2048.0)
    imp = dict(layout="line-steps", background="white", snr_db=20.0, duration=256.0)
    return [
        c("ssm", background="pink", snr_db=10.0, wavelength=2.0, **steps),
        c("ssm", background="pink", snr_db=10.0, wavelength=0.5, **steps),
        c("ssm", background="white", snr_db=3.0, wavelength=0.5, **steps),
        c("wave", background="pink", snr_db=10.0, wavelength=2.0, **steps),
        c("wave", background="pink", snr_db=10.0, wavelength=0.5, **steps),
        c("pulses", background="pink", snr_db=10.0, wavelength=2.0, **steps),
        c("impulse", speed=0.5, **imp),
        c("impulse", speed=2.0, **imp),
        c("wave", layout="uneven-line", wavelength=2.0),
        c("pulses", layout="uneven-line", wavelength=2.0),
        c("wave", layout="depth3d", wavelength=2.0),
        c("pulses", layout="grid", wavelength=2.0),
        c("wave", smooth_length=0.5e-3, wavelength=2.0),
        c("wave", smooth_length=3e-3, wavelength=2.0),
        c("wave", smooth_length=3e-3, wavelength=10.0),
        c("wave", background="smooth", wavelength=2.0),
        c("pink", snr_db=0.0, **steps),
        c("synchronous", snr_db=0.0, **steps),
        c("pink", layout="uneven-line", snr_db=0.0),
        c("standing", layout="uneven-line", snr_db=0.0),
        c("pink", layout="depth3d", snr_db=0.0),
        c("synchronous", layout="depth3d", snr_db=0.0),
        c("smooth", background="smooth", snr_db=0.0),
        c("smooth", background="smooth", snr_db=0.0, **steps),
        c("pink", snr_db=0.0, smooth_length=3e-3),
    ]
