"""The vocabulary of per-recording wave properties: names, units, kinds and meanings.

One table shared by the layer that computes the properties
(:func:`wavescope.waves.properties.recording_properties`), the layer that compares them
(:mod:`wavescope.stats.compare`) and the report that describes them, so that a property
means the same thing everywhere.

``kind`` is ``"dimensionless"`` (comparable across cortex and models), ``"circular"``
(an angle, compared with circular statistics) or ``"raw"`` (in the recording's units,
compared only among groups that share a unit). ``dims`` names the layouts a property is
defined on: directions on a surface are angles, on a line a forward fraction, and the
two are never compared with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROPERTIES", "Property", "DIMENSIONLESS", "RAW", "CIRCULAR"]


@dataclass(frozen=True)
class Property:
    """One per-recording property.

    Attributes
    ----------
    name : str
    unit : str
        ``"1"``, ``"rad"``, ``"sites/cycle"``, or for raw properties the kind of unit:
        ``"speed"``, ``"space"``, ``"frequency"``, ``"time"`` (the recording's own).
    kind : {"dimensionless", "circular", "raw"}
    dims : tuple of int
        Layout dimensionalities on which it is defined (1: a line, 2: a surface).
    needs_waves : bool
        Undefined for a recording without wave epochs (tabulated as missing there).
    text : str
        What it means, for reports.
    """

    name: str
    unit: str
    kind: str
    dims: tuple[int, ...]
    needs_waves: bool
    text: str


_P = [
    Property(
        "pgd_median",
        "1",
        "dimensionless",
        (1, 2),
        False,
        "median phase gradient directionality (PGD: how well one plane wave explains "
        "the phase map; 1 = perfectly planar, near 0 = no common direction)",
    ),
    Property("pgd_q25", "1", "dimensionless", (1, 2), False, "lower quartile of the PGD"),
    Property("pgd_q75", "1", "dimensionless", (1, 2), False, "upper quartile of the PGD"),
    Property("pgd_mean", "1", "dimensionless", (1, 2), False, "mean PGD"),
    Property(
        "wave_fraction",
        "1",
        "dimensionless",
        (1, 2),
        False,
        "fraction of the valid samples inside wave epochs (PGD above the threshold of "
        "the no-propagation null)",
    ),
    Property(
        "direction_concentration",
        "1",
        "dimensionless",
        (2,),
        True,
        "resultant length of the directions of propagation (1 = always the same "
        "direction, 0 = uniform)",
    ),
    Property(
        "direction_mean",
        "rad",
        "circular",
        (2,),
        True,
        "circular mean direction of propagation, radians counter-clockwise from +x",
    ),
    Property(
        "forward_fraction",
        "1",
        "dimensionless",
        (1,),
        True,
        "fraction of the estimates travelling towards increasing position (on a line "
        "only forward and backward exist)",
    ),
    Property(
        "wavelength_per_extent",
        "1",
        "dimensionless",
        (1, 2),
        True,
        "median wavelength divided by the array extent (largest distance between good sites)",
    ),
    Property(
        "speed_sites_per_cycle",
        "sites/cycle",
        "dimensionless",
        (1, 2),
        True,
        "distance a wave crest travels in one oscillation period, in site spacings "
        "(speed / (spacing x frequency), the frequency being the instantaneous "
        "frequency of the analysis band)",
    ),
    Property("speed_median", "speed", "raw", (1, 2), True, "median speed (raw unit)"),
    Property("speed_q25", "speed", "raw", (1, 2), True, "lower quartile of the speed"),
    Property("speed_q75", "speed", "raw", (1, 2), True, "upper quartile of the speed"),
    Property("wavelength_median", "space", "raw", (1, 2), True, "median wavelength (raw unit)"),
    Property(
        "frequency_median",
        "frequency",
        "raw",
        (1, 2),
        False,
        "median instantaneous frequency of the band (raw unit)",
    ),
    Property(
        "spacing",
        "space",
        "raw",
        (1, 2),
        False,
        "median distance from a good site to its nearest good neighbour",
    ),
    Property("extent", "space", "raw", (1, 2), False, "largest distance between good sites"),
    Property("duration", "time", "raw", (1, 2), False, "length of the record"),
]

#: Every property by name, in table order.
PROPERTIES: dict[str, Property] = {p.name: p for p in _P}
#: Dimensionless properties (comparable across cortex and models) and their units.
DIMENSIONLESS: dict[str, str] = {p.name: p.unit for p in _P if p.kind != "raw"}
#: Raw properties and the kind of unit they carry.
RAW: dict[str, str] = {p.name: p.unit for p in _P if p.kind == "raw"}
#: Properties that are angles.
CIRCULAR: tuple[str, ...] = tuple(p.name for p in _P if p.kind == "circular")
