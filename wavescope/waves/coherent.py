"""The coherent wavevector: one plane wave fitted to the band's cross-spectral matrix,
whitened by the background's own spatial covariance.

Why: the per-sample phase gradient reads long waves slow under a spatially correlated
background. Noise that is correlated at zero lag (volume conduction, a 1/f background
shared by neighbouring contacts) adds an in-phase component to every site, which
flattens each phase map towards the noise's own smooth pattern; and wave epochs picked by
their PGD favour the samples where noise happened to steepen the gradient. Measured on
the validation bank (10 x 10 grid at 0.4 mm, pink 1/f background smoothed over 1 mm, 10
dB in band): waves of 10 array extents read 16-27% slow, 20 extents 53-77%.

How: over the record's valid read-out samples, the band's analytic signal ``z`` (sites x
samples) has the cross-spectral matrix ``C = z z^H = S + N``. For one plane wave ``S = a^2
u u^H`` with ``u_i = exp(-i k . x_i)``; ``N`` is the background's spatial covariance in
the band. ``N`` is estimated from two flanking bands just below and above the band, each
as wide as the band where it fits (:func:`flank_bands`; the background is aperiodic and
its spatial structure changes slowly with frequency), mixed so that its correlated part
follows the power law the two flanks show (:func:`interpolate_noise`). The leading
generalized eigenvector ``v`` of ``(C, N)`` gives the wave's pattern ``u`` as ``N v`` for any
scale of ``N`` (``C v = lambda N v`` with ``C = a^2 u u^H + c N`` makes ``N v`` parallel to
``u``); a plane fitted to that pattern (a weighted circular-linear fit, started from the
neighbour pairs' phase differences) gives the diagnostics and the starting point. The
wavevector is the maximum-likelihood plane of ``z_t = s_t u + n_t`` with an unknown
waveform: the ``k`` that maximises ``u^H N^-1 C N^-1 u / u^H N^-1 u`` (:class:`_MLPlane`),
which weighs the sites by the noise's full covariance, with ``N`` shrunk towards its
diagonal by the number of samples behind it (:func:`shrink_noise`). The frequency is that
of the spatially filtered signal ``v^H z`` (its lag-one autocorrelation's phase), and
``speed = 2 pi f / |k|``. No sample is selected by how wave-like it looks, so the estimate
carries no selection bias; and noise incoherent with ``u`` averages out of ``C`` instead of
adding to ``|k|``. On the bank's grid in 1/f noise at 3 dB, 10 extents, its spread is
1.0-1.1 times the Cramer-Rao bound's (``analyses/crb_long_wavelength.py``).

The interval is a percentile bootstrap over windows of a few coherence times (their
whitened ``C`` resampled, ``N`` kept), which keeps the noise's correlation within a window.
Its percentiles are expanded for the few windows a short record holds
(:func:`expanded_quantiles`): a plain percentile interval over ``n`` independent windows
is as narrow as a normal interval with the variance divided by ``n / (n - 1)``, where the
spread of ``n`` windows calls for Student's t with ``n - 1`` degrees of freedom.

References
----------
Hesterberg, T. C. (2015). What teachers should know about the bootstrap: resampling in
the undergraduate statistics curriculum. The American Statistician 69(4), 371-386
(the expanded percentile interval).
Van Trees, H. L. (2002). Optimum Array Processing, ch. 5-6 (prewhitening by the noise's
spatial covariance; the generalized eigenvector as the maximum-SNR spatial filter) and 8
(the deterministic maximum-likelihood estimate and its Cramer-Rao bound).
Chen, Y., Wiesel, A., Eldar, Y. C. & Hero, A. O. (2010). Shrinkage algorithms for MMSE
covariance estimation. IEEE Trans. Signal Process. 58, 5016-5029.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import eigh

from wavescope.core.field import WaveField
from wavescope.core.results import finite_or_none
from wavescope.signal.spectral import (
    analytic_from_spectrum,
    auto_decimation,
    band_spectrum,
    default_transition,
)
from wavescope.space.neighbours import site_spacing

__all__ = [
    "CoherentVelocity",
    "coherent_velocity",
    "expanded_quantiles",
    "flank_bands",
    "interpolate_noise",
    "plane_of_pattern",
]

#: Level of the bootstrap interval.
LEVEL = 0.9
#: Bootstrap resamples of the windows.
N_BOOT = 200
#: Most in-band noise per unit bandwidth over the flanks' prediction
#: (:func:`noise_excess`) for the maximum-likelihood plane, which weighs the sites by the
#: flanks' covariance; above it the plane is fitted to the pattern (whose fit does not).
MAX_NOISE_EXCESS = 10.0
#: Widths of a flanking band, in band widths, the widest that fits first.
FLANK_WIDTHS = (1.0, 0.5)
#: Window of one cross-spectral matrix, in coherence times of the band (1 / band width).
WINDOW_COHERENCE_TIMES = 4.0
#: Fewest windows for an interval; most windows kept (longer records get longer windows).
MIN_WINDOWS, MAX_WINDOWS = 8, 64
#: Smallest coherence of the pattern with its fitted plane for the estimate to be valid.
MIN_PLANE_COHERENCE = 0.7
#: Largest ratio of the second generalized eigenvalue to the top of the noise's bulk (the
#: :data:`BULK_RANK`-th largest) for the record to hold one wave: a single plane wave, in
#: white or 1/f backgrounds, leaves the second at 1.5-1.8 times the bulk's top (1.9-2.3
#: with flanks of half the band's width, whose noise covariance was rougher); the
#: simulated cortex (bursts from sources all around the array) at 8-75 times, where the
#: leading pattern mixes waves of several directions and reads up to 3 times too fast.
MAX_SECOND_COMPONENT = 4.0
BULK_RANK = 10
#: Most good sites read (cross-spectral matrices grow as the square).
MAX_SITES = 400
#: Relative singular value below which the near pairs' normal matrix is taken not to span a
#: direction (:func:`_neighbour_gradient`); 4 depth shafts projected onto a plane span
#: their cross-shaft direction at 2e-6 of the along-shaft one.
NEIGHBOUR_RCOND = 1e-3
#: Records (good sites x samples) up to which the estimator runs (it reads whole records).
MAX_VALUES = 2**26


@dataclass
class CoherentVelocity:
    """The coherent plane wave of a record.

    Attributes
    ----------
    speed : float
        ``space_unit / time_unit``; NaN when no estimate.
    direction : float
        Direction of propagation, radians (0 or pi on a line).
    wavelength : float
        ``space_unit``.
    frequency : float
        Cycles per ``time_unit``.
    wavevector : ndarray (d,)
        Radians per ``space_unit``.
    speed_interval, direction_interval : (low, high)
        Expanded percentile bootstrap interval at :data:`LEVEL` over windows
        (:func:`expanded_quantiles`; None: too few).
    pattern_interval : (low, high) or None
        Where the maximum-likelihood plane gives the speed: the same bootstrap's interval
        of the plane fitted to the pattern alone (the estimate that does not lean on the
        flanks' noise model); None where the pattern's plane is the estimate.
    plane_coherence : float
        ``|sum_i u_i exp(i k . x_i)| / sum_i |u_i|``: 1 for a perfect plane.
    eigen_ratio : float
        Leading over second generalized eigenvalue (how much one pattern dominates).
    second_component : float
        Second generalized eigenvalue over the :data:`BULK_RANK`-th (1-1.3 for one wave).
    n_windows : int
    noise_source : str
        Which flanks gave the noise covariance.
    problems : list of str
        Failed diagnostics (empty: valid).
    """

    speed: float
    direction: float
    wavelength: float
    frequency: float
    wavevector: np.ndarray
    speed_interval: tuple[float, float] | None
    direction_interval: tuple[float, float] | None
    plane_coherence: float
    eigen_ratio: float
    second_component: float
    n_windows: int
    noise_source: str
    problems: list[str] = field(default_factory=list)
    propagation_p: float = np.nan
    noise_excess: float = np.nan
    pattern_interval: tuple[float, float] | None = None

    @property
    def valid(self) -> bool:
        return not self.problems and bool(np.isfinite(self.speed))

    def to_json(self) -> dict:
        iv, dv = self.speed_interval, self.direction_interval
        return {
            "speed": finite_or_none(self.speed),
            "direction": finite_or_none(self.direction),
            "wavelength": finite_or_none(self.wavelength),
            "frequency": finite_or_none(self.frequency),
            "wavevector": [float(x) for x in self.wavevector],
            "speed_interval": None if iv is None else [float(iv[0]), float(iv[1])],
            "direction_interval": None if dv is None else [float(dv[0]), float(dv[1])],
            "level": LEVEL,
            "plane_coherence": finite_or_none(self.plane_coherence),
            "eigen_ratio": finite_or_none(self.eigen_ratio),
            "second_component": finite_or_none(self.second_component),
            "n_windows": int(self.n_windows),
            "noise_source": self.noise_source,
            "propagation_p": finite_or_none(self.propagation_p),
            "noise_excess": finite_or_none(self.noise_excess),
            "pattern_speed_interval": None
            if self.pattern_interval is None
            else [float(x) for x in self.pattern_interval],
            "problems": list(self.problems),
            "valid": self.valid,
        }


def flank_bands(band, fs: float, duration: float) -> list[tuple[float, float]]:
    """Bands half a width below and above the band (clear of both filters' edges), each as
    wide as the band where it fits between ``2 / duration`` and ``0.45 fs``, else half as
    wide where that fits, else none.

    Their width sets how well the noise's covariance is known: a flank of width ``b``
    over ``T`` seconds holds about ``b T`` independent samples, and flanks of half the
    band's width left the maximum-likelihood plane 1.15 times the Cramer-Rao bound's
    spread on the bank's grid in 1/f noise (3 dB, 10 extents), flanks of a full width at
    it (``analyses/crb_long_wavelength.py``).
    """
    lo, hi = band
    w = hi - lo
    out = []
    for width in FLANK_WIDTHS:
        below = (lo - 0.5 * w - width * w, lo - 0.5 * w)
        if below[0] >= 2.0 / duration:
            out.append(below)
            break
    for width in FLANK_WIDTHS:
        above = (hi + 0.5 * w, hi + 0.5 * w + width * w)
        if above[1] <= 0.45 * fs:
            out.append(above)
            break
    return out


def interpolate_noise(n_flanks: list, f_flanks: list, f_band: float) -> tuple[float, ...]:
    """Weights of the flanks' covariances whose mix is the background at ``f_band``.

    With two flanks the correlated part of the background (the off-diagonal sum) is
    interpolated as a power law in frequency between them and the diagonal follows the
    same mix: exact for a background of one correlated aperiodic component plus white
    noise at each site, and the weights sum to 1 (the white part keeps its level). With
    one flank, that flank alone.
    """
    if len(n_flanks) == 1:
        return (1.0,)
    (a, b), (fa, fb) = n_flanks, f_flanks
    sa = float(np.sum(a) - np.trace(a))
    sb = float(np.sum(b) - np.trace(b))
    t = np.log(f_band / fa) / np.log(fb / fa)
    if sa > 0 and sb > 0 and abs(sa - sb) > 1e-12 * max(sa, sb):
        target = sa ** (1 - t) * sb**t
        wa = (target - sb) / (sa - sb)
    else:
        wa = 1 - t
    wa = float(np.clip(wa, 0.0, 1.0))
    return (wa, 1.0 - wa)


def plane_of_pattern(u: np.ndarray, pos: np.ndarray, init=None) -> tuple[np.ndarray, float]:
    """The phase gradient ``g`` (radians per space unit) of the plane that best fits the
    complex spatial pattern ``u`` (n,), and its coherence.

    Maximises ``|sum_i u_i exp(-i g . x_i)| / sum_i |u_i|`` (a circular-linear plane fit
    weighted by ``|u_i|``), started from ``init`` or from the least-squares fit of the
    phase differences between neighbouring sites (no unwrapping needed).
    """
    from scipy.optimize import minimize  # lazily: ``wavescope --help`` stays light

    u = np.asarray(u, complex)
    pos = np.asarray(pos, float)
    if init is None:
        init = _neighbour_gradient(u, pos)
    x0 = pos - pos.mean(axis=0)
    total = float(np.sum(np.abs(u)))

    def cost(g):
        e = u * np.exp(-1j * (x0 @ g))
        s = e.sum()
        # gradient of -|s|^2 / total^2: d s / d g = -i sum_i x_i e_i
        ds = -1j * (x0.T @ e)
        return -(abs(s) ** 2) / total**2, -2 * np.real(np.conj(s) * ds) / total**2

    res = minimize(cost, np.asarray(init, float), jac=True, method="BFGS")
    g = res.x
    return g, float(np.sqrt(max(-res.fun, 0.0)))


def _neighbour_gradient(u: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Least-squares gradient from the phase differences of near pairs (within 1.5 of the
    median nearest-neighbour distance), each weighted by ``|u_i u_j|``.

    A direction the pairs barely span (singular value of their normal matrix under
    :data:`NEIGHBOUR_RCOND` of the largest) is left at zero for the plane fit to find:
    on parallel shafts, whose near pairs all run along the shafts, the least-squares
    component across them is noise divided by a near-zero pair extent, and started there
    the fit climbs to an alias of the wave (a wavevector a reciprocal-lattice step away,
    its pattern as coherent)."""
    d = pos[:, None, :] - pos[None, :, :]
    dist = np.sqrt(np.sum(d**2, axis=-1))
    spacing = site_spacing(pos)
    i, j = np.nonzero((dist > 0) & (dist <= 1.5 * spacing))
    if i.size == 0:
        return np.zeros(pos.shape[1])
    prod = u[i] * np.conj(u[j])
    w = np.abs(prod)
    dx = d[i, j]
    A = (dx * w[:, None]).T @ dx
    b = (dx * w[:, None]).T @ np.angle(prod)
    return np.linalg.lstsq(A, b, rcond=NEIGHBOUR_RCOND)[0]


def coherent_velocity(
    field: WaveField,
    good,
    band: tuple[float, float],
    *,
    decimate: int | None = None,
    edge: float | None = None,
    n_boot: int = N_BOOT,
    seed=0,
) -> CoherentVelocity | None:
    """The coherent plane wave of ``field`` in ``band`` (see the module notes).

    Parameters
    ----------
    field : WaveField
    good : array of int
        Sites read.
    band : (lo, hi)
        Cycles per ``time_unit``.
    decimate : int, optional
        Read-out step, samples (default :func:`auto_decimation`).
    edge : float, optional
        ``time_unit`` left out at each end (default: 2 / narrowest edge width of the band
        filter, at most 10% of the record).
    n_boot : int
        Bootstrap resamples of the windows.
    seed : int or numpy seed
        Seed of the bootstrap.

    Returns
    -------
    CoherentVelocity or None
        None where the estimator cannot run: no flanking band fits the record, the
        record is too large, or fewer than :data:`MIN_WINDOWS` windows of
        :data:`WINDOW_COHERENCE_TIMES` coherence times fit.
    """
    good = np.asarray(good, int)
    if len(good) > MAX_SITES or len(good) * field.n_times > MAX_VALUES or len(good) < 3:
        return None
    flanks = flank_bands(band, field.fs, field.duration)
    if not flanks:
        return None
    transition = default_transition(band, field.fs)
    D = auto_decimation(field.fs, band, transition) if decimate is None else int(decimate)
    for fl in flanks:  # one read-out step that keeps every band
        D = min(D, auto_decimation(field.fs, fl, default_transition(fl, field.fs)))
    if edge is None:
        edge = min(2.0 / min(w for w in transition if w > 0), 0.1 * field.duration)
    z = _analytic(field, good, band, D)
    fs_out = field.fs / D
    n_out = z.shape[1]
    t = np.arange(n_out) * D
    valid = np.nonzero((t >= edge * field.fs) & (t < field.n_times - edge * field.fs))[0]
    if valid.size < 2:
        return None
    win = int(np.ceil(WINDOW_COHERENCE_TIMES / (band[1] - band[0]) * fs_out))
    n_win = valid.size // max(win, 1)
    if n_win < MIN_WINDOWS:
        return None
    n_win = min(n_win, MAX_WINDOWS)
    bounds = valid[0] + np.arange(n_win + 1) * (valid.size // n_win)
    spans = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    C = np.stack([z[:, s] @ z[:, s].conj().T for s in spans])
    prop_p = propagation_test(C, field.positions[good])
    # lag-one products of each window, for the frequency of the filtered signal
    R = np.stack([z[:, s.start + 1 : s.stop] @ z[:, s.start : s.stop - 1].conj().T for s in spans])
    del z
    Ns, fcs = [], []
    for fl in flanks:
        zf = _analytic(field, good, fl, D)
        Ns.append(sum((zf[:, s] @ zf[:, s].conj().T).real for s in spans))
        fcs.append(float(np.sqrt(fl[0] * fl[1])))
        del zf
    f_band = float(np.sqrt(band[0] * band[1]))
    weights = interpolate_noise(Ns, fcs, f_band)
    N = sum(w * n for w, n in zip(weights, Ns))
    n_eff = _flank_samples(flanks, weights, Ns, len(spans) * (valid.size // n_win) / fs_out)
    source = " and ".join(f"{a:.3g}-{b:.3g}" for a, b in flanks)
    pos = field.positions[good]
    white = _Whitened.of(C, R, N)
    if white is None:
        return None
    y, lam = white.leading(white.C.sum(0))
    g0, coherence = plane_of_pattern(white.pattern(y), pos)
    x0 = pos - pos.mean(axis=0)
    excess = noise_excess(white, flanks, weights, Ns, band)
    ml = None
    g = g0
    if excess <= MAX_NOISE_EXCESS:
        ml = _MLPlane.of(white.L, shrink_noise(N, n_eff)[0], x0)
        g = ml.fit(white.C.sum(0), g0)
    freq = white.frequency(y, white.R.sum(0), fs_out)
    ratio = float(lam[-1] / lam[-2]) if lam[-2] > 0 else np.inf
    second = float(lam[-2] / lam[0]) if lam[0] > 0 else np.inf
    k = -g
    kmag = float(np.linalg.norm(k))
    speed = 2 * np.pi * abs(freq) / kmag if kmag > 0 else np.inf
    direction = _direction(k)
    rng = np.random.default_rng(seed)
    sp_b, di_b, sp_p = [], [], []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_win, n_win), minlength=n_win).astype(float)
        Cb = np.tensordot(counts, white.C, axes=1)
        yb = white.power_iteration(Cb, y)
        g_pat = _refine_plane(white.pattern(yb), x0, g0)  # the pattern-alone plane
        gb = g_pat if ml is None else ml.fit(Cb, g)
        kb = -gb
        fb = white.frequency(yb, np.tensordot(counts, white.R, axes=1), fs_out)
        if ml is not None:
            mp = float(np.linalg.norm(g_pat))
            sp_p.append(2 * np.pi * abs(fb) / mp if mp > 0 else np.inf)
        m = float(np.linalg.norm(kb))
        sp_b.append(2 * np.pi * abs(fb) / m if m > 0 else np.inf)
        di_b.append(_direction(kb))
    q = expanded_quantiles(n_win)
    iv = dv = pv = None
    if n_boot > 0 and len(sp_b) >= n_boot // 2:
        lo, hi = np.quantile(np.asarray(sp_b), q)
        iv = (float(lo), float(hi))
        if sp_p:
            plo, phi = np.quantile(np.asarray(sp_p), q)
            pv = (float(plo), float(phi))
        dd = np.angle(np.exp(1j * (np.asarray(di_b) - direction)))
        dlo, dhi = np.quantile(dd, q)
        dv = (float(direction + dlo), float(direction + dhi))
    problems = []
    if coherence < MIN_PLANE_COHERENCE:
        problems.append(
            f"the coherent pattern fits a plane poorly (coherence {coherence:.2f} < "
            f"{MIN_PLANE_COHERENCE:g}: several waves or sources)"
        )
    if second > MAX_SECOND_COMPONENT:
        problems.append(
            f"a second pattern stands {second:.1f} times above the noise (more than "
            f"{MAX_SECOND_COMPONENT:g}): waves of several directions or sources, whose "
            "common pattern is no one wave's"
        )
    spacing = site_spacing(pos)
    wl = 2 * np.pi / kmag if kmag > 0 else np.inf
    if wl < 4 * spacing:
        problems.append(f"wavelength {wl:.3g} {field.space_unit} is under 4 site spacings")
    if not np.isfinite(speed):
        problems.append("no phase difference across the array (infinite speed)")
    return CoherentVelocity(
        speed=float(speed),
        direction=direction,
        wavelength=float(wl),
        frequency=float(abs(freq)),
        wavevector=k,
        speed_interval=iv,
        direction_interval=dv,
        plane_coherence=coherence,
        eigen_ratio=ratio,
        second_component=second,
        n_windows=n_win,
        noise_source=source,
        problems=problems,
        propagation_p=prop_p,
        noise_excess=excess,
        pattern_interval=pv,
    )


def expanded_quantiles(n: int, level: float = LEVEL) -> tuple[float, float]:
    """Quantiles of the bootstrap replicates that give a ``level`` interval from ``n``
    resampled units: the expanded percentile interval (Hesterberg 2015).

    Resampling ``n`` units with replacement spreads the replicates by ``sqrt((n - 1) /
    n)`` of the estimate's standard error, and their percentiles are the normal
    distribution's where an error over ``n`` units follows Student's t with ``n - 1``
    degrees of freedom. The quantiles returned are those of the normal at ``sqrt(n / (n -
    1)) t_{n-1}``: with 16 windows 0.035 and 0.965 for a 90% interval (1.10 times wider
    than 0.05-0.95), with 64 windows 0.046 and 0.954 (1.03 times).

    Parameters
    ----------
    n : int
        Units resampled (windows), at least 2.
    level : float
        Coverage sought, in (0, 1).

    Returns
    -------
    (low, high) : tuple of float
        Probabilities for ``np.quantile`` of the replicates.
    """
    from scipy.stats import norm, t

    if n < 2:
        raise ValueError(f"n={n!r}: an interval needs at least 2 resampled units.")
    a = (1 - level) / 2
    p = float(norm.sf(np.sqrt(n / (n - 1)) * t.isf(a, n - 1)))
    return p, 1.0 - p


def propagation_test(C: np.ndarray, pos: np.ndarray) -> float:
    """p-value of the windows' cross-spectra against no delays between sites.

    A field without delays (noise correlated at zero lag, synchronous or standing
    oscillations, volume conduction) has a real cross-spectral matrix in expectation; a
    travelling wave adds ``Im C_ij = -a^2 sin(k . (x_i - x_j))``. Each window ``w`` gives
    the coherency's imaginary part ``K_w`` (``Im C_w`` scaled by the record's site powers)
    and two vectors zero-mean under that null, whatever the background's spectrum or
    spatial correlation: ``sum_ij K_w,ij (x_i - x_j)`` over all pairs (long waves, whose
    phase differences grow with distance across the whole array) and over neighbouring
    pairs (within 1.5 spacings: short waves, whose far pairs' sines cancel). Hotelling's
    T^2 of the windows' stacked vectors against zero (windows of a few coherence times:
    nearly independent) is the test.

    Parameters
    ----------
    C : ndarray (windows, n, n)
        Cross-spectral matrices of the band's analytic signal, one per window.
    pos : ndarray (n, d)
        Site positions.

    Returns
    -------
    float
        The p-value (NaN with too few windows for the test).
    """
    from scipy.stats import f as f_dist

    n_win = C.shape[0]
    power = np.real(np.einsum("wii->i", C))
    scale = 1.0 / np.sqrt(np.maximum(power, 1e-300))
    K = np.imag(C) * scale[None, :, None] * scale[None, None, :]
    x0 = pos - pos.mean(axis=0)
    d = pos[:, None, :] - pos[None, :, :]
    near = np.sqrt(np.sum(d**2, axis=-1)) <= 1.5 * site_spacing(pos)
    # sum_ij K_ij (x_i - x_j) = 2 sum_i (sum_j K_ij) x_i for an antisymmetric K
    T = np.concatenate(
        [2.0 * np.einsum("wij,id->wd", K, x0), np.einsum("wij,ijd->wd", K * near, d)], axis=1
    )
    dim = T.shape[1]
    if n_win <= dim + 1:
        return np.nan
    m = T.mean(axis=0)
    S = np.atleast_2d(np.cov(T, rowvar=False))
    try:
        t2 = float(n_win * m @ np.linalg.solve(S, m))
    except np.linalg.LinAlgError:
        return np.nan
    F = (n_win - dim) / (dim * (n_win - 1)) * t2
    return float(f_dist.sf(F, dim, n_win - dim))


def _analytic(field: WaveField, good, band, D: int) -> np.ndarray:
    spec = band_spectrum(
        field.data, field.fs, band, transition=default_transition(band, field.fs),
        decimate=D, sites=good,
    )  # fmt: skip
    z, _, _ = analytic_from_spectrum(spec, D)
    return np.asarray(z, np.complex128)


@dataclass
class _Whitened:
    """The windows' cross-spectral (``C``) and lag-one (``R``) matrices whitened by the
    noise ``N = L L^H``: ``L^-1 C L^-H``. The leading eigenvector ``y`` of their sum is
    ``L^H v`` for the generalized eigenvector ``v`` of ``(C, N)``, the pattern ``N v = L y``
    and the spatial filter ``v = L^-H y``."""

    C: np.ndarray
    R: np.ndarray
    L: np.ndarray

    @classmethod
    def of(cls, C, R, N):
        n = N.shape[0]
        N = 0.5 * (N + N.T) + 1e-6 * np.trace(N) / n * np.eye(n)
        try:
            L = np.linalg.cholesky(N)
        except np.linalg.LinAlgError:
            return None
        Li = np.linalg.inv(L)
        return cls(Li @ C @ Li.conj().T, Li @ R @ Li.conj().T, L)

    @staticmethod
    def leading(C) -> tuple[np.ndarray, np.ndarray]:
        """The leading eigenvector and the :data:`BULK_RANK` largest eigenvalues
        (ascending) of ``C``."""
        n = C.shape[0]
        r = min(BULK_RANK, n)
        lam, V = eigh(0.5 * (C + C.conj().T), subset_by_index=[n - r, n - 1])
        return V[:, -1], lam

    @staticmethod
    def power_iteration(C, y0, n_iter: int = 40) -> np.ndarray:
        y = y0
        for _ in range(n_iter):
            y = C @ y
            y /= np.linalg.norm(y)
        return y

    def pattern(self, y) -> np.ndarray:
        return self.L @ y

    def frequency(self, y, R, fs_out: float) -> float:
        """Frequency of the filtered signal ``v^H z``: the phase of its lag-one
        autocorrelation ``y^H R y``, cycles per time unit."""
        return float(np.angle(np.conj(y) @ R @ y)) * fs_out / (2 * np.pi)


def noise_excess(white, flanks, weights, Ns, band) -> float:
    """In-band noise per unit bandwidth over what the flanks' mix predicts, per site.

    ``tr(P^-1 C_n) / (n B)``: ``C_n`` the band's matrix without its leading component,
    ``P = sum_j w_j N_j / b_j`` the flanks' mix per unit of their noise bandwidths ``b_j``,
    ``B`` the band filter's. About 1 where the flanks measure the band's noise (1.1-1.4 on
    the bank's 1/f backgrounds, exponents 1-2, and in white noise); far above 1 where the
    band holds noise the flanks do not see: 1e14 for white noise band-passed to the band
    (``tests/waves/test_wave_detection.py``), whose flanks hold only the wave's leakage,
    so that weighing the sites by them reads the speed 17% slow."""
    w_band = 1.1875 * (band[1] - band[0])
    P = sum(w * n / (1.1875 * (hi - lo)) for w, n, (lo, hi) in zip(weights, Ns, flanks))
    P = 0.5 * (P + P.T) + _loading(P)
    M = white.L.conj().T @ np.linalg.solve(P, white.L)  # tr(P^-1 C) = tr(M C_w)
    Cw = white.C.sum(0)
    lam, V = eigh(0.5 * (Cw + Cw.conj().T))
    y = V[:, -1]
    tr = float(np.real(np.sum(M * Cw.T))) - lam[-1] * float(np.real(np.vdot(y, M @ y)))
    n = Cw.shape[0]
    return max(tr, 0.0) / max(n - 1, 1) / w_band


def _loading(N):
    n = N.shape[0]
    return 1e-6 * np.trace(N).real / n * np.eye(n)


def shrink_noise(N: np.ndarray, n_samples: float) -> tuple[np.ndarray, float]:
    """``N`` shrunk towards its diagonal by the oracle-approximating rule (Chen et al.
    2010) applied to its correlation matrix, and the weight given to the diagonal.

    ``N`` is a sum of ``n_samples`` independent (complex) outer products, fewer than a
    few times its size on short records and many sites: its small eigenvalues are then
    too small and its inverse (the whitening) amplifies their errors. The weight is
    ``((1 - 2/p) tr R^2 + p^2) / ((n + 1 - 2/p) (tr R^2 - p))`` for the correlation ``R``
    (``p`` sites, ``n`` samples), at most 1.
    """
    d = np.sqrt(np.clip(np.real(np.diag(N)), 1e-300, None))
    R = N / np.outer(d, d)
    p = R.shape[0]
    tr2 = float(np.sum(np.abs(R) ** 2))
    den = (n_samples + 1 - 2 / p) * (tr2 - p)
    rho = 1.0 if den <= 0 else float(min(1.0, ((1 - 2 / p) * tr2 + p**2) / den))
    Rs = (1 - rho) * R + rho * np.eye(p)
    return Rs * np.outer(d, d), rho


def _flank_samples(flanks, weights, Ns, seconds: float) -> float:
    """Independent samples behind the mixed noise covariance ``sum_j w_j N_j``: each
    flank holds its filter's noise bandwidth times ``seconds`` (a raised-cosine edge of a
    quarter width on each side adds 3/16 of the width), mixed as a weighted sum of
    independent estimates, ``(sum w_j t_j)^2 / sum (w_j t_j)^2 / m_j`` (``t_j`` traces)."""
    m = [1.1875 * (hi - lo) * seconds for lo, hi in flanks]
    t = [w * float(np.real(np.trace(n))) for w, n in zip(weights, Ns)]
    den = sum(tj**2 / mj for tj, mj in zip(t, m) if mj > 0)
    return float(sum(t) ** 2 / den) if den > 0 else float(sum(m))


@dataclass
class _MLPlane:
    """The maximum-likelihood plane wave of the whitened cross-spectra.

    For ``z_t = s_t u + n_t``, ``n_t ~ CN(0, N)`` with an unknown waveform ``s_t``, the
    likelihood concentrated on ``u(g)``, ``u_i = exp(i g . x_i)`` (phase gradient ``g``),
    is the whitened power ``u^H N^-1 C N^-1 u / u^H N^-1 u``. Fitting a plane to the
    generalized eigenvector's pattern instead treats the pattern's errors as independent
    between sites, which they are not under a spatially correlated background: on the
    bank's grid in 1/f noise
    (3 dB, 10 extents, 30 seeds) that two-step fit spread 1.6 times the Cramer-Rao bound
    (``analyses/crb_long_wavelength.py``). ``C`` is given whitened by ``L`` (``N_0 = L
    L^H``, the windows' matrices as :class:`_Whitened` keeps them) and ``N`` is the
    shrunk noise (:func:`shrink_noise`): ``N^-1 C N^-1 = A^H C_w A`` with ``A = L^H N^-1``.
    """

    A: np.ndarray
    Ninv: np.ndarray
    x0: np.ndarray

    @classmethod
    def of(cls, L, N, x0):
        Ninv = np.linalg.inv(0.5 * (N + N.conj().T))
        return cls(L.conj().T @ Ninv, Ninv, x0)

    def _cost(self, g, Cw):
        e = np.exp(1j * (self.x0 @ g))  # the pattern of phase gradient g
        de = 1j * self.x0 * e[:, None]  # (n, d)
        a, da = self.A @ e, self.A @ de
        Ca = Cw @ a
        num = float(np.real(np.vdot(a, Ca)))
        Ne = self.Ninv @ e
        den = float(np.real(np.vdot(e, Ne)))
        dnum = 2 * np.real(da.conj().T @ Ca)
        dden = 2 * np.real(de.conj().T @ Ne)
        return -num / den, -(dnum * den - num * dden) / den**2

    def fit(self, Cw, g0) -> np.ndarray:
        """The phase gradient (radians per space unit) that maximises the whitened power,
        climbing from ``g0``."""
        from scipy.optimize import minimize

        Cw = Cw * (Cw.shape[0] / max(float(np.real(np.trace(Cw))), 1e-300))  # order-1 costs
        r = max(float(np.sqrt(np.max(np.sum(self.x0**2, axis=1)))), 1e-300)

        def cost(v):  # v: radians across the array's radius
            c, j = self._cost(v / r, Cw)
            return c, j / r

        res = minimize(cost, np.asarray(g0, float) * r, jac=True, method="BFGS")
        return res.x / r if np.all(np.isfinite(res.x)) else np.asarray(g0, float)


def _refine_plane(u, x0, g, n_iter: int = 6) -> np.ndarray:
    """Newton steps on ``|sum_i u_i exp(-i g . x_i)|^2`` from ``g`` (a bootstrap replica
    starts at the record's plane)."""
    g = np.asarray(g, float).copy()
    for _ in range(n_iter):
        e = u * np.exp(-1j * (x0 @ g))
        s = e.sum()
        ds = -1j * (x0.T @ e)  # (d,)
        d2s = -(x0.T * e) @ x0  # (d, d)
        grad = 2 * np.real(np.conj(s) * ds)
        hess = 2 * np.real(np.outer(np.conj(ds), ds) + np.conj(s) * d2s)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        g = g - step
        if np.linalg.norm(step) < 1e-9 * max(np.linalg.norm(g), 1e-300):
            break
    return g


def _direction(k: np.ndarray) -> float:
    if len(k) == 1:
        return 0.0 if k[0] >= 0 else float(np.pi)
    return float(np.arctan2(k[1], k[0]))
