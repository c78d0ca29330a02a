"""Reading recordings through MNE into :class:`~wavescope.WaveField`.

Positions come from the montage (metres, in the montage's coordinate frame); channels
in ``info['bads']`` become bad (masked) sites; 3-D positions are projected onto a 2-D
surface when ``projection`` is given (see :mod:`wavescope.io.projection`). MNE is
imported only when these functions run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.io.npz import read_npz
from wavescope.io.projection import project_positions

__all__ = ["from_mne", "read_recording"]

DATA_TYPES = ("ecog", "seeg", "dbs", "eeg")


def _positions(info, picks) -> tuple[np.ndarray, np.ndarray]:
    """Montage positions (n, 3) of the picked channels and a mask of channels without one."""
    pos = np.array([info["chs"][i]["loc"][:3] for i in picks], float)
    missing = ~np.all(np.isfinite(pos), axis=1) | np.all(pos == 0, axis=1)
    return pos, missing


def from_mne(inst, *, picks=None, projection: str | None = "plane", dtype=np.float32):
    """Convert an MNE ``Raw`` or ``Epochs`` to a :class:`WaveField` (or a list of them).

    Parameters
    ----------
    inst : mne.io.BaseRaw or mne.BaseEpochs
        The recording; it needs a montage (``inst.set_montage``) for positions.
    picks : str or list, optional
        Channels to use (MNE picks, or a list of channel types). Default: the first of
        ECoG, sEEG, DBS, EEG present (one type: surface and depth contacts do not share
        one surface). Bad channels are included and marked bad.
    projection : {"plane", "sphere", None}
        Project 3-D contact positions to 2-D surface coordinates; None keeps 3-D.
    dtype : numpy dtype
        Sample type (float32 by default; MNE's volts are kept as they are).

    Returns
    -------
    WaveField, or list of WaveField (one per epoch) for Epochs.
    """
    import mne

    if not isinstance(inst, (mne.io.BaseRaw, mne.BaseEpochs)):
        raise WaveInputError(f"expected an MNE Raw or Epochs, got {type(inst).__name__}.")
    info = inst.info
    if picks is None:
        types = set(inst.get_channel_types())
        wanted = [t for t in DATA_TYPES if t in types]
        if not wanted:
            raise WaveInputError(
                f"no ECoG/sEEG/DBS/EEG channels (types present: {sorted(types)}); pass picks=."
            )
        picks = wanted[:1]
    idx = (
        mne.pick_types(info, **{t: True for t in picks}, exclude=[])
        if (isinstance(picks, list) and all(t in DATA_TYPES for t in picks))
        else mne._fiff.pick._picks_to_idx(info, picks, exclude=())
    )
    names = [info["ch_names"][i] for i in idx]
    bad = np.isin(names, info["bads"])
    pos, missing = _positions(info, idx)
    lacking = missing & ~bad
    if lacking.any():
        miss = [n for n, m in zip(names, lacking) if m]
        raise WaveInputError(
            f"{len(miss)} channel(s) have no position ({miss[:6]}...): set a montage with "
            "inst.set_montage(...), or mark them bad (info['bads']) or drop them."
        )
    if missing.any():  # bad channels without a position: any finite position will do
        pos[missing] = np.nanmean(pos[~missing], axis=0) if (~missing).any() else 0.0
    meta = {
        "source": str(inst.filenames[0]) if getattr(inst, "filenames", None) else None,
        "coord_frame": "head",
        "n_dims_original": 3,
    }
    if projection is not None:
        xy, pinfo = project_positions(pos[~missing] if missing.any() else pos, projection)
        if missing.any():
            full = np.zeros((len(pos), 2))
            full[~missing] = xy
            full[missing] = xy.mean(axis=0)
            xy = full
        pos = xy
        meta["projection"] = pinfo
    fs = float(info["sfreq"])
    if isinstance(inst, mne.BaseEpochs):
        data = inst.get_data(picks=idx)
        return [
            WaveField(d.astype(dtype), fs, pos, "m", "s", tuple(names), bad, dict(meta, epoch=i))
            for i, d in enumerate(data)
        ]
    data = inst.get_data(picks=idx).astype(dtype)
    return WaveField(data, fs, pos, "m", "s", tuple(names), bad, meta)


def read_recording(
    path: str | os.PathLike, *, picks=None, projection: str | None = "plane", preload: bool = True
):
    """Read any file MNE can read (FIF, EDF, BDF, BrainVision, EEGLAB, ...) or an
    interchange .npz, as a :class:`WaveField`.

    Parameters
    ----------
    path : str or path-like
    picks, projection
        See :func:`from_mne` (ignored for .npz).
    """
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such file.")
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    import mne

    try:
        if path.name.endswith(("-epo.fif", "_epo.fif", "-epo.fif.gz")):
            inst = mne.read_epochs(path, preload=True, verbose="error")
        else:
            inst = mne.io.read_raw(path, preload=preload, verbose="error")
    except Exception as exc:
        raise WaveInputError(
            f"{path}: MNE could not read it ({type(exc).__name__}: {exc}). Check that the file "
            "is complete and in a format MNE reads (FIF, EDF, BDF, BrainVision .vhdr, ...), or "
            "convert it to the .npz interchange format."
        ) from None
    field = from_mne(inst, picks=picks, projection=projection)
    if isinstance(field, WaveField):
        field.meta["source"] = str(path)
    return field
