"""Layer 4: wave measures built from the signal and space layers.

Start with :func:`measure_velocity` (the whole pipeline); the pieces are public too.
"""

from wavescope.core.lazy import lazy_exports

# each name imports its module on first use (wavescope.core.lazy says why)
_EXPORTS = {
    "BroadbandVelocity": "broadband",
    "detect_events": "broadband",
    "event_time_velocity": "broadband",
    "komega_spectrum": "broadband",
    "komega_velocity": "broadband",
    "xcorr_velocity": "broadband",
    "CircLinearFit": "circlinear",
    "circlinear_plane_fit": "circlinear",
    "circular_correlation": "circlinear",
    "find_epochs": "epochs",
    "null_threshold": "epochs",
    "local_speed": "measures",
    "phase_gradient_directionality": "measures",
    "phase_speed": "measures",
    "propagation_direction": "measures",
    "wavelength": "measures",
    "MemoryCurve": "memory",
    "memory_curve": "memory",
    "memory_curve_field": "memory",
    "PATTERNS": "patterns",
    "PatternResult": "patterns",
    "classify_patterns": "patterns",
    "fit_phase_plane": "planar",
    "noise_bandwidth": "precision",
    "plane_wave_precision": "precision",
    "METHODS": "velocity",
    "VelocityResult": "velocity",
    "auto_band": "velocity",
    "measure_velocity": "velocity",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

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
