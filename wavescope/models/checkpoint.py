"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A training checkpoint is a dict with the keys of :data:`REQUIRED_KEYS`:

- ``model_name`` (str), ``config`` (dict, ``dataclasses.asdict`` of the model config),
  ``vocab_size`` (int), ``model_state`` (state dict), ``optimizer_state``,
  ``scheduler_state``, ``step`` (int, optimizer steps done), ``task`` (dict of the task's
  parameters), ``rng_state`` (torch, numpy and python generator states as tensors and plain
  lists, see :func:`get_rng_state`);

plus training extras (``train`` hyperparameters, ``task_state``, ``elapsed`` seconds).
Only tensors and plain Python containers are stored, so the safe unpickler of
``weights_only=True`` reads everything and no code runs on load.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import atomic_write

REQUIRED_KEYS = (
    "model_name",
    "config",
    "vocab_size",
    "model_state",
    "optimizer_state",
    "scheduler_state",
    "step",
    "rng_state",
    "task",
)


def save_checkpoint(path, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically (:func:`wavescope.io.outputs.atomic_write`).

    The data go to a temporary file created exclusively in the same folder, are flushed
    to disk, and the file is renamed over ``path`` (atomic on POSIX and Windows): a reader
    sees the old checkpoint or the new one, never a partial file. If writing fails the
    temporary file is removed and the old checkpoint is left untouched; temporary files of
    a killed run are removed at the next save.
    """
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)
    return path


def load_checkpoint(path, map_location="cpu", required=REQUIRED_KEYS) -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    Raises
    ------
    WaveInputError
        If the file is missing, unreadable (truncated, corrupt, not a torch file) or lacks
        one of the ``required`` keys.
    """
    path = Path(path)
    if not path.is_file():
        raise WaveFileNotFoundError(f"checkpoint {str(path)!r} does not exist.")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, pickle error, EOF, ...
        raise WaveInputError(
            f"checkpoint {str(path)!r} is corrupt or not a wavescope checkpoint "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "delete it to start the run again, or point to another file."
        ) from None
    if not isinstance(ckpt, dict):
        raise WaveInputError(
            f"checkpoint {str(path)!r} holds a {type(ckpt).__name__}, not a wavescope "
            "checkpoint dict."
        )
    missing = [k for k in required if k not in ckpt]
    if missing:
        raise WaveInputError(
            f"checkpoint {str(path)!r} lacks the keys {missing}; it was not written by "
            "wavescope training (or by an incompatible version)."
        )
    return ckpt


def get_rng_state() -> dict:
    """States of the torch (CPU and CUDA), numpy (legacy global) and python generators.

    Stored as tensors, ints, floats and lists so that ``weights_only=True`` loads them.
    """
    # the legacy global generator is what third-party code draws from; save it too
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    version, pstate, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "state": [int(x) for x in pstate],
            "gauss_next": gauss_next,
        },
    }


def set_rng_state(state: dict) -> None:
    """Restore the generator states saved by :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            n["name"],
            n["keys"].cpu().numpy().astype(np.uint32),
            int(n["pos"]),
            int(n["has_gauss"]),
            float(n["cached_gaussian"]),
        )
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


def load_model(path, map_location="cpu"):
    """Rebuild the model saved in a training checkpoint, in eval mode.

    Returns
    -------
    model : wavescope.models.lm.LanguageModel
    checkpoint : dict
        The loaded checkpoint (for its ``task``, ``step``, ...).

    Raises
    ------
    WaveInputError
        The file is missing or corrupt, or its model name, config (unknown fields,
        negative, fractional or string sizes) or vocabulary size is invalid, or the config
        asks for more weights than half of this machine's memory.
    """
    from wavescope.models import registry

    ckpt = load_checkpoint(
        path,
        map_location=map_location,
        required=("model_name", "config", "vocab_size", "model_state"),
    )
    name = ckpt["model_name"]
    if not isinstance(name, str):
        raise WaveInputError(
            f"checkpoint {str(path)!r}: model_name must be a string, got {name!r}."
        )
    # every size is checked, and the weights counted without allocating them, before the
    # model is built (a damaged config cannot ask for hundreds of gigabytes)
    config = registry.config_from_dict(name, ckpt["config"])
    model = registry.build_model(name, ckpt["vocab_size"], config)
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        raise WaveInputError(
            f"checkpoint {str(path)!r}: the weights do not fit its own config ({exc})."
        ) from None
    return model.to(map_location).eval(), ckpt
