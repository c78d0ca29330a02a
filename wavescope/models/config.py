"""Dataclass configs of the models, with the papers' symbols.

Every config shares the language-model fields of :class:`LMConfig` (``d_model`` = D,
``n_layers``, tied head, optional MLP after the mixer, ``max_len``) and adds its mixer's
own fields. Configs are plain dataclasses: ``dataclasses.asdict(cfg)`` gives the dict that
checkpoints store and :func:`wavescope.models.registry.config_from_dict` reads back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class LMConfig:
    """Fields shared by every model.

    Attributes
    ----------
    d_model : int
        D, the width of the residual stream.
    n_layers : int
        Number of residual blocks.
    mlp_ratio : float
        Hidden width of the MLP that follows the mixer in each block, in units of D;
        0 means no MLP (Mamba's blocks have none).
    tie_embeddings : bool
        Share the token embedding with the output head.
    max_len : int or None
        Longest sequence the model accepts (tokens); None means no limit. SSMs have none;
        for transformers it is a memory guard (attention is O(L^2)), not a positional
        table: RoPE and ALiBi are defined at every length.
    norm_eps : float
        Epsilon of the RMSNorms.
    """

    d_model: int = 64
    n_layers: int = 2
    mlp_ratio: float = 0.0
    tie_embeddings: bool = True
    max_len: int | None = None
    norm_eps: float = 1e-5


@dataclass
class MambaConfig(LMConfig):
    """Mamba (Gu & Dao 2024).

    Attributes
    ----------
    d_state : int
        N, the number of states per channel of the selective SSM.
    expand : int
        E, the inner width is E * D.
    d_conv : int
        Width of the causal depthwise convolution.
    dt_rank : int or None
        Rank of the projection to Delta; None gives ceil(D / 16).
    dt_min, dt_max : float
        Range of the initial step Delta (log-uniform).
    dt_init_floor : float
        Smallest initial Delta.
    """

    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | None = None
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def dt_rank_(self) -> int:
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)


@dataclass
class WaveFields:
    """Fields of the v-Wave dynamics (mixed into the v-Wave configs).

    Attributes
    ----------
    n_sites : int
        N_w, the number of sites of the ring that carries the wave.
    velocity : {"fixed", "channel", "input"}
        How the velocity v (sites per step) is set: a fixed buffer, one learned value per
        channel, or input dependent (v_t = softplus(w . x_t + b), like Mamba's Delta).
    v_init : float
        Initial (or fixed) velocity in sites per step.
    decay : float
        Amplitude decay per site travelled (A = -decay + i omega_k): content that has
        travelled s sites is scaled by exp(-decay * s), which forgets what wraps around the
        ring. 0 gives a lossless ring.
    """

    n_sites: int = 32
    velocity: str = "channel"
    v_init: float = 1.0
    decay: float = 0.1


@dataclass
class VWaveMambaConfig(WaveFields, MambaConfig):
    """v-Wave Mamba: Mamba whose causal convolution is a v-Wave shift register.

    Mamba's width-``d_conv`` causal conv is, in step mode, a shift register of the last
    ``d_conv`` inputs read out by learned weights (a shift-SSM at v = 1). Here it is
    replaced by the v-Wave ring of ``n_sites`` sites at velocity v, read out by learned
    weights over the sites (see :mod:`wavescope.models.vwave`); ``d_conv`` is unused.
    """


@dataclass
class H3Config(LMConfig):
    """H3-style block with the shift-SSM (Fu, Dao et al. 2023).

    Attributes
    ----------
    n_sites : int
        N, the length of the shift register (the FIR length of the shift-SSM).
    d_state : int
        N of the diagonal SSM applied to the product k * v.
    dt_min, dt_max : float
        Range of the diagonal SSM's fixed steps (log-uniform over channels).
    """

    n_sites: int = 32
    d_state: int = 16
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    mlp_ratio: float = 1.0


@dataclass
class VWaveConfig(WaveFields, H3Config):
    """H3-style block whose shift-SSM is the v-Wave SSM (Keller 2024)."""


@dataclass
class TransformerConfig(LMConfig):
    """Causal transformer with RoPE or ALiBi positions.

    Attributes
    ----------
    n_heads : int
        Number of attention heads (D must be divisible by it).
    position : {"rope", "alibi"}
        Positional scheme. Both extrapolate to any length; ``max_len`` only guards memory.
    rope_base : float
        Base of RoPE's frequencies.
    """

    n_heads: int = 4
    position: str = "rope"
    rope_base: float = 10000.0
    mlp_ratio: float = 1.0
    max_len: int | None = 4096
