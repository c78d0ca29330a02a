"""Training of the registry's models on the copy task: seeded, resumable, logged.

:func:`train` runs AdamW with linear warmup and cosine decay on fresh copy batches,
shows a tqdm bar with loss and accuracy, and writes into ``out_dir``:

- ``run.json``: model, config, task and hyperparameters, parameter count (first);
- ``metrics.jsonl``: one JSON object per log line, ``{"step", "split", "loss", "char_acc",
  "exact_acc", "time", "lr"}``; ``split="train"`` lines average the steps since the last
  line (each batch is fresh, so these are held-out numbers); ``split="eval"`` lines (every
  ``EvalSpec.every`` steps) score one fixed held-out batch;
- ``checkpoint.pt``: written atomically (see :mod:`wavescope.models.checkpoint`) every
  ``LogSpec.ckpt_every`` steps and at the end;
- ``final_eval.json``: teacher-forced and autoregressive accuracy at the training length
  and longer ones, and the steps to 95 % exact-string accuracy.

Its settings come in the dataclass groups of :mod:`wavescope.models.train_config`
(hyperparameters, task, evaluation, logging) plus the model's config overrides.

Runs are deterministic on CPU: the same seed gives bit-identical weights and metrics
(except the wall ``time``). A run killed at any moment continues with ``resume=True``
(``--resume``) to the same weights and metrics as an uninterrupted run: from its
checkpoint (which carries the optimizer, scheduler, RNG and data-stream states; metrics
lines written after it, a torn last line included, are dropped), or, when it was killed
before its first checkpoint, from step 0 (see :mod:`wavescope.models.run_folder`).

With ``nproc > 1`` (or under ``torchrun``) the global batch is split across processes
with DistributedDataParallel (:mod:`wavescope.models.distributed`); the results match a
single-process run to float round-off and the checkpoint resumes with any number of
processes.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from wavescope.core.errors import WaveInputError
from wavescope.io.metrics import METRICS, read_metrics, steps_to_threshold, truncate_metrics
from wavescope.io.outputs import write_json
from wavescope.models import distributed, run_folder
from wavescope.models.checkpoint import (
    check_finite_weights,
    check_step,
    get_rng_state,
    load_checkpoint,
    nonfinite_tensors,
    save_checkpoint,
    set_rng_state,
)
from wavescope.models.config import LMConfig, check_config
from wavescope.models.run_folder import CHECKPOINT, FINAL_EVAL, RUN_JSON
from wavescope.models.tasks import (
    VOCAB_SIZE,
    CopyTask,
    evaluate_teacher_forced,
    length_generalization,
    masked_cross_entropy,
    min_context_len,
)
from wavescope.models.threads import default_threads
from wavescope.models.train_config import TASKS, EvalSpec, LogSpec, TaskSpec, TrainHParams

__all__ = [
    "CHECKPOINT",
    "EVAL_SEED_OFFSET",
    "FINAL_EVAL",
    "RUN_JSON",
    "TASKS",
    "EvalSpec",
    "LogSpec",
    "TaskSpec",
    "TrainHParams",
    "check_device",
    "lr_factor",
    "make_copy_task",
    "make_optimizer",
    "read_metrics",
    "steps_to_threshold",
    "train",
    "train_step",
]

EVAL_SEED_OFFSET = 1_000_003  # held-out data: a seed stream no training run uses
_RESUME_HINT = "resume with the same --model, --scale, --length and options, or use another --out."


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
    """Raise a WaveInputError listing the registry's names if ``name`` is not one."""
    _registry().check_model_name(name)


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


def make_optimizer(model, hp: TrainHParams):
    """AdamW with the warmup-cosine schedule of :func:`lr_factor`: ``(optimizer, scheduler)``."""
    opt = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, hp))
    return opt, sched


def train_step(model, opt, sched, batch, hp: TrainHParams, device, share=None):
    """One optimizer step on ``batch``: forward, masked loss, backward, clip, AdamW, schedule.

    Returns the loss (0-d tensor, detached), the argmax predictions (B, T) and the learning
    rate the step used. ``share`` scales the loss before backward (a process's share of a
    batch split across processes, see :mod:`wavescope.models.distributed`).
    """
    t = batch.to_torch(device)
    logits = model(t["tokens"])  # logits : (B, T, V)
    loss = masked_cross_entropy(logits, t["targets"], t["loss_mask"])
    opt.zero_grad(set_to_none=True)
    (loss if share is None else loss * share).backward()
    if hp.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
    lr_now = opt.param_groups[0]["lr"]
    opt.step()
    sched.step()
    return loss.detach(), logits.detach().argmax(-1), lr_now


def _step_counts(pred, batch) -> tuple[int, int, int, int]:
    """Right and masked tokens, exactly copied and all examples of a batch's rows.

    Examples never span rows, so the counts of row shards add up to the whole batch's.
    """
    pred = pred.cpu().numpy()
    mask = batch.loss_mask
    right = (pred == batch.targets) & mask
    ids = np.unique(batch.example[mask])
    wrong = np.unique(batch.example[mask & ~right])
    return int(right.sum()), int(mask.sum()), len(ids) - len(wrong), len(ids)


class _MetricsLog:
    """``metrics.jsonl`` opened for appending (rank 0 only; other ranks write nothing)."""

    def __init__(self, path: Path, active: bool):
        self.fh = open(path, "a", encoding="utf-8") if active else None  # noqa: SIM115

    def write(self, rec: dict) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(finite_json(rec), allow_nan=False) + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def finite_json(obj):
    """``obj`` with every NaN or infinite float replaced by None: NaN and infinity are not
    JSON (``json.dumps`` would write bare ``NaN`` tokens that strict parsers refuse)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


@dataclass
class _Job:
    """A validated run: everything :func:`run_job` needs (picklable, for spawned ranks)."""

    model_name: str
    config: LMConfig
    hp: TrainHParams
    task: dict  # CopyTask.to_dict()
    length: int
    evaluation: EvalSpec
    log: LogSpec
    ckpt_every: int
    out: str
    mode: str  # run_folder.FRESH / RESTART / RESUME
    device: str
    threads: int | None
    stop_after: int | None
    run_info: dict


def train(
    model: str,
    hparams: TrainHParams | None = None,
    *,
    out_dir: str | os.PathLike,
    task: TaskSpec | None = None,
    model_config: Mapping | LMConfig | None = None,
    scale: str = "cpu",
    evaluation: EvalSpec | None = None,
    log: LogSpec | None = None,
    resume: bool = False,
    device: str = "cpu",
    threads: int | None = None,
    nproc: int = 1,
    stop_after: int | None = None,
) -> dict:
    """Train model ``model`` on the copy task; resumable, deterministic, optionally distributed.

    Parameters
    ----------
    model : str
        One of ``wavescope.models.registry.MODEL_NAMES``.
    hparams : TrainHParams, optional
        Optimisation (steps, global batch, AdamW, schedule, clipping, seed, early stop);
        default ``TrainHParams()`` (1000 steps, batch 16).
    out_dir : path
        Run folder. Must be empty or absent unless ``resume``.
    task : TaskSpec, optional
        The task; default the copy task at length 20.
    model_config : mapping or model config, optional
        Fields of the model config to change from the registry's default at ``scale``
        (e.g. ``{"velocity": "fixed", "v_init": 0.5}``), or a whole config of the model's
        class.
    scale : {"cpu", "gpu"}
        Default model size from the registry.
    evaluation : EvalSpec, optional
        Held-out evaluation during training and at the end (default: none during
        training; lengths L, 1.5 L, 2 L at the end, 64 strings, both modes).
    log : LogSpec, optional
        Metrics lines (default every 10 steps), checkpoint cadence, progress bar.
    resume : bool
        Continue the run saved in ``out_dir`` exactly (model, config, task and
        hyperparameters must match): from its checkpoint, or from step 0 when it was
        killed before its first checkpoint. A finished run is not trained further; its
        final evaluation is written if missing.
    device : str
        "cpu" or "cuda" (raises if CUDA is absent).
    threads : int, optional
        Torch CPU threads (per process); default :func:`wavescope.models.threads.default_threads`.
    nproc : int
        Processes to train in (DistributedDataParallel, gloo on CPU, NCCL on CUDA); the
        global batch ``hparams.batch_size`` is split across them. Under ``torchrun`` leave
        it at 1: the launch decides.
    stop_after : int, optional
        Stop after this step as if the run were killed there (a checkpoint is written);
        for tests and for splitting long runs.

    Returns
    -------
    dict
        ``out_dir``, ``step`` (steps done), ``finished``, ``stopped_early``, ``n_params``,
        ``steps_to_95`` (first train line with exact accuracy >= 0.95, or None) and
        ``final_eval`` (None until finished). Under torchrun, ranks other than 0 get None.

    Examples
    --------
    >>> train("vwave", TrainHParams(steps=500), out_dir="runs/vw",
    ...       model_config={"velocity": "fixed", "v_init": 0.5})  # doctest: +SKIP
    """
    job = _plan(
        model,
        TrainHParams() if hparams is None else hparams,
        out_dir=out_dir,
        task=TaskSpec() if task is None else task,
        model_config=model_config,
        scale=scale,
        evaluation=EvalSpec() if evaluation is None else evaluation,
        log=LogSpec() if log is None else log,
        device=device,
        threads=threads,
        stop_after=stop_after,
    )
    dev = torch.device(job.device)
    nproc = distributed.check_nproc(nproc, dev, job.hp.batch_size)
    if distributed.launched_by_torchrun():
        return _train_under_torchrun(job, resume)
    job.mode = run_folder.prepare(Path(job.out), resume, job.run_info, _RESUME_HINT)
    if nproc > 1:
        return distributed.spawn(job, nproc, dev)
    return run_job(job, distributed.Solo())


def _train_under_torchrun(job: _Job, resume: bool):
    """Rank 0 checks the folder, every rank learns the outcome, then all train."""
    import torch.distributed as dist

    group = distributed.join_torchrun(torch.device(job.device))
    try:
        outcome = [None]
        if group.is_main:
            try:
                outcome[0] = run_folder.prepare(Path(job.out), resume, job.run_info, _RESUME_HINT)
            except WaveInputError as exc:
                outcome[0] = exc
        dist.broadcast_object_list(outcome, src=0)
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        job.mode = outcome[0]
        return run_job(job, group)
    finally:
        group.close()


def _plan(
    model_name: str,
    hp: TrainHParams,
    *,
    out_dir,
    task: TaskSpec,
    model_config,
    scale: str,
    evaluation: EvalSpec,
    log: LogSpec,
    device,
    threads,
    stop_after,
) -> _Job:
    """Validate the request (no file is touched) and resolve its defaults."""
    for name, value, cls in (
        ("hparams", hp, TrainHParams),
        ("task", task, TaskSpec),
        ("evaluation", evaluation, EvalSpec),
        ("log", log, LogSpec),
    ):
        if not isinstance(value, cls):
            raise WaveInputError(
                f"{name} must be a {cls.__name__} (wavescope.models.train_config), got "
                f"{type(value).__name__}."
            )
    reg = _registry()
    reg.check_model_name(model_name)
    if task.name not in TASKS:  # TaskSpec checks this too; a spec edited after construction
        raise WaveInputError(f"task={task.name!r} is not supported; choose one of copy.")
    dev = check_device(device)
    if isinstance(model_config, LMConfig):
        cls = reg.config_class(model_name)
        if type(model_config) is not cls:
            raise WaveInputError(
                f"{model_name} needs a {cls.__name__}, got {type(model_config).__name__}."
            )
        config = check_config(replace(model_config))
    elif model_config is None or isinstance(model_config, Mapping):
        config = reg.default_config(model_name, scale, **dict(model_config or {}))
    else:
        raise WaveInputError(
            f"model_config must be a dict of config fields or a config, got "
            f"{type(model_config).__name__}."
        )
    # sizes are bounded before anything is allocated (parameters counted on the meta device)
    n_params = reg.check_model_size(model_name, VOCAB_SIZE, config)
    copy_task = make_copy_task(
        task.length, hp.seed, config.max_len, min_len=task.min_length, context_len=task.context_len
    )
    # a batch is drawn only once its activations are known to fit (--batch-size 1e8 or
    # --length 1e8 are refused here, not by the allocator minutes later)
    fix = "lower --batch-size or --length (or split the batch with --nproc on more machines)."
    reg.check_activation_memory(
        model_name, config, hp.batch_size, copy_task.context_len, "one training batch", fix
    )
    for n in evaluation.resolved_lengths(task.length):
        reg.check_activation_memory(
            model_name, config, evaluation.examples, 2 * n + 2, f"the evaluation at length {n}",
            "lower --length or the evaluation lengths and examples.",
        )  # fmt: skip
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1
    ):
        raise WaveInputError(f"threads must be an integer >= 1 or None, got {threads!r}.")
    if stop_after is not None and (
        isinstance(stop_after, bool)
        or not isinstance(stop_after, (int, np.integer))
        or stop_after < 0
    ):
        raise WaveInputError(f"stop_after must be an integer >= 0 or None, got {stop_after!r}.")
    run_info = {
        "model_name": model_name,
        "config": asdict(config),
        "vocab_size": VOCAB_SIZE,
        "task": copy_task.to_dict(),
        "train": asdict(hp),
        "scale": scale,
        "n_params": n_params,
    }
    return _Job(
        model_name=model_name,
        config=config,
        hp=hp,
        task=copy_task.to_dict(),
        length=task.length,
        evaluation=evaluation,
        log=log,
        ckpt_every=int(log.ckpt_every or max(hp.steps // 10, log.every)),
        out=str(out_dir),
        mode=run_folder.FRESH,
        device=str(dev),
        threads=None if threads is None else int(threads),
        stop_after=None if stop_after is None else int(stop_after),
        run_info=run_info,
    )


def run_job(job: _Job, group) -> dict | None:
    """Train ``job`` as rank ``group.rank`` of ``group.world``; rank 0's summary (else None).

    The folder was checked by :func:`wavescope.models.run_folder.prepare` (``job.mode``).
    """
    dev = group.device if isinstance(group, distributed.Group) else torch.device(job.device)
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    threads = job.threads or default_threads(job.run_info["n_params"], group.world)
    torch.set_num_threads(threads)
    if dev.type == "cuda":  # cuBLAS needs this workspace setting to be deterministic
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _run(job, group, dev)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def _run(job: _Job, group, dev: torch.device) -> dict | None:
    from tqdm.auto import tqdm

    reg, hp, out = _registry(), job.hp, Path(job.out)
    ckpt_path = out / CHECKPOINT
    torch.manual_seed(hp.seed)
    np.random.seed(hp.seed)  # noqa: NPY002 (global state, for any code that uses it)
    random.seed(hp.seed)
    model = reg.build_model(job.model_name, VOCAB_SIZE, job.config).to(dev)
    opt, sched = make_optimizer(model, hp)
    copy_task = CopyTask.from_dict(job.task)
    start, elapsed, early = 0, 0.0, False
    if job.mode == run_folder.RESUME:
        ck = load_checkpoint(ckpt_path, map_location=dev)
        check_step(ck["step"], ckpt_path, hp.steps)
        if not isinstance(ck["model_state"], dict):
            raise WaveInputError(f"checkpoint {str(ckpt_path)!r}: model_state is not a dict.")
        check_finite_weights(ck["model_state"], ckpt_path)
        for key, what, mine in (
            ("model_name", "model", job.model_name),
            ("config", "model config", job.run_info["config"]),
            ("task", "task", job.task),
            ("train", "training setup", job.run_info["train"]),
        ):
            run_folder.describe_difference(what, ck.get(key), mine, _RESUME_HINT)
        try:
            model.load_state_dict(ck["model_state"])
            opt.load_state_dict(ck["optimizer_state"])
            sched.load_state_dict(ck["scheduler_state"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise WaveInputError(
                f"checkpoint {str(ckpt_path)!r} does not fit the model ({exc}); " + _RESUME_HINT
            ) from None
        set_rng_state(ck["rng_state"], f"checkpoint {str(ckpt_path)!r}")
        if job.threads is None and ck.get("threads"):
            # the numbers depend on the thread count: continue with the run's own
            torch.set_num_threads(int(ck["threads"]))
        try:
            copy_task.load_state_dict(ck["task_state"])
            check_step(copy_task.n_batches, ckpt_path, name="task_state['n_batches']")
            elapsed = float(ck.get("elapsed", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise WaveInputError(
                f"checkpoint {str(ckpt_path)!r}: its task_state or elapsed time is damaged "
                f"({type(exc).__name__}: {exc}); start a new run (another --out)."
            ) from None
        start = ck["step"]
        early = bool(ck.get("stopped_early", False))
        if group.is_main:
            truncate_metrics(out / METRICS, start)
    elif group.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if job.mode == run_folder.RESTART:  # killed before its first checkpoint
            (out / METRICS).unlink(missing_ok=True)
        write_json(
            out / RUN_JSON,
            {**job.run_info, "threads": torch.get_num_threads(), "processes": group.world},
        )

    eval_batch = None
    if job.evaluation.every and group.is_main:
        eval_batch = _eval_task(job).batch(job.evaluation.examples)
    net = group.wrap(model)
    t0 = time.perf_counter()

    def diverged(step: int, what: str) -> WaveInputError:
        kept = (
            f"the last good checkpoint (step {last_good[0]}) is kept in {str(out)!r}"
            if last_good[0] is not None
            else "no checkpoint was written"
        )
        return WaveInputError(
            f"training diverged at step {step}: {what}; stopped, {kept}. Lower --lr (it is "
            f"{hp.lr:g}) or raise the warmup, and train again in another --out."
        )

    last_good = [start if job.mode == run_folder.RESUME else None]

    def checkpoint(step: int) -> None:
        if not group.is_main:
            return
        bad = nonfinite_tensors(model.state_dict())
        if bad:  # never replace a good checkpoint with a diverged one
            raise diverged(step, f"weights {', '.join(bad[:3])} hold NaN or infinity")
        last_good[0] = step
        save_checkpoint(
            ckpt_path,
            {
                "model_name": job.model_name,
                "config": job.run_info["config"],
                "vocab_size": VOCAB_SIZE,
                "model_state": model.state_dict(),
                "optimizer_state": opt.state_dict(),
                "scheduler_state": sched.state_dict(),
                "step": step,
                "rng_state": get_rng_state(),
                "task": copy_task.to_dict(),
                "task_state": copy_task.state_dict(),
                "train": job.run_info["train"],
                "elapsed": elapsed + time.perf_counter() - t0,
                "stopped_early": early,
                "threads": torch.get_num_threads(),
                "processes": group.world,
            },
        )

    model.train()
    log_every, steps = job.log.every, hp.steps
    win = np.zeros(5)  # loss sum, right tokens, tokens, exact examples, examples
    n_win = 0
    stop = steps if job.stop_after is None else min(job.stop_after, steps)
    if early:
        stop = start
    done = start
    bar = tqdm(
        total=steps,
        initial=start,
        disable=not (job.log.progress and group.is_main),
        desc=job.model_name,
        leave=False,
    )
    mlog = _MetricsLog(out / METRICS, group.is_main)
    try:
        for step in range(start + 1, stop + 1):
            batch, share = group.shard(copy_task.batch(hp.batch_size))
            loss, pred, lr_now = train_step(net, opt, sched, batch, hp, dev, share)
            # the loss of the whole batch: this rank's mean times its share of the tokens
            step_loss = float(loss) if share is None else float(loss) * share / group.world
            finite = math.isfinite(step_loss)
            if group.world > 1:  # every rank stops at the same step
                finite = group.reduce([0.0 if finite else 1.0])[0] == 0
            if not finite:
                raise diverged(step, f"the loss is {step_loss:g}")
            win[0] += step_loss
            win[1:] += _step_counts(pred, batch)
            n_win += 1
            now = elapsed + time.perf_counter() - t0
            if step % log_every == 0 or step == steps:
                tot = group.reduce(win) if group.world > 1 else win.tolist()
                rec = {
                    "step": step,
                    "split": "train",
                    "loss": tot[0] / n_win,
                    "char_acc": tot[1] / max(tot[2], 1),
                    "exact_acc": tot[3] / max(tot[4], 1),
                    "time": round(now, 3),
                    "lr": lr_now,
                }
                mlog.write(rec)
                bar.set_postfix(loss=f"{rec['loss']:.3f}", exact=f"{rec['exact_acc']:.2f}")
                win[:] = 0
                n_win = 0
                if hp.stop_exact_acc is not None and rec["exact_acc"] >= hp.stop_exact_acc:
                    early = True
            if eval_batch is not None and step % job.evaluation.every == 0:
                ev = evaluate_teacher_forced(model, eval_batch, dev)
                rec = {"step": step, "split": "eval", "time": round(now, 3), "lr": lr_now}
                rec.update({k: ev[k] for k in ("loss", "char_acc", "exact_acc")})
                mlog.write(rec)
            bar.update(1)
            done = step
            if step % job.ckpt_every == 0 or step == stop or early:
                checkpoint(step)
            if early:
                break
    finally:
        mlog.close()
        bar.close()
    group.barrier()
    if not group.is_main:
        return None
    finished = done >= steps or early
    summary = {
        "out_dir": str(out),
        "step": done,
        "finished": finished,
        "stopped_early": early,
        "n_params": job.run_info["n_params"],
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
    seed = hp.seed + EVAL_SEED_OFFSET
    rows = length_generalization(
        model,
        job.evaluation.resolved_lengths(job.length),
        n_examples=job.evaluation.examples,
        seed=seed,
        device=dev,
        modes=job.evaluation.modes,
    )
    heldout = evaluate_teacher_forced(model, _eval_task(job).batch(job.evaluation.examples), dev)
    final = {
        **job.run_info,
        "step": done,
        "train_length": job.length,
        "steps_to_95": summary["steps_to_95"],
        "heldout": {
            k: v for k, v in heldout.items() if k in ("loss", "char_acc", "exact_acc", "n_examples")
        },
        "lengths": rows,
    }
    write_json(final_path, finite_json(final))
    summary["final_eval"] = final
    return summary


def _eval_task(job: _Job) -> CopyTask:
    """The held-out task: the training task on a seed stream no training run uses."""
    return CopyTask.from_dict({**job.task, "seed": job.hp.seed + EVAL_SEED_OFFSET})
