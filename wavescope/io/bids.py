"""BIDS iEEG datasets through mne-bids (extra ``[bids]``) into a :class:`WaveField`.

``mne_bids.read_raw_bids`` reads the recording with its sidecars: contact positions from
``*_electrodes.tsv``, converted to metres with the units of ``*_coordsystem.json``
(``iEEGCoordinateUnits``: m, cm or mm), and bad channels from the ``status`` column of
``*_channels.tsv``. The coordinate system (``iEEGCoordinateSystem``) and the sidecar
files used are recorded in ``meta``. Positions in pixels or in an unknown unit cannot give
speeds in m/s and are refused; a recording without ``*_electrodes.tsv`` is refused with
the paths that were looked at.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from wavescope.core.deps import require
from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError
from wavescope.io.mne_io import from_mne

__all__ = ["read_bids", "BIDS_ENTITIES", "METRIC_UNITS"]

#: BIDS entities that select one recording (passed to ``mne_bids.BIDSPath``).
BIDS_ENTITIES = ("subject", "session", "task", "acquisition", "run", "processing", "space")
#: Coordinate units from which metres follow.
METRIC_UNITS = ("m", "cm", "mm")


def _sidecar(bids_path, suffix: str, extension: str):
    try:
        return bids_path.find_matching_sidecar(
            suffix=suffix, extension=extension, on_error="ignore"
        )
    except Exception:  # pragma: no cover - mne-bids raises on ambiguous matches
        return None


def _data_extensions(datatype: str) -> list[str]:
    from mne_bids.config import ALLOWED_DATATYPE_EXTENSIONS

    return list(ALLOWED_DATATYPE_EXTENSIONS.get(datatype, [])) or [".vhdr", ".edf"]


def read_bids(
    root: str | os.PathLike,
    *,
    subject: str | None = None,
    session: str | None = None,
    task: str | None = None,
    run: str | None = None,
    acquisition: str | None = None,
    processing: str | None = None,
    datatype: str = "ieeg",
    picks=None,
    projection: str | None = "plane",
):
    """Read one iEEG recording of a BIDS dataset, positions and bad channels included.

    Parameters
    ----------
    root : path-like
        The dataset's root folder (with ``dataset_description.json``), or the path of a
        recording file inside it (``sub-01/ieeg/sub-01_task-rest_ieeg.vhdr``), whose
        entities are then read from its name.
    subject, session, task, run, acquisition, processing : str, optional
        BIDS entities of the recording (without the ``sub-``/``ses-``... prefixes);
        ``subject`` is needed with a root folder, the others where the dataset has
        several values (the error lists them).
    datatype : str
        ``"ieeg"`` (default) or ``"eeg"``.
    picks, projection
        See :func:`wavescope.io.from_mne` (default: the first of ECoG, sEEG, DBS, EEG).

    Returns
    -------
    WaveField, or list of WaveField for epoched data
        Positions in metres; ``meta`` adds ``bids_path``, ``coordinate_system``,
        ``coordinate_units``, ``electrodes_tsv`` and ``coordsystem_json``.
    """
    mne_bids = require("mne_bids", "reading BIDS datasets")
    root = Path(root)
    if not root.exists():
        raise WaveFileNotFoundError(f"{root}: no such file or folder.")
    if root.is_file():
        bids_path = mne_bids.get_bids_path_from_fname(root)
        if bids_path.root is None:
            raise WaveInputError(f"{root}: not inside a BIDS dataset (no sub-*/ folder above).")
    else:
        if not (root / "dataset_description.json").exists():
            raise WaveInputError(
                f"{root}: not a BIDS root (no dataset_description.json); give the dataset's "
                "top folder."
            )
        given = {
            "subject": subject,
            "session": session,
            "task": task,
            "run": run,
            "acquisition": acquisition,
            "processing": processing,
        }
        if subject is None:
            subs = mne_bids.get_entity_vals(root, "subject")
            raise WaveInputError(
                f"{root}: a BIDS dataset; choose the recording with subject= (subjects: "
                f"{subs[:20]}), and task=/session=/run= where there are several."
            )
        matches = mne_bids.find_matching_paths(
            root,
            subjects=subject,
            sessions=session,
            tasks=task,
            runs=run,
            acquisitions=acquisition,
            processings=processing,
            datatypes=datatype,
            suffixes=datatype,
            extensions=_data_extensions(datatype),
            ignore_json=True,
        )
        if len(matches) != 1:
            what = ", ".join(f"{k}={v!r}" for k, v in given.items() if v is not None)
            found = [m.basename for m in matches]
            raise WaveInputError(
                f"{root}: {len(matches)} {datatype} recordings match {what}"
                + (
                    f": {found[:10]}; add task=/session=/run=/acquisition= to choose one."
                    if found
                    else f"; subjects present: {mne_bids.get_entity_vals(root, 'subject')[:20]}, "
                    f"tasks: {mne_bids.get_entity_vals(root, 'task')[:20]}."
                )
            )
        bids_path = matches[0]
    electrodes = _sidecar(bids_path, "electrodes", ".tsv")
    coordsystem = _sidecar(bids_path, "coordsystem", ".json")
    folder = Path(bids_path.directory)
    if electrodes is None or coordsystem is None:
        raise WaveInputError(
            f"{bids_path.fpath}: no contact positions: looked for *_electrodes.tsv and "
            f"*_coordsystem.json in {folder} (and the session/subject folders above it), found "
            f"{'neither' if electrodes is None and coordsystem is None else 'only one'}. "
            "Add them (mne_bids.write_raw_bids writes them from the montage)."
        )
    cs = json.loads(Path(coordsystem).read_text(encoding="utf-8"))
    key = "iEEG" if datatype == "ieeg" else "EEG"
    units = cs.get(f"{key}CoordinateUnits")
    system = cs.get(f"{key}CoordinateSystem")
    if units not in METRIC_UNITS:
        raise WaveInputError(
            f"{coordsystem}: {key}CoordinateUnits is {units!r}; positions in metres need "
            f"one of {METRIC_UNITS} (pixels or 'n/a' cannot give speeds in m/s): fix the "
            "sidecar or convert the positions."
        )
    try:
        raw = mne_bids.read_raw_bids(bids_path, verbose="error")
    except Exception as exc:
        raise WaveInputError(
            f"{bids_path.fpath}: mne-bids could not read it ({type(exc).__name__}: {exc})."
        ) from None
    try:
        field = from_mne(raw, picks=picks, projection=projection)
    except WaveInputError as exc:
        if "no position" in str(exc):
            raise WaveInputError(
                f"{bids_path.fpath}: {exc} Positions come from {electrodes}: give every "
                "channel x, y, z there (or status 'bad' in *_channels.tsv)."
            ) from None
        raise
    extra = {
        "source": str(bids_path.fpath),
        "format": "bids",
        "bids_path": str(bids_path.fpath),
        "coordinate_system": system,
        "coordinate_units": units,
        "electrodes_tsv": str(electrodes),
        "coordsystem_json": str(coordsystem),
    }
    if bids_path.subject:  # BIDS names the subject; sessions are its repeated measures
        extra["subject"] = f"sub-{bids_path.subject}"
    for f in field if isinstance(field, list) else [field]:
        f.meta.update(extra)
    return field
