r"""v-Wave SSM (Keller 2024): a one-way wave at velocity v on a ring of N sites.

The H3 shift-SSM, ``h <- shift(h) + e0 u``, is the one-way wave equation
dh/dt + v dh/dx = 0 discretised at v = 1 site per step: the input enters site 0 and moves
one site per step. v-Wave lets v differ from 1.

Discretisation (exact fractional shift in the Fourier basis)
------------------------------------------------------------
Put the N sites on a ring and write the state in its discrete Fourier basis,
``hhat[k] = sum_j h[j] exp(-2 pi i k j / N)`` with signed wavenumbers
k in [-N/2, N/2). Every shift, whole or fractional, is diagonal in that basis: shifting
by v sites multiplies mode k by ``exp(-2 pi i k v / N)``. With an amplitude decay per site
travelled, the continuous-time diagonal state matrix is::

    A[k] = -decay + i * (-2 pi k / N)          (same for every channel)
    hhat_t = exp(v_t * A) * hhat_{t-1} + B[k] * u_t
    B[k] = 1 if |k| v_t <= N / 2 else 0       (DFT(e0) = 1, anti-aliased for v > 1)
    y_t = sum_j C[j] h_t[j] = Re(sum_k ifft(C)[k] * hhat_t[k])

i.e. :func:`wavescope.models.scan.selective_scan` with complex A, the step Delta read as
the velocity v (sites per step) and ``delta_scales_input=False``. The real-space state
along the sites, the thing that carries the wave and that the probes return, is
``Re(ifft(hhat))``.

Why this discretisation: the shift is exact (band-limited interpolation between sites),
so there is no numerical diffusion at any v and the wave keeps its shape; it is stable for
every v >= 0 because ``|exp(v A)| = exp(-v decay) <= 1``; and it runs on the same diagonal
selective scan as Mamba. On the ring, content that has travelled N sites wraps to site 0;
the decay (``exp(-decay * s)`` after s sites) forgets it. Sub-site velocities move a
band-limited pulse between sites, so a broadband (one-step) impulse at v < 1 rings
(Dirichlet kernel) between its site crossings; for v > 1 a one-step impulse would skip
sites (at v = 2 it would land on every second site only). For v > 1 the input is
therefore low-passed in space (``B[k] = 0`` for ``|k| v > N / 2``, :func:`input_filter`):
each step's input is spread, band-limited, over the v sites it travels, and the state
stays a smooth wave; for v <= 1 ``B = DFT(e0)`` exactly, the shift-SSM's input.

Where it is used
----------------
- ``vwave``: the H3 block (:mod:`wavescope.models.shift_ssm`) with :class:`WaveSSM` in
  place of the shift-SSM on k.
- ``vwave-mamba``: Mamba whose causal depthwise conv (a 4-site shift register at v = 1 in
  step mode) is replaced by a :class:`WaveSSM` ring of ``n_sites`` sites per inner channel
  with a learned readout and bias; the selective SSM, gating and projections are Mamba's.
  Replacing the conv (rather than adding a branch) keeps Mamba's structure and parameter
  count and makes the v-Wave ring the model's only explicit shift/context mechanism.

Compute: with a fixed or per-channel velocity the layer is time invariant, so
:meth:`WaveSSM.forward` runs it as a causal FFT convolution with its impulse response
(the same recurrence, exact; tested against the scan); input-dependent velocities and
:meth:`WaveSSM.hidden_states` (probes) use the selective scan.

Alternative (not used): first-order upwind, ``h[i] <- (1 - v) h[i] + v h[i-1]`` with the
input at site 0, stable for 0 <= v <= 1 (sub-stepping beyond), real-valued and without
wrap-around, but it smears the pulse (numerical diffusion ~ v (1 - v) / 2 sites^2 per
step) for fractional v.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from wavescope.core.validate import WaveInputError, check_option
from wavescope.models.mamba import MambaConfig
from wavescope.models.shift_ssm import H3Config

#: How the velocity v is set (``velocity`` of the configs, :class:`WaveSSM`).
VELOCITY_MODES = ("fixed", "channel", "input")


@dataclass
class WaveFields:
    """Fields of the v-Wave dynamics, mixed into both v-Wave configs.

    Attributes
    ----------
    n_sites : int
        N, the number of sites of the ring that carries the wave.
    velocity : {"fixed", "channel", "input"}
        How the velocity v (sites per step) is set: a fixed buffer, one learned value per
        channel, or input dependent (v_t = softplus(w . x_t + b), like Mamba's Delta).
    v_init : float
        v_0, the initial (or fixed) velocity in sites per step.
    decay : float
        alpha, the amplitude decay per site travelled (A_k = -alpha + i omega_k, omega_k
        = 2 pi k / N): content that has travelled s sites is scaled by exp(-alpha s),
        which forgets what wraps around the ring. 0 gives a lossless ring.
    """

    n_sites: int = 32  # N
    velocity: str = "channel"
    v_init: float = 1.0  # v_0
    decay: float = 0.1  # alpha

    RULES: ClassVar[dict[str, tuple]] = {
        "n_sites": ("size", 2),
        "velocity": ("choice", VELOCITY_MODES),
        "v_init": ("number", 0.0, ">"),
        "decay": ("number", 0.0, ">="),
    }


@dataclass
class VWaveMambaConfig(WaveFields, MambaConfig):
    """v-Wave Mamba: Mamba whose causal convolution is a v-Wave shift register.

    Mamba's width-``d_conv`` causal conv is, in step mode, a shift register of the last
    ``d_conv`` inputs read out by learned weights (a shift-SSM at v = 1). Here it is
    replaced by the v-Wave ring of N = ``n_sites`` sites at velocity v per inner channel
    (E * D rings), read out by learned weights over the sites (:class:`WaveSSM`);
    ``d_conv`` is unused. Fields: :class:`~wavescope.models.mamba.MambaConfig`'s (D, N
    states, E, R, Delta range) and :class:`WaveFields`' (N sites, v, v_0, alpha).
    """


@dataclass
class VWaveConfig(WaveFields, H3Config):
    """H3-style block whose shift-SSM is the v-Wave SSM (Keller 2024).

    Fields: :class:`~wavescope.models.shift_ssm.H3Config`'s (D, N_d, Delta range) and
    :class:`WaveFields`' (N sites, v, v_0, alpha); the ring of N sites replaces the
    shift register of the same length.
    """


def ring_wavenumbers(n_sites: int) -> torch.Tensor:
    """Signed integer wavenumbers k of a ring of N sites, in FFT order, shape (N,)."""
    return torch.fft.fftfreq(n_sites, d=1.0 / n_sites).round()


def wave_A(n_sites: int, decay: float, channels: int, dtype=torch.complex64) -> torch.Tensor:
    """The v-Wave state matrix A[k] = -decay + i (-2 pi k / N), shape (channels, N)."""
    k = ring_wavenumbers(n_sites).double()
    A = torch.complex(torch.full_like(k, -float(decay)), -2 * math.pi * k / n_sites)
    return A.to(dtype).expand(channels, n_sites)


def _inv_softplus(v: float) -> float:
    return v + math.log(-math.expm1(-v))


class WaveSSM(nn.Module):
    """v-Wave SSM: per channel a ring of N sites carrying the input at velocity v.

    Parameters
    ----------
    channels : int
        Number of independent channels (each has its own ring).
    n_sites : int
        N, sites per ring.
    velocity : {"fixed", "channel", "input"}
        Fixed v, one learned v per channel (v = softplus(v_raw)), or input dependent
        (v_t = softplus(W2 W1 u_t + b), a low-rank projection like Mamba's Delta).
    v_init : float
        Initial (or fixed) velocity in sites per step, > 0.
    decay : float
        Amplitude decay per site travelled, >= 0.
    bias : bool
        Add a learned bias per channel to the readout.

    Notes
    -----
    Shapes: input u (B, L, channels) -> output y (B, L, channels); hidden states in real
    space (B, L, channels, N), site j at position j (sites).
    """

    def __init__(
        self,
        channels: int,
        n_sites: int,
        velocity: str = "channel",
        v_init: float = 1.0,
        decay: float = 0.0,
        bias: bool = False,
    ):
        super().__init__()
        check_option("velocity", velocity, VELOCITY_MODES)
        if not v_init > 0:
            raise WaveInputError(f"v_init must be > 0 sites per step, got {v_init!r}.")
        if decay < 0:
            raise WaveInputError(f"decay must be >= 0 (per site travelled), got {decay!r}.")
        if int(n_sites) < 2:
            raise WaveInputError(f"n_sites must be at least 2, got {n_sites!r}.")
        self.channels, self.n_sites, self.velocity = channels, int(n_sites), velocity
        self.decay = float(decay)
        bound = 1.0 / math.sqrt(n_sites)
        self.C = nn.Parameter(torch.empty(channels, n_sites).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        raw = torch.full((channels,), _inv_softplus(float(v_init)))
        if velocity == "fixed":
            self.register_buffer("v_raw", raw)
        else:
            self.v_raw = nn.Parameter(raw)
        if velocity == "input":
            rank = max(1, math.ceil(channels / 16))
            self.v_down = nn.Linear(channels, rank, bias=False)
            self.v_up = nn.Linear(rank, channels, bias=False)
            nn.init.zeros_(self.v_up.weight)  # starts at v_init everywhere
        self.register_buffer(
            "A", wave_A(self.n_sites, self.decay, channels, torch.complex128), persistent=False
        )

    # ------------------------------------------------------------------ velocity
    def velocities(self, u=None) -> torch.Tensor:
        """Velocity in sites per step: (channels,), or (B, L, channels) if input dependent."""
        if self.velocity == "input" and u is not None:
            return F.softplus(self.v_up(self.v_down(u)) + self.v_raw)
        return F.softplus(self.v_raw)

    def set_velocity(self, v) -> None:
        """Set the (per-channel) velocity to ``v`` sites per step (scalar or (channels,))."""
        v = torch.as_tensor(v, dtype=torch.float64).expand(self.channels)
        if not bool((v > 0).all()):
            raise WaveInputError(f"velocity must be > 0 sites per step, got {v.tolist()[:4]}.")
        with torch.no_grad():
            self.v_raw.copy_((v + torch.log(-torch.expm1(-v))).to(self.v_raw.dtype))

    # ------------------------------------------------------------------ scan
    def _scan(self, u, return_states=False):
        from wavescope.models.scan import selective_scan

        Bt, L, Dm = u.shape
        N = self.n_sites
        v = self.velocities(u)
        delta = v.expand(Bt, L, Dm) if v.dim() == 1 else v  # (B, L, channels)
        A = self.A.to(torch.promote_types(u.dtype, torch.complex64))  # (channels, N)
        Bm = input_filter(v.detach(), N).to(A.dtype)  # (channels, N) or (B, L, channels, N)
        Bm = Bm.expand(Bt, L, Dm, N)
        Chat = torch.fft.ifft(self.C.to(A.dtype), dim=-1)  # (channels, N)
        Cm = Chat.expand(Bt, L, Dm, N)
        return selective_scan(
            u,
            delta.contiguous(),
            A,
            Bm,
            Cm,
            delta_scales_input=False,
            return_states=return_states,
        )

    def kernel(self, length: int, dtype=torch.float32) -> torch.Tensor:
        """Impulse response of each channel's readout, K[m] = y_{t+m} for u = delta_t.

        ``K[m, d] = Re(sum_k ifft(C)[d, k] B[d, k] exp(m v_d A[k]))``, shape (length,
        channels); defined when v does not depend on the input.
        """
        v = self.velocities().to(dtype)  # (channels,)
        Bm = input_filter(v.detach(), self.n_sites).double()  # (channels, N)
        return _kernel_sum(int(length), v, self.C, Bm, self.A, dtype)  # A stays complex128

    #: forward(u, silu=True) applies SiLU to the output (fused where it can be)
    fuses_silu = True

    def forward(self, u, silu: bool = False):
        """Readout y (B, L, channels) of u (B, L, channels); SiLU applied if ``silu``."""
        if self.velocity == "input":
            y = self._scan(u)
            y = y[0] if isinstance(y, tuple) else y
        else:
            # time-invariant per channel: the same recurrence as a causal convolution with
            # its impulse response (exact; batch-free kernel, FFT or direct convolution)
            return causal_conv_fft(u, self.kernel(u.shape[1], u.dtype), self.bias, silu)
        y = y if self.bias is None else y + self.bias
        return F.silu(y) if silu else y

    def hidden_states(self, u):
        """Real-space state along the sites, (B, L, channels, N): Re(ifft(hhat))."""
        from wavescope.models.mamba import _states_of

        hhat = _states_of(self._scan(u, return_states=True))  # (B, L, channels, N) complex
        return torch.fft.ifft(hhat, dim=-1).real

    # ------------------------------------------------------------------ recurrent mode
    @property
    def width(self) -> int:
        return self.n_sites

    def init_state(self, batch: int, device=None):
        """Zero Fourier state (B, channels, N), complex."""
        return torch.zeros(batch, self.channels, self.n_sites, dtype=torch.complex64, device=device)

    def step(self, u_t, hhat):
        """One step: u_t (B, channels), hhat (B, channels, N) -> (y_t, hhat)."""
        v = self.velocities(u_t[:, None])
        v = v[:, 0] if v.dim() == 3 else v  # (B, channels) or (channels,)
        A = self.A.to(torch.promote_types(u_t.dtype, torch.complex64))
        a = torch.exp(v[..., None] * A)  # (.., channels, N)
        hhat = a * hhat + input_filter(v.detach(), self.n_sites) * u_t[..., None]
        y = (torch.fft.ifft(self.C.to(hhat.dtype), dim=-1) * hhat).sum(-1).real
        return (y if self.bias is None else y + self.bias), hhat

    # ------------------------------------------------------------------ probes
    def probe_velocities(self):
        """Per-channel velocity (sites/step), (channels,), or None when it varies with the
        input (no single value per channel)."""
        if self.velocity == "input":
            return None
        return self.velocities().detach()


def _kernel_sum(L: int, v, C, Bm, A, dtype):
    # v : (channels,) ; C, Bm : (channels, N) real ; A (complex128) -> K : (L, channels),
    # K[m] = Re(sum_k W[k] exp(m v A[k])) with W = ifft(C) * Bm (the DFT as two real
    # matmuls inside the function, so that no complex op is left to autograd).
    # With m = q b + r (b ~ sqrt(L)), exp(m v A) = exp(q b v A) exp(r v A), so for each
    # channel the (Q, b) block of K is one small matmul, hi (Q, N) @ (W * lo) (N, b):
    # 2 sqrt(L) exponentials per mode and no (L, channels, N) intermediate (that tensor and
    # its complex exp were most of the layer's time). The factors are computed in float64
    # from the float64 A (they are few): in float32 the phase m v 2 pi k / N, up to ~L pi
    # rad, carried a relative error of ~1e-7 L (9e-5 at L = 1205 on a lossless ring); now
    # the kernel is within ~1e-6 of the float64 sum at any length
    # (tests/models/test_vwave_kernel.py). The backward is written by hand
    # (:class:`_KernelSumFn`): autograd through the factors' polar and exp took 10x the
    # forward's time.
    return _KernelSumFn.apply(v, C, Bm, A, int(L), dtype)


_IDFT: dict = {}


def _idft(N: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts of the inverse DFT matrix, ifft(x) = x @ (F_re + i F_im)."""
    key = (N, str(device))
    if key not in _IDFT:
        jk = torch.outer(torch.arange(N, dtype=torch.float64), torch.arange(N, dtype=torch.float64))
        ang = 2 * math.pi * torch.remainder(jk, N) / N  # reduced: exact phases at any N
        _IDFT[key] = (torch.cos(ang).to(device) / N, torch.sin(ang).to(device) / N)
    return _IDFT[key]


def _kernel_factors(L: int, v, A):
    """Real and imaginary parts of lo = exp(r v A) (channels, N, b) and hi = exp(q b v A)
    (channels, Q, N), float64, as (lo_re, lo_im, hi_re, hi_im, b, Q)."""
    # exp(x) = exp(Re x) (cos(Im x) + i sin(Im x)) on real tensors: torch.polar and complex
    # ops (exp, bmm) on these small complex128 tensors cost several times as much; the real
    # part of v A is <= 0, so nothing overflows.
    b = math.isqrt(L - 1) + 1 if L > 1 else 1
    Q = -(-L // b)
    vA = v.detach().double()[:, None] * A.to(torch.complex128)  # (channels, N)
    re, im = vA.real, vA.imag
    r = torch.arange(b, device=v.device, dtype=torch.float64)
    q = torch.arange(Q, device=v.device, dtype=torch.float64) * b
    mag, ang = torch.exp(re[:, :, None] * r), im[:, :, None] * r  # (channels, N, b)
    lo_re, lo_im = mag * torch.cos(ang), mag * torch.sin(ang)
    mag, ang = torch.exp(re[:, None, :] * q[:, None]), im[:, None, :] * q[:, None]
    hi_re, hi_im = mag * torch.cos(ang), mag * torch.sin(ang)  # (channels, Q, N)
    return lo_re, lo_im, hi_re, hi_im, b, Q


class _KernelSumFn(torch.autograd.Function):
    """K[m, d] = Re(sum_k W[d, k] E[d, k, m]), E = exp(m v_d A[d, k]), by blocks (above),
    W = ifft(C) * Bm.

    Gradients, with S_w[d, k] = sum_m w(m) gK[m, d] E[d, k, m] (again one small matmul per
    channel through the same factors): dL/dRe(W) = Re(S_1), dL/dIm(W) = -Im(S_1), then
    back through the real DFT matrices to C; grad v_d = Re(sum_k W A S_m), from
    dE/dv = m A E. All in float64 real arithmetic (Re(h M) = h_re M_re - h_im M_im as one
    real matmul).
    """

    @staticmethod
    def forward(ctx, v, C, Bm, A, L, dtype):
        F_re, F_im = _idft(C.shape[1], C.device)
        C64 = C.detach().double()
        W_re, W_im = (C64 @ F_re) * Bm, (C64 @ F_im) * Bm  # ifft(C) * Bm, (ch, N)
        ctx.L = L
        if _compiled(v):
            # on the CPU, the compiled recurrence P <- P exp(v A) in float64: one pass, no
            # factors or matmuls (those small ops were most of the context's time)
            from wavescope.models.scan.cpu_kernel import wave_kernel_sum

            ctx.save_for_backward(v, C, Bm, A, W_re, W_im)
            return wave_kernel_sum(v, A, W_re, W_im, L).to(dtype)
        lo_re, lo_im, hi_re, hi_im, b, Q = _kernel_factors(L, v, A)
        Wr, Wi = W_re[:, :, None], W_im[:, :, None]
        M_re, M_im = Wr * lo_re - Wi * lo_im, Wr * lo_im + Wi * lo_re  # W lo, (ch, N, b)
        blocks = torch.bmm(torch.cat([hi_re, -hi_im], 2), torch.cat([M_re, M_im], 1))
        ctx.save_for_backward(v, C, Bm, A, W_re, W_im, lo_re, lo_im, hi_re, hi_im)
        K = blocks.reshape(C.shape[0], Q * b)[:, :L].t()  # (L, ch), m = q b + r
        return K.to(dtype)

    @staticmethod
    def backward(ctx, gK):
        v, C, Bm, A, W_re, W_im = ctx.saved_tensors[:6]
        if len(ctx.saved_tensors) == 6:  # the compiled route
            from wavescope.models.scan.cpu_kernel import wave_kernel_sum_grads

            S, S_m = wave_kernel_sum_grads(v, A, gK)
            return _kernel_sum_grads(ctx, v, C, Bm, A, W_re, W_im, S, S_m)
        lo_re, lo_im, hi_re, hi_im = ctx.saved_tensors[6:]
        L = ctx.L
        ch, Q, N, b = hi_re.shape[0], hi_re.shape[1], hi_re.shape[2], lo_re.shape[2]
        G = torch.zeros(ch, Q * b, dtype=torch.float64, device=gK.device)
        G[:, :L] = gK.t()
        m = torch.arange(Q * b, dtype=torch.float64, device=gK.device)
        # (ch, b, 2Q): the plain and the m-weighted sums share one matmul
        Gw = torch.cat([G.reshape(ch, Q, b), (G * m).reshape(ch, Q, b)], 1).transpose(1, 2)
        loG = torch.bmm(torch.cat([lo_re, lo_im], 1), Gw)  # (ch, 2N, 2Q): re rows, im rows
        hr, hi = hi_re.transpose(1, 2), hi_im.transpose(1, 2)  # (ch, N, Q)

        def s(part):  # sum_q hi[q, k] (lo G^T)[k, q] for the plain (0) or weighted (1) sums
            gr, gi = loG[:, :N, part * Q : (part + 1) * Q], loG[:, N:, part * Q : (part + 1) * Q]
            return torch.complex((hr * gr - hi * gi).sum(-1), (hr * gi + hi * gr).sum(-1))

        return _kernel_sum_grads(ctx, v, C, Bm, A, W_re, W_im, s(0), s(1))


def _compiled(v) -> bool:
    """Whether the compiled kernel library computes the v-Wave kernel sum here (CPU)."""
    from wavescope.models.scan.cpu_kernel import applies

    return v.device.type == "cpu" and applies()


def _kernel_sum_grads(ctx, v, C, Bm, A, W_re, W_im, S, S_m):
    """(g_v, g_C, None x 4) of :class:`_KernelSumFn` from S = sum_m gK[m] exp(m v A) and
    S_m = sum_m m gK[m] exp(m v A), complex128 (channels, N)."""
    g_v = g_C = None
    if ctx.needs_input_grad[1]:
        F_re, F_im = _idft(C.shape[1], C.device)
        g_C = ((S.real * Bm) @ F_re.t() - (S.imag * Bm) @ F_im.t()).to(C.dtype)
    if ctx.needs_input_grad[0]:
        A64 = A.to(torch.complex128)
        WA_re = W_re * A64.real - W_im * A64.imag
        WA_im = W_re * A64.imag + W_im * A64.real
        g_v = (WA_re * S_m.real - WA_im * S_m.imag).sum(-1).to(v.dtype)
    return g_v, g_C, None, None, None, None


#: Longest sequence convolved directly (compiled kernel, L^2 / 2 multiply-adds per channel)
#: rather than by FFT, for float32 CPU tensors.
DIRECT_CONV_MAX_LEN = 256


def causal_conv_fft(u: torch.Tensor, K: torch.Tensor, bias=None, silu: bool = False):
    """Causal depthwise convolution ``y_t = sum_{m <= t} K[m] u_{t-m}`` by FFT.

    u : (B, L, D) real; K : (L, D) real -> y : (B, L, D); ``bias`` (D,) is added and SiLU
    applied after if given / set. Short float32 CPU sequences (``L <=
    DIRECT_CONV_MAX_LEN``) run the direct sum in the compiled kernel instead, bias and SiLU
    fused (the same numbers to float32 rounding; fewer and smaller passes than three FFTs
    each way).
    """
    # The transforms run along a contiguous last axis and over a length with small prime
    # factors (>= 2L - 1, no wrap-around): rfft over the strided time axis at n = 2L = 170
    # (a factor 17) took 3.5x as long at L = 85.
    from wavescope.models.scan.cpu_kernel import applies, causal_conv_kernel

    L = u.shape[1]
    if L <= DIRECT_CONV_MAX_LEN and applies(u, K):
        return causal_conv_kernel(u, K, bias, silu=silu)
    n = _fast_len(2 * L - 1)
    U = torch.fft.rfft(u.transpose(1, 2), n=n)  # (B, D, n/2 + 1)
    Kf = torch.fft.rfft(K.t(), n=n)  # (D, n/2 + 1)
    y = torch.fft.irfft(U * Kf, n=n)[..., :L].transpose(1, 2)
    y = y if bias is None else y + bias
    return F.silu(y) if silu else y


def _fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (a length the FFT handles fast)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def input_filter(v, n_sites: int) -> torch.Tensor:
    """Anti-aliasing input weights per mode, B[k] = 1 if |k| v <= N / 2 else 0.

    ``v`` (any shape, sites/step) -> (..., N) float. For v <= 1 every mode is kept
    (B = DFT(e0), the input enters site 0 exactly as in the shift-SSM). For v > 1 a
    one-step input would land on every v-th site only (spatial aliasing); keeping the
    wavenumbers below N / (2 v) spreads it band-limited over the v sites it travels in one
    step. The weights do not depend smoothly on v, so no gradient flows through them
    (v still learns through exp(v A)).
    """
    k = ring_wavenumbers(n_sites).to(v.device).abs()
    return (k * v[..., None] <= n_sites / 2 + 1e-6).to(torch.float32)


def shift_matrix(n_sites: int, v: float, decay: float = 0.0) -> torch.Tensor:
    """Real-space one-step operator of the v-Wave ring, (N, N) complex128.

    ``h_t = M @ h_{t-1} + e0 u_t`` in real space is the same recurrence as the Fourier
    scan, and ``Re(h_t)`` is the state the probes return (a reference for tests; at
    integer v it is the cyclic shift times the decay). M is real except, for even N, in
    the Nyquist mode, whose fractional shift has no real-space form; that mode only
    contributes through the real part.
    """
    a = torch.exp(float(v) * wave_A(n_sites, decay, 1, torch.complex128)[0])
    eye = torch.eye(n_sites, dtype=torch.complex128)
    return torch.fft.ifft(a[:, None] * torch.fft.fft(eye, dim=0), dim=0)
