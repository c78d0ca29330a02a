"""Triton scan on a real GPU against the reference (skipped without CUDA).

Run on a machine with a GPU: ``pytest -m gpu tests/models/test_scan_gpu.py``.
Relative error ``max|x - ref| / max|ref|`` against the float64 reference on the same
inputs; tolerance 1e-5 (float32 arithmetic in the kernel, ~300 steps).
"""

from __future__ import annotations

import pytest
import torch

from wavescope.models.scan import selective_scan

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _inputs(a_cplx, bc_cplx, b4, Bt=3, L=300, Dm=130, N=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    dt = torch.float32
    cd = torch.complex64
    u = torch.randn(Bt, L, Dm, generator=g, dtype=dt)
    delta = torch.rand(Bt, L, Dm, generator=g, dtype=dt) * 0.2 + 0.01
    A = -torch.rand(Dm, N, generator=g, dtype=dt) * 4 - 0.05
    if a_cplx:
        A = torch.complex(A, torch.randn(Dm, N, generator=g, dtype=dt))
    shape = (Bt, L, Dm, N) if b4 else (Bt, L, N)
    B = torch.randn(*shape, generator=g, dtype=cd if bc_cplx else dt)
    C = torch.randn(*shape, generator=g, dtype=cd if bc_cplx else dt)
    D = torch.randn(Dm, generator=g, dtype=dt)
    z = torch.randn(Bt, L, Dm, generator=g, dtype=dt)
    h0 = torch.randn(Bt, Dm, N, generator=g, dtype=cd if (a_cplx or bc_cplx) else dt)
    return [u, delta, A, B, C, D, z, h0]


def _run(leaves, backend, seed=1):
    u, delta, A, B, C, D, z, h0 = leaves
    y, h = selective_scan(u, delta, A, B, C, D, z, h0=h0, return_last_state=True, backend=backend)
    g = torch.Generator(device=u.device).manual_seed(seed)
    gy = torch.randn(y.shape, generator=g, device=u.device, dtype=y.dtype)
    gh = torch.randn(h.shape, generator=g, device=u.device, dtype=h.real.dtype).to(h.dtype)
    loss = (y * gy).sum() + (h * gh.conj()).real.sum()
    return [y, h, *torch.autograd.grad(loss, leaves)]


@pytest.mark.parametrize(
    "a_cplx,bc_cplx,b4",
    [(False, False, False), (False, False, True), (True, True, False), (True, False, True)],
)
def test_triton_gpu_matches_reference(a_cplx, bc_cplx, b4):
    cpu = _inputs(a_cplx, bc_cplx, b4)
    gpu = [x.cuda().requires_grad_() for x in cpu]
    ref = [
        x.cuda().to(torch.complex128 if x.is_complex() else torch.float64).requires_grad_()
        for x in cpu
    ]
    got = _run(gpu, "triton")
    want = _run(ref, "reference")
    names = ["y", "h_last", "u", "delta", "A", "B", "C", "D", "z", "h0"]
    for name, x, r in zip(names, got, want, strict=True):
        err = ((x.to(r.dtype) - r).abs().max() / r.abs().max()).item()
        assert err <= 1e-5, f"{name}: rel err {err:.2e}"


def test_auto_picks_triton_on_cuda_and_agrees_with_chunked():
    leaves = [x.cuda() for x in _inputs(False, False, False)]
    u, delta, A, B, C, D, z, _ = leaves
    y_auto = selective_scan(u, delta, A, B, C, D, z, backend="auto")
    y_tri = selective_scan(u, delta, A, B, C, D, z, backend="triton")
    y_chk = selective_scan(u, delta, A, B, C, D, z, backend="chunked")
    assert torch.equal(y_auto, y_tri)
    assert ((y_tri - y_chk).abs().max() / y_chk.abs().max()).item() <= 1e-5
