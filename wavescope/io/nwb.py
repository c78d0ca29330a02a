"""NWB files (pynwb, extra ``[nwb]``): electrophysiology and imaging series to a WaveField.

Electrical series (``ElectricalSeries``, e.g. Utah-array or ECoG LFP): ``data`` is
(time, channels); samples are scaled to volts with the series' ``conversion``,
``channel_conversion`` and ``offset``. Positions come from the electrodes table rows the
series references: the brain coordinates ``x, y, z`` or, when those are absent, the
within-group coordinates ``rel_x, rel_y, rel_z``. The NWB schema shipped with pynwb (core
2.11.0, ``nwb.ecephys.yaml``, ``ElectrodesTable``) says of both "Units should be
specified in microns", so they are read as micrometres unless ``position_unit`` says
otherwise. Bad channels: a boolean column ``bad`` (or ``is_bad``, ``bad_channel``,
``invalid``, ``is_invalid``; ``good``/``is_good``/``valid`` read inverted) plus ``bad=``.
The ``group``/``group_name`` and ``location`` columns are kept in ``meta`` and ``group=``
restricts the field to one electrode group.

Imaging series (``OnePhotonSeries``, ``TwoPhotonSeries``, ``ImageSeries``): ``data`` is
(frames, width = x, height = y) per the schema, read ``chunk_frames`` frames at a time
through :func:`wavescope.io.widefield.frames_to_field` (never whole), with the widefield
preprocessing of :class:`~wavescope.io.WidefieldOptions`. The pixel spacing comes from the
imaging plane's ``grid_spacing`` (with its unit), else from the series' ``field_of_view``
(metres) over the number of pixels, else from ``pixel_size_m=``.

A file with several series needs ``series=NAME``; the error lists them.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from wavescope.core.deps import require
from wavescope.core.field import WaveField
from wavescope.core.validate import (
    WaveInputError,
    check_memory,
    check_option,
    existing_file,
)
from wavescope.io.lengths import metres_per
from wavescope.io.projection import project_positions
from wavescope.io.widefield import WidefieldOptions, frames_to_field

__all__ = ["read_nwb", "list_nwb_series", "BAD_COLUMNS", "GOOD_COLUMNS"]

#: Boolean electrodes-table columns that mark a channel bad (True = bad).
BAD_COLUMNS = ("bad", "is_bad", "bad_channel", "invalid", "is_invalid")
#: Boolean columns that mark a channel usable (True = good; read inverted).
GOOD_COLUMNS = ("good", "is_good", "valid")
#: Columns read as channel names, in this order (else the electrode id).
NAME_COLUMNS = ("label", "channel_name", "name")
COORDINATES = {"brain": ("x", "y", "z"), "relative": ("rel_x", "rel_y", "rel_z")}
SAMPLES_PER_CHUNK = 1 << 18


def _series_of(nwbfile, pynwb) -> list:
    from pynwb.ecephys import ElectricalSeries
    from pynwb.image import ImageSeries

    out = []
    for obj in nwbfile.objects.values():
        if isinstance(obj, (ElectricalSeries, ImageSeries)):
            out.append(obj)
    return sorted(out, key=lambda o: o.name)


def _describe(obj) -> str:
    parent = getattr(obj.parent, "name", "?")
    return f"{obj.name} ({type(obj).__name__} in {parent})"


def list_nwb_series(path: str | os.PathLike) -> list[str]:
    """Names and types of the electrical and imaging series of an NWB file."""
    pynwb = require("pynwb", "reading NWB files")
    path = existing_file(path, "NWB file")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        return [_describe(s) for s in _series_of(io.read(), pynwb)]


def _rate(series, path) -> float:
    if series.rate is not None:
        return float(series.rate)
    ts = np.asarray(series.timestamps[:], dtype=float)
    if ts.size < 2:
        raise WaveInputError(f"{path}: series {series.name!r} has neither a rate nor timestamps.")
    dt = np.diff(ts)
    step = float(np.median(dt))
    if step <= 0 or np.max(np.abs(dt - step)) > 1e-3 * step:
        raise WaveInputError(
            f"{path}: series {series.name!r} has irregular timestamps (steps from "
            f"{dt.min():.6g} to {dt.max():.6g} s); the wave measures need a regular sampling "
            "rate: resample it first."
        )
    return 1.0 / step


def _column(table, name, rows):
    return np.asarray(table[name].data[:])[rows]


def _bad_mask(table, rows, path) -> tuple[np.ndarray, str | None]:
    cols = table.colnames
    for name in BAD_COLUMNS:
        if name in cols:
            return _column(table, name, rows).astype(bool), name
    for name in GOOD_COLUMNS:
        if name in cols:
            return ~_column(table, name, rows).astype(bool), name
    return np.zeros(len(rows), bool), None


def _group_names(table, rows) -> np.ndarray | None:
    if "group_name" in table.colnames:
        return _column(table, "group_name", rows).astype(str)
    if "group" in table.colnames:
        groups = table["group"].data
        return np.array([groups[int(i)].name for i in rows], dtype=str)
    return None


def _coordinates(table, rows, coordinates, bad, groups, path) -> tuple[np.ndarray, str]:
    check_option("coordinates", coordinates, ("auto", "brain", "relative"))
    order = ["brain", "relative"] if coordinates == "auto" else [coordinates]
    looked = []
    for kind in order:
        cols = COORDINATES[kind]
        looked.append(", ".join(cols))
        if not all(c in table.colnames for c in cols):
            continue
        pos = np.column_stack([_column(table, c, rows).astype(float) for c in cols])
        usable = pos[~bad] if (~bad).any() else pos
        if not np.all(np.isfinite(usable)) or len(np.unique(usable, axis=0)) < min(2, len(usable)):
            continue  # absent (NaN) or a placeholder (every contact at one point)
        if kind == "relative" and groups is not None and len(set(groups)) > 1:
            raise WaveInputError(
                f"{path}: rel_x, rel_y, rel_z are positions within an electrode group, and "
                f"this series spans groups {sorted(set(groups))}; choose one with group=, "
                "or store brain coordinates x, y, z."
            )
        return pos, kind
    raise WaveInputError(
        f"{path}: no electrode positions for this series: looked for columns "
        f"({'), ('.join(looked)}) in the electrodes table "
        "(/general/extracellular_ephys/electrodes), finite and not all at one point. "
        "Add them to the table when writing the file (add_electrode(x=..., y=..., z=...) "
        "in microns), or mark the channels without one bad."
    )


def _project(pos: np.ndarray, good: np.ndarray, projection) -> tuple[np.ndarray, dict]:
    check_option("projection", projection, ("auto", "plane", "sphere", None))
    if projection is None:
        return pos, {"method": None}
    if projection == "auto":
        ref = pos[good] if good.any() else pos
        span = np.ptp(ref, axis=0)
        keep = span > 1e-9 * max(float(span.max()), 1e-30)
        if keep.sum() < 3:
            return pos[:, keep], {
                "method": "drop-constant-axes",
                "axes": np.flatnonzero(keep).tolist(),
            }
        projection = "plane"
    xy, info = project_positions(pos, projection)
    return xy, info


def _electrical_field(
    series, path, *, group, coordinates, position_unit, projection, bad, dtype
) -> WaveField:
    region = series.electrodes
    table = region.table
    rows = np.asarray(region.data[:], dtype=int)
    n_t, n_ch = series.data.shape[0], (series.data.shape[1] if series.data.ndim > 1 else 1)
    if len(rows) != n_ch:
        raise WaveInputError(
            f"{path}: series {series.name!r} has {n_ch} channels but references {len(rows)} "
            "electrodes; the file is inconsistent."
        )
    ids = np.asarray(table.id[:])[rows]
    names = next(
        (_column(table, c, rows).astype(str) for c in NAME_COLUMNS if c in table.colnames),
        np.array([f"e{int(i)}" for i in ids]),
    )
    groups = _group_names(table, rows)
    keep = np.arange(n_ch)
    if group is not None:
        if groups is None or group not in set(groups):
            raise WaveInputError(
                f"{path}: no electrode group {group!r} in series {series.name!r}; groups: "
                f"{sorted(set(groups)) if groups is not None else 'none'}."
            )
        keep = np.flatnonzero(groups == group)
    rows, names, ids = rows[keep], names[keep], ids[keep]
    groups = None if groups is None else groups[keep]
    is_bad, bad_col = _bad_mask(table, rows, path)
    if bad:
        unknown = set(bad) - set(names)
        if unknown:
            raise WaveInputError(f"bad= names unknown channels {sorted(unknown)[:5]}.")
        is_bad = is_bad | np.isin(names, list(bad))
    pos, kind = _coordinates(table, rows, coordinates, is_bad, groups, path)
    scale = metres_per(position_unit, "position_unit")
    pos = pos * scale
    good = ~is_bad & np.all(np.isfinite(pos), axis=1)
    pos[~np.all(np.isfinite(pos), axis=1)] = np.nanmean(pos[good], axis=0) if good.any() else 0.0
    if good.sum() >= 2:
        from scipy.spatial import cKDTree

        nn = cKDTree(pos[good]).query(pos[good], k=2)[0][:, 1]
        if np.median(nn) < 1e-6:
            raise WaveInputError(
                f"{path}: neighbouring electrodes lie {np.median(nn):.3g} m apart when read in "
                f"{position_unit!r}, which no array has; the NWB schema asks for microns, but "
                "this file seems to store another unit: pass position_unit='m' or 'mm'."
            )
    pos, pinfo = _project(pos, good, projection)
    # samples, scaled to volts, a chunk of time at a time (data is (time, channels))
    check_memory(
        f"{path}: series {series.name!r} ({len(keep)} channels x {n_t} samples of "
        f"{np.dtype(dtype)})",
        len(keep) * int(n_t) * np.dtype(dtype).itemsize,
        "read one electrode group (group=) or store a shorter recording"
        + (", or pass dtype='float32'." if np.dtype(dtype).itemsize > 4 else "."),
    )
    data = np.empty((len(keep), n_t), dtype)
    conv = float(series.conversion or 1.0)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    chconv = getattr(series, "channel_conversion", None)
    chconv = np.ones(n_ch) if chconv is None else np.asarray(chconv[:], float)
    gain = (conv * chconv)[keep]
    step = max(1, SAMPLES_PER_CHUNK // max(n_ch, 1))
    for i0 in range(0, n_t, step):
        i1 = min(i0 + step, n_t)
        block = np.asarray(series.data[i0:i1]).reshape(i1 - i0, n_ch)[:, keep]
        data[:, i0:i1] = (block * gain + offset).T
    unit = str(series.unit)
    if unit.lower() not in ("volts", "volt", "v"):
        warnings.warn(
            f"{path}: series {series.name!r} has unit {unit!r}, not volts; samples are kept in "
            "that unit (times conversion).",
            UserWarning,
            stacklevel=3,
        )
    meta = {
        "source": str(path),
        "format": "nwb",
        "series": series.name,
        "series_type": type(series).__name__,
        "coordinates": ", ".join(COORDINATES[kind]),
        "position_unit": position_unit,
        "projection": pinfo,
        "unit": "V" if unit.lower() in ("volts", "volt", "v") else unit,
        "electrode_ids": ids.tolist(),
        "bad_column": bad_col,
    }
    if groups is not None:
        meta["groups"] = sorted(set(groups.tolist()))
    if "location" in table.colnames:
        meta["locations"] = sorted(set(_column(table, "location", rows).astype(str).tolist()))
    return WaveField(data, _rate(series, path), pos, "m", "s", tuple(names), is_bad, meta)


class _XYFrames:
    """NWB image data (frames, x, y) seen as (frames, rows = y, cols = x), a chunk at a time."""

    def __init__(self, data):
        self._data = data
        n, nx, ny = data.shape
        self.shape = (n, ny, nx)

    def __getitem__(self, sl):
        return np.asarray(self._data[sl]).transpose(0, 2, 1)


def _spacing(series, path, pixel_size_m) -> tuple[tuple[float, float], str]:
    if pixel_size_m is not None:
        px = np.broadcast_to(np.asarray(pixel_size_m, float).ravel(), (2,))
        return (float(px[0]), float(px[1])), "argument"
    looked = []
    plane = getattr(series, "imaging_plane", None)
    if plane is not None:
        looked.append(f"imaging plane {plane.name!r} grid_spacing")
        gs = getattr(plane, "grid_spacing", None)
        if gs is not None:
            gs = np.asarray(gs[:], float)
            unit = getattr(plane, "grid_spacing_unit", None) or "meters"
            s = metres_per(unit, f"{path}: grid_spacing unit")
            return (float(gs[0] * s), float(gs[1] * s)), f"imaging plane {plane.name} grid_spacing"
    else:
        looked.append("imaging plane (this series has none)")
    looked.append(f"series {series.name!r} field_of_view")
    fov = getattr(series, "field_of_view", None)
    if fov is not None:
        fov = np.asarray(fov[:], float)
        _, nx, ny = series.data.shape[:3]
        return (float(fov[0] / nx), float(fov[1] / ny)), f"series {series.name} field_of_view"
    raise WaveInputError(
        f"{path}: no pixel spacing for series {series.name!r} (looked at {'; '.join(looked)}); "
        "pass pixel_size_m= (metres, or (dx, dy))."
    )


def _imaging_field(series, path, *, options, pixel_size_m) -> WaveField:
    if getattr(series, "external_file", None) is not None and series.data is None:
        raise WaveInputError(
            f"{path}: series {series.name!r} stores its frames in external files "
            f"({list(series.external_file[:])[:3]}); read those files directly."
        )
    shape = tuple(series.data.shape)
    if len(shape) != 3:
        raise WaveInputError(
            f"{path}: series {series.name!r} has data of shape {shape}; a frame stack is "
            "(frames, x, y); volumetric (frames, x, y, z) data needs one plane chosen first."
        )
    spacing, spacing_from = _spacing(series, path, pixel_size_m)
    return frames_to_field(
        _XYFrames(series.data),
        _rate(series, path),
        spacing,
        options,
        meta={
            "source": str(path),
            "format": "nwb",
            "series": series.name,
            "series_type": type(series).__name__,
            "pixel_size_from": spacing_from,
        },
    )


def read_nwb(
    path: str | os.PathLike,
    *,
    series: str | None = None,
    group: str | None = None,
    coordinates: str = "auto",
    position_unit: str = "um",
    projection: str | None = "auto",
    bad=(),
    options: WidefieldOptions | None = None,
    pixel_size_m=None,
    dtype=np.float32,
) -> WaveField:
    """Read an electrical or imaging series of an NWB file as a :class:`WaveField`.

    Parameters
    ----------
    path : path-like
        An NWB (HDF5) file.
    series : str, optional
        Name of the ``ElectricalSeries`` / ``OnePhotonSeries`` / ``TwoPhotonSeries`` /
        ``ImageSeries`` to read; needed when the file holds several (the error lists them).
    group : str, optional
        Electrical series: keep only the electrodes of this electrode group.
    coordinates : {"auto", "brain", "relative"}
        Electrical series: ``x, y, z`` (``"brain"``), ``rel_x, rel_y, rel_z``
        (``"relative"``, within one electrode group) or the first of the two present
        (``"auto"``).
    position_unit : str
        Unit of those columns: ``"um"`` per the NWB schema; ``"mm"`` or ``"m"`` for files
        that store another.
    projection : {"auto", "plane", "sphere", None}
        Electrical series: ``"auto"`` drops coordinates that are constant over the good
        contacts (a flat array keeps its own x and y) and fits a plane when all three
        vary; ``"plane"``/``"sphere"`` as :func:`wavescope.io.project_positions`; None
        keeps 3-D.
    bad : sequence of str
        Channel names to mark bad, on top of the table's bad column.
    options : WidefieldOptions, optional
        Imaging series: preprocessing (default: cortex mask, dF/F, 2 x 2 binning,
        detrend).
    pixel_size_m : float or (float, float), optional
        Imaging series: pixel spacing in metres when the file has none.
    dtype : numpy dtype
        Sample type of an electrical series (float32 by default; volts).

    Returns
    -------
    WaveField
        Positions in metres, time in seconds; ``meta`` names the series, the coordinate
        columns and their unit, the groups and locations, or the pixel spacing's source.
    """
    path = existing_file(path, "NWB file")
    pynwb = require("pynwb", "reading NWB files")
    from pynwb.ecephys import ElectricalSeries

    try:
        io = pynwb.NWBHDF5IO(str(path), "r")
        nwbfile = io.read()
    except Exception as exc:
        raise WaveInputError(
            f"{path}: pynwb could not read it ({type(exc).__name__}: {exc})."
        ) from None
    with io:
        found = _series_of(nwbfile, pynwb)
        if not found:
            raise WaveInputError(
                f"{path}: no ElectricalSeries or imaging series (OnePhotonSeries, "
                "TwoPhotonSeries, ImageSeries) in the file."
            )
        if series is None:
            if len(found) > 1:
                raise WaveInputError(
                    f"{path} holds {len(found)} series: {'; '.join(map(_describe, found))}; "
                    "choose one with series=NAME."
                )
            chosen = found[0]
        else:
            matches = [s for s in found if s.name == series]
            if len(matches) != 1:
                raise WaveInputError(
                    f"{path}: "
                    + ("no" if not matches else f"{len(matches)}")
                    + f" series named {series!r}; series in the file: "
                    + "; ".join(map(_describe, found))
                    + "."
                )
            chosen = matches[0]
        if isinstance(chosen, ElectricalSeries):
            field = _electrical_field(
                chosen,
                path,
                group=group,
                coordinates=coordinates,
                position_unit=position_unit,
                projection=projection,
                bad=tuple(bad),
                dtype=dtype,
            )
        else:
            field = _imaging_field(chosen, path, options=options, pixel_size_m=pixel_size_m)
        subject = _subject_id(nwbfile)
        if subject is not None:  # the unit of replication in comparisons (not the session)
            field.meta["subject"] = subject
        return field


def _subject_id(nwbfile) -> str | None:
    """The file's ``subject.subject_id``, when it has one."""
    sid = getattr(getattr(nwbfile, "subject", None), "subject_id", None)
    return str(sid) if sid not in (None, "") else None
