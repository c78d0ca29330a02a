"""Probes of SSMs trained elsewhere: Hugging Face Mamba / Mamba2, and any torch module.

Hugging Face (``transformers``, extra ``[hf]``; nothing is downloaded): a
``MambaForCausalLM`` or ``Mamba2ForCausalLM`` instance, or a local folder written by
``save_pretrained`` (loaded with ``local_files_only=True``). The model is run one token
at a time with its own step cache (``transformers.DynamicCache``), and after every step
the cache of layer ``layer`` is read:

- ``part="ssm"``: ``cache.get_recurrent_state(layer)``, the SSM state ``h``: Mamba
  (B, d_inner, d_state), one line of d_state sites per inner channel; Mamba2
  (B, n_heads, head_dim, d_state), one line per head (the mean over the head's head_dim
  rows: they share the head's decay and B, so the mean is the state driven by the mean
  input);
- ``part="conv"``: ``cache.get_conv_state(layer)``, the causal conv's shift register
  (B, conv_dim, d_conv), flipped so that site 0 holds the newest input (site i holds
  x_{t-i}, as :class:`wavescope.models.mamba.CausalConv`): a shift-SSM at 1 site/step.

The states are therefore exactly those of Hugging Face's step-by-step inference; the
forward stops after block ``layer`` each step. The result is a standard capture
(:func:`hf_capture_states`, :func:`hf_impulse_response`: a :class:`WaveField`, sites =
state index, one sample per step, the meta keys of :mod:`wavescope.models.probe`) that
every wave measure reads, and :func:`hf_state_snapshots` gives the whole state at every
step as features for the memory curves of :func:`wavescope.waves.memory.memory_curve`.

Any ``torch.nn.Module``: :func:`capture_module` hooks a named submodule, hands its output
(or its inputs) to a function of yours that returns (batch, steps, sites) states, and
returns the same capture.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from wavescope.core.deps import require
from wavescope.core.errors import WaveFileNotFoundError, WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_option
from wavescope.models.probe import capture_states, impulse_response

__all__ = [
    "HF_MODEL_TYPES",
    "HF_PARTS",
    "is_hf_model",
    "is_hf_model_dir",
    "load_hf_model",
    "hf_states",
    "hf_state_snapshots",
    "hf_capture_states",
    "hf_impulse_response",
    "HFTarget",
    "ModuleTarget",
    "module_states",
    "capture_module",
]

#: config.model_type -> the transformers class that loads it.
HF_MODEL_TYPES = {"mamba": "MambaForCausalLM", "mamba2": "Mamba2ForCausalLM"}
#: The states a probe reads: the SSM state h, or the causal conv's shift register.
HF_PARTS = ("ssm", "conv")


class _Stop(Exception):
    pass


def is_hf_model(model) -> bool:
    """True for a Hugging Face Mamba / Mamba2 model (``config.model_type`` mamba/mamba2)."""
    cfg = getattr(model, "config", None)
    return isinstance(model, torch.nn.Module) and getattr(cfg, "model_type", None) in (
        HF_MODEL_TYPES
    )


def _read_config(path: Path) -> dict | None:
    cfg = path / "config.json"
    if not cfg.is_file():
        return None
    try:
        return json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_hf_model_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder with a config.json of a Mamba / Mamba2 model."""
    path = Path(path)
    return path.is_dir() and (_read_config(path) or {}).get("model_type") in HF_MODEL_TYPES


def load_hf_model(path: str | os.PathLike, *, device: str = "cpu"):
    """A Mamba / Mamba2 causal LM from a local folder (``save_pretrained``), in eval mode.

    Parameters
    ----------
    path : path-like
        The folder holding ``config.json`` and the weights (``model.safetensors``).
        Nothing is downloaded (``local_files_only=True``): to probe a hub model, download
        it once elsewhere (``save_pretrained`` or ``huggingface-cli download``) and pass
        the folder.
    device : str
        ``"cpu"`` or ``"cuda"``.
    """
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such folder.")
    cfg = _read_config(path) if path.is_dir() else None
    if cfg is None:
        raise WaveInputError(
            f"{path}: not a Hugging Face model folder (no readable config.json); save one with "
            "model.save_pretrained(folder)."
        )
    kind = cfg.get("model_type")
    if kind not in HF_MODEL_TYPES:
        raise WaveInputError(
            f"{path}: model_type {kind!r} has no SSM state to probe here; supported: "
            f"{', '.join(HF_MODEL_TYPES)} (for another torch model use capture_module)."
        )
    transformers = require("transformers", "probing Hugging Face models")
    cls = getattr(transformers, HF_MODEL_TYPES[kind])
    try:
        model = cls.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:
        raise WaveInputError(
            f"{path}: transformers could not load it ({type(exc).__name__}: {exc})."
        ) from None
    return model.to(device).eval()


def _check_model(model) -> str:
    if not is_hf_model(model):
        raise WaveTypeError(
            f"expected a Hugging Face MambaForCausalLM / Mamba2ForCausalLM (or MambaModel), "
            f"got {type(model).__name__}; load a folder with load_hf_model, or probe any torch "
            "module with capture_module."
        )
    return model.config.model_type


def _blocks(model):
    backbone = getattr(model, "backbone", model)
    layers = getattr(backbone, "layers", None)
    if layers is None:
        raise WaveTypeError(f"{type(model).__name__} has no .layers / .backbone.layers.")
    return layers


def _check_layer(model, layer) -> int:
    n = len(_blocks(model))
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -n <= layer < n:
        raise WaveInputError(
            f"layer={layer!r} is out of range: the model has {n} layers (0 to {n - 1})."
        )
    return int(layer) % n


def _tokens(tokens, model) -> torch.Tensor:
    t = tokens if isinstance(tokens, torch.Tensor) else torch.as_tensor(np.asarray(tokens))
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2 or t.shape[1] < 1 or t.dtype.is_floating_point:
        raise WaveInputError(
            f"tokens must be integer ids, shape (L,) or (B, L), got {tuple(t.shape)} {t.dtype}."
        )
    vocab = int(model.config.vocab_size)
    if int(t.min()) < 0 or int(t.max()) >= vocab:
        raise WaveInputError(
            f"token ids must lie in [0, {vocab}) (the model's vocab_size), got "
            f"{int(t.min())}..{int(t.max())}."
        )
    return t.long()


def _step_states(model, tokens, layer: int, part: str) -> torch.Tensor:
    """Layer ``layer``'s cached state after every step: (B, L, *state_shape), float32."""
    transformers = require("transformers", "probing Hugging Face models")
    check_option("part", part, HF_PARTS)
    layer = _check_layer(model, layer)
    tokens = _tokens(tokens, model)
    device = next(model.parameters()).device
    cache = transformers.DynamicCache(config=model.config)
    params = inspect.signature(model.forward).parameters
    cache_kw = "cache" if "cache" in params else "cache_params"
    if not hasattr(cache, "get_recurrent_state"):  # pragma: no cover - transformers < 5
        raise WaveInputError(
            "probing HF Mamba needs transformers >= 5 (Cache.get_recurrent_state)."
        )

    def stop(module, args, output):
        raise _Stop

    handle = _blocks(model)[layer].register_forward_hook(stop)
    out = []
    try:
        with torch.no_grad():
            for t in range(tokens.shape[1]):
                try:
                    model(
                        input_ids=tokens[:, t : t + 1].to(device),
                        use_cache=True,
                        **{cache_kw: cache},
                    )
                except _Stop:
                    pass
                state = (
                    cache.get_recurrent_state(layer)
                    if part == "ssm"
                    else cache.get_conv_state(layer)
                )
                out.append(state.detach().float().cpu().clone())
    finally:
        handle.remove()
    return torch.stack(out, dim=1)


def hf_states(model, tokens, layer: int, part: str = "ssm") -> torch.Tensor:
    """States of layer ``layer`` of a HF Mamba / Mamba2 model after every step.

    Parameters
    ----------
    model : MambaForCausalLM or Mamba2ForCausalLM (or their backbones)
    tokens : array-like of int, shape (L,) or (B, L)
    layer : int
        Layer index, 0-based (negative counts from the end).
    part : {"ssm", "conv"}
        The SSM state h, or the causal conv's shift register (see the module docstring).

    Returns
    -------
    states : Tensor, shape (B, L, channels, sites), float32
        ``states[b, t, c, n]``: channel c (Mamba: inner channel; Mamba2: head, mean over
        head_dim; conv: conv channel) at state index n after step t.
    """
    _check_model(model)
    s = _step_states(model, tokens, layer, part)
    if part == "conv":
        return s.flip(-1)  # site 0 = newest input
    if s.ndim == 5:  # Mamba2: (B, L, heads, head_dim, d_state)
        return s.mean(dim=3)
    return s


def hf_state_snapshots(model, tokens, layer: int, part: str = "ssm") -> np.ndarray:
    """The whole state of layer ``layer`` at every step, as features (B, L, F) float32.

    Every element of the cached state (Mamba2: every head x head_dim x d_state), for
    :func:`wavescope.waves.memory.memory_curve`.
    """
    _check_model(model)
    s = _step_states(model, tokens, layer, part)
    return s.reshape(s.shape[0], s.shape[1], -1).numpy().astype(np.float32, copy=False)


class HFTarget:
    """A :class:`~wavescope.models.probe.ProbeTarget` over a Hugging Face Mamba / Mamba2
    model: parts ``"ssm"`` and ``"conv"`` of its step cache (:func:`hf_states`); the
    package's name ``"context"`` for the conv state is accepted too."""

    default_impulse_token = 1

    def __init__(self, model):
        self.kind = _check_model(model)
        self.model = model
        self.name = f"hf-{self.kind}"

    def check_layer(self, layer) -> int:
        return _check_layer(self.model, layer)

    def parts(self, layer) -> tuple[str, ...]:
        return HF_PARTS

    def check_part(self, layer, part) -> str:
        # this package's Mamba names its conv state "context"; Hugging Face's cache "conv"
        part = {None: "ssm", "context": "conv"}.get(part, part)
        if part not in HF_PARTS:
            raise WaveInputError(
                f"part={part!r} is not a state of a Hugging Face Mamba model: it has parts "
                "ssm and conv."
            )
        return part

    def check_size(self, rows: int, length: int) -> None:
        return None  # one token at a time: the states are (B, L, state), nothing larger

    def states(self, tokens, layer, part) -> torch.Tensor:
        return hf_states(self.model, tokens, layer, part)

    def snapshots(self, tokens, layer, part) -> np.ndarray:
        return hf_state_snapshots(self.model, tokens, layer, part)

    def velocities(self, layer, part) -> None:
        return None

    def meta(self, layer, part) -> dict:
        channel_kind = "head" if self.kind == "mamba2" else "inner channel"
        return {
            "source": "model",
            "model": self.name,
            "layer": int(layer),
            "part": part,
            "channel_kind": "conv channel" if part == "conv" else channel_kind,
            "hf_class": type(self.model).__name__,
            "name_or_path": getattr(self.model.config, "_name_or_path", "") or None,
        }


def hf_capture_states(
    model,
    tokens,
    layer: int,
    channel: int | None = None,
    *,
    part: str = "ssm",
    batch_index: int = 0,
) -> WaveField:
    """One channel's states (or the mean over channels) as a WaveField (sites x steps).

    :func:`wavescope.models.probe.capture_states` of :class:`HFTarget` ``(model)``:
    ``data[n, t]`` is the state of channel ``channel`` at state index n after step t;
    positions = state index, 1 site apart; fs = 1 per step; speeds in sites/step.
    ``meta``: ``source="model"``, ``model`` (``"hf-mamba"``/``"hf-mamba2"``), ``layer``,
    ``part``, ``channel`` (None for the mean), ``channel_kind``, ``hf_class``.
    """
    return capture_states(
        HFTarget(model), tokens, layer, channel, part=part, batch_index=batch_index
    )


def hf_impulse_response(
    model,
    layer: int,
    length: int = 64,
    position: int = 4,
    token: int = 1,
    background: int = 0,
    channel: int | None = None,
    *,
    part: str = "ssm",
) -> WaveField:
    """:func:`wavescope.models.probe.impulse_response` of :class:`HFTarget` ``(model)``:
    ``token`` at step ``position`` among ``background`` tokens, minus the background alone.
    """
    return impulse_response(
        HFTarget(model), layer, length, position, token, background, channel, part=part
    )


# ------------------------------------------------------------------ any torch module
def _call(model, inputs):
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    return model(inputs)


def module_states(
    model: torch.nn.Module,
    inputs,
    module: str | torch.nn.Module,
    to_states: Callable,
    *,
    capture: str = "output",
    stop: bool = True,
) -> np.ndarray:
    """States of any torch model, from a hook on one of its submodules.

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(inputs)`` (``model(**inputs)`` for a dict, ``model(*inputs)``
        for a tuple), without gradients.
    inputs : Tensor, tuple or dict
    module : str or torch.nn.Module
        The submodule to hook: its dotted name (``"backbone.layers.3.mixer"``, as in
        ``model.named_modules()``) or the module itself.
    to_states : callable
        Maps the captured value to states of shape (batch, steps, sites): the module's
        output (``capture="output"``) or the tuple of its positional inputs
        (``capture="input"``). Return a Tensor or an array.
    capture : {"output", "input"}
    stop : bool
        Skip the rest of the forward once the module has run (default True).

    Returns
    -------
    states : ndarray of float64, shape (batch, steps, sites)
    """
    check_option("capture", capture, ("output", "input"))
    if not isinstance(model, torch.nn.Module):
        raise WaveTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if isinstance(module, str):
        try:
            sub = model.get_submodule(module)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n][:12]
            raise WaveInputError(
                f"no submodule {module!r} in {type(model).__name__}; names include {names}."
            ) from None
    elif isinstance(module, torch.nn.Module):
        sub = module
    else:
        raise WaveTypeError(
            f"module must be a name or a torch.nn.Module, got {type(module).__name__}."
        )
    seen = {}

    def keep(value):
        seen["x"] = value
        if stop:
            raise _Stop

    handle = (
        sub.register_forward_hook(lambda m, args, out: keep(out))
        if capture == "output"
        else sub.register_forward_pre_hook(lambda m, args: keep(args))
    )
    try:
        with torch.no_grad():
            _call(model, inputs)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "x" not in seen:
        raise WaveInputError(f"the submodule {module!r} did not run in this forward pass.")
    states = to_states(seen["x"])
    if isinstance(states, torch.Tensor):
        states = states.detach().float().cpu().numpy()
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 3:
        raise WaveInputError(
            f"to_states must return (batch, steps, sites) states, got shape {states.shape}; "
            "e.g. for (batch, steps, channels, sites) take one channel: s[:, :, c]."
        )
    return states


def _tokens_tensor(tokens) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    return t[None] if t.ndim == 1 else t


class ModuleTarget:
    """A :class:`~wavescope.models.probe.ProbeTarget` over any torch module: the states are
    :func:`module_states` of one hooked submodule (one part, named by ``capture``, one
    channel), so :func:`~wavescope.models.probe.capture_states` and
    :func:`~wavescope.models.probe.impulse_response` run on it as on the package's models.

    ``model`` is called on the tokens (B, L) (``inputs`` of :func:`module_states`); the
    layer is the submodule itself, so the probes take ``layer=None`` (or 0).
    """

    default_impulse_token = 1

    def __init__(
        self,
        model: torch.nn.Module,
        module: str | torch.nn.Module,
        to_states: Callable,
        *,
        capture: str = "output",
        stop: bool = True,
        meta: dict | None = None,
    ):
        check_option("capture", capture, ("output", "input"))
        if not isinstance(model, torch.nn.Module):
            raise WaveTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.model, self.module, self.to_states = model, module, to_states
        self.capture, self.stop, self.extra = capture, stop, dict(meta or {})
        self.name = type(model).__name__

    def check_layer(self, layer) -> None:
        if layer not in (None, 0) or isinstance(layer, bool):
            raise WaveInputError(
                f"layer={layer!r}: a module probe reads the one submodule it hooks; pass "
                "layer=None (choose another layer with another module name)."
            )
        return None

    def parts(self, layer) -> tuple[str, ...]:
        return (self.capture,)

    def check_part(self, layer, part) -> str:
        part = self.capture if part is None else part
        check_option("part", part, self.parts(layer))
        return part

    def check_size(self, rows: int, length: int) -> None:
        return None

    def states(self, tokens, layer, part) -> torch.Tensor:
        if isinstance(tokens, (list, np.ndarray)):  # token ids: a (B, L) long tensor
            tokens = _tokens_tensor(tokens)
        s = module_states(
            self.model, tokens, self.module, self.to_states, capture=part, stop=self.stop
        )
        return torch.from_numpy(s)[:, :, None, :]  # one channel: (B, L, 1, sites)

    def snapshots(self, tokens, layer, part) -> np.ndarray:
        s = self.states(tokens, layer, part)
        return s.reshape(s.shape[0], s.shape[1], -1).numpy().astype(np.float32)

    def velocities(self, layer, part) -> None:
        return None

    def meta(self, layer, part) -> dict:
        module = self.module if isinstance(self.module, str) else type(self.module).__name__
        m = {"source": "model", "model": self.name, "module": module, "layer": None, "part": part}
        return {**m, **self.extra}


def capture_module(
    model: torch.nn.Module,
    inputs,
    module: str | torch.nn.Module,
    to_states: Callable,
    *,
    capture: str = "output",
    batch_index: int = 0,
    stop: bool = True,
    meta: dict | None = None,
) -> WaveField:
    """:func:`module_states` of one sequence as a capture (sites x steps WaveField):
    :func:`~wavescope.models.probe.capture_states` of a :class:`ModuleTarget`.

    ``meta``: ``source="model"``, ``model`` (the class name), ``module`` (its name),
    ``part`` = ``capture``, plus ``meta``.
    """
    target = ModuleTarget(model, module, to_states, capture=capture, stop=stop, meta=meta)
    return capture_states(target, inputs, None, None, batch_index=batch_index)
