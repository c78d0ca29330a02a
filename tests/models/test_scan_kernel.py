"""The compiled CPU scan kernel (wavescope.models.scan.cpu_kernel) against known truth.

Truth: the sequential float64 reference (:func:`selective_scan_reference`) on the same
float32-representable inputs, outputs and the gradients of a random linear functional.
Relative error ``max|x - ref| / max|ref|``; tolerance 1e-5 as in test_scan.py (float32
rounding ~6e-8 per operation over tens of steps and a 128-term sum stays near 1e-6, the
kernel's exp is within ~2e-7; any wrong term in a gradient gives errors of order 1).

Training: 50 AdamW steps of Mamba and v-Wave Mamba with the kernel and with the torch
chunked path (itself tested against the reference in test_scan.py) from the same seed
give the same losses within 1e-5 relative (measured 1.5e-7 at copy length 20: float32
rounding reordered, amplified a little by the optimizer; a wrong gradient anywhere moves
the losses by 1e-3 or more within a few steps).
"""

from __future__ import annotations

import pytest
import torch

import wavescope.models.scan.cpu_kernel as cpu_kernel
from wavescope.models.scan import selective_scan

kernel_ok, why = cpu_kernel.kernel_status()
needs_kernel = pytest.mark.skipif(not kernel_ok, reason=f"no compiled scan kernel: {why}")
TOL = 1e-5


def rel(x, ref):
    return ((x.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def make(Bt, L, Dm, N, seed=0, extras=True, strong=False):
    """float64 leaves whose values are float32-representable, and their float32 twins."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(Bt, L, Dm, generator=g)
    delta = torch.rand(Bt, L, Dm, generator=g) * 0.5 + 0.02
    if strong:
        delta[:, L // 3 : L // 2] = 60.0  # exp(60 A), A <= -0.1: below float32's range
    A = -torch.rand(Dm, N, generator=g) * 2 - 0.1
    B, C = torch.randn(Bt, L, N, generator=g), torch.randn(Bt, L, N, generator=g)
    xs = [u, delta, A, B, C]
    if extras:
        xs += [torch.randn(Dm, generator=g), torch.randn(Bt, L, Dm, generator=g)]  # D, z
        xs += [torch.randn(Bt, Dm, N, generator=g)]  # h0
    x64 = [x.double().requires_grad_() for x in xs]
    x32 = [x.float().requires_grad_() for x in xs]
    return x64, x32


def outputs_and_grads(xs, backend, dsi, seed=1):
    args, h0 = xs[:7], (xs[7] if len(xs) > 7 else None)
    y, h = selective_scan(
        *args, h0=h0, return_last_state=True, delta_scales_input=dsi, backend=backend
    )
    g = torch.Generator().manual_seed(seed)
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64).to(y.dtype)
    gh = torch.randn(h.shape, generator=g, dtype=torch.float64).to(h.dtype)
    loss = (y * gy).sum() + (h * gh).sum()
    return [y, h, *torch.autograd.grad(loss, xs)]


@needs_kernel
@pytest.mark.parametrize("use_kernel", [True, False], ids=["kernel", "torch"])
@pytest.mark.parametrize("dsi", [True, False], ids=["delta_u", "u"])
@pytest.mark.parametrize(
    "Bt,L,Dm,N,extras",
    [(2, 37, 19, 5, True), (3, 1, 8, 4, True), (1, 85, 128, 16, False), (2, 9, 3, 2, True)],
    ids=["odd_sizes", "length_one", "cpu_scale", "channels_below_8"],
)
def test_float32_paths_match_float64_reference(monkeypatch, use_kernel, dsi, Bt, L, Dm, N, extras):
    monkeypatch.setattr(cpu_kernel, "ENABLED", use_kernel)
    x64, x32 = make(Bt, L, Dm, N, extras=extras)
    ref = outputs_and_grads(x64, "reference", dsi)
    got = outputs_and_grads(x32, "chunked", dsi)
    names = ["y", "h_last", "u", "delta", "A", "B", "C", "D", "z", "h0"]
    for name, x, r in zip(names, got, ref, strict=False):
        assert x.dtype == torch.float32 and x.shape == r.shape, name
        assert rel(x, r) <= TOL, f"{name}: rel err {rel(x, r):.2e}"


@needs_kernel
def test_kernel_is_what_the_cpu_path_runs(monkeypatch):
    """Real float32 CPU inputs with shared B, C go through the kernel's autograd function."""
    _, x32 = make(2, 11, 6, 3)
    y = selective_scan(*x32[:7], h0=x32[7], backend="auto")
    names = set()
    stack = [y.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is not None:
            names.add(type(fn).__name__)
            stack += [f for f, _ in fn.next_functions]
    assert any("KernelScanFn" in n for n in names), names


@needs_kernel
def test_strong_decay_stays_finite_and_exact():
    """Decays below float32's range (exp(-126) and beyond) clamp to ~0 without NaNs."""
    x64, x32 = make(2, 24, 9, 4, strong=True)
    ref = outputs_and_grads(x64, "reference", True)
    got = outputs_and_grads(x32, "chunked", True)
    for x, r in zip(got, ref, strict=True):
        assert torch.isfinite(x).all()
        assert rel(x, r) <= TOL


def test_without_a_compiler_the_torch_path_runs(monkeypatch):
    """No kernel (no compiler here, or switched off): the same results from the torch path."""
    monkeypatch.setattr(cpu_kernel, "_STATE", {"lib": None, "reason": "test: no compiler"})
    assert cpu_kernel.kernel_status() == (False, "test: no compiler")
    x64, x32 = make(2, 13, 5, 3)
    ref = outputs_and_grads(x64, "reference", True)
    got = outputs_and_grads(x32, "chunked", True)
    for x, r in zip(got, ref, strict=True):
        assert rel(x, r) <= TOL


def test_a_failing_compiler_is_reported_not_raised(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_kernel, "_STATE", {})
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ok, reason = cpu_kernel.kernel_status()
    assert not ok and "no-such-compiler" in reason


def _losses(name, steps=50):
    from wavescope.models.registry import build_model, default_config
    from wavescope.models.tasks import VOCAB_SIZE
    from wavescope.models.training import TrainHParams, make_copy_task, make_optimizer, train_step

    torch.manual_seed(0)
    cfg = default_config(name, "cpu")
    model = build_model(name, VOCAB_SIZE, cfg)
    hp = TrainHParams(steps=steps, batch_size=8)
    opt, sched = make_optimizer(model, hp)
    task = make_copy_task(8, 0, cfg.max_len)  # 37-token contexts: a short test
    cpu = torch.device("cpu")
    return torch.tensor(
        [train_step(model, opt, sched, task.batch(8), hp, cpu)[0].item() for _ in range(steps)],
        dtype=torch.float64,
    )


@needs_kernel
@pytest.mark.parametrize("name", ["mamba", "vwave-mamba"])
def test_fifty_training_steps_give_the_same_losses(monkeypatch, name):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        monkeypatch.setattr(cpu_kernel, "ENABLED", True)
        fast = _losses(name)
        monkeypatch.setattr(cpu_kernel, "ENABLED", False)
        ref = _losses(name)
    finally:
        torch.set_num_threads(prev)
    assert torch.isfinite(fast).all()
    assert ((fast - ref).abs() / ref.abs()).max().item() <= TOL
    assert ref[-1] < ref[0]  # the run learns something: the comparison is not of constants


@needs_kernel
def test_gate_read_from_a_wider_tensor():
    """z as one half of a wider tensor (Mamba's in_proj split) is read in place, correctly."""
    x64, x32 = make(2, 15, 6, 3)
    wide = torch.randn(2, 15, 12, generator=torch.Generator().manual_seed(5))
    gy = torch.randn(2, 15, 6, generator=torch.Generator().manual_seed(6))
    out = {}
    for name, xs, backend in (("ref", x64, "reference"), ("kernel", x32, "chunked")):
        zw = wide.to(xs[0].dtype).requires_grad_()
        z = zw[..., 6:]
        assert not z.is_contiguous()
        y = selective_scan(*xs[:6], z, h0=xs[7], backend=backend)
        (gz,) = torch.autograd.grad((y * gy.to(y.dtype)).sum(), [zw])
        out[name] = (y, gz)
    assert rel(out["kernel"][0], out["ref"][0]) <= TOL
    assert rel(out["kernel"][1], out["ref"][1]) <= TOL
    assert out["kernel"][1][..., :6].abs().max() == 0


@needs_kernel
@pytest.mark.parametrize("silu", [False, True])
@pytest.mark.parametrize("K", [1, 4, 23])
def test_causal_conv_kernel_matches_shifted_sums(silu, K):
    """The compiled depthwise causal convolution (+ SiLU) against torch's shifted sums in
    float64, values and gradients; x read in place from a wider tensor."""
    g = torch.Generator().manual_seed(K)
    wide, w, b = torch.randn(3, 23, 10, generator=g), torch.randn(K, 5, generator=g), None
    b = torch.randn(5, generator=g)
    gy = torch.randn(3, 23, 5, generator=g)

    def run(dtype, kernel):
        leaves = [t.to(dtype).requires_grad_() for t in (wide, w, b)]
        x = leaves[0][..., 5:]
        if kernel:
            y = cpu_kernel.causal_conv_kernel(x, leaves[1], leaves[2], silu=silu)
        else:
            L = x.shape[1]
            y = leaves[2] + sum(
                torch.nn.functional.pad(x, (0, 0, m, 0))[:, :L] * leaves[1][m] for m in range(K)
            )
            y = torch.nn.functional.silu(y) if silu else y
        return [y, *torch.autograd.grad((y * gy.to(dtype)).sum(), leaves)]

    for x, r in zip(run(torch.float32, True), run(torch.float64, False), strict=True):
        assert rel(x, r) <= TOL


@needs_kernel
@pytest.mark.parametrize("D", [64, 37], ids=["D64", "D37_tail"])
def test_rms_norm_kernel_matches_the_float64_expression(monkeypatch, D):
    """The compiled RMSNorm (lm.RMSNorm on float32 CPU) against the torch expression in
    float64, values and gradients wrt x and the gain."""
    from wavescope.models.lm import RMSNorm

    g = torch.Generator().manual_seed(D)
    x, w, gy = torch.randn(3, 7, D, generator=g), torch.randn(D, generator=g), None
    gy = torch.randn(3, 7, D, generator=g)
    out = {}
    for kernel, dtype in ((True, torch.float32), (False, torch.float64)):
        monkeypatch.setattr(cpu_kernel, "ENABLED", kernel)
        norm = RMSNorm(D).to(dtype)
        with torch.no_grad():
            norm.weight.copy_(w.to(dtype))
        xx = x.to(dtype).requires_grad_()
        y = norm(xx)
        out[kernel] = [y, *torch.autograd.grad((y * gy.to(dtype)).sum(), [xx, norm.weight])]
    for a, b in zip(out[True], out[False], strict=True):
        assert rel(a, b) <= TOL


@needs_kernel
@pytest.mark.parametrize("L", [1, 7, 8, 9, 16, 37])
def test_kernel_backward_chunks(monkeypatch, L):
    """Chunks of 8 steps in the kernel's backward: below, at and past multiples of the
    chunk, and a partial last chunk; against the float64 reference."""
    monkeypatch.setattr(cpu_kernel, "KERNEL_CHUNK", 8)
    x64, x32 = make(2, L, 19, 5)
    ref = outputs_and_grads(x64, "reference", True)
    got = outputs_and_grads(x32, "chunked", True)
    for x, r in zip(got, ref, strict=True):
        assert rel(x, r) <= TOL


@needs_kernel
@pytest.mark.parametrize("dsi", [True, False], ids=["delta_u", "u"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_delta_softplus_and_bias(dsi, seed):
    """Delta = softplus(raw + bias) inside the kernel (Mamba's dt_proj bias and softplus)
    against the float64 reference fed torch's softplus, values and every gradient, bias
    included; raw values span both sides of torch's linear threshold (20) and deep
    negatives (softplus ~ exp(raw), 1e-13)."""
    x64, x32 = make(2, 23, 19, 5, seed=seed)
    g = torch.Generator().manual_seed(seed + 10)
    raw = torch.randn(2, 23, 19, generator=g) * 4 - 1
    raw[0, :3, :5], raw[1, 4:6, :] = 25.0, -30.0
    bias = torch.randn(19, generator=g)
    leaves64 = [*(x.detach().requires_grad_() for x in x64[:7]), raw.double(), bias.double()]
    leaves32 = [*(x.detach().requires_grad_() for x in x32[:7]), raw.float(), bias.float()]
    for xs in (leaves64, leaves32):
        xs[7].requires_grad_()
        xs[8].requires_grad_()
    u, _, A, B, C, D, z, r, b = leaves64
    delta = torch.nn.functional.softplus(r + b)
    y_ref = selective_scan(u, delta, A, B, C, D, z, delta_scales_input=dsi, backend="reference")
    u, _, A, B, C, D, z, r, b = leaves32
    y, _ = cpu_kernel.selective_scan_kernel(
        u, r, A, B, C, D, z, delta_scales_input=dsi, delta_bias=b, delta_softplus=True
    )
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    wrt = [0, 2, 3, 4, 5, 6, 7, 8]  # every leaf but the unused delta
    ref = torch.autograd.grad((y_ref * gy).sum(), [leaves64[i] for i in wrt])
    got = torch.autograd.grad((y * gy.float()).sum(), [leaves32[i] for i in wrt])
    assert rel(y, y_ref) <= TOL
    for a, b_ in zip(got, ref, strict=True):
        assert rel(a, b_) <= TOL


def _mixer_out_and_grads(mixer, x, seed=1):
    x = x.detach().requires_grad_()
    y = mixer(x)
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    params = [p for _, p in sorted(mixer.named_parameters())]
    return [y, *torch.autograd.grad((y * gy.to(y.dtype)).sum(), [x, *params])]


@needs_kernel
@pytest.mark.parametrize(
    "L,d_model,d_state,dt_rank,d_conv",
    [(70, 8, 5, 3, 3), (70, 16, 16, 2, 4), (1, 8, 4, 1, 4), (2, 16, 16, 1, 4), (20, 24, 3, 2, 1)],
    ids=["past_a_chunk", "16_states", "length_one", "shorter_than_conv", "conv_width_one"],
)
@pytest.mark.parametrize("slice_steps", [2048, 1], ids=["one_slice", "row_slices"])
def test_fused_mixer_matches_its_float64_torch_path(
    monkeypatch, L, d_model, d_state, dt_rank, d_conv, slice_steps
):
    """Mamba's mixer through the one fused node (conv, x_proj, dt_proj, softplus, scan, gate:
    :func:`mamba_inner_kernel`) in float32 against the same weights in float64 (the torch
    path, whose scan test_scan.py checks against the sequential reference): the output and
    the gradients of the input and of every parameter. Chunks of 8 steps in the backward;
    the batch in one slice and a slice per row (the weight gradients summed over slices)."""
    from wavescope.models.mamba import MambaConfig, MambaMixer

    monkeypatch.setattr(cpu_kernel, "KERNEL_CHUNK", 8)
    monkeypatch.setattr(cpu_kernel, "MAMBA_SLICE_STEPS", slice_steps)  # 1: a row a slice
    torch.manual_seed(0)
    cfg = MambaConfig(d_model=d_model, d_state=d_state, dt_rank=dt_rank, d_conv=d_conv)
    mixer = MambaMixer(cfg)
    with torch.no_grad():  # weights of order one: every path carries weight
        mixer.context.conv.weight.normal_()
        mixer.context.conv.bias.normal_()
        mixer.dt_proj.weight.mul_(3.0)
    calls = []
    real = cpu_kernel._MambaInnerFn.apply
    monkeypatch.setattr(cpu_kernel._MambaInnerFn, "apply", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(2, L, d_model, generator=torch.Generator().manual_seed(2))
    got = _mixer_out_and_grads(mixer, x.float())
    assert calls, "the float32 mixer did not run the fused kernel"
    ref = _mixer_out_and_grads(mixer.double(), x.double())
    assert len(calls) == 1  # float64 takes the torch path
    for a, b in zip(got, ref, strict=True):
        assert rel(a, b) <= TOL
