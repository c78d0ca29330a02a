"""Layer 4: wave measures built from the signal and space layers."""

from wavescope.waves.broadband import (
    BroadbandVelocity,
    detect_events,
    event_time_velocity,
    komega_spectrum,
    komega_velocity,
    xcorr_velocity,
)

__all__ = [
    "BroadbandVelocity",
    "detect_events",
    "event_time_velocity",
    "komega_spectrum",
    "komega_velocity",
    "xcorr_velocity",
]
