"""Length units as files write them ("um", "micron", "meters", "\u00b5m", ...) to metres."""

from __future__ import annotations

from wavescope.core.validate import WaveInputError

__all__ = ["LENGTH_UNITS", "metres_per"]

#: Spellings of length units found in file metadata, and their size in metres.
LENGTH_UNITS: dict[str, float] = {
    "m": 1.0,
    "meter": 1.0,
    "meters": 1.0,
    "metre": 1.0,
    "metres": 1.0,
    "cm": 1e-2,
    "centimeter": 1e-2,
    "centimeters": 1e-2,
    "mm": 1e-3,
    "millimeter": 1e-3,
    "millimeters": 1e-3,
    "millimetre": 1e-3,
    "millimetres": 1e-3,
    "um": 1e-6,
    "\u00b5m": 1e-6,  # micro sign
    "\u03bcm": 1e-6,  # Greek mu
    "micron": 1e-6,
    "microns": 1e-6,
    "micrometer": 1e-6,
    "micrometers": 1e-6,
    "micrometre": 1e-6,
    "micrometres": 1e-6,
    "nm": 1e-9,
    "nanometer": 1e-9,
    "nanometers": 1e-9,
}


def metres_per(unit: str, where: str) -> float:
    """Size of one ``unit`` in metres; ``where`` names the metadata field for the error."""
    key = str(unit).strip()
    key = key if key in LENGTH_UNITS else key.lower()
    if key.startswith("\\u00b5"):  # ImageJ writes the micro sign escaped
        key = "\u00b5" + key[6:]
    if key not in LENGTH_UNITS:
        raise WaveInputError(
            f"{where}: unknown length unit {unit!r}; expected one of m, cm, mm, um (micron), "
            "nm. Pass the size in metres explicitly instead."
        )
    return LENGTH_UNITS[key]
