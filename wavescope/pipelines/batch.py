"""Many recordings through Dask: one task per recording, one typed record each.

:func:`measure_many` runs :func:`~wavescope.pipelines.recording.measure_recording` on each
recording as one Dask task, on a local scheduler (threads, processes or synchronous) or on
an existing ``dask.distributed`` cluster given by its address. Each task reads its
recording itself (so workers need the paths: a shared file system for a remote cluster),
measures it and returns a :class:`BatchRecord`; a recording that fails is reported with
its error, and a worker process that dies loses only the recording it was measuring: the
others are measured again in fresh workers and still finish. Every task runs exactly the
serial computation (same reader, same seed), so the results equal a serial loop bit for
bit.

Tasks are per recording, not per chunk of a recording: the wave-epoch threshold pools the
null PGD of the whole record, so chunks of one record are not independent tasks. Within
a task, a long memory-mapped recording is still processed chunk by chunk with bounded
memory (see ``chunk_samples``).

:func:`output_names` gives each recording one output name (collisions resolved before any
work), and :func:`summary_rows` / :data:`TABLE_COLUMNS` the table across recordings.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavescope.core.deps import require
from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.results import Result
from wavescope.core.validate import WaveInputError
from wavescope.pipelines.recording import ReadOptions, VelocityOptions, measure_recording
from wavescope.waves.summary import RecordingSummary

__all__ = [
    "RECORDING_SUFFIXES",
    "SCHEDULERS",
    "TABLE_COLUMNS",
    "BatchRecord",
    "check_scheduler",
    "find_recordings",
    "is_batch",
    "measure_many",
    "measure_one",
    "output_names",
    "recording_stem",
    "summary_rows",
]

#: File suffixes picked up from a folder (every reader of wavescope.io.read_recording).
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
    ".tif",
    ".tiff",
    ".h5",
    ".hdf5",
    ".ns1",
    ".ns2",
    ".ns3",
    ".ns4",
    ".ns5",
    ".ns6",
)

#: Local Dask schedulers; anything with "://" is the address of a distributed scheduler.
SCHEDULERS = ("threads", "processes", "synchronous")

#: Columns of the summary table across recordings (CSV), in order.
TABLE_COLUMNS = (
    "input",
    "ok",
    "speed_median",
    "speed_q25",
    "speed_q75",
    "speed_unit",
    "direction_deg",
    "direction_concentration",
    "forward_fraction",
    "wavelength_median",
    "wavelength_unit",
    "pgd_median",
    "wave_fraction",
    "n_epochs",
    "band_lo",
    "band_hi",
    "n_good_sites",
    "duration",
    "undefined",
    "error",
)

_GLOB_CHARS = set("*?[")


@dataclass
class BatchRecord(Result):
    """One recording of a batch: its typed summary, or the error that stopped it."""

    input: str
    ok: bool
    summary: RecordingSummary | None = None
    error: str | None = None


def is_batch(inputs: Sequence[str | os.PathLike]) -> bool:
    """True for several inputs, a folder, or a glob pattern that is not a file name."""
    if len(inputs) != 1:
        return True
    p = Path(inputs[0])
    if p.is_dir():
        return not _is_bids_root(p)  # a BIDS dataset is one recording's root, not a batch
    return not p.exists() and bool(_GLOB_CHARS & set(os.fspath(inputs[0])))


def _is_bids_root(p: Path) -> bool:
    return (p / "dataset_description.json").is_file()


def find_recordings(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files, folders and glob patterns into a de-duplicated list of files.

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
                raise WaveFileNotFoundError(
                    f"{p}: folder holds no recording (files ending in "
                    f"{', '.join(RECORDING_SUFFIXES)})."
                )
        elif p.is_file():
            found = [p]
        elif _GLOB_CHARS & set(text):
            found = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
            if not found:
                raise WaveFileNotFoundError(
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


def recording_stem(path: str | os.PathLike) -> str:
    """A recording's file name without its recording suffix (``a.fif.gz`` -> ``a``)."""
    stem = Path(path).name
    for suf in sorted(RECORDING_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suf):
            return stem[: -len(suf)]
    return Path(stem).stem


def output_names(files: Sequence[str | os.PathLike], suffix: str = ".json") -> list[str]:
    """One output name per recording, unique: the stem, then ``-1``, ``-2``, ... for clashes.

    A generated name never equals another recording's own name (``a/rec.npz``,
    ``b/rec.npz`` and ``a/rec-1.npz`` give ``rec``, ``rec-2`` and ``rec-1``).
    """
    stems = [recording_stem(f) for f in files]
    taken = {s.lower() for s in stems}
    used: set[str] = set()
    names = []
    for s in stems:
        name, n = s, 0
        while name.lower() in used or (n and name.lower() in taken):
            n += 1
            name = f"{s}-{n}"
        used.add(name.lower())
        names.append(name + suffix)
    return names


def measure_one(
    path: str | os.PathLike,
    velocity: VelocityOptions | None = None,
    read: ReadOptions | None = None,
) -> BatchRecord:
    """Read, measure and summarise one recording; never raises (the error is recorded)."""
    try:
        rec = measure_recording(path, velocity, read)
    except Exception as exc:  # reported by name; the other recordings go on
        return BatchRecord(os.fspath(path), False, error=f"{type(exc).__name__}: {exc}")
    return BatchRecord(os.fspath(path), True, summary=rec.summary)


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
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1
    ):
        raise WaveInputError(f"workers must be a positive integer, got {workers!r}.")


def measure_many(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    velocity: VelocityOptions | None = None,
    read: ReadOptions | None = None,
    *,
    scheduler=None,
    workers: int | None = None,
    progress: Callable[[int, int, BatchRecord | None], None] | None = None,
    task: Callable[..., BatchRecord] = measure_one,
) -> list[BatchRecord]:
    """Measure many recordings, one Dask task each; one record per recording, in order.

    Parameters
    ----------
    paths : path, or sequence of paths
        Files, folders or glob patterns (see :func:`find_recordings`).
    velocity : VelocityOptions, optional
        Band (default: each recording's own automatic band), method and options.
    read : ReadOptions, optional
        Reading options (picks, projection, extra bad channels, mmap).
    scheduler : {"threads", "processes", "synchronous"}, str address or Client, optional
        Local Dask scheduler (default ``"threads"``); an address such as
        ``"tcp://10.0.0.5:8786"`` connects to that running ``dask.distributed`` cluster
        (needs ``pip install "wavescope[cluster]"``); a ``distributed.Client`` is used as is.
    workers : int, optional
        Threads or processes of the local scheduler (default: Dask's, one per core).
        Ignored for a cluster.
    progress : callable, optional
        Called as ``progress(done, total, record)`` after each recording finishes
        (``record`` is None on local schedulers, which report only counts).
    task : callable
        The per-recording function, ``task(path, velocity=, read=) -> BatchRecord``
        (default :func:`measure_one`; a module-level function, so that worker processes
        can import it).

    Returns
    -------
    records : list of BatchRecord
        One per recording, in input order; failures have ``ok=False`` and the error
        (the CLI exits 1 when any failed).

    Notes
    -----
    Each task reads and measures its recording exactly as a serial call would, with the
    same seed, so the summaries equal those of ``[measure_one(p, ...) for p in paths]``.
    With ``"processes"``, a worker that dies (killed, out of memory) breaks Dask's process
    pool; the recordings it left unfinished are then measured one per fresh process, so
    only the recording that killed its worker is reported lost.
    """
    dask = require("dask", "measuring many recordings")
    check_scheduler(scheduler, workers)
    files = find_recordings(paths)
    total = len(files)
    kw = {"velocity": velocity or VelocityOptions(), "read": read or ReadOptions()}
    if _is_address(scheduler) or type(scheduler).__name__ == "Client":
        tasks = [
            dask.delayed(task, pure=False)(os.fspath(f), **kw, dask_key_name=f"rec-{i}")
            for i, f in enumerate(files)
        ]
        return _run_distributed(tasks, [os.fspath(f) for f in files], scheduler, progress)
    from dask.callbacks import Callback

    done = [0]

    def posttask(key, result, dsk, state, worker_id):
        if isinstance(key, str) and key.startswith("rec-"):
            done[0] += 1
            if progress is not None:
                progress(done[0], total, None)

    opts = {} if workers is None else {"num_workers": int(workers)}
    sched = scheduler or "threads"

    def compute(idx):
        tasks = [
            dask.delayed(task, pure=False)(os.fspath(files[i]), **kw, dask_key_name=f"rec-{i}")
            for i in idx
        ]
        with Callback(posttask=posttask):
            return list(dask.compute(*tasks, scheduler=sched, **opts))

    try:
        return compute(range(total))
    except BrokenProcessPool:
        if sched != "processes":
            raise
    # a worker died: measure each recording in a fresh pool, so one loss stays one loss
    records = []
    done[0] = 0
    for i in range(total):
        try:
            records.append(compute([i])[0])
        except BrokenProcessPool as exc:
            records.append(
                BatchRecord(
                    os.fspath(files[i]),
                    False,
                    error=f"worker process died while measuring it ({type(exc).__name__})",
                )
            )
    return records


def _run_distributed(tasks, names, scheduler, progress) -> list[BatchRecord]:
    total = len(tasks)
    distributed = require("distributed", "a Dask cluster address")
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
                records[i] = BatchRecord(names[i], False, error=f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress(n, total, records[i])
        return records
    finally:
        if own:
            client.close()


def summary_rows(records: Sequence[BatchRecord]) -> list[dict]:
    """One flat row per record (the :data:`TABLE_COLUMNS`), for a table across recordings:
    the row of each typed summary (:meth:`RecordingSummary.to_row`), None where
    undefined."""
    rows = []
    for r in records:
        row = dict.fromkeys(TABLE_COLUMNS)
        if r.summary is not None:
            full = r.summary.to_row()
            row.update({c: full[c] for c in TABLE_COLUMNS if c in full})
        row.update(input=r.input, ok=bool(r.ok), error=r.error or "")
        rows.append(row)
    return rows
