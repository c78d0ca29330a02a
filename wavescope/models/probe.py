"""Probes: hidden states of a model layer as a :class:`~wavescope.core.field.WaveField`.

The state of an SSM layer along its state dimension, per channel, becomes a line of sites
(site index = state index, 1 site apart) sampled once per step, so every wave measure of
:mod:`wavescope.waves` runs on it unchanged and reports speeds in sites/step:

- Mamba: the N selective-SSM states of an inner channel (``part="ssm"``), or the causal
  conv's shift register (``part="context"``);
- shift-SSM: the N real-space sites of the shift register on k (site i holds k_{t-i});
- v-Wave: the N real-space sites of the ring, ``Re(ifft(hhat))``, where the input travels
  at v sites/step; v-Wave Mamba: its v-Wave ring (``part="context"``, the default) or its
  selective-SSM states (``part="ssm"``).

The layer's mixer input is taken with a forward pre-hook (the forward stops there), and the
states are recomputed by the mixer's ``hidden_states``.

:func:`state_snapshots` returns a layer's whole state at every step as features
(B, L, channels x sites), or with ``part="residual"`` the residual stream at the output of
the block (every model, transformers included), for the memory curves of
:mod:`wavescope.models.memory_probe`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError

#: Default probed part per model: the state that carries the wave.
DEFAULT_PART = {
    "mamba": "ssm",
    "vwave-mamba": "context",
    "shift-ssm": "shift",
    "vwave": "shift",
}
PARTS = {
    "mamba": ("ssm", "context"),
    "vwave-mamba": ("context", "ssm"),
    "shift-ssm": ("shift", "diag"),
    "vwave": ("shift", "diag"),
}


class _Stop(Exception):
    pass


def _is_hf(model) -> bool:
    """A Hugging Face Mamba / Mamba2 model (probed by :mod:`wavescope.models.hf_probe`)."""
    return not hasattr(model, "n_layers") and getattr(
        getattr(model, "config", None), "model_type", None
    ) in ("mamba", "mamba2")


def _hf_part(part):
    # this module's Mamba names its conv state "context"; Hugging Face's probe says "conv"
    return {None: "ssm", "context": "conv"}.get(part, part)


def _check_layer(model, layer) -> int:
    """``layer`` as an index 0 .. n_layers - 1; negative (Python-style) indices are refused
    so that ``--layer -1`` is never read as a silent alias of the last layer."""
    n = model.n_layers
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise WaveInputError(
            f"layer must be an integer from 0 to {n - 1} ({model.name} has {n} layers), got "
            f"{layer!r}."
        )
    if not 0 <= int(layer) < n:
        last = f"; the last layer is {n - 1}" if int(layer) < 0 else ""
        raise WaveInputError(
            f"layer={int(layer)} is out of range: {model.name} has {n} layers (0 to {n - 1}){last}."
        )
    return int(layer)


def _as_tokens(tokens) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(tokens) if not isinstance(tokens, torch.Tensor) else tokens)
    if t.ndim == 1:
        t = t[None]
    return t


def _run_until(model, tokens, module, *, before: bool) -> torch.Tensor:
    """Run ``model`` on ``tokens`` and stop at ``module``: return its input (``before``)
    or its output; the rest of the forward is skipped."""
    tokens = model.check_tokens(_as_tokens(tokens))
    seen = {}

    def stop(value):
        seen["x"] = value
        raise _Stop

    if before:
        handle = module.register_forward_pre_hook(lambda m, args: stop(args[0]))
    else:
        handle = module.register_forward_hook(lambda m, args, output: stop(output))
    try:
        with torch.no_grad():
            model(tokens.to(next(model.parameters()).device))
    except _Stop:
        pass
    finally:
        handle.remove()
    return seen["x"]


def check_probe_size(model, rows: int, length: int) -> int:
    """Refuse, before any token is made, a probe of ``rows`` sequences of ``length`` steps
    whose states (one layer's, float32) would not fit in memory; returns the bytes."""
    from wavescope.models.registry import check_activation_memory

    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise WaveInputError(f"length must be a whole number of steps >= 1, got {length!r}.")
    return check_activation_memory(
        model.name, model.config, max(int(rows), 1), int(length), "the probe",
        "lower --length (or --n-sequences).", layers=1,
    )  # fmt: skip


def hidden_states(model, tokens, layer: int, part: str | None = None) -> torch.Tensor:
    """States of layer ``layer``'s SSM for ``tokens``.

    Parameters
    ----------
    model : LanguageModel
    tokens : array-like of int, shape (L,) or (B, L)
    layer : int
        Layer index, 0-based (negative counts from the end).
    part : str, optional
        Which state (see :data:`PARTS`); the model's wave-carrying state by default.

    Returns
    -------
    states : Tensor, shape (B, L, channels, sites), float
    """
    layer = _check_layer(model, layer)
    if model.name not in PARTS:
        raise WaveInputError(
            f"{model.name} has no SSM hidden state to probe; probe one of {', '.join(PARTS)}."
        )
    part = DEFAULT_PART[model.name] if part is None else part
    if part not in PARTS[model.name]:
        raise WaveInputError(
            f"part={part!r} is not a state of {model.name}; choose one of {PARTS[model.name]}."
        )
    mixer = model.layers[layer].mixer
    shape = tuple(tokens.shape) if hasattr(tokens, "shape") else np.shape(tokens)
    check_probe_size(model, shape[0] if len(shape) > 1 else 1, shape[-1] if shape else 1)
    x = _run_until(model, tokens, mixer, before=True)
    with torch.no_grad():
        return mixer.hidden_states(x, part=part).float().cpu()


def _velocity_meta(model, layer, part):
    """Per-channel velocities of a v-Wave layer (sites/step), or None."""
    mixer = model.layers[layer].mixer
    wave = getattr(mixer, "shift", None) if model.name == "vwave" else None
    if model.name == "vwave-mamba" and part == "context":
        wave = mixer.context
    if wave is None or not hasattr(wave, "velocities") or part == "diag":
        return None
    if wave.velocity == "input":  # varies with the input: no single value per channel
        return None
    return wave.velocities().detach().cpu().numpy()


def _field(data, model, layer, part, channel, extra=None):
    meta = {
        "source": "model",
        "model": model.name,
        "layer": layer,
        "part": part,
        "channel": channel,
    }
    meta.update(extra or {})
    return WaveField.from_line(
        np.ascontiguousarray(data, dtype=np.float64),
        fs=1.0,
        spacing=1.0,
        space_unit="site",
        time_unit="step",
        meta=meta,
    )


def checkpoint_identity(path, checkpoint: dict) -> dict:
    """Who a capture came from: the unit of replication of a model's states.

    Every channel and probe of one trained network shares one subject; two networks
    (another seed, another run) have different ones, so a comparison counts trained
    models, not channels (DESIGN.md: statistics over subjects).

    Parameters
    ----------
    path : path-like
        The checkpoint file.
    checkpoint : dict
        What :func:`load_model` returned with the model.

    Returns
    -------
    dict
        ``subject`` (``"<model> seed <seed> #<digest>"``, the digest the first 10 hex
        digits of :func:`wavescope.models.checkpoint.weights_digest`: the same for two
        identical runs, unlike a hash of the file), ``checkpoint`` (the path),
        ``weights_sha256``, ``seed`` (the training seed, None when not recorded) and
        ``step`` (training steps of the checkpoint).
    """
    from wavescope.models.checkpoint import weights_digest

    digest = weights_digest(checkpoint)
    train = checkpoint.get("train") if isinstance(checkpoint.get("train"), dict) else {}
    seed = train.get("seed")
    name = checkpoint.get("model_name", "model")
    seed_text = f"seed {seed}" if seed is not None else "seed unknown"
    return {
        "subject": f"{name} {seed_text} #{digest[:10]}",
        "checkpoint": str(path),
        "weights_sha256": digest,
        "seed": seed,
        "step": checkpoint.get("step"),
    }


def capture_states(
    model,
    tokens,
    layer: int,
    channel: int | None = None,
    *,
    part: str | None = None,
    batch_index: int = 0,
) -> WaveField:
    """Hidden states of one channel of layer ``layer`` as a WaveField (sites x steps).

    Parameters
    ----------
    model : LanguageModel
    tokens : array-like of int, shape (L,) or (B, L)
    layer : int
        Layer index (0-based).
    channel : int, optional
        Channel whose states to return; None returns the mean over channels.
    part : str, optional
        Which state of the layer (see :data:`PARTS`).
    batch_index : int
        Which sequence of a batch.

    Returns
    -------
    field : WaveField
        ``data`` (sites, L); positions = site index; fs = 1 per step; speeds come out in
        sites/step. ``meta`` holds model, layer, part, channel and, for v-Wave states, the
        channel's velocity ``velocity`` (sites/step).

    Notes
    -----
    A Hugging Face Mamba / Mamba2 model goes to
    :func:`wavescope.models.hf_probe.hf_capture_states` (parts ``"ssm"``, ``"conv"``).
    """
    if _is_hf(model):
        from wavescope.models.hf_probe import hf_capture_states

        return hf_capture_states(
            model, tokens, layer, channel, part=_hf_part(part), batch_index=batch_index
        )
    states = hidden_states(model, tokens, layer, part)  # (B, L, channels, sites)
    part = part or DEFAULT_PART[model.name]
    B, L, n_ch, n_sites = states.shape
    if not 0 <= batch_index < B:
        raise WaveInputError(f"batch_index={batch_index} out of range for a batch of {B}.")
    s = states[batch_index]  # (L, channels, sites)
    v = _velocity_meta(model, _check_layer(model, layer), part)
    extra = {}
    if channel is None:
        data = s.mean(1).T
        if v is not None:
            extra["velocity"] = float(np.mean(v))
    else:
        if not -n_ch <= int(channel) < n_ch:
            raise WaveInputError(
                f"channel={channel} is out of range: layer {layer} of {model.name} has "
                f"{n_ch} channels (0 to {n_ch - 1})."
            )
        channel = int(channel) % n_ch
        data = s[:, channel].T
        if v is not None:
            extra["velocity"] = float(v[..., channel].mean())
    return _field(data.numpy(), model, layer, part, channel, extra)


def capture_all_channels(
    model, tokens, layer: int, *, part: str | None = None, batch_index: int = 0
) -> list[WaveField]:
    """One WaveField per channel of layer ``layer`` (same as :func:`capture_states`)."""
    states = hidden_states(model, tokens, layer, part)
    part = part or DEFAULT_PART[model.name]
    v = _velocity_meta(model, _check_layer(model, layer), part)
    s = states[batch_index]  # (L, channels, sites)
    out = []
    for c in range(s.shape[1]):
        extra = {} if v is None else {"velocity": float(v[..., c].mean())}
        out.append(_field(s[:, c].T.numpy(), model, layer, part, c, extra))
    return out


def capture_states_batch(
    model, tokens, layer: int, channel: int | None = None, *, part: str | None = None
) -> list[WaveField]:
    """One WaveField per sequence of a (B, L) batch (channel as in :func:`capture_states`)."""
    tokens = _as_tokens(tokens)
    return [
        capture_states(model, tokens[b : b + 1], layer, channel, part=part)
        for b in range(tokens.shape[0])
    ]


def impulse_response(
    model,
    layer: int,
    length: int = 64,
    position: int = 4,
    token: int = 4,
    background: int = 0,
    channel: int | None = None,
    *,
    part: str | None = None,
) -> WaveField:
    """States for an impulse input minus the states for the background alone.

    ``states(impulse_tokens(...)) - states(background everywhere)``: the response of the
    layer to the one different token, without the (often much larger) response to the
    constant background. For layer 0 of the linear SSMs (shift-SSM, v-Wave) this is exactly
    the impulse response of the state; deeper layers add the nonlinear effect of the
    layers below.

    Returns
    -------
    field : WaveField
        As :func:`capture_states`, with ``meta["input"] = "impulse-minus-background"``.
        A Hugging Face Mamba / Mamba2 model goes to
        :func:`wavescope.models.hf_probe.hf_impulse_response`.
    """
    if _is_hf(model):
        from wavescope.models.hf_probe import hf_impulse_response

        return hf_impulse_response(
            model, layer, length, position, token, background, channel, part=_hf_part(part)
        )
    check_probe_size(model, 2, length)  # before the tokens exist: the impulse and the base
    imp = impulse_tokens(length, position, token, background)
    base = torch.full_like(imp, int(background))
    f_imp = capture_states(model, imp, layer, channel, part=part)
    f_base = capture_states(model, base, layer, channel, part=part)
    meta = dict(
        f_imp.meta,
        input="impulse-minus-background",
        impulse_step=int(position),
        impulse_token=int(token),
        background_token=int(background),
    )
    return replace(f_imp, data=f_imp.data - f_base.data, meta=meta)


def impulse_tokens(length: int, position: int = 0, token: int = 1, background: int = 0):
    """An impulse input: ``background`` everywhere and ``token`` at ``position``.

    Returns
    -------
    tokens : LongTensor, shape (1, length)
    """
    if int(length) < 1 or not 0 <= int(position) < int(length):
        raise WaveInputError(f"impulse position {position} must lie in [0, length={length}).")
    t = torch.full((1, int(length)), int(background), dtype=torch.long)
    t[0, int(position)] = int(token)
    return t


def text_tokens(text: str) -> torch.Tensor:
    """Copy-task tokens of ``text``: letters a-z, and ``_ < | >`` for PAD, BOS, SEP, EOS."""
    from wavescope.models import tasks

    special = {v: k for k, v in tasks._SPECIAL_NAMES.items()}
    ids = []
    for ch in text:
        if ch in special:
            ids.append(special[ch])
        elif ch in tasks.LETTERS:
            ids.append(tasks.FIRST_LETTER + tasks.LETTERS.index(ch))
        else:
            raise WaveInputError(
                f"--input may hold only letters a-z and the special tokens _ < | >, got {ch!r}."
            )
    if not ids:
        raise WaveInputError("--input is empty; give at least one token.")
    return torch.tensor([ids], dtype=torch.long)


def load_model(path, map_location="cpu"):
    """Model from a training checkpoint (torch.load with weights_only=True).

    The checkpoint is a dict with ``model_name``, ``config`` (dict), ``vocab_size`` and
    ``model_state`` (see :mod:`wavescope.models.checkpoint`, whose loader this is). Raises
    WaveInputError if it is missing, corrupt, names an unknown model, or its config does
    not match its state dict.

    Returns
    -------
    model : LanguageModel, in eval mode
    ckpt : dict
    """
    from wavescope.models.checkpoint import load_model as _load

    return _load(path, map_location=map_location)


# ---------------------------------------------------------------------- snapshots
#: Part that reads the residual stream at the output of a block (every model).
RESIDUAL = "residual"


def snapshot_parts(model) -> tuple:
    """Parts :func:`state_snapshots` accepts for ``model``: its SSM states and "residual"."""
    return PARTS.get(model.name, ()) + (RESIDUAL,)


def _check_snapshot_part(model, part) -> str:
    if part is None:
        return DEFAULT_PART.get(model.name, RESIDUAL)
    allowed = snapshot_parts(model)
    if part not in allowed:
        raise WaveInputError(
            f"part={part!r} is not a state of {model.name}; choose one of {allowed}"
            + ("" if model.name in PARTS else " (a transformer has no SSM state)")
            + "."
        )
    return part


def residual_stream(model, tokens, layer: int) -> torch.Tensor:
    """Residual stream at the output of block ``layer``, (B, L, D) float.

    Taken with a forward hook on ``model.layers[layer]``; the forward stops there.
    """
    layer = _check_layer(model, layer)
    return _run_until(model, tokens, model.layers[layer], before=False).detach().float().cpu()


def state_snapshots(model, tokens, layer: int, part: str | None = None) -> np.ndarray:
    """The full state of layer ``layer`` at every step, flattened into features.

    Parameters
    ----------
    model : LanguageModel
    tokens : array-like of int, shape (L,) or (B, L)
    layer : int
        Layer index, 0-based (negative counts from the end).
    part : str, optional
        ``"residual"`` (every model): the residual stream at the output of block ``layer``,
        D features. An SSM state (see :data:`PARTS`): every channel x site of
        :func:`hidden_states` (v-Wave rings in real space), channel-major, i.e. feature
        ``c * sites + j`` is channel c, site j. Default: the model's wave-carrying state
        (:data:`DEFAULT_PART`); ``"residual"`` for transformers, which support only it.

    Returns
    -------
    snapshots : ndarray of float32, shape (B, L, F)
        F = D for ``"residual"``, channels * sites for an SSM state.
    """
    part = _check_snapshot_part(model, part)
    if part == RESIDUAL:
        return residual_stream(model, tokens, layer).numpy()
    s = hidden_states(model, tokens, layer, part)  # (B, L, channels, sites)
    return s.reshape(s.shape[0], s.shape[1], -1).numpy().astype(np.float32, copy=False)
