"""Transformer baselines: causal multi-head self-attention with RoPE or ALiBi.

Structure of one mixer (D = d_model, H heads of size D / H)::

    q, k, v = split(qkv_proj(x))                  # (B, H, L, D/H) each
    RoPE: rotate q, k by position-dependent angles   |  ALiBi: bias -slope_h * (i - j)
    softmax(q k^T / sqrt(D/H) + causal mask) v -> out_proj

Each block is followed by the wrapper's MLP (``mlp_ratio``). Neither scheme has a
positional table, so both run at any length; ``max_len`` only bounds the O(L^2) memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from wavescope.core.validate import WaveInputError, check_option
from wavescope.models.config import LMConfig

#: Positional schemes (``TransformerConfig.position``).
POSITIONS = ("rope", "alibi")


@dataclass
class TransformerConfig(LMConfig):
    """Causal transformer with RoPE (Su et al. 2021) or ALiBi (Press et al. 2022) positions.

    Attributes
    ----------
    n_heads : int
        H, the number of attention heads (D must be divisible by it; head size D / H).
    position : {"rope", "alibi"}
        Positional scheme. Both extrapolate to any length; ``max_len`` only guards memory.
    rope_base : float
        b, the base of RoPE's frequencies theta_i = b^(-2i / (D/H)).
    mlp_ratio : float
        As in :class:`LMConfig`; 1 by default here.
    max_len : int or None
        As in :class:`LMConfig`; 4096 by default here (attention memory is O(L^2)).
    """

    n_heads: int = 4  # H
    position: str = "rope"
    rope_base: float = 10000.0  # b
    mlp_ratio: float = 1.0
    max_len: int | None = 4096

    RULES: ClassVar[dict[str, tuple]] = {
        "n_heads": ("size", 1),
        "position": ("choice", POSITIONS),
        "rope_base": ("number", 1.0, ">"),
    }

    def check_relations(self) -> None:
        """Refuse a head count that does not divide D, and odd RoPE head sizes."""
        name = type(self).__name__
        if self.d_model % self.n_heads:
            raise WaveInputError(
                f"{name}: d_model={self.d_model} must be divisible by n_heads={self.n_heads}."
            )
        if self.position == "rope" and (self.d_model // self.n_heads) % 2:
            raise WaveInputError(
                f"{name}: RoPE rotates pairs of features, so the head size "
                f"d_model / n_heads = {self.d_model // self.n_heads} must be even; "
                "change d_model or n_heads."
            )


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi head slopes (Press et al. 2022): 2^(-8 h / H), h = 1..H (power-of-2 H),
    with the paper's interleaving for other H. Shape (H,)."""

    def pow2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n_heads).is_integer():
        s = pow2(n_heads)
    else:
        m = 2 ** math.floor(math.log2(n_heads))
        s = pow2(m) + pow2(2 * m)[0::2][: n_heads - m]
    return torch.tensor(s)


def rope_rotate(x, base: float):
    """Apply rotary position embedding to x (B, H, L, d) with d even."""
    L, d = x.shape[-2], x.shape[-1]
    inv = base ** (-torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d)  # (d/2,)
    ang = torch.arange(L, dtype=torch.float32, device=x.device)[:, None] * inv  # (L, d/2)
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Attention(nn.Module):
    """Causal self-attention with RoPE or ALiBi positions."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        check_option("position", config.position, ("rope", "alibi"))
        D, H = config.d_model, config.n_heads
        if D % H or (config.position == "rope" and (D // H) % 2):
            raise WaveInputError(
                f"d_model={D} must be divisible by n_heads={H} (into even head sizes for RoPE)."
            )
        self.n_heads, self.position, self.rope_base = H, config.position, config.rope_base
        self.qkv_proj = nn.Linear(D, 3 * D, bias=False)
        self.out_proj = nn.Linear(D, D, bias=False)
        if self.position == "alibi":
            self.register_buffer("slopes", alibi_slopes(H), persistent=False)

    def forward(self, x):
        # x : (B, L, D)
        Bt, L, D = x.shape
        H = self.n_heads
        qkv = self.qkv_proj(x).view(Bt, L, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, L, D/H) each
        if self.position == "rope":
            q, k = rope_rotate(q, self.rope_base), rope_rotate(k, self.rope_base)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            pos = torch.arange(L, device=x.device)
            dist = (pos[:, None] - pos[None, :]).to(q.dtype)  # (L, L), i - j
            bias = -self.slopes.to(q.dtype)[:, None, None] * dist  # (H, L, L)
            bias = bias.masked_fill(dist < 0, float("-inf"))
            # a 4-D mask (1, H, L, L) reaches PyTorch's fused CPU kernel; a 3-D one falls
            # back to the math path, 3.5x slower forward+backward at L = 1205
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias[None])
        return self.out_proj(y.transpose(1, 2).reshape(Bt, L, D))

    def hidden_states(self, x, part: str = "attention"):
        """Attention has no recurrent state; the probes refuse it."""
        raise WaveInputError(
            "transformer layers have no SSM hidden state to probe; "
            "probe an SSM model (mamba, vwave-mamba, shift-ssm, vwave)."
        )

    #: Attention has no recurrent state: nothing to probe but the residual stream.
    probe_parts: tuple[str, ...] = ()

    def probe_velocities(self, part: str):
        """No wave state: None."""
        return None
