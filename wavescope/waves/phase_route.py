"""The phase route: per read-out sample, the band's phase, its gradients, PGD, the plane
fit and the surrogates' PGD and directions, one chunk of the record at a time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavescope.core.field import release_pages
from wavescope.core.progress import report as report_progress
from wavescope.signal.phase import generalized_phase, instantaneous_frequency
from wavescope.signal.spectral import BandSpectrum, analytic_from_spectrum, band_spectrum
from wavescope.signal.surrogates import LagFreeSurrogates, randomise_coef_phases
from wavescope.space.gradient import phase_gradient
from wavescope.waves.circlinear import circlinear_plane_fit
from wavescope.waves.inputs import _chunks
from wavescope.waves.measures import phase_gradient_directionality, propagation_direction
from wavescope.waves.null import _directionality_vector, _null_profile
from wavescope.waves.patterns import PatternResult, classify_patterns
from wavescope.waves.planar import fit_phase_plane
from wavescope.waves.result import PhaseSnapshot

__all__ = [
    "ChunkSpan",
    "PhasePass",
    "PhaseSetup",
    "SampleEstimates",
    "per_sample_estimates",
    "phase_pass",
]


@dataclass(frozen=True)
class PhaseSetup:
    """What the phase pass does to every chunk of a record.

    Attributes
    ----------
    band : (lo, hi)
        Pass band, cycles per time unit; ``transition`` its edge widths.
    decimate : int
        Read-out step, samples.
    positions : ndarray (n_good, d)
        Positions of the good sites; ``neighbours`` and ``operator`` their gradient
        stencil (:func:`~wavescope.space.gradient.gradient_operator`).
    weights : {"amplitude", "uniform"}
        Site weights of the plane fit.
    generalized : bool
        Generalized phase (Davis et al. 2020).
    n_surrogates, n_lag_free : int
        Phase-randomised surrogates (PGD null) and lag-free surrogates (persistence
        null) per chunk.
    patterns, circlinear : bool
        Classify pattern classes (2-D layouts of at least 4 sites); fit circular-linear
        planes.
    n_frames : int
        Frames of the phase snapshot.
    """

    band: tuple[float, float]
    transition: tuple[float, float]
    decimate: int
    positions: np.ndarray
    neighbours: object
    operator: object
    weights: str
    generalized: bool
    n_surrogates: int
    n_lag_free: int
    patterns: bool
    circlinear: bool
    n_frames: int


@dataclass(frozen=True)
class ChunkSpan:
    """The read-out samples of one chunk that are kept, ``[keep_lo, keep_hi)`` of the
    chunk's read-out, the first of them at global read-out index ``out_lo``; ``valid``
    marks those away from the record's edges."""

    keep_lo: int
    keep_hi: int
    out_lo: int
    valid: np.ndarray


@dataclass
class PhasePass:
    """The phase route over the whole record (per read-out sample unless said).

    Attributes
    ----------
    measures : dict
        The chunks' per-sample arrays concatenated along time: ``grad``, ``gvar``,
        ``fit``, ``pgd``, ``freq``, ``null_pgd`` and, when lag-free surrogates are
        drawn, ``direction_vector`` with their ``lf_pgd``/``lf_dir`` (the persistence
        test's only inputs), and ``cl_grad``/``cl_rho`` (circular-linear fit).
    patterns : PatternResult or None
    snapshot : PhaseSnapshot or None
        The phase maps around the most wave-like valid sample of the record.
    spectrum : BandSpectrum or None
        The band spectrum of the good sites when the record was filtered in one piece
        (None when in chunks): a cross-check that reads delays from the band-passed
        record takes it from here instead of transforming the record again.
    """

    measures: dict
    patterns: PatternResult | None
    snapshot: PhaseSnapshot | None
    spectrum: BandSpectrum | None = None


def phase_pass(field, good, setup: PhaseSetup, chunk_samples: int, edge: float, rng, progress):
    """Run :func:`_phase_measures` over the record chunk by chunk (overlapping by the
    filter's transient, each chunk's pages released after use) and join the chunks."""
    D = setup.decimate
    pieces, whole = [], None
    for lo, hi, core_lo, core_hi in _chunks(
        field.n_times, chunk_samples, D, field.fs, setup.transition
    ):
        spec = band_spectrum(
            field.data[:, lo:hi],
            field.fs,
            setup.band,
            transition=setup.transition,
            decimate=D,
            sites=good,
        )
        release_pages(field.data)
        out_lo = core_lo // D  # global read-out index of the chunk's first kept sample
        n_kept = -(-(core_hi - lo) // D) - (core_lo - lo) // D
        idx = (out_lo + np.arange(n_kept)) * D
        valid = (idx >= edge * field.fs) & (idx < field.n_times - edge * field.fs)
        span = ChunkSpan((core_lo - lo) // D, -(-(core_hi - lo) // D), out_lo, valid)
        pieces.append(_phase_measures(spec, setup, span, rng))
        whole = spec if len(pieces) == 1 else None  # kept only while it is the only chunk
        if progress is not None:
            progress(core_hi, field.n_times)
    skip = ("pat", "snap")
    out = {k: np.concatenate([p[k] for p in pieces], axis=-1) for k in pieces[0] if k not in skip}
    pats = None
    if setup.patterns and field.n_dims == 2 and len(good) >= 4:
        pats = _concat_patterns([p["pat"] for p in pieces])
    snaps = [p["snap"] for p in pieces if p["snap"] is not None]
    snapshot = max(snaps, key=lambda s: s[0])[1] if snaps else None
    return PhasePass(out, pats, snapshot, whole)


def _phase_measures(spec, setup: PhaseSetup, span: ChunkSpan, rng) -> dict:
    """The phase measures of one chunk's band spectrum ``spec`` (see :class:`PhasePass`),
    its pattern classes (``"pat"``) and its best snapshot (``"snap"``)."""
    D, pos, nb, op = setup.decimate, setup.positions, setup.neighbours, setup.operator
    keep_lo, keep_hi = span.keep_lo, span.keep_hi
    generalized, n_surr, n_lag_free = setup.generalized, setup.n_surrogates, setup.n_lag_free
    z, dz, _ = analytic_from_spectrum(spec, D, derivative=not generalized)
    fs_out = spec.fs / D
    z, dz = z[:, keep_lo:keep_hi], None if dz is None else dz[:, keep_lo:keep_hi]
    if generalized:
        z = generalized_phase(z, fs_out)
        f_sites = instantaneous_frequency(z, fs_out)
        p2 = z.real**2 + z.imag**2
        with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero chunk: 0 / 0
            freq = np.sum(p2 * f_sites, axis=0) / np.sum(p2, axis=0)
        del f_sites
    else:
        p2 = z.real**2 + z.imag**2
        # Im(conj(z) dz) summed over sites, without a complex temporary
        num = np.sum(z.real * dz.imag, axis=0) - np.sum(z.imag * dz.real, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero chunk: 0 / 0
            freq = num / np.sum(p2, axis=0) / (2 * np.pi)
    del dz
    phase = np.angle(z).astype(np.float32 if z.dtype == np.complex64 else np.float64)
    del z
    grad_local = phase_gradient(phase, pos, neighbours=nb, operator=op)
    pgd = phase_gradient_directionality(grad_local)
    init = np.nanmean(grad_local, axis=1)
    W = p2.astype(phase.dtype) if setup.weights == "amplitude" else None
    g, fit, gvar = fit_phase_plane(phase, pos, W, init=init, return_variance=True)
    freq = _plane_frequency(phase, pos, p2, g, fs_out, freq)
    null, lf_pgd, lf_dir = [], [], []
    profile = None
    if n_lag_free:
        # the null's spectrum is the data's continuum: the band's shape and the shape of
        # the field's own spectrum in it (a no-propagation field at a band edge is
        # narrower than the filter, and a broader null reads its slow changes of
        # direction as persistence: smooth noise passed in 18% of its samples); the line
        # of a sustained oscillation is left out, since a null built on it would persist
        # as long as the wave and nothing could be found
        profile = _null_profile(spec, setup.band, setup.transition)
        lag_free = LagFreeSurrogates(spec.coef, n_sub_bands=1, profile=profile)
    for i in range(max(n_surr, n_lag_free)):
        if i < n_surr:
            zs, _, _ = analytic_from_spectrum(spec, D, coef=randomise_coef_phases(spec.coef, rng))
            ps = np.angle(zs[:, keep_lo:keep_hi]).astype(phase.dtype)
            null.append(
                phase_gradient_directionality(phase_gradient(ps, pos, neighbours=nb, operator=op))
            )
        if i < n_lag_free:
            lf = lag_free.draw(rng)
            zs, _, _ = analytic_from_spectrum(spec, D, coef=lf)
            ps = np.angle(zs[:, keep_lo:keep_hi]).astype(phase.dtype)
            gl = phase_gradient(ps, pos, neighbours=nb, operator=op)
            lf_pgd.append(phase_gradient_directionality(gl))
            lf_dir.append(_directionality_vector(gl))
            report_progress("no-propagation null", i + 1, n_lag_free)
    out = {
        "grad": g,
        "gvar": np.moveaxis(gvar, 0, -1),  # (d, d, T): concatenated along time
        "fit": fit,
        "pgd": pgd,
        "freq": freq.astype(phase.dtype),
        "null_pgd": np.concatenate(null) if null else np.empty(0),
    }
    if n_lag_free:
        # read by the persistence test alone (null._wave_epochs): without lag-free
        # surrogates (n_surrogates=0) it was a float64 pass over the gradients for nothing
        out["direction_vector"] = _directionality_vector(grad_local)
        out["lf_pgd"] = np.stack(lf_pgd)  # (n_surr, T)
        out["lf_dir"] = np.stack(lf_dir)  # (n_surr, d, T)
    if setup.circlinear:
        cl = circlinear_plane_fit(phase, pos)
        out["cl_grad"], out["cl_rho"] = cl.gradient, cl.rho
    out["pat"] = (
        classify_patterns(phase, grad_local, pos)
        if setup.patterns and pos.shape[1] == 2 and len(pos) >= 4
        else None
    )
    out["snap"] = _snapshot(
        phase, grad_local, g, freq, pgd, span.valid, pos, fs_out, setup.n_frames, span.out_lo
    )
    return out


@dataclass
class SampleEstimates:
    """Per read-out sample: ``speed`` (``space_unit / time_unit``), ``direction`` of
    propagation (radians), ``wavelength`` (``space_unit``), ``wavevector`` ``k = -grad
    phi`` (d, T; radians per ``space_unit``) and the plane ``fit`` strength."""

    speed: np.ndarray
    direction: np.ndarray
    wavelength: np.ndarray
    wavevector: np.ndarray
    fit: np.ndarray


def per_sample_estimates(measures: dict, *, circlinear: bool, debias: bool) -> SampleEstimates:
    """Speed, direction and wavelength of each read-out sample's plane fit (the
    circular-linear fit's with ``circlinear``), from the joined phase measures."""
    freq = measures["freq"]
    if circlinear:
        # fitted chunk by chunk in _phase_measures (each sample's fit is independent), so
        # no (sites x samples) phase is kept
        g = measures["cl_grad"]
        with np.errstate(divide="ignore", invalid="ignore"):  # synchronous: infinite speed
            speed = np.abs(2 * np.pi * freq) / np.linalg.norm(g, axis=0)
            wl = 2 * np.pi / np.linalg.norm(g, axis=0)
        return SampleEstimates(speed, propagation_direction(g), wl, -g, measures["cl_rho"])
    g = measures["grad"]
    kmag = _wavenumber(g, measures["gvar"] if debias else None)
    with np.errstate(divide="ignore"):
        speed = np.abs(2 * np.pi * freq) / kmag
        wl = 2 * np.pi / kmag
    return SampleEstimates(speed, propagation_direction(g), wl, -g, measures["fit"])


def _wavenumber(g: np.ndarray, cov: np.ndarray | None) -> np.ndarray:
    """|g|, less the noise bias when ``cov`` (d, d, n_times) is given (see ``debias``).

    Noise along ``g`` leaves the median of ``|g_hat|`` unbiased to first order; noise
    across it adds ``var_perp / (2 |g|)``, i.e. ``var_perp`` to ``|g|^2``.
    """
    g = g.astype(np.float64)
    m2 = np.sum(g**2, axis=0)
    if cov is None or g.shape[0] == 1:
        return np.sqrt(m2)
    u_perp = np.stack([-g[1], g[0]]) / np.sqrt(np.where(m2 > 0, m2, 1))
    var_perp = np.einsum("at,abt,bt->t", u_perp, cov.astype(np.float64), u_perp)
    return np.sqrt(np.maximum(m2 - var_perp, 0.0))


def _plane_frequency(phase, pos, power, g, fs_out, fallback, block: int = 4096):
    """Temporal frequency of the fitted plane wave (cycles per time unit), per sample.

    The phase offset of the plane fit, ``phi0(t) = angle(sum_i w_i exp(i (phi_i - g . x_i)))``
    with ``w_i`` the sites' power, advances at the wave's frequency; noise that is
    incoherent across sites averages out of the sum, so unlike the power-weighted mean of
    the sites' instantaneous frequencies it is not pulled towards the middle of the band
    by in-band noise (measured: +9% in speed at 10 dB on a widefield-like grid with white
    in-band noise, before). Central differences of ``phi0`` on the read-out grid; where
    the sum vanishes (no coherent phase) the power-weighted frequency ``fallback`` stays.
    """
    n_t = phase.shape[1]
    if n_t < 3:
        return fallback
    z0 = np.empty(n_t, np.complex128)
    w = np.asarray(power, np.float64)
    for t0 in range(0, n_t, block):
        t1 = min(t0 + block, n_t)
        arg = phase[:, t0:t1].astype(np.float64) - pos @ np.asarray(g[:, t0:t1], np.float64)
        z0[t0:t1] = np.sum(w[:, t0:t1] * np.cos(arg), axis=0) + 1j * np.sum(
            w[:, t0:t1] * np.sin(arg), axis=0
        )
    coherent = np.abs(z0) > 0.1 * np.sum(w, axis=0)
    f = np.empty(n_t)
    f[1:-1] = np.angle(z0[2:] * np.conj(z0[:-2])) * fs_out / (4 * np.pi)
    f[0] = np.angle(z0[1] * np.conj(z0[0])) * fs_out / (2 * np.pi)
    f[-1] = np.angle(z0[-1] * np.conj(z0[-2])) * fs_out / (2 * np.pi)
    out = np.where(coherent & np.isfinite(f), f, fallback)
    return out.astype(np.asarray(fallback).dtype, copy=False)


def _snapshot(phase, grad_local, g, freq, pgd, valid, pos, fs_out, n_frames, out_lo):
    """(best PGD, PhaseSnapshot) of the chunk's most wave-like valid sample, or None."""
    score = np.where(valid[: len(pgd)] & np.isfinite(pgd), pgd, -np.inf)
    if not np.isfinite(score).any():
        return None
    i = int(np.argmax(score))
    lo = max(0, min(i - n_frames // 2, len(pgd) - n_frames))
    hi = min(len(pgd), lo + n_frames)
    velocity = None
    if pos.shape[1] == 2:
        gl = grad_local[:, :, lo:hi].astype(np.float64)  # (d, n, F)
        m2 = np.sum(gl**2, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            velocity = np.moveaxis(-gl * (2 * np.pi * np.abs(freq[lo:hi]) / m2), 0, 1)
    snap = PhaseSnapshot(
        positions=pos.copy(),
        phase=np.asarray(phase[:, lo:hi], np.float64),
        times=(out_lo + np.arange(lo, hi)) / fs_out,
        best=i - lo,
        wavevector=-np.asarray(g[:, lo:hi], np.float64).T,
        velocity=velocity,
    )
    return float(score[i]), snap


def _concat_patterns(parts):
    if any(p is None for p in parts):
        return None
    cat = {
        f: np.concatenate([getattr(p, f) for p in parts], axis=0)
        for f in (
            "labels",
            "pgd",
            "radial",
            "rotation",
            "synchrony",
            "radial_center",
            "rotation_center",
        )
    }
    return PatternResult(**cat)
