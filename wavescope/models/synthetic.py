"""Known-truth inputs for probing wave dynamics in untrained models.

The wave claims (shift-SSM at 1 site/step, v-Wave at its velocity) are checked on models
whose first layer is wired by hand so that a token sequence feeds a chosen scalar signal
into one channel of the shift / v-Wave SSM:

- :func:`wire_scalar_input` sets the embedding and k projection of layer 0 of an H3-type
  model (``shift-ssm`` or ``vwave``) so that token j puts ``levels[j]`` into channel c;
- :func:`pulse` and :func:`signal_tokens` write a smooth pulse in time as tokens
  (quantised to the levels). The default pulse is the derivative of a Gaussian: smooth
  (so that every site sees a well-resolved delayed copy) and zero-mean (so that the
  mean removal of correlation measures over a finite record does not bias lags).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from wavescope.core.validate import WaveInputError, check_option


def wire_scalar_input(model, channel: int = 0, levels=None) -> np.ndarray:
    """Make token j feed ``levels[j]`` into channel ``channel`` of layer 0's shift SSM.

    Layer 0's mixer input is ``RMSNorm(embedding[token])``. Token j gets the embedding
    ``(l_j, sqrt(1 - l_j^2), 0, ...)`` with ``l_j`` in [-1, 1], whose RMS-normalised value
    (gain 1) is ``sqrt(D) (l_j, sqrt(1 - l_j^2), 0, ...)``; the k projection then copies
    component 0 into ``channel`` (all other k channels get 0).

    Parameters
    ----------
    model : LanguageModel
        A ``shift-ssm`` or ``vwave`` model (an H3-type mixer with ``k_proj``).
    channel : int
        Channel of the shift / v-Wave SSM that receives the signal.
    levels : array-like, shape (V,), optional
        Value per token in [-1, 1]; default :func:`default_levels` (evenly spaced, with
        0 exactly representable).

    Returns
    -------
    levels : ndarray, shape (V,)
        The input value (in units of sqrt(D)) that each token feeds.
    """
    mixer = model.layers[0].mixer
    if not hasattr(mixer, "k_proj"):
        raise WaveInputError(
            f"wire_scalar_input needs an H3-type model (shift-ssm, vwave), got {model.name}."
        )
    V, D = model.embedding.weight.shape
    lv = default_levels(V) if levels is None else np.asarray(levels, float)
    if lv.shape != (V,) or lv.min() < -1 or lv.max() > 1:
        raise WaveInputError(f"levels must be {V} values in [-1, 1].")
    with torch.no_grad():
        emb = torch.zeros(V, D)
        emb[:, 0] = torch.as_tensor(lv, dtype=torch.float32)
        emb[:, 1] = torch.as_tensor(np.sqrt(1 - lv**2), dtype=torch.float32)
        model.embedding.weight.copy_(emb)
        model.layers[0].norm.weight.fill_(1.0)
        mixer.k_proj.weight.zero_()
        mixer.k_proj.bias.zero_()
        mixer.k_proj.weight[channel, 0] = 1.0
    return lv * math.sqrt(D)


def default_levels(vocab_size: int) -> np.ndarray:
    """Token levels ``(j - c) / (V - 1 - c)`` with ``c = (V - 1) // 2``: from about -1 to 1,
    token c gives exactly 0. Shape (V,)."""
    c = (vocab_size - 1) // 2
    return (np.arange(vocab_size) - c) / (vocab_size - 1 - c)


def pulse(length: int, t0: float, sigma: float, kind: str = "dgauss") -> np.ndarray:
    """A pulse in time with peak value 1, shape (length,).

    ``"gauss"``: ``exp(-(t - t0)^2 / (2 sigma^2))``; ``"dgauss"``: its negative
    derivative, normalised to peak 1 (zero mean, peak at ``t0 - sigma``, trough at
    ``t0 + sigma``).
    """
    check_option("kind", kind, ("gauss", "dgauss"))
    t = np.arange(int(length)) - float(t0)
    g = np.exp(-(t**2) / (2 * float(sigma) ** 2))
    if kind == "gauss":
        return g
    return (t / sigma) * g * math.exp(0.5) * -1.0


def signal_tokens(values, levels) -> torch.Tensor:
    """Tokens whose levels are nearest to ``values`` (shape (L,)) -> LongTensor (1, L)."""
    values = np.asarray(values, float)
    levels = np.asarray(levels, float)
    idx = np.argmin(np.abs(values[:, None] - levels[None, :]), axis=1)
    return torch.as_tensor(idx.astype(np.int64))[None]


def plan_pulse(v: float, n_sites: int, sigma: float | None = None, min_sites: int = 16) -> dict:
    """Pulse width, record length and sites for measuring a wave at ``v`` on a ring.

    The dgauss pulse reaches about ``4 sigma`` steps, i.e. ``e = 4 sigma v`` sites, either
    side of its centre. The plan skips the source sites (``first = max(4, ceil(3 v))``),
    runs the record until the pulse has passed the last site used, and keeps the front
    that wraps round the ring (ring of ``n_sites``) from reaching the first site used.
    ``sigma`` defaults to ``max(2, 1 / v)`` steps (at least one site wide in space),
    narrowed where the ring is too short for it.

    Returns
    -------
    plan : dict
        ``sigma``, ``t0`` (steps), ``length`` (steps), ``sites`` (ndarray of indices).
    """
    v = float(v)
    first = max(4, math.ceil(3 * v))
    if sigma is None:
        sigma = max(2.0, 1.0 / v)
        sigma = min(sigma, (n_sites - first - min_sites) / (8 * v))
    e = 4 * sigma * v
    last = min(n_sites - 1, math.ceil(n_sites + first - 2 * e) - 1)
    if sigma < 0.75 or last - first + 1 < min_sites:
        raise WaveInputError(
            f"a ring of {n_sites} sites is too short to measure a wave at v={v:g} sites/step "
            f"over {min_sites} sites; use more sites."
        )
    t0 = 4 * sigma
    length = int(math.ceil(t0 + last / v + 4 * sigma)) + 1
    return {"sigma": sigma, "t0": t0, "length": length, "sites": np.arange(first, last + 1)}
