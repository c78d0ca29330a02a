"""Model registry: names, default configs at two scales, builders and parameter counts.

==================  ==================  ==============================================
name                config              mixer
==================  ==================  ==============================================
mamba               MambaConfig         selective SSM with causal conv (mamba.py)
vwave-mamba         VWaveMambaConfig    Mamba with a v-Wave ring instead of the conv
shift-ssm           H3Config            H3 block with the exact shift-SSM
vwave               VWaveConfig         H3 block with the v-Wave SSM (vwave.py)
transformer-rope    TransformerConfig   causal attention, rotary positions
transformer-alibi   TransformerConfig   causal attention, ALiBi biases
==================  ==================  ==============================================

Scales: ``"cpu"`` (D = 64, 2 layers, about 33 k parameters per layer for every model,
small enough that copy length 20 trains on 2 CPU cores in minutes) and ``"gpu"``
(D = 512, 6 layers, 10-13 M parameters, Mamba d_state 32 as in Jelassi et al., v-Wave
rings of 256 sites; for copy length 300). The papers' models are larger (Jelassi et al.:
D = 1024, 12 layers); this one is smaller so that length-300 runs fit a short GPU loan.
"""

from __future__ import annotations

import os

import numpy as np

from wavescope.core.validate import WaveInputError, check_option
from wavescope.models.config import (
    H3Config,
    LMConfig,
    MambaConfig,
    TransformerConfig,
    VWaveConfig,
    VWaveMambaConfig,
    check_config,
    parse_settings,
    unknown_field_error,
)

MODEL_NAMES = (
    "mamba",
    "vwave-mamba",
    "shift-ssm",
    "vwave",
    "transformer-rope",
    "transformer-alibi",
)
SCALES = ("cpu", "gpu")

CONFIG_CLASSES = {
    "mamba": MambaConfig,
    "vwave-mamba": VWaveMambaConfig,
    "shift-ssm": H3Config,
    "vwave": VWaveConfig,
    "transformer-rope": TransformerConfig,
    "transformer-alibi": TransformerConfig,
}

# Per-scale defaults; mlp ratios are chosen so that blocks have similar parameter counts
# (Mamba ~ 6.4 D^2 without MLP; H3 4 D^2 + MLP 1.5 -> 7 D^2; attention 4 D^2 + MLP 2 -> 8 D^2
# minus Mamba's per-state extras).
_DEFAULTS = {
    "cpu": {
        "mamba": dict(d_model=64, n_layers=2, d_state=16, expand=2, d_conv=4),
        "vwave-mamba": dict(
            d_model=64,
            n_layers=2,
            d_state=16,
            expand=2,
            n_sites=32,
            velocity="channel",
            v_init=1.0,
            decay=0.05,
        ),
        "shift-ssm": dict(d_model=64, n_layers=2, n_sites=32, d_state=16, mlp_ratio=1.5),
        "vwave": dict(
            d_model=64,
            n_layers=2,
            n_sites=32,
            d_state=16,
            mlp_ratio=1.5,
            velocity="channel",
            v_init=1.0,
            decay=0.05,
        ),
        "transformer-rope": dict(
            d_model=64, n_layers=2, n_heads=4, position="rope", mlp_ratio=2.0, max_len=4096
        ),
        "transformer-alibi": dict(
            d_model=64, n_layers=2, n_heads=4, position="alibi", mlp_ratio=2.0, max_len=4096
        ),
    },
    "gpu": {
        "mamba": dict(d_model=512, n_layers=6, d_state=32, expand=2, d_conv=4),
        "vwave-mamba": dict(
            d_model=512,
            n_layers=6,
            d_state=32,
            expand=2,
            n_sites=256,
            velocity="channel",
            v_init=1.0,
            decay=0.005,
        ),
        "shift-ssm": dict(d_model=512, n_layers=6, n_sites=256, d_state=32, mlp_ratio=1.5),
        "vwave": dict(
            d_model=512,
            n_layers=6,
            n_sites=256,
            d_state=32,
            mlp_ratio=1.5,
            velocity="channel",
            v_init=1.0,
            decay=0.005,
        ),
        "transformer-rope": dict(
            d_model=512, n_layers=6, n_heads=8, position="rope", mlp_ratio=2.0, max_len=8192
        ),
        "transformer-alibi": dict(
            d_model=512, n_layers=6, n_heads=8, position="alibi", mlp_ratio=2.0, max_len=8192
        ),
    },
}


def check_model_name(name: str) -> str:
    """Raise a WaveInputError listing the valid names if ``name`` is unknown."""
    if name not in MODEL_NAMES:
        raise WaveInputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    return name


def config_class(name: str) -> type:
    """The config dataclass of model ``name``."""
    return CONFIG_CLASSES[check_model_name(name)]


def config_from_dict(name: str, d: dict) -> LMConfig:
    """Build ``name``'s config from a dict (e.g. ``dataclasses.asdict`` of one).

    Unknown keys raise a WaveInputError naming the closest known field; every value is
    checked (:func:`wavescope.models.config.check_config`).
    """
    cls = config_class(name)
    if not isinstance(d, dict):
        raise WaveInputError(f"config for {name} must be a dict, got {type(d).__name__}.")
    for key in d:
        if key not in cls.__dataclass_fields__:
            raise unknown_field_error(cls, str(key))
    return check_config(cls(**d))


def default_config(name: str, scale: str = "cpu", **overrides) -> LMConfig:
    """Default config of model ``name`` at ``scale`` ("cpu" or "gpu"), with overrides."""
    check_model_name(name)
    check_option("scale", scale, SCALES)
    d = dict(_DEFAULTS[scale][name])
    d.update(overrides)
    return config_from_dict(name, d)


def parse_config_settings(name: str, settings) -> dict:
    """Config overrides of model ``name`` from ``FIELD=VALUE`` strings (``--set``).

    Values are parsed to the field's type; an unknown field is an error naming the known
    fields and the closest one (see :func:`wavescope.models.config.parse_settings`).
    """
    return parse_settings(config_class(name), settings)


#: Largest share of the machine's memory that a model's weights may take (float32); a
#: config asking for more is refused before anything is allocated.
MAX_MEMORY_FRACTION = 0.5


def _machine_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def count_parameters(name: str, vocab_size: int, config: LMConfig) -> int:
    """Parameters of model ``name`` with ``config``, counted without allocating them.

    The model is built on torch's ``meta`` device (shapes only, no memory, no random
    numbers drawn), so the count is exact for any config.
    """
    import torch

    from wavescope.models.lm import LanguageModel

    with torch.device("meta"):
        model = LanguageModel(name, vocab_size, config, _make_mixer(name))
    return model.num_parameters()


def check_model_size(name: str, vocab_size: int, config: LMConfig) -> int:
    """Refuse a config whose float32 weights exceed half of this machine's memory.

    Returns the parameter count. The error names the sizes of the config, so that a
    damaged checkpoint (``d_model=200000``: 250 G parameters, 931 GiB) is recognised as such.
    """
    n = count_parameters(name, vocab_size, config)
    mem = _machine_memory_bytes()
    if mem is not None and 4 * n > MAX_MEMORY_FRACTION * mem:
        sizes = ", ".join(
            f"{k}={getattr(config, k)}"
            for k in ("d_model", "n_layers", "d_state", "n_sites", "expand", "n_heads")
            if hasattr(config, k)
        )
        raise WaveInputError(
            f"{name} with {sizes} (vocab_size={vocab_size}) has {n:,} parameters "
            f"({4 * n / 2**30:,.1f} GiB in float32), more than {MAX_MEMORY_FRACTION:.0%} of "
            f"this machine's {mem / 2**30:,.1f} GiB memory; lower the sizes (a checkpoint "
            "with such a config is damaged or was written elsewhere)."
        )
    return n


def _make_mixer(name: str):
    from wavescope.models.mamba import MambaMixer
    from wavescope.models.shift_ssm import H3Mixer
    from wavescope.models.transformer import Attention
    from wavescope.models.vwave import WaveSSM

    def wave(cfg, channels, bias):
        return WaveSSM(channels, cfg.n_sites, cfg.velocity, cfg.v_init, cfg.decay, bias=bias)

    makers = {
        "mamba": lambda cfg, i: MambaMixer(cfg),
        "vwave-mamba": lambda cfg, i: MambaMixer(cfg, context=wave(cfg, cfg.d_inner, True)),
        "shift-ssm": lambda cfg, i: H3Mixer(cfg),
        "vwave": lambda cfg, i: H3Mixer(cfg, shift=wave(cfg, cfg.d_model, False)),
        "transformer-rope": lambda cfg, i: Attention(cfg),
        "transformer-alibi": lambda cfg, i: Attention(cfg),
    }
    return makers[name]


def build_model(name: str, vocab_size: int, config: LMConfig | dict | None = None):
    """Build model ``name`` for ``vocab_size`` tokens.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    vocab_size : int
        V.
    config : dataclass config, dict or None
        None gives ``default_config(name, "cpu")``; a dict goes through
        :func:`config_from_dict`.

    Returns
    -------
    model : wavescope.models.lm.LanguageModel
    """
    from wavescope.models.lm import LanguageModel

    check_model_name(name)
    if config is None:
        config = default_config(name)
    elif isinstance(config, dict):
        config = config_from_dict(name, config)
    elif type(config) is not CONFIG_CLASSES[name]:
        raise WaveInputError(
            f"{name} needs a {CONFIG_CLASSES[name].__name__}, got {type(config).__name__}."
        )
    else:
        check_config(config)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
        raise WaveInputError(f"vocab_size must be an integer, got {vocab_size!r}.")
    if name.startswith("transformer-"):
        want = name.split("-", 1)[1]
        if config.position != want:
            raise WaveInputError(f"{name} needs position={want!r}, got {config.position!r}.")
    check_model_size(name, int(vocab_size), config)
    return LanguageModel(name, int(vocab_size), config, _make_mixer(name))


def parameter_counts(vocab_size: int, scale: str = "cpu") -> dict:
    """Parameter count of every model at its default config, ``{name: int}``."""
    return {
        n: build_model(n, vocab_size, default_config(n, scale)).num_parameters()
        for n in MODEL_NAMES
    }


def parameter_table(vocab_size: int, scales=SCALES) -> str:
    """Markdown table of parameter counts, models side by side with scales as columns."""
    counts = {s: parameter_counts(vocab_size, s) for s in scales}
    lines = ["| model | " + " | ".join(scales) + " |", "|---|" + "---:|" * len(scales)]
    for n in MODEL_NAMES:
        lines.append(f"| {n} | " + " | ".join(f"{counts[s][n]:,}" for s in scales) + " |")
    return "\n".join(lines)
