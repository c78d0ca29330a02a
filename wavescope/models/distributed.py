"""Training across processes with ``torch.distributed`` (DistributedDataParallel).

Two ways in:

- ``train(..., nproc=N)`` (``wavescope train ... --nproc N``) spawns N processes with
  ``torch.multiprocessing`` and a file rendezvous in a temporary folder;
- a script started by ``torchrun --nproc-per-node N`` calls ``train(...)`` in every
  process; the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``)
  says so and the group is joined with ``init_method="env://"``.

Backend: gloo on CPU, NCCL on CUDA (rank r on ``cuda:LOCAL_RANK``).

The data stream is the single-process one: every rank draws the same global batch of
``batch_size`` rows from the seeded task (cheap: numpy token rows) and keeps its shard, rows
``np.array_split(range(B), N)[rank]``. The loss of a step is the mean over the masked
tokens of the whole global batch, so a rank's loss is scaled by
``share = N * m_rank / M`` (its masked tokens over the batch's) before ``backward``: DDP
averages the gradients over the N ranks, which gives exactly the gradient of the global
mean, the single-process gradient, up to the order of floating-point sums. Logged losses
and accuracies are summed over ranks (``all_reduce``) from per-rank counts, so every rank
sees the same numbers and stops early at the same step.

Only rank 0 writes (run.json, metrics, checkpoints, final evaluation). A checkpoint holds
the unwrapped model and is the single-process format, so a run resumes with any N,
including 1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import torch

from wavescope.core.errors import WaveInputError

#: How long ranks wait for each other (a rendezvous, a collective) before giving up.
TIMEOUT = timedelta(minutes=30)


@dataclass
class Solo:
    """The single-process case: one rank, nothing to share or reduce."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch):
        """This rank's rows of the global batch and its loss share (None: the whole batch)."""
        return batch, None

    def reduce(self, values) -> list[float]:
        """Sum ``values`` over ranks (here: themselves)."""
        return [float(v) for v in values]

    def wrap(self, model):
        return model

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Group(Solo):
    """A rank of an initialised ``torch.distributed`` process group."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = True

    def shard(self, batch):
        from wavescope.models.tasks import CopyBatch

        rows = np.array_split(np.arange(batch.tokens.shape[0]), self.world)[self.rank]
        local = CopyBatch(
            tokens=batch.tokens[rows],
            targets=batch.targets[rows],
            loss_mask=batch.loss_mask[rows],
            example=batch.example[rows],
            lengths=batch.lengths,
        )
        total = max(int(batch.loss_mask.sum()), 1)
        share = self.world * int(local.loss_mask.sum()) / total
        return local, share

    def reduce(self, values) -> list[float]:
        import torch.distributed as dist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def wrap(self, model):
        import inspect

        from torch.nn.parallel import DistributedDataParallel

        for module in model.modules():  # DDP broadcasts buffers at start: no expanded views
            for name, buf in list(module.named_buffers(recurse=False)):
                if not buf.is_contiguous():
                    setattr(module, name, buf.contiguous())
        ids = [self.device.index] if self.device.type == "cuda" else None
        # buffers (v-Wave's A, ALiBi's slopes) are constants of the config, the same on
        # every rank: no need to send them before each forward
        newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
        return DistributedDataParallel(model, device_ids=ids, **sync)

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def close(self) -> None:
        import torch.distributed as dist

        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def backend_for(device: torch.device) -> str:
    """gloo for CPU training, NCCL for CUDA."""
    return "nccl" if device.type == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    """True inside a process started by ``torchrun`` (or another env:// launcher) with N > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def rank_device(device: torch.device, local_rank: int) -> torch.device:
    """The device of a rank: the CPU, or the rank's own GPU."""
    if device.type != "cuda":
        return device
    return torch.device("cuda", local_rank)


def check_nproc(nproc, device: torch.device, batch_size: int) -> int:
    """Validate the number of processes against the device and the global batch."""
    if isinstance(nproc, bool) or not isinstance(nproc, (int, np.integer)) or nproc < 1:
        raise WaveInputError(f"nproc must be an integer >= 1, got {nproc!r}.")
    nproc = int(nproc)
    if nproc > 1 and launched_by_torchrun():
        raise WaveInputError(
            "this process was started by torchrun (WORLD_SIZE is set): drop --nproc, torchrun "
            "already runs one process per rank."
        )
    world = nproc if nproc > 1 else int(os.environ.get("WORLD_SIZE", "1"))
    if world > batch_size:
        raise WaveInputError(
            f"{world} processes cannot share a batch of {batch_size} rows; use at most "
            f"{batch_size} processes or a larger --batch-size."
        )
    if device.type == "cuda" and nproc > 1 and nproc > torch.cuda.device_count():
        raise WaveInputError(
            f"--nproc {nproc} with CUDA needs one GPU per process; "
            f"{torch.cuda.device_count()} present."
        )
    if nproc > 1 and not torch.distributed.is_available():
        raise WaveInputError("this torch build has no torch.distributed; use --nproc 1.")
    return nproc


def join_torchrun(device: torch.device) -> Group:
    """Join (or reuse) the process group of a torchrun launch; the rank's context."""
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = rank_device(device, local)
    owns = not dist.is_initialized()
    if owns:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend_for(dev), init_method="env://", timeout=TIMEOUT)
    return Group(dist.get_rank(), dist.get_world_size(), dev, owns)


def _worker(rank: int, world: int, init_file: str, device: str, job, queue) -> None:
    """Entry point of a spawned rank: join the group, train, hand rank 0's summary back."""
    import torch.distributed as dist

    from wavescope.models import training

    dev = rank_device(torch.device(device), rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(
        backend_for(dev),
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world,
        timeout=TIMEOUT,
    )
    group = Group(rank, world, dev, True)
    try:
        summary = training.run_job(job, group)
    except WaveInputError as exc:
        queue.put(("error", rank, str(exc)))
        raise
    finally:
        group.close()
    if rank == 0:
        queue.put(("summary", rank, summary))


def spawn(job, nproc: int, device: torch.device) -> dict:
    """Run ``training.run_job(job, group)`` in ``nproc`` spawned processes; rank 0's summary.

    A :class:`~wavescope.core.errors.WaveInputError` raised in a rank is raised here with
    its message; any other failure of a rank stops the others and is raised as it came.
    """
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    tmp = tempfile.mkdtemp(prefix="wavescope-ddp-")
    try:
        try:
            mp.start_processes(
                _worker,
                args=(nproc, os.path.join(tmp, "rendezvous"), str(device), job, queue),
                nprocs=nproc,
                join=True,
                start_method="spawn",
            )
        except ProcessException as exc:
            while not queue.empty():
                kind, rank, payload = queue.get()
                if kind == "error":
                    raise WaveInputError(f"rank {rank}: {payload}") from None
            raise RuntimeError(
                f"a training process failed ({exc}); a script that calls train(nproc=N) must "
                "guard its top level with `if __name__ == '__main__':` (the processes are "
                "spawned and import it)."
            ) from exc
        while not queue.empty():
            kind, _, payload = queue.get()
            if kind == "summary":
                return payload
        raise RuntimeError("the distributed run ended without a summary from rank 0")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
