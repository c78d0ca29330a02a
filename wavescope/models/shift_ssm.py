"""H3-style block with the shift-SSM (Fu, Dao et al. 2023), compact.

Structure of one mixer (D = d_model)::

    q, k, v = q_proj(x), k_proj(x), v_proj(x)           # (B, L, D) each
    k = shift_ssm(k)          # h <- shift(h) + e0 k_t ; k_t' = sum_i C[i] h[i]  (FIR, N taps)
    y = diag_ssm(k * v)       # S4D-real diagonal SSM, per channel (through selective_scan)
    out = out_proj(q * y)

The shift-SSM is implemented exactly in real space: the recurrence
``h_t = S h_{t-1} + e0 u_t`` (S the down-shift of N sites, the input entering site 0) has
the closed form ``h_t[i] = u_{t-i}`` (zero before the start), so its output
``sum_i C[i] u_{t-i}`` is a causal depthwise convolution and its hidden state along the N
sites is a window of past inputs. Nothing wraps around (a shift register, not a ring), and
the probes read exactly that real-space state, where an input moves 1 site per step.
In the ``vwave`` model the shift-SSM is replaced by :class:`wavescope.models.vwave.WaveSSM`
(velocity v instead of 1).
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
class H3Config(LMConfig):
    """H3-style block with the shift-SSM (Fu, Dao et al. 2023).

    Attributes
    ----------
    n_sites : int
        N, the length of the shift register (the FIR length of the shift-SSM: an input
        moves v = 1 site per step through its N sites).
    d_state : int
        N_d, the number of states per channel of the diagonal SSM applied to k * v.
    dt_min, dt_max : float
        Range of the diagonal SSM's fixed steps Delta (log-uniform over channels).
    mlp_ratio : float
        As in :class:`LMConfig`; 1 by default here (the block is followed by an MLP).
    """

    n_sites: int = 32  # N
    d_state: int = 16  # N_d
    dt_min: float = 1e-3  # Delta_min
    dt_max: float = 1e-1  # Delta_max
    mlp_ratio: float = 1.0

    RULES: ClassVar[dict[str, tuple]] = {
        "n_sites": ("size", 2),
        "d_state": ("size", 1),
        "dt_min": ("number", 0.0, ">"),
        "dt_max": ("number", 0.0, ">"),
    }


class ShiftSSM(nn.Module):
    """Shift-SSM: N-site shift register with input at site 0 and a learned readout C.

    Shapes: u (B, L, channels) -> y (B, L, channels); states (B, L, channels, N) with
    site i holding u_{t-i}.
    """

    def __init__(self, channels: int, n_sites: int):
        super().__init__()
        self.channels, self.n_sites = channels, int(n_sites)
        bound = 1.0 / math.sqrt(n_sites)
        self.C = nn.Parameter(torch.empty(channels, n_sites).uniform_(-bound, bound))

    def forward(self, u):
        # u : (B, L, channels)
        L = u.shape[1]
        w = self.C.flip(-1)[:, None, :]  # (channels, 1, N): conv1d correlates, so flip
        y = F.conv1d(u.transpose(1, 2), w, padding=self.n_sites - 1, groups=self.channels)
        return y[..., :L].transpose(1, 2)

    def hidden_states(self, u):
        """Real-space shift register, (B, L, channels, N): site i holds u_{t-i}."""
        up = F.pad(u, (0, 0, self.n_sites - 1, 0))  # (B, L + N - 1, channels)
        return up.unfold(1, self.n_sites, 1).flip(-1)

    @property
    def width(self) -> int:
        return self.n_sites

    def step(self, u_t, h):
        """One step of ``h <- shift(h) + e0 u_t``: u_t (B, channels), h (B, channels, N)."""
        h = torch.cat([u_t[..., None], h[..., :-1]], dim=-1)
        return (h * self.C).sum(-1), h


class DiagSSM(nn.Module):
    """Time-invariant diagonal SSM (S4D-real) per channel, on the selective scan.

    h_t = exp(dt A) h_{t-1} + dt B u_t, y_t = C . h_t + D u_t with A_n = -(n + 1), B = 1,
    learned C and D, and a learned step dt per channel (log-uniform init).
    """

    def __init__(self, channels: int, d_state: int, dt_min: float, dt_max: float):
        super().__init__()
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(channels, 1)
        self.A_log = nn.Parameter(torch.log(A))  # (channels, N)
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.C = nn.Parameter(torch.randn(channels, d_state) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.ones(channels))

    def _args(self, u):
        Bt, L, Dm = u.shape
        N = self.C.shape[1]
        delta = torch.exp(self.log_dt).expand(Bt, L, Dm).contiguous()
        Bm = torch.ones(Bt, L, N, dtype=u.dtype, device=u.device)
        Cm = self.C.expand(Bt, L, Dm, N)
        return u, delta, -torch.exp(self.A_log), Bm, Cm, self.D

    def kernel(self, length: int) -> torch.Tensor:
        """Impulse response K[m] = sum_n C_n exp(m dt A_n) dt B_n, shape (length, channels)."""
        dt = torch.exp(self.log_dt)  # (channels,)
        A = -torch.exp(self.A_log)  # (channels, N)
        m = torch.arange(length, device=dt.device, dtype=dt.dtype)
        E = torch.exp(m[:, None, None] * (dt[:, None] * A))  # (length, channels, N)
        return (E * (self.C * dt[:, None])).sum(-1)

    def forward(self, u):
        # u : (B, L, channels); time-invariant, so run as a causal convolution with the
        # impulse response (the same recurrence as the scan; hidden_states uses the scan)
        from wavescope.models.vwave import causal_conv_fft

        return causal_conv_fft(u, self.kernel(u.shape[1]).to(u.dtype)) + self.D * u

    def hidden_states(self, u):
        from wavescope.models.mamba import _states_of
        from wavescope.models.scan import selective_scan

        return _states_of(selective_scan(*self._args(u), return_states=True))


class H3Mixer(nn.Module):
    """H3 mixer: shift(-like) SSM on k, times v, diagonal SSM, times q.

    Parameters
    ----------
    config : H3Config
    shift : nn.Module, optional
        The SSM applied to k (B, L, D) -> (B, L, D); :class:`ShiftSSM` by default, the
        v-Wave SSM in the ``vwave`` model.
    """

    def __init__(self, config: H3Config, shift: nn.Module | None = None):
        super().__init__()
        D = config.d_model
        self.q_proj = nn.Linear(D, D)
        self.k_proj = nn.Linear(D, D)
        self.v_proj = nn.Linear(D, D)
        self.shift = shift if shift is not None else ShiftSSM(D, config.n_sites)
        self.diag = DiagSSM(D, config.d_state, config.dt_min, config.dt_max)
        self.out_proj = nn.Linear(D, D)

    def forward(self, x):
        # x : (B, L, D)
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # (B, L, D) each
        k = self.shift(k)  # (B, L, D)
        y = self.diag(k * v)  # (B, L, D)
        return self.out_proj(q * y)

    def hidden_states(self, x, part: str = "shift"):
        """States for the probes, (B, L, D, sites).

        ``part="shift"`` (default): the shift/v-Wave SSM's real-space sites on k.
        ``part="diag"``: the diagonal SSM's N states on k * v.
        """
        k = self.k_proj(x)
        if part == "shift":
            return self.shift.hidden_states(k)
        v = self.v_proj(x)
        return self.diag.hidden_states(self.shift(k) * v)

    # ------------------------------------------------------------------ probes
    #: The parts :meth:`hidden_states` reads, the wave-carrying one first.
    probe_parts = ("shift", "diag")

    def probe_velocities(self, part: str):
        """Per-channel velocity (sites/step) of the wave in ``part``, (D,), or None (the
        exact shift register moves at 1 site/step but reports none, as before)."""
        if part == "shift" and hasattr(self.shift, "probe_velocities"):
            return self.shift.probe_velocities()
        return None
