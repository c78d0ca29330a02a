"""The typed summary of one measured recording: every per-recording property, once.

:func:`summarise` turns a :class:`~wavescope.waves.result.VelocityResult` into a
:class:`RecordingSummary`; the text output, ``wavescope velocity --json``
(:meth:`RecordingSummary.to_json`), the batch table and the property table of a
comparison (:meth:`RecordingSummary.to_row`) all read it, so that a property has one
definition and one value wherever it is shown.

A property that is undefined for the recording is None (NaN in a pandas table), never a
number standing in for it, and :attr:`RecordingSummary.undefined` says why: the wave
fraction without surrogates (no epochs were sought), directions as angles on a line
(the forward fraction is given instead: a line never gets a circular mean), the forward
fraction on a surface, and speeds, directions and wavelengths of a selection that holds
no finite estimate (no wave epoch, synchronous activity, or no travelling wave found).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wavescope.core.circular import circ_mean, resultant_length
from wavescope.core.results import Result, finite_or_none, jsonable
from wavescope.waves.notes import _warnings_for, not_waves

__all__ = ["AllSamples", "RecordingSummary", "summarise"]

#: Level of the speed's interval (90%: the validation bank checks that it covers the truth
#: in 85-95% of records where the estimator is unbiased).
INTERVAL_LEVEL = 0.9
INTERVAL_METHOD = "percentile bootstrap of the median over the speed's estimates"
COHERENT_INTERVAL_METHOD = (
    "expanded percentile bootstrap (Student's t for the number of windows) over windows of "
    "the coherent plane wave's cross-spectral matrices"
)
COHERENT_SELECTION = (
    "a wave found (its delays between sites: the coherent test of the cross-spectra); "
    "speed: the coherent plane wave of all valid samples (their cross-spectral matrix "
    "whitened by the background's spatial covariance); quartiles: the wave epochs' {n} "
    "window estimates (PGD above the no-propagation null, direction kept)"
)
#: Fewest estimates (windows, waves, blocks) behind a speed for an interval.
MIN_INTERVAL_ESTIMATES = 3
#: Contiguous blocks a per-sample summary is resampled in.
INTERVAL_BLOCKS = 10

#: Why a property is undefined, by cause (the texts of :attr:`RecordingSummary.undefined`).
NO_EPOCHS = "no wave epochs were sought (n_surrogates=0): measure with n_surrogates > 0"
ON_A_LINE = "directions on a line are forward or backward: see forward_fraction"
ON_A_SURFACE = "defined on a line only: see direction_mean and direction_concentration"
NO_WAVELENGTH = "broadband methods measure delays, not a wavelength"
NO_WAVE = (
    "no travelling wave found: no wave epoch, and the delay estimators do not confirm each other"
)
NO_WAVE_SAMPLE = "no sample lies in a wave epoch"
NO_SPEED = (
    "no summarised estimate has a finite, nonzero speed (all sites in phase: synchronous "
    "activity, or no delay between sites)"
)
PER_CYCLE = "needs a finite site spacing and a finite, nonzero frequency in the selection"
NO_PGD = (
    "no summarised sample has a nonzero local phase gradient (all sites in phase), or "
    "none is usable (neighbours that do not span the layout)"
)


@dataclass
class AllSamples(Result):
    """Speed, direction and wavelength of all valid samples, next to a wave-epoch summary
    (phase methods): the same definitions as :class:`RecordingSummary`'s."""

    speed_median: float | None
    speed_q25: float | None
    speed_q75: float | None
    speed_n: int
    direction_mean: float | None
    direction_concentration: float | None
    forward_fraction: float | None
    majority: str | None
    wavelength_median: float | None


@dataclass
class RecordingSummary(Result):
    """Every per-recording property of a measured recording (see :func:`summarise`).

    Units: speeds ``speed_unit`` (``space_unit / time_unit``), wavelengths, spacing and
    extent ``space_unit``, frequencies cycles per ``time_unit``, directions radians
    counter-clockwise from +x, fractions and PGD dimensionless. ``which`` names the
    samples speeds, directions and wavelengths describe (``"waves"`` or ``"all"``);
    ``samples_summarised`` is ``"estimates"`` for a broadband method (per wave, or one
    per record). ``n_samples`` counts the read-out samples of the selection (the
    estimates of a broadband method); ``speed_n`` the estimates behind the speed.
    PGD, its quartiles and the wave fraction always use all valid samples.
    """

    method: str
    which: str
    samples_summarised: str
    n_samples: int
    n_sites: int
    n_good_sites: int
    n_dims: int
    space_unit: str
    time_unit: str
    speed_unit: str
    fs: float
    fs_out: float
    band: tuple[float, float] | None
    duration: float
    spacing: float | None
    extent: float
    speed_median: float | None
    speed_q25: float | None
    speed_q75: float | None
    speed_n: int
    speed_selection: str
    direction_mean: float | None
    direction_concentration: float | None
    forward_fraction: float | None
    majority: str | None
    wavelength_median: float | None
    wavelength_q25: float | None
    wavelength_q75: float | None
    pgd_median: float | None
    pgd_q25: float | None
    pgd_q75: float | None
    pgd_mean: float | None
    pgd_threshold: float | None
    alpha: float
    wave_fraction: float | None
    n_epochs: int
    frequency_median: float | None
    fit_median: float | None
    speed_sites_per_cycle: float | None
    wavelength_per_extent: float | None
    #: the speed's interval at :data:`INTERVAL_LEVEL` (see :func:`speed_interval`)
    speed_low: float | None = None
    speed_high: float | None = None
    interval_method: str = INTERVAL_METHOD
    all_samples: AllSamples | None = None
    patterns: dict | None = None
    context: dict = field(default_factory=dict)
    undefined: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    input: str | None = None

    @property
    def direction_deg(self) -> float | None:
        """``direction_mean`` in degrees."""
        return None if self.direction_mean is None else float(np.degrees(self.direction_mean))

    # ------------------------------------------------------------------ outputs
    def to_json(self) -> dict:
        """The summary as a JSON-ready dict: the schema of ``wavescope velocity --json``.

        ``speed`` (median, q25, q75, unit, n, selection), ``direction`` (mean_rad,
        mean_deg, concentration; on a line also forward_fraction and majority),
        ``wavelength``, ``pgd``, ``wave_fraction``, ``n_epochs``, context (band, units,
        epochs, patterns, the route's choice and cross-check), ``undefined`` (each null
        property with its reason) and ``warnings``.
        """
        out = self._json_body()
        out["undefined"] = dict(self.undefined)
        out["warnings"] = list(self.warnings)
        if self.input is not None:
            out["input"] = self.input
        return out

    def to_row(self) -> dict:
        """One flat row (the property table's and the batch table's columns), None where
        undefined; ``undefined`` joins the reasons as ``"name: reason; ..."``."""
        band = self.band or (None, None)
        return {
            "input": self.input,
            "method": self.method,
            "samples": self.which,
            "n_samples": self.n_samples,
            "n_sites": self.n_good_sites,
            "n_good_sites": self.n_good_sites,
            "n_dims": self.n_dims,
            "space_unit": self.space_unit,
            "time_unit": self.time_unit,
            "pgd_median": self.pgd_median,
            "pgd_q25": self.pgd_q25,
            "pgd_q75": self.pgd_q75,
            "pgd_mean": self.pgd_mean,
            "wave_fraction": self.wave_fraction,
            "n_epochs": self.n_epochs,
            "direction_concentration": self.direction_concentration,
            "direction_mean": self.direction_mean,
            "direction_deg": self.direction_deg,
            "forward_fraction": self.forward_fraction,
            "wavelength_per_extent": self.wavelength_per_extent,
            "speed_sites_per_cycle": self.speed_sites_per_cycle,
            "speed_median": self.speed_median,
            "speed_q25": self.speed_q25,
            "speed_q75": self.speed_q75,
            "speed_low": self.speed_low,
            "speed_high": self.speed_high,
            "speed_unit": self.speed_unit,
            "wavelength_median": self.wavelength_median,
            "wavelength_unit": self.space_unit,
            "frequency_median": self.frequency_median,
            "band_lo": band[0],
            "band_hi": band[1],
            "spacing": self.spacing,
            "extent": self.extent,
            "duration": self.duration,
            "undefined": "; ".join(f"{k}: {v}" for k, v in self.undefined.items()),
        }

    def _json_body(self) -> dict:
        out = {
            "method": self.method,
            "speed": {
                "median": self.speed_median,
                "q25": self.speed_q25,
                "q75": self.speed_q75,
                "unit": self.speed_unit,
                "n": self.speed_n,
                "selection": self.speed_selection,
                "interval": {
                    "low": self.speed_low,
                    "high": self.speed_high,
                    "level": INTERVAL_LEVEL,
                    "method": self.interval_method,
                },
            },
            "direction": _direction_json(
                self.n_dims,
                self.direction_mean,
                self.direction_concentration,
                self.forward_fraction,
                self.majority,
            ),
            "wavelength": {
                "median": self.wavelength_median,
                "q25": self.wavelength_q25,
                "q75": self.wavelength_q75,
                "unit": self.space_unit,
            },
            "pgd": {
                "median": self.pgd_median,
                "threshold": self.pgd_threshold,
                "alpha": self.alpha,
            },
            "wave_fraction": self.wave_fraction,
            "n_epochs": self.n_epochs,
            "frequency": {"median": self.frequency_median, "unit": f"1/{self.time_unit}"},
            "fit": {"median": self.fit_median},
            "n_sites": self.n_sites,
            "n_good_sites": self.n_good_sites,
            "n_dims": self.n_dims,
            "spacing": self.spacing,
            "fs": self.fs,
            "fs_out": self.fs_out,
            "band": None if self.band is None else [float(b) for b in self.band],
            "space_unit": self.space_unit,
            "time_unit": self.time_unit,
            "duration": self.duration,
            "samples_summarised": self.samples_summarised,
            "speed_sites_per_cycle": self.speed_sites_per_cycle,
            "wavelength_per_extent": self.wavelength_per_extent,
        }
        a = self.all_samples
        if a is not None:
            out["speed_all_samples"] = {
                "median": a.speed_median,
                "q25": a.speed_q25,
                "q75": a.speed_q75,
                "unit": self.speed_unit,
                "n": a.speed_n,
            }
            out["direction_all_samples"] = _direction_json(
                self.n_dims,
                a.direction_mean,
                a.direction_concentration,
                a.forward_fraction,
                a.majority,
            )
            out["wavelength_all_samples"] = {"median": a.wavelength_median, "unit": self.space_unit}
        if self.patterns is not None:
            out["patterns"] = dict(self.patterns)
        out.update(self.context)
        return jsonable(out)


def _direction_json(n_dims, mean, concentration, forward, majority) -> dict:
    mean_deg = None if mean is None else float(np.degrees(mean))
    d = {"mean_rad": mean, "mean_deg": mean_deg, "concentration": concentration}
    if n_dims == 1:
        return {"forward_fraction": forward, "majority": majority, **d}
    return d


def _q(x, q) -> float | None:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.quantile(x, q)) if x.size else None


def _directions(dirs: np.ndarray, n_dims: int) -> tuple:
    """``(mean, concentration, forward_fraction, majority)``: a circular mean and its
    resultant length on a surface; on a line the fraction of estimates travelling towards
    increasing position and the majority's name (never a circular mean)."""
    dirs = np.asarray(dirs, float)
    dirs = dirs[np.isfinite(dirs)]
    if not dirs.size:
        return None, None, None, None
    if n_dims == 1:
        frac = float(np.mean(np.cos(dirs) > 0))
        return None, None, frac, "forward" if frac >= 0.5 else "backward"
    mean, conc = float(circ_mean(dirs)), float(resultant_length(dirs))
    return (mean if np.isfinite(mean) else None), (conc if np.isfinite(conc) else None), None, None


def _no_speed_reason(result, which: str) -> str:
    notes = result.extra.get("route_warnings") or []
    if any("no travelling wave found" in n for n in notes):
        return NO_WAVE
    if result.per_sample and which == "waves":
        return NO_WAVE_SAMPLE
    return NO_SPEED


def summarise(result, which: str = "auto") -> RecordingSummary:
    """The typed summary of a :class:`~wavescope.waves.result.VelocityResult`.

    Parameters
    ----------
    result : VelocityResult
    which : {"auto", "all", "waves"}
        Samples the speed, direction and wavelength describe (phase methods); ``"auto"``:
        the wave epochs when they were computed (``n_surrogates > 0``), with the
        all-sample values in :attr:`RecordingSummary.all_samples`. Broadband methods
        summarise their estimates (per wave, or one per record).
    """
    which = result.resolve(which)
    sel = result.selection(which)
    valid = result.valid
    sp, dirs, wl = result.estimates(which)
    pgd = result.pgd[valid]
    has_epochs = bool(np.isfinite(result.threshold))
    n_valid = int(valid.sum())
    mean, conc, fwd, major = _directions(dirs, result.n_dims)
    extent = result.extent
    wl_med = _q(wl, 0.5)
    all_samples = None
    if result.per_sample and which == "waves":
        sp_a, dir_a, wl_a = result.estimates("all")
        am, ac, af, amaj = _directions(dir_a, result.n_dims)
        all_samples = AllSamples(
            _q(sp_a, 0.5), _q(sp_a, 0.25), _q(sp_a, 0.75), int(sp_a.size), am, ac, af, amaj,
            _q(wl_a, 0.5),
        )  # fmt: skip
    s = RecordingSummary(
        method=result.method,
        which=which,
        samples_summarised=which if result.per_sample else "estimates",
        n_samples=int(sel.sum()) if result.per_sample else int(sp.size),
        n_sites=result.n_sites,
        n_good_sites=result.n_good,
        n_dims=result.n_dims,
        space_unit=result.space_unit,
        time_unit=result.time_unit,
        speed_unit=result.speed_unit,
        fs=result.fs,
        fs_out=result.fs_out,
        band=None if result.band is None else tuple(float(b) for b in result.band),
        duration=float(result.duration),
        spacing=result.spacing,
        extent=float(extent),
        speed_median=_q(sp, 0.5),
        speed_q25=_q(sp, 0.25),
        speed_q75=_q(sp, 0.75),
        speed_n=int(sp.size),
        speed_selection=result._selection_text(which),
        direction_mean=mean,
        direction_concentration=conc,
        forward_fraction=fwd,
        majority=major,
        wavelength_median=wl_med,
        wavelength_q25=_q(wl, 0.25),
        wavelength_q75=_q(wl, 0.75),
        pgd_median=_q(pgd, 0.5),
        pgd_q25=_q(pgd, 0.25),
        pgd_q75=_q(pgd, 0.75),
        pgd_mean=finite_or_none(np.mean(pgd)) if pgd.size else None,
        pgd_threshold=finite_or_none(result.threshold),
        alpha=result.alpha,
        wave_fraction=float(np.sum(result.wave & valid) / max(n_valid, 1)) if has_epochs else None,
        n_epochs=int(len(result.epochs)),
        frequency_median=_q(result.frequency[sel], 0.5),
        fit_median=_q(result.fit[valid], 0.5),
        speed_sites_per_cycle=_q(result.sites_per_cycle(which), 0.5),
        wavelength_per_extent=wl_med / extent if wl_med is not None and extent > 0 else None,
        all_samples=all_samples,
        patterns=None if result.patterns is None else result.patterns.fractions(valid),
        context=dict(result.extra),
    )
    s.speed_low, s.speed_high = speed_interval(sp, per_sample=result.per_sample and which == "all")
    _broadband_interval(s, result)
    _coherent_headline(s, result, which)
    why = not_waves(s._json_body())
    if why:  # said next to the speed too, wherever its selection is shown
        s.speed_selection += f"; NOT WAVES: {'; '.join(why)}"
    s.undefined = _reasons(s, result, which, has_epochs)
    s.warnings = _warnings_for(s._json_body(), result.spacing)
    return s


def _broadband_interval(s: RecordingSummary, result) -> None:
    """The interval of a one-estimate broadband route (k-omega: over blocks of the ridge's
    frequency bins; xcorr: over sites), which carries its own, where it prints a speed;
    its direction interval goes to ``context["direction_interval"]``."""
    bb = result.broadband
    d = getattr(bb, "details", None) or {}
    iv = d.get("speed_interval")
    if s.speed_median is None or iv is None or result.per_sample:
        return
    s.speed_low, s.speed_high = float(iv[0]), float(iv[1])
    s.interval_method = d.get("interval_method", INTERVAL_METHOD)
    dv = d.get("direction_interval")
    if dv is not None:
        s.context["direction_interval"] = {
            "low_rad": float(dv[0]), "high_rad": float(dv[1]), "level": INTERVAL_LEVEL,
            **({"support": d["direction_support"]} if "direction_support" in d else {}),
        }  # fmt: skip


def _coherent_headline(s: RecordingSummary, result, which: str) -> None:
    """Make the coherent plane wave (:mod:`wavescope.waves.coherent`) the headline speed,
    direction, wavelength and interval of a wave-epoch summary (any summary of
    ``method="coherent"``) that prints a speed, where it was computed and its diagnostics
    pass (the window estimates or samples keep the quartiles)."""
    coh = result.extra.get("coherent")
    headline = which == "waves" or result.method == "coherent"
    if not headline or not coh or not coh.get("valid"):
        return
    # of the wave epochs: printed where the route found a wave (a record without wave
    # epochs too: the coherent test is the evidence; a result without that record follows
    # its epochs); of all samples (method="coherent"): where they have a speed
    printed = s.speed_median is not None
    if not (coh.get("reported", printed) if which == "waves" else printed):
        return
    s.speed_median = coh["speed"]
    iv = coh.get("speed_interval")
    s.speed_low, s.speed_high = (iv[0], iv[1]) if iv else (None, None)
    s.interval_method = COHERENT_INTERVAL_METHOD
    s.speed_selection = COHERENT_SELECTION.format(n=s.speed_n)
    if not s.speed_n:  # the coherent test found the wave; no sample passed the PGD null
        s.speed_selection = s.speed_selection.split("; quartiles")[0] + "; no wave epoch"
    s.wavelength_median = coh["wavelength"]
    if s.extent > 0:
        s.wavelength_per_extent = coh["wavelength"] / s.extent
    if s.n_dims > 1:  # on a line the forward fraction of the windows stays
        s.direction_mean = coh["direction"]
    if s.spacing and coh.get("frequency"):
        s.speed_sites_per_cycle = coh["speed"] / (s.spacing * coh["frequency"])


def speed_interval(
    speeds, *, per_sample: bool = False, n_boot: int = 2000, seed: int = 0
) -> tuple[float | None, float | None]:
    """A percentile bootstrap interval of the median speed, at :data:`INTERVAL_LEVEL`.

    The estimates resampled are the units the summary's speed is the median of: the wave
    epochs' windows (one mean wavevector each), the waves of a broadband route, or, for a
    summary of all samples, :data:`INTERVAL_BLOCKS` contiguous blocks of the per-sample
    speeds (neighbouring samples share their noise, so resampling them one by one would
    give an interval far too narrow). Seeded, so a result prints the same interval each
    time. ``(None, None)`` with fewer than :data:`MIN_INTERVAL_ESTIMATES` estimates.
    """
    x = np.asarray(speeds, float)
    x = x[np.isfinite(x)]
    if x.size < MIN_INTERVAL_ESTIMATES:
        return None, None
    rng = np.random.default_rng(seed)
    if per_sample:
        blocks = np.array_split(x, min(INTERVAL_BLOCKS, x.size))
        picks = rng.integers(0, len(blocks), (n_boot, len(blocks)))
        boot = _block_medians(blocks, picks)
    else:
        boot = np.median(x[rng.integers(0, x.size, (n_boot, x.size))], axis=1)
    a = (1 - INTERVAL_LEVEL) / 2
    lo, hi = np.quantile(boot, [a, 1 - a])
    return float(lo), float(hi)


def _block_medians(blocks: list, picks: np.ndarray) -> np.ndarray:
    """``np.median`` of the concatenated blocks of each row of ``picks``, the same values
    without a concatenation and a partition per draw (those cost 2000 x the samples).

    A draw's median is found among the samples sorted once: the number of a draw's
    samples at or below sorted position ``i`` is ``sum_b count_b * below[b, i]``, monotone
    in ``i``, so a bisection per draw finds the sample of each middle rank."""
    sizes = np.array([len(b) for b in blocks])
    x = np.concatenate(blocks)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    below = np.zeros((len(blocks), x.size), dtype=np.int32)
    below[np.repeat(np.arange(len(blocks)), sizes)[order], np.arange(x.size)] = 1
    np.cumsum(below, axis=1, out=below)
    rows = np.arange(len(picks))
    counts = np.zeros((len(picks), len(blocks)), dtype=np.int64)
    np.add.at(counts, (np.repeat(rows, picks.shape[1]), picks.ravel()), 1)
    total = counts @ sizes

    def kth(k):  # the sample of 0-based rank k of every draw
        lo, hi = np.zeros(len(picks), dtype=np.int64), np.full(len(picks), x.size - 1)
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            right = np.einsum("rb,br->r", counts, below[:, mid]) <= k
            lo, hi = np.where(right, mid + 1, lo), np.where(right, hi, mid)
        return xs[lo]

    a, b = kth((total - 1) // 2), kth(total // 2)
    return np.where(total % 2 == 1, a, (a + b) / 2)


def _reasons(s: RecordingSummary, result, which: str, has_epochs: bool) -> dict:
    """Each undefined (None) property of ``s`` with the reason it is undefined."""
    why = {}
    if not has_epochs:
        why["wave_fraction"] = why["pgd_threshold"] = NO_EPOCHS
    no_speed = _no_speed_reason(result, which) if s.speed_median is None else None
    if s.speed_low is None:
        why["speed_low"] = why["speed_high"] = no_speed or (
            f"fewer than {MIN_INTERVAL_ESTIMATES} estimates behind the speed: a bootstrap "
            "interval needs more windows, waves or samples"
        )
    for name in ("speed_median", "speed_q25", "speed_q75", "speed_sites_per_cycle"):
        if no_speed and getattr(s, name) is None:
            why[name] = no_speed
    angles = ("direction_mean", "direction_concentration")
    for name in angles if s.n_dims == 1 else ("forward_fraction",):
        why[name] = ON_A_LINE if s.n_dims == 1 else ON_A_SURFACE
    for name in ("forward_fraction",) if s.n_dims == 1 else angles:
        if getattr(s, name) is None:
            why[name] = no_speed or NO_SPEED
    for name in ("wavelength_median", "wavelength_q25", "wavelength_q75", "wavelength_per_extent"):
        if getattr(s, name) is None:
            why[name] = NO_WAVELENGTH if not result.per_sample else (no_speed or NO_SPEED)
    for name in ("pgd_median", "pgd_q25", "pgd_q75", "pgd_mean"):
        if getattr(s, name) is None:
            why[name] = NO_PGD
    if s.spacing is None:
        why["spacing"] = "fewer than two good sites"
    if s.speed_sites_per_cycle is None and "speed_sites_per_cycle" not in why:
        why["speed_sites_per_cycle"] = PER_CYCLE
    for name in ("frequency_median", "fit_median"):
        if getattr(s, name) is None:
            why[name] = "no finite value among the summarised samples"
    return why
