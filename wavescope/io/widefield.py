"""Widefield frame stacks to a preprocessed grid field, read chunk by chunk.

Every frame-stack reader (the widefield .npz, TIFF, HDF5, NWB imaging series) ends here:
:func:`frames_to_field` takes any array-like of frames ``(n_frames, n_rows, n_cols)`` that
can be sliced along its first axis (a numpy array or memmap, an h5py dataset, a TIFF page
reader) and applies the documented widefield preprocessing, chosen by one
:class:`WidefieldOptions`:

1. mask: the cortex (Otsu's threshold of the mean image, largest bright region, holes
   filled, eroded; pixels outside see skull or background), every pixel, or a given mask;
2. background removal: dF/F against each pixel's temporal mean (F0);
3. spatial binning: the mean of ``bin_factor x bin_factor`` blocks of masked pixels
   (blocks not fully inside the mask are dropped);
4. linear detrend of each site.

The stack is read twice, ``chunk_frames`` frames at a time: once for the mean image
(mask and F0), once to mask, normalise and bin each chunk, keeping only the reduced
sites. Memory holds the result (sites x frames, float32) plus one chunk; the whole stack
is never in memory at once. Binning and detrending are both linear, so detrending the
binned sites equals binning the detrended pixels: the result is that of dF/F, detrend
and binning on the full stack in memory (to float32 round-off). This is the one
implementation of the widefield preprocessing: every reader of frames, and every caller
holding frames in memory, goes through :func:`frames_to_field`.

Positions: ``x = col * dx``, ``y = row * dy`` (metres), as :meth:`WaveField.from_grid`
(y grows with the row index).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import (
    WaveInputError,
    check_memory,
    check_option,
    check_positive,
    existing_file,
)

__all__ = [
    "WidefieldOptions",
    "RAW_FRAMES",
    "check_stack_memory",
    "cortex_mask_from_mean",
    "frames_to_field",
    "is_widefield_npz",
    "read_widefield",
    "WIDEFIELD_KEYS",
]

#: Keys of a widefield .npz (``frames`` (time, rows, cols), ``fs_hz``, ``pixel_size_m``).
WIDEFIELD_KEYS = ("frames", "fs_hz", "pixel_size_m")


@dataclass(frozen=True)
class WidefieldOptions:
    """The widefield preprocessing applied while reading a frame stack.

    Parameters
    ----------
    mask : {"cortex", "all"} or ndarray of bool, shape (n_rows, n_cols)
        Pixels kept: ``"cortex"`` (default) Otsu's threshold of the mean image, largest
        bright region, holes filled, eroded by ``erode`` pixels; ``"all"`` every pixel;
        or an explicit mask (True = keep).
    erode : int
        Pixels eroded from the border of the ``"cortex"`` mask (default 1).
    background : {"dff", "none"}
        ``"dff"`` (default): ``(F - F0) / F0`` per pixel, F0 its temporal mean
        (dimensionless); ``"none"``: camera counts as they are.
    detrend : bool
        Remove a linear trend from each site (default True).
    bin_factor : int
        Side of the pixel blocks averaged into one site (default 2; 1 = no binning).
    chunk_frames : int
        Frames read at once (default 256): bounds the memory of reading.
    band : (float, float) or None
        The analysis band recommended with the field, Hz (default ``(0.1, 5.0)``: the
        band of Cobrawap's widefield pipeline, Gutzen et al. 2024, for the slow waves of
        calcium imaging; GCaMP6f kinetics carry little above 5 Hz). Stored as
        ``meta["analysis_band"]``: :func:`wavescope.waves.measure_velocity` uses it, with
        generalized phase (the band spans more than five octaves), when no band is given.
        None: no recommendation (the band is then chosen from the spectrum).

    Notes
    -----
    The defaults are the pipeline of ``analyses/widefield_waves.py``; :data:`RAW_FRAMES`
    reads the masked camera counts unchanged.
    """

    mask: object = "cortex"
    erode: int = 1
    background: str = "dff"
    detrend: bool = True
    bin_factor: int = 2
    chunk_frames: int = 256
    band: tuple | None = (0.1, 5.0)

    def __post_init__(self):
        if self.band is not None:
            b = tuple(self.band)
            if len(b) != 2 or not all(np.isfinite(float(x)) for x in b) or not 0 <= b[0] < b[1]:
                raise WaveInputError(
                    "band must be None or (low, high) in Hz with 0 <= low < high, got "
                    f"{self.band!r}."
                )
            object.__setattr__(self, "band", (float(b[0]), float(b[1])))
        if isinstance(self.mask, str):
            check_option("mask", self.mask, ("cortex", "all"))
        elif self.mask is not None:
            m = np.asarray(self.mask)
            if m.ndim != 2 or m.dtype != bool:
                raise WaveInputError(
                    f"mask must be 'cortex', 'all' or a boolean array (n_rows, n_cols), got "
                    f"an array of shape {m.shape} and dtype {m.dtype}."
                )
        check_option("background", self.background, ("dff", "none"))
        for name in ("erode", "bin_factor", "chunk_frames"):
            v = getattr(self, name)
            lo = 0 if name == "erode" else 1
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise WaveInputError(f"{name} must be an integer >= {lo}, got {v!r}.")

    def describe(self) -> dict:
        """The options as a JSON-friendly dict (an explicit mask is summarised)."""
        d = asdict(self)
        if not isinstance(self.mask, str) and self.mask is not None:
            d["mask"] = f"given ({int(np.asarray(self.mask).sum())} pixels)"
        return d


#: Read the masked camera counts unchanged (no background removal, detrend or binning).
RAW_FRAMES = WidefieldOptions(background="none", detrend=False, bin_factor=1, band=None)


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    return float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def cortex_mask_from_mean(mean_image, *, erode: int = 1) -> np.ndarray:
    """Boolean mask (rows, cols) of the cortex from the mean image of a recording.

    Pixels brighter than Otsu's threshold, largest connected region, holes filled,
    eroded by ``erode`` pixels to drop the border.
    """
    from scipy import ndimage

    mean = np.asarray(mean_image, dtype=np.float64)
    if mean.ndim != 2:
        raise WaveInputError(f"the mean image must be 2-D (rows, cols), got {mean.shape}.")
    mask = mean > _otsu(mean)
    lab, n = ndimage.label(mask)
    if n == 0:
        raise WaveInputError("no bright region found for the cortex mask; pass mask= explicitly.")
    sizes = ndimage.sum(mask, lab, index=np.arange(1, n + 1))
    mask = ndimage.binary_fill_holes(lab == 1 + int(np.argmax(sizes)))
    if erode:
        mask = ndimage.binary_erosion(mask, iterations=erode)
    if mask.sum() < 4:
        raise WaveInputError("cortex mask keeps fewer than 4 pixels; pass mask= explicitly.")
    return mask


def _pixel_sizes(pixel_size) -> tuple[float, float]:
    """(dx, dy) in metres from one size or a pair (x: columns, y: rows)."""
    if np.ndim(pixel_size) == 0:
        d = check_positive("pixel_size_m", pixel_size)
        return d, d
    vals = np.asarray(pixel_size, dtype=float).ravel()
    if vals.size != 2:
        raise WaveInputError(
            f"pixel_size_m must be one number or a pair (dx, dy) in metres, got {pixel_size!r}."
        )
    return check_positive("pixel_size_m[0]", vals[0]), check_positive("pixel_size_m[1]", vals[1])


def _mean_image(frames, n_frames: int, chunk: int) -> np.ndarray:
    total = None
    for i0 in range(0, n_frames, chunk):
        part = np.asarray(frames[i0 : min(i0 + chunk, n_frames)])
        s = part.sum(axis=0, dtype=np.float64)
        total = s if total is None else total + s
    return total / n_frames


def _sites(mask: np.ndarray, factor: int, dx: float, dy: float):
    """The kept pixels, the site of each, and the sites' names and positions.

    The order of sites and their names follow :meth:`WaveField.from_grid` (no binning);
    blocks are ordered by block column, then block row, and named ``b{row}_{col}``.
    """
    rows, cols = np.nonzero(mask)
    if factor == 1:
        pos = np.column_stack([cols * dx, rows * dy]).astype(float)
        names = tuple(f"r{r}c{c}" for r, c in zip(rows, cols))
        return rows, cols, np.arange(len(rows)), pos, names
    r0, c0 = rows.min(), cols.min()
    block = np.column_stack([(cols - c0) // factor, (rows - r0) // factor])
    keys, inverse, counts = np.unique(block, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    full = counts == factor * factor
    if not full.any():
        raise WaveInputError(
            f"no {factor} x {factor} block lies fully inside the mask; use a smaller bin_factor."
        )
    site_of_key = np.full(len(keys), -1)
    site_of_key[full] = np.arange(int(full.sum()))
    site = site_of_key[inverse]
    keep = site >= 0
    k = keys[full]
    centre = k * factor + (factor - 1) / 2
    pos = np.column_stack([(centre[:, 0] + c0) * dx, (centre[:, 1] + r0) * dy]).astype(float)
    names = tuple(f"b{r}_{c}" for c, r in k)
    return rows[keep], cols[keep], site[keep], pos, names


def _refuse_non_finite(source, pixel, frame=None):
    where = f"frame {frame}, " if frame is not None else ""
    raise WaveInputError(
        f"{source}: the frames hold NaN or infinite values (first at {where}row "
        f"{int(pixel[0])}, "
        f"column {int(pixel[1])}); replace them (e.g. by the pixel's mean) or pass a mask= "
        "that leaves those pixels out."
    )


def check_stack_memory(shape, options: WidefieldOptions, what, held: int = 0) -> int:
    """Refuse, before reading, a stack whose preprocessing would not fit in memory.

    Counted from the declared shape ``(n_frames, n_rows, n_cols)``: the result (float32
    sites x frames, with at most ``rows * cols / bin_factor**2`` sites), the float64 copy
    the detrend makes, and one chunk of frames as float64 twice (read and normalised),
    plus ``held`` bytes already taken (a stack loaded whole). Returns the bytes counted.
    """
    n_t, n_r, n_c = (int(n) for n in shape)
    sites = -(-n_r * n_c // int(options.bin_factor) ** 2)
    out = n_t * sites * (4 + (8 if options.detrend else 0))
    chunk = min(int(options.chunk_frames), n_t) * n_r * n_c * 16
    return check_memory(
        f"{what}: preprocessing {n_t} frames of {n_r} x {n_c} pixels",
        out + chunk + int(held),
        "read fewer frames or a smaller region, bin more (WidefieldOptions(bin_factor=...)), "
        "or check the stack's declared shape.",
    )


def frames_to_field(
    frames,
    fs: float,
    pixel_size_m,
    options: WidefieldOptions | None = None,
    *,
    meta: dict | None = None,
) -> WaveField:
    """A frame stack, read chunk by chunk and preprocessed, as a grid :class:`WaveField`.

    Parameters
    ----------
    frames : array-like, shape (n_frames, n_rows, n_cols)
        Anything with ``.shape`` that slices along the first axis (numpy array or
        memmap, h5py dataset, ...): frame ``t`` is ``frames[t]``, row-major.
    fs : float
        Frame rate in Hz.
    pixel_size_m : float or (float, float)
        Pixel size in metres, or ``(dx, dy)`` for columns and rows.
    options : WidefieldOptions, optional
        The preprocessing (default :class:`WidefieldOptions`, the documented pipeline).
    meta : dict, optional
        Provenance merged into the field's ``meta``.

    Returns
    -------
    WaveField
        float32 sites (pixels or blocks) x frames, positions in metres, time in seconds;
        ``meta`` holds ``grid_shape``, ``mask``, ``pixel_size_m``, ``preprocessing`` and
        ``binned`` (the bin factor, when above 1).
    """
    from scipy import sparse
    from scipy.signal import detrend as _detrend

    opts = WidefieldOptions() if options is None else options
    if not isinstance(opts, WidefieldOptions):
        raise WaveTypeError(
            f"options must be a WidefieldOptions, got {type(opts).__name__}; build one with "
            "wavescope.io.WidefieldOptions(mask=..., bin_factor=...)."
        )
    shape = tuple(getattr(frames, "shape", ()))
    if len(shape) != 3:
        raise WaveInputError(
            f"frames must be 3-D (n_frames, n_rows, n_cols), got shape {shape}; a stack with "
            "channels or planes needs one of them chosen first."
        )
    n_t, n_r, n_c = (int(n) for n in shape)
    if n_t < 2:
        raise WaveInputError(f"a frame stack needs at least 2 frames, got {n_t}.")
    fs = check_positive("fs_hz", fs)
    dx, dy = _pixel_sizes(pixel_size_m)
    chunk = int(opts.chunk_frames)
    source = (meta or {}).get("source", "the frame stack")
    check_stack_memory(shape, opts, source)
    mean = None
    if (isinstance(opts.mask, str) and opts.mask == "cortex") or opts.background == "dff":
        mean = _mean_image(frames, n_t, chunk)
        if not np.all(np.isfinite(mean)):
            _refuse_non_finite(source, np.argwhere(~np.isfinite(mean))[0])
    if isinstance(opts.mask, str):
        mask = (
            cortex_mask_from_mean(mean, erode=opts.erode)
            if opts.mask == "cortex"
            else np.ones((n_r, n_c), bool)
        )
    else:
        mask = np.asarray(opts.mask, bool)
        if mask.shape != (n_r, n_c):
            raise WaveInputError(
                f"mask must have shape {(n_r, n_c)} like one frame, got {mask.shape}."
            )
        if not mask.any():
            raise WaveInputError("mask selects no pixel; nothing to analyse.")
    rows, cols, site, pos, names = _sites(mask, int(opts.bin_factor), dx, dy)
    n_sites = len(names)
    f0 = None
    if opts.background == "dff":
        f0 = mean[rows, cols].astype(np.float32)
        if np.any(f0 <= 0):
            raise WaveInputError(
                "dF/F needs positive baseline fluorescence; some pixels have mean <= 0 "
                "(mask them out, subtract the camera offset so that counts stay positive, or "
                "read with background='none')."
            )
    binning = None
    if opts.bin_factor > 1:
        w = np.full(len(site), 1.0 / opts.bin_factor**2)
        binning = sparse.csr_matrix((w, (site, np.arange(len(site)))), shape=(n_sites, len(site)))
    data = np.empty((n_sites, n_t), np.float32)
    for i0 in range(0, n_t, chunk):
        i1 = min(i0 + chunk, n_t)
        part = np.asarray(frames[i0:i1])[:, rows, cols].astype(np.float32)  # (k, pixels)
        if not np.all(np.isfinite(part)):
            k, j = np.argwhere(~np.isfinite(part))[0]
            _refuse_non_finite(source, (rows[j], cols[j]), i0 + k)
        if f0 is not None:
            part = (part - f0) / f0
        data[:, i0:i1] = part.T if binning is None else binning @ part.T.astype(np.float64)
    if opts.detrend:
        data = _detrend(data, axis=1).astype(np.float32, copy=False)
    m = dict(meta or {})
    m.update(
        grid_shape=(n_r, n_c),
        mask=mask,
        pixel_size_m=(dx, dy),
        preprocessing=opts.describe(),
    )
    if opts.bin_factor > 1:
        m["binned"] = int(opts.bin_factor)
    if opts.band is not None:
        m["analysis_band"] = opts.band
        m["analysis_band_reason"] = (
            "widefield calcium imaging: the 0.1-5 Hz band of Cobrawap's pipeline"
            if opts.band == (0.1, 5.0)
            else "the band given with the widefield options"
        )
        m["analysis_generalized"] = opts.band[1] > 8 * max(opts.band[0], 1e-300)
    return WaveField(data, fs, pos, "m", "s", names, None, m)


def is_widefield_npz(path: str | os.PathLike) -> bool:
    """True when ``path`` is an .npz of frames: it holds ``frames`` and no interchange
    ``data`` (its other keys, ``fs_hz`` and ``pixel_size_m``, are checked when read, so that
    a missing one is named).

    Reads only the archive's directory, not its arrays.
    """
    try:
        if not Path(path).is_file():  # a pipe or a device is never opened here
            return False
        with zipfile.ZipFile(path) as zf:
            keys = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
    except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError, EOFError):
        return False  # damaged (e.g. "zip file version 6.4"): read_npz says what is wrong
    return "frames" in keys and "data" not in keys


def read_widefield(path: str | os.PathLike, options: WidefieldOptions | None = None) -> WaveField:
    """Read and preprocess a widefield .npz (``frames``, ``fs_hz``, ``pixel_size_m``).

    Parameters
    ----------
    path : path-like
        A .npz with ``frames`` (time, rows, cols; any numeric dtype), ``fs_hz`` (frames
        per second) and ``pixel_size_m`` (metres), as the LENS ketamine recording of
        ../shared/data.
    options : WidefieldOptions, optional
        Preprocessing; default the documented pipeline (cortex mask, dF/F, 2 x 2 binning,
        detrend). :data:`RAW_FRAMES` keeps the masked camera counts.

    Returns
    -------
    WaveField
        See :func:`frames_to_field`; ``meta["source"]`` is the path.

    Notes
    -----
    ``np.load`` reads an .npz member whole, so the frames are loaded once (as stored,
    e.g. uint16); the preprocessing then goes chunk by chunk. For stacks larger than
    memory store them as TIFF or HDF5, which are read chunk by chunk from disk.
    """
    from wavescope.io import npz

    path = existing_file(path, "recording")
    opts = WidefieldOptions() if options is None else options
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {n[:-4]: zf.getinfo(n) for n in zf.namelist() if n.endswith(".npy")}
            missing = [k for k in WIDEFIELD_KEYS if k not in infos]
            if missing:
                raise WaveInputError(
                    f"{path}: missing key(s) {missing}; a widefield .npz holds frames (time, "
                    "rows, cols), fs_hz and pixel_size_m."
                )
            heads = {k: npz._member_header(path, zf, infos[k], k) for k in WIDEFIELD_KEYS}
            for key, (kinds, ndims, what) in _WIDEFIELD_FORMS.items():
                shape, _, dtype, _ = heads[key]
                if dtype.hasobject or dtype.kind not in kinds or len(shape) not in ndims:
                    raise WaveInputError(
                        f"{path}: {key!r} must be {what}, got dtype {dtype} with shape {shape}."
                    )
            sizes = {k: npz._check_size(path, k, infos[k], heads[k]) for k in WIDEFIELD_KEYS}
            if isinstance(opts, WidefieldOptions):
                check_stack_memory(heads["frames"][0], opts, path, held=sum(sizes.values()))
            frames, fs, pitch = (
                npz._load_member(path, zf, infos[k], k, heads[k]) for k in WIDEFIELD_KEYS
            )
    except WaveInputError:
        raise
    except npz._DAMAGED as exc:
        raise WaveInputError(f"{path}: unreadable or corrupt .npz ({exc}).") from None
    return frames_to_field(
        frames,
        float(fs),
        pitch if np.ndim(pitch) else float(pitch),
        options,
        meta={"source": str(path), "format": "widefield-npz"},
    )


#: dtype kinds, numbers of dimensions and description of each widefield key
_WIDEFIELD_FORMS = {
    "frames": ("fiub", (3,), "a (time, rows, cols) numeric array"),
    "fs_hz": ("fiu", (0,), "a real scalar (frames per second, e.g. 50.0)"),
    "pixel_size_m": ("fiu", (0, 1), "a real number or a pair (dx, dy) in metres"),
}
