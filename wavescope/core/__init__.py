"""Layer 0: the common data type and the small helpers every layer shares."""

from wavescope.core.field import WaveField
from wavescope.core.units import SPACE_UNITS, TIME_UNITS, speed_scale, speed_unit, unit_class

__all__ = ["WaveField", "SPACE_UNITS", "TIME_UNITS", "speed_scale", "speed_unit", "unit_class"]
