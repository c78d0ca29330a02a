"""The .npz interchange format.

Keys: ``data`` (n_sites, n_times) float, ``fs`` (samples per time unit),
``positions`` (n_sites, d), optional ``space_unit`` ("m", "mm", "um", "site"),
``time_unit`` ("s", "ms", "step"), ``ch_names``, ``bad`` (bool per site) and ``subject``
(the unit of replication the recording belongs to: animal, session, or model checkpoint
and seed; statistics treat recordings of one subject as repeated measures), and ``meta``
(provenance as a JSON text: for a model capture its model, layer, part, channel and
learned velocity; parsed with :func:`json.loads`, never unpickled).
Files are read with ``allow_pickle=False``: only plain arrays are accepted.

Recordings larger than memory: ``read_npz(path, mmap=True)`` memory-maps ``data``
instead of loading it. ``np.load`` ignores ``mmap_mode`` for .npz files, but a member
stored without compression (what ``np.savez`` and :func:`write_npz` write) is a plain
.npy file lying contiguously inside the zip archive, so its array is mapped directly at
its offset in the archive. Compressed archives (``np.savez_compressed``) cannot be mapped;
rewrite them once with ``np.savez`` (see :func:`read_npz`).
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import atomic_write, check_output_path

REQUIRED_KEYS = ("data", "fs", "positions")


def read_npz(path: str | os.PathLike, *, mmap: bool | str = False) -> WaveField:
    """Read a :class:`WaveField` from an interchange .npz file.

    Parameters
    ----------
    path : str or path-like
        File written by :func:`write_npz` or by any tool following the format.
    mmap : bool or "auto"
        ``True``: memory-map ``data`` read-only instead of loading it (for recordings
        larger than memory; the measures then read it chunk by chunk). The archive must
        store ``data`` uncompressed and as float32/float64. ``"auto"``: map when that is
        possible, load otherwise. ``False`` (default): load everything.

    Returns
    -------
    field : WaveField
        With ``data`` a read-only ``numpy.memmap`` when mapped.

    Notes
    -----
    A compressed archive is refused with ``mmap=True``; rewrite it uncompressed once,
    e.g. ``python -c "import numpy as np; np.savez('out.npz', **np.load('in.npz'))"``
    (this loads it once), or write it with :func:`write_npz`.
    """
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such file.")
    if mmap not in (True, False, "auto"):
        raise WaveInputError(f"mmap must be True, False or 'auto', got {mmap!r}.")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            missing = [k for k in REQUIRED_KEYS if k not in keys]
            if missing:
                raise WaveInputError(
                    f"{path}: missing key(s) {missing}; an interchange .npz needs data "
                    "(n_sites, n_times), fs and positions (n_sites, d)."
                )
            mapped = _map_member(path, "data", strict=mmap is True) if mmap else None
            arrays = {k: f[k] for k in f.files if not (k == "data" and mapped is not None)}
            if mapped is not None:
                arrays["data"] = mapped
    except WaveInputError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise WaveInputError(
            f"{path}: not a readable .npz file ({exc}); it may be truncated or corrupt, "
            "or hold pickled objects, which are refused."
        ) from None

    def text(key, default):
        if key not in arrays:
            return default
        return str(arrays[key].item() if arrays[key].ndim == 0 else arrays[key])

    fs = arrays["fs"]
    if np.ndim(fs) != 0:
        raise WaveInputError(f"{path}: fs must be a scalar, got shape {np.shape(fs)}.")
    names = tuple(str(n) for n in arrays["ch_names"]) if "ch_names" in arrays else ()
    return WaveField(
        data=arrays["data"],
        fs=float(fs),
        positions=arrays["positions"],
        space_unit=text("space_unit", "m"),
        time_unit=text("time_unit", "s"),
        ch_names=names,
        bad=arrays.get("bad"),
        meta={
            "source": str(path),
            "mmap": mapped is not None,
            **_meta(arrays, path),
            **({"subject": text("subject", None)} if "subject" in arrays else {}),
        },
    )


#: Provenance keys of WaveField.meta that are not stored (they describe the file read).
_NOT_STORED = ("source", "mmap", "subject")


def _meta_text(meta: dict) -> str:
    """The JSON-serialisable part of ``meta`` as text (arrays as lists)."""
    out = {}
    for k, v in meta.items():
        if k in _NOT_STORED:
            continue
        v = v.tolist() if isinstance(v, np.ndarray) else v
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[str(k)] = v
    return json.dumps(out)


def _meta(arrays: dict, path) -> dict:
    if "meta" not in arrays:
        return {}
    try:
        meta = json.loads(
            str(arrays["meta"].item() if arrays["meta"].ndim == 0 else arrays["meta"])
        )
    except (json.JSONDecodeError, ValueError):
        raise WaveInputError(f"{path}: the 'meta' member is not JSON text.") from None
    if not isinstance(meta, dict):
        raise WaveInputError(f"{path}: the 'meta' member must be a JSON object.")
    return {k: v for k, v in meta.items() if k not in _NOT_STORED}


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _map_member(path: Path, key: str, *, strict: bool) -> np.memmap | None:
    """Memory-map the array ``key`` of an .npz archive where it lies in the file.

    Returns None (``strict=False``) or raises (``strict=True``) when it cannot be mapped:
    a compressed member, an unsupported .npy header version, or a non-float dtype.
    """

    def refuse(why: str):
        if strict:
            raise WaveInputError(f"{path}: cannot memory-map {key!r}: {why}")
        return None

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(key + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return refuse(
            "the archive is compressed (np.savez_compressed). Rewrite it uncompressed once: "
            "python -c \"import numpy as np; np.savez('out.npz', **np.load('in.npz'))\" "
            "(or wavescope.io.write_npz), or read it with mmap=False if it fits in memory."
        )
    with open(path, "rb") as fh:
        # local file header: signature, ..., name length at byte 26, extra length at 28
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise WaveInputError(f"{path}: corrupt zip header for {key!r}; the file is damaged.")
        n_name, n_extra = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + n_name + n_extra)
        version = np.lib.format.read_magic(fh)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            return refuse(f".npy format version {version} is not supported for mapping.")
        shape, fortran, dtype = reader(fh)
        offset = fh.tell()
    if dtype.kind != "f" or dtype.hasobject:
        return refuse(f"dtype {dtype} is not float32/float64; rewrite data as float32.")
    return np.memmap(
        path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
    )


def write_npz(path: str | os.PathLike, field: WaveField, *, overwrite: bool = False) -> Path:
    """Write a :class:`WaveField` in the interchange format (atomically).

    Parameters
    ----------
    path : str or path-like
        Destination; ``.npz`` is appended if missing.
    overwrite : bool
        Refuse to replace an existing file unless True.
    """
    path = check_output_path(
        path, overwrite, make_parent=False, suffix=".npz", allowed_suffixes=(".npz",)
    )
    with atomic_write(path, "wb") as fh:
        np.savez(
            fh,
            data=field.data,
            fs=np.float64(field.fs),
            positions=field.positions,
            space_unit=np.str_(field.space_unit),
            time_unit=np.str_(field.time_unit),
            ch_names=np.array(field.ch_names, dtype=str),
            bad=field.bad,
            **({"subject": np.str_(field.meta["subject"])} if field.meta.get("subject") else {}),
            meta=np.str_(_meta_text(field.meta)),
        )
    return path
