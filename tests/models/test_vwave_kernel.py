"""Specification: the v-Wave layer's impulse response (its FFT-convolution kernel) equals the
direct sum K[m, d] = Re(sum_k W[d, k] exp(m v_d A[k])), values and gradients.

Known truth: the direct sum over every m in float64 (one complex exponential per m and
mode, no blocking). The layer computes exp(m v A) as exp(q b v A) exp(r v A) with blocks
of about sqrt(L) steps and a small complex matmul per channel (the torch route), or, where
the compiled kernels build, by the recurrence P <- P exp(v A) in float64 (the compiled
route, :func:`wavescope.models.scan.cpu_kernel.wave_kernel_sum`); both routes are checked,
at lengths just below, at and above block boundaries, with per-channel velocities on both sides of 1
(v > 1 switches on the anti-aliasing input filter).

Tolerances: float64 1e-12 relative (the blocked product differs from one exponential by
rounding, ~1e-16 per factor); float32 1e-6 relative to the float64 sum (measured 1.2-2e-7
at every length up to 1205: the exponentials are taken in float64 and only the final
factors and the matmul are float32; the earlier float32 phase, up to L v 2 pi k / N ~ 7e3
rad at L = 1205, erred by up to 9e-5).
"""

from __future__ import annotations

import pytest
import torch

import wavescope.models.scan.cpu_kernel as cpu_kernel
from wavescope.models.vwave import WaveSSM, input_filter

compiled_ok = cpu_kernel.kernel_status()[0]


@pytest.fixture(params=["compiled", "torch"])
def route(request, monkeypatch):
    """Each test on both routes of the kernel sum (the compiled one where it builds)."""
    if request.param == "compiled" and not compiled_ok:
        pytest.skip("no compiled kernel library here")
    monkeypatch.setattr(cpu_kernel, "ENABLED", request.param == "compiled")
    return request.param


def rel(x, ref):
    return ((x - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def direct_kernel(wave: WaveSSM, length: int) -> torch.Tensor:
    """K[m, d] in float64 from one exponential per (m, d, k), from ``wave``'s own
    velocities and readout (cast to float64: the phase m v 2 pi k / N of a lossless ring
    is so sensitive to v that a float32 and a float64 model of "the same" velocity differ
    by 1e-4 at m ~ 1000)."""
    v = wave.velocities().double()  # (channels,)
    A = wave.A.to(torch.complex128)  # (channels, N)
    W = torch.fft.ifft(wave.C.double().to(torch.complex128), dim=-1)
    W = W * input_filter(v.detach(), wave.n_sites).double()
    m = torch.arange(length, dtype=torch.float64)
    E = torch.exp(m[:, None, None] * v[None, :, None] * A[None])  # (L, channels, N)
    return (E * W).sum(-1).real


def make_wave(n_sites, decay, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    wave = WaveSSM(3, n_sites, velocity="channel", v_init=1.0, decay=decay, bias=True)
    with torch.no_grad():
        wave.C.copy_(torch.randn(wave.C.shape, generator=g))
    if dtype == torch.float64:
        wave = wave.double()  # floats only; Module.to(dtype) would also make A real
    wave.set_velocity(torch.tensor([0.37, 1.0, 1.8]))
    return wave


@pytest.mark.parametrize("length", [1, 2, 3, 15, 16, 17, 85, 301, 1205])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_blocked_kernel_equals_the_direct_sum(length, dtype, route):
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    for seed, (n_sites, decay) in enumerate([(8, 0.0), (32, 0.05), (33, 0.002)]):
        wave = make_wave(n_sites, decay, seed, dtype)
        K = wave.kernel(length, dtype)
        assert K.shape == (length, 3) and K.dtype == dtype
        assert rel(K.double(), direct_kernel(wave, length)) <= tol


@pytest.mark.parametrize("length", [5, 40, 301])
def test_blocked_kernel_gradients_equal_the_direct_sum(length, route):
    # gradients wrt the learned velocity and the readout through a random linear functional
    wave = make_wave(16, 0.05, 0, torch.float64)
    truth = make_wave(16, 0.05, 0, torch.float64)
    w = torch.randn(length, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (wave.kernel(length, torch.float64) * w).sum().backward()
    (direct_kernel(truth, length) * w).sum().backward()
    for name in ("v_raw", "C"):
        got, ref = getattr(wave, name).grad, getattr(truth, name).grad
        assert rel(got, ref) <= 1e-10, name
