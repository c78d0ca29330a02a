"""Scan kernels against the sequential reference (the ground truth).

Relative error throughout: ``rel(x, ref) = max|x - ref| / max|ref|`` over the whole
tensor. Tolerances: float32 1e-5 (float32 rounding, eps ~ 6e-8, accumulated over tens of
steps and a few reductions stays near 1e-6; 1e-5 leaves a 10x margin while any wrong
term in a gradient gives errors of order 1); float64 1e-10 (same reasoning, eps 1e-16).
"""

from __future__ import annotations

import pytest
import torch

import wavescope.models.scan.chunked as chunked
from wavescope.core.validate import WaveInputError
from wavescope.models.scan import scan, scan_reference, selective_scan, selective_scan_reference

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def rel(x, ref):
    """max|x - ref| / max|ref| (both may be complex)."""
    return ((x - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def cdtype(dtype):
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def make_inputs(
    Bt=2,
    L=37,
    Dm=3,
    N=4,
    dtype=torch.float32,
    a_cplx=False,
    bc_cplx=False,
    b4=False,
    extras=False,
    seed=0,
):
    """Random valid selective-scan inputs (all leaves requiring grad) and kwargs."""
    g = torch.Generator().manual_seed(seed)

    def rn(*shape, cplx=False):
        if cplx:
            return torch.randn(*shape, generator=g, dtype=cdtype(dtype))
        return torch.randn(*shape, generator=g, dtype=dtype)

    u = rn(Bt, L, Dm)
    delta = torch.rand(Bt, L, Dm, generator=g, dtype=dtype) * 0.5 + 0.02
    A = -torch.rand(Dm, N, generator=g, dtype=dtype) * 2 - 0.1
    if a_cplx:
        A = torch.complex(A, torch.randn(Dm, N, generator=g, dtype=dtype) * 2)
    shape = (Bt, L, Dm, N) if b4 else (Bt, L, N)
    B, C = rn(*shape, cplx=bc_cplx), rn(*shape, cplx=bc_cplx)
    args = [u, delta, A, B, C]
    kw = {}
    if extras:
        args += [rn(Dm), rn(Bt, L, Dm)]  # D, z
        kw["h0"] = rn(Bt, Dm, N, cplx=a_cplx or bc_cplx)
    for t in args + list(kw.values()):
        t.requires_grad_(True)
    return args, kw


def outputs_and_grads(args, kw, backend, seed=1):
    """y, h_last and the gradients of a random linear functional of both."""
    y, h = selective_scan(*args, **kw, return_last_state=True, backend=backend)
    g = torch.Generator().manual_seed(seed)
    gy = torch.randn(y.shape, generator=g, dtype=y.dtype)
    gh = torch.randn(h.shape, generator=g, dtype=h.real.dtype).to(h.dtype)
    loss = (y * gy).sum() + (h * gh.conj()).real.sum()
    leaves = args + [v for v in kw.values() if isinstance(v, torch.Tensor)]
    return [y, h, *torch.autograd.grad(loss, leaves)]


@pytest.fixture(params=[1, 2], ids=["1worker", "2workers"])
def small_chunks(request, monkeypatch):
    """Chunks of 8 steps (so L=37 spans 5 chunks, the last partial) and 1 or 2 workers."""
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK", 8)
    monkeypatch.setattr(chunked, "SCAN_WORKERS", request.param)


CASES = [  # (a_cplx, bc_cplx, b4)
    (False, False, False),
    (False, False, True),
    (True, True, False),
    (True, False, False),
    (True, True, True),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("extras", [False, True], ids=["plain", "h0_D_z"])
@pytest.mark.parametrize("a_cplx,bc_cplx,b4", CASES)
def test_chunked_matches_reference_outputs_and_grads(
    small_chunks, dtype, extras, a_cplx, bc_cplx, b4
):
    args, kw = make_inputs(dtype=dtype, a_cplx=a_cplx, bc_cplx=bc_cplx, b4=b4, extras=extras)
    ref = outputs_and_grads(args, kw, "reference")
    got = outputs_and_grads(args, kw, "chunked")
    names = ["y", "h_last", "u", "delta", "A", "B", "C"] + (["D", "z", "h0"] if extras else [])
    for name, x, r in zip(names, got, ref, strict=True):
        assert x.dtype == r.dtype and x.shape == r.shape, name
        assert rel(x, r) <= TOL[dtype], f"{name}: rel err {rel(x, r):.2e}"


def test_float32_chunked_close_to_float64_truth():
    """float32 chunked vs the float64 reference: the float32 path loses only rounding."""
    args64, kw = make_inputs(dtype=torch.float64, L=200, a_cplx=True, bc_cplx=True)
    args32 = [a.detach().to(torch.complex64 if a.is_complex() else torch.float32) for a in args64]
    y64 = selective_scan(*args64, backend="reference")
    y32 = selective_scan(*args32, backend="chunked")
    assert rel(y32.double(), y64) <= 1e-5


@pytest.mark.parametrize("L", [1, 7, 8, 9, 16, 17])
def test_chunk_boundaries_and_length_one(monkeypatch, L):
    """Lengths below, at and just past multiples of the chunk size (8); batch of one."""
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK", 8)
    args, kw = make_inputs(Bt=1, L=L, dtype=torch.float64, extras=True)
    before = [a.detach().clone() for a in args]
    ref = outputs_and_grads(args, kw, "reference")
    got = outputs_and_grads(args, kw, "chunked")
    for x, r in zip(got, ref, strict=True):
        assert rel(x, r) <= 1e-10
    for a, b in zip(args, before, strict=True):  # inputs are never modified in place
        assert torch.equal(a.detach(), b)


def test_chunked_gradcheck_against_finite_differences(monkeypatch):
    """The hand-written backward against numerical derivatives (float64, complex A, B, C)."""
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK", 3)
    args, kw = make_inputs(
        Bt=2, L=7, Dm=2, N=3, dtype=torch.float64, a_cplx=True, bc_cplx=True, extras=True
    )

    def f(u, delta, A, B, C, D, z, h0):
        y, h = selective_scan(
            u, delta, A, B, C, D, z, h0=h0, return_last_state=True, backend="chunked"
        )
        return y, torch.view_as_real(h)

    assert torch.autograd.gradcheck(f, (*args, kw["h0"]), eps=1e-6, atol=1e-6)


def test_auto_is_chunked_on_cpu():
    args, _ = make_inputs()
    y_auto = selective_scan(*args, backend="auto")
    y_chunk = selective_scan(*args, backend="chunked")
    assert torch.equal(y_auto, y_chunk)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_delta_scales_input_false_and_strong_decay(monkeypatch, dtype):
    """Without delta on the input term, and decays that underflow exp() to exactly 0."""
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK", 8)
    args, kw = make_inputs(dtype=dtype, a_cplx=True, extras=True)
    with torch.no_grad():
        args[1][:, 5:9] = 60.0  # exp(60 Re(A)) with Re(A) <= -0.1: down to exp(-126) (0 in f32)
    kw["delta_scales_input"] = False
    ref = outputs_and_grads(args, kw, "reference")
    got = outputs_and_grads(args, kw, "chunked")
    for x, r in zip(got, ref, strict=True):
        assert torch.isfinite(x).all()
        assert rel(x, r) <= TOL[dtype]


@pytest.mark.parametrize("backend", ["reference", "chunked"])
def test_return_states_match_the_recurrence(backend):
    """All states from return_states=True obey h_t = exp(delta A) h_{t-1} + delta B u."""
    args, kw = make_inputs(dtype=torch.float64, a_cplx=True, extras=True)
    u, delta, A, B, C, D, z = (a.detach() for a in args)
    h0 = kw["h0"].detach()
    y, h_last, hs = selective_scan(
        u, delta, A, B, C, D, z, h0=h0, return_last_state=True, return_states=True, backend=backend
    )
    assert hs.shape == (2, 37, 3, 4)
    a = torch.exp(delta[..., None] * A)
    b = (delta * u)[..., None] * B[:, :, None, :]
    prev = torch.cat([h0[:, None], hs[:, :-1]], dim=1)
    assert rel(hs, a * prev + b) <= 1e-12
    y_from_states = (hs * C[:, :, None, :]).sum(-1).real + D * u
    assert rel(y, y_from_states * torch.nn.functional.silu(z)) <= 1e-12
    assert torch.equal(h_last, hs[:, -1])


@pytest.mark.parametrize("Bt", [1, 2])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_plain_scan_chunked_matches_reference(cplx, Bt):
    g = torch.Generator().manual_seed(3)
    dt = torch.complex128 if cplx else torch.float64
    a = (torch.rand(Bt, 11, 3, 4, generator=g, dtype=torch.float64) * 0.9).to(dt)
    if cplx:
        a = a * torch.exp(1j * torch.randn(a.shape, generator=g, dtype=torch.float64))
    b = torch.randn(Bt, 11, 3, 4, generator=g, dtype=dt)
    h0 = torch.randn(Bt, 3, 4, generator=g, dtype=dt)
    b_before = b.clone()
    leaves = [t.requires_grad_() for t in (a, b, h0)]
    w = torch.randn(Bt, 11, 3, 4, generator=g, dtype=dt)
    outs = {}
    for backend in ("reference", "chunked"):
        h = scan(a, b, h0, backend=backend)
        loss = (h * w.conj()).real.sum()
        outs[backend] = [h, *torch.autograd.grad(loss, leaves)]
    for x, r in zip(outs["chunked"], outs["reference"], strict=True):
        assert rel(x, r) <= 1e-12
    assert torch.equal(b.detach(), b_before)  # inputs are never scanned in place
    # and the reference is the recurrence itself
    h = scan_reference(a, b, h0)
    assert rel(h[:, 3], a[:, 3] * h[:, 2] + b[:, 3]) <= 1e-15


def test_reference_backward_is_linear_in_length():
    """The reference loop must not index per step (that makes backward quadratic in L: each
    step's index backward allocates a zero tensor of the whole length). Counted in bytes the
    backward allocates (torch's profiler), not in seconds: 4x the length allocates 4x the
    bytes when linear and 16x when quadratic; 6x is the bound."""
    import warnings

    from torch.profiler import ProfilerActivity, profile

    allocated = []
    for L in (200, 800):
        args, _ = make_inputs(Bt=1, L=L, Dm=2, N=2)
        out = selective_scan_reference(*args).sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                out.backward()
        allocated.append(sum(max(e.cpu_memory_usage, 0) for e in prof.events()))
    assert allocated[1] < 6 * allocated[0]


# ----------------------------------------------------------------------------- bad input
def test_bad_backend_name():
    args, _ = make_inputs()
    with pytest.raises(WaveInputError, match="backend='cuda' is not supported"):
        selective_scan(*args, backend="cuda")
    with pytest.raises(WaveInputError, match="backend"):
        scan(torch.ones(1, 2, 3), torch.ones(1, 2, 3), backend="fast")


def test_triton_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    args, _ = make_inputs()
    with pytest.raises(WaveInputError, match="needs CUDA tensors"):
        selective_scan(*args, backend="triton")


@pytest.mark.parametrize(
    "which,bad,match",
    [
        ("delta", torch.ones(2, 36, 3), r"delta has shape \(2, 36, 3\); expected \(2, 37, 3\)"),
        ("A", torch.ones(4, 4), r"A has shape \(4, 4\); expected \(Dm, N\) = \(3, N\)"),
        ("B", torch.ones(2, 37, 5), r"B has shape \(2, 37, 5\)"),
        ("C", torch.ones(2, 37, 2, 4), r"C has shape"),
        ("D", torch.ones(4), r"D has shape \(4,\); expected \(3,\)"),
        ("z", torch.ones(2, 37), r"z has shape"),
        ("h0", torch.ones(2, 4, 3), r"h0 has shape \(2, 4, 3\); expected \(2, 3, 4\)"),
        ("u", torch.ones(2, 37), r"u has shape \(2, 37\); expected \(Bt, L, Dm\)"),
        ("u", torch.ones(2, 37, 3, dtype=torch.complex64), r"u must be real"),
        ("delta", torch.ones(2, 37, 3, dtype=torch.long), r"delta must be a floating-point"),
    ],
)
def test_bad_shapes_and_dtypes(which, bad, match):
    args, kw = make_inputs()
    names = ["u", "delta", "A", "B", "C", "D", "z"]
    full = dict(zip(names, [a.detach() for a in args] + [None, None], strict=True))
    full["h0"] = None
    full[which] = bad
    h0 = full.pop("h0")
    with pytest.raises(WaveInputError, match=match):
        selective_scan(*full.values(), h0=h0, backend="chunked")


def test_empty_sequence_is_rejected():
    with pytest.raises(WaveInputError, match="L=0"):
        selective_scan(
            torch.ones(1, 0, 2),
            torch.ones(1, 0, 2),
            -torch.ones(2, 3),
            torch.ones(1, 0, 3),
            torch.ones(1, 0, 3),
        )
    with pytest.raises(WaveInputError, match="same shape"):
        scan(torch.ones(1, 4, 2), torch.ones(1, 5, 2))
