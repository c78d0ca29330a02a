"""The checks and sizes measure_velocity settles before it transforms anything.

:func:`check_field` refuses fields no measure can read (NaN, flat or coinciding sites,
too few sites, a line given as 2-D positions); :func:`auto_band` picks the band when none
is given; the read-out step and the band's power are checked against the record; the
record is cut into overlapping chunks (:func:`default_chunk_samples`) so that memory
stays bounded whatever its length.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.field import WaveField, release_pages
from wavescope.core.validate import WaveInputError, check_distinct_positions, is_collinear
from wavescope.signal.aperiodic import fit_spectrum
from wavescope.signal.spectral import band_power_fraction, safe_scale

__all__ = [
    "auto_band",
    "check_field",
    "default_chunk_samples",
    "site_spectrum",
    "spectrum_model",
]

#: Fewest samples measure_velocity accepts.
MIN_SAMPLES = 4


#: A site whose power in the band is below this fraction of its total has no in-band
#: signal (round-off only) and is refused by measure_velocity.
MIN_BAND_POWER = 1e-10


#: Most phase-randomised surrogates measure_velocity accepts.
MAX_SURROGATES = 1000


#: Bytes of float64 data per chunk of the default ``chunk_samples`` of measure_velocity.
CHUNK_BYTES = 2**29


def default_chunk_samples(n_sites: int, n_times: int) -> int:
    """Samples per chunk of :func:`measure_velocity` when ``chunk_samples`` is not given.

    At most ``2**21`` samples and ``CHUNK_BYTES`` of float64 over the sites (memory that
    does not grow with the number of sites), and at most ``n_sites * n_times / 128`` (but
    not under ``2**16``): the transforms run 8 sites at a time (pocketfft's SIMD batch)
    and hold about 4 copies of each row, so a record of few sites is cut in time as well
    (measured peak, input included: 1.5x the input at 16 and 64 sites x 600 s, against
    3.6x and 1.9x in one piece; time unchanged within noise).
    """
    by_bytes = CHUNK_BYTES // (8 * max(n_sites, 1))
    by_input = max(2**16, (n_sites * n_times) // 128)
    return int(max(2**14, min(2**21, by_bytes, by_input)))


#: Values (sites x samples) per block when check_field scans a memory-mapped field.
CHECK_BLOCK_VALUES = 2**24


def _blocks(n_times: int, n_rows: int):
    """(t0, t1) spans of samples holding about ``CHECK_BLOCK_VALUES`` values over n_rows rows."""
    step = max(1, CHECK_BLOCK_VALUES // max(n_rows, 1))
    for t0 in range(0, n_times, step):
        yield t0, min(t0 + step, n_times)


def check_field(field: WaveField, *, min_sites: int = 3) -> np.ndarray:
    """Check a field before measuring; return the indices of the good sites.

    Raises a :class:`WaveInputError` for a record under ``MIN_SAMPLES`` samples, naming
    the sites for NaN/inf samples or flat (constant) signals among the good sites, too few
    good sites, good sites that share a position (by channel name), and 2-D good sites
    on one line (a strip electrode, or bad sites that leave one row): those are refused,
    not projected, and the message names :meth:`WaveField.to_line`, which measures along
    the line. A memory-mapped field is scanned in blocks of samples (about ``2**24``
    values each) whose pages are released after use, so the check never holds the
    recording in memory.
    """
    if field.n_times < MIN_SAMPLES:
        raise WaveInputError(
            f"{field.n_times} sample(s): too short to measure; the band-pass needs at "
            f"least {MIN_SAMPLES} samples, and a band at least one cycle in the record."
        )
    good = field.good
    # min and max propagate NaN, so two fast reductions find NaN, inf and flat sites
    # without copying the data.
    if field.is_memmap:
        lo = np.full(field.n_sites, np.inf, field.data.dtype)
        hi = np.full(field.n_sites, -np.inf, field.data.dtype)
        for t0, t1 in _blocks(field.n_times, field.n_sites):
            block = field.data[:, t0:t1]
            lo = np.minimum(lo, block.min(axis=1))
            hi = np.maximum(hi, block.max(axis=1))
            release_pages(field.data)
        lo, hi = np.asarray(lo)[good], np.asarray(hi)[good]
    else:
        lo = np.min(field.data, axis=1)[good]
        hi = np.max(field.data, axis=1)[good]
    nonfinite = ~(np.isfinite(lo) & np.isfinite(hi))
    if nonfinite.any():
        names = [field.ch_names[i] for i in good[nonfinite]]
        all_nan = np.all(np.isnan(field.data[good[nonfinite]]), axis=1)
        what = "all-NaN" if all_nan.all() else "NaN/inf samples in"
        raise WaveInputError(
            f"{what} site(s) {names[:8]}{' ...' if len(names) > 8 else ''}: mark them bad "
            "(WaveField.with_bad / info['bads']) or interpolate the gaps first."
        )
    flat = hi == lo
    if flat.any():
        names = [field.ch_names[i] for i in good[flat]]
        raise WaveInputError(
            f"flat (constant) site(s) {names[:8]}: no phase can be measured there; mark them bad."
        )
    if len(good) < min_sites:
        raise WaveInputError(
            f"{len(good)} good site(s); this method needs at least {min_sites}. "
            "Check the bad-site mask or use more channels."
        )
    names = [field.ch_names[i] for i in good]
    check_distinct_positions(field.positions[good], names, field.space_unit)
    if field.n_dims >= 2 and is_collinear(field.positions[good]):
        raise WaveInputError(
            f"the {len(good)} good sites lie on one line ({field.n_dims}-D positions of a "
            "strip electrode, or bad sites that leave one row): phase gradients across the "
            "line are undefined. Measure along it with field.to_line() (speeds are then "
            "apparent speeds along the line), or give 1-D positions (CLI: store positions "
            "of shape (n_sites, 1) in the .npz)."
        )
    return good


#: auto_band reads the whole record up to this many values (good sites x samples); above
#: it, a bounded subset (see :func:`auto_band`).
AUTO_BAND_MAX_VALUES = 2**24


def site_spectrum(field: WaveField, good=None) -> tuple[np.ndarray, np.ndarray]:
    """The site-averaged Welch power spectrum of the good sites, bounded in memory.

    Records of up to ``AUTO_BAND_MAX_VALUES`` values (good sites x samples) use segments
    of an eighth of the record (at least 64 samples) over the whole record. Longer records
    (and every memory-mapped one of that size) use a bounded subset: at most 32
    Hann-windowed segments of ``min(n_times // 8, 2**15)`` samples, evenly spaced over the
    record, read 32 sites at a time, so the estimate costs the same memory however long the
    record is (its frequency resolution is ``fs / 2**15`` at most, 0.03 Hz at 1 kHz). The
    choice depends only on the size, never on whether ``data`` is mapped.

    Returns
    -------
    freqs : ndarray
        Cycles per time unit.
    power : ndarray
        Power spectral density averaged over sites (data units squared per cycle per time
        unit, times a power of two for data near the float range's ends).
    """
    from scipy.signal import welch

    good = field.good if good is None else good
    n = field.n_times
    if n < MIN_SAMPLES or len(good) == 0:
        raise WaveInputError(
            f"{n} sample(s) at {len(good)} good site(s): too short to find a dominant "
            f"frequency (need at least {MIN_SAMPLES} samples); pass band=(lo, hi) "
            "(CLI: --band LO HI)."
        )
    if len(good) * n <= AUTO_BAND_MAX_VALUES:
        data = field.data[good]
        scale = safe_scale(data, dtype=np.float64 if data.dtype == np.float64 else np.float32)
        if scale != 1.0:  # a power of two, so that squared magnitudes stay in range
            data = data * data.dtype.type(scale)
        nper = min(n, max(64, n // 8))
        f, p = welch(data, fs=field.fs, nperseg=nper, axis=1)
        return f, p.mean(axis=0)
    nper = min(n, max(64, min(n // 8, 2**15)))
    n_seg = max(1, min(32, n // nper))
    starts = np.linspace(0, n - nper, n_seg).astype(int)
    p = 0.0
    for t0 in starts:
        for s0 in range(0, len(good), 32):
            # float64: squared magnitudes of float32 data beyond ~1e17 overflow float32
            seg = np.asarray(field.data[good[s0 : s0 + 32], t0 : t0 + nper], np.float64)
            f, ps = welch(seg, fs=field.fs, nperseg=nper, axis=1)
            p = p + ps.sum(axis=0)
        release_pages(field.data)
    return f, p / (n_seg * len(good))


#: Height a spectral peak must reach above the aperiodic fit for the automatic route and
#: band to follow it, log10 power (0.3: twice the background). Site-averaged spectra of
#: spatially correlated 1/f noise without any oscillation showed narrow bumps of 0.12-0.16
#: (6 of 10 bank records) that sent them to the phase route; oscillations of the bank at
#: -3 dB in band stood 0.67-0.81 above the fit.
MIN_PEAK_HEIGHT = 0.3


def spectrum_model(field: WaveField, good=None, *, fmin: float | None = None):
    """The aperiodic fit of :func:`site_spectrum` and its largest peak at least
    :data:`MIN_PEAK_HEIGHT` high (:func:`wavescope.signal.aperiodic.fit_spectrum`) from
    ``fmin`` (default: two frequency bins) to 0.45 fs; None where the record has too few
    frequencies to fit or its spectrum is not positive there."""
    f, p = site_spectrum(field, good)
    return _fit_or_none(f, p, 2 * f[1] if fmin is None else fmin, 0.45 * field.fs)


def _fit_or_none(f, p, lo: float, hi: float):
    try:
        return fit_spectrum(f, p, (lo, hi), min_peak_height=MIN_PEAK_HEIGHT)
    except WaveInputError:
        return None


def auto_band(field: WaveField, *, fmin: float | None = None) -> tuple[float, float]:
    """A band around the dominant oscillation: ``[f0 / 1.25, f0 * 1.25]``.

    ``f0`` is the largest peak that stands above the aperiodic (1/f) fit of the
    site-averaged spectrum (:func:`spectrum_model`); where no peak passes, the spectrum's
    maximum above ``fmin`` (default: two frequency bins). Under a 1/f background the
    maximum sits at the lowest frequency whatever oscillation the field holds, so the peak
    above the fit is what names the band. Pass ``band`` explicitly whenever the band of
    interest is known.
    """
    f, p = site_spectrum(field)
    fmin = 2 * f[1] if fmin is None else fmin
    sel = f >= fmin
    if not sel.any():
        raise WaveInputError("recording too short to find a dominant frequency; pass band=.")
    model = _fit_or_none(f, p, fmin, 0.45 * field.fs)
    if model is not None and model.peak is not None:
        f0 = model.peak.frequency
    else:
        f0 = float(f[sel][np.argmax(p[sel])])
    hi = min(f0 * 1.25, 0.45 * field.fs)
    return (f0 / 1.25, hi)


def _check_readout(D: int, band, transition, field: WaveField) -> None:
    """The read-out step must fit the record and keep the band (before any transform)."""
    if D > field.n_times:
        raise WaveInputError(
            f"decimate (CLI: --decimate) = {D} samples is longer than the record "
            f"({field.n_times} samples); use a smaller read-out step."
        )
    width = (band[1] + transition[1]) - (band[0] - transition[0])
    if width > 0 and D > field.fs / width:
        raise WaveInputError(
            f"decimate (CLI: --decimate) = {D} reads out {field.fs / D:.4g} samples per "
            f"{field.time_unit}, fewer than the band's width with its edges ({width:.4g} per "
            f"{field.time_unit}): the read-out would alias. Use decimate <= "
            f"{max(1, int(field.fs / width))}, or leave it out for the default."
        )


def _check_band_power(field: WaveField, band, good) -> None:
    """Refuse good sites with no power in the band (round-off only), naming them."""
    frac = band_power_fraction(field.data, field.fs, band, sites=good)
    empty = frac < MIN_BAND_POWER  # NaN (no variation) was refused as flat already
    if empty.any():
        names = [field.ch_names[i] for i in good[empty]]
        raise WaveInputError(
            f"no signal in the band ({band[0]:g}, {band[1]:g}) per {field.time_unit} at "
            f"{len(names)} good site(s) {names[:8]}{' ...' if len(names) > 8 else ''}: their "
            f"in-band power is under {MIN_BAND_POWER:g} of their total (round-off only), so "
            "they have no phase. Choose a band that holds the signal (leave band out for "
            "the dominant peak; CLI: omit --band), or mark those sites bad."
        )


def _chunks(n_times, chunk, D, fs, transition):
    """Yield (lo, hi, core_lo, core_hi): filtered span and kept span, aligned to D."""
    if n_times <= chunk:
        yield 0, n_times, 0, n_times
        return
    w = min(x for x in transition if x > 0) if any(transition) else fs
    overlap = int(np.ceil(4.0 * fs / w / D)) * D
    step = max(D, (chunk // D) * D)
    for core_lo in range(0, n_times, step):
        core_hi = min(core_lo + step, n_times)
        lo = max(0, core_lo - overlap)
        hi = min(n_times, core_hi + overlap)
        yield lo, hi, core_lo, core_hi
