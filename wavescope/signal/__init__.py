"""Layer 2: band-pass, analytic signal, generalized phase, instantaneous frequency."""

from wavescope.signal.spectral import (
    BandSpectrum,
    analytic_from_spectrum,
    analytic_signal,
    auto_decimation,
    band_power_fraction,
    band_spectrum,
    band_weights,
    bandpass,
    default_transition,
)

__all__ = [
    "BandSpectrum",
    "analytic_from_spectrum",
    "analytic_signal",
    "auto_decimation",
    "band_power_fraction",
    "band_spectrum",
    "band_weights",
    "bandpass",
    "default_transition",
]

from wavescope.signal.phase import generalized_phase, instantaneous_frequency  # noqa: E402

__all__ += ["generalized_phase", "instantaneous_frequency"]

from wavescope.signal.surrogates import (  # noqa: E402
    LagFreeSurrogates,
    lag_free_surrogate,
    randomise_phases,
)

__all__ += ["LagFreeSurrogates", "lag_free_surrogate", "randomise_phases"]

from wavescope.signal.widefield import bin_pixels, delta_f_over_f, preprocess_widefield  # noqa: E402

__all__ += ["bin_pixels", "delta_f_over_f", "preprocess_widefield"]
