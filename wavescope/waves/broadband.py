"""Broadband velocity measures: for pulses, slow waves and SSM hidden states.

These need no band-pass and no phase: they read delays straight from the samples.

- :func:`event_time_velocity`: one time per site per event, then a plane fit of *time on
  position* (regressing position on time instead biases speed low; REFERENCES.md).
- :func:`xcorr_velocity`: cross-correlation lags between nearby sites, regressed on the
  displacement between them.
- :func:`komega_velocity`: the wavenumber-frequency spectrum of a line of sites, whose
  ridge slope is the phase velocity.

Each returns a :class:`BroadbandVelocity`; speeds are in the field's
``space_unit / time_unit`` and directions in radians counter-clockwise from +x (on a
line: 0 towards increasing position, pi towards decreasing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft

from wavescope.core.circular import circ_mean, resultant_length
from wavescope.core.field import WaveField
from wavescope.core.validate import (
    WaveInputError,
    check_distinct_positions,
    check_int,
    check_option,
)
from wavescope.space.neighbours import pairs_within

__all__ = [
    "BroadbandVelocity",
    "detect_events",
    "event_time_velocity",
    "xcorr_velocity",
    "komega_velocity",
    "effective_sites",
]


@dataclass
class BroadbandVelocity:
    """Result of a broadband velocity measure.

    Attributes
    ----------
    speed : float
        Propagation speed in ``unit`` (median over events for event-time fits).
    direction : float
        Direction of propagation in radians (circular mean over events).
    velocity : ndarray, shape (d,)
        Velocity vector in ``unit`` (speed times the unit vector of ``direction``).
    unit : str
        Unit of speed, e.g. ``"m/s"`` or ``"sites/step"``.
    method : str
    quality : float
        Goodness of fit in [0, 1] (R^2 of the delay regression; ridge power fraction for
        k-omega).
    n : int
        Number of events (event-time), site pairs (xcorr) or wavenumber bins (k-omega)
        that entered the estimate.
    speeds, directions, qualities : ndarray
        Per-event values (event-time only; otherwise one entry).
    """

    speed: float
    direction: float
    velocity: np.ndarray
    unit: str
    method: str
    quality: float
    n: int
    speeds: np.ndarray = field(default_factory=lambda: np.empty(0))
    directions: np.ndarray = field(default_factory=lambda: np.empty(0))
    qualities: np.ndarray = field(default_factory=lambda: np.empty(0))
    details: dict = field(default_factory=dict)


def _slowness_to_velocity(s: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Speed, direction and velocity vector of a slowness vector (time per distance)."""
    mag = float(np.linalg.norm(s))
    if not np.isfinite(mag) or mag == 0:
        return np.inf, np.nan, np.full_like(s, np.nan)
    vel = s / mag**2
    direction = float(np.arctan2(s[1], s[0])) if len(s) > 1 else (0.0 if s[0] > 0 else np.pi)
    return 1.0 / mag, direction, vel


#: Fewest samples a broadband measure accepts.
MIN_SAMPLES = 4


def _check_field(field: WaveField, min_sites: int, what: str, extremes: bool = False):
    """The good sites of a field a broadband measure can read (else a WaveInputError);
    with ``extremes``, ``(good, lo, hi)``: also the good rows' minima and maxima."""
    good = field.good
    if field.n_times < MIN_SAMPLES:
        raise WaveInputError(
            f"{what}: {field.n_times} sample(s) is too short; delays need at least "
            f"{MIN_SAMPLES} samples (and in practice several periods of the wave)."
        )
    if len(good) < min_sites:
        raise WaveInputError(
            f"{what} needs at least {min_sites} good sites, the field has {len(good)}."
        )
    data = field.data if len(good) == field.n_sites else field.data[good]  # no copy if all good
    # min and max propagate NaN (and show inf): two reductions find NaN, inf and flat
    # sites without the boolean copy of isfinite and the two passes more of ptp
    lo, hi = np.min(data, axis=1), np.max(data, axis=1)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise WaveInputError(
            f"{what}: data has NaN/inf samples; mark those sites bad (WaveField.with_bad)."
        )
    flat = hi == lo
    if flat.any():
        names = [field.ch_names[i] for i in good[flat]]
        raise WaveInputError(
            f"{what}: flat (constant) site(s) {names[:8]}{' ...' if len(names) > 8 else ''} "
            "carry no delay; mark them bad."
        )
    if field.n_dims > 2:
        raise WaveInputError(
            f"{what} works on 1-D or 2-D positions; project 3-D positions first "
            "(wavescope.io.project_positions)."
        )
    check_distinct_positions(
        field.positions[good], [field.ch_names[i] for i in good], field.space_unit
    )
    return (good, lo, hi) if extremes else good


def _refine_peak(y: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Sub-sample peak positions by a Gaussian (log-parabola) fit, parabola where y <= 0.

    ``y`` has shape (R, T) and ``i`` (R,) or (R, P): peak indices along the last axis.
    """
    squeeze = i.ndim == 1
    i = np.clip(i[:, None] if squeeze else i, 1, y.shape[-1] - 2)
    ym, y0, yp = (np.take_along_axis(y, i + s, -1) for s in (-1, 0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = (ym > 0) & (y0 > 0) & (yp > 0)
        lm, l0, lp = (np.log(np.where(pos, v, 1.0)) for v in (ym, y0, yp))
        dg = 0.5 * (lm - lp) / (lm - 2 * l0 + lp)
        dp = 0.5 * (ym - yp) / (ym - 2 * y0 + yp)
    d = np.where(pos, dg, dp)
    out = i + np.clip(np.nan_to_num(d), -0.5, 0.5)
    return out[:, 0] if squeeze else out


def detect_events(
    data: np.ndarray,
    *,
    kind: str = "peak",
    threshold: float = 0.5,
    min_distance: int = 1,
    polarity: str = "auto",
) -> list[np.ndarray]:
    """Event times (fractional sample indices) per site.

    Parameters
    ----------
    data : ndarray, shape (n_sites, n_times)
    kind : {"peak", "rise"}
        ``"peak"``: local maxima above ``threshold`` times the site's largest excursion
        from its median, refined to sub-sample precision; ``"rise"``: upward crossings of
        that level, linearly interpolated.
    threshold : float
        Level as a fraction (0-1) of each site's largest excursion.
    min_distance : int
        Minimum number of samples between two peaks of one site.
    polarity : {"auto", "positive", "negative"}
        Sign of the events: maxima and upward crossings, or minima and downward
        crossings. ``"auto"`` takes the sign of the larger excursion from the median,
        over all sites (model states and field potentials often carry negative pulses).
    """
    from scipy.signal import find_peaks  # lazily: scipy.signal is slow to import

    check_option("kind", kind, ("peak", "rise"))
    check_option("polarity", polarity, ("auto", "positive", "negative"))
    x = data - np.median(data, axis=1, keepdims=True)
    if polarity == "auto":
        polarity = (
            "positive" if np.median(x.max(axis=1)) >= np.median(-x.min(axis=1)) else ("negative")
        )
    if polarity == "negative":
        x = -x
    scale = np.max(np.abs(x), axis=1)
    out = []
    for row, s in zip(x, scale):
        level = threshold * s
        if kind == "peak":
            idx, _ = find_peaks(row, height=level, prominence=level, distance=max(1, min_distance))
            out.append(_refine_peak(row[None], idx[None])[0] if len(idx) else idx.astype(float))
        else:
            up = np.flatnonzero((row[:-1] < level) & (row[1:] >= level))
            frac = (level - row[up]) / (row[up + 1] - row[up])
            out.append(up + frac)
    return out


def _group_events(times: list[np.ndarray], max_gap: float | None) -> list[dict[int, float]]:
    """Group per-site event times into waves by single linkage in time."""
    site = np.concatenate([np.full(len(t), i) for i, t in enumerate(times)]) if times else []
    t_all = np.concatenate(times) if times else np.empty(0)
    if len(t_all) == 0:
        return []
    order = np.argsort(t_all)
    t_sorted, s_sorted = t_all[order], np.asarray(site)[order]
    if max_gap is None:
        periods = [np.median(np.diff(t)) for t in times if len(t) > 1]
        max_gap = 0.5 * float(np.median(periods)) if periods else np.inf
    breaks = np.flatnonzero(np.diff(t_sorted) > max_gap) + 1
    waves = []
    for ts, ss in zip(np.split(t_sorted, breaks), np.split(s_sorted, breaks)):
        wave: dict[int, float] = {}
        for t, s in zip(ts, ss):
            wave.setdefault(int(s), float(t))  # first event of each site in this wave
        waves.append(wave)
    return waves


#: Fewest samples between the waves from which the background's effective sites are read
#: (fewer: from the whole record).
MIN_BACKGROUND_SAMPLES = 64


def _between_waves(data: np.ndarray, waves: list[dict]) -> np.ndarray:
    """The samples of ``data`` (n_sites, n_times) outside every wave: each wave's span of
    event times widened on both sides by the span itself (at least 8 samples). The background's
    correlation, not the wave's, sets how many independent sites a plane is fitted to: a
    pulse that crosses the array within its own width correlates every site at zero lag
    (on 8 x 8 sites at 2 sites/step the whole record read 2-3 effective sites, and R^2
    0.97 over four waves failed the test). The whole record when under
    :data:`MIN_BACKGROUND_SAMPLES` samples remain."""
    n_t = data.shape[1]
    keep = np.ones(n_t, bool)
    for wave in waves:
        t = np.fromiter(wave.values(), float)
        lo, hi = float(t.min()), float(t.max())
        m = max(hi - lo, 8.0)
        keep[max(int(lo - m), 0) : min(int(np.ceil(hi + m)) + 1, n_t)] = False
    return data[:, keep] if keep.sum() >= MIN_BACKGROUND_SAMPLES else data


def _auto(value) -> str:
    return "auto" if value is None else str(value)


def event_time_velocity(
    field: WaveField,
    *,
    kind: str = "peak",
    threshold: float = 0.5,
    polarity: str = "auto",
    max_gap: float | None = None,
    min_sites: int | None = None,
    min_r2: float = 0.0,
) -> BroadbandVelocity:
    """Speed and direction from event times fitted as a plane (or line) over positions.

    Each site's events (peaks or upward crossings, see :func:`detect_events`) are grouped
    into waves; for each wave, event time is regressed on position,
    ``t_i = t_0 + s . x_i``, by ordinary least squares. The slowness ``s`` (time per
    distance) gives speed ``1 / |s|`` and direction ``angle(s)``.

    Parameters
    ----------
    field : WaveField
        Broadband samples (pulses, slow waves, model states), 1-D or 2-D positions.
    kind, threshold, polarity
        Event definition, see :func:`detect_events`.
    max_gap : float, optional
        Largest gap (in samples) between consecutive events of one wave; default: half
        the median interval between events at a site (or no limit for single events).
    min_sites : int, optional
        Waves with fewer participating sites are skipped (default: half the good sites,
        at least d + 2).
    min_r2 : float
        Waves whose fit R^2 is below this are skipped.

    Returns
    -------
    BroadbandVelocity
        Median speed over waves in ``field.speed_unit``; per-wave speeds, directions
        and R^2 in ``speeds``, ``directions``, ``qualities``. ``details["p_values"]``:
        each wave's F-test that its event times depend on position, over its share of
        the field's effective sites (:func:`effective_sites`, in
        ``details["effective_sites"]``: sites correlated in space are not independent
        observations of a delay); ``details["p_value"]``: their Fisher combination, the
        route's test against no propagation.

    Notes
    -----
    Regressing time on position is unbiased when event times carry the noise; the
    reverse regression (position on time) attenuates the slope and underestimates speed
    (Cobrawap's planar fit: -17% on a clean wave, REFERENCES.md).
    """
    good = _check_field(field, field.n_dims + 2, "event_time_velocity")
    dim = field.n_dims
    if min_sites is None:
        min_sites = max(dim + 2, len(good) // 2)
    times = detect_events(field.data[good], kind=kind, threshold=threshold, polarity=polarity)
    waves = [w for w in _group_events(times, max_gap) if len(w) >= min_sites]
    pos = field.positions[good]
    n_eff = effective_sites(_between_waves(field.data[good], waves))
    speeds, dirs, r2s, slows, pvals = [], [], [], [], []
    for wave in waves:
        idx = np.fromiter(wave.keys(), int)
        t = np.fromiter(wave.values(), float) / field.fs
        X = np.column_stack([np.ones(len(idx)), pos[idx]])
        coef, *_ = np.linalg.lstsq(X, t, rcond=None)
        resid = t - X @ coef
        ss_tot = np.sum((t - t.mean()) ** 2)
        r2 = 1.0 - np.sum(resid**2) / ss_tot if ss_tot > 0 else 0.0
        if r2 < min_r2:
            continue
        sp, di, _ = _slowness_to_velocity(coef[1:])
        speeds.append(sp)
        dirs.append(di)
        r2s.append(r2)
        slows.append(coef[1:])
        pvals.append(_plane_f_test(r2, _wave_sites(len(idx), len(good), n_eff, dim), dim))
    if not speeds:
        raise WaveInputError(
            f"event_time_velocity found no wave reaching enough sites (threshold {threshold:g}"
            f" of each site's largest excursion, min_sites {_auto(min_sites)}); lower "
            "threshold or min_sites (CLI: --event-threshold, --min-sites, e.g. "
            "--event-threshold 0.3), use the default method (k-omega for model states), or "
            "check that the field holds propagating events."
        )
    speeds, dirs, r2s = np.asarray(speeds), np.asarray(dirs), np.asarray(r2s)
    speed = float(np.median(speeds))
    direction = float(circ_mean(dirs))
    unit_vec = np.array([np.cos(direction), np.sin(direction)])[:dim]
    if dim == 1:
        unit_vec = np.array([np.sign(np.cos(direction))])
    return BroadbandVelocity(
        speed=speed,
        direction=direction,
        velocity=speed * unit_vec,
        unit=field.speed_unit,
        method="event-time",
        quality=float(np.median(r2s)),
        n=len(speeds),
        speeds=speeds,
        directions=dirs,
        qualities=r2s,
        details={
            "direction_concentration": float(resultant_length(dirs)),
            "p_values": [float(v) for v in pvals],
            "p_value": _fisher(pvals),
            "effective_sites": n_eff,
        },
    )


#: Most sites and samples :func:`effective_sites` reads (a random subset of the sites,
#: the first samples): the mean squared correlation it needs is a mean over pairs.
EFFECTIVE_MAX_SITES = 256
EFFECTIVE_MAX_SAMPLES = 2**17


def effective_sites(data: np.ndarray, seed: int = 0) -> float:
    """The number of independent sites a field's samples are worth: ``n / (1 + (n - 1)
    m)``, with ``m`` the mean squared zero-lag correlation between two different sites
    (``n^2 / sum_ij r_ij^2``; Bretherton et al. 1999, J Climate 12:1990).

    ``data`` has shape (n_sites, n_times). ``n`` for independent sites, 1 for sites that
    all carry one signal. ``m`` is read from at most :data:`EFFECTIVE_MAX_SITES` sites
    (a seeded random subset) over the first :data:`EFFECTIVE_MAX_SAMPLES` samples.

    A plane fitted to one time per site (event times, lags) has ``n - d - 1`` residual
    degrees of freedom only when the sites' noise is independent. A background
    correlated in space (1/f noise smoothed over 1 mm on a 4 mm array: m near 0.15, about
    6 effective sites of 64) makes neighbouring sites peak together, and the plane of a
    wave of noise explains far more than independent times would: counted as 64 sites the
    F-test rejected in every one of 20 such records (p 1e-40 to 1e-5).
    """
    n = len(data)
    if n < 2:
        return float(n)
    idx = np.arange(n)
    if n > EFFECTIVE_MAX_SITES:
        idx = np.sort(np.random.default_rng(seed).choice(n, EFFECTIVE_MAX_SITES, replace=False))
    x = np.asarray(data[idx, :EFFECTIVE_MAX_SAMPLES], np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    ok = norm > 0
    if ok.sum() < 2:
        return float(n)
    x = x[ok] / norm[ok, None]
    r2 = (x @ x.T) ** 2
    k = len(x)
    m = float((r2.sum() - np.trace(r2)) / (k * (k - 1)))
    return float(n / (1.0 + (n - 1) * min(max(m, 0.0), 1.0)))


def _wave_sites(n_wave: int, n_good: int, n_eff: float, dim: int) -> float:
    """Effective sites of one wave's plane: its share of the field's effective sites,
    no more than its sites, no fewer than ``dim + 2`` (one residual degree of freedom)."""
    return float(max(min(n_wave, n_eff * n_wave / max(n_good, 1)), dim + 2))


def _plane_f_test(r2: float, n: float, dim: int) -> float:
    """p-value of the F-test that event times depend on position at all (the regression's
    ``dim`` slopes are zero) from its R^2 over ``n`` (effective) sites; 1.0 when nothing
    is left to test (as many parameters as sites). ``scipy.special.fdtrc`` is what
    ``scipy.stats.f.sf`` evaluates, without importing scipy.stats (0.3 s and 19 MB of a
    fresh process: more than the rest of a small record's velocity route)."""
    from scipy.special import fdtrc

    df2 = n - dim - 1
    if df2 < 1 or not np.isfinite(r2):
        return 1.0
    if r2 >= 1.0:
        return 0.0
    stat = (max(r2, 0.0) / dim) / ((1.0 - r2) / df2)
    return float(fdtrc(dim, df2, stat))


def _fisher(p_values) -> float:
    """Fisher's combination of independent p-values (one per wave): the probability of
    planar fits at least this good in every wave if event times did not depend on
    position. ``scipy.special.chdtrc`` is ``scipy.stats.chi2.sf`` without scipy.stats."""
    from scipy.special import chdtrc

    p = np.clip(np.asarray(p_values, float), 1e-300, 1.0)
    if not p.size:
        return 1.0
    return float(chdtrc(2 * p.size, -2 * np.log(p).sum()))


def xcorr_velocity(
    field: WaveField,
    *,
    max_lag: int | None = None,
    max_distance: float | None = None,
    check_only: bool = False,
) -> BroadbandVelocity:
    """Speed and direction from cross-correlation lags between nearby sites.

    For every pair of good sites closer than ``max_distance``, the lag ``tau_ij`` (in
    ``time_unit``) that maximises the cross-correlation of the two (mean-removed) series
    is found to sub-sample precision. Lags are regressed on displacement,
    ``tau_ij = s . (x_j - x_i)`` (least squares through the origin), giving the slowness
    ``s``. ``details["p_value"]`` is the F-test that the lags depend on displacement at
    all, with the R^2 about zero lag and as many observations as the effective sites
    in the pairs (:func:`effective_sites`, ``details["effective_sites"]``).

    Parameters
    ----------
    max_lag : int, optional
        Largest lag searched, in samples. Default: a quarter of the series, or half the
        dominant period when the signal is narrowband (at least 60% of its power within
        a factor 1.25 of the spectral peak; a single pulse has 30-46%, a band-passed
        oscillation ~100%), where farther correlation peaks are other cycles.
    max_distance : float, optional
        Largest pair separation in ``space_unit`` (default: 4 median neighbour distances).
    check_only : bool
        For a cross-check whose speed is only compared with another estimator's: no
        F-test and no interval (``details`` lacks ``p_value``, ``effective_sites`` and the
        bootstrap intervals), and a float32 record's lag sums are taken in float32 (the
        speed, direction and R^2 move by round-off, ~1e-7 relative). At 64 sites x 60 000
        samples (max_lag 41) CPU 0.18 -> 0.08 s: the effective sites and the bootstrap
        were 0.06 s, float32 saves a third of the lag sums.

    Notes
    -----
    Lags of a narrowband signal are ambiguous beyond half its period; use this measure on
    broadband data, or keep ``max_lag`` below half a period.
    """
    good, lo, hi = _check_field(field, field.n_dims + 1, "xcorr_velocity", extremes=True)
    pairs = pairs_within(field.positions, field.bad, max_distance)
    if len(pairs) < field.n_dims:
        raise WaveInputError("xcorr_velocity found too few site pairs; raise max_distance.")
    n_t = field.n_times
    data = field.data
    # the rows less their means (for round-off only: Pearson ignores offsets) times a power
    # of two that keeps x^2 sums in range at any scale (exact), read a slice at a time
    mean = data.mean(axis=1, dtype=np.float64)
    # per-row extremes (_check_field's): the largest magnitude, and the flat rows
    hi, lo = hi - mean[good], lo - mean[good]
    peak = float(max(hi.max(), -lo.min())) if len(good) else 0.0
    scale = 2.0 ** -np.round(np.log2(peak)) if np.isfinite(peak) and peak > 0 else 1.0
    x = _Centred(data, mean, scale)
    if max_lag is None:
        max_lag = max(1, n_t // 4)
        power = np.mean(np.abs(sfft.rfft(x(good), axis=1)) ** 2, axis=0)[1:]
        if power.sum() > 0:
            f = np.arange(1, len(power) + 1) / n_t  # cycles per sample
            f0 = f[np.argmax(power)]
            near = (f >= f0 / 1.25) & (f <= f0 * 1.25)
            if power[near].sum() >= 0.6 * power.sum():
                max_lag = max(1, min(max_lag, int(0.5 / (1.25 * f0))))
    max_lag = check_int("max_lag", max_lag, cli="--max-lag")
    if not 1 <= max_lag < n_t:
        raise WaveInputError(
            f"max_lag (CLI: --max-lag) must be in [1, {n_t - 1}] samples for this "
            f"{n_t}-sample record, got {max_lag}; give a smaller max_lag (CLI: --max-lag) "
            "or a longer record."
        )
    if np.any(hi * scale - lo * scale == 0):
        flat = [field.ch_names[i] for i in good[hi * scale - lo * scale == 0]]
        raise WaveInputError(f"flat (constant) sites {flat[:5]}: mark them bad first.")
    # prefix sums of x and x^2 give each lag's overlap sums, so that the correlation at
    # every lag is the Pearson coefficient of the overlapping samples alone. A global
    # normalisation instead leaves a lag-dependent offset (from the mean over a finite
    # record) that pulls the peak towards zero lag: +4% in speed on a single pulse at
    # 2 sites/step.
    lag_axis = np.arange(-max_lag, max_lag + 1)
    n_ov = (n_t - np.abs(lag_axis)).astype(float)
    a_lo, a_hi = np.maximum(0, -lag_axis), np.minimum(n_t, n_t - lag_axis)
    b_lo, b_hi = a_lo + lag_axis, a_hi + lag_axis
    # every overlap bound lies within max_lag of an end: the prefix sums are needed there only
    P, Q = _prefix_sums_at(x, np.unique(pairs), max_lag, np.stack([a_lo, a_hi, b_lo, b_hi]))
    lags, disp, edge = [], [], []
    dtype = np.float32 if check_only and data.dtype == np.float32 else np.float64
    for chunk, sab in _lag_sums(x, n_t, pairs, max_lag, dtype):
        i, j = chunk[:, 0], chunk[:, 1]
        sa = P[i, 1] - P[i, 0]
        sb = P[j, 3] - P[j, 2]
        qa = Q[i, 1] - Q[i, 0]
        qb = Q[j, 3] - Q[j, 2]
        var = np.maximum(qa - sa**2 / n_ov, 0) * np.maximum(qb - sb**2 / n_ov, 0)
        # overlaps where either series is (numerically) constant carry no lag information
        ok = var > 1e-12 * np.maximum(qa * qb, np.finfo(float).tiny)
        with np.errstate(invalid="ignore", divide="ignore"):
            cc = np.where(ok, (sab - sa * sb / n_ov) / np.sqrt(np.where(ok, var, 1.0)), -1.0)
        cc = np.clip(cc, -1.0, 1.0)
        peak = np.argmax(cc, axis=1)
        lag = _refine_peak(cc, peak) - max_lag
        edge.append(np.abs(lag) >= max_lag - 1)
        lags.append(lag / field.fs)
        disp.append(field.positions[j] - field.positions[i])
    tau, D = np.concatenate(lags), np.concatenate(disp)
    s, *_ = np.linalg.lstsq(D, tau, rcond=None)
    resid = tau - D @ s
    r2 = 1.0 - np.sum(resid**2) / np.sum(tau**2) if np.sum(tau**2) > 0 else 0.0
    speed, direction, vel = _slowness_to_velocity(s)
    test = {} if check_only else _lag_plane_test(data, pairs, D, tau, s, r2, field.n_dims)
    return BroadbandVelocity(
        speed=speed,
        direction=direction,
        velocity=vel,
        unit=field.speed_unit,
        method="xcorr",
        quality=float(r2),
        n=len(tau),
        speeds=np.array([speed]),
        directions=np.array([direction]),
        qualities=np.array([r2]),
        details={
            "max_lag": int(max_lag),
            "edge_fraction": float(np.mean(np.concatenate(edge))) if edge else 0.0,
            "r2": float(r2),
            **test,
        },
    )


def _lag_plane_test(data, pairs, D, tau, s, r2: float, dim: int) -> dict:
    """The lag plane's F-test over the effective sites of the pairs, and its bootstrap
    intervals (:func:`_lag_plane_interval`): ``xcorr_velocity``'s ``details``."""
    in_pairs = np.unique(pairs)
    # the raw rows (correlations need no centring or scale), at most the samples it reads
    n_eff = min(effective_sites(data[in_pairs, :EFFECTIVE_MAX_SAMPLES]), float(len(in_pairs)))
    return {
        # the lags of a plane wave are differences of one time per site,
        # t_i = t_0 + s . x_i: the pairs carry no more independent information than
        # the sites, so the F-test counts sites (pairs would reject for noise), and
        # sites correlated in space count as fewer (effective_sites)
        "effective_sites": n_eff,
        "p_value": _plane_f_test(r2, max(n_eff, dim + 2), dim),
        **_lag_plane_interval(pairs, D, tau, s),
    }


def _lag_plane_interval(pairs: np.ndarray, D: np.ndarray, tau: np.ndarray, s, seed=0) -> dict:
    """The lag plane's intervals: a bootstrap over sites (a pair counts as often as both
    its sites are drawn, so pairs that share a site share its noise), refitting the
    slowness by weighted least squares per draw. Conservative: a pair's weight, the
    product of its sites' counts, varies more than one count, so each pair's own noise
    counts about three times over (measured on pulses on uneven lines: 95-100% of 90%
    intervals cover, 4-7 of the seeds' SDs wide). Solving one time per site from the lags
    and resampling those instead gave intervals far too narrow (25-45% coverage): the
    lags' error is mostly common to the record, not per site. Empty with fewer than
    :data:`MIN_INTERVAL_UNITS` sites or when most draws' displacements do not span the
    layout."""
    sites, inv = np.unique(pairs, return_inverse=True)
    inv = inv.reshape(pairs.shape)
    if len(sites) < MIN_INTERVAL_UNITS or not np.all(np.isfinite(s)) or not np.any(s):
        return {}  # no slowness (synchronous sites): no speed to give an interval
    rng = np.random.default_rng(seed)
    dim = D.shape[1]
    dd = np.einsum("pi,pj->pij", D, D).reshape(len(D), -1)  # (n_pairs, d*d)
    dt = D * tau[:, None]
    full = abs(np.linalg.det(D.T @ D))
    out = []
    step = max(1, 2**22 // max(len(D) + len(sites), 1))
    for start in range(0, N_BOOT, step):
        n = min(step, N_BOOT - start)
        counts = np.zeros((n, len(sites)))
        picks = rng.integers(0, len(sites), (n, len(sites)))
        np.add.at(counts, (np.repeat(np.arange(n), len(sites)), picks.ravel()), 1.0)
        wt = counts[:, inv[:, 0]] * counts[:, inv[:, 1]]  # (n, n_pairs)
        A = (wt @ dd).reshape(n, dim, dim)
        b = wt @ dt
        ok = np.abs(np.linalg.det(A)) > 1e-9 * full
        if ok.any():
            out.append(np.linalg.solve(A[ok], b[ok][..., None])[..., 0])
    draws = np.concatenate(out) if out else np.empty((0, dim))
    if len(draws) < N_BOOT // 2:
        return {}
    v = s / float(np.sum(s**2)) if dim > 1 else 1.0 / float(s[0])
    return _signed_interval(
        draws[:, 0] if dim == 1 else draws,
        v,
        f"percentile bootstrap over the {len(sites)} sites of the pairs (a pair weighted by "
        "how often both its sites were drawn; the slowness refitted per draw)",
    )


#: FFT length of a block of :func:`xcorr_velocity`'s blocked lag sums, in multiples of
#: the lags searched (``2 max_lag + 1``): a longer block spends less of each transform on
#: the lag margin, a shorter one keeps the transforms and cross-spectra small.
BLOCK_LAGS = 4

#: Values (pairs x lags) of the lag sums' inverse transform and of the correlations taken
#: from them at a time in :func:`xcorr_velocity` (bounds their temporaries).
LAG_VALUES = 2**15

#: Fewest blocks for which the blocked lag sums are used; a record shorter than this many
#: blocks is cross-correlated whole (one transform per site and one inverse per pair).
MIN_BLOCKS = 4


def _lag_sums(x: _Centred, n_t: int, pairs: np.ndarray, max_lag: int, dtype=np.float64):
    """``sum_t x[i, t] x[j, t + l]`` (``x`` taken as 0 outside the record) for every pair
    ``(i, j)`` of ``pairs`` and every lag ``l`` in ``[-max_lag, max_lag]``: yields
    ``(chunk of pairs, sums of shape (len(chunk), 2 max_lag + 1))``.

    Where the record is long next to the lags, the sums come from cross-spectra summed
    over short blocks (:func:`_lag_sums_blocked`); otherwise from one transform of the
    whole record per site and one inverse per pair (:func:`_lag_sums_whole`). Both are
    exact sums of the same products (equal to round-off), taken in ``dtype`` (float32:
    its round-off, ~1e-7 of the largest sum)."""
    n_fft = sfft.next_fast_len(max(BLOCK_LAGS * (2 * max_lag + 1), 64), real=True)
    if n_t >= MIN_BLOCKS * n_fft:
        sums = _lag_sums_blocked(x, n_t, pairs, max_lag, n_fft, dtype)
        # the correlations of a few pairs at a time: their float64 temporaries (a dozen
        # arrays of pairs x lags) stay small next to the record
        step = max(1, LAG_VALUES // (2 * max_lag + 1))
        for p0 in range(0, len(pairs), step):
            yield pairs[p0 : p0 + step], sums[p0 : p0 + step]
    else:
        yield from _lag_sums_whole(x(slice(None), dtype=dtype), pairs, max_lag)


def _lag_sums_whole(x: np.ndarray, pairs: np.ndarray, max_lag: int):
    """:func:`_lag_sums` from the whole record's transforms, the pairs in chunks of about
    the record's size (so that the cross-spectra of a chunk stay small next to ``x``)."""
    nfft = sfft.next_fast_len(x.shape[1] + max_lag + 1)
    spec = sfft.rfft(x, nfft, axis=1)
    n_chunks = max(1, -(-len(pairs) * nfft // max(x.size, 2**16)))
    for chunk in np.array_split(pairs, min(n_chunks, len(pairs))):
        i, j = chunk[:, 0], chunk[:, 1]
        cc = sfft.irfft(spec[j] * np.conj(spec[i]), nfft, axis=1)  # cc[l] = sum x_i(t) x_j(t+l)
        yield chunk, np.concatenate([cc[:, -max_lag:], cc[:, : max_lag + 1]], axis=1)


def _lag_sums_blocked(
    x: _Centred, n_t: int, pairs: np.ndarray, max_lag: int, n_fft: int, dtype=np.float64
) -> np.ndarray:
    """:func:`_lag_sums` from blocks of ``hop = n_fft - 2 max_lag`` samples.

    Block ``b`` of site ``i`` (``x[i, b hop : (b + 1) hop]``) against the segment of site
    ``j`` that reaches ``max_lag`` beyond it on either side: their circular correlation of
    length ``n_fft`` at ``m = l + max_lag`` is the block's share of the lag-``l`` sum, with
    no wrap-around. The cross-spectra of all blocks add up before one short inverse per
    pair, and the sites' cross-spectra of a block come as one matrix product per frequency,
    so the cost grows with the record's length times the sites (not the pairs) until the
    products of the sites' spectra: xcorr_velocity at max_lag 62 took 0.021 s of CPU for
    16 sites x 60 000 samples (0.111 s with one transform of the record per pair), 0.19 s
    for 64 sites (0.83 s)."""
    lag = max_lag
    hop = n_fft - 2 * lag
    sites, inv = np.unique(pairs, return_inverse=True)
    inv = inv.reshape(pairs.shape)
    n_blocks, n_freq, ns = -(-n_t // hop), n_fft // 2 + 1, len(sites)
    sums = np.zeros((n_freq, len(pairs)), complex)
    # blocks a pass: buffers of ~2 MB up to 16 sites, and at least 8 blocks, so that the
    # products per frequency are not all overhead (64 sites: 0.19 s with 4, 0.17 s with 8)
    per_pass = max(8, 2**16 // (ns * n_fft))
    f_step = max(1, 2**16 // (ns * ns))  # frequencies whose site-by-site products are held
    flat = inv[:, 0] * ns + inv[:, 1]  # each pair's place among the site-by-site products
    for b0 in range(0, n_blocks, per_pass):
        nb = min(per_pass, n_blocks - b0)
        first = b0 * hop - lag  # record sample at the start of the pass's first segment
        buf = np.zeros((ns, (nb - 1) * hop + n_fft), dtype)  # the pass's samples, 0 off the record
        t0, t1 = max(first, 0), min(first + buf.shape[1], n_t)
        buf[:, t0 - first : t1 - first] = x(sites, t0, t1, dtype)
        row, col = buf.strides
        seg = np.lib.stride_tricks.as_strided(
            buf, (ns, nb, n_fft), (row, hop * col, col), writeable=False
        )  # segment of block b: its hop samples and lag more on either side
        # transforms along the first axis come out (freq, ...) and contiguous, as the
        # products per frequency want them
        a = sfft.rfft(seg[:, :, lag : lag + hop].transpose(2, 0, 1), n_fft, axis=0)
        np.conjugate(a, out=a)  # (freq, sites, blocks)
        b = sfft.rfft(seg.transpose(2, 1, 0), n_fft, axis=0)  # (freq, blocks, sites)
        for f0 in range(0, n_freq, f_step):
            cross = np.matmul(a[f0 : f0 + f_step], b[f0 : f0 + f_step])
            sums[f0 : f0 + f_step] += np.take(cross.reshape(len(cross), -1), flat, axis=1)
    del buf, seg, a, b
    # the inverse a few pairs at a time, keeping its first 2 lag + 1 values: the whole
    # inverse (n_fft x pairs float64, 2.7 MB at 64 sites) is not held
    out = np.empty((len(pairs), 2 * lag + 1))
    step = max(1, LAG_VALUES // n_fft)
    for p0 in range(0, len(pairs), step):
        cc = sfft.irfft(sums[:, p0 : p0 + step], n_fft, axis=0)
        out[p0 : p0 + step] = cc[: 2 * lag + 1].T
    return out


@dataclass(frozen=True)
class _Centred:
    """The rows of ``data`` less ``mean`` (per row), times ``scale``, in float64 (or a
    ``dtype`` asked for): called with rows (and a span of samples), it returns those
    values, so that no float64 copy of the whole record is held."""

    data: np.ndarray
    mean: np.ndarray
    scale: float

    def __call__(self, rows, t0: int = 0, t1: int | None = None, dtype=np.float64):
        v = self.data[rows, t0:t1].astype(dtype)
        v -= self.mean[rows, None].astype(dtype)
        v *= self.scale
        return v


def _prefix_sums_at(x: _Centred, rows: np.ndarray, k: int, idx: np.ndarray):
    """``sum(x[r, :m])`` and ``sum(x[r, :m]**2)`` for every ``m`` in ``idx``, each within
    ``k`` of either end of the record, for the rows ``rows`` (0 for the others): two arrays
    of shape ``(n_rows,) + idx.shape``. The head's sums run forwards and the tail's are the
    total less a backward sum; the totals are taken a few rows at a time, so no
    full-length array is made."""
    n_rows, n = x.data.shape
    k = min(k, n)
    head, tail = x(rows, 0, k), x(rows, n - k, n)[:, ::-1]
    total, total2 = np.zeros(len(rows)), np.zeros(len(rows))
    step = max(1, 2**16 // n)
    for r0 in range(0, len(rows), step):
        v = x(rows[r0 : r0 + step])
        total[r0 : r0 + step] = v.sum(axis=1)
        total2[r0 : r0 + step] = np.einsum("ij,ij->i", v, v)
    from_head, at_head, at_tail = idx <= k, np.minimum(idx, k), np.clip(n - idx, 0, k)
    out = []
    for h, t, tot in ((head, tail, total), (head**2, tail**2, total2)):
        fwd = np.zeros((len(rows), k + 1))
        np.cumsum(h, axis=1, out=fwd[:, 1:])
        back = np.zeros((len(rows), k + 1))
        np.cumsum(t, axis=1, out=back[:, 1:])
        sums = np.zeros((n_rows,) + idx.shape)
        sums[rows] = np.where(from_head, fwd[:, at_head], tot[:, None, None] - back[:, at_tail])
        out.append(sums)
    return out[0], out[1]


def _energy_span(x: np.ndarray, keep: float = 1 - 1e-6, min_len: int = 16) -> slice:
    """The samples holding all but ``1 - keep`` of the energy (about its median removed),
    widened to ``min_len``: a transient (an impulse response that decays to nothing) fills
    the time window instead of sitting under its tapered edge."""
    dev = x - np.median(x, axis=1, keepdims=True)
    e = np.sum(dev**2, axis=0)
    total = float(e.sum())
    n = x.shape[1]
    if total <= 0 or n <= min_len:
        return slice(0, n)
    c = np.cumsum(e) / total
    t0 = int(np.searchsorted(c, (1 - keep) / 2))
    t1 = int(np.searchsorted(c, 1 - (1 - keep) / 2)) + 1
    if t1 - t0 < min_len:
        mid = (t0 + t1) // 2
        t0 = max(0, min(mid - min_len // 2, n - min_len))
        t1 = t0 + min_len
    return slice(t0, min(t1, n))


def komega_line(field: WaveField) -> tuple[np.ndarray, float]:
    """The samples a k-omega spectrum reads: the good sites of an evenly spaced line in
    order of position, over the span that holds the field's energy, mean removed.

    Returns ``(x, dx)``: ``x`` (n_sites, n_span) float64 and the site spacing in
    ``space_unit``.
    """
    pos = field.positions
    if field.n_dims != 1:
        raise WaveInputError(
            "komega_velocity needs sites on a line (1-D positions); for 2-D layouts use "
            "event_time_velocity or xcorr_velocity."
        )
    good = _check_field(field, 4, "komega_velocity")
    order = good[np.argsort(pos[good, 0])]
    gaps = np.diff(pos[order, 0])
    if not np.allclose(gaps, gaps[0], rtol=1e-6):
        raise WaveInputError(
            "komega_velocity needs evenly spaced good sites; the line has gaps (bad sites or "
            "uneven spacing). Use xcorr_velocity or event_time_velocity instead."
        )
    x = field.data[order].astype(np.float64)
    x = x[:, _energy_span(x)]
    return x - x.mean(axis=1, keepdims=True), float(gaps[0])


#: Share of the time window a k-omega spectrum tapers (a Tukey window; 1 is a Hann
#: window). A ridge whose power falls with wavenumber (every pulse) is blurred along
#: frequency by the time window's transform, and the per-frequency peak search then
#: leans to low wavenumbers, i.e. fast: with a Hann window a single pulse on 64 sites read
#: +1.2% (0.3 and 1 sites/step) and +3.6% (2.5), with a 10% taper +0.1% and +0.8% (10
#: dB, 6 seeds), three pulses +0.2-0.4% and +0.0-0.2%.
TIME_TAPER = 0.1


def komega_power(
    x: np.ndarray, dx: float, fs: float, pad: int = 4, taper: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(k, omega, power)`` of the samples ``x`` (n_sites, n_times) of a line of sites at
    spacing ``dx``, sampled at ``fs`` (see :func:`komega_spectrum`): Hann-tapered in space,
    Tukey-tapered in time over ``taper`` of the record (1: Hann)."""
    from scipy.signal.windows import tukey

    n_x, n_t = x.shape
    win = np.hanning(n_x + 2)[1:-1, None] * tukey(n_t + 2, taper)[None, 1:-1]
    nk, nw = sfft.next_fast_len(pad * n_x), sfft.next_fast_len(pad * n_t)
    # numpy's forward transform uses exp(-i(kx + wt)); flip the sign of w so that
    # power sits at w = +v k for a wave moving towards +x.
    F = sfft.fft2(x * win, s=(nk, nw))
    k = 2 * np.pi * sfft.fftfreq(nk, d=dx)
    w = -2 * np.pi * sfft.fftfreq(nw, d=1.0 / fs)
    return k, w, np.abs(F) ** 2


def komega_spectrum(
    field: WaveField, *, pad: int = 4, taper: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power in wavenumber-frequency space of an evenly spaced line of sites.

    Returns ``(k, omega, power)`` with ``k`` in rad per ``space_unit`` (shape (n_k,)),
    ``omega`` in rad per ``time_unit`` (shape (n_w,)) and ``power`` (n_k, n_w), for the
    convention ``f(x, t) = sum P(k, w) exp(i (k x - w t))``: a wave travelling towards +x
    at speed v puts its power on the line ``w = v k``. The time window is the span of
    samples that holds the field's energy (all but 1e-6 of it), so that a transient such
    as an impulse response that decays to zero is not tapered away by the window: Hann
    in space, Tukey in time over ``taper`` of the span (1, the default: Hann;
    :func:`komega_velocity` refines its slope on :data:`TIME_TAPER`).
    """
    x, dx = komega_line(field)
    return komega_power(x, dx, field.fs, pad, taper)


class RidgeLines:
    """Power along lines ``w = v k`` through a k-omega spectrum, over ``k > 0``, with
    ``w`` wrapped into the Nyquist range so that temporally aliased ridges of fast waves
    still count (a Radon projection of the spectrum)."""

    def __init__(self, k: np.ndarray, w: np.ndarray, power: np.ndarray, fs: float):
        pos_k = np.flatnonzero(k > 0)
        order_w = np.argsort(w)
        self.kk, self.ws = k[pos_k], w[order_w]
        self.P = power[np.ix_(pos_k, order_w)]
        self.dw = self.ws[1] - self.ws[0]
        self.w_nyq = np.pi * fs
        self.total = float(self.P.sum())

    def along(self, speeds: np.ndarray) -> np.ndarray:
        """Power along the line of each speed (shape of ``speeds``), per ``k`` bin summed,
        interpolated linearly between ``w`` bins: (n_speeds, n_k)."""
        v = np.atleast_1d(np.asarray(speeds, np.float64))
        wl = (v[:, None] * self.kk[None, :] + self.w_nyq) % (2 * self.w_nyq) - self.w_nyq
        f = (wl - self.ws[0]) / self.dw
        i0 = np.clip(np.floor(f).astype(int), 0, len(self.ws) - 2)
        a = np.clip(f - i0, 0.0, 1.0)
        rows = np.arange(len(self.kk))[None, :]
        return (1 - a) * self.P[rows, i0] + a * self.P[rows, i0 + 1]

    def power(self, speeds: np.ndarray) -> np.ndarray:
        """Total power along the line of each speed (n_speeds,), in chunks of speeds."""
        v = np.atleast_1d(np.asarray(speeds, np.float64))
        step = max(1, 2**20 // max(len(self.kk), 1))
        return np.concatenate([self.along(v[i : i + step]).sum(1) for i in range(0, len(v), step)])


def speed_grid(lo: float, hi: float, n: int = 4000) -> np.ndarray:
    """Speeds a ridge search tries: ``n`` geometrically spaced speeds in ``[lo, hi]`` in
    each direction (negative: towards -x)."""
    grid = np.geomspace(lo, hi, n)
    return np.concatenate([-grid[::-1], grid])


def default_speed_range(dx: float, fs: float, n_times: int) -> tuple[float, float]:
    """Speeds a k-omega ridge is searched over by default: from a quarter of the slowest
    resolvable (one site spacing ``dx`` over the record of ``n_times`` samples at ``fs``)
    to 64 sites per sample, in ``space_unit / time_unit``."""
    return dx * fs / (4 * n_times), 64 * dx * fs


def komega_velocity(
    field: WaveField, *, pad: int = 4, speed_range=None, min_power: float = 0.05
) -> BroadbandVelocity:
    """Phase velocity from the ridge of the wavenumber-frequency (k-omega) spectrum.

    A wave ``g(x - v t)`` puts its power on the line ``w = v k`` of the k-omega
    spectrum. The ridge slope is found as the line through the origin that collects the
    most power, ``v* = argmax_v sum_k P(k, v k)`` (a Radon projection of the spectrum,
    with ``w`` wrapped into the Nyquist range so that temporally aliased ridges of fast
    waves still count). The slope is then refined on the ridge itself: for each
    frequency bin the wavenumber of peak power near that line is found (sub-bin), and
    ``1 / v`` is the power-weighted least-squares slope of ``k`` on ``w``. Searching the
    peak along ``k`` at fixed ``w`` (not along ``w`` at fixed ``k``) keeps the estimate
    unbiased under the smearing that a short line of sites causes along ``k``; a
    per-wavenumber search leans towards the low wavenumbers, where a pulse holds most
    power (measured: -3% on a Gaussian pulse on 64 sites).

    Parameters
    ----------
    field : WaveField
        Sites on an evenly spaced line.
    pad : int
        Zero-padding factor in both axes (finer sampling of the spectrum).
    min_power : float
        Frequency bins whose ridge power is below this fraction of the strongest are
        left out of the refinement.
    speed_range : (float, float), optional
        Speeds searched, in ``field.speed_unit``; default from 1/4 of the slowest
        resolvable (one site over the whole record) to 64 sites per sample.

    Returns
    -------
    BroadbandVelocity
        ``speed = |v|`` in ``field.speed_unit``; direction 0 for +x, pi for -x;
        ``quality`` is the fraction of the spectrum's power within one bin of the line.
    """
    from scipy.optimize import minimize_scalar

    k, w, power = komega_spectrum(field, pad=pad, taper=1.0)
    # the ridge is searched on the Hann spectrum; the slope is refined on the spectrum
    # tapered over TIME_TAPER of the span only, where a pulse's ridge is not blurred
    # along frequency (with a 10% taper throughout, decaying modes of a model that
    # do not travel found a resolved ridge at 0.03 sites/step)
    power_fine = komega_spectrum(field, pad=pad, taper=TIME_TAPER)[2]
    good_data = field.data[field.good]
    sp = _energy_span(np.asarray(good_data, np.float64))
    span = sp.stop - sp.start
    dx = float(np.diff(np.sort(field.positions[field.good, 0]))[0])
    w_nyq = np.pi * field.fs
    lines = RidgeLines(k, w, power, field.fs)
    dw = lines.dw

    def line_power(v: float) -> float:
        return float(lines.power(np.array([v]))[0])

    if speed_range is None:
        lo, hi = default_speed_range(dx, field.fs, field.n_times)
    else:
        lo, hi = (float(x) for x in speed_range)
    cand = speed_grid(lo, hi)
    e = lines.power(cand)
    ib = int(np.argmax(e))
    a, b = cand[max(ib - 1, 0)], cand[min(ib + 1, len(cand) - 1)]
    v = float(
        minimize_scalar(
            lambda x: -line_power(x),
            bounds=(min(a, b), max(a, b)),
            method="bounded",
            options={"xatol": 1e-6 * abs(cand[ib])},
        ).x
    )
    v, pts = _refine_on(k, w, power, v, min_power)
    v_fine, pts_fine = _refine_on(k, w, power_fine, v, min_power)
    if abs(v_fine / v - 1) <= MAX_FINE_SHIFT:
        v, pts = v_fine, pts_fine
    interval = _ridge_interval(pts, v, block=2 * pad)
    near = np.abs(((v * k[:, None] - w[None, :]) + w_nyq) % (2 * w_nyq) - w_nyq) <= dw
    frac = float(power[near].sum() / power.sum())
    speed = abs(v)
    direction = 0.0 if v >= 0 else float(np.pi)
    along = lines.along(np.array([v]))[0]
    k_mean = float(np.sum(lines.kk * along) / np.sum(along)) if np.sum(along) > 0 else np.nan
    return BroadbandVelocity(
        speed=speed,
        direction=direction,
        velocity=np.array([v]),
        unit=field.speed_unit,
        method="komega",
        quality=frac,
        n=len(lines.kk),
        speeds=np.array([speed]),
        directions=np.array([direction]),
        qualities=np.array([frac]),
        details={
            "speed_range": [float(lo), float(hi)],
            "at_range_edge": bool(abs(v) <= lo * 1.01 or abs(v) >= hi / 1.01),
            # how far the ridge's speed carries the pattern while the field holds its
            # energy, in site spacings: a pattern that moves by a site or two over the
            # record does not propagate in any resolvable sense
            "travel_sites": float(abs(v) * span / field.fs / dx),
            # the ridge's power-weighted mean wavelength and the line's length, both in
            # space_unit: a ridge whose power sits at wavelengths longer than the line
            # resolves no wavenumber, so no speed
            "ridge_wavelength": float(2 * np.pi / k_mean) if k_mean > 0 else float("inf"),
            "line_length": float(len(field.good) * dx),
            **interval,
        },
    )


#: Level of the broadband routes' intervals (as the phase route's, summary.INTERVAL_LEVEL).
INTERVAL_LEVEL = 0.9
#: Bootstrap draws of the broadband routes' intervals.
N_BOOT = 2000
#: Fewest resampled units (ridge blocks, sites) behind a broadband interval.
MIN_INTERVAL_UNITS = 3


def _signed_interval(slowness: np.ndarray, v: float, what: str) -> dict:
    """Speed and direction intervals at :data:`INTERVAL_LEVEL` from bootstrap draws of a
    slowness (scalar: on a line; else vectors, one per row), next to the estimate ``v``
    (signed speed on a line; the velocity vector otherwise).

    ``speed_interval``: percentile interval of ``1 / |s|``. On a line
    ``direction_support`` is the share of draws with the estimate's sign and
    ``direction_interval`` is the estimate's direction twice where that share reaches
    ``1 - (1 - level) / 2`` (the interval excludes the other way), else ``[0, pi]``; on a
    surface it is the percentile interval of the draws' angles about the estimate's
    (radians, ``low <= direction <= high`` up to wrapping)."""
    a = (1 - INTERVAL_LEVEL) / 2
    s = np.asarray(slowness, float)
    if s.ndim == 1:
        mag = np.abs(s)
        with np.errstate(divide="ignore"):
            sp = np.where(mag > 0, 1.0 / mag, np.inf)
        support = float(np.mean(np.sign(s) == np.sign(v)))
        d = 0.0 if v >= 0 else float(np.pi)
        dir_iv = [d, d] if support >= 1 - a else [0.0, float(np.pi)]
        extra = {"direction_support": support}
    else:
        mag = np.linalg.norm(s, axis=1)
        with np.errstate(divide="ignore"):
            sp = np.where(mag > 0, 1.0 / mag, np.inf)
        d = float(np.arctan2(v[1], v[0]))
        dev = np.angle(np.exp(1j * (np.arctan2(s[:, 1], s[:, 0]) - d)))
        lo, hi = np.quantile(dev, [a, 1 - a])
        dir_iv = [d + float(lo), d + float(hi)]
        extra = {}
    lo, hi = np.quantile(sp, [a, 1 - a])
    return {
        "speed_interval": [float(lo), float(hi)],
        "direction_interval": dir_iv,
        "interval_level": INTERVAL_LEVEL,
        "interval_method": what,
        **extra,
    }


def _ridge_interval(pts, v: float, block: int, seed: int = 0) -> dict:
    """The k-omega ridge slope's intervals: a bootstrap over blocks of ``block``
    consecutive frequency bins of the ridge (two resolution cells of the padded spectrum,
    the Hann window's main lobe: the peaks within a block share their noise), refitting
    the power-weighted slope of wavenumber on frequency per draw. Empty without at least
    :data:`MIN_INTERVAL_UNITS` blocks."""
    if pts is None:
        return {}
    bins, w, k, wt = pts
    ids, inv = np.unique(bins // max(block, 1), return_inverse=True)
    if len(ids) < MIN_INTERVAL_UNITS:
        return {}
    swk = np.bincount(inv, wt * w * k, len(ids))
    sww = np.bincount(inv, wt * w**2, len(ids))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ids), (N_BOOT, len(ids)))
    counts = np.zeros((N_BOOT, len(ids)))
    np.add.at(counts, (np.repeat(np.arange(N_BOOT), len(ids)), picks.ravel()), 1.0)
    slowness = (counts @ swk) / (counts @ sww)
    return _signed_interval(
        slowness,
        v,
        f"percentile bootstrap over {len(ids)} blocks of {block} frequency bins along the "
        "k-omega ridge (the power-weighted slope refitted per draw)",
    )


def _ridge_points(k, w, power, v0: float, min_power: float):
    """The ridge near ``w = v0 k``, per positive-frequency bin: ``(bins, w, k, weight)``
    of the bins kept (their index on the positive-frequency axis, frequency, sub-bin peak
    wavenumber unwrapped to the line's alias, and ridge power), or None with fewer than
    two."""
    order_k = np.argsort(k)
    ks = k[order_k]
    dk = ks[1] - ks[0]
    k_nyq = -ks[0]
    wpos = np.flatnonzero(w > 0)
    P = power[order_k][:, wpos].T  # (n_w, n_k)
    wv = w[wpos]
    pred = wv / v0
    pred_wrapped = (pred + k_nyq) % (2 * k_nyq) - k_nyq
    centre = np.clip(np.round((pred_wrapped - ks[0]) / dk).astype(int), 0, len(ks) - 1)
    half = 3
    offs = np.arange(-half, half + 1)
    cols = (centre[:, None] + offs[None, :]) % len(ks)
    local = np.take_along_axis(P, cols, axis=1)
    j = np.argmax(local, axis=1)
    ridge = local[np.arange(len(wv)), j]
    inner = (j > 0) & (j < 2 * half)
    jf = np.where(inner, _refine_peak(local, np.clip(j, 1, 2 * half - 1)), j)
    k_peak = pred_wrapped + (ks[centre] - pred_wrapped) + (jf - half) * dk
    k_true = pred + (k_peak - pred_wrapped)
    keep = inner & (ridge >= min_power * ridge.max())
    if keep.sum() < 2:
        return None
    bins = np.flatnonzero(keep)
    return bins, wv[keep], k_true[keep], ridge[keep]


def _ridge_slowness(w, k, wt) -> float:
    """Power-weighted least-squares slope of ``k`` on ``w`` through the origin."""
    den = np.sum(wt * w**2)
    return float(np.sum(wt * w * k) / den) if den > 0 else 0.0


#: Largest relative change the refinement on the lightly tapered spectrum may make to the
#: Hann spectrum's slope; a larger one is another ridge (decaying modes that do not
#: travel: 0.40 -> 82 sites/step), and the Hann slope stands.
MAX_FINE_SHIFT = 0.05


def _refine_on(k, w, power, v0: float, min_power: float):
    """``(v, points)``: the ridge slope refined per frequency bin from ``v0``, with the
    ridge points it was fitted to (None: fewer than two; ``v0`` stands)."""
    pts = _ridge_points(k, w, power, v0, min_power)
    slowness = _ridge_slowness(*pts[1:]) if pts is not None else 0.0
    return (float(1.0 / slowness), pts) if slowness != 0 else (v0, pts)
