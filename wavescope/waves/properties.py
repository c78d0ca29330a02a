"""The properties of one measured recording, dimensionless where possible.

:func:`recording_properties` turns a :class:`~wavescope.waves.result.VelocityResult` into
one row of the property table (names, units and meanings in
:data:`wavescope.core.properties.PROPERTIES`): the row of its typed summary
(:meth:`~wavescope.waves.summary.RecordingSummary.to_row`), NaN for undefined numbers.
Cortex is measured in metres and seconds,
a model's hidden state in sites and steps: raw speeds cannot be compared between them, so
the row carries dimensionless properties next to the raw ones. A property that is
undefined for the recording is NaN, never a number standing in for it: speeds,
wavelengths and directions of a recording summarised over wave epochs that has none;
direction angles on a line (its forward fraction is given instead); the forward fraction
on a surface.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import WaveInputError, check_option
from wavescope.waves.result import VelocityResult
from wavescope.waves.summary import summarise

__all__ = ["recording_properties"]


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
    row = summarise(result, samples).to_row()
    # a pandas table's null is NaN: undefined numbers become NaN there (the reasons stay
    # in the row's "undefined" column)
    return {k: np.nan if v is None and k not in _TEXT else v for k, v in row.items()}


#: Columns of the row that hold text, left None when missing.
_TEXT = ("input", "method", "samples", "space_unit", "time_unit", "speed_unit", "wavelength_unit")
