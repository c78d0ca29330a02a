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


def weights_digest(checkpoint: dict) -> str:
    """SHA-256 (hex) of what makes a trained network: ``model_name``, ``config``,
    ``vocab_size`` and the ``model_state`` tensors (name, dtype, shape and bytes, in
    name order).

    Two runs with the same seed and settings give the same digest; the file's own bytes
    do not: each ``torch.save`` writes a random ``.data/serialization_id`` into the
    archive, and the checkpoint stores the run's wall-clock ``elapsed`` seconds.

    Raises
    ------
    WaveInputError
        If ``model_state`` is not a dict of tensors.
    """
    import hashlib
    import json

    state = checkpoint.get("model_state")
    if not isinstance(state, dict) or not all(torch.is_tensor(t) for t in state.values()):
        raise WaveInputError("the checkpoint's model_state must be a dict of tensors.")
    h = hashlib.sha256()
    head = {k: checkpoint.get(k) for k in ("model_name", "config", "vocab_size")}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"\n{name} {t.dtype} {tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


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


def check_step(step, path, total: int | None = None, name: str = "step") -> int:
    """A checkpoint's step count as an int: a whole number ``0 <= step <= total``.

    ``-5``, ``12.5``, ``True``, ``"3"`` or a step beyond the run's own ``total`` steps
    (``1e9`` of a 100-step run) are refused: such a file is damaged or belongs elsewhere.
    """
    ok = isinstance(step, int) and not isinstance(step, bool) and step >= 0
    if ok and total is not None:
        ok = step <= int(total)
    if not ok:
        bound = f"0 to {int(total)} (the run's steps)" if total is not None else ">= 0"
        raise WaveInputError(
            f"checkpoint {str(path)!r}: {name} must be a whole number {bound}, got "
            f"{step!r}; the file is damaged or from another run: start a new run (another "
            "--out) or point to another file."
        )
    return step


def nonfinite_tensors(state: dict) -> list[str]:
    """Names of the floating tensors of a state dict that hold NaN or infinity."""
    bad = []
    for name, t in state.items():
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad.append(str(name))
    return bad


def check_finite_weights(state: dict, path) -> None:
    """Refuse a state dict with NaN or infinite weights, naming them."""
    bad = nonfinite_tensors(state)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise WaveInputError(
            f"checkpoint {str(path)!r}: weights hold NaN or infinite values ({shown}); the "
            "run diverged before it was saved: use an earlier checkpoint or train again with "
            "a lower --lr."
        )


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


def set_rng_state(state: dict, source: str = "the checkpoint") -> None:
    """Restore the generator states saved by :func:`get_rng_state`.

    A damaged state (missing keys, wrong types, a generator state of the wrong size) is
    a :class:`~wavescope.core.errors.WaveInputError` naming ``source``; no generator is
    changed then (the states are all checked by restoring them into copies first).
    """
    saved = get_rng_state()
    try:
        _set_rng_state(state)
    except Exception as exc:  # any damage: KeyError, TypeError, RuntimeError, ValueError
        _set_rng_state(saved)
        raise WaveInputError(
            f"{source}: its rng_state is damaged ({type(exc).__name__}: {exc}); the run "
            "cannot continue exactly from it: start a new run (another --out)."
        ) from None


def _set_rng_state(state: dict) -> None:
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
        negative, fractional or string sizes), step count or vocabulary size is invalid,
        its weights hold NaN or infinity, or the config asks for more weights than half of
        this machine's memory.
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
    if "step" in ckpt:
        train = ckpt.get("train")
        total = train.get("steps") if isinstance(train, dict) else None
        check_step(ckpt["step"], path, total if isinstance(total, int) else None)
    if not isinstance(ckpt["model_state"], dict):
        raise WaveInputError(
            f"checkpoint {str(path)!r}: model_state must be a dict of tensors, got "
            f"{type(ckpt['model_state']).__name__}."
        )
    check_finite_weights(ckpt["model_state"], path)
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
