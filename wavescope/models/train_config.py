"""Dataclass settings of a training run, grouped by what they decide.

:func:`wavescope.models.training.train` takes the model's name and these groups:

- :class:`TrainHParams`: optimisation (steps, batch, AdamW, schedule, clipping, seed,
  early stop); stored in the checkpoint, must match on resume;
- :class:`TaskSpec`: the task and its data (copy length, context); stored, must match;
- :class:`EvalSpec`: held-out evaluation during and after training; free to change;
- :class:`LogSpec`: metrics lines, checkpoint cadence, progress bar; free to change.

The model itself is its registry config (:mod:`wavescope.models.config`), given as
overrides of the registry's default at a scale. The groups that define the trajectory
(hyperparameters, task, model config) are written to ``run.json`` and the checkpoint and
compared on resume; the others only change what is measured and logged. Every group checks
its fields when it is built, so a bad value fails before any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from wavescope.core.errors import WaveInputError

TASKS = ("copy",)
EVAL_MODES = ("teacher", "generate")


def _int(owner: str, name: str, value, low: int, optional: bool = False, high: int | None = None):
    if value is None and optional:
        return None
    try:
        ok = not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or int(value) < low or (high is not None and int(value) > high):
        extra = " or None" if optional else ""
        top = f" and <= {high}" if high is not None else ""
        raise WaveInputError(
            f"{owner}.{name} must be an integer >= {low}{top}{extra}, got {value!r}."
        )
    return int(value)


#: Seeds go to numpy's legacy global generator, which takes 32-bit seeds.
MAX_SEED = 2**32 - 1


def _float(owner: str, name: str, value, low: float, strict: bool, optional: bool = False):
    if value is None and optional:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not math.isfinite(v) or v < low or (strict and v == low):
        rel = ">" if strict else ">="
        raise WaveInputError(
            f"{owner}.{name} must be a finite number {rel} {low:g}, got {value!r}."
        )
    return v


@dataclass
class TrainHParams:
    """Hyperparameters that define a run (stored in the checkpoint; must match on resume).

    Attributes
    ----------
    steps : int
        Total optimizer steps.
    batch_size : int
        Rows (contexts) per step; with several processes, the global batch, split across them.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW's decoupled weight decay.
    warmup_steps : int or None
        Linear warmup from 0 to ``lr``; then cosine decay to ``min_lr_ratio * lr``.
        None: ``min(100, steps // 10)``.
    min_lr_ratio : float
        Final learning rate as a fraction of ``lr``.
    grad_clip : float
        Max global gradient norm (0 disables clipping).
    seed : int
        Seeds torch, numpy, python and the data stream.
    stop_exact_acc : float or None
        End the run early at the first train line whose exact-string accuracy reaches
        this value (None: always run all ``steps``); the schedule still spans ``steps``.
    """

    steps: int = 1000  # optimizer steps
    batch_size: int = 16  # B, rows per step (global)
    lr: float = 3e-3  # peak AdamW learning rate
    weight_decay: float = 0.1  # AdamW decoupled weight decay
    warmup_steps: int | None = None  # linear warmup; None: min(100, steps // 10)
    min_lr_ratio: float = 0.1  # final lr / peak lr of the cosine decay
    grad_clip: float = 1.0  # max global gradient norm; 0: no clipping
    seed: int = 0  # seeds the model's init and the data stream
    stop_exact_acc: float | None = None  # early stop at this train exact accuracy

    def __post_init__(self):
        o = "TrainHParams"
        self.steps = _int(o, "steps", self.steps, 1)
        self.batch_size = _int(o, "batch_size", self.batch_size, 1)
        self.lr = _float(o, "lr", self.lr, 0.0, strict=True)
        self.weight_decay = _float(o, "weight_decay", self.weight_decay, 0.0, strict=False)
        if self.warmup_steps is None:
            self.warmup_steps = min(100, self.steps // 10)
        self.warmup_steps = _int(o, "warmup_steps", self.warmup_steps, 0)
        self.min_lr_ratio = _float(o, "min_lr_ratio", self.min_lr_ratio, 0.0, strict=False)
        self.grad_clip = _float(o, "grad_clip", self.grad_clip, 0.0, strict=False)
        self.seed = _int(o, "seed", self.seed, 0, high=MAX_SEED)
        self.stop_exact_acc = _float(
            o, "stop_exact_acc", self.stop_exact_acc, 0.0, strict=False, optional=True
        )


@dataclass
class TaskSpec:
    """The training task (stored in the checkpoint as the task's own parameters).

    Attributes
    ----------
    name : {"copy"}
        The copy task of Jelassi et al. 2024 (``BOS s SEP s EOS``, loss on the copy).
    length : int
        L, the longest copied string.
    min_length : int or None
        Shortest training string; None: ``min(5, L)``. Lengths are uniform in between.
    context_len : int or None
        Tokens per training row; None: two longest examples, capped at the model's
        ``max_len``.
    """

    name: str = "copy"  # task
    length: int = 20  # L, longest copied string
    min_length: int | None = None  # shortest string; None: min(5, L)
    context_len: int | None = None  # tokens per row; None: 2 (2 L + 3) - 1, capped at max_len

    def __post_init__(self):
        if self.name not in TASKS:
            raise WaveInputError(
                f"task={self.name!r} is not supported; choose one of {', '.join(TASKS)}."
            )
        self.length = _int("TaskSpec", "length", self.length, 1)
        self.min_length = _int("TaskSpec", "min_length", self.min_length, 1, optional=True)
        self.context_len = _int("TaskSpec", "context_len", self.context_len, 1, optional=True)


@dataclass
class EvalSpec:
    """Held-out evaluation: during training (``every``) and at the end.

    Attributes
    ----------
    every : int or None
        Score one fixed held-out batch every this many steps (None: not during training).
    lengths : tuple of int or None
        String lengths of the final evaluation; None: ``L, 1.5 L, 2 L``.
    examples : int
        Strings per length (and rows of the held-out batch).
    modes : tuple of str
        ``"teacher"`` (teacher-forced argmax, the paper's) and/or ``"generate"`` (greedy
        autoregressive decoding).
    """

    every: int | None = None  # steps between held-out evaluations
    lengths: tuple[int, ...] | None = None  # final evaluation lengths; None: L, 1.5 L, 2 L
    examples: int = 64  # strings per length
    modes: tuple[str, ...] = field(default=EVAL_MODES)  # teacher and/or generate

    def __post_init__(self):
        self.every = _int("EvalSpec", "every", self.every, 1, optional=True)
        if self.lengths is not None:
            self.lengths = tuple(_int("EvalSpec", "lengths", n, 1) for n in self.lengths)
            if not self.lengths:
                raise WaveInputError("EvalSpec.lengths is empty; give at least one length.")
        self.examples = _int("EvalSpec", "examples", self.examples, 1)
        self.modes = (self.modes,) if isinstance(self.modes, str) else tuple(self.modes)
        bad = [m for m in self.modes if m not in EVAL_MODES]
        if bad or not self.modes:
            raise WaveInputError(
                f"EvalSpec.modes must be some of {', '.join(EVAL_MODES)}, got {self.modes!r}."
            )

    def resolved_lengths(self, length: int) -> list[int]:
        """The final evaluation lengths for training length ``length``."""
        if self.lengths is not None:
            return list(self.lengths)
        return sorted({int(length), int(1.5 * int(length)), 2 * int(length)})


@dataclass
class LogSpec:
    """What is written while training, and how often.

    Attributes
    ----------
    every : int
        Steps per train line of ``metrics.jsonl`` (and per progress-bar update).
    ckpt_every : int or None
        Steps between checkpoints; None: ``max(steps // 10, every)``. One is always written
        at the end.
    progress : bool
        Show the tqdm progress bar.
    """

    every: int = 10  # steps per train line in metrics.jsonl
    ckpt_every: int | None = None  # steps between checkpoints; None: max(steps // 10, every)
    progress: bool = True  # tqdm bar

    def __post_init__(self):
        self.every = _int("LogSpec", "every", self.every, 1)
        self.ckpt_every = _int("LogSpec", "ckpt_every", self.ckpt_every, 1, optional=True)
        self.progress = bool(self.progress)
