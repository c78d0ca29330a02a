"""One entry point for every input: :func:`read_recording` chooses the reader.

=====================================  ==============================================
input                                  reader
=====================================  ==============================================
MNE ``Raw`` / ``Epochs`` / ``Evoked``  :func:`wavescope.io.from_mne`
Neo ``Block`` / ``Segment`` / signal   :func:`wavescope.io.from_neo` (needs a map)
``.npz`` with ``data, fs, positions``  :func:`wavescope.io.read_npz` (interchange)
``.npz`` with ``frames, fs_hz, ...``   :func:`wavescope.io.read_widefield`
``.nwb`` (or HDF5 with NWB content)    :func:`wavescope.io.read_nwb`
``.tif`` / ``.tiff``                   :func:`wavescope.io.read_tiff`
``.h5`` / ``.hdf5``                    :func:`wavescope.io.read_hdf5_frames`
``.ns1`` ... ``.ns6``                  :func:`wavescope.io.read_blackrock` (needs a map)
a folder with dataset_description.json :func:`wavescope.io.read_bids`
anything else                          MNE's readers (FIF, EDF, BDF, BrainVision, ...)
=====================================  ==============================================

``picks`` is one contract for every input: channel names or indices select sites
everywhere; channel types only where the format records them (MNE, BIDS), and a type
given for another input is an error (:mod:`wavescope.io.picks`).

Options that only some readers take (``series=``, ``subject=``, ``electrode_map=``,
``fs_hz=``, ...) are passed on by keyword; one that does not apply to the input is an
error naming those that do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from wavescope.core.errors import WaveFileNotFoundError, WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_regular_file

__all__ = ["read_recording", "recording_format", "FORMAT_OPTIONS"]

#: Keyword options each input kind accepts (besides picks, projection, preload, widefield).
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "mne": (),
    "mne-object": (),
    "npz": ("mmap",),
    "widefield-npz": (),
    "nwb": ("series", "group", "coordinates", "position_unit", "bad", "pixel_size_m", "dtype"),
    "tiff": ("fs_hz", "pixel_size_m"),
    "hdf5": ("dataset", "fs_hz", "pixel_size_m"),
    "blackrock": ("electrode_map", "pitch_m", "bad", "dtype"),
    "neo-object": ("electrode_map", "pitch_m", "signal", "bad", "dtype"),
    "bids": ("subject", "session", "task", "run", "acquisition", "processing", "datatype"),
    "wavefield": (),
}
_FRAME_FORMATS = ("widefield-npz", "tiff", "hdf5", "nwb")
#: Inputs that record channel types: their readers apply ``picks`` through MNE.
TYPED_FORMATS = ("mne", "mne-object", "bids")
#: ``projection`` left at its default: each reader's own ("plane" for MNE and BIDS
#: montages, "auto" for NWB electrode tables).
DEFAULT = "default"


def _is_nwb_hdf5(path: Path) -> bool:
    try:
        import h5py
    except ImportError:
        return False
    try:
        with h5py.File(path, "r") as f:
            return "nwb_version" in f.attrs
    except Exception:  # not HDF5, or damaged: the HDF5 reader says which
        return False


def recording_format(source) -> str:
    """The input kind of ``source`` (a key of :data:`FORMAT_OPTIONS`), without reading it."""
    if isinstance(source, WaveField):
        return "wavefield"
    module = type(source).__module__.split(".")[0]
    if module == "mne":
        return "mne-object"
    if module == "neo":
        return "neo-object"
    if not isinstance(source, (str, os.PathLike)):
        raise WaveTypeError(
            f"read_recording takes a path, an MNE Raw/Epochs/Evoked or a Neo Block, got "
            f"{type(source).__name__}; for arrays build a WaveField with "
            "WaveField.from_array(data, fs, positions)."
        )
    path = Path(source)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such file or folder.")
    if path.is_dir():
        if (path / "dataset_description.json").exists():
            return "bids"
        raise WaveInputError(
            f"{path} is a folder without dataset_description.json (not a BIDS root); give a "
            "recording file, or measure every file of a folder with wavescope.waves.batch."
        )
    check_regular_file(path, "recording")  # a pipe or a device is never opened
    suffix = path.suffix.lower()
    if suffix == ".npz":
        from wavescope.io.widefield import is_widefield_npz

        return "widefield-npz" if is_widefield_npz(path) else "npz"
    if suffix == ".nwb":
        return "nwb"
    if suffix in (".tif", ".tiff"):
        return "tiff"
    if suffix in (".h5", ".hdf5"):
        return "nwb" if _is_nwb_hdf5(path) else "hdf5"
    if re.fullmatch(r"\.ns[1-6]", suffix):
        return "blackrock"
    return "mne"


def read_recording(
    path,
    *,
    picks=None,
    projection: str | None = DEFAULT,
    preload: bool = True,
    widefield=None,
    **options,
):
    """Read any supported recording, file or in-memory object, as a :class:`WaveField`.

    Parameters
    ----------
    path : path-like, MNE Raw/Epochs/Evoked, or Neo Block/Segment/AnalogSignal
        The input; the reader is chosen by object type, suffix and content (see the
        module docstring): an .npz with ``frames, fs_hz, pixel_size_m`` is a widefield
        recording, one with ``data, fs, positions`` the interchange format.
    picks : str, int or list, optional
        Channels to keep, the same way for every input: channel names or indices, and,
        where the format records channel types (MNE files and objects, BIDS), channel
        type(s) too (see :func:`~wavescope.io.from_mne`). A channel type on any other
        input is refused (:func:`wavescope.io.picks.pick_sites`), never ignored.
    projection : {"default", "plane", "sphere", "auto", None}
        3-D contact positions onto a surface: ``"default"`` is each reader's own
        (``"plane"`` for MNE and BIDS montages, ``"auto"`` for NWB electrode tables, which
        keeps a flat array's own axes). Ignored for grids and .npz.
    preload : bool
        MNE files: load the samples (True, default).
    widefield : WidefieldOptions, optional
        Frame stacks (widefield .npz, TIFF, HDF5, NWB imaging): the preprocessing
        (default :class:`~wavescope.io.WidefieldOptions`: cortex mask, dF/F, 2 x 2
        binning, detrend; :data:`~wavescope.io.RAW_FRAMES` for the masked counts).
    **options
        Reader-specific options (:data:`FORMAT_OPTIONS`): ``series``, ``group``,
        ``position_unit`` (NWB); ``subject``, ``session``, ``task``, ``run`` (BIDS);
        ``fs_hz``, ``pixel_size_m``, ``dataset`` (TIFF, HDF5); ``electrode_map``,
        ``pitch_m`` (Blackrock, Neo); ``mmap`` (.npz).

    Returns
    -------
    WaveField, or list of WaveField for epoched data
    """
    fmt = recording_format(path)
    allowed = FORMAT_OPTIONS[fmt]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise WaveInputError(
            f"option(s) {unknown} do not apply to a {fmt} input; "
            + (f"options for it: {', '.join(allowed)}." if allowed else "it takes none.")
        )
    if widefield is not None and fmt not in _FRAME_FORMATS:
        raise WaveInputError(
            f"widefield= applies to frame stacks (widefield .npz, TIFF, HDF5, NWB imaging), "
            f"not to a {fmt} input."
        )
    if fmt in TYPED_FORMATS:
        return _read(fmt, path, picks, projection, preload, widefield, options)
    from wavescope.io.picks import pick_sites

    field = _read(fmt, path, None, projection, preload, widefield, options)
    if isinstance(field, list):
        return [pick_sites(f, picks, fmt) for f in field]
    return pick_sites(field, picks, fmt)


def _read(fmt: str, path, picks, projection, preload: bool, widefield, options: dict):
    """The reader of ``fmt`` on ``path`` (picks reach the readers of TYPED_FORMATS only)."""
    mne_projection = "plane" if projection == DEFAULT else projection
    if fmt == "wavefield":
        return path
    if fmt == "mne-object":
        from wavescope.io.mne_io import from_mne

        return from_mne(path, picks=picks, projection=mne_projection)
    if fmt == "neo-object":
        from wavescope.io.neo_io import from_neo

        return from_neo(path, options.pop("electrode_map", None), **options)
    if fmt == "npz":
        from wavescope.io.npz import read_npz

        return read_npz(path, **options)
    if fmt == "widefield-npz":
        from wavescope.io.widefield import read_widefield

        return read_widefield(path, widefield)
    if fmt == "nwb":
        from wavescope.io.nwb import read_nwb

        return read_nwb(
            path,
            projection="auto" if projection == DEFAULT else projection,
            options=widefield,
            **options,
        )
    if fmt == "tiff":
        from wavescope.io.imaging import read_tiff

        return read_tiff(path, options=widefield, **options)
    if fmt == "hdf5":
        from wavescope.io.imaging import read_hdf5_frames

        return read_hdf5_frames(path, options=widefield, **options)
    if fmt == "blackrock":
        from wavescope.io.neo_io import read_blackrock

        return read_blackrock(path, **options)
    if fmt == "bids":
        from wavescope.io.bids import read_bids

        return read_bids(path, picks=picks, projection=mne_projection, **options)
    from wavescope.io.mne_io import read_mne_file

    return read_mne_file(path, picks=picks, projection=mne_projection, preload=preload)
