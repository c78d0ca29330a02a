"""The language-model wrapper shared by every model.

    tokens (B, L) -> embedding -> n_layers x [x + mixer(norm(x)) (+ x + mlp(norm(x)))]
                  -> final RMSNorm -> head (tied to the embedding or not) -> logits (B, L, V)

A model is this wrapper plus a mixer module (Mamba, H3 shift-SSM, v-Wave, attention) built
from a dataclass config. Each mixer takes and returns ``(B, L, D)`` and exposes
``hidden_states(x)`` for the probes (:mod:`wavescope.models.probe`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from wavescope.core.validate import WaveInputError
from wavescope.models.config import LMConfig


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain: x / rms(x) * g."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        # x : (B, L, D). Float32 CPU tensors take one compiled pass each way (the same
        # numbers to float32 rounding; the torch expression is ~15 small ops with backward).
        from wavescope.models.scan.cpu_kernel import applies, rms_norm_kernel

        if applies(x, self.weight):
            return rms_norm_kernel(x, self.weight, self.eps)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MLP(nn.Module):
    """Two-layer GELU MLP, D -> hidden -> D."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        # x : (B, L, D)
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm residual block: x + mixer(norm(x)), then x + mlp(norm(x)) if any."""

    def __init__(self, mixer: nn.Module, config: LMConfig):
        super().__init__()
        d = config.d_model
        self.norm = RMSNorm(d, config.norm_eps)
        self.mixer = mixer
        hidden = int(round(config.mlp_ratio * d))
        self.norm2 = RMSNorm(d, config.norm_eps) if hidden > 0 else None
        self.mlp = MLP(d, hidden) if hidden > 0 else None

    def forward(self, x):
        # x : (B, L, D)
        x = x + self.mixer(self.norm(x))
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x


class LanguageModel(nn.Module):
    """Embedding, residual blocks around a mixer, final norm and head.

    Parameters
    ----------
    name : str
        Registry name of the model (``"mamba"``, ``"shift-ssm"``, ...).
    vocab_size : int
        V, the number of tokens.
    config : LMConfig
        The model's dataclass config.
    make_mixer : callable
        ``make_mixer(config, layer_index) -> nn.Module`` mapping (B, L, D) to (B, L, D).
    """

    def __init__(
        self,
        name: str,
        vocab_size: int,
        config: LMConfig,
        make_mixer: Callable[[LMConfig, int], nn.Module],
    ):
        super().__init__()
        if int(vocab_size) < 1:
            raise WaveInputError(f"vocab_size must be a positive integer, got {vocab_size!r}.")
        self.name = name
        self.config = config
        self.vocab_size = int(vocab_size)
        d = config.d_model
        self.embedding = nn.Embedding(self.vocab_size, d)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.layers = nn.ModuleList(
            [Block(make_mixer(config, i), config) for i in range(config.n_layers)]
        )
        self.norm_f = RMSNorm(d, config.norm_eps)
        self.lm_head = nn.Linear(d, self.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embedding.weight

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def max_len(self) -> int | None:
        """Longest sequence accepted (tokens), or None for no limit."""
        return self.config.max_len

    def num_parameters(self) -> int:
        """Number of trainable parameters (a tied head is counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def check_tokens(self, tokens) -> torch.Tensor:
        """Validate a (B, L) integer token tensor against V and ``max_len``."""
        if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (
            torch.int64,
            torch.int32,
            torch.int16,
            torch.uint8,
        ):
            raise WaveInputError(
                f"tokens must be an integer torch tensor of shape (batch, length), got "
                f"{type(tokens).__name__} {getattr(tokens, 'dtype', '')}."
            )
        if tokens.ndim != 2:
            raise WaveInputError(
                f"tokens must have shape (batch, length), got {tuple(tokens.shape)}; "
                "add a batch dimension with tokens[None]."
            )
        L = tokens.shape[1]
        if self.max_len is not None and L > self.max_len:
            raise WaveInputError(
                f"sequence length {L} exceeds {self.name}'s max_len={self.max_len}; "
                "shorten the input or build the model with a larger max_len "
                "(max_len=None lifts the limit)."
            )
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise WaveInputError(
                f"token ids must lie in [0, {self.vocab_size}), got range "
                f"[{int(tokens.min())}, {int(tokens.max())}]."
            )
        return tokens.long()

    def forward(self, tokens):
        # tokens : (B, L) -> logits : (B, L, V)
        tokens = self.check_tokens(tokens)
        x = self.embedding(tokens)  # x : (B, L, D)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm_f(x))
