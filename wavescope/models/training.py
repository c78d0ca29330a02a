"""Training of the registry's models on the copy task: seeded, resumable, logged.

:func:`train` runs AdamW with linear warmup and cosine decay on fresh copy batches,
shows a tqdm bar with loss and accuracy, and writes into ``out_dir``:

- ``metrics.jsonl``: one JSON object per log line, ``{"step", "split", "loss", "char_acc",
  "exact_acc", "time", "lr"}``; ``split="train"`` lines average the steps since the last
  line (each batch is fresh, so these are held-out numbers); ``split="eval"`` lines (every
  ``eval_every`` steps) score one fixed held-out batch;
- ``checkpoint.pt``: written atomically (see :mod:`wavescope.models.checkpoint`) every
  ``ckpt_every`` steps and at the end;
- ``run.json``: model, config, task and hyperparameters, parameter count;
- ``final_eval.json``: teacher-forced and autoregressive accuracy at the training length
  and longer ones, and the steps to 95 % exact-string accuracy.

Runs are deterministic on CPU: the same seed gives bit-identical weights and metrics
(except the wall ``time``), and ``resume=True`` continues a killed run exactly, because
the checkpoint carries the optimizer, scheduler, RNG and data-stream states and the
metrics written after the checkpoint are dropped on resume.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError
from wavescope.io.metrics import METRICS, read_metrics, steps_to_threshold, truncate_metrics
from wavescope.io.outputs import write_json
from wavescope.models.checkpoint import (
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from wavescope.models.tasks import (
    VOCAB_SIZE,
    CopyTask,
    copy_accuracy,
    evaluate_teacher_forced,
    length_generalization,
    masked_cross_entropy,
    min_context_len,
)

TASKS = ("copy",)
CHECKPOINT = "checkpoint.pt"
RUN_JSON = "run.json"
FINAL_EVAL = "final_eval.json"
EVAL_SEED_OFFSET = 1_000_003  # held-out data: a seed stream no training run uses


@dataclass
class TrainHParams:
    """Hyperparameters that define a run (stored in the checkpoint; must match on resume).

    Attributes
    ----------
    steps : int
        Total optimizer steps.
    batch_size : int
        Rows (contexts) per step.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW's decoupled weight decay.
    warmup_steps : int
        Linear warmup from 0 to ``lr``; then cosine decay to ``min_lr_ratio * lr``.
    min_lr_ratio : float
        Final learning rate as a fraction of ``lr``.
    grad_clip : float
        Max global gradient norm (0 disables clipping).
    seed : int
        Seeds torch, numpy, python and the data stream.
    stop_exact_acc : float or None
        End the run early at the first train line whose exact-string accuracy reaches
        this value (None: always run all ``steps``).
    """

    steps: int
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    stop_exact_acc: float | None = None


def lr_factor(step: int, hp: TrainHParams) -> float:
    """Learning-rate multiplier after ``step`` scheduler steps: warmup then cosine."""
    if step < hp.warmup_steps:
        return (step + 1) / hp.warmup_steps
    span = max(hp.steps - hp.warmup_steps, 1)
    progress = min((step - hp.warmup_steps) / span, 1.0)
    return hp.min_lr_ratio + (1 - hp.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def check_device(device) -> torch.device:
    """Parse ``device`` ("cpu", "cuda", "cuda:1"), raising if CUDA is asked for but absent."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise WaveInputError(
            f"device={device!r} is not a torch device; use 'cpu' or 'cuda'."
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise WaveInputError(
                "device='cuda' was asked for but CUDA is not available here (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda}); use --device cpu."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise WaveInputError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present."
            )
    elif dev.type != "cpu":
        raise WaveInputError(f"device={device!r} is not supported; use 'cpu' or 'cuda'.")
    return dev


def _registry():
    from wavescope.models import registry

    return registry


def check_model_name(name: str) -> None:
    names = _registry().MODEL_NAMES
    if name not in names:
        raise WaveInputError(f"unknown model {name!r}; choose one of {', '.join(names)}.")


def make_copy_task(length: int, seed: int, max_len=None, min_len=None, context_len=None):
    """The training task for copy length ``length``: strings uniform on
    ``[min(5, length), length]``, packed into ``context_len`` tokens (default two longest
    examples, capped at the model's ``max_len``)."""
    try:
        length = int(length)
    except (TypeError, ValueError):
        raise WaveInputError(f"length must be an integer, got {length!r}.") from None
    if length < 1:
        raise WaveInputError(f"length must be >= 1 (the longest copied string), got {length}.")
    need = min_context_len(length)
    if max_len is not None and need > max_len:
        raise WaveInputError(
            f"copy length {length} needs {need} tokens per example but the model's "
            f"max_len is {max_len}; lower --length to at most {(max_len - 2) // 2} or raise "
            "max_len in the model config."
        )
    if min_len is None:
        min_len = min(5, length)
    if context_len is None:
        context_len = 2 * (2 * length + 3) - 1
        if max_len is not None:
            context_len = min(context_len, max_len)
    elif max_len is not None and context_len > max_len:
        raise WaveInputError(
            f"context_len={context_len} exceeds the model's max_len={max_len}; lower it."
        )
    return CopyTask(min_len, length, context_len=context_len, seed=seed, packed=True)


def _compare(what: str, stored, requested, hint: str) -> None:
    if stored != requested:
        if isinstance(stored, dict) and isinstance(requested, dict):
            diff = {
                k: (stored.get(k), requested.get(k))
                for k in sorted(set(stored) | set(requested))
                if stored.get(k) != requested.get(k)
            }
            detail = ", ".join(
                f"{k}: checkpoint {a!r} vs requested {b!r}" for k, (a, b) in diff.items()
            )
        else:
            detail = f"checkpoint {stored!r} vs requested {requested!r}"
        raise WaveInputError(
            f"the checkpoint's {what} does not match the request ({detail}); {hint}"
        )


def train(
    model_name: str,
    task: str = "copy",
    length: int = 20,
    steps: int = 1000,
    seed: int = 0,
    device="cpu",
    out_dir="runs/copy",
    resume: bool = False,
    scale: str = "cpu",
    lr: float = 3e-3,
    batch_size: int = 16,
    eval_every: int | None = None,
    log_every: int = 10,
    ckpt_every: int | None = None,
    warmup_steps: int | None = None,
    weight_decay: float = 0.1,
    grad_clip: float = 1.0,
    config_overrides: dict | None = None,
    context_len: int | None = None,
    eval_lengths=None,
    eval_examples: int = 64,
    eval_modes=("teacher", "generate"),
    progress: bool = True,
    stop_after: int | None = None,
    stop_exact_acc: float | None = None,
    threads: int | None = None,
) -> dict:
    """Train ``model_name`` on the copy task; resumable and deterministic.

    Parameters
    ----------
    model_name : str
        One of ``wavescope.models.registry.MODEL_NAMES``.
    task : {"copy"}
        The task.
    length : int
        Longest copied string L; training strings are uniform on ``[min(5, L), L]``.
    steps : int
        Total optimizer steps.
    seed : int
        Seeds torch, numpy, python and the data stream.
    device : str
        "cpu" or "cuda" (raises if CUDA is absent).
    out_dir : path
        Run folder. Must be empty or absent unless ``resume``.
    resume : bool
        Continue the run saved in ``out_dir`` exactly (model, config and hyperparameters
        must match the checkpoint). A finished run is not trained further; its final
        evaluation is written if missing.
    scale : {"cpu", "gpu"}
        Default model size from the registry.
    lr, batch_size, weight_decay, grad_clip, warmup_steps
        Optimisation (see :class:`TrainHParams`); ``warmup_steps`` defaults to
        ``min(100, steps // 10)``.
    eval_every : int, optional
        Score the fixed held-out batch every this many steps (None: never during training).
    log_every : int
        Steps per train line in ``metrics.jsonl`` and per progress-bar update.
    ckpt_every : int, optional
        Steps between checkpoints (default ``max(steps // 10, log_every)``); one is always
        written at the end.
    config_overrides : dict, optional
        Fields of the model config to change from the registry's default.
    context_len : int, optional
        Tokens per training row (default: two longest examples, capped at ``max_len``).
    eval_lengths : sequence of int, optional
        Lengths of the final evaluation (default ``L, 1.5 L, 2 L``).
    eval_examples : int
        Strings per length in evaluations (and rows of the held-out batch).
    eval_modes : tuple
        ``"teacher"`` (teacher-forced argmax) and/or ``"generate"`` (greedy decoding).
    progress : bool
        Show the tqdm bar.
    stop_after : int, optional
        Stop after this step as if the run were killed there (a checkpoint is written);
        for tests and for splitting long runs.
    stop_exact_acc : float, optional
        Finish early once a train line reaches this exact-string accuracy (e.g. 0.95 for
        steps-to-threshold studies); the schedule still spans ``steps``.
    threads : int, optional
        ``torch.set_num_threads`` for this run.

    Returns
    -------
    dict
        ``out_dir``, ``step`` (steps done), ``finished``, ``n_params``, ``steps_to_95``
        (first train line with exact accuracy >= 0.95, or None) and ``final_eval``.
    """
    from tqdm.auto import tqdm

    if task not in TASKS:
        raise WaveInputError(f"task={task!r} is not supported; choose one of {', '.join(TASKS)}.")
    check_model_name(model_name)
    dev = check_device(device)
    steps = int(steps)
    if steps < 1:
        raise WaveInputError(f"steps must be >= 1, got {steps}.")
    if int(batch_size) < 1 or int(log_every) < 1:
        raise WaveInputError(
            f"batch_size and log_every must be >= 1, got {batch_size}, {log_every}."
        )
    if int(seed) < 0:
        raise WaveInputError(f"seed must be >= 0, got {seed}.")
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    if resume:
        if not ckpt_path.exists():
            raise WaveFileNotFoundError(
                f"--resume was given but {str(ckpt_path)!r} does not exist; drop --resume to "
                "start a new run."
            )
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise WaveInputError(
            f"output folder {str(out)!r} is not empty; pass --resume to continue the run saved "
            "there, or choose another --out (nothing was overwritten)."
        )

    reg = _registry()
    config = reg.default_config(model_name, scale, **(config_overrides or {}))
    hp = TrainHParams(
        steps=steps,
        batch_size=int(batch_size),
        lr=float(lr),
        weight_decay=float(weight_decay),
        warmup_steps=int(warmup_steps if warmup_steps is not None else min(100, steps // 10)),
        grad_clip=float(grad_clip),
        seed=int(seed),
        stop_exact_acc=None if stop_exact_acc is None else float(stop_exact_acc),
    )
    copy_task = make_copy_task(length, hp.seed, config.max_len, context_len=context_len)
    eval_task = CopyTask.from_dict({**copy_task.to_dict(), "seed": hp.seed + EVAL_SEED_OFFSET})
    eval_batch = eval_task.batch(eval_examples)
    if eval_lengths is None:
        eval_lengths = sorted({int(length), int(1.5 * int(length)), 2 * int(length)})
    ckpt_every = int(ckpt_every or max(steps // 10, int(log_every)))

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    if dev.type == "cuda":  # cuBLAS needs this workspace setting to be deterministic
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        torch.manual_seed(hp.seed)
        np.random.seed(hp.seed)  # noqa: NPY002 (global state, for any code that uses it)
        random.seed(hp.seed)
        model = reg.build_model(model_name, VOCAB_SIZE, config).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, hp))
        start, elapsed, early = 0, 0.0, False
        run_info = {
            "model_name": model_name,
            "config": asdict(config),
            "vocab_size": VOCAB_SIZE,
            "task": copy_task.to_dict(),
            "train": asdict(hp),
            "scale": scale,
            "n_params": model.num_parameters(),
        }
        if resume:
            ck = load_checkpoint(ckpt_path, map_location=dev)
            hint = (
                "resume with the same --model, --scale, --length and options, or use another --out."
            )
            _compare("model", ck["model_name"], model_name, hint)
            _compare("model config", ck["config"], asdict(config), hint)
            _compare("task", ck["task"], copy_task.to_dict(), hint)
            _compare("training setup", ck.get("train"), asdict(hp), hint)
            try:
                model.load_state_dict(ck["model_state"])
                opt.load_state_dict(ck["optimizer_state"])
                sched.load_state_dict(ck["scheduler_state"])
            except (RuntimeError, KeyError, ValueError) as exc:
                raise WaveInputError(
                    f"checkpoint {str(ckpt_path)!r} does not fit the model ({exc}); " + hint
                ) from None
            set_rng_state(ck["rng_state"])
            copy_task.load_state_dict(ck["task_state"])
            start, elapsed = int(ck["step"]), float(ck.get("elapsed", 0.0))
            early = bool(ck.get("stopped_early", False))
            truncate_metrics(out / METRICS, start)
        else:
            out.mkdir(parents=True, exist_ok=True)
            write_json(out / RUN_JSON, run_info)

        def checkpoint(step: int) -> None:
            save_checkpoint(
                ckpt_path,
                {
                    "model_name": model_name,
                    "config": asdict(config),
                    "vocab_size": VOCAB_SIZE,
                    "model_state": model.state_dict(),
                    "optimizer_state": opt.state_dict(),
                    "scheduler_state": sched.state_dict(),
                    "step": step,
                    "rng_state": get_rng_state(),
                    "task": copy_task.to_dict(),
                    "task_state": copy_task.state_dict(),
                    "train": asdict(hp),
                    "elapsed": elapsed + time.perf_counter() - t0,
                    "stopped_early": early,
                },
            )

        t0 = time.perf_counter()
        model.train()
        win = {"loss": 0.0, "n": 0, "right": 0, "tokens": 0, "exact": 0.0, "examples": 0}
        stop = steps if stop_after is None else min(int(stop_after), steps)
        if early:
            stop = start
        done = start
        bar = tqdm(total=steps, initial=start, disable=not progress, desc=model_name, leave=False)
        with open(out / METRICS, "a") as mfh:
            for step in range(start + 1, stop + 1):
                batch = copy_task.batch(hp.batch_size)
                t = batch.to_torch(dev)
                logits = model(t["tokens"])  # logits : (B, T, V)
                loss = masked_cross_entropy(logits, t["targets"], t["loss_mask"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if hp.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
                lr_now = opt.param_groups[0]["lr"]
                opt.step()
                sched.step()
                acc = copy_accuracy(logits.detach().argmax(-1), batch)
                win["loss"] += float(loss.detach())
                win["n"] += 1
                win["right"] += acc["char_acc"] * acc["n_tokens"]
                win["tokens"] += acc["n_tokens"]
                win["exact"] += acc["exact_acc"] * acc["n_examples"]
                win["examples"] += acc["n_examples"]
                now = elapsed + time.perf_counter() - t0
                if step % log_every == 0 or step == steps:
                    rec = {
                        "step": step,
                        "split": "train",
                        "loss": win["loss"] / win["n"],
                        "char_acc": win["right"] / max(win["tokens"], 1),
                        "exact_acc": win["exact"] / max(win["examples"], 1),
                        "time": round(now, 3),
                        "lr": lr_now,
                    }
                    mfh.write(json.dumps(rec) + "\n")
                    mfh.flush()
                    bar.set_postfix(loss=f"{rec['loss']:.3f}", exact=f"{rec['exact_acc']:.2f}")
                    win = dict.fromkeys(win, 0)
                    win["loss"] = win["exact"] = 0.0
                    if hp.stop_exact_acc is not None and rec["exact_acc"] >= hp.stop_exact_acc:
                        early = True
                if eval_every and step % int(eval_every) == 0:
                    ev = evaluate_teacher_forced(model, eval_batch, dev)
                    rec = {"step": step, "split": "eval", "time": round(now, 3), "lr": lr_now}
                    rec.update({k: ev[k] for k in ("loss", "char_acc", "exact_acc")})
                    mfh.write(json.dumps(rec) + "\n")
                    mfh.flush()
                bar.update(1)
                done = step
                if step % ckpt_every == 0 or step == stop or early:
                    checkpoint(step)
                if early:
                    break
        bar.close()
        finished = done >= steps or early
        summary = {
            "out_dir": str(out),
            "step": done,
            "finished": finished,
            "stopped_early": early,
            "n_params": run_info["n_params"],
            "steps_to_95": steps_to_threshold(read_metrics(out / METRICS)),
            "final_eval": None,
        }
        if not finished:
            return summary
        final_path = out / FINAL_EVAL
        if final_path.exists():
            summary["final_eval"] = json.loads(final_path.read_text())
            return summary
        model.eval()
        rows = length_generalization(
            model,
            eval_lengths,
            n_examples=eval_examples,
            seed=hp.seed + EVAL_SEED_OFFSET,
            device=dev,
            modes=tuple(eval_modes),
        )
        final = {
            **run_info,
            "step": done,
            "train_length": int(length),
            "steps_to_95": summary["steps_to_95"],
            "heldout": {
                k: v
                for k, v in evaluate_teacher_forced(model, eval_batch, dev).items()
                if k in ("loss", "char_acc", "exact_acc", "n_examples")
            },
            "lengths": rows,
        }
        write_json(final_path, final)
        summary["final_eval"] = final
        return summary
    finally:
        torch.use_deterministic_algorithms(prev_det)
        if threads:
            torch.set_num_threads(prev_threads)
