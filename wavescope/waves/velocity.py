"""The velocity pipeline: from a field to speeds, directions, wavelengths and wave epochs.

:func:`measure_velocity` runs the phase route (band-pass and analytic signal in one FFT,
optional generalized phase, local phase gradients, PGD, per-sample plane fit, wave
epochs against phase-randomised surrogates, pattern classes) or one of the broadband
routes, and returns a :class:`VelocityResult` whose :meth:`~VelocityResult.summary` is
the stable JSON schema of ``wavescope velocity``.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.field import WaveField, release_pages
from wavescope.core.validate import (
    WaveInputError,
    band_record_notes,
    check_band,
    check_band_record,
    check_distinct_positions,
    check_int,
    check_nonnegative,
    check_open_unit,
    check_option,
    is_collinear,
)
from wavescope.signal.phase import generalized_phase, instantaneous_frequency
from wavescope.signal.spectral import (
    analytic_from_spectrum,
    auto_decimation,
    band_power_fraction,
    band_spectrum,
    band_weights,
    default_transition,
    safe_scale,
    spectral_continuum,
)
from wavescope.signal.surrogates import lag_free_surrogate, randomise_phases
from wavescope.space.gradient import gradient_operator, phase_gradient
from wavescope.space.neighbours import find_neighbours, site_spacing
from wavescope.waves.broadband import event_time_velocity, komega_velocity, xcorr_velocity
from wavescope.waves.circlinear import circlinear_plane_fit
from wavescope.waves.epochs import find_epochs, null_threshold
from wavescope.waves.measures import phase_gradient_directionality, propagation_direction
from wavescope.waves.patterns import classify_patterns
from wavescope.waves.planar import fit_phase_plane
from wavescope.waves.result import (
    BROADBAND_METHODS,
    PHASE_METHODS,
    PhaseSnapshot,
    VelocityResult,
)

__all__ = [
    "METHODS",
    "VelocityResult",
    "auto_band",
    "check_field",
    "measure_velocity",
    "choose_method",
    "direction_persistence",
    "persistent_samples",
    "spectral_concentration",
    "window_estimates",
]

#: Methods of :func:`measure_velocity`. The first two use phase in a band; the others
#: are broadband.
METHODS = PHASE_METHODS + BROADBAND_METHODS


def _warnings_for(summary: dict, spacing: float | None) -> list[str]:
    notes = list(summary.get("route_warnings") or [])
    wl = summary["wavelength"]["median"]
    under = any("under 4 site spacings" in n for n in notes)
    if (
        spacing
        and wl is not None
        and wl < 4 * spacing
        and summary["method"] in PHASE_METHODS
        and not under
    ):
        notes.append(
            f"wavelength {wl:.3g} {summary['space_unit']} is under 4 site spacings "
            f"({spacing:.3g}): phase gradients are under-resolved and speeds biased; use a "
            "lower band or a broadband method (event-time, xcorr, komega)."
        )
    notes.extend(_record_notes(summary))
    notes.extend(_selection_notes(summary))
    notes.extend(_undefined_notes(summary))
    return notes


#: Wave fraction under which the speed of the wave epochs is checked against all samples.
FEW_EPOCHS = 0.2
#: Relative difference (epochs vs all samples) that the summary warns about then.
SELECTION_TOLERANCE = 0.05


def _selection_notes(summary: dict) -> list[str]:
    """Warn when few wave epochs give a speed unlike that of all samples.

    Epochs are selected by PGD, which the same noise moves: when they cover little of the
    record (in-band SNR about 5 dB on a small array: 2-14% of the time) their speeds
    carried a bias of -7% to -15% where the median over all samples stayed within 2%
    (analyses/results/speed_bias.md).
    """
    wf = summary.get("wave_fraction")
    sp, sp_all = summary.get("speed", {}), summary.get("speed_all_samples")
    if not sp_all or wf is None or not np.isfinite(wf) or wf >= FEW_EPOCHS:
        return []
    a, b = sp.get("median"), sp_all.get("median")
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)) or b == 0:
        return []
    rel = a / b - 1
    if abs(rel) <= SELECTION_TOLERANCE:
        return []
    return [
        f"wave epochs cover only {wf:.0%} of the record and their speed ({a:.3g}) differs "
        f"from the median over all samples ({b:.3g} {sp_all['unit']}, {rel:+.0%}): epochs "
        "selected by PGD can carry the noise's bias; where the wave is known to last, report "
        "speed_all_samples."
    ]


def _undefined_notes(summary: dict) -> list[str]:
    """Replace NaN/inf numbers of ``summary`` (in place) by None, and say why the main
    measures are undefined: JSON has no NaN, and a null needs its reason."""
    replaced = []

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, (dict, list)):
                walk(value, f"{path}{key}.")
            elif isinstance(value, (float, np.floating)) and not np.isfinite(value):
                node[key] = None
                replaced.append(f"{path}{key}")

    walk(summary, "")
    notes = []
    if replaced:
        notes.append(
            f"{', '.join(replaced)} not finite, given as null: an infinite speed or "
            "wavelength means no delay or phase difference between sites (synchronous "
            "activity or a standing pattern), not a fast wave."
        )
    no_wave = any("no travelling wave found" in n for n in summary.get("route_warnings") or [])
    if summary["speed"]["median"] is None and "speed.median" not in replaced and not no_wave:
        which = summary.get("samples_summarised")
        notes.append(
            "speed is null: no summarised sample has a finite, nonzero phase gradient"
            + (
                " (no sample lies in a wave epoch)"
                if which == "waves"
                else " (all sites in phase: synchronous activity, no travelling wave)"
            )
            + "; direction is null with it."
        )
        # the direction of a zero gradient is arbitrary (arctan2(0, 0)), not a finding
        for key in ("mean_rad", "mean_deg", "concentration"):
            summary["direction"][key] = None
    if summary["pgd"]["median"] is None:
        notes.append(
            "PGD is null: no summarised sample has a nonzero local phase gradient (all "
            "sites in phase), or none is usable (neighbours that do not span the layout)."
        )
    return notes


def _record_notes(summary: dict) -> list[str]:
    """Warnings about the band against the record's length (see band_record_notes)."""
    if summary.get("band") is None or not summary.get("duration"):
        return []
    if str(summary.get("band_role", "")).startswith("PGD and wave epochs only"):
        return []  # the speed comes from unfiltered delays: the band's limits do not bias it
    band = tuple(summary["band"])
    tr = default_transition(band, summary["fs"])
    return band_record_notes(band, tr, summary["duration"], summary["time_unit"])


#: Fewest site spacings a k-omega ridge must carry the pattern over the record.
MIN_TRAVEL_SITES = 3.0
#: Fraction of xcorr pair lags at the search edge above which the lags are search-limited.
MAX_EDGE_FRACTION = 0.1
#: Relative difference between two speed estimators above which they are said to disagree.
AGREEMENT_TOLERANCE = 0.05
#: Records (good sites x samples) up to which the phase route is cross-checked by xcorr.
CROSS_CHECK_MAX_VALUES = 2**22


def spectral_concentration(field: WaveField, good=None) -> float:
    """Fraction of the site-averaged power within a factor 1.25 of its spectral peak.

    The power counted is the periodogram's excess over its median (a broadband floor
    such as white noise, which spreads over all frequencies). Near 1 for a narrowband
    oscillation, also in white noise of its own variance; 0.3-0.5 for a single pulse or
    an impulse response, lower for broadband noise: the rule by which the automatic method chooses
    the phase route (at least 0.6) or a broadband one.
    """
    from scipy import fft as sfft

    good = field.good if good is None else good
    n = field.n_times
    step = max(1, len(good) // 64)  # at most ~64 sites read
    x = np.asarray(field.data[good[::step], : min(n, 2**16)], np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    power = np.mean(np.abs(sfft.rfft(x, axis=1)) ** 2, axis=0)[1:]
    # power above the broadband floor (the spectrum's median): an oscillation in white
    # noise of equal variance holds most of the power above the floor, though under half
    # of all of it (and event times of white noise read 10% slow where its phase is right)
    power = np.clip(power - np.median(power), 0.0, None)
    if not power.sum() > 0:
        return 0.0
    f = np.arange(1, len(power) + 1) / x.shape[1]
    f0 = f[np.argmax(power)]
    near = (f >= f0 / 1.25) & (f <= f0 * 1.25)
    return float(power[near].sum() / power.sum())


def _evenly_spaced_line(field: WaveField, good) -> bool:
    if field.n_dims != 1 or len(good) < 4:
        return False
    gaps = np.diff(np.sort(field.positions[good, 0]))
    return bool(np.allclose(gaps, gaps[0], rtol=1e-6))


def choose_method(field: WaveField, good=None, *, band_given: bool = False) -> tuple[str, str]:
    """The velocity method right for this kind of field, and why (``method="auto"``).

    - model states (time in steps) on an evenly spaced line of sites: ``"komega"`` (the
      k-omega ridge; within 0.4% for the shift-SSM and v-Wave states at 0.25-3
      sites/step on 64- and 128-step impulse responses);
    - a band given for any other field: ``"phase-gradient"`` (the band names the
      oscillation to follow, e.g. bursts in pink noise);
    - otherwise broadband or pulse-like fields on an evenly spaced line: ``"komega"``;
    - broadband fields on other layouts: ``"event-time"`` (plane fits of event times) on
      2-D layouts, ``"xcorr"`` on uneven lines;
    - narrowband oscillations (at least 60% of the power within a factor 1.25 of the
      spectral peak, :func:`spectral_concentration`): ``"phase-gradient"``.
    """
    good = field.good if good is None else good
    line = _evenly_spaced_line(field, good)
    if field.time_unit == "step" and line:
        return "komega", "model states on a line of sites (time in steps): k-omega ridge"
    if band_given:
        return "phase-gradient", "a band was given: the phase of that oscillation"
    conc = spectral_concentration(field, good)
    if conc >= 0.6:
        return "phase-gradient", f"narrowband ({conc:.0%} of the power near its peak): phase"
    if line:
        return "komega", f"broadband ({conc:.0%} of the power near its peak) on a line: k-omega"
    if field.n_dims == 1:
        return "xcorr", f"broadband ({conc:.0%} near its peak) on an uneven line: xcorr lags"
    return "event-time", f"broadband ({conc:.0%} of the power near its peak): event times"


def _cross_check_method(method: str, field: WaveField, n_good: int) -> str | None:
    """The cheap, independent second estimator of a route (None when none is cheap)."""
    if method in ("komega", "event-time"):
        return "xcorr"
    if method == "xcorr":
        return "komega" if _evenly_spaced_line(field, field.good) else "event-time"
    if n_good * field.n_times <= CROSS_CHECK_MAX_VALUES:
        return "xcorr"
    return None


def _broadband(field, method, band, band_given, options):
    """Run a broadband estimator on the field (band-passed when a band was given)."""
    fn = {
        "event-time": event_time_velocity,
        "xcorr": xcorr_velocity,
        "komega": komega_velocity,
    }[method]
    target, kw = field, {}
    if band_given:
        from wavescope.signal.spectral import bandpass

        target = field.with_data(bandpass(field.data, field.fs, band))
        if method == "xcorr":
            # Lags of a narrowband signal are ambiguous past half a period (side peaks of
            # its autocorrelation one period away); a band of an octave or more has weak
            # side peaks, and only lags past half a period of its lowest frequency alias.
            f_ref = band[0] if band[1] >= 2 * band[0] else band[1]
            if f_ref > 0:  # a low-pass band (lo = 0) sets no such limit
                lag = max(1, int(0.5 * field.fs / f_ref))
                if lag < field.n_times:  # else the default rule applies
                    kw["max_lag"] = lag
    kw.update(options or {})
    return fn(target, **kw)


def _diagnose(method, bb, wavelengths, field, nb_spacing=None) -> list[str]:
    """What a route's own diagnostics say against its result (empty: nothing)."""
    probs = []
    if method in PHASE_METHODS:
        wl = np.asarray(wavelengths, float)
        wl = wl[np.isfinite(wl)]
        if nb_spacing and wl.size and np.median(wl) < 4 * nb_spacing:
            probs.append(
                f"wavelength {np.median(wl):.3g} {field.space_unit} is under 4 site spacings"
            )
        return probs
    d = bb.details or {}
    if method == "xcorr":
        if d.get("edge_fraction", 0) > MAX_EDGE_FRACTION:
            probs.append(
                f"{100 * d['edge_fraction']:.0f}% of the pair lags sit at the search edge "
                f"(max_lag {d.get('max_lag')} samples; CLI: --max-lag)"
            )
        if bb.quality < 0.5:
            probs.append(f"the lags fit a plane poorly (R^2 {bb.quality:.2f})")
    elif method == "komega":
        if d.get("at_range_edge"):
            probs.append("the ridge lies at the edge of the speeds searched")
        if d.get("travel_sites", np.inf) < MIN_TRAVEL_SITES:
            probs.append(
                f"at the ridge's speed the pattern moves only {d['travel_sites']:.1f} site "
                f"spacings over the record (fewer than {MIN_TRAVEL_SITES:g}): no propagation "
                "is resolved"
            )
    elif method == "event-time":
        if bb.n < 2:
            probs.append(f"only {bb.n} wave(s) reached enough sites")
        if bb.quality < 0.8:
            probs.append(f"event times fit a plane poorly (median R^2 {bb.quality:.2f})")
    if not np.isfinite(bb.speed) or bb.speed <= 0:
        probs.append("no finite speed (no delay between sites)")
    return probs


def _search_limited(method: str, bb) -> bool:
    """Whether a broadband result is limited by its own search (so says nothing against
    another estimate): xcorr lags at the search edge, a k-omega ridge at the edge of the
    speeds searched, fewer than two event-time waves."""
    d = bb.details or {}
    if method == "xcorr":
        return d.get("edge_fraction", 0) > MAX_EDGE_FRACTION
    if method == "komega":
        return bool(d.get("at_range_edge"))
    return bb.n < 2


def _agreement(primary, primary_speed, second, speed, route) -> dict:
    rel = (speed / primary_speed - 1) if primary_speed and np.isfinite(primary_speed) else np.nan
    # no primary speed (no wave epoch): nothing to agree or disagree with
    agree = None if not np.isfinite(rel) else bool(abs(rel) <= AGREEMENT_TOLERANCE)
    return {
        "method": second,
        "speed": _finite_or_none(speed),
        "primary": primary,
        "primary_speed": _finite_or_none(primary_speed),
        "relative_difference": _finite_or_none(rel),
        "tolerance": AGREEMENT_TOLERANCE,
        "agree": agree,
        "valid": not route.get(second),
    }


def _phase_speed(speed, sel) -> float:
    sp = np.asarray(speed, float)[sel]
    sp = sp[np.isfinite(sp)]
    return float(np.median(sp)) if sp.size else np.nan


def _band_role(method: str, band_given: bool) -> str:
    if method in PHASE_METHODS:
        return "phase, PGD and wave epochs"
    return "delays and PGD" if band_given else "PGD and wave epochs only (delays unfiltered)"


def _fmt(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(float(x), ".3g")


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


#: auto_band reads the whole record up to this many values (good sites x samples); above
#: it, a bounded subset (see :func:`auto_band`).
AUTO_BAND_MAX_VALUES = 2**24


def auto_band(field: WaveField, *, fmin: float | None = None) -> tuple[float, float]:
    """A band around the dominant spectral peak: ``[f0 / 1.25, f0 * 1.25]``.

    ``f0`` is the peak of the site-averaged Welch spectrum above ``fmin`` (default: two
    frequency bins). Records of up to ``AUTO_BAND_MAX_VALUES`` values (good sites x
    samples) use segments of an eighth of the record (at least 64 samples) over the whole
    record. Longer records (and every memory-mapped one of that size) use a bounded subset:
    at most 32 Hann-windowed segments of ``min(n_times // 8, 2**15)`` samples, evenly
    spaced over the record, read 32 sites at a time, so the estimate costs the same memory
    however long the record is (its frequency resolution is ``fs / 2**15`` at most, 0.03 Hz
    at 1 kHz). The choice depends only on the size, never on whether ``data`` is mapped, so
    both give the same band. Pass ``band`` explicitly whenever the band of interest is known.
    """
    from scipy.signal import welch

    good = field.good
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
        p = p.mean(axis=0)
    else:
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
        p = p / (n_seg * len(good))
    fmin = 2 * f[1] if fmin is None else fmin
    sel = f >= fmin
    if not sel.any():
        raise WaveInputError("recording too short to find a dominant frequency; pass band=.")
    f0 = float(f[sel][np.argmax(p[sel])])
    hi = min(f0 * 1.25, 0.45 * field.fs)
    return (f0 / 1.25, hi)


def measure_velocity(
    field: WaveField,
    band: tuple[float, float] | None = None,
    *,
    method: str = "auto",
    generalized: bool | None = None,
    decimate: int | None = None,
    alpha: float = 0.05,
    min_duration: float | None = None,
    n_surrogates: int | str = "auto",
    weights: str = "amplitude",
    patterns: bool = True,
    edge: float | None = None,
    chunk_samples: int | None = None,
    seed=0,
    debias: bool = True,
    null: str = "lag-free",
    broadband: dict | None = None,
    progress=None,
) -> VelocityResult:
    """Measure wave speed, direction, wavelength, PGD and wave epochs of a field.

    Parameters
    ----------
    field : WaveField
        The recording or hidden-state capture. 1-D or 2-D positions (project 3-D
        montages first, e.g. ``read_mne(..., projection="plane")``).
    band : (lo, hi), optional
        Pass band in cycles per ``time_unit`` (Hz). Default: :func:`auto_band`.
    method : {"auto", "phase-gradient", "circlinear", "event-time", "xcorr", "komega"}
        ``"auto"`` (default): the route right for the field (:func:`choose_method`: the
        k-omega ridge for model states and broadband fields on a line, event times for
        broadband fields on a surface, the phase gradient for narrowband oscillations),
        cross-checked by a second, independent estimator where one is cheap
        (``summary()["cross_check"]``); when the two disagree by more than
        :data:`AGREEMENT_TOLERANCE`, or a route's own diagnostics say it is unreliable
        (a wavelength under 4 spacings, too few sites reached, lags at the search
        edge), the summary says so in its ``warnings``, and the speed reported comes
        from the route that is valid.
        ``"phase-gradient"``: per-sample plane fit of the phase map initialised by the
        mean local gradient (weighted least squares over all good sites).
        ``"circlinear"``: per-sample circular-linear plane fit by grid search
        (Zhang et al. 2018). Broadband methods read delays from the samples (see
        :mod:`wavescope.waves.broadband`), band-passed first when ``band`` is given and
        unfiltered otherwise; PGD and epochs always come from the band.
    generalized : bool or None
        Use generalized phase (Davis et al. 2020), for wideband bands. None (default):
        False, unless the band comes from the field (below) with the reader's advice.
    decimate : int, optional
        Read-out step in samples (default: keep 4 samples per cycle of the band's top
        edge; 1 = every sample). The band-limited analytic signal is exact at every
        read-out sample.
    alpha : float
        False-positive rate per sample of the wave-epoch threshold.
    min_duration : float, optional
        Shortest wave epoch, in ``time_unit`` (default: one cycle of the band centre).
    n_surrogates : int or "auto"
        Phase-randomised surrogates for the PGD threshold (0: no epochs). ``"auto"``
        pools at least ``20 / alpha`` roughly independent null samples (about
        ``duration x band width`` per surrogate): 2 for 10 minutes in an 8-12 Hz band, up to 20
        for a few seconds. The lag-free null's persistence test draws at least as many
        lag-free surrogates, more on short records (:func:`lag_free_count`; the number
        used is in the summary's ``epochs``).
    weights : {"amplitude", "uniform"}
        Site weights in the plane fit: squared amplitude (optimal under additive noise)
        or uniform.
    patterns : bool
        Classify pattern classes (2-D layouts only).
    edge : float, optional
        Time (``time_unit``) at each end excluded from the summary as filter transient
        (default: 2 / narrowest band edge width, at most 10% of the record).
    chunk_samples : int, optional
        Longest piece of record (samples) filtered at once. Default
        (:func:`default_chunk_samples`): ``2**21`` samples, at most ``CHUNK_BYTES``
        (512 MB) of float64 over the good sites (262,144 samples for 256 sites), and at
        most ``n_sites * n_times / 128`` (75,000 samples for 16 sites x 600 s), so that
        the peak memory stays near 1.5 times the input's size.
        Longer records are processed in
        overlapping chunks (overlap: 4 / narrowest transition width, aligned to the
        read-out step) so that memory stays bounded. With a memory-mapped field
        (``read_npz(path, mmap=True)``) only one chunk is read at a time and its pages are
        released after use: peak memory is a few times one chunk, whatever the record's
        length. Per-sample outputs grow with the number of read-out samples only, never
        with sites x samples (the circular-linear fit runs chunk by chunk). The broadband
        methods (event-time, xcorr, komega) read the whole record.
    seed : int
        Seed of the surrogates.
    debias : bool
        Remove the noise bias of the wavenumber magnitude: noise adds its variance to
        ``|k|^2`` on average, which lowers speeds when the phase gradient is small
        (fast waves, small arrays, low SNR). The plane fit's own residual variance is
        used: ``|k| = sqrt(max(|k_hat|^2 - var_perp, 0))`` with ``var_perp`` the
        variance of ``k_hat`` across its direction (2-D layouts).
    null : {"lag-free", "phase-randomised"}
        The no-propagation null the PGD threshold of the wave epochs comes from.
        ``"lag-free"`` (default, :func:`~wavescope.signal.surrogates.lag_free_surrogate`):
        surrogates with the zero-lag spatial correlation of the data and its spectral
        continuum under the band filter (its lines left out, :func:`_null_profile`) but no
        delays between sites, so that smooth noise, synchronous oscillations and standing
        waves stay below the threshold at the rate ``alpha``.
        ``"phase-randomised"``: independent phases per site (destroys spatial correlation:
        any smooth field passes; kept for comparison).
    broadband : dict, optional
        Options of the broadband method (:func:`~wavescope.waves.broadband.event_time_velocity`:
        ``threshold``, ``min_sites``, ``kind``, ``polarity``, ``max_gap``, ``min_r2``;
        :func:`~wavescope.waves.broadband.xcorr_velocity`: ``max_lag`` (samples),
        ``max_distance``; :func:`~wavescope.waves.broadband.komega_velocity`:
        ``speed_range``, ``pad``, ``min_power``). A given ``max_lag`` replaces the
        band-based default.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.

    Returns
    -------
    VelocityResult
    """
    check_option("method", method, ("auto",) + METHODS)
    check_option("null", null, ("lag-free", "phase-randomised"))
    requested = method
    check_option("weights", weights, ("amplitude", "uniform"))
    alpha = check_open_unit("alpha (CLI: --alpha)", alpha, " (false-positive rate)")
    if decimate is not None:
        decimate = check_int("decimate (samples)", decimate, minimum=1, cli="--decimate")
    if edge is not None:
        edge = check_nonnegative("edge", edge, unit=f" ({field.time_unit})")
    if min_duration is not None:
        min_duration = check_nonnegative("min_duration", min_duration, unit=f" ({field.time_unit})")
    if field.n_dims > 2:
        raise WaveInputError(
            "positions are 3-D; project them onto a surface first "
            "(wavescope.io.project_positions, or read_mne(..., projection='plane'))."
        )
    good = check_field(field, min_sites=field.n_dims + 1)
    band_source = "given" if band is not None else "automatic (spectral peak)"
    if band is None and field.meta.get("analysis_band") is not None:
        # a reader's documented band for this kind of recording (widefield: 0.1-5 Hz)
        band = tuple(field.meta["analysis_band"])
        band_source = str(field.meta.get("analysis_band_reason") or "the recording's own band")
        if generalized is None:
            generalized = bool(field.meta.get("analysis_generalized", False))
    generalized = bool(generalized)
    band_given = band is not None
    band = auto_band(field) if band is None else check_band(band, field.fs, field.time_unit)
    reason = "given"
    if method == "auto":
        method, reason = choose_method(field, good, band_given=band_given)
    check_band_record(band, field.duration, field.time_unit)
    transition = default_transition(band, field.fs)
    D = auto_decimation(field.fs, band, transition) if decimate is None else decimate
    _check_readout(D, band, transition, field)
    _check_band_power(field, band, good)
    if isinstance(n_surrogates, str) and n_surrogates == "auto":
        independent = max(field.duration * (band[1] - band[0]), 1.0)
        n_surrogates = int(np.clip(np.ceil(20 / alpha / independent), 2, 20))
    elif (
        isinstance(n_surrogates, (bool, np.bool_))
        or not isinstance(n_surrogates, (int, np.integer))
        or not 0 <= n_surrogates <= MAX_SURROGATES
    ):
        raise WaveInputError(
            f"n_surrogates (CLI: --n-surrogates) must be an integer in [0, {MAX_SURROGATES}] "
            f"or 'auto', got {n_surrogates!r}."
        )
    pos = field.positions[good]
    nb = find_neighbours(pos)
    op = gradient_operator(nb)
    rng = np.random.default_rng(seed)

    pieces = []
    if chunk_samples is None:
        chunk_samples = default_chunk_samples(len(good), field.n_times)
    elif not isinstance(chunk_samples, (int, np.integer)) or chunk_samples < 1:
        raise WaveInputError(f"chunk_samples must be a positive integer, got {chunk_samples!r}.")
    if edge is None:
        edge = min(
            2.0 / min(w for w in transition if w > 0) if any(transition) else 0.0,
            0.1 * field.duration,
        )
    fs_out = field.fs / D
    n_frames = int(np.clip(np.ceil(2.0 * fs_out / np.mean(band)), 8, 48))
    # a wave keeps its direction for longer than the band's coherence time; the lag-free
    # surrogates (no propagation, the data's spatial correlation) set how persistent a
    # direction gets by chance
    window = int(np.ceil(2.0 / (band[1] - band[0]) * fs_out))
    n_valid_out = max(0.0, field.n_times - 2 * edge * field.fs) / D
    n_lag_free = (
        lag_free_count(n_surrogates, -(-field.n_times // D), window, n_valid_out, alpha)
        if n_surrogates > 0 and null == "lag-free"
        else 0
    )
    for lo, hi, core_lo, core_hi in _chunks(field.n_times, chunk_samples, D, field.fs, transition):
        spec = band_spectrum(
            field.data[:, lo:hi], field.fs, band, transition=transition, decimate=D, sites=good
        )
        release_pages(field.data)
        out_lo = core_lo // D  # global read-out index of the chunk's first kept sample
        n_kept = -(-(core_hi - lo) // D) - (core_lo - lo) // D
        idx = (out_lo + np.arange(n_kept)) * D
        chunk_valid = (idx >= edge * field.fs) & (idx < field.n_times - edge * field.fs)
        pieces.append(
            _phase_measures(
                spec,
                D,
                pos,
                nb,
                op,
                weights,
                generalized,
                rng,
                n_surrogates,
                field.n_dims,
                patterns,
                (core_lo - lo) // D,
                -(-(core_hi - lo) // D),
                method == "circlinear",
                chunk_valid,
                n_frames,
                out_lo,
                n_lag_free,
                band,
                transition,
            )
        )
        if progress is not None:
            progress(core_hi, field.n_times)
    skip = ("pat", "snap")
    if n_surrogates == 0 or null != "lag-free":
        skip += ("lf_pgd", "lf_dir")
    out = {k: np.concatenate([p[k] for p in pieces], axis=-1) for k in pieces[0] if k not in skip}
    n_out = out["pgd"].shape[-1]
    index = np.arange(n_out) * D
    valid = (index >= edge * field.fs) & (index < field.n_times - edge * field.fs)
    g = out["grad"]
    k = -g
    kmag = _wavenumber(g, out["gvar"] if debias else None)
    with np.errstate(divide="ignore"):
        speed = np.abs(2 * np.pi * out["freq"]) / kmag
        wl = 2 * np.pi / kmag
    direction = propagation_direction(g)
    fit = out["fit"]

    pattern_res = None
    if patterns and field.n_dims == 2 and len(good) >= 4:
        pattern_res = _concat_patterns([p["pat"] for p in pieces])

    if method == "circlinear":
        # fitted chunk by chunk in _phase_measures (each sample's fit is independent), so
        # no (sites x samples) phase is kept
        g = out["cl_grad"]
        k = -g
        with np.errstate(divide="ignore", invalid="ignore"):  # synchronous: infinite speed
            speed = np.abs(2 * np.pi * out["freq"]) / np.linalg.norm(g, axis=0)
            wl = 2 * np.pi / np.linalg.norm(g, axis=0)
        direction = propagation_direction(g)
        fit = out["cl_rho"]

    threshold, wave, epochs = np.nan, np.zeros(n_out, bool), np.empty((0, 2), int)
    epoch_stats, windows = {}, None
    if n_surrogates > 0:
        threshold, wave, epochs, windows, epoch_stats = _wave_epochs(
            out, k, valid, band, fs_out, alpha, min_duration, window, n_lag_free, pattern_res
        )

    spacing = site_spacing(pos) if len(pos) >= 2 else None
    # the phase route's reported speed: the median of the per-epoch window estimates
    # when there are wave epochs (what the summary prints), else of all valid samples
    if windows is not None and np.isfinite(np.asarray(windows["speed"], float)).any():
        phase_summary_speed = float(np.nanmedian(np.asarray(windows["speed"], float)))
    else:
        phase_summary_speed = _phase_speed(speed, valid & (wave if wave.any() else True))
    # model states chosen for k-omega keep their delays unfiltered: an impulse response is
    # broadband, and band-passing a state that does not travel (Mamba's decaying modes)
    # rings into a spurious ridge; the band still sets PGD and the wave epochs
    filter_delays = band_given and not (requested == "auto" and field.time_unit == "step")
    bb_opts = {"band": band, "filter_delays": filter_delays, "options": broadband}
    route, check, bb = _run_routes(
        field, method, requested, len(good), wl[valid], spacing, phase_summary_speed, bb_opts
    )
    reported, bb, notes = _reported_route(field, method, route, check, bb, bb_opts)
    est_speed, est_dir, est_wl = speed, direction, wl
    if reported in BROADBAND_METHODS:
        est_speed = np.asarray(bb.speeds, float)
        est_dir = np.asarray(bb.directions, float)
        est_wl = np.full(est_speed.shape, np.nan)
        # a check that disagrees casts doubt when it is valid, or (automatic route) when
        # it searched wide enough and its lags follow no linear delay at all: Mamba's
        # decaying modes gave k-omega ridges at 0.05-0.4 sites/step whose xcorr lags fit
        # a plane with R^2 0.00-0.07. A check limited by its own search (lags at its
        # edge) casts none.
        contradicts = check is not None and check["agree"] is False
        if contradicts and not check["valid"]:
            contradicts = requested == "auto" and not check["inconclusive"]
        doubtful = bool(route[reported]) or contradicts
        if n_surrogates > 0 and not wave.any() and doubtful:
            # no organised, persistent phase anywhere, and the delay estimators do not
            # confirm each other: there is no travelling wave to give a speed to
            est_speed = np.full(est_speed.shape, np.nan)
            est_dir = np.full(est_dir.shape, np.nan)
            notes.append(
                "no travelling wave found: the phase route finds no wave epoch and the delay "
                "estimators do not confirm each other, so no speed is reported."
            )
    if check is not None:
        check = {k: v for k, v in check.items() if k != "bb"}
    choice = {"requested": requested, "chosen": method, "reason": reason, "reported": reported}
    method = reported

    snaps = [p["snap"] for p in pieces if p["snap"] is not None]
    snapshot = max(snaps, key=lambda s: s[0])[1] if snaps else None
    return VelocityResult(
        method=method,
        fs=field.fs,
        fs_out=fs_out,
        index=index,
        valid=valid,
        speed=est_speed,
        direction=est_dir,
        wavelength=est_wl,
        phase_speed=speed,
        phase_direction=direction,
        phase_wavelength=wl,
        frequency=out["freq"],
        pgd=out["pgd"],
        fit=fit,
        wavevector=k.T,
        wave=wave,
        epochs=epochs,
        threshold=float(threshold),
        alpha=alpha,
        band=band,
        space_unit=field.space_unit,
        time_unit=field.time_unit,
        n_sites=field.n_sites,
        n_good=len(good),
        n_dims=field.n_dims,
        spacing=spacing,
        extent=field.extent,
        duration=field.duration,
        patterns=pattern_res,
        broadband=bb,
        snapshot=snapshot,
        windows=windows,
        extra={
            "generalized_phase": generalized,
            "band_source": band_source,
            "weights": weights,
            "decimate": D,
            "edge": float(edge),
            "layout": nb.kind,
            "null": null,
            **epoch_stats,
            "method_choice": choice,
            "band_role": "phase, PGD and wave epochs"
            if method in PHASE_METHODS
            else (
                "delays and PGD"
                if filter_delays
                else "PGD and wave epochs only (delays unfiltered)"
            ),
            "cross_check": check,
            "route_problems": {k: v for k, v in route.items() if v},
            "route_warnings": notes,
        },
    )


def _wave_epochs(out, k, valid, band, fs_out, alpha, min_duration, window, n_lag_free, pats):
    """Wave epochs of the phase measures: PGD above its null for at least ``min_duration``
    and (lag-free null) a direction that persists; their window estimates and statistics.

    Returns ``(threshold, wave, epochs, windows, epoch_stats)``; relabels the pattern
    classes ``pats`` in place (no "synchronous" inside a wave epoch).
    """
    threshold = null_threshold(out["null_pgd"], alpha)
    min_dur = 1.0 / np.mean(band) if min_duration is None else float(min_duration)
    min_n = int(np.ceil(min_dur * fs_out))
    organised, candidates = find_epochs(out["pgd"], threshold, min_n, valid)
    wave = organised
    persistence_threshold = np.nan
    if n_lag_free:
        persistent, persistence_threshold = persistent_samples(
            out["direction_vector"], out["lf_dir"], window, alpha, valid
        )
        wave = organised & persistent
    wave, epochs = find_epochs(wave.astype(float), 0.5, min_n, valid)
    if pats is not None:
        # inside a wave epoch the phases advance across the array with a persistent
        # direction: nearly equal phases there mean a wavelength longer than the array,
        # not synchronous activity, so the classes never contradict the wave fraction
        labels = pats.labels.copy()
        labels[wave & (labels == "synchronous")] = "planar"
        pats.labels = labels
    windows = window_estimates(
        k.T, out["freq"], epochs, int(np.ceil(ESTIMATE_WINDOW / (band[1] - band[0]) * fs_out))
    )
    stats = {
        "organised_fraction": float(np.sum(organised & valid) / max(int(valid.sum()), 1)),
        "n_organised_epochs": int(len(candidates)),
        "persistence_threshold": _finite_or_none(persistence_threshold),
        "n_lag_free_surrogates": int(n_lag_free),
    }
    return threshold, wave, epochs, windows, stats


def _run_routes(field, method, requested, n_good, wavelengths, spacing, phase_speed, bb_opts):
    """The chosen route's result and diagnostics, and (``method="auto"``) its cross-check.

    Returns ``(route, check, bb)``: each method run mapped to the problems its own
    diagnostics found, the :func:`_agreement` record (None without a check) and the
    broadband result of the chosen route (None for a phase route).
    """
    band, filter_delays, options = bb_opts["band"], bb_opts["filter_delays"], bb_opts["options"]
    route, bb = {}, None
    if method in BROADBAND_METHODS:
        bb = _broadband(field, method, band, filter_delays, options)
        route[method] = _diagnose(method, bb, None, field)
    else:
        route[method] = _diagnose(method, None, wavelengths, field, nb_spacing=spacing)
    check = None
    second = _cross_check_method(method, field, n_good) if requested == "auto" else None
    if second is not None:
        try:
            # the phase route follows the band's oscillation: its check sees that band
            filtered = filter_delays or method in PHASE_METHODS
            cbb = _broadband(field, second, band, filtered and second == "xcorr", None)
            route[second] = _diagnose(second, cbb, None, field)
            primary_speed = bb.speed if bb is not None else phase_speed
            check = _agreement(method, primary_speed, second, cbb.speed, route)
            check["inconclusive"] = _search_limited(second, cbb)
            check["bb"] = cbb
        except WaveInputError as exc:
            route[second] = [f"{second} did not run: {exc}"]
    return route, check, bb


def _reported_route(field, method, route, check, bb, bb_opts):
    """The route whose speed is reported, its broadband result and the notes that say why.

    The cross-check's route is reported when the chosen route's diagnostics fail and the
    check's do not; every failed diagnostic and every disagreement becomes a note.
    """
    notes = []
    reported = method
    if route[method] and check is not None and not route[check["method"]]:
        reported = check["method"]  # the primary route says it is unreliable; the check not
        notes.append(
            f"{method} is unreliable here ({'; '.join(route[method])}); the speed reported is "
            f"{reported}'s."
        )
    elif route[method]:
        notes.append(f"{method} may be unreliable here: {'; '.join(route[method])}.")
    if check is not None and check["agree"] is False:
        rel = check["relative_difference"]
        why = route[check["method"]]
        notes.append(
            f"the two estimators disagree: {method} {_fmt(check['primary_speed'])} and "
            f"{check['method']} {_fmt(check['speed'])} {field.speed_unit} "
            + (f"({rel:+.1%}, more than {check['tolerance']:.0%})" if rel is not None else "")
            + (f"; {check['method']}: {'; '.join(why)}" if why else "")
            + "."
        )
    if reported != method:
        bb = check["bb"]
    if reported in BROADBAND_METHODS and (bb is None or bb.method != reported):
        bb = _broadband(
            field, reported, bb_opts["band"], bb_opts["filter_delays"], bb_opts["options"]
        )
    return reported, bb, notes


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


def _phase_measures(
    spec,
    D,
    pos,
    nb,
    op,
    weights,
    generalized,
    rng,
    n_surr,
    dim,
    patterns,
    keep_lo,
    keep_hi,
    circlinear,
    valid,
    n_frames,
    out_lo,
    n_lag_free,
    band,
    transition,
):
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
    W = p2.astype(phase.dtype) if weights == "amplitude" else None
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
        profile = _null_profile(spec, band, transition)
    for i in range(max(n_surr, n_lag_free)):
        if i < n_surr:
            zs, _, _ = analytic_from_spectrum(spec, D, coef=randomise_phases(spec.coef, rng))
            ps = np.angle(zs[:, keep_lo:keep_hi]).astype(phase.dtype)
            null.append(
                phase_gradient_directionality(phase_gradient(ps, pos, neighbours=nb, operator=op))
            )
        if i < n_lag_free:
            lf = lag_free_surrogate(spec.coef, rng, n_sub_bands=1, profile=profile)
            zs, _, _ = analytic_from_spectrum(spec, D, coef=lf)
            ps = np.angle(zs[:, keep_lo:keep_hi]).astype(phase.dtype)
            gl = phase_gradient(ps, pos, neighbours=nb, operator=op)
            lf_pgd.append(phase_gradient_directionality(gl))
            lf_dir.append(_directionality_vector(gl))
    out = {
        "grad": g,
        "gvar": np.moveaxis(gvar, 0, -1),  # (d, d, T): concatenated along time
        "fit": fit,
        "pgd": pgd,
        "freq": freq.astype(phase.dtype),
        "null_pgd": np.concatenate(null) if null else np.empty(0),
        "direction_vector": _directionality_vector(grad_local),
    }
    if n_lag_free:
        out["lf_pgd"] = np.stack(lf_pgd)  # (n_surr, T)
        out["lf_dir"] = np.stack(lf_dir)  # (n_surr, d, T)
    if circlinear:
        cl = circlinear_plane_fit(phase, pos)
        out["cl_grad"], out["cl_rho"] = cl.gradient, cl.rho
    out["pat"] = (
        classify_patterns(phase, grad_local, pos)
        if patterns and dim == 2 and len(pos) >= 4
        else None
    )
    out["snap"] = _snapshot(phase, grad_local, g, freq, pgd, valid, pos, fs_out, n_frames, out_lo)
    return out


#: Window of the running percentile that gives the lag-free null its spectrum, as a
#: fraction of the band's width (:func:`wavescope.signal.spectral.spectral_continuum`) ...
CONTINUUM_WIDTH = 0.25
#: ... and at least this many frequency resolutions (1 / record length) of the record, so
#: that a line's main lobe and strongest leakage fill under a fifth of the window.
CONTINUUM_CELLS = 10
#: Longest window of one speed estimate inside a wave epoch, in coherence times of the
#: band (1 / band width): long enough for noise to average out of the mean wavevector.
ESTIMATE_WINDOW = 16.0
#: Window lengths of the persistence test, in multiples of its shortest window.
PERSISTENCE_SCALES = (1, 2, 4, 8, 16)


#: Most lag-free surrogates measure_velocity draws for the persistence test.
MAX_LAG_FREE = 100


def _null_profile(spec, band, transition) -> np.ndarray:
    """Power per bin of the lag-free surrogates: the filter's gain times the continuum of
    the data's spectrum under it (its lines left out), the filter's alone where the data
    have no continuum (a noise-free oscillation)."""
    g2 = band_weights(spec.freqs, band, transition) ** 2
    inside = g2 > 0.25
    power = np.mean(np.abs(spec.coef) ** 2, axis=0)
    if inside.sum() < 3:
        return g2
    width = max(CONTINUUM_WIDTH * (band[1] - band[0]), CONTINUUM_CELLS * spec.fs / spec.n_times)
    f_in = spec.freqs[inside]
    cont = spectral_continuum(power[inside] / g2[inside], f_in, width)
    if not np.any(cont > 0):
        return g2
    return g2 * np.interp(spec.freqs, f_in, cont)


def persistence_scales(window: int, n_out: int) -> list[int]:
    """Multiples of ``window`` the persistence test uses: those no longer than half the
    record of ``n_out`` read-out samples (the shortest always)."""
    return [m for m in PERSISTENCE_SCALES if window * m <= max(n_out // 2, window)]


def lag_free_count(n_surrogates: int, n_out: int, window: int, n_valid: float, alpha: float) -> int:
    """Lag-free surrogates the persistence test needs: at least ``n_surrogates``.

    At each scale of :func:`persistent_samples` the threshold is the ``1 - alpha /
    n_scales`` quantile of the surrogates' statistic, and neighbouring windows of the
    longest scale are nearly the same sample: the surrogates must hold about
    ``n_scales / alpha`` such windows, or the quantile sits among the few largest values
    and is exceeded more often than its level (smooth noise passed in 7% of its samples
    with 5 surrogates of 20 s and in 3.8% with 40, at alpha 0.05). Short records so get
    more surrogates, up to :data:`MAX_LAG_FREE`; long records hold enough windows in
    ``n_surrogates``.
    """
    scales = persistence_scales(window, n_out)
    per_surrogate = max(n_valid / (window * max(scales)), 1e-9)
    need = int(np.ceil(len(scales) / alpha / per_surrogate))
    return int(np.clip(need, n_surrogates, max(n_surrogates, MAX_LAG_FREE)))


def persistent_samples(vectors, null_vectors, window: int, alpha: float, valid):
    """Samples whose direction persists beyond what lag-free surrogates reach, at any scale.

    :func:`direction_persistence` is computed over windows of ``window * m`` samples for
    ``m`` in :data:`PERSISTENCE_SCALES` (windows longer than half the record left out); at
    each scale the threshold is the ``1 - alpha / n_scales`` quantile of the same
    statistic on the lag-free surrogates (Bonferroni over the scales), and a sample is
    persistent when it passes at some scale. A burst of a few cycles passes at the short
    scales; a wave that lasts is found at the long ones, where a superposition of
    opposite waves (the null) has changed its dominant direction many times over. The
    false-positive rate per sample stays at most ``alpha`` on a field without
    propagation.

    Returns
    -------
    persistent : ndarray of bool (T,)
    threshold : float
        The threshold at the shortest scale (for the summary).
    """
    T = vectors.shape[-1]
    scales = persistence_scales(window, T)
    q = 1 - alpha / len(scales)
    out = np.zeros(T, bool)
    first = np.nan
    for m in scales:
        w = window * m
        r = direction_persistence(vectors, w)
        null = np.concatenate([direction_persistence(v, w)[valid] for v in null_vectors])
        if null.size == 0:  # every sample lies in the edges left out
            raise WaveInputError(
                "no sample is left for the wave-epoch null once the edges "
                "are left out; use a longer record or a smaller edge=."
            )
        thr = float(np.quantile(null, q))
        if m == scales[0]:
            first = thr
        out |= r > thr
    return out, first


def window_estimates(wavevector, frequency, epochs, window: int) -> dict:
    """Speed, direction and wavelength of each window of the wave epochs.

    Each epoch is one window, or, when longer than ``window`` read-out samples, is cut
    into consecutive windows of about that length. In
    a window the plane-fit wavevectors are averaged as vectors, ``k = mean_t k(t)``, and
    ``speed = 2 pi f / |k|`` with ``f`` the window's median frequency. Noise in the phase
    maps, white or spatially smooth, tilts each sample's wavevector at random; averaged
    as vectors the tilts cancel, whereas they add to every sample's ``|k|`` (so the median
    of per-sample speeds reads slow) -- the epoch's wave keeps its wavevector.

    Parameters
    ----------
    wavevector : ndarray (T, d)
        Per-sample wavevectors, radians per space unit.
    frequency : ndarray (T,)
        Cycles per time unit.
    epochs : ndarray (n, 2)
        ``[start, stop)`` of the wave epochs.
    window : int
        Longest window, read-out samples (:data:`ESTIMATE_WINDOW` coherence times of the
        band in :func:`measure_velocity`).

    Returns
    -------
    dict
        ``speed``, ``direction``, ``wavelength``, ``start``, ``stop`` arrays, one entry
        per window.
    """
    k = np.asarray(wavevector, np.float64)
    f = np.abs(np.asarray(frequency, np.float64))
    w = max(1, int(window))
    starts, stops = [], []
    for a, b in np.asarray(epochs, int).reshape(-1, 2):
        n = max(1, int(np.ceil((b - a) / w)))
        edges = np.linspace(a, b, n + 1).round().astype(int)
        starts += edges[:-1].tolist()
        stops += edges[1:].tolist()
    sp, di, wl = [], [], []
    for a, b in zip(starts, stops):
        kk = k[a:b]
        kk = kk[np.all(np.isfinite(kk), axis=1)]
        ff = f[a:b][np.isfinite(f[a:b])]
        if not len(kk) or not ff.size:
            sp.append(np.nan), di.append(np.nan), wl.append(np.nan)
            continue
        km = kk.mean(axis=0)
        mag = float(np.linalg.norm(km))
        with np.errstate(divide="ignore"):
            sp.append(2 * np.pi * float(np.median(ff)) / mag)
            wl.append(2 * np.pi / mag)
        di.append(
            float(np.arctan2(km[1], km[0])) if len(km) > 1 else (0.0 if km[0] >= 0 else np.pi)
        )
    return {
        "speed": np.asarray(sp, float),
        "direction": np.asarray(di, float),
        "wavelength": np.asarray(wl, float),
        "start": np.asarray(starts, int),
        "stop": np.asarray(stops, int),
    }


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


def _finite_or_none(x):
    x = float(x)
    return x if np.isfinite(x) else None


def _directionality_vector(grad_local: np.ndarray) -> np.ndarray:
    """Per sample, ``-mean_i g_i / mean_i |g_i|`` (d, T): the direction of propagation with
    the PGD as its length (0 where undefined), so disorganised samples weigh little."""
    g = np.asarray(grad_local, np.float64)
    ok = np.all(np.isfinite(g), axis=0)  # (n, T)
    g0 = np.where(ok, g, 0.0)
    cnt = np.maximum(ok.sum(axis=0), 1)
    mean_vec = g0.sum(axis=1) / cnt
    mean_mag = np.sqrt(np.einsum("dnt,dnt->nt", g0, g0)).sum(axis=0) / cnt
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(mean_mag > 0, -mean_vec / mean_mag, 0.0)
    return np.nan_to_num(v)


def direction_persistence(vectors: np.ndarray, window: int) -> np.ndarray:
    """``R(t) = |mean of v over the window centred on t|`` per read-out sample.

    ``vectors`` (d, T) are directionality vectors (the direction of propagation with the
    PGD as length, :func:`_directionality_vector`); ``window`` in samples (at least 1).
    ``R`` is high only where the field keeps one direction, with organised phase maps,
    for the whole window; the window is clipped at the record's ends.
    """
    v = np.asarray(vectors, np.float64)
    T = v.shape[-1]
    w = int(max(1, window))
    cum = np.concatenate([np.zeros(v.shape[:-1] + (1,)), np.cumsum(v, axis=-1)], axis=-1)
    t = np.arange(T)
    lo = np.clip(t - w // 2, 0, T)
    hi = np.clip(lo + w, 0, T)
    lo = np.clip(hi - w, 0, T)
    sums = cum[..., hi] - cum[..., lo]
    return np.linalg.norm(sums, axis=-2) / np.maximum(hi - lo, 1)


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
    from wavescope.waves.patterns import PatternResult

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
