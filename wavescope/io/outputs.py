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
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wavescope.core.errors import WaveFileExistsError, WaveInputError

__all__ = [
    "atomic_write",
    "check_output_path",
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


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    Parameters
    ----------
    path : path-like
        Destination. Its folder must exist.
    mode : {"wb", "w"}
        Binary or text (UTF-8) file object.

    Yields
    ------
    file object
        Write to it (``np.savez(fh, ...)``, ``torch.save(obj, fh)``, ``fig.savefig(fh)``).
    """
    if mode not in ("wb", "w"):
        raise WaveInputError(f"mode must be 'wb' or 'w', got {mode!r}.")
    path = Path(path)
    remove_stale_temps(path)
    tmp = _temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    try:
        return a.resolve() == Path(b).resolve()
    except OSError:
        return False


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
    for inp in inputs:
        if _same_file(out, Path(inp)):
            raise WaveInputError(
                f"{what} is an input of this run; an output never replaces an input: choose "
                "another name."
            )
    if out.exists() and not overwrite:
        raise WaveFileExistsError(
            f"{out} exists; pass --overwrite (Python: overwrite=True) to replace it."
        )
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
