"""Specification: the chunked scan's scratch buffers, kept between calls, never leak into
results: a call's outputs and gradients are unchanged by later calls of the same shape
(which reuse the buffers), and equal those computed with the buffers emptied.

Known truth: the same call made right after emptying the buffer cache. Tolerance: exact
equality (the buffers only hold temporaries; any aliasing would overwrite a result).
"""

from __future__ import annotations

import pytest
import torch

import wavescope.models.scan.chunked as chunked
from wavescope.models.scan import selective_scan


def _call(seed, cplx):
    g = torch.Generator().manual_seed(seed)
    Bt, L, Dm, N = 3, 21, 4, 5
    u = torch.randn(Bt, L, Dm, generator=g, requires_grad=True)
    delta = (torch.rand(Bt, L, Dm, generator=g) * 0.5 + 0.02).requires_grad_()
    A = -torch.rand(Dm, N, generator=g) - 0.1
    if cplx:
        A = torch.complex(A, torch.randn(Dm, N, generator=g))
    A.requires_grad_()
    B = torch.randn(Bt, L, N, generator=g, requires_grad=True)
    C = torch.randn(Bt, L, N, generator=g, requires_grad=True)
    y, h = selective_scan(u, delta, A, B, C, return_last_state=True, backend="chunked")
    w = torch.randn(y.shape, generator=g)
    grads = torch.autograd.grad((y * w).sum() + h.abs().sum(), (u, delta, A, B, C))
    return [y.detach(), h.detach(), *grads]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_later_calls_do_not_change_earlier_results(monkeypatch, workers, cplx):
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK", 8)  # 3 chunks, the last partial
    monkeypatch.setattr(chunked, "SCAN_WORKERS", workers)
    chunked._BUFFERS.clear()
    first = _call(0, cplx)
    kept = [t.clone() for t in first]
    _call(1, cplx)  # same shapes: reuses every buffer
    for a, b in zip(first, kept, strict=True):
        assert torch.equal(a, b)
    again = _call(0, cplx)  # warm buffers holding another call's numbers
    chunked._BUFFERS.clear()
    fresh = _call(0, cplx)
    for a, b, c in zip(first, again, fresh, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_buffer_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(chunked, "_BUFFER_LIMIT", 4096)
    chunked._BUFFERS.clear()
    for n in range(5, 40, 5):  # many shapes, each over the tiny limit together
        chunked._buffer("a", (n, 8), torch.float32, "cpu")
        used = sum(b.numel() * b.element_size() for b in chunked._BUFFERS.values())
        assert used <= 4096 or len(chunked._BUFFERS) == 1
