"""Input checks used once at each public boundary.

Every message names the argument, what was given and what is allowed or how to fix
it, in the spirit of MNE's ``_validate_type`` / ``_check_option``.
"""

from __future__ import annotations

import difflib
import numbers
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from wavescope.core.errors import (  # noqa: F401 (re-exported: the historical import path)
    MissingDependencyError,
    WaveFileExistsError,
    WaveFileNotFoundError,
    WaveInputError,
    WaveTypeError,
    WaveWriteError,
)

# ------------------------------------------------------------------ sizes and file kinds
#: A ceiling on the bytes one allocation may take, below the memory available; None: the
#: memory available is the only bound. Tests set it to check the refusals on small files.
MEMORY_LIMIT_BYTES: int | None = None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit() -> int | None:
    """The bytes one allocation may take: the memory available, or
    :data:`MEMORY_LIMIT_BYTES` when that is set and lower (None when neither is known)."""
    avail = available_memory()
    if MEMORY_LIMIT_BYTES is None:
        return avail
    return int(MEMORY_LIMIT_BYTES) if avail is None else min(avail, int(MEMORY_LIMIT_BYTES))


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``: a byte count in the largest binary unit below it."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check_memory(what: str, nbytes: int, fix: str) -> int:
    """Refuse, before allocating, ``nbytes`` for ``what`` that do not fit :func:`memory_limit`.

    The message names the size, the limit and ``fix``; returns ``nbytes``. Called with
    sizes computed from declared shapes (a file header, a config), so that a file that
    declares a (1e9, 4096, 4096) stack ends in this error, never in the kernel's
    out-of-memory killer.
    """
    limit = memory_limit()
    if limit is not None and nbytes > limit:
        raise WaveInputError(
            f"{what} needs {format_bytes(nbytes)}, more than the {format_bytes(limit)} of "
            f"memory available (limit); {fix}"
        )
    return int(nbytes)


_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def check_regular_file(path, what: str = "input") -> None:
    """Refuse ``path`` unless it is (or links to) a regular file, before it is opened.

    ``os.stat`` never blocks, whereas opening a named pipe waits for a writer forever and
    reading a device such as ``/dev/zero`` never ends: both are refused by their kind.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise WaveFileNotFoundError(f"{path}: no such file.") from None
    except OSError as exc:
        raise WaveInputError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    target = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    raise WaveInputError(
        f"{path}{target} is {kind}, not a regular file; the {what} must be a file on disk: "
        "copy the data to a file first."
    )


def existing_file(path, what: str = "input") -> Path:
    """``path`` as a :class:`~pathlib.Path` once :func:`check_regular_file` accepts it."""
    check_regular_file(path, what)
    return Path(path)


def check_option(name: str, value, allowed: Iterable) -> None:
    """Raise if ``value`` is not one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise WaveInputError(
            f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, allowed))}."
        )


def _check_real_number(name: str, value, what: str) -> float:
    """``value`` as a float; a complex number, a bool or a string is a type error."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.iscomplexobj(value):
        raise WaveTypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__}).")
    if np.ndim(value) != 0:
        raise WaveTypeError(f"{name} must be {what} (a scalar), got shape {np.shape(value)}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise WaveTypeError(f"{name} must be {what}, got {value!r}.") from None


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float, raising if it is not a finite real number > 0.

    Complex numbers (even with a zero imaginary part), booleans and strings are refused
    (:class:`WaveTypeError`) rather than converted.
    """
    val = _check_real_number(name, value, "a positive number")
    if not np.isfinite(val) or val <= 0:
        raise WaveInputError(f"{name} must be a finite number > 0, got {value!r}.")
    return val


def check_nonnegative(name: str, value, *, unit: str = "") -> float:
    """Return ``value`` as a float, raising if it is not a finite real number >= 0."""
    val = _check_real_number(name, value, "a number >= 0")
    if not np.isfinite(val) or val < 0:
        raise WaveInputError(f"{name} must be a finite number >= 0{unit}, got {value!r}.")
    return val


def check_open_unit(name: str, value, meaning: str = "") -> float:
    """Return ``value`` as a float, raising unless ``0 < value < 1`` (NaN is refused)."""
    val = _check_real_number(name, value, "a number in (0, 1)")
    if not 0 < val < 1:  # False for NaN
        raise WaveInputError(
            f"{name}{meaning} must be in (0, 1), exclusive, got {value!r}; e.g. 0.05."
        )
    return val


def check_int(
    name: str,
    value,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    cli: str | None = None,
) -> int:
    """Return ``value`` as an int, raising unless it is a whole number in [minimum, maximum].

    A float is accepted only when it is whole (``3.0``): ``2.7`` is an error, never
    truncated. Booleans are refused. ``cli`` names the command-line option for messages.
    """
    label = f"{name} (CLI: {cli})" if cli else name
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise WaveTypeError(f"{label} must be an integer, got {value!r}.")
    if isinstance(value, (numbers.Integral, np.integer)):
        val = int(value)
    else:
        f = float(value)
        if not np.isfinite(f) or f != np.floor(f):
            raise WaveInputError(
                f"{label} must be a whole number, got {value!r}; round it yourself "
                f"(e.g. {int(np.floor(f)) if np.isfinite(f) else 1}) if that is what you mean."
            )
        val = int(f)
    if (minimum is not None and val < minimum) or (maximum is not None and val > maximum):
        lo = "" if minimum is None else f">= {minimum}"
        hi = "" if maximum is None else f"<= {maximum}"
        raise WaveInputError(
            f"{label} must be an integer {' and '.join(x for x in (lo, hi) if x)}, got {value!r}."
        )
    return val


def check_band(band, fs: float, time_unit: str = "s") -> tuple[float, float]:
    """Validate a pass band (lo, hi) in cycles per ``time_unit`` against the Nyquist rate."""
    if isinstance(band, (str, bytes)) or np.iscomplexobj(band):
        raise WaveTypeError(
            f"band must be two real numbers (lo, hi) in cycles per {time_unit}, got {band!r}."
        )
    try:
        lo, hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise WaveInputError(
            f"band must be two numbers (lo, hi) in cycles per {time_unit}, got {band!r}."
        ) from None
    nyq = fs / 2.0
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi <= lo:
        raise WaveInputError(
            f"band=({lo:g}, {hi:g}) is invalid: need 0 <= lo < hi (cycles per {time_unit})."
        )
    if hi >= nyq:
        raise WaveInputError(
            f"band upper edge {hi:g} is at or above the Nyquist frequency {nyq:g} "
            f"(fs={fs:g} per {time_unit}); lower the band or use data sampled faster."
        )
    return lo, hi


def as_float_array(name: str, value, ndim: int | None = None, dtype=None) -> np.ndarray:
    """Convert to a floating array, checking the number of dimensions."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise WaveInputError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "fiub":
        raise WaveInputError(f"{name} must be numeric, got dtype {arr.dtype}.")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise WaveInputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}.")
    return arr


#: A band edge must complete at least this many cycles in the record (error below), and
#: the low edge should complete at least ``FEW_CYCLES`` (a warning below).
MIN_CYCLES = 1.0
FEW_CYCLES = 3.0


def check_band_record(band, duration: float, time_unit: str = "s") -> tuple[float, float]:
    """Refuse a pass band that a record of ``duration`` cannot resolve.

    A record of length ``T`` resolves frequencies in steps of ``1 / T``: a band whose
    upper edge completes fewer than one cycle in the record holds nothing but the
    record's mean and trend, and a lower edge ``0 < lo < 1 / T`` cannot be told from 0.
    Both are errors (measured on them, a 1 s record in a 0.1-0.5 Hz band reported
    "R = 1.00, planar 100%"). Doubtful but legal bands get warnings from
    :func:`band_record_notes`.

    Parameters
    ----------
    band : (lo, hi)
        Pass band in cycles per ``time_unit`` (already checked by :func:`check_band`).
    duration : float
        Record length in ``time_unit``.
    """
    lo, hi = (float(b) for b in band)
    T = float(duration)
    res = 1.0 / T
    if hi * T < MIN_CYCLES:
        raise WaveInputError(
            f"band=({lo:g}, {hi:g}) per {time_unit}: its upper edge completes only "
            f"{hi * T:.3g} cycles in the {T:g} {time_unit} record; the record resolves "
            f"frequencies of {res:.3g} per {time_unit} and above. Use a band above "
            f"{res:.3g} per {time_unit} or a record longer than {MIN_CYCLES / hi:.3g} {time_unit}."
        )
    if 0 < lo and lo * T < MIN_CYCLES:
        raise WaveInputError(
            f"band=({lo:g}, {hi:g}) per {time_unit}: its lower edge completes only "
            f"{lo * T:.3g} cycles in the {T:g} {time_unit} record, too few to tell it from "
            f"0. Use lo=0 (a low-pass band), lo >= {res:.3g} per {time_unit}, or a record "
            f"longer than {MIN_CYCLES / lo:.3g} {time_unit}."
        )
    return lo, hi


def band_record_notes(band, transition, duration: float, time_unit: str = "s") -> list[str]:
    """Warnings for a band that a record of ``duration`` resolves only poorly.

    - the low edge completes fewer than ``FEW_CYCLES`` (3) cycles in the record: its
      phase and frequency rest on one or two cycles;
    - the record is shorter than the band filter's settling time ``2 / w`` (``w``: the
      narrowest raised-cosine edge, see :func:`~wavescope.signal.default_transition`):
      the edge exclusion is then limited to 10% of the record at each end, so the summary
      includes filter transients. Measured on a noise-free 10 Hz plane wave with an
      8-12 Hz band (settling time 2 s): speed bias 1-5% for records of 0.3-1 s, 0.5% at
      1.5 s, under 0.2% from 2 s on.

    Parameters
    ----------
    band : (lo, hi)
        Pass band, cycles per ``time_unit``.
    transition : (w_lo, w_hi)
        Edge widths, cycles per ``time_unit``.
    duration : float
        Record length, ``time_unit``.
    """
    lo, hi = (float(b) for b in band)
    T = float(duration)
    notes = []
    if lo > 0 and lo * T < FEW_CYCLES:
        notes.append(
            f"the band's lower edge {lo:.3g} per {time_unit} completes only {lo * T:.2g} "
            f"cycles in the {T:.3g} {time_unit} record (fewer than {FEW_CYCLES:g}): phases "
            f"and frequencies there rest on one or two cycles; use a record longer than "
            f"{FEW_CYCLES / lo:.3g} {time_unit} or a higher band."
        )
    widths = [float(w) for w in transition if w > 0]
    if widths:
        settle = 2.0 / min(widths)
        if T < settle:
            notes.append(
                f"the {T:.3g} {time_unit} record is shorter than the band filter's settling "
                f"time ({settle:.3g} {time_unit} = 2 / its {min(widths):.3g} per {time_unit} "
                "edge): only 10% of the record at each end is left out of the summary, "
                "which therefore includes filter transients (speeds biased by about 1-5% "
                f"under 1 s at 8-12 Hz); use a record longer than {settle:.3g} {time_unit} "
                "or a wider band."
            )
    return notes


def closest_names(name: str, known: Sequence[str], n: int = 3) -> list[str]:
    """Known names closest to ``name``: spelling matches (difflib), else its neighbours
    in sorted order (so that a list is never cut off before where ``name`` would be)."""
    known = [str(k) for k in known]
    close = difflib.get_close_matches(str(name), known, n=n, cutoff=0.6)
    if close:
        return close
    low = {k.lower(): k for k in known}
    if str(name).lower() in low:
        return [low[str(name).lower()]]
    ordered = sorted(known)
    i = int(np.searchsorted(ordered, str(name)))
    return ordered[max(0, i - n // 2 - 1) : i + n // 2 + 1][: n + 1]


def unknown_names_message(what: str, unknown: Iterable[str], known: Sequence[str]) -> str:
    """A message naming each unknown name with the closest known ones.

    Example: ``unknown channel(s) 'EEG 05' (closest: 'EEG 005', 'EEG 050'); the
    recording has 60 channels, 'EEG 001' ... 'EEG 060'``.
    """
    unknown = [str(u) for u in unknown]
    known = [str(k) for k in known]
    parts = [
        f"{u!r} (closest: {', '.join(map(repr, closest_names(u, known)))})" for u in unknown[:10]
    ]
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    span = f"{known[0]!r} ... {known[-1]!r}" if len(known) > 1 else ", ".join(map(repr, known))
    return (
        f"unknown {what} {', '.join(parts)}{more}; the field has {len(known)} "
        f"({span}). Check the spelling."
    )


def check_bool_mask(name: str, value, n: int) -> np.ndarray:
    """A boolean mask of shape (n,) from booleans, 0/1 numbers or "true"/"false" strings.

    ``np.asarray(["False"], bool)`` is ``[True]`` (a non-empty string): strings are read
    by their meaning instead; anything else that is not clearly true or false (site
    indices such as ``[3, 7]``, NaN, other strings) is an error rather than a guess.
    """
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise WaveInputError(
            f"{name} must be a boolean mask of shape ({n},) (one value per site), got shape "
            f"{arr.shape}; to mark sites by name use WaveField.with_bad(names)."
        )
    if arr.dtype == bool:
        return arr.copy()
    if arr.dtype.kind in "USO":
        text = np.char.strip(np.char.lower(arr.astype(str)))
        true, false = np.isin(text, ("true", "1", "yes")), np.isin(text, ("false", "0", "no", ""))
        if not np.all(true | false):
            odd = sorted(set(arr[~(true | false)].astype(str).tolist()))
            raise WaveInputError(
                f"{name} holds strings that are not true/false: {odd[:5]}; give a boolean "
                "mask, or mark sites by name with WaveField.with_bad(names)."
            )
        return true
    if arr.dtype.kind in "iuf":
        ok = np.isin(arr, (0, 1))
        if not np.all(ok):
            raise WaveInputError(
                f"{name} must be a boolean mask (True/False or 0/1 per site), got values "
                f"{np.unique(arr[~ok])[:5].tolist()}; site indices are not a mask: use "
                "np.isin(np.arange(n_sites), indices)."
            )
        return arr.astype(bool)
    raise WaveTypeError(f"{name} must be a boolean mask, got dtype {arr.dtype}.")


def check_distinct_positions(positions, names: Sequence[str], unit: str = "") -> None:
    """Raise, naming the channels, if two of the given sites share a position."""
    pos = np.asarray(positions, float)
    if len(pos) < 2:
        return
    _, inverse, counts = np.unique(pos, axis=0, return_inverse=True, return_counts=True)
    inverse = np.ravel(inverse)
    if np.all(counts == 1):
        return
    groups = []
    for g in np.flatnonzero(counts > 1)[:5]:
        members = np.flatnonzero(inverse == g)
        where = ", ".join(f"{v:g}" for v in pos[members[0]])
        groups.append(f"{' = '.join(repr(names[i]) for i in members)} at ({where}) {unit}".strip())
    more = f" (and {int(np.sum(counts > 1)) - 5} more positions)" if np.sum(counts > 1) > 5 else ""
    raise WaveInputError(
        f"channels share a position: {'; '.join(groups)}{more}. Positions must be distinct: "
        "mark all but one of each group bad, or pick one channel type."
    )


#: Good sites whose spread across their best-fit line is below this fraction of their
#: spread along it count as collinear.
COLLINEAR_RTOL = 1e-4


def is_collinear(positions) -> bool:
    """True when 2-D (or 3-D) positions lie on one line (relative width under 1e-4)."""
    pos = np.asarray(positions, float)
    if pos.ndim != 2 or pos.shape[1] < 2 or len(pos) < 2:
        return False
    sv = np.linalg.svd(pos - pos.mean(axis=0), compute_uv=False)
    return bool(sv[0] == 0 or sv[1] <= COLLINEAR_RTOL * sv[0])
