"""Layer 2: band-pass, analytic signal, generalized phase, instantaneous frequency, the
aperiodic fit of a spectrum, surrogate spectra."""

from wavescope.core.lazy import lazy_exports

# each name imports its module on first use (wavescope.core.lazy says why)
_EXPORTS = {
    "BandSpectrum": "spectral",
    "analytic_from_spectrum": "spectral",
    "analytic_signal": "spectral",
    "auto_decimation": "spectral",
    "band_power_fraction": "spectral",
    "band_spectrum": "spectral",
    "band_weights": "spectral",
    "bandpass": "spectral",
    "band_signal": "spectral",
    "default_transition": "spectral",
    "generalized_phase": "phase",
    "instantaneous_frequency": "phase",
    "LagFreeSurrogates": "surrogates",
    "lag_free_surrogate": "surrogates",
    "randomise_coef_phases": "surrogates",
    "SpectralPeak": "aperiodic",
    "SpectrumModel": "aperiodic",
    "fit_spectrum": "aperiodic",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
