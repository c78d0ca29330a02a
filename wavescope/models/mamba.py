"""Mamba mixer (Gu & Dao 2024), on the shared selective scan.

Structure of one mixer (D = d_model, E = expand, N = d_state)::

    x (B, L, D) -> in_proj -> [x, z] (B, L, ED) each
    x -> causal depthwise conv (width d_conv) -> SiLU
    x -> x_proj -> (dt (rank R), B (N), C (N));  Delta = softplus(dt_proj(dt))
    y = selective_scan(x, Delta, A = -exp(A_log), B, C, D_skip, z)   # gating y * SiLU(z)
    out_proj(y) -> (B, L, D)

The SSM goes through :func:`wavescope.models.scan.selective_scan`; ``hidden_states``
returns its N states per inner channel for the probes. :class:`MambaMixer` takes the
context module (the causal conv) as a replaceable part: v-Wave Mamba swaps in a v-Wave
shift register (:mod:`wavescope.models.vwave`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from wavescope.models.config import LMConfig


@dataclass
class MambaConfig(LMConfig):
    """Mamba (Gu & Dao 2024): the fields of :class:`LMConfig` plus the selective SSM's.

    Attributes
    ----------
    d_state : int
        N, the number of states per inner channel of the selective SSM.
    expand : int
        E, the inner width is E * D.
    d_conv : int
        d_conv, the width (taps) of the causal depthwise convolution.
    dt_rank : int or None
        R, the rank of the projection to the step Delta; None gives ceil(D / 16).
    dt_min, dt_max : float
        Range of the initial step Delta (log-uniform over channels).
    dt_init_floor : float
        Smallest initial Delta.
    """

    d_state: int = 16  # N
    expand: int = 2  # E
    d_conv: int = 4  # d_conv
    dt_rank: int | None = None  # R
    dt_min: float = 1e-3  # Delta_min
    dt_max: float = 1e-1  # Delta_max
    dt_init_floor: float = 1e-4

    RULES: ClassVar[dict[str, tuple]] = {
        "d_state": ("size", 1),
        "expand": ("size", 1),
        "d_conv": ("size", 1),
        "dt_rank": ("size", 1),
        "dt_min": ("number", 0.0, ">"),
        "dt_max": ("number", 0.0, ">"),
        "dt_init_floor": ("number", 0.0, ">"),
    }

    @property
    def d_inner(self) -> int:
        """E * D, the inner width."""
        return self.expand * self.d_model

    @property
    def dt_rank_(self) -> int:
        """R, the rank of the Delta projection (ceil(D / 16) when ``dt_rank`` is None)."""
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)


class CausalConv(nn.Module):
    """Causal depthwise convolution of width K over time (Mamba's local context).

    In step mode it is a shift register of the last K inputs read out by per-channel
    weights: a shift-SSM with K sites at 1 site per step.
    """

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.width = width
        self.conv = nn.Conv1d(channels, channels, width, groups=channels, padding=width - 1)

    #: forward(x, silu=True) applies SiLU to the output, fused
    fuses_silu = True

    def forward(self, x, silu: bool = False):
        """The convolution of x (B, L, ED), followed by SiLU if ``silu``."""
        # K shifted multiply-adds instead of nn.Conv1d: the same numbers (to float
        # round-off), but the depthwise Conv1d backward took ~1 s per call at 2 threads on
        # CPU against ~0.3 s for this (measured in the scan benchmark). Float32 CPU tensors
        # take one compiled pass each way, SiLU included.
        from wavescope.models.scan.cpu_kernel import applies, causal_conv_kernel

        w = self.conv.weight[:, 0, :]  # (ED, K), cross-correlation order
        if applies(x, w):
            return causal_conv_kernel(x, w.flip(-1).t(), self.conv.bias, silu=silu)
        y = self._shifted_sum(x, w)
        return F.silu(y) if silu else y

    def _shifted_sum(self, x, w):
        L = x.shape[1]
        xp = F.pad(x, (0, 0, self.width - 1, 0))  # (B, L + K - 1, ED)
        y = self.conv.bias + xp[:, 0:L] * w[:, 0]
        for k in range(1, self.width):
            y = y + xp[:, k : k + L] * w[:, k]
        return y

    def hidden_states(self, x):
        """The shift register: site i holds x_{t-i}. Returns (B, L, ED, K)."""
        # x : (B, L, ED)
        xp = F.pad(x, (0, 0, self.width - 1, 0))  # (B, L + K - 1, ED)
        win = xp.unfold(1, self.width, 1)  # (B, L, ED, K), oldest first
        return win.flip(-1)

    def step(self, x_t, state):
        """One step: x_t (B, ED), state (B, ED, K) with site 0 the newest input."""
        state = torch.cat([x_t[..., None], state[..., :-1]], dim=-1)
        w = self.conv.weight[:, 0, :].flip(-1)  # (ED, K), w[:, i] multiplies x_{t-i}
        return (state * w).sum(-1) + self.conv.bias, state


def init_dt_proj(dt_proj: nn.Linear, rank: int, dt_min: float, dt_max: float, floor: float):
    """Mamba's Delta initialisation: softplus(bias) log-uniform in [dt_min, dt_max]."""
    std = rank**-0.5
    nn.init.uniform_(dt_proj.weight, -std, std)
    n = dt_proj.bias.shape[0]
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    inv_softplus = dt + torch.log(-torch.expm1(-dt))  # softplus(inv_softplus) = dt
    with torch.no_grad():
        dt_proj.bias.copy_(inv_softplus)


class MambaMixer(nn.Module):
    """Selective SSM mixer of Mamba.

    Parameters
    ----------
    config : MambaConfig
    context : nn.Module, optional
        Causal context module on the inner width (B, L, ED) -> (B, L, ED); Mamba's causal
        depthwise conv by default.
    """

    def __init__(self, config: MambaConfig, context: nn.Module | None = None):
        super().__init__()
        self.config = config
        D, ED, N, R = config.d_model, config.d_inner, config.d_state, config.dt_rank_
        self.in_proj = nn.Linear(D, 2 * ED, bias=False)
        self.context = context if context is not None else CausalConv(ED, config.d_conv)
        self.x_proj = nn.Linear(ED, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, ED, bias=True)
        init_dt_proj(self.dt_proj, R, config.dt_min, config.dt_max, config.dt_init_floor)
        # S4D-real: A_n = -(n + 1), stored as A_log so that A stays negative
        A = torch.arange(1, N + 1, dtype=torch.float32).repeat(ED, 1)  # (ED, N)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(ED))
        self.out_proj = nn.Linear(ED, D, bias=False)

    def _ssm_inputs(self, x, fused_delta: bool = False):
        # x : (B, L, D); fused_delta: Delta before dt_proj's bias and softplus (which the
        # compiled scan applies)
        ED, N, R = self.config.d_inner, self.config.d_state, self.config.dt_rank_
        xz = self.in_proj(x)  # (B, L, 2ED)
        xi, z = xz.split(ED, dim=-1)  # (B, L, ED) each
        if getattr(self.context, "fuses_silu", False):
            xc = self.context(xi, silu=True)  # (B, L, ED), SiLU fused
        else:
            xc = F.silu(self.context(xi))  # (B, L, ED)
        dt, Bm, Cm = self.x_proj(xc).split([R, N, N], dim=-1)  # (B, L, R), (B, L, N) x2
        if fused_delta:
            delta = F.linear(dt, self.dt_proj.weight)  # (B, L, ED)
        else:
            delta = F.softplus(self.dt_proj(dt))  # (B, L, ED)
        A = -torch.exp(self.A_log.float())  # (ED, N)
        return xi, xc, z, delta, A, Bm, Cm

    def forward(self, x):
        # x : (B, L, D)
        from wavescope.models.scan import selective_scan
        from wavescope.models.scan.cpu_kernel import applies, scan_applies, selective_scan_kernel

        if isinstance(self.context, CausalConv):
            y = self._inner_kernel(x)
            if y is not None:
                return self.out_proj(y)
        if applies(x):
            # float32 CPU: the compiled scan also applies dt_proj's bias and the softplus
            _, xc, z, dt, A, Bm, Cm = self._ssm_inputs(x, fused_delta=True)
            bias = self.dt_proj.bias
            if scan_applies(xc, A, Bm, Cm, None):
                y, _ = selective_scan_kernel(
                    xc, dt, A, Bm, Cm, self.D, z, delta_bias=bias, delta_softplus=True
                )
                return self.out_proj(y)
            delta = F.softplus(dt + bias)  # e.g. under autocast: the generic scan below
        else:
            _, xc, z, delta, A, Bm, Cm = self._ssm_inputs(x)
        y = selective_scan(xc, delta, A, Bm, Cm, self.D.float(), z=z)  # (B, L, ED)
        return self.out_proj(y)

    def _inner_kernel(self, x):
        """The mixer from x (B, L, D) to out_proj's input as one compiled autograd node
        (float32 CPU, the conv context, no autocast), or None where it does not apply."""
        from wavescope.models.scan.cpu_kernel import mamba_inner_applies, mamba_inner_kernel

        if torch.is_autocast_enabled("cpu") or self.in_proj.bias is not None:
            return None
        conv, dtp = self.context.conv, self.dt_proj
        w = conv.weight[:, 0, :].flip(-1).t()  # (K, ED): w[m] multiplies x_{t-m}
        A = -torch.exp(self.A_log.float())  # (ED, N)
        args = (x, self.in_proj.weight, w, conv.bias, self.x_proj.weight, dtp.weight, dtp.bias)
        args += (A, self.D)
        if not mamba_inner_applies(*(a for a in args if a is not None)):
            return None
        return mamba_inner_kernel(*args)

    def hidden_states(self, x, part: str = "ssm"):
        """States for the probes, shape (B, L, channels, sites).

        ``part="ssm"``: the N selective-SSM states per inner channel, (B, L, ED, N).
        ``part="context"``: the state of the context module (the conv's shift register,
        or the v-Wave sites in real space).
        """
        from wavescope.models.scan import selective_scan

        xi, xc, z, delta, A, Bm, Cm = self._ssm_inputs(x)
        if part == "context":
            return self.context.hidden_states(xi)
        out = selective_scan(xc, delta, A, Bm, Cm, self.D.float(), z=z, return_states=True)
        return _states_of(out)

    # ------------------------------------------------------------------ recurrent mode
    def init_cache(self, batch: int, device=None):
        """Empty recurrent cache for :meth:`step`."""
        ED, N = self.config.d_inner, self.config.d_state
        ctx = (
            self.context.init_state(batch, device)
            if hasattr(self.context, "init_state")
            else (torch.zeros(batch, ED, self.context.width, device=device))
        )
        return {"context": ctx, "h": torch.zeros(batch, ED, N, device=device)}

    def step(self, x_t, cache):
        """One token: x_t (B, D) -> (y_t (B, D), cache). Same maths as ``forward``."""
        ED, N, R = self.config.d_inner, self.config.d_state, self.config.dt_rank_
        xi, z = self.in_proj(x_t).split(ED, dim=-1)  # (B, ED) each
        c, ctx = self.context.step(xi, cache["context"])
        xc = F.silu(c)
        dt, Bm, Cm = self.x_proj(xc).split([R, N, N], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # (B, ED)
        A = -torch.exp(self.A_log)  # (ED, N)
        h = torch.exp(delta[..., None] * A) * cache["h"] + (delta * xc)[..., None] * Bm[:, None]
        y = (h * Cm[:, None]).sum(-1) + self.D * xc  # (B, ED)
        y = y * F.silu(z)
        return self.out_proj(y), {"context": ctx, "h": h}

    # ------------------------------------------------------------------ probes
    @property
    def probe_parts(self) -> tuple[str, ...]:
        """The parts :meth:`hidden_states` reads, the wave-carrying one first (the probes'
        default): the context module when it is a v-Wave ring (it has a velocity), else
        the selective SSM."""
        if hasattr(self.context, "probe_velocities"):
            return ("context", "ssm")
        return ("ssm", "context")

    def probe_velocities(self, part: str):
        """Per-channel velocity (sites/step) of the wave in ``part``, (ED,), or None."""
        if part == "context" and hasattr(self.context, "probe_velocities"):
            return self.context.probe_velocities()
        return None


def _states_of(out):
    """The all-states tensor from selective_scan(..., return_states=True)."""
    if isinstance(out, tuple):
        for t in out:
            if t.dim() == 4:
                return t
    return out
