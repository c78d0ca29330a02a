"""Many recordings through Dask: one task per recording, results as plain dicts.

:func:`measure_many` runs :func:`~wavescope.waves.velocity.measure_velocity` on each
recording as one Dask task, on a local scheduler (threads, processes or synchronous) or on
an existing ``dask.distributed`` cluster given by its address. Each task reads its
recording itself (so workers need the paths: a shared file system for a remote cluster),
measures it and returns its JSON-ready summary; a recording that fails is reported with
its error and the others still finish. Every task runs exactly the serial computation
(same reader, same seed), so the results equal a serial loop bit for bit.

Tasks are per recording, not per chunk of a recording: the wave-epoch threshold pools the
surrogate PGD of the whole record, so chunks of one record are not independent tasks.
Within a task, a long memory-mapped recording is still processed chunk by chunk with
bounded memory (see ``chunk_samples``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError

__all__ = [
    "RECORDING_SUFFIXES",
    "SCHEDULERS",
    "find_recordings",
    "read_one",
    "measure_one",
    "measure_many",
    "summary_rows",
    "check_scheduler",
]

#: File suffixes picked up from a folder (MNE's readers and the interchange .npz).
RECORDING_SUFFIXES = (
    ".npz",
    ".fif",
    ".fif.gz",
    ".edf",
    ".bdf",
    ".gdf",
    ".vhdr",
    ".set",
    ".cnt",
    ".mff",
    ".nwb",
)

#: Local Dask schedulers; anything with "://" is the address of a distributed scheduler.
SCHEDULERS = ("threads", "processes", "synchronous")

_GLOB_CHARS = set("*?[")


def find_recordings(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted, de-duplicated list of files.

    Parameters
    ----------
    inputs : path or sequence of paths
        Each one a file, a folder (its files with a :data:`RECORDING_SUFFIXES` suffix,
        not recursive) or a glob pattern (``"data/*.npz"``, ``"**/*.fif"``, recursive).

    Returns
    -------
    paths : list of Path
        In the order given; the matches of one folder or pattern sorted by name.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not len(inputs):
        raise WaveInputError("no input given; pass files, a folder or a glob pattern.")
    out: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            found = sorted(
                q
                for q in p.iterdir()
                if q.is_file() and q.name.lower().endswith(RECORDING_SUFFIXES)
            )
            if not found:
                raise WaveInputError(
                    f"{p}: folder holds no recording (files ending in "
                    f"{', '.join(RECORDING_SUFFIXES)})."
                )
        elif p.is_file():
            found = [p]
        elif _GLOB_CHARS & set(text):
            found = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
            if not found:
                raise WaveInputError(
                    f"glob {text!r} matches no file; check the pattern (quote it in the shell "
                    "so that wavescope expands it)."
                )
        else:
            raise WaveFileNotFoundError(f"{p}: no such file or folder.")
        out.extend(found)
    seen: set[Path] = set()
    unique = []
    for q in out:
        key = q.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(q)
    return unique


def read_one(path: str | os.PathLike, read_kw: dict | None = None):
    """One recording as a WaveField (.npz memory-mapped where possible; see measure_many)."""
    path = Path(path)
    from wavescope.io import read_npz, read_recording

    read_kw = dict(read_kw or {})
    bad = read_kw.pop("bad", ())
    if path.name.lower().endswith(".npz"):
        field = read_npz(path, mmap=read_kw.get("mmap", "auto"))
    else:
        field = read_recording(
            path, picks=read_kw.get("picks"), projection=read_kw.get("projection", "plane")
        )
    if isinstance(field, list):
        raise WaveInputError(
            f"{path} holds {len(field)} epochs; measure them from Python "
            "(wavescope.io.from_mne) or concatenate them into a Raw first."
        )
    if bad:
        field = field.with_bad(list(bad) + [n for n, b in zip(field.ch_names, field.bad) if b])
    return field


def measure_one(
    path: str | os.PathLike,
    band: tuple[float, float] | None = None,
    *,
    read_kw: dict | None = None,
    summary_of: str = "all",
    velocity_kw: dict | None = None,
) -> dict:
    """Read one recording, measure it, and return its record (never raises).

    Returns
    -------
    record : dict
        ``{"input": str, "ok": True, "summary": dict}`` (``summary`` as from
        :meth:`VelocityResult.summary`, plus ``"input"``), or ``{"input": str, "ok": False,
        "error": "ExceptionType: message"}``.
    """
    from wavescope.waves.velocity import measure_velocity

    path = Path(path)
    try:
        field = read_one(path, read_kw)
        result = measure_velocity(field, band, **(velocity_kw or {}))
        summary = result.summary(summary_of)
    except Exception as exc:  # reported by name; the other recordings go on
        return {"input": os.fspath(path), "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    summary["input"] = os.fspath(path)
    return {"input": os.fspath(path), "ok": True, "summary": summary}


def _is_address(scheduler) -> bool:
    return isinstance(scheduler, str) and "://" in scheduler


def check_scheduler(scheduler, workers=None) -> None:
    """Raise a :class:`WaveInputError` for an unknown scheduler or a bad worker count."""
    if scheduler is None or _is_address(scheduler) or scheduler in SCHEDULERS:
        pass
    elif type(scheduler).__name__ == "Client":  # a distributed.Client the caller holds
        pass
    else:
        raise WaveInputError(
            f"scheduler={scheduler!r} is not supported; choose one of "
            f"{', '.join(map(repr, SCHEDULERS))}, or the address of a running "
            "dask.distributed scheduler such as 'tcp://host:8786'."
        )
    if workers is not None and (not isinstance(workers, (int, np.integer)) or workers < 1):
        raise WaveInputError(f"workers must be a positive integer, got {workers!r}.")


def _distributed():
    try:
        import distributed
    except ImportError:
        raise WaveInputError(
            "a cluster address needs dask.distributed, which is not installed; "
            "pip install wavescope[cluster] (or pip install distributed), or run on the "
            "local scheduler (--scheduler threads|processes|synchronous)."
        ) from None
    return distributed


def measure_many(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    band: tuple[float, float] | None = None,
    *,
    scheduler=None,
    workers: int | None = None,
    read_kw: dict | None = None,
    summary_of: str = "all",
    progress: Callable[[int, int, dict | None], None] | None = None,
    **velocity_kw,
) -> list[dict]:
    """Measure many recordings, one Dask task each; one record per recording, in order.

    Parameters
    ----------
    paths : path, or sequence of paths
        Files, folders or glob patterns (see :func:`find_recordings`).
    band : (lo, hi), optional
        Pass band for every recording (default: each recording's own :func:`auto_band`).
    scheduler : {"threads", "processes", "synchronous"}, str address or Client, optional
        Local Dask scheduler (default ``"threads"``); an address such as
        ``"tcp://10.0.0.5:8786"`` connects to that running ``dask.distributed`` cluster
        (needs ``pip install wavescope[cluster]``); a ``distributed.Client`` is used as is.
    workers : int, optional
        Threads or processes of the local scheduler (default: Dask's, one per core).
        Ignored for a cluster.
    read_kw : dict, optional
        Reading options: ``picks``, ``projection``, ``bad`` (extra bad channel names),
        ``mmap`` (.npz: ``"auto"`` by default).
    summary_of : {"all", "waves"}
        Passed to :meth:`VelocityResult.summary`.
    progress : callable, optional
        Called as ``progress(done, total, record)`` after each recording finishes
        (``record`` is None on local schedulers, which report only counts).
    **velocity_kw
        Passed to :func:`~wavescope.waves.velocity.measure_velocity` (method, alpha,
        decimate, chunk_samples, ...).

    Returns
    -------
    records : list of dict
        One per recording, in input order: see :func:`measure_one`. Failures are records
        with ``ok=False`` and the error; check them (the CLI exits nonzero).

    Notes
    -----
    Each task reads and measures its recording exactly as a serial call would, with the
    same seed, so the summaries equal those of ``[measure_one(p, ...) for p in paths]``.

    Examples
    --------
    >>> recs = measure_many("sessions/*.npz", (8, 12), scheduler="processes", workers=4)
    ... # doctest: +SKIP
    >>> [r["summary"]["speed"]["median"] for r in recs if r["ok"]]  # doctest: +SKIP
    """
    import dask

    from wavescope.core.validate import check_option

    check_option("summary_of", summary_of, ("all", "waves"))
    check_scheduler(scheduler, workers)
    files = find_recordings(paths)
    total = len(files)
    kw = dict(read_kw=dict(read_kw or {}), summary_of=summary_of, velocity_kw=velocity_kw)
    tasks = [
        dask.delayed(measure_one, pure=False)(os.fspath(f), band, **kw, dask_key_name=f"rec-{i}")
        for i, f in enumerate(files)
    ]
    if _is_address(scheduler) or type(scheduler).__name__ == "Client":
        return _run_distributed(tasks, [os.fspath(f) for f in files], scheduler, progress)
    from dask.callbacks import Callback

    done = [0]

    def posttask(key, result, dsk, state, worker_id):
        if isinstance(key, str) and key.startswith("rec-"):
            done[0] += 1
            if progress is not None:
                progress(done[0], total, None)

    opts = {} if workers is None else {"num_workers": int(workers)}
    with Callback(posttask=posttask):
        records = dask.compute(*tasks, scheduler=scheduler or "threads", **opts)
    return list(records)


def _run_distributed(tasks, names, scheduler, progress) -> list[dict]:
    total = len(tasks)
    distributed = _distributed()
    own = not hasattr(scheduler, "compute")
    try:
        client = distributed.Client(scheduler, timeout="20s") if own else scheduler
    except (OSError, TimeoutError) as exc:
        raise WaveInputError(
            f"could not connect to the Dask scheduler at {scheduler} ({exc}); check that it "
            "is running and reachable, or use a local scheduler."
        ) from None
    try:
        futures = client.compute(tasks)
        index = {f.key: i for i, f in enumerate(futures)}
        records: list = [None] * total
        for n, fut in enumerate(distributed.as_completed(futures), 1):
            i = index[fut.key]
            try:
                records[i] = fut.result()
            except Exception as exc:  # a worker lost, or a task killed
                records[i] = {
                    "input": names[i],
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            if progress is not None:
                progress(n, total, records[i])
        return records
    finally:
        if own:
            client.close()


def summary_rows(records: Sequence[dict]) -> list[dict]:
    """One flat row per record, for a table (CSV) across recordings.

    Columns: input, ok, speed_median, speed_q25, speed_q75, speed_unit, direction_deg,
    direction_concentration, wavelength_median, wavelength_unit, pgd_median,
    wave_fraction, n_epochs, band_lo, band_hi, n_good_sites, duration, error.
    """
    rows = []
    for r in records:
        row = {"input": r["input"], "ok": bool(r["ok"])}
        s = r.get("summary")
        if s is not None:
            band = s.get("band") or [None, None]
            row.update(
                speed_median=s["speed"]["median"],
                speed_q25=s["speed"]["q25"],
                speed_q75=s["speed"]["q75"],
                speed_unit=s["speed"]["unit"],
                direction_deg=s["direction"].get("mean_deg"),
                direction_concentration=s["direction"]["concentration"],
                wavelength_median=s["wavelength"]["median"],
                wavelength_unit=s["wavelength"]["unit"],
                pgd_median=s["pgd"]["median"],
                wave_fraction=s["wave_fraction"],
                n_epochs=s["n_epochs"],
                band_lo=band[0],
                band_hi=band[1],
                n_good_sites=s["n_good_sites"],
                duration=s["duration"],
            )
        row["error"] = r.get("error", "")
        rows.append(row)
    return rows
