"""Units of space and time, and the speed unit they make."""

from __future__ import annotations

from wavescope.core.validate import WaveInputError

#: Length units and their size in metres; ``"site"`` is the index unit of model states.
SPACE_UNITS: dict[str, float | None] = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "site": None}
#: Time units and their size in seconds; ``"step"`` is one step of a sequence model.
TIME_UNITS: dict[str, float | None] = {"s": 1.0, "ms": 1e-3, "step": None}


def check_space_unit(unit: str) -> str:
    if unit not in SPACE_UNITS:
        raise WaveInputError(
            f"unknown space unit {unit!r}; use one of {sorted(SPACE_UNITS)} "
            "(convert positions first if they are in another unit)."
        )
    return unit


def check_time_unit(unit: str) -> str:
    if unit not in TIME_UNITS:
        raise WaveInputError(f"unknown time unit {unit!r}; use one of {sorted(TIME_UNITS)}.")
    return unit


def space_scale(from_unit: str, to_unit: str) -> float:
    """Factor that converts a length in ``from_unit`` to ``to_unit``."""
    a, b = SPACE_UNITS[check_space_unit(from_unit)], SPACE_UNITS[check_space_unit(to_unit)]
    if from_unit == to_unit:
        return 1.0
    if a is None or b is None:
        raise WaveInputError(
            f"cannot convert between {from_unit!r} and {to_unit!r}: sites have no physical size."
        )
    return a / b


def speed_unit(space_unit: str, time_unit: str) -> str:
    """The unit string of a speed, e.g. ``"m/s"`` or ``"sites/step"``."""
    check_space_unit(space_unit)
    check_time_unit(time_unit)
    s = "sites" if space_unit == "site" else space_unit
    return f"{s}/{time_unit}"


def time_scale(from_unit: str, to_unit: str) -> float:
    """Factor that converts a duration in ``from_unit`` to ``to_unit``."""
    a, b = TIME_UNITS[check_time_unit(from_unit)], TIME_UNITS[check_time_unit(to_unit)]
    if from_unit == to_unit:
        return 1.0
    if a is None or b is None:
        raise WaveInputError(
            f"cannot convert between {from_unit!r} and {to_unit!r}: steps have no physical "
            "duration."
        )
    return a / b


def is_physical(space_unit: str, time_unit: str) -> bool:
    """True when both units have a physical size (metres and seconds, or multiples)."""
    return (
        SPACE_UNITS[check_space_unit(space_unit)] is not None
        and TIME_UNITS[check_time_unit(time_unit)] is not None
    )


def unit_class(space_unit: str, time_unit: str) -> tuple[str, str]:
    """Units that convert into each other share a class: ``("physical", "physical")`` for
    m and mm with s and ms; ``("site", "step")`` for model states."""
    s = "physical" if SPACE_UNITS[check_space_unit(space_unit)] is not None else space_unit
    t = "physical" if TIME_UNITS[check_time_unit(time_unit)] is not None else time_unit
    return s, t


def parse_speed_unit(unit: str) -> tuple[str, str]:
    """``"mm/s"`` -> ``("mm", "s")``; ``"sites/step"`` -> ``("site", "step")``."""
    try:
        s, t = unit.split("/")
    except (AttributeError, ValueError):
        raise WaveInputError(f"{unit!r} is not a speed unit of the form 'space/time'.") from None
    s = "site" if s == "sites" else s
    return check_space_unit(s), check_time_unit(t)


def speed_scale(from_unit: str, to_unit: str = "m/s") -> float | None:
    """Factor that converts a speed in ``from_unit`` (e.g. ``"mm/ms"``) to ``to_unit``,
    or None when either is not physical (sites/step)."""
    (s1, t1), (s2, t2) = parse_speed_unit(from_unit), parse_speed_unit(to_unit)
    if from_unit == to_unit:
        return 1.0
    if not (is_physical(s1, t1) and is_physical(s2, t2)):
        return None
    return space_scale(s1, s2) / time_scale(t1, t2)
