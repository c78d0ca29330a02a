"""The run folder of a training run: what it holds, and how a run starts in it.

A run writes, in this order: ``run.json`` (what the run is), ``metrics.jsonl`` (appended
line by line), ``checkpoint.pt`` (replaced atomically every ``ckpt_every`` steps) and, when
done, ``final_eval.json``. Every file but the metrics log goes through a temporary file
renamed into place (:func:`wavescope.io.outputs.atomic_write`). So a run killed at any
moment leaves one of these states, and :func:`prepare` recognises each:

======================  ==============================================  ================
state                   folder holds                                    ``resume=True``
======================  ==============================================  ================
absent / empty          nothing                                         start (empty) or
                                                                        refuse (absent)
started                 ``run.json`` of this run (maybe metrics lines,   start again from
                        a torn last line, temporary files), no           step 0
                        checkpoint: killed before its first checkpoint
checkpointed            a checkpoint (maybe metrics lines after it, a   continue from the
                        torn line, a killed checkpoint's temporary      checkpoint
                        file, no final evaluation yet)
finished                checkpoint and ``final_eval.json``              nothing to train
======================  ==============================================  ================

Without ``resume`` only an absent or empty folder is accepted (nothing is ever
overwritten); the refusal says which state was found and that ``--resume`` continues or
restarts it. With ``resume``, temporary files of killed writers are removed first, and a
folder holding anything a run does not write, or the ``run.json`` of a different run, is
refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from wavescope.core.errors import WaveFileNotFoundError, WaveInputError
from wavescope.io.metrics import METRICS
from wavescope.io.outputs import remove_stale_temps

CHECKPOINT = "checkpoint.pt"
RUN_JSON = "run.json"
FINAL_EVAL = "final_eval.json"
RUN_FILES = (RUN_JSON, METRICS, CHECKPOINT, FINAL_EVAL)
#: Keys of ``run.json`` that define the run (compared when a started run is restarted).
DEFINING_KEYS = ("model_name", "config", "task", "train")

FRESH, RESTART, RESUME = "fresh", "restart", "resume"


def describe_difference(
    what: str, stored, requested, hint: str, source: str = "the checkpoint's"
) -> None:
    """Raise if ``stored`` differs from ``requested``, naming the fields that differ."""
    if stored == requested:
        return
    if isinstance(stored, dict) and isinstance(requested, dict):
        diff = {
            k: (stored.get(k), requested.get(k))
            for k in sorted(set(stored) | set(requested))
            if stored.get(k) != requested.get(k)
        }
        detail = ", ".join(f"{k}: stored {a!r} vs requested {b!r}" for k, (a, b) in diff.items())
    else:
        detail = f"stored {stored!r} vs requested {requested!r}"
    raise WaveInputError(f"{source} {what} does not match the request ({detail}); {hint}")


def _read_run_json(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WaveInputError(
            f"{path} is not readable JSON ({type(exc).__name__}); it was not written by "
            "'wavescope train' or was damaged: remove the folder or choose another --out."
        ) from None
    if not isinstance(info, dict) or not all(k in info for k in DEFINING_KEYS):
        raise WaveInputError(
            f"{path} lacks the keys {list(DEFINING_KEYS)}; it was not written by "
            "'wavescope train': choose another --out."
        )
    return info


def prepare(out: Path, resume: bool, run_info: dict, hint: str) -> str:
    """Check ``out`` before a run starts there and say how: fresh, restart or resume.

    Parameters
    ----------
    out : Path
        The run folder.
    resume : bool
        Continue (or restart) the run found there.
    run_info : dict
        The ``run.json`` this run would write (its :data:`DEFINING_KEYS` are compared
        with a stored ``run.json`` when a run killed before its first checkpoint is
        restarted).
    hint : str
        How to fix a mismatch (appended to the message).

    Returns
    -------
    str
        :data:`FRESH` (start; write ``run.json``), :data:`RESTART` (a started run without a
        checkpoint: start again from step 0, dropping its metrics lines) or :data:`RESUME`
        (continue from ``checkpoint.pt``).

    Raises
    ------
    WaveFileNotFoundError
        ``resume`` and the folder does not exist.
    WaveInputError
        The folder holds a run (or anything) and ``resume`` is False; or it holds files a
        run does not write, or another run's ``run.json``; or it is a file.
    """
    if out.exists() and not out.is_dir():
        raise WaveInputError(f"--out {str(out)!r} is a file; give a folder.")
    if not resume:
        if out.exists() and any(out.iterdir()):
            what = (
                "a run with a checkpoint"
                if (out / CHECKPOINT).exists()
                else "a run killed before its first checkpoint"
                if (out / RUN_JSON).exists()
                else "files"
            )
            raise WaveInputError(
                f"output folder {str(out)!r} is not empty (it holds {what}); pass --resume to "
                "continue the run saved there (a run without a checkpoint starts again from "
                "step 0), or choose another --out (nothing was overwritten)."
            )
        return FRESH
    if not out.is_dir():
        raise WaveFileNotFoundError(
            f"--resume was given but the run folder {str(out)!r} does not exist; drop --resume "
            "to start a new run."
        )
    for name in RUN_FILES:
        remove_stale_temps(out / name)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise WaveInputError(
            f"--resume: {str(out)!r} holds files a training run does not write ({shown}); it is "
            "not a run folder, or another process is writing to it: choose another --out."
        )
    if (out / CHECKPOINT).exists():
        return RESUME
    if (out / FINAL_EVAL).exists():
        raise WaveInputError(
            f"--resume: {str(out)!r} holds {FINAL_EVAL} but no {CHECKPOINT} (removed?); the "
            "run cannot be continued: choose another --out."
        )
    if (out / RUN_JSON).exists():
        stored = _read_run_json(out / RUN_JSON)
        for key, what in zip(DEFINING_KEYS, ("model", "model config", "task", "training setup")):
            describe_difference(what, stored[key], run_info[key], hint, f"{RUN_JSON}'s")
        return RESTART
    if (out / METRICS).exists():
        raise WaveInputError(
            f"--resume: {str(out)!r} holds {METRICS} but no {RUN_JSON}; it was not written by "
            "'wavescope train': choose another --out."
        )
    return FRESH  # an empty folder: nothing was started
