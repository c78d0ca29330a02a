"""Widefield frame stacks in TIFF and HDF5 files, read chunk by chunk into a grid field.

Both readers find the frame rate and the pixel size in the file's own metadata (or take
them as arguments, which win over the file), then hand the stack to
:func:`wavescope.io.widefield.frames_to_field`, which reads ``chunk_frames`` frames at a
time and applies the widefield preprocessing of :class:`~wavescope.io.WidefieldOptions`.

- TIFF (``tifffile``, extra ``[imaging]``): one multi-page stack (time, rows, cols).
  Uncompressed contiguous data is memory-mapped; otherwise pages are decoded a chunk at
  a time. Pixel size from ImageJ metadata (``unit`` with the XResolution/YResolution tags),
  OME-XML (``PhysicalSizeX/Y`` and their units) or the TIFF resolution tags in
  centimetres; frame rate from ImageJ ``finterval``/``fps`` or OME ``TimeIncrement``.
  Resolution in inches is ignored: it is what writers put by default (72 dpi), not a
  measurement.
- HDF5 (``h5py``, extra ``[imaging]``): a 3-D dataset (time, rows, cols), read a chunk of
  frames at a time. Frame rate from an attribute ``fs_hz`` (or ``fs``, ``frame_rate``,
  ``sampling_rate``, Hz) and pixel size from ``pixel_size_m`` (or ``pixel_size_mm``,
  ``pixel_size_um``), looked up on the dataset and then on each enclosing group up to the
  file's root.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from wavescope.core.deps import require
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, existing_file
from wavescope.io.lengths import metres_per
from wavescope.io.widefield import WidefieldOptions, frames_to_field

__all__ = ["read_tiff", "read_hdf5_frames", "FS_ATTRS", "PIXEL_ATTRS"]

#: HDF5 attributes read as the frame rate (Hz), in this order.
FS_ATTRS = ("fs_hz", "fs", "frame_rate", "sampling_rate")
#: HDF5 attributes read as the pixel size, and the size of their unit in metres.
PIXEL_ATTRS = {"pixel_size_m": 1.0, "pixel_size_mm": 1e-3, "pixel_size_um": 1e-6}


def _number_attr(path: Path, node: str, key: str, value, what: str) -> np.ndarray:
    """An HDF5 attribute as floats, or an error naming it (a string, a compound, ...)."""
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        v = None
    if v is None or v.size == 0 or v.ndim > 1 or not np.all(np.isfinite(v)):
        raise WaveInputError(
            f"{path}: attribute {key} of {node} must be {what}, got {value!r}; fix the "
            f"attribute or pass the value as an argument."
        )
    return v


def _missing(what: str, path: Path, looked: list[str], arg: str) -> WaveInputError:
    return WaveInputError(
        f"{path}: no {what} in the file (looked at {'; '.join(looked)}); pass {arg}= "
        "explicitly (e.g. read_recording(path, " + arg + "=...))."
    )


# ---------------------------------------------------------------------------- TIFF
class _TiffPages:
    """Frames of a multi-page TIFF decoded a chunk of pages at a time."""

    def __init__(self, tif, n_frames: int, shape2d: tuple[int, int]):
        self._tif = tif
        self.shape = (n_frames, *shape2d)

    def __getitem__(self, sl: slice) -> np.ndarray:
        i0, i1, _ = sl.indices(self.shape[0])
        out = self._tif.asarray(key=range(i0, i1))
        return out.reshape(i1 - i0, *self.shape[1:])


def _ome_pixels(tif):
    if not tif.is_ome:
        return None
    try:
        root = ET.fromstring(tif.ome_metadata)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.endswith("}Pixels") or el.tag == "Pixels":
            return el.attrib
    return None


def _tiff_pixel_size(tif, path: Path):
    """(dx, dy) in metres from the file's metadata, the source named, or None."""
    page = tif.pages[0]
    tags = page.tags
    xres, yres = tags.get("XResolution"), tags.get("YResolution")

    def per_pixel(tag):
        num, den = tag.value
        return den / num if num else None

    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij and ij.get("unit") and xres is not None and str(ij["unit"]).lower() != "pixel":
        scale = metres_per(ij["unit"], f"{path}: ImageJ 'unit'")
        dx, dy = per_pixel(xres), per_pixel(yres or xres)
        if dx and dy:
            return (dx * scale, dy * scale), f"ImageJ resolution in {ij['unit']}"
    ome = _ome_pixels(tif)
    if ome and "PhysicalSizeX" in ome:
        ux = metres_per(ome.get("PhysicalSizeXUnit", "\u00b5m"), f"{path}: OME PhysicalSizeXUnit")
        uy = metres_per(ome.get("PhysicalSizeYUnit", "\u00b5m"), f"{path}: OME PhysicalSizeYUnit")
        dx = float(ome["PhysicalSizeX"]) * ux
        dy = float(ome.get("PhysicalSizeY", ome["PhysicalSizeX"])) * uy
        return (dx, dy), "OME PhysicalSizeX/Y"
    unit = tags.get("ResolutionUnit")
    if xres is not None and unit is not None and int(unit.value) == 3:  # CENTIMETER
        dx, dy = per_pixel(xres), per_pixel(yres or xres)
        if dx and dy:
            return (dx * 1e-2, dy * 1e-2), "TIFF resolution tags (centimetre)"
    return None, None


def _tiff_rate(tif):
    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij:
        if ij.get("finterval"):
            return 1.0 / float(ij["finterval"]), "ImageJ finterval"
        if ij.get("fps"):
            return float(ij["fps"]), "ImageJ fps"
    ome = _ome_pixels(tif)
    if ome and ome.get("TimeIncrement"):
        unit = ome.get("TimeIncrementUnit", "s")
        scale = {"s": 1.0, "ms": 1e-3, "\u00b5s": 1e-6, "us": 1e-6, "min": 60.0}.get(unit)
        if scale is not None:
            return 1.0 / (float(ome["TimeIncrement"]) * scale), "OME TimeIncrement"
    return None, None


def read_tiff(
    path: str | os.PathLike,
    *,
    fs_hz: float | None = None,
    pixel_size_m=None,
    options: WidefieldOptions | None = None,
) -> WaveField:
    """Read and preprocess a multi-page TIFF frame stack (time, rows, cols).

    Parameters
    ----------
    path : path-like
        A .tif/.tiff holding one stack: one page per frame (or an ImageJ/OME hyperstack
        whose only non-spatial axis is time).
    fs_hz : float, optional
        Frame rate in Hz; default from the file (ImageJ ``finterval``/``fps``, OME
        ``TimeIncrement``). Required when the file has none.
    pixel_size_m : float or (float, float), optional
        Pixel size in metres (or ``(dx, dy)``); default from the file (ImageJ unit and
        resolution, OME ``PhysicalSizeX/Y``, resolution tags in centimetres).
    options : WidefieldOptions, optional
        Preprocessing (default: cortex mask, dF/F, 2 x 2 binning, detrend).

    Returns
    -------
    WaveField
        See :func:`~wavescope.io.widefield.frames_to_field`; ``meta`` also names where
        the frame rate and pixel size came from and how the frames were read
        (``"memmap"`` or ``"pages"``).
    """
    path = existing_file(path, "frame stack")
    tifffile = require("tifffile", "reading TIFF frame stacks")
    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:
        raise WaveInputError(f"{path}: not a readable TIFF file ({exc}).") from None
    with tif:
        return _reading(path, "TIFF")(_tiff_field)(tif, path, fs_hz, pixel_size_m, options)


def _reading(path: Path, kind: str):
    """Wrap a reading step: a toolkit error passes, anything a damaged file makes the
    parser raise (IndexError, KeyError, struct errors, ...) becomes a toolkit error."""

    def wrap(fn):
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except WaveInputError:
                raise
            except (MemoryError, RecursionError):
                raise WaveInputError(
                    f"{path}: the {kind} file's structure asks for more than can be read "
                    "(damaged or hostile); write it again."
                ) from None
            except Exception as exc:  # a damaged file: any parser error
                raise WaveInputError(
                    f"{path}: not a readable {kind} frame stack ({type(exc).__name__}: "
                    f"{exc}); it may be damaged: write it again."
                ) from None

        return run

    return wrap


def _tiff_field(tif, path: Path, fs_hz, pixel_size_m, options) -> WaveField:
    series = tif.series[0]
    shape = tuple(int(n) for n in series.shape)
    squeezed = tuple(n for n in shape if n != 1)
    if len(shape) == 2 and len(tif.pages) > 1:
        # pages written one by one: each its own series; the stack is the pages
        first = tuple(tif.pages[0].shape)
        if tuple(tif.pages[-1].shape) != first:
            raise WaveInputError(f"{path}: pages differ in shape; not one frame stack.")
        frames, how = _TiffPages(tif, len(tif.pages), first), "pages"
    elif len(squeezed) == 3:
        if series.dataoffset is not None and not series.is_multifile:
            frames = np.memmap(
                path, dtype=series.dtype, mode="r", offset=series.dataoffset, shape=shape
            ).reshape(squeezed)
            how = "memmap"
        else:
            frames, how = _TiffPages(tif, squeezed[0], squeezed[1:]), "pages"
    else:
        raise WaveInputError(
            f"{path}: the stack has shape {shape} (axes {series.axes}); a frame stack is "
            "(time, rows, cols): save one channel and one plane per file."
        )
    looked_px = [
        "ImageJ 'unit' + XResolution",
        "OME PhysicalSizeX/Y",
        "ResolutionUnit CENTIMETER + XResolution",
    ]
    px_from = "argument"
    if pixel_size_m is None:
        pixel_size_m, px_from = _tiff_pixel_size(tif, path)
        if pixel_size_m is None:
            raise _missing("pixel size", path, looked_px, "pixel_size_m")
    fs_from = "argument"
    if fs_hz is None:
        fs_hz, fs_from = _tiff_rate(tif)
        if fs_hz is None:
            raise _missing(
                "frame rate", path, ["ImageJ finterval/fps", "OME TimeIncrement"], "fs_hz"
            )
    return frames_to_field(
        frames,
        fs_hz,
        pixel_size_m,
        options,
        meta={
            "source": str(path),
            "format": "tiff",
            "read": how,
            "pixel_size_from": px_from,
            "fs_from": fs_from,
        },
    )


# ---------------------------------------------------------------------------- HDF5
def _attr_up(obj, names):
    """First of ``names`` found as an attribute of ``obj`` or of a group above it."""
    node = obj
    while True:
        for n in names:
            if n in node.attrs:
                return n, node.attrs[n], node.name
        if node.name == "/":
            return None, None, None
        node = node.parent


def _frame_datasets(h5file) -> list[str]:
    found = []

    def visit(name, obj):
        if hasattr(obj, "shape") and len(obj.shape) == 3 and obj.dtype.kind in "fiu":
            found.append("/" + name)

    h5file.visititems(visit)
    return found


def read_hdf5_frames(
    path: str | os.PathLike,
    *,
    dataset: str | None = None,
    fs_hz: float | None = None,
    pixel_size_m=None,
    options: WidefieldOptions | None = None,
) -> WaveField:
    """Read and preprocess a frame stack stored as an HDF5 dataset (time, rows, cols).

    Parameters
    ----------
    path : path-like
        An .h5/.hdf5 file (an NWB file goes to :func:`wavescope.io.read_nwb`).
    dataset : str, optional
        Path of the dataset inside the file, e.g. ``"/imaging/frames"``; needed when the
        file holds more than one 3-D numeric dataset (the error lists them).
    fs_hz : float, optional
        Frame rate in Hz; default from the attributes :data:`FS_ATTRS`.
    pixel_size_m : float or (float, float), optional
        Pixel size in metres; default from the attributes :data:`PIXEL_ATTRS`.
    options : WidefieldOptions, optional
        Preprocessing (default: cortex mask, dF/F, 2 x 2 binning, detrend).

    Returns
    -------
    WaveField
        See :func:`~wavescope.io.widefield.frames_to_field`.
    """
    path = existing_file(path, "frame stack")
    h5py = require("h5py", "reading HDF5 frame stacks")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise WaveInputError(f"{path}: not a readable HDF5 file ({exc}).") from None
    with f:
        return _reading(path, "HDF5")(_hdf5_field)(f, path, dataset, fs_hz, pixel_size_m, options)


def _hdf5_field(f, path: Path, dataset, fs_hz, pixel_size_m, options) -> WaveField:
    if "nwb_version" in f.attrs:
        raise WaveInputError(
            f"{path} is an NWB file; read it with wavescope.io.read_nwb (or "
            "read_recording, which dispatches on the content)."
        )
    if dataset is None:
        names = _frame_datasets(f)
        if len(names) != 1:
            raise WaveInputError(
                f"{path}: "
                + (
                    f"{len(names)} 3-D datasets ({', '.join(names)}); choose one with dataset=."
                    if names
                    else "no 3-D numeric dataset (time, rows, cols) in the file."
                )
            )
        dataset = names[0]
    if dataset not in f:
        raise WaveInputError(
            f"{path}: no dataset {dataset!r}; 3-D datasets in the file: "
            f"{', '.join(_frame_datasets(f)) or 'none'}."
        )
    dset = f[dataset]
    where = [f"attributes of {dset.name} and the groups above it"]
    fs_from = px_from = "argument"
    if fs_hz is None:
        key, value, node = _attr_up(dset, FS_ATTRS)
        if key is None:
            raise _missing(f"frame rate ({', '.join(FS_ATTRS)})", path, where, "fs_hz")
        v = _number_attr(path, node, key, value, "one number (frames per second)")
        if v.size != 1:
            raise WaveInputError(
                f"{path}: attribute {key} of {node} must be one number (frames per "
                f"second), got {value!r}; pass fs_hz= explicitly."
            )
        fs_hz, fs_from = float(v.ravel()[0]), f"{node} attribute {key}"
    if pixel_size_m is None:
        key, value, node = _attr_up(dset, tuple(PIXEL_ATTRS))
        if key is None:
            raise _missing(f"pixel size ({', '.join(PIXEL_ATTRS)})", path, where, "pixel_size_m")
        v = _number_attr(path, node, key, value, "a number or a pair (dx, dy)")
        v = v * PIXEL_ATTRS[key]
        pixel_size_m = float(v) if v.ndim == 0 else tuple(v.ravel())
        px_from = f"{node} attribute {key}"
    return frames_to_field(
        dset,
        fs_hz,
        pixel_size_m,
        options,
        meta={
            "source": str(path),
            "format": "hdf5",
            "dataset": dset.name,
            "fs_from": fs_from,
            "pixel_size_from": px_from,
        },
    )
