"""Torch CPU threads: a default that does not collapse when another program uses a core.

torch runs each operation on ``torch.get_num_threads()`` threads (all physical cores by
default). The models at the registry's CPU scale are small (about 70 k parameters, D = 64):
one training step is thousands of short operations, each split across the threads and
joined at a barrier. When another process holds one of two cores, every barrier waits for
the thread that lost its core, and the waiting thread spins: measured here
(benchmarks/results/threads.md) 2 threads with one core busy were 1.3-13x slower than
1 thread, while in the least loaded windows of the shared machine 2 threads gained little
for Mamba (1 thread 1.0-1.2x the time of 2) and more for v-Wave Mamba (up to 1.4x) and the
cheaper models (1.3-1.5x for the shift-SSM and the transformers, whose steps take a third
to a fifth of a Mamba step).

The default is therefore one thread per process for small models (up to
:data:`SMALL_MODEL_PARAMETERS`), and the usable cores (``os.sched_getaffinity``) shared
among the processes for larger ones. It depends on the model and the number of processes,
never on the load at the moment a run starts, because a CPU run's numbers depend on the
thread count (float sums are split differently; after 3 steps the weights of 1- and
2-thread runs differ by 2e-7 to 2e-6): a load-dependent default would make two runs of one
seed differ, and a resumed run differ from an uninterrupted one. With one thread, a CPU
run's numbers also do not depend on how many cores the machine has.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

#: Models with at most this many parameters train with one thread per process by default.
SMALL_MODEL_PARAMETERS = 1_000_000


def usable_cores() -> int:
    """Cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def default_threads(n_params: int | None = None, processes: int = 1) -> int:
    """Torch CPU threads per process for a model of ``n_params`` parameters.

    Parameters
    ----------
    n_params : int, optional
        Parameters of the model (None: a small model).
    processes : int
        Processes training together on this machine (each gets this many threads).

    Returns
    -------
    int
        1 for small models (<= :data:`SMALL_MODEL_PARAMETERS`); otherwise the usable cores
        divided among ``processes``, at least 1.
    """
    if n_params is None or n_params <= SMALL_MODEL_PARAMETERS:
        return 1
    return max(usable_cores() // max(int(processes), 1), 1)


@contextmanager
def torch_threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``, restoring the previous count after."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def set_default_threads(model, processes: int = 1) -> int:
    """Set torch's CPU threads to :func:`default_threads` for ``model``; return the count.

    For commands that run a model outside training (probing, the demo's steps).
    """
    import torch

    n = default_threads(sum(p.numel() for p in model.parameters()), processes)
    torch.set_num_threads(n)
    return n
