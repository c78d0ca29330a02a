"""Layer 4: wave measures built from the signal and space layers.

Start with :func:`measure_velocity` (the whole pipeline); the pieces are public too.
"""

from wavescope.waves.broadband import (
    BroadbandVelocity,
    detect_events,
    event_time_velocity,
    komega_spectrum,
    komega_velocity,
    xcorr_velocity,
)
from wavescope.waves.circlinear import CircLinearFit, circlinear_plane_fit, circular_correlation
from wavescope.waves.epochs import find_epochs, null_threshold
from wavescope.waves.measures import (
    local_speed,
    phase_gradient_directionality,
    phase_speed,
    propagation_direction,
    wavelength,
)
from wavescope.waves.memory import MemoryCurve, memory_curve, memory_curve_field
from wavescope.waves.patterns import PATTERNS, PatternResult, classify_patterns
from wavescope.waves.planar import fit_phase_plane
from wavescope.waves.precision import noise_bandwidth, plane_wave_precision
from wavescope.waves.velocity import METHODS, VelocityResult, auto_band, measure_velocity

__all__ = [
    "BroadbandVelocity",
    "detect_events",
    "event_time_velocity",
    "komega_spectrum",
    "komega_velocity",
    "xcorr_velocity",
    "CircLinearFit",
    "circlinear_plane_fit",
    "circular_correlation",
    "find_epochs",
    "null_threshold",
    "MemoryCurve",
    "memory_curve",
    "memory_curve_field",
    "local_speed",
    "phase_gradient_directionality",
    "phase_speed",
    "propagation_direction",
    "wavelength",
    "PATTERNS",
    "PatternResult",
    "classify_patterns",
    "fit_phase_plane",
    "noise_bandwidth",
    "plane_wave_precision",
    "METHODS",
    "VelocityResult",
    "auto_band",
    "measure_velocity",
]
