"""The result of :func:`~wavescope.waves.velocity.measure_velocity` and its summary.

A :class:`VelocityResult` holds, for one field,

- the method's own estimates: ``speed``, ``direction`` and ``wavelength`` are per
  read-out sample for the phase methods (``"phase-gradient"``, ``"circlinear"``) and per
  estimate for the broadband ones (per wave for ``"event-time"``, one for ``"xcorr"`` and
  ``"komega"``): they are what :meth:`VelocityResult.summary` reports;
- the per-sample phase route, always: ``phase_speed``, ``phase_direction``,
  ``phase_wavelength``, ``frequency``, ``pgd``, ``fit``, ``wavevector``, and the wave
  epochs (``wave``, ``epochs``, ``threshold``) that select samples;
- what figures need, so that nothing is recomputed to draw it: the phase map around the
  most wave-like sample (:class:`PhaseSnapshot`), the pattern classes, the spacing and
  extent of the good sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wavescope.core.units import speed_unit as _speed_unit
from wavescope.core.validate import check_option
from wavescope.waves.routes import BROADBAND_METHODS, PHASE_METHODS
from wavescope.waves.summary import RecordingSummary, summarise

__all__ = ["PHASE_METHODS", "BROADBAND_METHODS", "PhaseSnapshot", "VelocityResult"]


@dataclass
class PhaseSnapshot:
    """Phase maps of the good sites around the most wave-like read-out sample.

    Attributes
    ----------
    positions : ndarray (n_good, d)
        Positions of the good sites, ``space_unit``.
    phase : ndarray (n_good, n_frames)
        Band phase, radians, at ``times``.
    times : ndarray (n_frames,)
        Times of the frames, ``time_unit``.
    best : int
        Frame of the highest PGD (the map a single-panel figure shows).
    wavevector : ndarray (n_frames, d)
        Plane-fit wavevector ``k`` per frame, radians per ``space_unit``.
    velocity : ndarray (n_good, d, n_frames) or None
        Local phase velocity per site (direction of propagation times the local speed),
        ``space_unit / time_unit``; None on lines.
    """

    positions: np.ndarray
    phase: np.ndarray
    times: np.ndarray
    best: int
    wavevector: np.ndarray
    velocity: np.ndarray | None = None


@dataclass
class VelocityResult:
    """Wave measures of one field, and their summary.

    Per-sample arrays are sampled at ``fs_out`` (samples per time unit), at the original
    sample indices ``index``; ``valid`` marks samples away from the record's edges (filter
    transients), which alone enter the summary.

    Attributes
    ----------
    method : str
        The method whose estimates ``speed``, ``direction`` and ``wavelength`` hold.
    speed : ndarray
        The method's speeds, ``space_unit / time_unit``: per read-out sample for the phase
        methods, per estimate (wave, or one for the record) for the broadband ones.
    direction : ndarray
        Direction of propagation of each estimate, radians CCW from +x (on a line: 0
        towards increasing position, pi towards decreasing).
    wavelength : ndarray
        ``space_unit``; NaN for broadband estimates (they measure no wavelength).
    phase_speed, phase_direction, phase_wavelength : ndarray (n_out,)
        The per-sample phase route (the same arrays as above for the phase methods).
    frequency : ndarray (n_out,)
        Amplitude-weighted mean instantaneous frequency, cycles per time unit.
    pgd : ndarray (n_out,)
        Phase gradient directionality.
    fit : ndarray (n_out,)
        Plane-fit strength (weighted resultant length of the plane-fit residuals).
    wavevector : ndarray (n_out, d)
        ``k = -grad phi`` of the per-sample plane fit, radians per ``space_unit``.
    wave : ndarray of bool (n_out,)
        Inside a wave epoch.
    epochs : ndarray (n_epochs, 2)
        ``[start, stop)`` in output samples.
    threshold : float
        PGD threshold of the epochs, from the null at false-positive rate ``alpha``.
    spacing, extent : float
        Median nearest-neighbour distance and largest distance of the good sites,
        ``space_unit``.
    duration : float
        Length of the record, ``time_unit``.
    n_dims : int
        1 (a line) or 2 (a surface).
    patterns : PatternResult or None
        Pattern classes (2-D layouts).
    broadband : BroadbandVelocity or None
        The broadband route's full result, for broadband methods.
    snapshot : PhaseSnapshot or None
        The phase maps figures draw.
    windows : dict or None
        Per window of the wave epochs (:func:`~wavescope.waves.velocity.window_estimates`):
        ``speed``, ``direction``, ``wavelength`` from the window's mean wavevector, and
        ``start``/``stop`` read-out samples. The wave-epoch summary of the phase methods
        reports these (noise averages out of a mean wavevector, not out of per-sample
        speeds).
    """

    method: str
    fs: float
    fs_out: float
    index: np.ndarray
    valid: np.ndarray
    speed: np.ndarray
    direction: np.ndarray
    wavelength: np.ndarray
    phase_speed: np.ndarray
    phase_direction: np.ndarray
    phase_wavelength: np.ndarray
    frequency: np.ndarray
    pgd: np.ndarray
    fit: np.ndarray
    wavevector: np.ndarray
    wave: np.ndarray
    epochs: np.ndarray
    threshold: float
    alpha: float
    band: tuple[float, float] | None
    space_unit: str
    time_unit: str
    n_sites: int
    n_good: int
    n_dims: int
    spacing: float | None
    extent: float
    duration: float
    patterns: object = None
    broadband: object = None
    snapshot: PhaseSnapshot | None = None
    windows: dict | None = None
    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ basic views
    @property
    def times(self) -> np.ndarray:
        """Times of the per-sample values, in ``time_unit``."""
        return self.index / self.fs

    @property
    def speed_unit(self) -> str:
        return _speed_unit(self.space_unit, self.time_unit)

    @property
    def per_sample(self) -> bool:
        """True when ``speed``/``direction`` are per read-out sample (phase methods)."""
        return self.method in PHASE_METHODS

    def resolve(self, which: str = "auto") -> str:
        """``"auto"`` is ``"waves"`` when wave epochs were computed, else ``"all"``."""
        check_option("which", which, ("auto", "all", "waves"))
        if which == "auto":
            return "waves" if np.isfinite(self.threshold) else "all"
        return which

    def selection(self, which: str = "auto") -> np.ndarray:
        """Boolean mask of the read-out samples a summary of ``which`` uses."""
        which = self.resolve(which)
        return self.valid & (self.wave if which == "waves" else True)

    def estimates(self, which: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(speed, direction, wavelength)`` of the method, finite speeds only.

        Per-sample methods: over wave epochs, one estimate per window of the epochs
        (:attr:`windows`); over all samples, per sample. Broadband estimates are kept
        whole (they are not per sample).
        """
        if self.per_sample and self.resolve(which) == "waves" and self.windows is not None:
            w = self.windows
            sp, di, wl = w["speed"], w["direction"], w["wavelength"]
        elif self.per_sample:
            sel = self.selection(which)
            sp, di, wl = self.speed[sel], self.direction[sel], self.wavelength[sel]
        else:
            sp, di, wl = self.speed, self.direction, self.wavelength
        ok = np.isfinite(sp)
        return sp[ok], di[ok], wl[ok]

    def cycles_per_time(self, which: str = "auto") -> float | None:
        """Median instantaneous frequency of the selected samples (cycles per time unit)."""
        f = np.abs(self.frequency[self.selection(which)])
        f = f[np.isfinite(f)]
        return float(np.median(f)) if f.size else None

    def sites_per_cycle(self, which: str = "auto") -> np.ndarray:
        """Speeds in site spacings per oscillation period (dimensionless).

        Per sample ``speed / (spacing * frequency)`` for the phase methods (the
        wavelength in sites); ``speed / (spacing * f)`` with ``f`` the median
        instantaneous frequency of the band for the broadband ones. The one definition
        used by the property table and the figures.
        """
        if not self.spacing:
            return np.empty(0)
        if self.per_sample:
            sel = self.selection(which)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = self.speed[sel] / (self.spacing * np.abs(self.frequency[sel]))
        else:
            f = self.cycles_per_time(which)
            sp, _, _ = self.estimates(which)
            v = sp / (self.spacing * f) if f else np.full(sp.shape, np.nan)
        return v[np.isfinite(v)]

    def _selection_text(self, which: str) -> str:
        if not self.per_sample:
            n = len(self.speed)
            return (
                f"{self.method}: one estimate for the record"
                if n == 1
                else f"{self.method}: one estimate per wave ({n})"
            )
        if which == "waves":
            n = 0 if self.windows is None else len(self.windows["speed"])
            return (
                f"wave epochs (PGD above the no-propagation null, direction kept): {n} "
                "estimates, one per epoch (at most 16 coherence times), mean wavevector each"
            )
        return "all valid samples"

    # ------------------------------------------------------------------ summary
    def summarise(self, which: str = "auto") -> RecordingSummary:
        """The typed summary (:class:`~wavescope.waves.summary.RecordingSummary`): every
        per-recording property once, undefined ones None with their reason."""
        return summarise(self, which)

    def summary(self, which: str = "auto") -> dict:
        """The summary as a JSON-ready dict (the schema of ``wavescope velocity --json``):
        ``self.summarise(which).to_json()``.

        Parameters
        ----------
        which : {"auto", "all", "waves"}
            Samples the speed, direction and wavelength describe (phase methods): only
            those inside wave epochs, or all valid samples. ``"auto"`` (default): the wave
            epochs when they were computed (``n_surrogates > 0``), with the all-sample
            values under ``speed_all_samples``, ``direction_all_samples`` and
            ``wavelength_all_samples``; a record without wave epochs then has no speed
            (null, with the reason in ``undefined`` and ``warnings``). Broadband methods
            summarise their estimates (per wave, or one per record).

        Returns
        -------
        dict
            ``speed`` (median, q25, q75, unit), ``direction`` (mean_rad, mean_deg,
            concentration; on a line forward_fraction and majority instead, the angles
            null), ``wavelength`` (median, unit), ``pgd`` (median), ``wave_fraction``
            (null without surrogates), ``method``, ``n_sites``, ``fs``, and more context
            (band, units, epochs, patterns, ``undefined``, ``warnings``).
        """
        return summarise(self, which).to_json()
