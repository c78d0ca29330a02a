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

The probes ask the model for its states rather than knowing model names: a model is seen
through a :class:`ProbeTarget`, which lists a layer's probe-able parts (the wave-carrying
one first), returns their states (B, L, channels, sites) and the velocity a part carries.
:func:`as_probe_target` gives one for this package's models (each mixer lists its
``probe_parts``, reads them with ``hidden_states`` and reports ``probe_velocities``), for
Hugging Face Mamba / Mamba2 models (:class:`wavescope.models.hf_probe.HFTarget`) and, with
a hook and a function of yours, for any torch module
(:class:`wavescope.models.hf_probe.ModuleTarget`). :func:`capture_states` and
:func:`impulse_response` are written once over that protocol.

For this package's models the layer's mixer input is taken with a forward pre-hook (the
forward stops there), and the states are recomputed by the mixer's ``hidden_states``.

:func:`state_snapshots` returns a layer's whole state at every step as features
(B, L, channels x sites), or with ``part="residual"`` the residual stream at the output of
the block (every model, transformers included), for the memory curves of
:mod:`wavescope.models.memory_probe`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from wavescope.core.errors import WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError

#: Part that reads the residual stream at the output of a block (every model).
RESIDUAL = "residual"


class _Stop(Exception):
    pass


@runtime_checkable
class ProbeTarget(Protocol):
    """What a probe needs from a model: its layers' states, asked for by part.

    Attributes
    ----------
    name : str
        The model's name, written into every capture's ``meta["model"]``.
    default_impulse_token : int
        The token :func:`impulse_response` places among the background by default.
    """

    name: str
    default_impulse_token: int

    def check_layer(self, layer) -> int | None:
        """``layer`` as the index the target reads, or a WaveInputError."""

    def parts(self, layer: int | None) -> tuple[str, ...]:
        """The layer's probe-able parts, the wave-carrying one (the default) first."""

    def check_part(self, layer: int | None, part: str | None) -> str:
        """``part`` (None: the default) checked against :meth:`parts`."""

    def check_size(self, rows: int, length: int) -> None:
        """Refuse a probe whose states would not fit in memory."""

    def states(self, tokens, layer: int | None, part: str) -> torch.Tensor:
        """States of ``part`` for ``tokens``: (B, L, channels, sites), float32 on the CPU."""

    def snapshots(self, tokens, layer: int | None, part: str) -> np.ndarray:
        """The whole state at every step as features: (B, L, F), float32."""

    def velocities(self, layer: int | None, part: str) -> np.ndarray | None:
        """Per-channel velocity (sites/step) of the wave in ``part``, or None."""

    def meta(self, layer: int | None, part: str) -> dict:
        """What a capture's ``meta`` says of its source (``source``, ``model``, ...)."""


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


class ModelTarget:
    """A :class:`ProbeTarget` over this package's :class:`~wavescope.models.lm.LanguageModel`:
    each layer's mixer lists its ``probe_parts`` and reads them with ``hidden_states``."""

    default_impulse_token = 4  # the letter 'a' of the copy task

    def __init__(self, model):
        self.model = model
        self.name = model.name

    def check_layer(self, layer) -> int:
        """``layer`` as an index 0 .. n_layers - 1; negative (Python-style) indices are
        refused so that ``--layer -1`` is never read as a silent alias of the last layer."""
        n, name = self.model.n_layers, self.name
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise WaveInputError(
                f"layer must be an integer from 0 to {n - 1} ({name} has {n} layers), got "
                f"{layer!r}."
            )
        if not 0 <= int(layer) < n:
            last = f"; the last layer is {n - 1}" if int(layer) < 0 else ""
            raise WaveInputError(
                f"layer={int(layer)} is out of range: {name} has {n} layers (0 to {n - 1}){last}."
            )
        return int(layer)

    def _mixer(self, layer):
        return self.model.layers[self.check_layer(layer)].mixer

    def parts(self, layer) -> tuple[str, ...]:
        return tuple(self._mixer(layer).probe_parts)

    def check_part(self, layer, part) -> str:
        parts = self.parts(layer)
        if not parts:
            raise WaveInputError(
                f"{self.name} has no SSM hidden state to probe; probe an SSM model."
            )
        if part is None:
            return parts[0]
        if part not in parts:
            raise WaveInputError(
                f"part={part!r} is not a state of {self.name}; choose one of {parts}."
            )
        return part

    def check_size(self, rows: int, length: int) -> None:
        check_probe_size(self.model, rows, length)

    def states(self, tokens, layer, part) -> torch.Tensor:
        mixer = self._mixer(layer)
        part = self.check_part(layer, part)
        shape = tuple(tokens.shape) if hasattr(tokens, "shape") else np.shape(tokens)
        self.check_size(shape[0] if len(shape) > 1 else 1, shape[-1] if shape else 1)
        x = _run_until(self.model, tokens, mixer, before=True)
        with torch.no_grad():
            return mixer.hidden_states(x, part=part).float().cpu()

    def snapshots(self, tokens, layer, part) -> np.ndarray:
        if part == RESIDUAL:
            return residual_stream(self.model, tokens, layer).numpy()
        s = self.states(tokens, layer, part)  # (B, L, channels, sites)
        return s.reshape(s.shape[0], s.shape[1], -1).numpy().astype(np.float32, copy=False)

    def velocities(self, layer, part) -> np.ndarray | None:
        v = self._mixer(layer).probe_velocities(part)
        return None if v is None else v.detach().cpu().numpy()

    def meta(self, layer, part) -> dict:
        return {"source": "model", "model": self.name, "layer": layer, "part": part}


def as_probe_target(model) -> ProbeTarget:
    """The :class:`ProbeTarget` of ``model``: a target as it is, this package's models,
    Hugging Face Mamba / Mamba2 models; anything else is refused with the way to probe it."""
    if isinstance(model, ProbeTarget):
        return model
    if hasattr(model, "n_layers") and hasattr(model, "layers") and hasattr(model, "name"):
        return ModelTarget(model)
    from wavescope.models.hf_probe import HFTarget, is_hf_model

    if is_hf_model(model):
        return HFTarget(model)
    raise WaveTypeError(
        f"cannot probe a {type(model).__name__}: give a wavescope model, a Hugging Face "
        "Mamba / Mamba2 model, or wrap any torch module in "
        "wavescope.models.hf_probe.ModuleTarget(model, submodule, to_states)."
    )


def default_part(model, layer: int = 0) -> str:
    """The part a probe reads by default: the layer's wave-carrying state."""
    target = as_probe_target(model)
    return target.check_part(target.check_layer(layer), None)


def wave_velocities(model, layer: int = 0) -> np.ndarray | None:
    """Per-channel velocity (sites/step) of the layer's wave-carrying state, or None."""
    target = as_probe_target(model)
    layer = target.check_layer(layer)
    parts = target.parts(layer)
    return target.velocities(layer, parts[0]) if parts else None


def hidden_states(model, tokens, layer: int, part: str | None = None) -> torch.Tensor:
    """States of layer ``layer``'s SSM for ``tokens``.

    Parameters
    ----------
    model : LanguageModel, a Hugging Face Mamba / Mamba2 model, or a ProbeTarget
    tokens : array-like of int, shape (L,) or (B, L)
    layer : int
        Layer index, 0-based.
    part : str, optional
        Which state (see :func:`probe_parts`); the model's wave-carrying state by default.

    Returns
    -------
    states : Tensor, shape (B, L, channels, sites), float
    """
    target = as_probe_target(model)
    layer = target.check_layer(layer)
    return target.states(tokens, layer, target.check_part(layer, part))


def probe_parts(model, layer: int = 0) -> tuple[str, ...]:
    """The parts of layer ``layer`` that :func:`capture_states` reads, the default first."""
    target = as_probe_target(model)
    return target.parts(target.check_layer(layer))


def _field(data, meta) -> WaveField:
    return WaveField.from_line(
        np.ascontiguousarray(data, dtype=np.float64),
        fs=1.0,
        spacing=1.0,
        space_unit="site",
        time_unit="step",
        meta=meta,
    )


def _channel_field(target, states, layer, part, channel, velocities) -> WaveField:
    """One sequence's states (L, channels, sites) -> the capture of ``channel`` (None: the
    mean over channels), with the channel's velocity where the part carries one."""
    n_ch = states.shape[1]
    extra = {}
    if channel is None:
        data = states.mean(1).T
        if velocities is not None:
            extra["velocity"] = float(np.mean(velocities))
    else:
        if isinstance(channel, bool) or not -n_ch <= int(channel) < n_ch:
            raise WaveInputError(
                f"channel={channel} is out of range: layer {layer} of {target.name} ({part}) "
                f"has {n_ch} channels (0 to {n_ch - 1})."
            )
        channel = int(channel) % n_ch
        data = states[:, channel].T
        if velocities is not None:
            extra["velocity"] = float(velocities[..., channel].mean())
    meta = dict(target.meta(layer, part), channel=channel, **extra)
    return _field(data.numpy(), meta)


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
    model : LanguageModel, a Hugging Face Mamba / Mamba2 model, or a ProbeTarget
    tokens : array-like of int, shape (L,) or (B, L)
    layer : int
        Layer index (0-based).
    channel : int, optional
        Channel whose states to return; None returns the mean over channels.
    part : str, optional
        Which state of the layer (see :func:`probe_parts`; a Hugging Face model's
        ``"context"`` is its ``"conv"``).
    batch_index : int
        Which sequence of a batch.

    Returns
    -------
    field : WaveField
        ``data`` (sites, L); positions = site index; fs = 1 per step; speeds come out in
        sites/step. ``meta`` holds source, model, layer, part, channel and, where the part
        carries a set velocity (v-Wave), the channel's ``velocity`` (sites/step).
    """
    target = as_probe_target(model)
    layer = target.check_layer(layer)
    part = target.check_part(layer, part)
    states = target.states(tokens, layer, part)  # (B, L, channels, sites)
    B = states.shape[0]
    if not 0 <= batch_index < B:
        raise WaveInputError(f"batch_index={batch_index} out of range for a batch of {B}.")
    v = target.velocities(layer, part)
    return _channel_field(target, states[batch_index], layer, part, channel, v)


def capture_all_channels(
    model, tokens, layer: int, *, part: str | None = None, batch_index: int = 0
) -> list[WaveField]:
    """One WaveField per channel of layer ``layer`` (same as :func:`capture_states`)."""
    target = as_probe_target(model)
    layer = target.check_layer(layer)
    part = target.check_part(layer, part)
    s = target.states(tokens, layer, part)[batch_index]  # (L, channels, sites)
    v = target.velocities(layer, part)
    return [_channel_field(target, s, layer, part, c, v) for c in range(s.shape[1])]


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
    token: int | None = None,
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

    Parameters
    ----------
    token : int, optional
        The impulse's token; default the target's ``default_impulse_token`` (4, the
        letter 'a', for this package's models; 1 for a Hugging Face model).

    Returns
    -------
    field : WaveField
        As :func:`capture_states`, with ``meta["input"] = "impulse-minus-background"``,
        ``impulse_step``, ``impulse_token`` and ``background_token``.
    """
    target = as_probe_target(model)
    token = target.default_impulse_token if token is None else token
    target.check_size(2, length)  # before the tokens exist: the impulse and the base
    imp = impulse_tokens(length, position, token, background)
    base = torch.full_like(imp, int(background))
    f_imp = capture_states(target, imp, layer, channel, part=part)
    f_base = capture_states(target, base, layer, channel, part=part)
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
def snapshot_parts(model, layer: int = 0) -> tuple:
    """Parts :func:`state_snapshots` accepts for ``model``: its SSM states and "residual"."""
    return probe_parts(model, layer) + (RESIDUAL,)


def check_snapshot_part(model, part, layer: int = 0) -> str:
    """``part`` checked against :func:`snapshot_parts` (None: the wave-carrying state, or
    "residual" where the model has none)."""
    parts = probe_parts(model, layer)
    if part is None:
        return parts[0] if parts else RESIDUAL
    allowed = parts + (RESIDUAL,)
    if part not in allowed:
        raise WaveInputError(
            f"part={part!r} is not a state of {as_probe_target(model).name}; choose one of "
            f"{allowed}" + ("" if parts else " (a transformer has no SSM state)") + "."
        )
    return part


def residual_stream(model, tokens, layer: int) -> torch.Tensor:
    """Residual stream at the output of block ``layer``, (B, L, D) float.

    Taken with a forward hook on ``model.layers[layer]``; the forward stops there.
    """
    layer = ModelTarget(model).check_layer(layer)
    return _run_until(model, tokens, model.layers[layer], before=False).detach().float().cpu()


def state_snapshots(model, tokens, layer: int, part: str | None = None) -> np.ndarray:
    """The full state of layer ``layer`` at every step, flattened into features.

    Parameters
    ----------
    model : LanguageModel
    tokens : array-like of int, shape (L,) or (B, L)
    layer : int
        Layer index, 0-based.
    part : str, optional
        ``"residual"`` (every model): the residual stream at the output of block ``layer``,
        D features. An SSM state (see :func:`probe_parts`): every channel x site of
        :func:`hidden_states` (v-Wave rings in real space), channel-major, i.e. feature
        ``c * sites + j`` is channel c, site j. Default: the model's wave-carrying state;
        ``"residual"`` for transformers, which support only it.

    Returns
    -------
    snapshots : ndarray of float32, shape (B, L, F)
        F = D for ``"residual"``, channels * sites for an SSM state.
    """
    target = as_probe_target(model)
    layer = target.check_layer(layer)
    return target.snapshots(tokens, layer, check_snapshot_part(model, part, layer))
