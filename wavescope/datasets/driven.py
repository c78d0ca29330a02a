"""A cortical sheet driven by a known input: waves whose memory horizon is known exactly.

:func:`driven_wave` injects an input sequence ``u(t)`` (white or 1/f noise, or tokens
mapped to amplitudes) at a source and lets it travel across an array at conduction speed
``c``: site ``i`` at distance ``d_i`` from the source records the input delayed by
``d_i / c``, attenuated with distance, optionally smoothed in time (dispersion), plus
sensor noise. The input itself comes back as an extra channel (``"STIM"``, marked bad so
that no measure takes it for a cortical site), so that the field runs through
``wavescope memory field.npz --input-channel STIM`` like a recording with a stimulus
channel, and through ``wavescope velocity`` like any other recording.

Why the horizon is known
------------------------
Without noise and dispersion, site ``i`` holds ``u`` at lag ``D_i = d_i fs / c`` samples
(two neighbouring integer lags, when ``D_i`` is fractional). The snapshot of the array at
time ``t`` therefore holds the inputs ``u(t - tau)`` for ``tau`` from ``floor(min D_i)``
to ``ceil(max D_i)``, nothing older: the memory window is the **delay spread** of the
array, the range of source-to-site delays. The memory horizon of
:func:`wavescope.waves.memory.memory_curve_field` counts lags from 0, so when the source
touches the array (``min D_i < 1``, e.g. a wave entering at an edge) the noise-free
horizon is ``ceil(max D_i) + 1``: the largest delay from the source to any site, plus
one for lag 0. The array's *extent* does not set it: sites at the same distance from the
source hold the same lag (the rows of a grid driven from its edge, a ring around a point
source), so only the extent along the direction of travel counts, and a point source in
the middle of a grid gives half the delay spread of one at its edge. Every lag in the
window is held only when neighbouring delays are less than 2 samples apart (linear
interpolation spreads a site over its two nearest lags); a sparser array leaves holes and
the horizon stops at the first.

:func:`expected_memory_r2` gives the exact population R^2 of the best linear read-out of
``u(t - tau)`` from one snapshot, for the field's kernels, noise covariance and the
input's autocovariance: the curve an infinitely trained decoder would draw.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, as_float_array, check_option, check_positive
from wavescope.datasets.layouts import grid_positions, line_positions

__all__ = ["driven_input", "driven_wave", "expected_memory_r2"]

_TOL = 1e-9  # kernel weights below this (relative) count as zero (round-off of delays)


def driven_input(n_times: int, kind: str = "white", *, seed=None) -> np.ndarray:
    """An input sequence with unit standard deviation, zero mean, shape (n_times,).

    Parameters
    ----------
    n_times : int
        Number of samples.
    kind : {"white", "pink"}
        White Gaussian noise (every lag independent), or 1/f noise (power ``1/f``: the
        lags are correlated, so a decoder can guess inputs it does not hold).
    seed : int, optional
    """
    check_option("kind", kind, ("white", "pink"))
    if not isinstance(n_times, (int, np.integer)) or n_times < 2:
        raise WaveInputError(f"n_times must be an integer >= 2, got {n_times!r}.")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(n_times))
    if kind == "pink":
        spec = np.fft.rfft(x)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec /= np.sqrt(f)
        spec[0] = 0.0
        x = np.fft.irfft(spec, n=int(n_times))
    x = x - x.mean()
    return x / x.std()


def _layout(positions, grid, line, pitch) -> np.ndarray:
    given = sum(v is not None for v in (positions, grid, line))
    if given > 1:
        raise WaveInputError("give one of positions, grid=(rows, cols) or line=n_sites.")
    if positions is not None:
        pos = as_float_array("positions", positions, dtype=np.float64)
        pos = pos[:, None] if pos.ndim == 1 else pos
        if pos.ndim != 2 or not 1 <= pos.shape[1] <= 3 or pos.shape[0] < 2:
            raise WaveInputError(
                f"positions must have shape (n_sites >= 2, 1|2|3), got {pos.shape}."
            )
        if not np.all(np.isfinite(pos)):
            raise WaveInputError("positions must be finite.")
        return pos
    pitch = check_positive("pitch", pitch)
    if line is not None:
        if not isinstance(line, (int, np.integer)) or line < 2:
            raise WaveInputError(f"line must be a number of sites >= 2, got {line!r}.")
        return line_positions(int(line), pitch)
    rows, cols = (8, 8) if grid is None else grid
    if rows * cols < 2:
        raise WaveInputError(f"grid must hold at least 2 sites, got {rows} x {cols}.")
    return grid_positions(int(rows), int(cols), pitch)


def _distances(pos: np.ndarray, source, direction: float, source_offset: float):
    """Distance of every site from the source, and where the STIM channel is placed."""
    d = pos.shape[1]
    if isinstance(source, str):
        check_option("source", source, ("edge",))
        unit = np.array([np.cos(direction), np.sin(direction), 0.0])[:d]
        if d == 1:
            unit = np.array([1.0 if np.cos(direction) >= 0 else -1.0])
        proj = pos @ unit
        dist = proj - proj.min() + source_offset
        centre = pos.mean(axis=0)
        stim_pos = centre - (centre @ unit - proj.min() + source_offset) * unit
        return dist, stim_pos, float(np.arctan2(unit[1], unit[0]) if d > 1 else np.arccos(unit[0]))
    p = as_float_array("source", source, dtype=np.float64).reshape(-1)
    if p.shape != (d,) or not np.all(np.isfinite(p)):
        raise WaveInputError(
            f"source must be 'edge' or a point with {d} finite coordinate(s) in space_unit, "
            f"got {source!r}."
        )
    return np.linalg.norm(pos - p, axis=1), p, None


def _kernels(delay: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Per-site FIR kernels over integer lags, shape (n_sites, n_taps), rows sum to 1.

    Linear interpolation of the fractional delay (two taps), convolved with a sampled
    Gaussian of standard deviation ``sigma`` samples (truncated at 4 sigma; taps before
    lag 0 are dropped and the kernel renormalised: the input cannot arrive early).
    """
    n_taps = int(np.ceil(np.max(delay + 4 * sigma))) + 2
    h = np.zeros((delay.size, n_taps))
    for i, (D, s) in enumerate(zip(delay, sigma)):
        k = int(np.floor(D))
        f = D - k
        lin = np.zeros(n_taps)
        lin[k] = 1.0 - f
        if f > 0:
            lin[k + 1] = f
        if s > 0:
            half = int(np.ceil(4 * s))
            g = np.exp(-0.5 * (np.arange(-half, half + 1) / s) ** 2)
            full = np.convolve(lin, g / g.sum())[half : half + n_taps]
            lin = full / full.sum()
        h[i] = lin
    h[np.abs(h) < _TOL] = 0.0
    keep = np.flatnonzero(h.any(axis=0))
    return h[:, : keep.max() + 1] if keep.size else h[:, :1]


def _noise(rng, pos, n_times, noise_sd, color, length):
    """Sensor noise (n_sites, n_times): white or 1/f in time, Gaussian-correlated in space.

    Returns the noise and its covariance across sites at one sample (n_sites, n_sites).
    """
    n = pos.shape[0]
    z = rng.standard_normal((n, n_times))
    if color == "pink":
        spec = np.fft.rfft(z, axis=1)
        f = np.arange(spec.shape[1], dtype=np.float64)
        f[0] = 1.0
        spec /= np.sqrt(f)[None, :]
        spec[:, 0] = 0.0
        z = np.fft.irfft(spec, n=n_times, axis=1)
        z /= z.std(axis=1, keepdims=True)
    cov = np.eye(n)
    if length > 0:
        d2 = np.sum((pos[:, None, :] - pos[None, :, :]) ** 2, axis=-1)
        cov = np.exp(-0.5 * d2 / length**2)
        w, v = np.linalg.eigh(cov)
        mix = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        z = mix @ z
    return noise_sd * z, noise_sd**2 * cov


def driven_wave(
    inputs,
    *,
    speed: float,
    fs: float,
    positions=None,
    grid: tuple[int, int] | None = None,
    line: int | None = None,
    pitch: float = 0.4,
    source="edge",
    direction: float = 0.0,
    source_offset: float = 0.0,
    attenuation_length: float | None = None,
    dispersion: float = 0.0,
    noise_sd: float = 0.0,
    noise_color: str = "white",
    noise_length: float = 0.0,
    token_amplitudes=None,
    stim_name: str = "STIM",
    seed=None,
    space_unit: str = "mm",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """A sheet driven by a known input sequence that travels across the array at ``speed``.

    Site ``i`` at distance ``d_i`` from the source records

    ``x_i(t) = a_i * sum_n h_i[n] u(t - n) + noise_i(t)``,   ``a_i = exp(-d_i / lambda)``

    where ``h_i`` delays ``u`` by ``D_i = d_i fs / speed`` samples (pure conduction delay;
    linear interpolation between samples for a fractional delay, see Notes), smoothed by
    a Gaussian of standard deviation ``dispersion * D_i`` samples when ``dispersion > 0``.
    The input is zero before the first sample (the drive starts at ``t = 0``).

    Parameters
    ----------
    inputs : array_like, shape (n_times,)
        The input ``u`` at every sample. Floating dtype: real values (e.g. from
        :func:`driven_input`). Integer dtype: tokens ``>= 0``, injected as
        ``token_amplitudes[u]``; the STIM channel then carries the token ids, so that
        ``wavescope memory`` scores accuracy.
    speed : float
        Conduction speed ``c`` in ``space_unit / time_unit`` (mm/s by default; 0.1-0.8 m/s
        is 100-800 mm/s).
    fs : float
        Samples per ``time_unit``.
    positions : array_like, shape (n_sites, 1|2|3), optional
        Site positions in ``space_unit``. Or give ``grid=(rows, cols)`` or ``line=n_sites``
        with ``pitch``; default: an 8 x 8 grid (a Utah-like array).
    pitch : float
        Site spacing of ``grid`` / ``line`` in ``space_unit`` (0.4 mm: a Utah array).
    source : "edge" or array_like (d,)
        ``"edge"``: a line source along the upstream edge of the array; the wave travels in
        ``direction`` (radians, counter-clockwise from +x; on a line 0 is towards +x), and
        ``d_i`` is the distance of site ``i`` from the line through the most upstream site,
        plus ``source_offset``. A point: a circular wave from that point (``space_unit``).
    direction : float
        Direction of travel of an edge source, radians.
    source_offset : float
        Distance from an edge source to the nearest sites, ``space_unit`` (>= 0).
    attenuation_length : float, optional
        ``lambda`` of ``a_i = exp(-d_i / lambda)`` in ``space_unit``; None: no attenuation.
    dispersion : float
        Temporal spread per unit delay (>= 0): the input reaches site ``i`` smoothed by a
        Gaussian of SD ``dispersion * D_i`` samples, so smoothing grows with distance.
    noise_sd : float
        Sensor noise SD, in the units of the injected input (``u`` has SD 1 from
        :func:`driven_input`, so the SNR at the source is ``1 / noise_sd**2``).
    noise_color : {"white", "pink"}
        Temporal spectrum of the noise (``"pink"``: 1/f, like ongoing cortical activity).
    noise_length : float
        Spatial correlation length of the noise (Gaussian, ``space_unit``); 0: independent.
    token_amplitudes : array_like, optional
        Amplitude of each token id (integer inputs); default evenly spaced in [-1, 1].
    stim_name : str
        Name of the input channel, appended last and marked bad.
    seed : int, optional
        Seed of the noise.
    space_unit, time_unit : str
    dtype : numpy dtype
        dtype of ``data``.

    Returns
    -------
    WaveField
        ``n_sites + 1`` channels: the sites (``E00``, ``E01``, ...), then ``stim_name`` (the
        input, bad, placed at the source). ``meta["truth"]``: ``speed``, ``direction``
        (radians; None for a point source), ``pattern`` (``"driven-planar"`` or
        ``"driven-radial"``), ``delays`` (samples per site), ``delay_min``, ``delay_max``,
        ``delay_spread`` (samples), ``transit_time`` (``delay_max / fs``, ``time_unit``),
        ``lags_held`` (first and last lag any site holds), ``covered`` (every lag in
        between is held), ``horizon`` (the noise-free memory horizon, samples: see
        Notes), ``kernels`` ((n_sites, n_taps) ndarray, gains included), ``noise_cov``
        ((n_sites, n_sites) ndarray), ``stim_channel``, ``input_kind`` and the settings.

    Raises
    ------
    WaveInputError
        Non-finite or non-1-D inputs, negative tokens, inputs shorter than twice the
        kernel (the time the wave needs to cross the array), non-positive speed or fs,
        negative dispersion, noise or offset.

    Notes
    -----
    **Fractional delays by linear interpolation.** A delay of ``k + f`` samples is
    ``(1 - f) u(t - k) + f u(t - k - 1)``: exact for an input that is piecewise linear
    between samples, and with compact support, so a site holds two lags and nothing else
    and the memory window of the array is finite and known. A Fourier-domain (sinc) delay
    is exact for band-limited inputs but spreads every fractional delay over all lags
    with ``1/n`` tails (white noise is not band-limited below Nyquist), which would blur
    the very horizon this field exists to pin down. Integer delays are exact either way.

    **Noise-free horizon.** Lag ``tau`` is held when some site's kernel weights it
    (``sum_i h_i[tau]^2 > 0``); ``horizon`` is one plus the last lag of the unbroken run
    of held lags from lag 0 (0 when no site holds lag 0: a point source away from the
    array holds a window of lags that starts later). For an edge source with neighbouring
    delays less than 2 samples apart it is ``ceil(delay_max) + 1``. Noise lowers the R^2
    of every lag (:func:`expected_memory_r2`); dispersion widens the window but spreads
    each site over many lags; a correlated (e.g. 1/f) input lets a decoder predict lags
    the array does not hold: each moves the measured horizon away from this value.

    Examples
    --------
    >>> u = driven_input(4000, seed=0)
    >>> f = driven_wave(u, speed=100.0, fs=1000.0, line=16, pitch=0.1)  # 1 sample/site
    >>> f.meta["truth"]["horizon"], f.ch_names[-1]
    (16, 'STIM')
    """
    speed = check_positive("speed", speed)
    fs = check_positive("fs", fs)
    check_option("noise_color", noise_color, ("white", "pink"))
    for name, v in (
        ("dispersion", dispersion),
        ("noise_sd", noise_sd),
        ("noise_length", noise_length),
        ("source_offset", source_offset),
    ):
        if not (np.isfinite(v) and v >= 0):
            raise WaveInputError(f"{name} must be a finite number >= 0, got {v!r}.")
    if attenuation_length is not None:
        attenuation_length = check_positive("attenuation_length", attenuation_length)
    u_raw = np.asarray(inputs)
    if u_raw.dtype.kind not in "fiub" or u_raw.ndim != 1:
        raise WaveInputError(
            f"inputs must be a 1-D numeric sequence (one value per sample), got dtype "
            f"{u_raw.dtype} and shape {u_raw.shape}."
        )
    if u_raw.dtype.kind in "iub":
        tokens = u_raw.astype(np.int64)
        if tokens.size and tokens.min() < 0:
            raise WaveInputError("token inputs must be ids >= 0; shift them first.")
        n_tok = int(tokens.max()) + 1 if tokens.size else 1
        if token_amplitudes is not None:
            amp = np.asarray(token_amplitudes, np.float64)
        else:
            amp = np.linspace(-1.0, 1.0, n_tok) if n_tok > 1 else np.ones(1)
        if amp.ndim != 1 or amp.size < n_tok or not np.all(np.isfinite(amp)):
            raise WaveInputError(
                f"token_amplitudes must give a finite amplitude for every token id 0..{n_tok - 1}"
                f", got {np.shape(amp)}."
            )
        u, stim, kind = amp[tokens], tokens.astype(np.float64), "tokens"
    else:
        u = u_raw.astype(np.float64)
        if not np.all(np.isfinite(u)):
            raise WaveInputError(
                f"inputs hold {int((~np.isfinite(u)).sum())} NaN or infinite values; repair "
                "or crop them."
            )
        stim, kind = u, "values"

    pos = _layout(positions, grid, line, pitch)
    dist, stim_pos, theta = _distances(pos, source, float(direction), float(source_offset))
    delay = dist * fs / speed  # samples
    sigma = dispersion * delay
    h = _kernels(delay, sigma)
    n_taps = h.shape[1]
    n_times = u.size
    if n_times < 2 * n_taps:
        raise WaveInputError(
            f"inputs have {n_times} samples, but the wave needs {n_taps} samples to cross the "
            f"array (largest delay {delay.max():.3g} samples at speed {speed:g} "
            f"{space_unit}/{time_unit}, plus dispersion): give at least {2 * n_taps} samples "
            "(far more for a memory curve)."
        )
    gain = np.ones_like(dist) if attenuation_length is None else np.exp(-dist / attenuation_length)
    hk = h * gain[:, None]  # kernels with the gains, (n_sites, n_taps)

    clean = np.zeros((pos.shape[0], n_times))
    for n in np.flatnonzero(hk.any(axis=0)):
        clean[:, n:] += hk[:, n : n + 1] * u[None, : n_times - n]
    rng = np.random.default_rng(seed)
    noise_cov = np.zeros((pos.shape[0], pos.shape[0]))
    if noise_sd > 0:
        noise, noise_cov = _noise(rng, pos, n_times, noise_sd, noise_color, noise_length)
        clean += noise

    held = np.flatnonzero(np.sum(hk**2, axis=0) > 0)  # lags some site holds
    if held.size == 0:
        raise WaveInputError(
            f"attenuation_length={attenuation_length:g} {space_unit} leaves no signal at any "
            "site (the gains underflow); use a longer attenuation length."
        )
    gaps = np.flatnonzero(np.diff(np.concatenate([[-1], held])) != 1)
    # noise-free horizon: the unbroken run of held lags from lag 0
    if held[0] != 0:
        run = 0
    else:
        run = int(held[gaps[0] - 1] + 1 if gaps.size else held[-1] + 1)
    names = tuple(f"E{i:02d}" for i in range(pos.shape[0]))
    if stim_name in names:
        raise WaveInputError(f"stim_name {stim_name!r} clashes with a site name; choose another.")
    data = np.vstack([clean, stim[None, :]]).astype(dtype)
    positions_all = np.vstack([pos, stim_pos[None, :]])
    bad = np.zeros(pos.shape[0] + 1, bool)
    bad[-1] = True
    truth = dict(
        pattern="driven-planar" if theta is not None else "driven-radial",
        speed=speed,
        direction=theta,
        source="edge" if theta is not None else np.asarray(stim_pos).tolist(),
        delays=delay.tolist(),
        delay_min=float(delay.min()),
        delay_max=float(delay.max()),
        delay_spread=float(delay.max() - delay.min()),
        transit_time=float(delay.max() / fs),
        lags_held=[int(held.min()), int(held.max())],
        covered=bool(held.size == held.max() - held.min() + 1),
        horizon=int(run),
        kernels=hk,
        noise_cov=noise_cov,
        attenuation_length=attenuation_length,
        dispersion=float(dispersion),
        noise_sd=float(noise_sd),
        noise_color=noise_color,
        noise_length=float(noise_length),
        input_kind=kind,
        input_sd=float(np.std(u)),
        token_amplitudes=None if kind == "values" else amp.tolist(),
        stim_channel=stim_name,
        fractional_delay="linear interpolation",
    )
    return WaveField(
        data,
        fs,
        positions_all,
        space_unit,
        time_unit,
        ch_names=names + (stim_name,),
        bad=bad,
        meta={"truth": truth},
    )


def expected_memory_r2(field: WaveField, max_lag: int) -> np.ndarray:
    """Population R^2 of the best linear read-out of ``u(t - tau)`` from one snapshot.

    For a field from :func:`driven_wave`: the sites are ``x_t = H w_t + e_t`` with ``H``
    the kernels (gains included), ``w_t = (u(t), u(t-1), ...)`` and ``e_t`` the noise of
    covariance ``Sigma_e``. With ``R`` the input's autocovariance (estimated from the STIM
    channel; for tokens, from their amplitudes),

    ``R^2(tau) = c_tau' (H R_w H' + Sigma_e)^+ c_tau / r(0)``, with
    ``c_tau[i] = sum_n H[i, n] r(tau - n)`` and ``R_w[m, n] = r(m - n)``,

    the R^2 of the linear least-squares estimate of ``u(t - tau)`` from ``x_t`` with
    infinite training data: an upper bound on the held-out R^2 of a finite decoder. For
    white input ``r(k) = r(0) delta_k`` and an unattenuated site alone holding ``tau``,
    ``R^2 = SNR / (1 + SNR)`` with ``SNR = a^2 r(0) / noise_sd^2``.

    Parameters
    ----------
    field : WaveField
        From :func:`driven_wave` (``meta["truth"]`` with ``kernels`` and ``noise_cov``).
    max_lag : int
        Lags ``0 .. max_lag`` (samples).

    Returns
    -------
    ndarray, shape (max_lag + 1,)
    """
    truth = field.meta.get("truth", {})
    if "kernels" not in truth or "stim_channel" not in truth:
        raise WaveInputError("expected_memory_r2 needs a field made by driven_wave.")
    if not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise WaveInputError(f"max_lag must be an integer >= 0, got {max_lag!r}.")
    h = np.asarray(truth["kernels"], np.float64)
    n_taps = h.shape[1]
    stim = field.data[field.ch_names.index(truth["stim_channel"])].astype(np.float64)
    if truth["input_kind"] == "tokens":
        stim = np.asarray(truth["token_amplitudes"])[stim.astype(np.int64)]
    s = stim - stim.mean()
    n = s.size
    k_max = max_lag + n_taps + 1
    if k_max >= n:
        raise WaveInputError(f"max_lag={max_lag} is too long for {n} samples.")
    spec = np.fft.rfft(s, 2 * n)
    r = np.fft.irfft(np.abs(spec) ** 2)[: k_max + 1] / n  # biased autocovariance, lags >= 0

    def acov(k):
        return r[np.abs(k)]

    taps = np.arange(n_taps)
    cov_x = h @ acov(taps[:, None] - taps[None, :]) @ h.T + np.asarray(truth["noise_cov"])
    lags = np.arange(max_lag + 1)
    c = h @ acov(lags[None, :] - taps[:, None])  # (n_sites, n_lags): cov(x_i, u(t - tau))
    sol = np.linalg.pinv(cov_x, hermitian=True) @ c
    return np.clip(np.sum(c * sol, axis=0) / r[0], 0.0, 1.0)
