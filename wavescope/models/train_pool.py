"""Several training runs at once, one process each (e.g. two models on a 2-core machine).

The CPU-scale models train fastest on one torch thread per process
(:mod:`wavescope.models.threads`): a single run leaves the other cores idle. Independent
runs (different models or seeds) therefore go to separate processes, each one
:func:`wavescope.models.training.train` call with its own run folder, so that two models
on two cores finish in about the time of the slower one instead of the sum.

Each run's numbers are those of the same call made alone: a run depends on its seed and its
thread count, not on the process it runs in (``tests/models/test_train_pool.py``).

Processes are started with ``spawn`` (a fresh interpreter: no torch or OpenMP state is
forked). The first run can stay in the calling process (``first_here=True``), which keeps
its progress bar on the terminal and saves one interpreter start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wavescope.core.errors import WaveInputError


def _run_one(kwargs: dict) -> dict:
    from wavescope.models.training import train

    kw = dict(kwargs)
    return train(kw.pop("model"), kw.pop("hparams", None), **kw)


def train_in_parallel(
    runs: Sequence[dict],
    *,
    processes: int | None = None,
    first_here: bool = True,
    on_done: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Train ``runs`` concurrently, one process per run (at most ``processes`` at a time).

    Parameters
    ----------
    runs : sequence of dict
        Keyword arguments of :func:`wavescope.models.training.train`, one dict per run,
        with ``model`` (the registry name) and ``out_dir``; ``hparams``, ``task``,
        ``evaluation``, ``log`` and the rest as ``train`` takes them.
    processes : int, optional
        Runs at a time, the calling process included when ``first_here``; default one per
        usable core (:func:`wavescope.models.threads.usable_cores`), at most ``len(runs)``.
        1 trains the runs one after the other in this process.
    first_here : bool
        Train the first run in the calling process (its progress bar stays visible) while
        the others run in spawned processes.
    on_done : callable, optional
        ``on_done(index, summary)`` called in this process as each run finishes.

    Returns
    -------
    list of dict
        ``train``'s summary of each run, in the order of ``runs``.
    """
    from wavescope.models.threads import usable_cores

    runs = [dict(r) for r in runs]
    for i, r in enumerate(runs):
        if "model" not in r or "out_dir" not in r:
            raise WaveInputError(f"run {i} needs 'model' and 'out_dir' keys, got {sorted(r)}.")
    if not runs:
        return []
    n = usable_cores() if processes is None else processes
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise WaveInputError(f"processes must be an integer >= 1, got {processes!r}.")
    n = min(n, len(runs))
    results: list[dict | None] = [None] * len(runs)

    def done(i: int, summary: dict) -> None:
        results[i] = summary
        if on_done is not None:
            on_done(i, summary)

    if n == 1:
        for i, r in enumerate(runs):
            done(i, _run_one(r))
        return results  # type: ignore[return-value]

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    here = 0 if first_here else None
    remote = [i for i in range(len(runs)) if i != here]
    workers = n - (here is not None)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_run_one, runs[i]): i for i in remote}
        if here is not None:
            done(here, _run_one(runs[here]))
        for fut in as_completed(futures):
            done(futures[fut], fut.result())
    return results  # type: ignore[return-value]
