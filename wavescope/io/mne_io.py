"""Reading recordings through MNE (files, or Raw / Epochs / Evoked in memory) into
:class:`~wavescope.WaveField`.

Positions come from the montage (metres, in the montage's coordinate frame); channels
in ``info['bads']`` become bad (masked) sites; 3-D positions are projected onto a 2-D
surface when ``projection`` is given (see :mod:`wavescope.io.projection`). MNE is
imported only when these functions run.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError, WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.io.projection import project_positions

__all__ = ["from_mne", "read_mne_file", "read_recording"]

DATA_TYPES = ("ecog", "seeg", "dbs", "eeg")


def _positions(info, picks) -> tuple[np.ndarray, np.ndarray]:
    """Montage positions (n, 3) of the picked channels and a mask of channels without one."""
    pos = np.array([info["chs"][i]["loc"][:3] for i in picks], float)
    missing = ~np.all(np.isfinite(pos), axis=1) | np.all(pos == 0, axis=1)
    return pos, missing


#: Channel types that carry brain signals: dropping one of these is worth a warning.
BRAIN_TYPES = DATA_TYPES + ("mag", "grad", "csd")


def _channel_types_text(types) -> str:
    counts = Counter(types)
    return ", ".join(f"{t} ({n})" for t, n in sorted(counts.items()))


def _pick_indices(mne, inst, picks) -> tuple[np.ndarray, list | str, bool]:
    """Indices of the picked channels, the picks as recorded in meta, and whether the
    default choice was made (picks=None)."""
    info = inst.info
    types = inst.get_channel_types()
    present = set(types)
    known = set(mne.io.get_channel_type_constants())
    if picks is None:
        wanted = [t for t in DATA_TYPES if t in present]
        if not wanted:
            raise WaveInputError(
                f"no ECoG/sEEG/DBS/EEG channels (types present: {_channel_types_text(types)}); "
                "pass picks= (a channel type such as 'ecog', a list of types, or channel names)."
            )
        chosen = wanted[:1]
        return np.flatnonzero(np.isin(types, chosen)), chosen, True
    as_list = [picks] if isinstance(picks, str) else picks
    if (
        isinstance(as_list, (list, tuple))
        and as_list
        and all(isinstance(p, str) and p in known for p in as_list)
    ):
        absent = [t for t in as_list if t not in present]
        if absent:
            raise WaveInputError(
                f"picks={list(as_list)}: no channel of type(s) {absent} in this recording; "
                f"types present: {_channel_types_text(types)}."
            )
        return np.flatnonzero(np.isin(types, as_list)), list(as_list), False
    try:
        idx = mne._fiff.pick._picks_to_idx(info, picks, exclude=())
    except (ValueError, TypeError, IndexError) as exc:
        raise WaveInputError(
            f"picks={picks!r} selects nothing usable ({exc}); give channel type(s) (types "
            f"present: {_channel_types_text(types)}), channel names, or indices."
        ) from None
    return np.asarray(idx), picks if isinstance(picks, str) else list(picks), False


def from_mne(inst, *, picks=None, projection: str | None = "plane", dtype=np.float32):
    """Convert an MNE ``Raw``, ``Epochs`` or ``Evoked`` to a :class:`WaveField` (or a list).

    Parameters
    ----------
    inst : mne.io.BaseRaw, mne.BaseEpochs or mne.Evoked
        The recording, in memory or read from a file; it needs a montage
        (``inst.set_montage``) for positions.
    picks : str or list, optional
        Channels to use: a channel type (``"ecog"``, ``"seeg"``, ``"eeg"``, ...), a list of
        types, channel names or indices (MNE picks). Default: the first of ECoG, sEEG, DBS,
        EEG present (one type: surface and depth contacts do not share one surface); the
        brain channels of other types left out are named in a warning. Bad channels are
        included and marked bad. A type that the recording lacks is an error listing the
        types present.
    projection : {"plane", "sphere", None}
        Project 3-D contact positions to 2-D surface coordinates; None keeps 3-D.
    dtype : numpy dtype
        Sample type (float32 by default; MNE's volts are kept as they are).

    Returns
    -------
    WaveField, or list of WaveField (one per epoch) for Epochs.
        ``meta["picks"]`` records the picks used and ``meta["dropped_channels"]`` the
        names of the channels left out (all types).
    """
    import mne

    if not isinstance(inst, (mne.io.BaseRaw, mne.BaseEpochs, mne.Evoked)):
        raise WaveTypeError(
            f"expected an MNE Raw, Epochs or Evoked, got {type(inst).__name__}; read files "
            "with wavescope.io.read_recording(path)."
        )
    info = inst.info
    idx, used_picks, default = _pick_indices(mne, inst, picks)
    if len(idx) == 0:
        raise WaveInputError(f"picks={picks!r} selects no channel.")
    names = [info["ch_names"][i] for i in idx]
    types = inst.get_channel_types()
    keep = np.zeros(len(types), bool)
    keep[idx] = True
    dropped = [n for n, k in zip(info["ch_names"], keep) if not k]
    dropped_brain = [
        (n, t) for n, t, k in zip(info["ch_names"], types, keep) if not k and t in BRAIN_TYPES
    ]
    if default and dropped_brain:
        other = sorted({t for _, t in dropped_brain})
        warnings.warn(
            f"picked the {len(idx)} {used_picks[0]} channel(s); left out "
            f"{len(dropped_brain)} other brain channel(s): "
            f"{_channel_types_text([t for _, t in dropped_brain])} "
            f"({', '.join(n for n, _ in dropped_brain[:5])}"
            f"{', ...' if len(dropped_brain) > 5 else ''}). Pass picks={other[:1]!r} to "
            "measure those instead (one channel type at a time: surface and depth contacts "
            "do not share one surface); field.meta['dropped_channels'] lists them all.",
            UserWarning,
            stacklevel=2,
        )
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
    montage = inst.get_montage()
    frame = montage.get_positions()["coord_frame"] if montage is not None else "head"
    meta = {
        **_subject_meta(info),
        "source": str(inst.filenames[0]) if getattr(inst, "filenames", None) else None,
        "coord_frame": frame,
        "n_dims_original": 3,
        "picks": used_picks,
        "dropped_channels": dropped,
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
    if isinstance(inst, mne.Evoked):
        meta.update(kind="evoked", nave=int(inst.nave), comment=inst.comment, tmin=inst.tmin)
    data = inst.get_data(picks=idx).astype(dtype)
    return WaveField(data, fs, pos, "m", "s", tuple(names), bad, meta)


def read_mne_file(
    path: str | os.PathLike, *, picks=None, projection: str | None = "plane", preload: bool = True
):
    """Read a file MNE reads (FIF, EDF, BDF, BrainVision, EEGLAB, ...) as a WaveField.

    ``*-epo.fif`` files give one field per epoch, ``*-ave.fif`` the first evoked
    response. See :func:`from_mne` for ``picks`` and ``projection``.
    """
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such file.")
    import mne

    name = path.name.lower()
    try:
        if name.endswith(("-epo.fif", "_epo.fif", "-epo.fif.gz")):
            inst = mne.read_epochs(path, preload=True, verbose="error")
        elif name.endswith(("-ave.fif", "_ave.fif", "-ave.fif.gz")):
            inst = mne.read_evokeds(path, condition=0, verbose="error")
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


def read_recording(path, **kwargs):
    """Alias of :func:`wavescope.io.read_recording` (kept for this module's old import path)."""
    from wavescope.io.recording import read_recording as _read

    return _read(path, **kwargs)


def _subject_meta(info) -> dict:
    """``{"subject": ...}`` from MNE's ``subject_info`` (its ``his_id``, else its ``id``),
    or nothing: the unit of replication a comparison counts."""
    si = info.get("subject_info") or {}
    sid = si.get("his_id") or si.get("id")
    return {"subject": str(sid)} if sid not in (None, "") else {}
