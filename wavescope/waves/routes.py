"""The velocity routes: which estimator measures a field, and whether a second agrees.

:func:`choose_method` picks the route for ``method="auto"``; a broadband route runs its
estimator (:mod:`wavescope.waves.broadband`) and its own diagnostics say whether its
result can be trusted; the automatic route is cross-checked by a second, independent
estimator where one is cheap, and the route whose speed is reported, with the notes that
say why, is settled here.

Each estimator of ``method=`` is an :class:`Estimator` (its answer a
:class:`RouteEstimate`: speed, direction, its own diagnostics and significance) made
known by :func:`register`; adding one to ``method=`` means writing it here and
registering it: the methods every caller lists (:data:`METHODS`) come from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.results import finite_or_none
from wavescope.core.validate import WaveInputError
from wavescope.waves.broadband import (
    BroadbandVelocity,
    event_time_velocity,
    komega_velocity,
    xcorr_velocity,
)
from wavescope.waves.coherent import CoherentVelocity
from wavescope.waves.inputs import spectrum_model
from wavescope.waves.komega_null import komega_ridge_test

__all__ = [
    "BROADBAND_METHODS",
    "ESTIMATORS",
    "METHODS",
    "PHASE_METHODS",
    "Estimator",
    "PhaseEvidence",
    "RouteDecision",
    "RouteEstimate",
    "RouteInput",
    "choose_method",
    "delays_filtered",
    "register",
    "settle_route",
    "spectral_concentration",
]


#: Fewest site spacings a k-omega ridge must carry the pattern over the record.
MIN_TRAVEL_SITES = 3.0


#: Fraction of xcorr pair lags at the search edge above which the lags are search-limited.
MAX_EDGE_FRACTION = 0.1


#: Share of the event-time variance a plane must explain (median R^2 over the waves) for
#: the event-time route to call its delays propagation, next to its F-test (which counts
#: the field's effective sites since issue 19; before, it counted every site as
#: independent and rejected in all 20 records of the bank's 1/f irregular cell). Set on the bank
#: (analyses/results/route_thresholds.md: no-wave classes, grid and irregular, 6 seeds a
#: class): at 0.2, 34 of 72 no-wave records passed (volume-conducted 50-67%,
#: synchronous 50-83%); at 0.4, 2 of 72 (no class above 1 of 6), while plane pulses at
#: 10 background SDs all pass (median R^2 0.57-0.82) and an impulse through a shift
#: register fits at 1.0. The LENS widefield slow waves (R^2 0.27) fall under it.
MIN_PLANE_R2 = 0.4


#: Share of the pair lags' variance (about zero lag) a plane must explain for the xcorr
#: route to call its lags propagation, next to its F-test (over the effective sites). Set on the
#: bank as MIN_PLANE_R2: at 0.3 none of the 72 no-wave records passes (at 0.15-0.2, 1),
#: while plane pulses at 10 background SDs all pass (median R^2 0.75-0.99).
MIN_XCORR_R2 = 0.3


#: Longest power-weighted wavelength of a k-omega ridge, in lengths of the line of sites,
#: at which the ridge still resolves a wavenumber (Mamba's decaying modes on 16 state
#: sites put their ridges at 30-40 sites; pulses and impulse responses on 64 sites at
#: 19-44).
MAX_RIDGE_WAVELENGTH = 1.0


#: Relative difference between two speed estimators above which they are said to disagree.
AGREEMENT_TOLERANCE = 0.05


#: Records (good sites x samples) up to which the phase route is cross-checked by xcorr.
CROSS_CHECK_MAX_VALUES = 2**22

#: Widest 90% interval of the coherent speed (high / low) for which a speed is printed:
#: twice, i.e. about sqrt(2) either side of the speed; a wider interval cannot rule out a
#: gross error (a factor 1.5). On the validation bank (10 x 10 grid, correlated 1/f
#: background; 10 seeds a cell) waves of 10-20 array extents at -3 dB had intervals
#: spanning factors 2-100 and read 0.3-1.6 times the truth. A factor 1.5 here withheld
#: right speeds too: 4 of 10 records of 10 extents at 3 dB on the irregular layout, all
#: within 15% of the truth with intervals spanning 1.5-2.
MAX_SPEED_INTERVAL_RATIO = 2.0

#: Widest 90% interval of the coherent direction (degrees) for which a speed is printed.
#: On the validation bank the waves read within 15% at 3 dB and 10 extents had direction
#: intervals of 16-33 degrees; at 20 extents 37-92, where one record of 10 read 35% slow
#: with a speed interval (0.50-0.81 of the truth) spanning only a factor 1.6: a wavevector
#: whose direction is that loose is not pinned down either, whatever its speed interval.
MAX_DIRECTION_INTERVAL_DEG = 35.0

#: Least coherence of the coherent pattern with its plane for wave epochs (a wave
#: fraction above :meth:`PhaseEvidence.wave_fraction_limit`) to stand as the evidence of
#: a wave where the coherent test does not reject: bursts (a wave 20% of the time) leave
#: the windows' mean delay weak against their spread (test p 0.01-0.36 at 6 dB, 5
#: extents) while their epochs and pattern are plain (coherence 0.999); a standing wave,
#: whose epochs reach a wave fraction above alpha in 3 of 10 records with the band given,
#: has a real pattern that changes sign across the array and fits a plane at 0.79-0.87.
#: Plane waves on the bank fit at 0.99 or more from 3 dB up.
MIN_EPOCH_PLANE_COHERENCE = 0.9

#: Least :func:`energy_share` of a sustained field: model states below it are transients
#: (impulse responses, 0.01-0.13), above it sustained (0.44-0.47).
TRANSIENT_SHARE = 0.25


def spectral_concentration(field: WaveField, good=None, band=None) -> float:
    """Fraction of the site-averaged power within a factor 1.25 of its spectral peak.

    The power counted is the periodogram's excess over its median (a broadband floor
    such as white noise, which spreads over all frequencies). Near 1 for a narrowband
    oscillation, also in white noise of its own variance; 0.3-0.5 for a single pulse or
    an impulse response, lower for broadband noise: the rule by which the automatic method chooses
    the phase route (at least 0.6) or a broadband one. With ``band`` (cycles per
    ``time_unit``) the sites read are band-passed first: the concentration within it.
    """
    from scipy import fft as sfft

    good = field.good if good is None else good
    n = field.n_times
    step = max(1, len(good) // 64)  # at most ~64 sites read
    x = np.asarray(field.data[good[::step], : min(n, 2**16)], np.float64)
    if band is not None:
        from wavescope.signal.spectral import bandpass

        x = bandpass(x, field.fs, band)
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


def energy_share(field: WaveField, good=None, share: float = 0.9) -> float:
    """Median over sites of the fraction of a site's samples that hold ``share`` of its
    energy (about its median), the loudest samples first.

    0.44-0.47 for a sustained oscillation or noise at every site (the bank's 2048-step
    line-of-steps cells, waves and no-wave classes alike); 0.01-0.13 for a transient such
    as an impulse response, which passes each site in a few steps even while it travels
    along the whole line (the bundled models' 64-step responses: 0.02-0.13, a v-Wave at
    0.25 sites/step included; decaying modes: 0.02-0.03). A spectral peak of a transient
    is its ringing, not an oscillation to follow: model states under
    :data:`TRANSIENT_SHARE` go to the broadband route whatever their spectrum.
    """
    good = field.good if good is None else good
    step = max(1, len(good) // 64)  # at most ~64 sites read
    x = np.asarray(field.data[good[::step], : min(field.n_times, 2**16)], np.float64)
    e = np.sort((x - np.median(x, axis=1, keepdims=True)) ** 2, axis=1)[:, ::-1]
    total = np.cumsum(e, axis=1)
    live = total[:, -1] > 0
    if not live.any():
        return 1.0
    n = np.array([np.searchsorted(t, share * t[-1]) + 1 for t in total[live]])
    return float(np.median(n / x.shape[1]))


def _evenly_spaced_line(field: WaveField, good) -> bool:
    if field.n_dims != 1 or len(good) < 4:
        return False
    gaps = np.diff(np.sort(field.positions[good, 0]))
    return bool(np.allclose(gaps, gaps[0], rtol=1e-6))


def choose_method(field: WaveField, good=None, *, band=None) -> tuple[str, str]:
    """The velocity method right for this kind of field, and why (``method="auto"``).

    - a band given (``band``, cycles per ``time_unit``), on any field (model states
      included): ``"phase-gradient"`` (the band names the oscillation to follow, e.g.
      bursts in pink noise), unless the band spans an octave or more (``hi >= 2 lo``, or
      ``lo == 0``) and the field is a broadband transient (:func:`energy_share` under
      :data:`TRANSIENT_SHARE`: 0.01 for the bank's delay-line impulse responses, 0.41 or
      more for every sustained cell of the bank; and under 60% of the band's power near
      its peak, which bursts of an oscillation exceed): then the broadband route of the
      last rule, run on the band-passed field (model states: unfiltered, see
      :func:`delays_filtered`). On the impulse responses with 0.02-0.45 cycles/step given
      the phase route printed 8/10 records at 0.5 sites/step (6 within 15%) and 0/10 at
      2; k-omega (giving way to xcorr at 2) reads 10/10 within 0.1%;
    - model states (time in steps) on an evenly spaced line of sites: ``"komega"`` (the
      k-omega ridge; within 0.4% for the shift-SSM and v-Wave states at 0.25-3
      sites/step on 64- and 128-step impulse responses), unless they oscillate in a
      narrow band (:func:`spectral_concentration` at least 0.6) or, sustained (not a
      transient: :func:`energy_share` at least :data:`TRANSIENT_SHARE`), with a peak
      above the aperiodic
      fit (next rule): then the phase. A sustained oscillation in a 1/f
      background (an SSM's modes driven by correlated input) holds little of its power
      near the peak, and k-omega's ridge then does not beat its null (10 of 10 records
      of the bank's line-of-steps cells printed no speed, and 1 in 10 a speed 100 times
      too slow);
    - an oscillatory peak that stands above the aperiodic (1/f) fit of the site-averaged
      spectrum (:func:`~wavescope.waves.inputs.spectrum_model`): ``"phase-gradient"``. A
      recording's 1/f background holds most of its power at low frequencies, so the
      share of power near the spectrum's maximum says nothing about the oscillation a
      wave rides on; the peak above the background does;
    - narrowband oscillations in a flat background (at least 60% of the power within a
      factor 1.25 of the spectral peak, :func:`spectral_concentration`):
      ``"phase-gradient"``;
    - otherwise broadband or pulse-like fields on an evenly spaced line: ``"komega"``;
      broadband fields on other layouts: ``"event-time"`` (plane fits of event times) on
      2-D layouts, ``"xcorr"`` on uneven lines.
    """
    good = field.good if good is None else good
    line = _evenly_spaced_line(field, good)
    if band is not None:
        return _given_band_route(field, good, band, line)
    conc = spectral_concentration(field, good)
    if field.time_unit == "step" and line and conc >= 0.6:
        return "phase-gradient", (
            f"model states oscillating in a narrow band ({conc:.0%} of the power near "
            "its peak): phase"
        )
    model = spectrum_model(field, good)
    peak = None if model is None else model.peak
    states_on_a_line = field.time_unit == "step" and line
    if states_on_a_line and (peak is None or energy_share(field, good) < TRANSIENT_SHARE):
        return "komega", "model states on a line of sites (time in steps): k-omega ridge"
    if peak is not None:
        return "phase-gradient", (
            f"a peak at {peak.frequency:.3g} /{field.time_unit}, {10 * peak.height:.1f} dB "
            f"above the aperiodic 1/f^{model.exponent:.2f} background: phase"
        )
    if conc >= 0.6:
        return "phase-gradient", f"narrowband ({conc:.0%} of the power near its peak): phase"
    method, words = _broadband_route(field, line)
    return method, f"broadband ({conc:.0%} of the power near its peak){words}"


def _broadband_route(field: WaveField, line: bool) -> tuple[str, str]:
    """The broadband estimator for this layout, and its words: k-omega on an evenly
    spaced line, xcorr lags on an uneven one, event times on a surface."""
    if line:
        return "komega", " on a line: k-omega"
    if field.n_dims == 1:
        return "xcorr", " on an uneven line: xcorr lags"
    return "event-time", ": event times"


def _spans_an_octave(band) -> bool:
    """Whether a band ``(lo, hi)`` (cycles per time unit) is broad: an octave or more
    (``hi >= 2 lo``), a low-pass band (``lo == 0``) included."""
    lo, hi = (float(x) for x in band)
    return lo <= 0 or hi >= 2 * lo


def _given_band_route(field: WaveField, good, band, line: bool) -> tuple[str, str]:
    """The route for a given band: its phase, unless the band is broad
    (:func:`_spans_an_octave`) and the field a broadband transient (:func:`energy_share`
    under :data:`TRANSIENT_SHARE`, and under 60% of the band's power near its peak,
    :func:`spectral_concentration`): the phase of an impulse response's ringing is no
    oscillation to follow, and its delays are the broadband route's (on the bank's
    delay-line impulse responses, 0.02-0.45 cycles/step given, the phase route printed
    8/10 at 0.5 sites/step and 0/10 at 2). Their energy shares are 0.010-0.012 and their
    concentrations in the band 0.11-0.15; every sustained cell of the breadth bank has an
    energy share of 0.41 or more, the neural-field simulation 0.35-0.40. Bursts of a
    10 Hz wave in little noise are transients too (0.22) but narrowband within the band
    (0.99): their band names the oscillation to follow."""
    lo, hi = (float(x) for x in band)
    words = f"{lo:.3g}-{hi:.3g} cycles/{field.time_unit}"
    if not _spans_an_octave(band):
        return "phase-gradient", f"a band was given ({words}): the phase of that oscillation"
    share = energy_share(field, good)
    if share >= TRANSIENT_SHARE:
        return "phase-gradient", (
            f"a band was given ({words}) on a sustained field: the phase of that oscillation"
        )
    conc = spectral_concentration(field, good, band)
    if conc >= 0.6:
        return "phase-gradient", (
            f"a band was given ({words}) on bursts of an oscillation ({conc:.0%} of the "
            "band's power near its peak): the phase of that oscillation"
        )
    method, _ = _broadband_route(field, line)
    where = (
        "within it"
        if delays_filtered(field, "auto", True)
        else "on the unfiltered states (the band sets PGD and the wave epochs)"
    )
    return method, (
        f"a broad band was given ({words}) on a broadband transient (90% of a site's energy "
        f"in {share:.0%} of its samples, {conc:.0%} of the band's power near its peak): "
        f"{method} {where}"
    )


def delays_filtered(field: WaveField, requested: str, band_given: bool) -> bool:
    """Whether the broadband estimators read their delays from the band-passed field: when
    a band is given, except for model states (time in steps) on the automatic route. An
    impulse response is broadband, and band-passing a state that does not travel (Mamba's
    decaying modes) rings into a spurious ridge; on the bank's delay-line impulse
    responses at 2 sites/step with 0.02-0.45 cycles/step given, k-omega's ridge on the
    band-passed states passed as valid and failed its test (0/10 printed), where on the
    unfiltered states it gives way to xcorr (10/10 within 0.1%). The band still sets PGD
    and the wave epochs."""
    return band_given and not (requested == "auto" and field.time_unit == "step")


# ---------------------------------------------------------------- the estimator interface
@dataclass(frozen=True)
class PhaseEvidence:
    """What the phase pass found, for the phase estimators' answers and the no-wave rule.

    Attributes
    ----------
    speed : float
        The phase route's summary speed (median of the wave epochs' window estimates, else
        of the valid samples), ``space_unit / time_unit``; NaN when none.
    direction : float
        Circular mean direction of the same estimates, radians; NaN when none.
    wavelengths : ndarray
        Per valid read-out sample, ``space_unit``.
    spacing : float or None
        Median nearest-neighbour distance of the good sites.
    wave_found : bool or None
        Whether any wave epoch passed the no-propagation null; None when no surrogates
        were drawn (no test).
    wave_fraction : float or None
        Share of the valid samples inside wave epochs; None when no surrogates were drawn.
    coherent : CoherentVelocity or None
        The coherent plane wave of the record (:mod:`wavescope.waves.coherent`), where it
        was computed: the phase route's headline where its diagnostics pass.
    null_wave_fraction : float or None
        The ``1 - alpha`` quantile of the wave fractions the lag-free surrogates reach
        under the same thresholds (None without them): how far the wave fraction of a
        field without propagation spreads on this record (:meth:`wave_fraction_limit`).
    """

    speed: float
    direction: float
    wavelengths: np.ndarray
    spacing: float | None
    wave_found: bool | None
    wave_fraction: float | None = None
    coherent: CoherentVelocity | None = None
    null_wave_fraction: float | None = None

    def wave_fraction_limit(self, alpha: float) -> float:
        """The largest wave fraction that is no evidence of a wave: ``alpha`` (the share
        of a no-propagation field's samples the null lets into wave epochs on average),
        or the ``1 - alpha`` quantile of the lag-free surrogates' own wave fractions where
        higher. On a record of few coherence times of the band the wave fraction of such
        a field is a few epochs or none, and its mean at most alpha says little of one
        record: pink 1/f noise on the bank's uneven line, read at 0.43-0.67 Hz in 30 s
        (7 coherence times), reached wave fractions of 0.12-0.26 in 9 of 30 records, and
        its surrogates' 95th percentile was 0.12-0.50."""
        null = self.null_wave_fraction
        return float(alpha if null is None or not null > alpha else null)

    def epochs_show_a_wave(self, alpha: float) -> bool | None:
        """Whether the wave fraction exceeds :meth:`wave_fraction_limit` (None: no test)."""
        if self.wave_fraction is None:
            return None
        return bool(self.wave_fraction > self.wave_fraction_limit(alpha))


@dataclass(frozen=True)
class RouteInput:
    """What an estimator reads besides the field: the band, whether delays are read from
    the band-passed field, the estimator's own options, and the phase pass's evidence."""

    band: tuple[float, float]
    filter_delays: bool
    options: dict | None = None
    phase: PhaseEvidence | None = None
    alpha: float = 0.05
    seed: int = 0  # of the surrogates a route's own test draws (k-omega)
    # the estimate is only compared with another's speed (a cross-check that cannot
    # become the reported route): xcorr skips its F-test's effective sites and its
    # bootstrap interval, k-omega its surrogate test (their results would be unread)
    compare_only: bool = False
    # the phase pass's band spectrum of the good sites (PhasePass.spectrum), or None: a
    # compare-only xcorr check band-passes the record from it (one inverse transform)
    # instead of transforming the record again; its read-out plan (pad and FFT length a
    # multiple of the read-out step) moves the check's speed by 1e-7 to 1e-4 relative
    # (1e-6 typical; measured on planar waves, neural-field runs and the bench inputs)
    spectrum: object | None = None


@dataclass
class RouteEstimate:
    """One estimator's answer.

    Attributes
    ----------
    method : str
    speed, direction : float
        Its summary speed (``space_unit / time_unit``) and direction (radians); NaN when
        none.
    problems : list of str
        What its own validity diagnostics found (empty: valid).
    search_limited : bool
        Its result is limited by its own search (lags at the search edge, a ridge at the
        edge of the speeds searched, fewer than two waves), so it says nothing against
        another estimate.
    significant : bool or None
        Its own test against no propagation at the route's alpha: wave epochs above the
        no-propagation null for the phase estimators; for the broadband estimators
        their test and the validity diagnostics that make a speed meaningless (a k-omega
        ridge that resolves no wavenumber, xcorr lags at the search edge); None where
        it has none.
    result : BroadbandVelocity or None
        A broadband estimator's full result.
    p_value : float or None
        The p-value of that test, where it has one.
    test : str
        What the test found, in words (the note given when it fails).
    """

    method: str
    speed: float
    direction: float
    problems: list[str]
    search_limited: bool
    significant: bool | None
    result: BroadbandVelocity | None = None
    p_value: float | None = None
    test: str = ""


@dataclass(frozen=True)
class Estimator:
    """A velocity estimator of ``method=``: its name, whether its estimates are per
    read-out sample of the band's phase, how it answers (:class:`RouteEstimate`) and
    which estimator cross-checks it (None: none is cheap)."""

    name: str
    per_sample: bool
    estimate: Callable[[WaveField, RouteInput], RouteEstimate]
    cross_check: Callable[[WaveField, int], str | None]


#: The estimators of ``method=``, by name, in the order :func:`register` received them.
ESTIMATORS: dict[str, Estimator] = {}


def register(estimator: Estimator) -> Estimator:
    """Make ``estimator`` a ``method=`` of measure_velocity (and of every CLI option and
    table that lists the methods)."""
    ESTIMATORS[estimator.name] = estimator
    return estimator


def _phase_estimate(name: str) -> Callable[[WaveField, RouteInput], RouteEstimate]:
    def estimate(field: WaveField, inp: RouteInput) -> RouteEstimate:
        ph = inp.phase
        wl = np.asarray(ph.wavelengths, float)
        wl = wl[np.isfinite(wl)]
        problems = []
        coh = ph.coherent if name in COHERENT_HEADLINE else None
        if name == "coherent" and coh is None:
            problems.append(
                "the coherent estimator did not run (no flanking band or too few windows)"
            )
        elif name == "coherent":
            problems += coh.problems
        if coh is not None and coh.valid:
            return RouteEstimate(name, coh.speed, coh.direction, problems, False, ph.wave_found)
        if ph.spacing and wl.size and np.median(wl) < 4 * ph.spacing:
            problems.append(
                f"wavelength {np.median(wl):.3g} {field.space_unit} is under 4 site spacings "
                "(the phase gradient is under-resolved, and a wave shorter than 2 spacings "
                "would read as this one: spatially aliased)"
            )
        return RouteEstimate(name, ph.speed, ph.direction, problems, False, ph.wave_found)

    return estimate


def _phase_cross_check(field: WaveField, n_good: int) -> str | None:
    return "xcorr" if n_good * field.n_times <= CROSS_CHECK_MAX_VALUES else None


def _band_passed(field: WaveField, inp: RouteInput) -> WaveField:
    if not inp.filter_delays:
        return field
    from wavescope.signal.spectral import band_signal, bandpass

    if inp.spectrum is None or not inp.compare_only:
        return field.with_data(bandpass(field.data, field.fs, inp.band))
    good = field.good
    if len(good) == field.n_sites:
        return field.with_data(band_signal(inp.spectrum))
    data = np.zeros(field.data.shape, inp.spectrum.coef.real.dtype)  # bad sites: unread
    data[good] = band_signal(inp.spectrum)
    return field.with_data(data)


def _broadband_estimate(run, diagnose, search_limited, verdict):
    """An estimate function from a broadband estimator's run, diagnostics, search limit
    and verdict (its own test: ``verdict(field, inp, bb, problems) -> (significant,
    p_value, words)``); every broadband estimate without a finite speed is a problem
    too."""

    def estimate(field: WaveField, inp: RouteInput) -> RouteEstimate:
        bb = run(field, inp)
        problems = diagnose(bb)
        if not np.isfinite(bb.speed) or bb.speed <= 0:
            problems.append("no finite speed (no delay between sites: synchronous activity)")
        significant, p, words = verdict(field, inp, bb, problems)
        return RouteEstimate(
            bb.method, bb.speed, bb.direction, problems, search_limited(bb), significant, bb, p,
            words,
        )  # fmt: skip

    return estimate


def _plane_verdict(floor: float):
    """The verdict of a plane fit of delays: its F-test rejects at alpha and the plane
    explains at least ``floor`` of the delays' variance (R^2). A test alone is not
    enough: with hundreds of sites the F-test rejects for a timing trend that explains a
    few percent of the event times (the real ECoG file: R^2 < 0.1, p < 0.05)."""

    def verdict(field, inp: RouteInput, bb: BroadbandVelocity, problems):
        p = (bb.details or {}).get("p_value")
        if p is None:
            return None, None, ""
        ok = bool(p < inp.alpha and bb.quality >= floor)
        words = (
            f"{bb.method}'s own test finds no plane in the delays (F-test p = {p:.2g}, "
            f"R^2 {bb.quality:.2f}; a wave needs p < {inp.alpha:g} and R^2 >= {floor:g})"
        )
        return ok, p, words

    return verdict


def _run_event_time(field: WaveField, inp: RouteInput) -> BroadbandVelocity:
    return event_time_velocity(_band_passed(field, inp), **(inp.options or {}))


def _diagnose_event_time(bb: BroadbandVelocity) -> list[str]:
    probs = []
    if bb.n < 2:
        probs.append(f"only {bb.n} wave(s) reached enough sites")
    if bb.quality < 0.8:
        probs.append(f"event times fit a plane poorly (median R^2 {bb.quality:.2f})")
    return probs


def _run_xcorr(field: WaveField, inp: RouteInput) -> BroadbandVelocity:
    kw = {}
    band = inp.band
    if inp.filter_delays:
        # Lags of a narrowband signal are ambiguous past half a period (side peaks of
        # its autocorrelation one period away); a band of an octave or more has weak
        # side peaks, and only lags past half a period of its lowest frequency alias.
        f_ref = band[0] if _spans_an_octave(band) else band[1]
        if f_ref > 0:  # a low-pass band (lo = 0) sets no such limit
            lag = max(1, int(0.5 * field.fs / f_ref))
            if lag < field.n_times:  # else the default rule applies
                kw["max_lag"] = lag
    if inp.compare_only:
        kw["check_only"] = True
    kw.update(inp.options or {})
    return xcorr_velocity(_band_passed(field, inp), **kw)


def _xcorr_verdict(field, inp: RouteInput, bb: BroadbandVelocity, problems):
    significant, p, words = _plane_verdict(MIN_XCORR_R2)(field, inp, bb, problems)
    edge = (bb.details or {}).get("edge_fraction", 0)
    if significant and edge > MAX_EDGE_FRACTION:
        # the lags sit where the search stops: the plane fits the search, not the field
        return False, p, f"xcorr's lags are limited by its search ({edge:.0%} at the edge)"
    return significant, p, words


def _diagnose_xcorr(bb: BroadbandVelocity) -> list[str]:
    probs, d = [], bb.details or {}
    if d.get("edge_fraction", 0) > MAX_EDGE_FRACTION:
        probs.append(
            f"{100 * d['edge_fraction']:.0f}% of the pair lags sit at the search edge "
            f"(max_lag {d.get('max_lag')} samples; CLI: --max-lag)"
        )
    if bb.quality < 0.5:
        probs.append(f"the lags fit a plane poorly (R^2 {bb.quality:.2f})")
    return probs


def _xcorr_cross_check(field: WaveField, n_good: int) -> str:
    return "komega" if _evenly_spaced_line(field, field.good) else "event-time"


def _run_komega(field: WaveField, inp: RouteInput) -> BroadbandVelocity:
    return komega_velocity(_band_passed(field, inp), **(inp.options or {}))


def _diagnose_komega(bb: BroadbandVelocity) -> list[str]:
    probs, d = [], bb.details or {}
    if d.get("at_range_edge"):
        probs.append("the ridge lies at the edge of the speeds searched")
    if d.get("travel_sites", np.inf) < MIN_TRAVEL_SITES:
        probs.append(
            f"at the ridge's speed the pattern moves only {d['travel_sites']:.1f} site "
            f"spacings over the record (fewer than {MIN_TRAVEL_SITES:g}): no propagation "
            "is resolved"
        )
    wl, length = d.get("ridge_wavelength"), d.get("line_length")
    if wl is not None and length is not None and not wl <= MAX_RIDGE_WAVELENGTH * length:
        probs.append(
            f"the ridge's power sits at wavelengths of {wl:.3g} {bb.unit.split('/')[0]}, "
            f"longer than the line of sites ({length:.3g}): it resolves no wavenumber"
        )
    return probs


def _komega_verdict(field, inp: RouteInput, bb: BroadbandVelocity, problems):
    """The ridge against lag-free surrogates (:func:`komega_ridge_test`), and no speed
    when the ridge itself is not resolved (its diagnostics fail): a field whose sites
    merely decay in place, or are correlated at zero lag, has a ridge somewhere too."""
    if problems:
        return False, None, f"komega's ridge is not resolved ({'; '.join(problems)})"
    if inp.compare_only:
        return None, None, ""
    test = komega_ridge_test(
        _band_passed(field, inp), speed_range=bb.details["speed_range"], seed=inp.seed
    )
    bb.details.update(ridge_concentration=test.concentration, p_value=test.p_value)
    # a Monte Carlo p-value of n surrogates is exact at p <= alpha when alpha (n + 1) is
    # whole (39 surrogates, alpha 0.05: at most one surrogate at or above the data)
    ok = bool(test.p_value <= inp.alpha)
    reach = int(np.sum(test.null >= test.concentration))
    words = (
        f"komega's ridge collects {test.concentration:.1%} of the power and {reach} of "
        f"{len(test.null)} lag-free surrogates (the same spectra and zero-lag correlation, "
        f"no delays) reach that (p = {test.p_value:.2g}; a wave needs p <= {inp.alpha:g})"
    )
    return ok, test.p_value, words


#: Phase methods whose headline is the coherent plane wave where its diagnostics pass.
COHERENT_HEADLINE = ("phase-gradient", "coherent")

for _name in ("phase-gradient", "circlinear", "coherent"):
    register(Estimator(_name, True, _phase_estimate(_name), _phase_cross_check))
register(
    Estimator(
        "event-time",
        False,
        _broadband_estimate(
            _run_event_time, _diagnose_event_time, lambda bb: bb.n < 2, _plane_verdict(MIN_PLANE_R2)
        ),
        lambda field, n_good: "xcorr",
    )
)
register(
    Estimator(
        "xcorr",
        False,
        _broadband_estimate(
            _run_xcorr,
            _diagnose_xcorr,
            lambda bb: (bb.details or {}).get("edge_fraction", 0) > MAX_EDGE_FRACTION,
            _xcorr_verdict,
        ),
        _xcorr_cross_check,
    )
)
register(
    Estimator(
        "komega",
        False,
        _broadband_estimate(
            _run_komega,
            _diagnose_komega,
            lambda bb: bool((bb.details or {}).get("at_range_edge")),
            _komega_verdict,
        ),
        lambda field, n_good: "xcorr",
    )
)

#: Methods whose estimates are per read-out sample of the band's phase.
PHASE_METHODS = tuple(n for n, e in ESTIMATORS.items() if e.per_sample)
#: Methods that read delays from the samples (per wave or one per record).
BROADBAND_METHODS = tuple(n for n, e in ESTIMATORS.items() if not e.per_sample)
#: Methods of :func:`~wavescope.waves.velocity.measure_velocity`. The first two use phase
#: in a band; the others are broadband.
METHODS = PHASE_METHODS + BROADBAND_METHODS


# ---------------------------------------------------------------- the cross-check
@dataclass
class RouteDecision:
    """The route whose speed is reported, and why.

    Attributes
    ----------
    reported : str
        The method whose estimates the result reports.
    result : BroadbandVelocity or None
        Its broadband result (None for a phase method).
    check : dict or None
        The cross-check's agreement record (JSON-ready; None without a check).
    problems : dict
        Each estimator run mapped to what its own diagnostics found.
    notes : list of str
        The warnings the summary carries about the route.
    keep_samples : bool
        With ``no_wave``, the per-sample speeds stay (only the wave epochs' estimates are
        withheld): the samples are no evidence of a wave, but their median is still what
        ``--summary-of all`` reports, flagged as not waves.
    no_wave : bool
        No travelling wave: the phase pass found no wave epoch and the delay estimators
        do not confirm each other, so no speed is reported.
    """

    reported: str
    result: BroadbandVelocity | None
    check: dict | None
    problems: dict
    notes: list[str]
    no_wave: bool = False
    keep_samples: bool = False


def _agreement(primary: RouteEstimate, second: RouteEstimate) -> dict:
    ps = primary.speed
    rel = (second.speed / ps - 1) if ps and np.isfinite(ps) else np.nan
    # no primary speed (no wave epoch): nothing to agree or disagree with
    agree = None if not np.isfinite(rel) else bool(abs(rel) <= AGREEMENT_TOLERANCE)
    return {
        "method": second.method,
        "speed": finite_or_none(second.speed),
        "primary": primary.method,
        "primary_speed": finite_or_none(ps),
        "relative_difference": finite_or_none(rel),
        "tolerance": AGREEMENT_TOLERANCE,
        "agree": agree,
        "valid": not second.problems,
        "inconclusive": second.search_limited,
    }


def _band_role(method: str, band_given: bool) -> str:
    if method in PHASE_METHODS:
        return "phase, PGD and wave epochs"
    return "delays and PGD" if band_given else "PGD and wave epochs only (delays unfiltered)"


def _fmt(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(float(x), ".3g")


def _pinning_interval(coh) -> tuple[float, float] | None:
    """The speed interval that decides whether the record pins the speed down: the
    maximum-likelihood plane's, widened to hold the pattern-alone plane's where both ran.

    The likelihood plane weighs the sites by the noise covariance the flanks predict; where
    that prediction is off for one record, its interval is narrow around a wrong speed
    (the irregular bank in 1/f noise at -3 to 3 dB, 10-20 extents: 3 of 60 records read
    32-39% slow with intervals under a factor 2, where the pattern's interval spanned
    more). A speed prints only where both estimates are pinned down.
    """
    iv, pv = coh.speed_interval, coh.pattern_interval
    if iv is None or pv is None:
        return iv
    return (min(iv[0], pv[0]), max(iv[1], pv[1]))


def _coherent_verdict(reported: RouteEstimate, ph: PhaseEvidence | None, alpha: float):
    """The coherent plane wave's own verdict, where it is the phase route's headline (its
    diagnostics pass and its propagation test ran): ``""`` when it prints a speed, the
    note that says why not otherwise; None where the wave epochs decide instead.

    Its test (:func:`~wavescope.waves.coherent.propagation_test`: the cross-spectra's
    imaginary part against a field without delays) replaces the wave fraction as the
    evidence of a wave: a long wave under noise moves the phase gradient of few samples
    above the PGD null (10 extents in white noise at 3 dB: wave fraction 0.00) while the
    whole record's cross-spectra show its delays at p < 1e-15. Wave epochs above their
    limit (:meth:`PhaseEvidence.wave_fraction_limit`) still count where the coherent
    pattern is a plane (:data:`MIN_EPOCH_PLANE_COHERENCE`: bursts). The speed is then
    printed only where its interval spans at most :data:`MAX_SPEED_INTERVAL_RATIO` and its
    direction's at most :data:`MAX_DIRECTION_INTERVAL_DEG`.
    """
    coh = ph.coherent if ph is not None and reported.method in COHERENT_HEADLINE else None
    if coh is None or not coh.valid or not np.isfinite(coh.propagation_p):
        return None
    epochs = bool(ph.epochs_show_a_wave(alpha))
    if coh.propagation_p > alpha and not (
        epochs and coh.plane_coherence >= MIN_EPOCH_PLANE_COHERENCE
    ):
        return (
            "no travelling wave found: the coherent test finds no delays between sites (the "
            f"cross-spectra's imaginary part, p = {coh.propagation_p:.2g} > {alpha:g}; a field "
            "without propagation has real cross-spectra)"
            + (
                f", and the pattern of the wave epochs fits a plane poorly (coherence "
                f"{coh.plane_coherence:.2f} < {MIN_EPOCH_PLANE_COHERENCE:g}: a standing wave?)"
                if epochs
                else ""
            )
            + ", so no speed is reported. A longer record or a band around the oscillation "
            "(CLI: --band LO HI) may find it."
        )
    iv = _pinning_interval(coh)
    ratio = iv[1] / iv[0] if iv is not None and iv[0] > 0 else np.inf
    if not ratio <= MAX_SPEED_INTERVAL_RATIO:
        span = "no interval" if iv is None else f"{iv[0]:.3g}-{iv[1]:.3g}, a factor {ratio:.2g}"
        if coh.pattern_interval is not None and iv is not None:
            span += ", the likelihood plane's and the pattern's together"
        return (
            "no speed is reported: a wave travels (coherent test p = "
            f"{coh.propagation_p:.2g}) but the record does not pin its speed down (90% "
            f"interval {span}, wider than a factor {MAX_SPEED_INTERVAL_RATIO:g}: a speed "
            "off by half again is as consistent with it). A longer record or a higher SNR "
            "narrows it; --summary-of all shows the samples' speed."
        )
    dv = coh.direction_interval
    width = np.degrees(dv[1] - dv[0]) if dv is not None else np.inf
    if not width <= MAX_DIRECTION_INTERVAL_DEG:
        return (
            "no speed is reported: a wave travels (coherent test p = "
            f"{coh.propagation_p:.2g}) but the record does not pin its direction down (90% "
            f"interval {width:.0f} degrees wide, more than {MAX_DIRECTION_INTERVAL_DEG:g}), "
            "so its speed is not pinned down either. A longer record or a higher SNR "
            "narrows it; --summary-of all shows the samples' speed."
        )
    return ""


def settle_route(
    field: WaveField, method: str, requested: str, n_good: int, inp: RouteInput
) -> RouteDecision:
    """Run the chosen estimator and (``requested="auto"``) its cross-check; decide which
    speed is reported.

    The cross-check's estimate is reported when the chosen route's diagnostics fail and
    the check's do not; every failed diagnostic and every disagreement becomes a note. A
    phase route reports no headline speed when its own diagnostics fail (a wavelength under
    4 spacings: under-resolved, and indistinguishable from a spatially aliased wave) or
    when it finds no wave: with a valid coherent headline, its own test and intervals
    decide (:func:`_coherent_verdict`), else when its wave epochs cover no more of the
    samples than a field without propagation reaches (alpha, or on a short record the
    surrogates' own spread: :meth:`PhaseEvidence.wave_fraction_limit`); a cross-check alone does
    not veto it (on the neural-field simulation a "valid" xcorr over bursts from several
    sources read 1.29 m/s against the phase route's 0.309 and a truth of 0.3). A broadband
    route reports no speed when its own test fails (event times and xcorr lags: a plane's
    F-test and R^2 floor; k-omega: its ridge against lag-free surrogates, and a ridge that
    resolves a wavenumber; xcorr: lags clear of the search edge), or when the
    phase pass found no wave epoch and the route is doubtful: its own diagnostics fail,
    or a check disagrees that is valid or (automatic route) searched wide enough (Mamba's
    decaying modes gave k-omega ridges at 0.05-0.4 sites/step whose xcorr lags fit a
    plane with R^2 0.00-0.07); a check limited by its own search casts no doubt.
    """
    primary = ESTIMATORS[method].estimate(field, inp)
    problems = {method: primary.problems}
    second, check = None, None
    name = ESTIMATORS[method].cross_check(field, n_good) if requested == "auto" else None
    if name is not None:
        # the phase route follows the band's oscillation: its check sees that band
        filtered = (inp.filter_delays or method in PHASE_METHODS) and name == "xcorr"
        # the check is reported only where the primary's diagnostics fail (below); else
        # its speed and diagnostics are all that is read, and its own test may be skipped
        # (xcorr's effective sites and interval: 0.06 of 0.25 s at 64 sites x 60 s)
        compare_only = not primary.problems
        spectrum = inp.spectrum if compare_only and name == "xcorr" else None
        check_inp = RouteInput(inp.band, filtered, compare_only=compare_only, spectrum=spectrum)
        try:
            second = ESTIMATORS[name].estimate(field, check_inp)
            problems[name] = second.problems
            check = _agreement(primary, second)
        except WaveInputError as exc:
            problems[name] = [f"{name} did not run: {exc}"]
    notes, reported = [], primary
    if primary.problems and second is not None and not second.problems:
        reported = second  # the primary route says it is unreliable; the check not
        notes.append(
            f"{method} is unreliable here ({'; '.join(primary.problems)}); the speed "
            f"reported is {second.method}'s."
        )
    elif primary.problems:
        notes.append(f"{method} may be unreliable here: {'; '.join(primary.problems)}.")
    if check is not None and check["agree"] is False:
        rel = check["relative_difference"]
        notes.append(
            f"the two estimators disagree: {method} {_fmt(check['primary_speed'])} and "
            f"{second.method} {_fmt(check['speed'])} {field.speed_unit} "
            + (f"({rel:+.1%}, more than {check['tolerance']:.0%})" if rel is not None else "")
            + (f"; {second.method}: {'; '.join(second.problems)}" if second.problems else "")
            + "."
        )
    no_wave = keep_samples = False
    ph = inp.phase
    coherent = _coherent_verdict(reported, ph, inp.alpha)
    if coherent is not None:
        no_wave = keep_samples = coherent != ""
        if no_wave:
            notes.append(coherent)
    elif (
        reported.method in PHASE_METHODS
        and ph is not None
        and ph.epochs_show_a_wave(inp.alpha) is False
    ):
        # the null lets up to alpha of the samples of a field without propagation into
        # wave epochs on average, and on a short record its surrogates show how far one
        # record's share spreads: a record with no more than that is no evidence of a wave
        no_wave = keep_samples = True
        notes.append(
            f"no travelling wave found: wave epochs cover {ph.wave_fraction:.1%} of the "
            f"samples, no more than the {ph.wave_fraction_limit(inp.alpha):.0%} a field "
            "without propagation reaches under the null (alpha, or its surrogates' "
            f"{1 - inp.alpha:.0%} quantile where higher), so no wave-epoch speed is "
            "reported (the median over all samples "
            "stays in speed_all_samples, as --summary-of all). A longer record, a band around "
            "the oscillation (CLI: --band LO HI) or a larger alpha (--alpha) may find it."
        )
    elif reported.method in PHASE_METHODS and reported.problems:
        # under 4 spacings the phase gradient is under-resolved, and a wave shorter than 2
        # spacings reads as a longer one travelling the other way: no sample tells them
        # apart, so the headline speed is withheld (its samples stay in speed_all_samples)
        no_wave = keep_samples = True
        notes.append(
            "no speed is reported: the phase route's own diagnostics fail (above). A denser "
            "array, a lower band (CLI: --band LO HI) or --method xcorr (delays, which do not "
            "alias the same way) may resolve it; --summary-of all shows the samples' speed."
        )
    elif reported.method in BROADBAND_METHODS and reported.significant is False:
        no_wave = True
        notes.append(
            f"no travelling wave found: {reported.test}, so no speed is reported. If the "
            "field oscillates, give its band (CLI: --band LO HI) to follow the phase; for "
            "pulses, lower the event threshold (--event-threshold) or try another route "
            "(--method)."
        )
    elif reported.method in BROADBAND_METHODS:
        # a primary route that said it is unreliable (and gave way to its check) casts no
        # doubt on the check it gave way to: a 2 sites/step impulse on 32 sites leaves
        # k-omega no resolved wavenumber (0.027 sites/step) while xcorr reads 2.000
        contradicts = check is not None and check["agree"] is False and reported is primary
        if contradicts and not check["valid"]:
            contradicts = requested == "auto" and not check["inconclusive"]
        # a route whose own test rejects no propagation is not made doubtful by its other
        # diagnostics (one impulse on a 4-site shift register is one wave, R^2 = 1)
        doubtful = (bool(reported.problems) and reported.significant is not True) or contradicts
        no_wave = inp.phase is not None and inp.phase.wave_found is False and doubtful
        if no_wave:
            notes.append(
                "no travelling wave found: the phase route finds no wave epoch and the delay "
                "estimators do not confirm each other, so no speed is reported."
            )
    return RouteDecision(
        reported.method, reported.result, check, problems, notes, no_wave, keep_samples
    )
