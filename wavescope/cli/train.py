"""``wavescope train``: train a model on the copy task (torch is imported only when run).

Example::

    wavescope train --model vwave-mamba --task copy --length 20 --steps 2000 --out runs/vw
    wavescope train --model vwave-mamba --task copy --length 20 --steps 2000 --out runs/vw --resume
    wavescope train --model vwave --set velocity=fixed --set v_init=0.5 --out runs/vw05
    wavescope train --model mamba --steps 2000 --nproc 2 --out runs/mamba-ddp

``--resume`` continues a run killed at any moment (from its checkpoint, or from step 0
when it was killed before the first one); ``--set FIELD=VALUE`` changes any field of the
model's config (see ``wavescope.models.config``); ``--nproc N`` splits each batch across
N processes (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MODEL_HELP = "mamba, vwave-mamba, shift-ssm, vwave, transformer-rope, transformer-alibi"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model on the copy task",
        description="Train a model on the copy task of Jelassi et al. 2024 (BOS s SEP s EOS), "
        "writing metrics.jsonl, atomic checkpoints and final_eval.json into --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help=f"model name: {MODEL_HELP}")
    p.add_argument("--task", default="copy", help="task (only 'copy')")
    p.add_argument(
        "--length",
        type=int,
        default=20,
        help="longest copied string L; training lengths are uniform on [min(5, L), L]",
    )
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0, help="random seed (data, init)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--scale", default="cpu", choices=("cpu", "gpu"), help="default model size")
    p.add_argument("--batch-size", type=int, default=16, help="rows per step")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW)")
    p.add_argument("--log-every", type=int, default=10, help="steps per metrics line")
    p.add_argument("--eval-every", type=int, default=None, help="steps per held-out evaluation")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a field of the model config, e.g. --set velocity=fixed --set v_init=0.5 "
        "(repeatable; values are parsed to the field's type)",
    )
    p.add_argument(
        "--ckpt-every", type=int, default=None, help="steps between checkpoints (default steps/10)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads per process (default: wavescope.models.threads policy, 1 for "
        "the CPU-scale models)",
    )
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="train in N processes (DistributedDataParallel; gloo on CPU, NCCL on CUDA), the "
        "batch split across them; a checkpoint resumes with any N",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--out", required=True, help="run folder (must be empty unless --resume)")
    p.set_defaults(func=run)


def run(args) -> int:
    from wavescope.cli.options import require_torch

    require_torch("train")
    from wavescope.models.registry import check_model_name, parse_config_settings
    from wavescope.models.tasks import format_length_table
    from wavescope.models.train_config import EvalSpec, LogSpec, TaskSpec, TrainHParams
    from wavescope.models.training import train

    check_model_name(args.model)
    summary = train(
        args.model,
        TrainHParams(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed),
        out_dir=args.out,
        task=TaskSpec(name=args.task, length=args.length),
        model_config=parse_config_settings(args.model, args.settings),
        scale=args.scale,
        evaluation=EvalSpec(every=args.eval_every),
        log=LogSpec(
            every=args.log_every, ckpt_every=args.ckpt_every, progress=not args.no_progress
        ),
        resume=args.resume,
        device=args.device,
        threads=args.threads,
        nproc=args.nproc,
    )
    if summary is None:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    final = summary["final_eval"] or {}
    s95 = summary["steps_to_95"]
    print(
        f"{args.model}: {summary['n_params']} parameters, {summary['step']} steps; "
        + (f"95% exact-string accuracy at step {s95}" if s95 else "95% exact accuracy not reached")
    )
    if final.get("lengths"):
        print(format_length_table(final["lengths"]))
    out = Path(summary["out_dir"])
    print(
        json.dumps(
            {"metrics": str(out / "metrics.jsonl"), "final_eval": str(out / "final_eval.json")}
        )
    )
    return 0
