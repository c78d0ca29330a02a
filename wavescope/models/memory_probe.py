"""Memory curves of a model layer: how much of the recent input a layer's state holds.

A model reads i.i.d. uniform random letters (the copy task's 26, chance 1/26); the state
of layer ``layer`` at every step (:func:`wavescope.models.probe.state_snapshots`: every
channel x site of the SSM state, or the residual stream) is decoded, with cross-validated
linear decoders on held-out sequences, into the letter presented tau steps earlier, for
tau = 0 .. max_lag (:func:`wavescope.waves.memory.memory_curve`). A shift register of N
sites holds exactly the last N letters (horizon N); a v-Wave ring of N sites at v sites/step
holds about N / v of them, blurred for v < 1.
"""

from __future__ import annotations

import numpy as np
import torch

from wavescope.core.validate import WaveInputError
from wavescope.models.probe import (
    RESIDUAL,
    ModelTarget,
    check_snapshot_part,
    state_snapshots,
    wave_velocities,
)
from wavescope.models.tasks import FIRST_LETTER, N_LETTERS


def random_letters(n_sequences: int, length: int, seed: int = 0) -> np.ndarray:
    """I.i.d. uniform copy-task letters, token ids in ``[FIRST_LETTER, FIRST_LETTER + 26)``.

    Returns
    -------
    tokens : ndarray of int64, shape (n_sequences, length)
    """
    rng = np.random.default_rng(seed)
    return (FIRST_LETTER + rng.integers(0, N_LETTERS, size=(n_sequences, length))).astype(np.int64)


#: States larger than this (bytes, float32) go to a temporary file during a model's memory
#: curve (:class:`~wavescope.waves.memory_ridge.StateFile`) instead of memory: at the
#: probe's defaults (157 MB of v-Wave Mamba states) the process then peaks under 0.5 GB.
SPILL_BYTES = 64 * 2**20


def batched_snapshots(
    model, tokens, layer: int, part=None, batch_size: int = 32, start: int = 0, spill=False
):
    """:func:`~wavescope.models.probe.state_snapshots` of a large (S, L) batch, in chunks.

    The states of ``batch_size`` sequences at a time go into one preallocated float32 array
    (or a temporary file), so memory holds the result plus one chunk's intermediates.

    Parameters
    ----------
    start : int
        Keep only the states of steps ``start ..`` (a memory curve reads the snapshot
        steps ``t >= max_lag`` alone); the model still reads every token.
    spill : bool or None
        True: write the states into a :class:`~wavescope.waves.memory_ridge.StateFile` (a
        temporary file) instead of memory; None: when they exceed :data:`SPILL_BYTES`.

    Returns
    -------
    snapshots : ndarray of float32, shape (S, L - start, F), or a StateFile of that shape
    """
    from wavescope.waves.memory_ridge import StateFile

    tokens = np.asarray(tokens)
    if int(batch_size) < 1:
        raise WaveInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    out = None
    for i in range(0, tokens.shape[0], int(batch_size)):
        chunk = torch.from_numpy(tokens[i : i + int(batch_size)])
        s = state_snapshots(model, chunk, layer, part)[:, int(start) :]  # (b, L - start, F)
        if out is None:
            shape = (tokens.shape[0],) + s.shape[1:]
            size = 4 * int(np.prod(shape))
            to_file = bool(spill) or (spill is None and size > SPILL_BYTES)
            out = StateFile(shape) if to_file else np.empty(shape, dtype=np.float32)
        if isinstance(out, StateFile):
            out.write(i, s)
        else:
            out[i : i + s.shape[0]] = s
        del s
    return out


def _layer_meta(model, layer: int, part: str) -> dict:
    cfg = model.config
    meta = {
        "source": "model",
        "model": model.name,
        "layer": layer,
        "part": part,
        "input": "iid uniform letters",
        "n_letters": N_LETTERS,
        "d_model": int(cfg.d_model),
        "d_state": getattr(cfg, "d_state", None),
        "n_sites": getattr(cfg, "n_sites", None),
        "velocities": None,
    }
    v = wave_velocities(model, layer)  # the layer's wave, whichever part is read
    if v is not None:
        meta["velocities"] = [float(x) for x in np.ravel(v)]
        meta["velocity_mean"] = float(np.mean(v))
    if getattr(cfg, "decay", None) is not None:  # a v-Wave ring's loss per site travelled
        meta["decay"] = float(cfg.decay)
    return meta


def model_memory_curve(
    model,
    layer: int,
    *,
    part: str | None = None,
    n_sequences: int = 200,
    length: int = 96,
    max_lag: int = 48,
    seed: int = 0,
    batch_size: int = 4,
    spill: bool | None = None,
    **memory_kw,
):
    """Memory curve of layer ``layer``: decode the letter of tau steps ago from its state.

    Parameters
    ----------
    model : LanguageModel
    layer : int
        Layer index, 0-based (negative counts from the end).
    part : str, optional
        Which state (see :func:`wavescope.models.probe.state_snapshots`): an SSM state
        (default: the wave-carrying one) or ``"residual"`` (the only one for transformers).
    n_sequences : int
        Number of random letter sequences (held-out folds are whole sequences).
    length : int
        Steps per sequence; must exceed ``max_lag``.
    max_lag : int
        Largest lag tau, in steps.
    seed : int
        Seed of the letters (and passed on to the decoder's resampling).
    batch_size : int
        Sequences per forward pass when capturing the states. 4: for v-Wave Mamba's
        128-channel x 32-site ring one batch's intermediates peak about 85 MB above the
        captured states (157 MB at the defaults), against 39 MB at 2, 171 MB at 8 and
        380 MB at 32, at the same CPU time within the noise of a busy machine (4.3-5.9 s
        for 200 x 96 steps; issue 21).
    spill : bool, optional
        Hold the captured states in a temporary file instead of memory (the decoder reads
        them a chunk of rows at a time; the curve is the same). None (default): when they
        exceed :data:`SPILL_BYTES` (64 MB; the defaults' v-Wave Mamba states are 157 MB).
    **memory_kw
        Passed to :func:`wavescope.waves.memory.memory_curve` (``decoder``, ``n_splits``,
        ``criterion_se``, ``effect_fraction``, ``n_boot``, ``exact``: False, the default,
        is the fast decoder; True the exact per-fold float64 reference).

    Returns
    -------
    curve : wavescope.waves.memory.MemoryCurve
        Accuracy against tau (chance 1/26), horizon and capacity in steps. ``meta`` holds
        model, layer, part, d_model, d_state, n_sites, and for v-Wave models the layer's
        per-channel ``velocities`` (sites/step), their mean and the decay.
    """
    from wavescope.waves.memory import memory_curve
    from wavescope.waves.memory_ridge import StateFile, release_freed_memory

    layer = ModelTarget(model).check_layer(layer)
    part = check_snapshot_part(model, part, layer)
    n_splits = int(memory_kw.get("n_splits", 5))
    if int(n_sequences) < 2 * n_splits:
        raise WaveInputError(
            f"n_sequences={n_sequences} is too few for {n_splits}-fold cross-validation over "
            f"sequences; use at least {2 * n_splits} (200 gives tight intervals)."
        )
    if int(max_lag) < 0 or int(length) <= int(max_lag):
        raise WaveInputError(
            f"length={length} must exceed max_lag={max_lag} >= 0 (each sequence needs steps "
            "with max_lag steps of history); raise length or lower max_lag."
        )
    if model.max_len is not None and int(length) > model.max_len:
        raise WaveInputError(
            f"length={length} exceeds {model.name}'s max_len={model.max_len}; use a shorter length."
        )
    was_training = model.training
    model.eval()
    try:
        tokens = random_letters(int(n_sequences), int(length), seed)
        # only the snapshot steps t >= max_lag: the decoder reads nothing else
        states = batched_snapshots(
            model, tokens, layer, part, batch_size, start=int(max_lag), spill=spill
        )
    finally:
        model.train(was_training)
    release_freed_memory()  # the capture's freed batches, before the decoder's arrays
    memory_kw.setdefault("seed", seed)
    try:
        curve = memory_curve(states, tokens, int(max_lag), states_start=int(max_lag), **memory_kw)
    finally:
        if isinstance(states, StateFile):
            states.close()
    meta = _layer_meta(model, layer, part)
    meta["n_features"] = int(states.shape[-1])
    meta["length"] = int(length)
    meta["residual"] = part == RESIDUAL
    curve.meta.update(meta)
    return curve
