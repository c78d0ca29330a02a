"""Output files: one check before any work, one atomic writer for every output.

- :func:`check_output_path` runs before a computation starts: it refuses to replace an
  existing file (unless ``overwrite``), an input of the same run (even with
  ``overwrite``), a folder, a path below a file, and a folder that cannot be written; it
  applies the suffix a writer would append (``NAME`` plotted as PNG is ``NAME.png``), so
  the check looks at the file that will really be written.
- :func:`atomic_write` writes through a temporary file created exclusively in the
  destination folder (``O_EXCL``: it never follows or replaces an existing path, a planted
  symlink included), flushed to disk and renamed over the destination, so a reader sees the
  old file or the new one, never a partial one; on failure the temporary file is removed.
  Temporary files left by a killed process (their PID no longer runs) are removed on the
  next write to the same destination.
- A path checked without ``overwrite`` is claimed: its write finishes with a hard link
  (``os.link`` fails if the name exists), not a rename, so a file that appeared while the
  work ran (another process writing the same name) is never replaced; the write fails with
  :class:`~wavescope.core.errors.WaveFileExistsError` instead. Writes to paths never checked,
  or checked with ``overwrite``, replace atomically.
- A write that fails for lack of space, quota or permission raises
  :class:`~wavescope.core.errors.WaveWriteError` naming the cause; no partial file is left.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wavescope.core.errors import WaveFileExistsError, WaveInputError, WaveWriteError

__all__ = [
    "atomic_write",
    "check_output_path",
    "refuse_inputs",
    "remove_stale_temps",
    "write_bytes_atomic",
    "write_json",
    "write_text_atomic",
]

_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by killed writers; return what was removed."""
    path = Path(path)
    removed = []
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return removed
    for q in folder.iterdir():
        m = _TMP.match(q.name)
        if m and m["name"] == path.name and not _alive(int(m["pid"])):
            try:
                q.unlink()
                removed.append(q)
            except OSError:
                pass
    return removed


#: Destinations checked without ``overwrite`` by :func:`check_output_path` in this process
#: (resolved): their write must not replace a file that appeared meanwhile.
_CLAIMED: set[Path] = set()


def _key(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _write_error(path: Path, exc: OSError) -> WaveWriteError:
    code = errno.errorcode.get(exc.errno, "") if exc.errno else ""
    why = exc.strerror or str(exc)
    fix = {
        errno.ENOSPC: "free some space or write to another disk",
        errno.EDQUOT: "free some space (the disk quota is full) or write elsewhere",
        errno.EACCES: "choose a folder you may write to",
        errno.EPERM: "choose a folder you may write to",
        errno.EROFS: "the file system is read-only: write to another folder",
    }.get(exc.errno, "check the folder and the disk")
    return WaveWriteError(
        f"could not write {path}: {why}{f' ({code})' if code else ''}; nothing was written "
        f"there (the partial file was removed): {fix}."
    )


def _finish(tmp: Path, path: Path, exclusive: bool) -> None:
    """Move the written temporary file to ``path``: a link when ``exclusive`` (fails if
    ``path`` exists), else an atomic rename over it."""
    if not exclusive:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise WaveFileExistsError(
            f"{path} appeared while this command ran (another process wrote it); it was not "
            "replaced. Choose another name, or pass --overwrite (Python: overwrite=True) to "
            "replace it."
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # no hard links here (some network and FAT file systems): claim the name with
        # O_EXCL, then rename over the empty claim
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            raise WaveFileExistsError(
                f"{path} appeared while this command ran; it was not replaced."
            ) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


@contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", *, exclusive: bool | None = None
) -> Iterator:
    """Open a temporary file next to ``path``; on success move it to ``path``.

    Parameters
    ----------
    path : path-like
        Destination. Its folder must exist.
    mode : {"wb", "w"}
        Binary or text (UTF-8) file object.
    exclusive : bool, optional
        Never replace an existing ``path`` (finish with a hard link). Default: True when
        ``path`` was checked by :func:`check_output_path` without ``overwrite`` in this
        process, else False (an atomic rename that replaces).

    Yields
    ------
    file object
        Write to it (``np.savez(fh, ...)``, ``torch.save(obj, fh)``, ``fig.savefig(fh)``).

    Raises
    ------
    WaveFileExistsError
        ``exclusive`` and ``path`` exists (it appeared after the check).
    WaveWriteError
        The disk is full, a quota is reached, or the folder may not be written.
    """
    if mode not in ("wb", "w"):
        raise WaveInputError(f"mode must be 'wb' or 'w', got {mode!r}.")
    path = Path(path)
    key = _key(path)
    if exclusive is None:
        exclusive = key in _CLAIMED
    remove_stale_temps(path)
    tmp = _temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _finish(tmp, path, exclusive)
    except WaveInputError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _CLAIMED.discard(key)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (with a final newline) to ``path``, atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")


def _same_file(a: Path, b: Path) -> bool:
    """The same file: one path, a link to it, or a hard link (same inode)."""
    try:
        if a.exists() and Path(b).exists():
            return os.path.samefile(a, b)
        return a.resolve() == Path(b).resolve()
    except OSError:
        return False


def refuse_inputs(
    path: str | os.PathLike | None, inputs: Iterable[str | os.PathLike], option: str | None = None
) -> None:
    """Refuse an output ``path`` that is one of ``inputs`` (the same file, through links
    too), whatever ``--overwrite`` says: an output never replaces an input."""
    if path is None:
        return
    for inp in inputs:
        if inp is not None and _same_file(Path(path), Path(inp)):
            what = f"{option} {os.fspath(path)}" if option else os.fspath(path)
            raise WaveInputError(
                f"{what} is an input of this run ({os.fspath(inp)}); an output never replaces "
                "an input, even with --overwrite: choose another name."
            )


def check_output_path(
    path: str | os.PathLike | None,
    overwrite: bool,
    *,
    make_parent: bool = True,
    suffix: str | None = None,
    allowed_suffixes: Iterable[str] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    option: str | None = None,
) -> Path | None:
    """Check an output path before any work is done; return it as a :class:`~pathlib.Path`.

    Parameters
    ----------
    path : path-like or None
        The output (None stays None).
    overwrite : bool
        Allow replacing an existing file.
    make_parent : bool
        Create the folder when it is missing.
    suffix : str, optional
        Suffix the writer appends when the name has none of ``allowed_suffixes`` (e.g.
        ``".png"`` for figures, ``".npz"`` for captures); the returned path has it.
    allowed_suffixes : iterable of str, optional
        Suffixes the writer accepts (lower case, with the dot). A name with another suffix
        is refused when ``suffix`` is None, extended with ``suffix`` otherwise.
    inputs : iterable of path-like
        Inputs of the same run: an output that is one of them is refused even with
        ``overwrite`` (an output never replaces an input).
    option : str, optional
        The option that named the path (``"--json"``), for the messages.

    Raises
    ------
    WaveFileExistsError
        The file exists and ``overwrite`` is False.
    WaveInputError
        The path is a folder, lies below a file, is an input, has an unsupported suffix,
        or its folder cannot be written.
    """
    if path is None:
        return None
    what = f"{option} {os.fspath(path)}" if option else os.fspath(path)
    if not os.fspath(path).strip():
        raise WaveInputError(f"{option or 'the output path'} is empty; give a file name.")
    out = Path(path)
    if out.is_dir():
        raise WaveInputError(f"{what} is a folder; give a file name inside it.")
    if allowed_suffixes is not None:
        allowed = tuple(s.lower() for s in allowed_suffixes)
        if not out.name.lower().endswith(allowed):
            if suffix is None:
                raise WaveInputError(
                    f"{what}: unsupported suffix {out.suffix or '(none)'!r}; use one of "
                    f"{', '.join(allowed)}."
                )
            out = out.with_name(out.name + suffix)
    elif suffix is not None and not out.name.lower().endswith(suffix.lower()):
        out = out.with_name(out.name + suffix)
    refuse_inputs(out, inputs, option)
    if out.exists() and not overwrite:
        raise WaveFileExistsError(
            f"{out} exists; pass --overwrite (Python: overwrite=True) to replace it."
        )
    if not overwrite:
        _CLAIMED.add(_key(out))  # its write must not replace a file that appears meanwhile
    else:
        _CLAIMED.discard(_key(out))
    parent = out.parent if str(out.parent) else Path(".")
    for anc in (parent, *parent.parents):
        if anc.exists():
            if not anc.is_dir():
                raise WaveInputError(f"{what}: {anc} is a file, not a folder.")
            break
    if make_parent:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WaveInputError(f"{what}: cannot create the folder {parent} ({exc}).") from None
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise WaveInputError(f"{what}: the folder {parent} is not writable.")
    return out
