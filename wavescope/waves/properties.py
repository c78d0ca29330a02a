"""The properties of one measured recording, dimensionless where possible.

:func:`recording_properties` turns a :class:`~wavescope.waves.result.VelocityResult` into
one row of the property table (names, units and meanings in
:data:`wavescope.core.properties.PROPERTIES`). Cortex is measured in metres and seconds,
a model's hidden state in sites and steps: raw speeds cannot be compared between them, so
the row carries dimensionless properties next to the raw ones. A property that is
undefined for the recording is NaN, never a number standing in for it: speeds,
wavelengths and directions of a recording summarised over wave epochs that has none;
direction angles on a line (its forward fraction is given instead); the forward fraction
on a surface.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.circular import circ_mean, resultant_length
from wavescope.core.validate import WaveInputError, check_option
from wavescope.waves.result import VelocityResult

__all__ = ["recording_properties"]


def _q(x, q) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.quantile(x, q)) if x.size else np.nan


def recording_properties(result: VelocityResult, samples: str = "auto") -> dict:
    """One row of wave properties of a measured recording.

    Parameters
    ----------
    result : VelocityResult
        From :func:`~wavescope.waves.velocity.measure_velocity`.
    samples : {"auto", "all", "waves"}
        Samples whose speeds, directions and wavelengths are summarised (per-sample
        methods): only those inside wave epochs, or all valid samples; ``"auto"``
        (default) the wave epochs when they were computed. A recording without any wave
        sample then has no speed, direction or wavelength (NaN: undefined, not
        tabulated). PGD and the wave fraction always use all valid samples.

    Returns
    -------
    dict
        ``method``, ``samples``, ``n_samples``, ``n_sites``, ``n_dims``, ``space_unit``,
        ``time_unit`` and every property of :data:`~wavescope.core.properties.PROPERTIES`
        (raw ones in the recording's units).
    """
    check_option("samples", samples, ("auto", "all", "waves"))
    if samples == "waves" and not np.isfinite(result.threshold):
        raise WaveInputError(
            "samples='waves' needs wave epochs, but this result has none computed: "
            "measure with n_surrogates > 0 (e.g. n_surrogates=10)."
        )
    samples = result.resolve(samples)
    valid = result.valid
    sel = result.selection(samples)
    pgd = result.pgd[valid]
    n_valid = int(valid.sum())
    sp, dirs, wl = result.estimates(samples)
    dirs = dirs[np.isfinite(dirs)]
    has_epochs = np.isfinite(result.threshold)
    wave_fraction = float(np.sum(result.wave & valid) / max(n_valid, 1)) if has_epochs else np.nan
    line = result.n_dims == 1
    per_cycle = result.sites_per_cycle(samples)
    extent = result.extent
    return {
        "method": result.method,
        "samples": samples,
        "n_samples": int(sel.sum()) if result.per_sample else int(sp.size),
        "n_sites": result.n_good,
        "n_dims": result.n_dims,
        "space_unit": result.space_unit,
        "time_unit": result.time_unit,
        "pgd_median": _q(pgd, 0.5),
        "pgd_q25": _q(pgd, 0.25),
        "pgd_q75": _q(pgd, 0.75),
        "pgd_mean": float(np.mean(pgd)) if pgd.size else np.nan,
        "wave_fraction": wave_fraction,
        "direction_concentration": float(resultant_length(dirs))
        if dirs.size and not line
        else np.nan,
        "direction_mean": float(circ_mean(dirs)) if dirs.size and not line else np.nan,
        "forward_fraction": float(np.mean(np.cos(dirs) > 0)) if dirs.size and line else np.nan,
        "wavelength_per_extent": _q(wl, 0.5) / extent if extent > 0 else np.nan,
        "speed_sites_per_cycle": _q(per_cycle, 0.5),
        "speed_median": _q(sp, 0.5),
        "speed_q25": _q(sp, 0.25),
        "speed_q75": _q(sp, 0.75),
        "wavelength_median": _q(wl, 0.5),
        "frequency_median": _q(result.frequency[sel], 0.5),
        "spacing": np.nan if result.spacing is None else float(result.spacing),
        "extent": float(extent),
        "duration": float(result.duration),
    }
