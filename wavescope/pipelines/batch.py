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

Batches keep what they finished: with ``out_dir``, each recording's summary is written
there (atomically, by the calling process) as soon as its task returns, with the options
it was measured with (:func:`result_document`); ``resume=True`` reads the finished ones
back (:func:`load_result`, refusing results of other options) and measures only the rest,
so a batch killed or crashing midway loses at most the recordings in flight. The table
(:func:`summary_rows`) and the combined JSON (:func:`batch_json`) are built from the
same stored rows, so a resumed batch gives the table of an uninterrupted one.

Tasks are per recording, not per chunk of a recording: the wave-epoch threshold pools the
null PGD of the whole record, so chunks of one record are not independent tasks. Within
a task, a long memory-mapped recording is still processed chunk by chunk with bounded
memory (see ``chunk_samples``).

:func:`output_names` gives each recording one output name (collisions resolved before any
work), and :func:`summary_rows` / :data:`TABLE_COLUMNS` the table across recordings.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavescope.core.deps import require
from wavescope.core.errors import WaveFileExistsError, WaveFileNotFoundError
from wavescope.core.results import Result, jsonable
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import check_output_path
from wavescope.pipelines.outputs import save
from wavescope.pipelines.recording import (
    ReadOptions,
    VelocityOptions,
    measure_recording,
    options_json,
)
from wavescope.waves.summary import RecordingSummary

__all__ = [
    "RECORDING_SUFFIXES",
    "SCHEDULERS",
    "TABLE_COLUMNS",
    "STORED_KEYS",
    "BatchRecord",
    "batch_json",
    "check_scheduler",
    "find_recordings",
    "is_batch",
    "load_result",
    "measure_many",
    "measure_one",
    "output_names",
    "recording_stem",
    "result_document",
    "result_paths",
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


#: Keys a per-recording result file adds to the summary JSON (see :func:`result_document`).
STORED_KEYS = ("options", "table_row")


@dataclass
class BatchRecord(Result):
    """One recording of a batch: its typed summary, or the error that stopped it.

    A recording finished by an earlier run and read back from ``out_dir``
    (``measure_many(..., resume=True)``) has ``summary`` None and ``stored`` the result
    file's content (:func:`result_document`).
    """

    input: str
    ok: bool
    summary: RecordingSummary | None = None
    error: str | None = None
    stored: dict | None = None

    @property
    def resumed(self) -> bool:
        """True for a recording read back from an earlier run's result file."""
        return self.summary is None and self.stored is not None

    def summary_json(self) -> dict | None:
        """The summary as ``wavescope velocity --json`` writes it (None for a failure)."""
        if self.summary is not None:
            return self.summary.to_json()
        if self.stored is not None:
            return {k: v for k, v in self.stored.items() if k not in STORED_KEYS}
        return None

    def row(self) -> dict | None:
        """The summary's flat row (:meth:`RecordingSummary.to_row`), JSON-safe (NaN as
        None), as stored in the result file; None for a failure."""
        if self.summary is not None:
            return jsonable(self.summary.to_row())
        if self.stored is not None:
            return dict(self.stored["table_row"])
        return None

    def to_json(self) -> dict:
        return {
            "input": self.input,
            "ok": self.ok,
            "summary": self.summary_json(),
            "error": self.error,
        }


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
    except Exception as exc:  # any kind (MemoryError, h5py's OSError): the others go on
        return BatchRecord(os.fspath(path), False, error=_describe(exc))
    return BatchRecord(os.fspath(path), True, summary=rec.summary)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, MemoryError) and not text:
        text = "out of memory while reading or measuring it"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def result_paths(
    files: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    resume: bool = False,
) -> list[Path]:
    """The result file of each recording in ``out_dir`` (:func:`output_names`), checked
    before any work.

    An existing file is refused unless ``resume`` (it is read back, see
    :func:`load_result`) or ``overwrite`` (it is measured again and replaced).

    Raises
    ------
    WaveFileExistsError
        A result file exists and neither ``resume`` nor ``overwrite`` is given.
    WaveInputError
        ``out_dir`` is a file, cannot be written, or a result file would replace an input.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise WaveInputError(f"--out-dir {out_dir} is a file, not a folder.")
    paths = []
    for name in output_names(files):
        path = out_dir / name
        if path.exists() and not (resume or overwrite):
            raise WaveFileExistsError(
                f"{path} exists (a recording finished by an earlier run?): pass --resume to "
                "keep the finished recordings and measure only the others, or --overwrite to "
                "measure them all again (Python: resume=True or overwrite=True)."
            )
        paths.append(check_output_path(path, True, inputs=files, option="--out-dir"))
    return paths


def result_document(record: BatchRecord, options: dict) -> dict:
    """What a finished recording's result file holds: the summary JSON (as ``wavescope
    velocity --json`` writes it), ``options`` (:func:`options_json`, to refuse resuming
    with other options) and ``table_row`` (:meth:`BatchRecord.row`, to rebuild the table
    exactly)."""
    return {**record.summary_json(), "options": options, "table_row": record.row()}


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items() if isinstance(d, dict) else ():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def load_result(
    path: str | os.PathLike, recording: str | os.PathLike, options: dict
) -> BatchRecord:
    """Read back a recording finished by an earlier run (see :func:`result_document`).

    Parameters
    ----------
    path : path-like
        The result file in ``out_dir``.
    recording : path-like
        The recording it must belong to.
    options : dict
        This run's options (:func:`options_json`, JSON-safe); the file's must be equal.

    Raises
    ------
    WaveInputError
        The file cannot be read, was not written by a batch, belongs to another recording,
        or holds a result measured with other options (the message names them).
    """
    path = Path(path)
    fix = "choose another --out-dir, or pass --overwrite without --resume to measure again"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WaveInputError(f"--resume: cannot read {path} ({exc}); {fix}.") from None
    if not isinstance(doc, dict) or not all(k in doc for k in STORED_KEYS):
        raise WaveInputError(
            f"--resume: {path} is not a result file of a batch run (no options stored in "
            f"it); {fix}."
        )
    stored_input = doc.get("input")
    if stored_input is None or Path(stored_input).resolve() != Path(recording).resolve():
        raise WaveInputError(
            f"--resume: {path} holds the result of {stored_input}, not of {recording}; {fix}."
        )
    if doc["options"] != options:
        old, new = _flat(doc["options"]), _flat(options)
        diffs = [
            f"{k}: {old.get(k)!r} then, {new.get(k)!r} now"
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)
        ]
        raise WaveInputError(
            f"--resume: {path} was measured with other options ({'; '.join(diffs)}); rerun "
            f"with the options of the finished results to resume, or {fix} with these."
        )
    return BatchRecord(os.fspath(recording), True, stored=doc)


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
    progress: Callable[[int, int, BatchRecord], None] | None = None,
    task: Callable[..., BatchRecord] = measure_one,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
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
        Called as ``progress(done, total, record)`` after each recording finishes, and
        after each one read back by ``resume`` (first, before any is measured).
    task : callable
        The per-recording function, ``task(path, velocity=, read=) -> BatchRecord``
        (default :func:`measure_one`; a module-level function, so that worker processes
        can import it).
    out_dir : path-like, optional
        Folder of the result files, one per recording (:func:`result_paths`), each written
        as soon as its recording finishes (failures are not written: a resumed run
        measures them again).
    resume : bool
        Read back the recordings whose result file is in ``out_dir`` (they must have been
        measured with equal options, see :func:`load_result`) and measure only the others.
    overwrite : bool
        Measure every recording and replace existing result files.

    Returns
    -------
    records : list of BatchRecord
        One per recording, in input order; failures have ``ok=False`` and the error
        (the CLI exits 1 when any failed); resumed ones have ``resumed`` True.

    Notes
    -----
    Each task reads and measures its recording exactly as a serial call would, with the
    same seed, so the summaries equal those of ``[measure_one(p, ...) for p in paths]``.
    With ``"processes"``, a worker that dies (killed, out of memory) breaks Dask's process
    pool; the recordings it left unfinished are then measured one per fresh process, so
    only the recording that killed its worker is reported lost. A process that dies
    itself, or a ``KeyboardInterrupt``, stops the batch: the result files written so far
    stay, and ``resume=True`` goes on from them.
    """
    dask = require("dask", "measuring many recordings")
    check_scheduler(scheduler, workers)
    files = find_recordings(paths)
    names = [os.fspath(f) for f in files]
    total = len(files)
    velocity, read = velocity or VelocityOptions(), read or ReadOptions()
    if resume and out_dir is None:
        raise WaveInputError(
            "resume reads the finished recordings from out_dir: give the --out-dir of the "
            "interrupted run."
        )
    targets = (
        None
        if out_dir is None
        else result_paths(files, out_dir, overwrite=overwrite, resume=resume)
    )
    options = jsonable(options_json(velocity, read))
    records: list[BatchRecord | None] = [None] * total
    done = [0]

    def finish(i: int, record: BatchRecord) -> None:
        if targets is not None and record.ok and not record.resumed:
            save(targets[i], result_document(record, options))
        records[i] = record
        done[0] += 1
        if progress is not None:
            progress(done[0], total, record)

    if resume:
        for i, target in enumerate(targets):
            if target.exists():
                finish(i, load_result(target, files[i], options))
    pending = [i for i in range(total) if records[i] is None]
    kw = {"velocity": velocity, "read": read}

    def delayed(i):
        return dask.delayed(task, pure=False)(names[i], **kw, dask_key_name=f"rec-{i}")

    if _is_address(scheduler) or type(scheduler).__name__ == "Client":
        _run_distributed([delayed(i) for i in pending], pending, names, scheduler, finish)
        return records
    from dask.callbacks import Callback

    def posttask(key, result, dsk, state, worker_id):  # runs in this process's main thread
        if isinstance(key, str) and key.startswith("rec-"):
            finish(int(key[4:]), result)

    opts = {} if workers is None else {"num_workers": int(workers)}
    sched = scheduler or "threads"

    def compute(idx):
        with Callback(posttask=posttask):
            dask.compute(*[delayed(i) for i in idx], scheduler=sched, **opts)

    try:
        compute(pending)
    except BrokenProcessPool:
        if sched != "processes":
            raise
        # a worker died: measure each unfinished recording in a fresh pool, so one loss
        # stays one loss
        for i in [i for i in pending if records[i] is None]:
            try:
                compute([i])
            except BrokenProcessPool as exc:
                error = f"worker process died while measuring it ({type(exc).__name__})"
                finish(i, BatchRecord(names[i], False, error=error))
    return records


def _run_distributed(tasks, idx, names, scheduler, finish) -> None:
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
        index = {f.key: i for i, f in zip(idx, futures)}
        for fut in distributed.as_completed(futures):
            i = index[fut.key]
            try:
                record = fut.result()
            except Exception as exc:  # a worker lost, or a task killed
                record = BatchRecord(names[i], False, error=_describe(exc))
            finish(i, record)
    finally:
        if own:
            client.close()


def batch_json(records: Sequence[BatchRecord]) -> dict:
    """The combined JSON of a batch (``wavescope velocity ... --json``): counts and one
    entry per recording (:meth:`BatchRecord.to_json`)."""
    return {
        "n_recordings": len(records),
        "n_failed": sum(not r.ok for r in records),
        "recordings": [r.to_json() for r in records],
    }


def summary_rows(records: Sequence[BatchRecord]) -> list[dict]:
    """One flat row per record (the :data:`TABLE_COLUMNS`), for a table across recordings:
    the row of each typed summary (:meth:`BatchRecord.row`, the same for a resumed
    recording), None where undefined."""
    rows = []
    for r in records:
        row = dict.fromkeys(TABLE_COLUMNS)
        full = r.row()
        if full is not None:
            row.update({c: full[c] for c in TABLE_COLUMNS if c in full})
        row.update(input=r.input, ok=bool(r.ok), error=r.error or "")
        rows.append(row)
    return rows
