"""Utah arrays: Blackrock files through Neo (extra ``[neo]``) plus an electrode map.

A Blackrock ``.ns1`` - ``.ns6`` file holds the samples and each channel's label and
electrode id, but not where the electrode sits on the array; that comes from an
electrode map giving each channel's grid position (row, column), and the array's pitch
(0.4 mm for Utah arrays) turns grid positions into metres: ``x = col * pitch``,
``y = row * pitch``.

Two map formats are read by :func:`read_electrode_map`:

- a CSV or TSV table with a header ``channel,row,col`` (``channel``: the channel label,
  e.g. ``elec12``, or the electrode id, e.g. ``12``; a fourth column ``bad`` with
  1/true/yes marks bad channels)::

      channel,row,col
      elec1,0,0
      elec2,0,1
      elec3,1,0

- Blackrock's ``.cmp`` map: ``//`` comment lines and a title line, then one line per
  electrode ``col row bank electrode [label]`` (tab- or space-separated), where the bank
  letter A, B, C, D counts 0, 32, 64, 96 electrodes before it, so the electrode id is
  ``32 * bank + electrode``.

Channels are matched to the map by label first, then by electrode id. Channels without a
map entry (analogue inputs, other arrays) are left out with a warning; map entries without
a channel are ignored. :func:`from_neo` works on any Neo ``Block``/``Segment``/
``AnalogSignal`` (e.g. one built in memory), :func:`read_blackrock` reads the file with
``neo.io.BlackrockIO``.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavescope.core.deps import require
from wavescope.core.errors import WaveFileNotFoundError, WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_positive

__all__ = ["ElectrodeMap", "read_electrode_map", "from_neo", "read_blackrock", "UTAH_PITCH_M"]

#: Electrode pitch of a Utah array, metres.
UTAH_PITCH_M = 0.4e-3
_TRUE = {"1", "true", "yes", "y", "bad"}


@dataclass(frozen=True)
class ElectrodeMap:
    """Grid positions of an array's channels.

    Attributes
    ----------
    channels : tuple of str
        Channel keys: labels (``elec12``) or electrode ids (``12``) as text.
    rows, cols : ndarray of int
        Grid row and column of each channel.
    bad : ndarray of bool
        Channels the map marks bad.
    ids : tuple of str
        Electrode ids (the ``.cmp`` bank/electrode number; the channel key for a table).
    source : str
        Where the map came from.
    """

    channels: tuple
    rows: np.ndarray
    cols: np.ndarray
    bad: np.ndarray
    ids: tuple
    source: str = ""

    def lookup(self, label: str, electrode_id) -> int | None:
        """Index of the entry for a channel with this label or electrode id, or None."""
        table = {c: i for i, c in enumerate(self.channels)}
        if label in table:
            return table[label]
        by_id = {c: i for i, c in enumerate(self.ids)}
        key = str(electrode_id).strip() if electrode_id is not None else None
        if key is not None and key in by_id:
            return by_id[key]
        if key is not None and key in table:
            return table[key]
        return None


def _read_table(path: Path) -> ElectrodeMap:
    text = path.read_text(encoding="utf-8-sig")
    delim = "\t" if "\t" in text.splitlines()[0] else ","
    reader = csv.DictReader((ln for ln in text.splitlines() if ln.strip()), delimiter=delim)
    cols = [c.strip().lower() for c in (reader.fieldnames or [])]
    need = ("channel", "row", "col")
    if not all(c in cols for c in need):
        raise WaveInputError(
            f"{path}: an electrode map table needs the header channel,row,col (got "
            f"{reader.fieldnames}); e.g.\nchannel,row,col\nelec1,0,0\nelec2,0,1"
        )
    ch, rr, cc, bad = [], [], [], []
    for i, row in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        try:
            rr.append(int(row["row"]))
            cc.append(int(row["col"]))
        except ValueError:
            raise WaveInputError(
                f"{path}, line {i}: row and col must be integers, got {row['row']!r}, "
                f"{row['col']!r}."
            ) from None
        ch.append(row["channel"])
        bad.append(row.get("bad", "").lower() in _TRUE)
    return _checked(ch, rr, cc, bad, tuple(ch), path)


_CMP_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+([A-Za-z])\s+(\d+)(?:\s+(\S+))?\s*$")


def _read_cmp(path: Path) -> ElectrodeMap:
    ch, rr, cc, ids = [], [], [], []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip().startswith("//"):
            continue
        m = _CMP_LINE.match(line)
        if not m:
            continue  # the title line and blank lines
        col, row, bank, elec, label = m.groups()
        eid = 32 * (ord(bank.upper()) - ord("A")) + int(elec)
        ids.append(str(eid))
        ch.append(label if label else str(eid))
        rr.append(int(row))
        cc.append(int(col))
    if not ch:
        raise WaveInputError(
            f"{path}: no electrode line found; a .cmp line is 'col row bank electrode label', "
            "e.g. '0\t9\tA\t1\telec1'."
        )
    return _checked(ch, rr, cc, [False] * len(ch), tuple(ids), path)


def _checked(ch, rr, cc, bad, ids, path) -> ElectrodeMap:
    if len(set(ch)) != len(ch):
        dup = sorted({c for c in ch if ch.count(c) > 1})
        raise WaveInputError(f"{path}: channels listed twice in the map: {dup[:5]}.")
    cells = list(zip(rr, cc))
    if len(set(cells)) != len(cells):
        raise WaveInputError(f"{path}: two channels share one grid position; check the map.")
    if min(rr) < 0 or min(cc) < 0:
        raise WaveInputError(f"{path}: rows and columns must be >= 0.")
    return ElectrodeMap(
        tuple(ch), np.asarray(rr), np.asarray(cc), np.asarray(bad, bool), tuple(ids), str(path)
    )


def read_electrode_map(path: str | os.PathLike) -> ElectrodeMap:
    """Read an electrode map: a ``channel,row,col`` CSV/TSV or a Blackrock ``.cmp`` file."""
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such electrode map file.")
    if path.suffix.lower() == ".cmp":
        return _read_cmp(path)
    return _read_table(path)


def _as_map(electrode_map) -> ElectrodeMap:
    if electrode_map is None:
        raise WaveInputError(
            "a Utah-array recording has no electrode positions in the file: pass "
            "electrode_map= (a channel,row,col CSV/TSV or a Blackrock .cmp file) and "
            f"pitch_m= (Utah arrays: {UTAH_PITCH_M} m)."
        )
    if isinstance(electrode_map, ElectrodeMap):
        return electrode_map
    return read_electrode_map(electrode_map)


def _signal_of(obj, signal):
    neo = require("neo", "reading Neo data")
    if isinstance(obj, neo.Block):
        sigs = [s for seg in obj.segments for s in seg.analogsignals]
    elif isinstance(obj, neo.Segment):
        sigs = list(obj.analogsignals)
    elif isinstance(obj, neo.AnalogSignal):
        return obj
    else:
        raise WaveTypeError(
            f"expected a Neo Block, Segment or AnalogSignal, got {type(obj).__name__}."
        )
    if not sigs:
        raise WaveInputError("the Neo object holds no AnalogSignal.")
    if signal is None:
        if len(sigs) > 1:
            raise WaveInputError(
                f"{len(sigs)} analog signals ({[s.name for s in sigs]}, rates "
                f"{[float(s.sampling_rate.rescale('Hz')) for s in sigs]} Hz); choose one with "
                "signal= (its name or index)."
            )
        return sigs[0]
    if isinstance(signal, (int, np.integer)):
        return sigs[int(signal)]
    named = [s for s in sigs if s.name == signal]
    if len(named) != 1:
        raise WaveInputError(
            f"no single analog signal named {signal!r}; names: {[s.name for s in sigs]}."
        )
    return named[0]


def from_neo(
    obj,
    electrode_map,
    *,
    pitch_m: float = UTAH_PITCH_M,
    signal: str | int | None = None,
    bad=(),
    dtype=np.float32,
) -> WaveField:
    """A Neo recording of a grid array, with positions from an electrode map.

    Parameters
    ----------
    obj : neo.Block, neo.Segment or neo.AnalogSignal
        The recording (read by a Neo IO, or built in memory).
    electrode_map : ElectrodeMap or path-like
        Each channel's grid (row, col): see :func:`read_electrode_map`.
    pitch_m : float
        Distance between neighbouring electrodes, metres (Utah arrays: 0.4 mm).
    signal : str or int, optional
        Which AnalogSignal (name or index), when there are several.
    bad : sequence of str
        Channel labels to mark bad, on top of those the map marks.
    dtype : numpy dtype
        Sample type (float32 by default); samples are converted to volts.

    Returns
    -------
    WaveField
        Mapped channels only, positions ``(col * pitch, row * pitch)`` in metres;
        ``meta["unmapped_channels"]`` names the channels left out.
    """
    require("neo", "reading Neo data")
    import quantities as pq  # a dependency of neo

    emap = _as_map(electrode_map)
    pitch = check_positive("pitch_m", pitch_m)
    sig = _signal_of(obj, signal)
    n_ch = sig.shape[1]
    ann = getattr(sig, "array_annotations", {}) or {}
    labels = [str(x) for x in ann.get("channel_names", [f"ch{i}" for i in range(n_ch)])]
    ids = list(ann.get("channel_ids", [None] * n_ch))
    entry = [emap.lookup(lab, eid) for lab, eid in zip(labels, ids)]
    keep = [i for i, e in enumerate(entry) if e is not None]
    unmapped = [labels[i] for i, e in enumerate(entry) if e is None]
    if not keep:
        raise WaveInputError(
            f"no channel of the recording is in the electrode map {emap.source}: channels "
            f"{labels[:6]} (ids {ids[:6]}), map keys {list(emap.channels[:6])}; the map's "
            "channel column must hold the labels or the electrode ids."
        )
    if unmapped:
        warnings.warn(
            f"{len(unmapped)} channel(s) are not in the electrode map and were left out: "
            f"{unmapped[:6]}{' ...' if len(unmapped) > 6 else ''}.",
            UserWarning,
            stacklevel=2,
        )
    e = np.asarray([entry[i] for i in keep])
    names = tuple(labels[i] for i in keep)
    unknown = set(bad) - set(names)
    if unknown:
        raise WaveInputError(f"bad= names channels not in the field: {sorted(unknown)[:5]}.")
    is_bad = emap.bad[e] | np.isin(names, list(bad))
    pos = np.column_stack([emap.cols[e] * pitch, emap.rows[e] * pitch]).astype(float)
    try:
        volts = sig.rescale(pq.V).magnitude
        unit = "V"
    except ValueError:  # not a voltage (e.g. dimensionless): keep as it is
        volts, unit = np.asarray(sig.magnitude), str(sig.units.dimensionality)
    data = np.ascontiguousarray(np.asarray(volts)[:, keep].T, dtype=dtype)
    fs = float(sig.sampling_rate.rescale(pq.Hz).magnitude)
    meta = {
        "source": getattr(sig, "file_origin", None),
        "format": "neo",
        "signal": sig.name,
        "electrode_map": emap.source,
        "pitch_m": pitch,
        "unit": unit,
        "unmapped_channels": unmapped,
        "grid_shape": (int(emap.rows.max()) + 1, int(emap.cols.max()) + 1),
    }
    return WaveField(data, fs, pos, "m", "s", names, is_bad, meta)


def read_blackrock(
    path: str | os.PathLike,
    electrode_map=None,
    *,
    pitch_m: float = UTAH_PITCH_M,
    bad=(),
    dtype=np.float32,
) -> WaveField:
    """Read a Blackrock ``.ns1``-``.ns6`` file (Neo's BlackrockIO) with an electrode map.

    Parameters
    ----------
    path : path-like
        The ``.nsX`` file; X selects the stream (e.g. ns2: 1 kHz LFP, ns6: 30 kHz raw).
    electrode_map : ElectrodeMap or path-like
        Each channel's grid position (see :func:`read_electrode_map`); required.
    pitch_m : float
        Electrode pitch in metres (Utah arrays: 0.4 mm).
    bad, dtype
        See :func:`from_neo`.
    """
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such file.")
    emap = _as_map(electrode_map)
    neo = require("neo", "reading Blackrock files")
    m = re.fullmatch(r"\.ns([1-6])", path.suffix.lower())
    if m is None:
        raise WaveInputError(f"{path}: a Blackrock continuous file ends in .ns1 to .ns6.")
    try:
        reader = neo.io.BlackrockIO(filename=str(path), nsx_to_load=int(m.group(1)))
        block = reader.read_block(lazy=False)
    except Exception as exc:
        raise WaveInputError(
            f"{path}: Neo could not read it ({type(exc).__name__}: {exc})."
        ) from None
    field = from_neo(block, emap, pitch_m=pitch_m, signal=0, bad=bad, dtype=dtype)
    field.meta["source"] = str(path)
    field.meta["format"] = "blackrock"
    return field
