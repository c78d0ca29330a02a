"""The .npz interchange format.

Keys: ``data`` (n_sites, n_times) float, ``fs`` (samples per time unit),
``positions`` (n_sites, d), optional ``space_unit`` ("m", "mm", "um", "site"),
``time_unit`` ("s", "ms", "step"), ``ch_names``, ``bad`` (bool per site) and ``subject``
(the unit of replication the recording belongs to: animal, session, or model checkpoint
and seed; statistics treat recordings of one subject as repeated measures), and ``meta``
(provenance as a JSON text: for a model capture its model, layer, part, channel and
learned velocity; parsed with :func:`json.loads`, never unpickled).
Files are read with ``allow_pickle=False``: only plain arrays are accepted.

Reading is strict, because a silently ignored key gives a silently wrong result (a
misspelt ``space_units="mm"`` reported speeds 1000 times too fast, a misspelt ``bads``
measured through a broken channel): any other key is an error that names the closest
known one. Each member's .npy header (shape and dtype) is read and checked against the
key's expected form and against the member's size in the archive before its array is
loaded, so a truncated member, a header that lies about its shape, a member far larger
than the memory of this machine (a "zip bomb") or an object array end in a clear error,
never in a MemoryError or an unpickling attempt; only the arrays the field needs are read.

Before anything is loaded, the bytes every member needs (with ``data`` converted to
float64 when it is stored as integers or booleans, as :class:`WaveField` does) are checked
against the memory available (:func:`wavescope.core.validate.check_memory`), and every
member's CRC-32 is verified: a loaded member by zipfile as it is read, a memory-mapped one
by one streaming read before it is mapped (a file whose data bytes were overwritten is
refused, never measured). A named pipe or a link to a device is refused by its kind before
it is opened.

Recordings larger than memory: ``read_npz(path, mmap=True)`` memory-maps ``data``
instead of loading it. ``np.load`` ignores ``mmap_mode`` for .npz files, but a member
stored without compression (what ``np.savez`` and :func:`write_npz` write) is a plain
.npy file lying contiguously inside the zip archive, so its array is mapped directly at
its offset in the archive. Compressed archives (``np.savez_compressed``) cannot be mapped;
rewrite them once with ``np.savez`` (see :func:`read_npz`).
"""

from __future__ import annotations

import difflib
import json
import os
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.field import WaveField
from wavescope.core.validate import (
    WaveInputError,
    available_memory,  # noqa: F401 (re-exported: the historical import path)
    check_memory,
    check_regular_file,
    format_bytes,
)
from wavescope.io.outputs import atomic_write, check_output_path

REQUIRED_KEYS = ("data", "fs", "positions")
#: ``subject`` and ``meta`` (JSON text) are written by newer versions of write_npz; they are
#: accepted here (and checked to be text) so that such files read.
OPTIONAL_KEYS = ("space_unit", "time_unit", "ch_names", "bad", "subject", "meta")
KNOWN_KEYS = REQUIRED_KEYS + OPTIONAL_KEYS

#: dtype kinds and numbers of dimensions each key may have
_FORMS = {
    "data": ("fiub", (2,), "a (n_sites, n_times) numeric array"),
    "fs": ("fiu", (0,), "a real scalar"),
    "positions": ("fiu", (1, 2), "a (n_sites, d) numeric array"),
    "space_unit": ("US", (0,), "a string"),
    "time_unit": ("US", (0,), "a string"),
    "ch_names": ("US", (1,), "a 1-D array of strings"),
    "bad": ("biuUS", (1,), "a 1-D boolean array"),
    "subject": ("US", (0,), "a string"),
    "meta": ("US", (0,), "a JSON text string"),
}

#: What zipfile, zlib and numpy's header parser raise on damaged bytes (a corrupt
#: deflate stream, a bad CRC, a compression method or flag changed by damage, a header
#: that no longer parses).
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    SyntaxError,
    tokenize.TokenError,
    OverflowError,
)

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_NPY_MAGIC = b"\x93NUMPY"


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

    Raises
    ------
    WaveInputError
        For a key outside the format (naming the closest known key), a missing key, a
        member whose header does not match its size or its key's form, a member larger
        than the memory available, or a file that is not a zip archive (a ``.npy`` file,
        a text file, ...), each with the fix.

    Notes
    -----
    A compressed archive is refused with ``mmap=True``; rewrite it uncompressed once,
    e.g. ``python -c "import numpy as np; np.savez('out.npz', **np.load('in.npz'))"``
    (this loads it once), or write it with :func:`write_npz`.
    """
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such file.")
    if path.is_dir():
        raise WaveInputError(f"{path} is a folder, not an .npz file.")
    if mmap not in (True, False, "auto"):
        raise WaveInputError(f"mmap must be True, False or 'auto', got {mmap!r}.")
    check_regular_file(path, "recording")
    _sniff(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(path, zf)
            headers = {k: _member_header(path, zf, info, k) for k, info in members.items()}
            for key, head in headers.items():
                _check_form(path, key, head)
            sizes = {k: _check_size(path, k, members[k], h) for k, h in headers.items()}
            mapped = (
                _map_member(path, members["data"], headers["data"], strict=mmap is True)
                if mmap
                else None
            )
            if mapped is not None:
                _verify_crc(path, zf, members["data"])
            _check_memory_of(path, members, headers, sizes, mapped is not None)
            arrays = {}
            for key, info in members.items():
                if key == "data" and mapped is not None:
                    arrays[key] = mapped
                else:
                    arrays[key] = _load_member(path, zf, info, key, headers[key])
    except WaveInputError:
        raise
    except _DAMAGED as exc:
        raise WaveInputError(
            f"{path}: not a readable .npz file ({exc}); it may be truncated or corrupt. "
            "Write it again (wavescope.io.write_npz or np.savez)."
        ) from None

    def text(key, default):
        if key not in arrays:
            return default
        v = arrays[key].item()
        return v.decode() if isinstance(v, bytes) else str(v)

    names = ()
    if "ch_names" in arrays:
        names = tuple(
            n.decode() if isinstance(n, bytes) else str(n) for n in arrays["ch_names"].tolist()
        )
    return WaveField(
        data=arrays["data"],
        fs=arrays["fs"].item(),
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
    except RecursionError:
        raise WaveInputError(
            f"{path}: the 'meta' member nests JSON arrays or objects too deeply to read; "
            "meta holds flat provenance (model, layer, ...): write it again with write_npz."
        ) from None
    if not isinstance(meta, dict):
        raise WaveInputError(f"{path}: the 'meta' member must be a JSON object.")
    return {k: v for k, v in meta.items() if k not in _NOT_STORED}


def _sniff(path: Path) -> None:
    """Name what the file is when it is not a zip archive (before any parser sees it)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        return
    fix = (
        "write the recording with wavescope.io.write_npz, or "
        "np.savez(path, data=..., fs=..., positions=...)."
    )
    if not head:
        what = "an empty file"
    elif head.startswith(_NPY_MAGIC):
        what = "a single .npy array (np.save), not an .npz archive of named arrays"
    elif head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        what = "a Python pickle, which is never loaded (it could run code)"
    elif head.startswith(b"\x1f\x8b"):
        what = "gzip-compressed, not an .npz (zip) archive"
    else:
        try:
            sample = head.decode("utf-8")
            printable = all(c.isprintable() or c in "\r\n\t" for c in sample)
        except UnicodeDecodeError:
            printable = False
        what = (
            f"a text file (it starts with {head[:24].decode('utf-8', 'replace')!r})"
            if printable
            else f"not an .npz (zip) archive (it starts with bytes {head[:8]!r})"
        )
    raise WaveInputError(f"{path} is {what}; {fix}")


def _members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Key -> zip entry; an unknown, repeated or missing key is an error."""
    members: dict[str, zipfile.ZipInfo] = {}
    unknown = []
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key not in KNOWN_KEYS:
            unknown.append(key)
            continue
        if key in members:
            raise WaveInputError(f"{path}: key {key!r} appears twice in the archive.")
        members[key] = info
    if unknown:
        hints = []
        for key in unknown[:6]:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.5)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise WaveInputError(
            f"{path}: unknown key(s) {', '.join(hints)}{' ...' if len(unknown) > 6 else ''}. "
            f"An interchange .npz holds only {', '.join(KNOWN_KEYS)}: rename the key (a "
            "misspelt key would be ignored and change the result) or leave it out."
        )
    missing = [k for k in REQUIRED_KEYS if k not in members]
    if missing:
        raise WaveInputError(
            f"{path}: missing key(s) {missing}; an interchange .npz needs data "
            "(n_sites, n_times), fs and positions (n_sites, d)."
        )
    return members


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _member_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str):
    """(shape, fortran_order, dtype, header_bytes) of a member, from its .npy header only."""
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
        except ValueError:
            raise WaveInputError(
                f"{path}: member {key!r} is not a .npy array; rewrite the file with np.savez."
            ) from None
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise WaveInputError(
                f"{path}: member {key!r} has .npy format version {version}, which is not "
                "supported (1.0 and 2.0 are); rewrite the file with np.savez."
            )
        try:
            shape, fortran, dtype = reader(fh)
        except (ValueError, SyntaxError, tokenize.TokenError) as exc:
            raise WaveInputError(
                f"{path}: member {key!r} has a corrupt .npy header ({exc})."
            ) from None
        header_bytes = fh.tell()
    return shape, fortran, dtype, header_bytes


def _check_form(path: Path, key: str, head) -> None:
    shape, _, dtype, _ = head
    kinds, ndims, what = _FORMS[key]
    if dtype.hasobject:
        raise WaveInputError(
            f"{path}: {key!r} holds Python objects (dtype {dtype}), which would have to be "
            f"unpickled and are refused; store {key} as {what}."
        )
    if dtype.kind not in kinds or len(shape) not in ndims:
        raise WaveInputError(
            f"{path}: {key!r} must be {what}, got dtype {dtype} with shape {shape}."
        )


def _nbytes(shape, dtype) -> int:
    return int(np.prod(shape, dtype=object)) * dtype.itemsize


def _check_size(path: Path, key: str, info: zipfile.ZipInfo, head) -> int:
    """The member's array bytes; its header must account for exactly the member's size."""
    shape, _, dtype, header_bytes = head
    need = _nbytes(shape, dtype)
    have = info.file_size - header_bytes
    if need != have:
        raise WaveInputError(
            f"{path}: member {key!r} declares shape {shape} of {dtype} ({need:,} bytes) but "
            f"holds {have:,} bytes; the file is truncated or its header is wrong. Write it "
            "again (wavescope.io.write_npz or np.savez)."
        )
    return need


def _check_memory_of(path: Path, members, headers, sizes: dict, mapped: bool) -> int:
    """Refuse, before loading, members whose arrays (data converted to float64 when it is
    not float, as :class:`WaveField` converts it) need more than the memory available."""
    total, parts = 0, []
    for key, need in sizes.items():
        if key == "data" and mapped:
            continue
        dtype = headers[key][2]
        total += need
        if key == "data" and dtype.kind != "f":
            conv = need // max(dtype.itemsize, 1) * 8
            total += conv
            parts.append(
                f"data: {format_bytes(need)} of {dtype} plus {format_bytes(conv)} once "
                "converted to float64"
            )
        elif need >= 2**20:
            parts.append(f"{key}: {format_bytes(need)} of {dtype}")
    packed = sum(members[k].compress_size for k in sizes)
    detail = f" ({'; '.join(parts)})" if parts else ""
    return check_memory(
        f"{path}: its arrays{detail}, {format_bytes(packed)} in the archive,",
        total,
        "store data as float32 uncompressed (np.savez) and read it with mmap=True, or use a "
        "machine with more memory.",
    )


def _verify_crc(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Read a member once, in blocks, so that zipfile checks its CRC-32 (constant memory)."""
    try:
        with zf.open(info) as fh:
            while fh.read(1 << 22):
                pass
    except zipfile.BadZipFile as exc:
        raise WaveInputError(
            f"{path}: member {info.filename!r} is damaged ({exc}): its bytes no longer match "
            "the checksum written with them. Write the file again."
        ) from None


def _load_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, head):
    need = _check_size(path, key, info, head)
    try:
        with zf.open(info) as fh:
            return np.lib.format.read_array(fh, allow_pickle=False)
    except MemoryError:
        raise WaveInputError(
            f"{path}: not enough memory to load member {key!r} ({format_bytes(need)}); "
            "store it uncompressed (np.savez) and read it with mmap=True."
        ) from None


def _map_member(path: Path, info: zipfile.ZipInfo, head, *, strict: bool) -> np.memmap | None:
    """Memory-map the ``data`` member of an .npz archive where it lies in the file.

    Returns None (``strict=False``) or raises (``strict=True``) when it cannot be mapped:
    a compressed member or a non-float dtype.
    """
    key = "data"

    def refuse(why: str):
        if strict:
            raise WaveInputError(f"{path}: cannot memory-map {key!r}: {why}")
        return None

    if info.compress_type != zipfile.ZIP_STORED:
        return refuse(
            "the archive is compressed (np.savez_compressed). Rewrite it uncompressed once: "
            "python -c \"import numpy as np; np.savez('out.npz', **np.load('in.npz'))\" "
            "(or wavescope.io.write_npz), or read it with mmap=False if it fits in memory."
        )
    shape, fortran, dtype, header_bytes = head
    if dtype.kind != "f" or dtype.hasobject:
        return refuse(f"dtype {dtype} is not float32/float64; rewrite data as float32.")
    need = _check_size(path, key, info, head)
    with open(path, "rb") as fh:
        # local file header: signature, ..., name length at byte 26, extra length at 28
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) < 30 or local[:4] != _ZIP_MAGIC:
            raise WaveInputError(f"{path}: corrupt zip header for {key!r}; the file is damaged.")
        n_name, n_extra = struct.unpack("<HH", local[26:30])
        offset = info.header_offset + 30 + n_name + n_extra + header_bytes
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
    if offset + need > size:
        raise WaveInputError(
            f"{path}: member {key!r} needs {need:,} bytes from offset {offset:,} but the file "
            f"has {size:,}; it is truncated. Write it again."
        )
    if need == 0:
        return refuse("it holds no samples.")
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
