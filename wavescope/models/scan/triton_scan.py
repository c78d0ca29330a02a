"""Triton GPU kernel for the selective scan, forward and backward.

Layout: one program per (batch b, block of BLOCK_D channels); it holds the state
h (BLOCK_D, BLOCK_N) in registers and loops over time inside the kernel, reading
u, delta (BLOCK_D,), B_t and C_t (BLOCK_N,) or (BLOCK_D, BLOCK_N) per step and writing
y_t. Complex states are kept as separate real and imaginary planes (complex tensors are
passed as ``torch.view_as_real`` views, interleaved re/im).

Backward is a reverse-time scan. The forward kernel stores the state at the start of
every chunk of ``CHUNK`` steps; the backward kernel walks the chunks from last to first,
recomputes the chunk's states from its checkpoint into a small scratch buffer
(CHUNK + 1 states per program), then runs the adjoint recurrence backwards through the
chunk, producing all input gradients. Gradients of the parameters shared across a
program's reduction axis (A over batch and time; B, C of shape (Bt, L, N) over channel
blocks) are written as partial sums and reduced with torch afterwards (deterministic, no
atomics).

Gradient convention as in :mod:`.chunked` (PyTorch's conjugate Wirtinger derivative).
On CPU tensors the kernels run in Triton's interpreter when ``TRITON_INTERPRET=1`` was
set before triton was imported (slow; for tests).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["selective_scan_triton"]

CHUNK = 64  # steps between checkpoints (memory of the checkpoints ~ L / CHUNK states)


@triton.jit
def _ld(ptr, off, mask, CPLX: tl.constexpr):
    """Load a real value, or the (re, im) pair of an interleaved complex value."""
    if CPLX:
        re = tl.load(ptr + 2 * off, mask=mask, other=0.0).to(tl.float32)
        im = tl.load(ptr + 2 * off + 1, mask=mask, other=0.0).to(tl.float32)
    else:
        re = tl.load(ptr + off, mask=mask, other=0.0).to(tl.float32)
        im = re * 0.0
    return re, im


@triton.jit
def _st(ptr, off, re, im, mask, CPLX: tl.constexpr):
    if CPLX:
        tl.store(ptr + 2 * off, re, mask=mask)
        tl.store(ptr + 2 * off + 1, im, mask=mask)
    else:
        tl.store(ptr + off, re, mask=mask)


@triton.jit
def _decay(dt2, ar, ai, CPLX: tl.constexpr):
    """exp(dt * A) as (re, im) for dt2 (BLOCK_D, 1) and A planes (BLOCK_D, BLOCK_N)."""
    mag = tl.exp(dt2 * ar)
    if CPLX:
        ang = dt2 * ai
        return mag * tl.cos(ang), mag * tl.sin(ang)
    return mag, mag * 0.0


@triton.jit
def _bc_offsets(b, t, d, n, L, Dm, N, FULL: tl.constexpr):
    """Offsets of B_t or C_t: (1, BLOCK_N) for shape (Bt, L, N), else (BLOCK_D, BLOCK_N)."""
    if FULL:
        return ((b * L + t) * Dm + d[:, None]) * N + n[None, :]
    return (b * L + t) * N + n[None, :]


@triton.jit
def _fwd_kernel(
    u_ptr,
    dt_ptr,
    a_ptr,
    b_ptr,
    c_ptr,
    h0_ptr,
    y_ptr,
    hlast_ptr,
    ckpt_ptr,
    L,
    Dm,
    N,
    n_chunks,
    DSI: tl.constexpr,
    CPLX: tl.constexpr,
    B_FULL: tl.constexpr,
    C_FULL: tl.constexpr,
    CHUNK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    dmask = d < Dm
    m2 = dmask[:, None] & (n < N)[None, :]
    a_off = d[:, None] * N + n[None, :]
    ar, ai = _ld(a_ptr, a_off, m2, CPLX)
    st_off = (b * Dm + d[:, None]) * N + n[None, :]  # (Bt, Dm, N) states
    hr, hi = _ld(h0_ptr, st_off, m2, CPLX)
    for t in range(0, L):
        if t % CHUNK_T == 0:
            c_off = ((b * n_chunks + t // CHUNK_T) * Dm + d[:, None]) * N + n[None, :]
            _st(ckpt_ptr, c_off, hr, hi, m2, CPLX)
        x_off = (b * L + t) * Dm + d
        uu = tl.load(u_ptr + x_off, mask=dmask, other=0.0).to(tl.float32)
        dt = tl.load(dt_ptr + x_off, mask=dmask, other=0.0).to(tl.float32)
        s = dt * uu if DSI else uu
        er, ei = _decay(dt[:, None], ar, ai, CPLX)
        bm = m2 if B_FULL else (n < N)[None, :]
        br, bi = _ld(b_ptr, _bc_offsets(b, t, d, n, L, Dm, N, B_FULL), bm, CPLX)
        cm = m2 if C_FULL else (n < N)[None, :]
        cr, ci = _ld(c_ptr, _bc_offsets(b, t, d, n, L, Dm, N, C_FULL), cm, CPLX)
        if CPLX:
            nr = er * hr - ei * hi + s[:, None] * br
            hi = er * hi + ei * hr + s[:, None] * bi
            hr = nr
            y = tl.sum(cr * hr - ci * hi, axis=1)
        else:
            hr = er * hr + s[:, None] * br
            y = tl.sum(cr * hr, axis=1)
        tl.store(y_ptr + x_off, y, mask=dmask)
    _st(hlast_ptr, st_off, hr, hi, m2, CPLX)


@triton.jit
def _bwd_kernel(
    u_ptr,
    dt_ptr,
    a_ptr,
    b_ptr,
    c_ptr,
    ckpt_ptr,
    gy_ptr,
    ghl_ptr,
    scr_ptr,
    gu_ptr,
    gdt_ptr,
    ga_ptr,
    gb_ptr,
    gc_ptr,
    gh0_ptr,
    L,
    Dm,
    N,
    n_chunks,
    n_dblk,
    DSI: tl.constexpr,
    CPLX: tl.constexpr,
    B_FULL: tl.constexpr,
    C_FULL: tl.constexpr,
    CHUNK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    pd = tl.program_id(1)
    d = pd * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    dmask = d < Dm
    nmask = (n < N)[None, :]
    m2 = dmask[:, None] & nmask
    a_off = d[:, None] * N + n[None, :]
    ar, ai = _ld(a_ptr, a_off, m2, CPLX)
    st_off = (b * Dm + d[:, None]) * N + n[None, :]
    gr, gi = _ld(ghl_ptr, st_off, m2, CPLX)  # gradient wrt the current state
    gar = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)  # partial gradient of A
    gai = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    # scratch: (Bt, CHUNK_T + 1, Dm, N) states h_{t0-1} .. h_{t1-1} of the current chunk
    for cc in range(0, n_chunks):
        c = n_chunks - 1 - cc
        t0 = c * CHUNK_T
        nt = tl.minimum(CHUNK_T, L - t0)
        c_off = ((b * n_chunks + c) * Dm + d[:, None]) * N + n[None, :]
        hr, hi = _ld(ckpt_ptr, c_off, m2, CPLX)
        _st(scr_ptr, (b * (CHUNK_T + 1) * Dm + d[:, None]) * N + n[None, :], hr, hi, m2, CPLX)
        for i in range(0, nt):  # recompute the chunk's states
            t = t0 + i
            x_off = (b * L + t) * Dm + d
            uu = tl.load(u_ptr + x_off, mask=dmask, other=0.0).to(tl.float32)
            dt = tl.load(dt_ptr + x_off, mask=dmask, other=0.0).to(tl.float32)
            s = dt * uu if DSI else uu
            er, ei = _decay(dt[:, None], ar, ai, CPLX)
            bm = m2 if B_FULL else nmask
            br, bi = _ld(b_ptr, _bc_offsets(b, t, d, n, L, Dm, N, B_FULL), bm, CPLX)
            if CPLX:
                nr = er * hr - ei * hi + s[:, None] * br
                hi = er * hi + ei * hr + s[:, None] * bi
                hr = nr
            else:
                hr = er * hr + s[:, None] * br
            s_off = ((b * (CHUNK_T + 1) + i + 1) * Dm + d[:, None]) * N + n[None, :]
            _st(scr_ptr, s_off, hr, hi, m2, CPLX)
        tl.debug_barrier()  # the scratch states are read back below
        for j in range(0, nt):  # adjoint scan backwards through the chunk
            i = nt - 1 - j
            t = t0 + i
            x_off = (b * L + t) * Dm + d
            uu = tl.load(u_ptr + x_off, mask=dmask, other=0.0).to(tl.float32)
            dt = tl.load(dt_ptr + x_off, mask=dmask, other=0.0).to(tl.float32)
            gy = tl.load(gy_ptr + x_off, mask=dmask, other=0.0).to(tl.float32)
            s = dt * uu if DSI else uu
            h_off = ((b * (CHUNK_T + 1) + i + 1) * Dm + d[:, None]) * N + n[None, :]
            hr, hi = _ld(scr_ptr, h_off, m2, CPLX)  # h_t
            p_off = ((b * (CHUNK_T + 1) + i) * Dm + d[:, None]) * N + n[None, :]
            pr, pi = _ld(scr_ptr, p_off, m2, CPLX)  # h_{t-1}
            bm = m2 if B_FULL else nmask
            b_off = _bc_offsets(b, t, d, n, L, Dm, N, B_FULL)
            br, bi = _ld(b_ptr, b_off, bm, CPLX)
            cm = m2 if C_FULL else nmask
            cq_off = _bc_offsets(b, t, d, n, L, Dm, N, C_FULL)
            cr, ci = _ld(c_ptr, cq_off, cm, CPLX)
            er, ei = _decay(dt[:, None], ar, ai, CPLX)
            # y_t = Re(sum_n C h): grad wrt h_t += gy conj(C) ; grad wrt C = gy conj(h)
            gr = gr + gy[:, None] * cr
            gi = gi - gy[:, None] * ci
            gcr = gy[:, None] * hr
            gci = -gy[:, None] * hi
            # input term s * B: grad wrt B = s * g ; grad wrt s = Re(sum_n g conj(B))
            gbr = s[:, None] * gr
            gbi = s[:, None] * gi
            g_s = tl.sum(gr * br + gi * bi, axis=1)
            # decay a = exp(dt A): grad wrt x = dt A is g conj(h_{t-1}) conj(a)
            qr = gr * pr + gi * pi  # g * conj(h_{t-1})
            qi = gi * pr - gr * pi
            xr = qr * er + qi * ei  # * conj(a)
            xi = qi * er - qr * ei
            g_dt = tl.sum(xr * ar + xi * ai, axis=1)  # Re(sum_n gx conj(A))
            gar += xr * dt[:, None]
            gai += xi * dt[:, None]
            if DSI:
                g_u = g_s * dt
                g_dt = g_dt + g_s * uu
            else:
                g_u = g_s
            tl.store(gu_ptr + x_off, g_u, mask=dmask)
            tl.store(gdt_ptr + x_off, g_dt, mask=dmask)
            if B_FULL:
                _st(gb_ptr, b_off, gbr, gbi, m2, CPLX)
            else:  # partial over this channel block: (Bt, L, n_dblk, N)
                pb_off = ((b * L + t) * n_dblk + pd) * N + n
                _st(gb_ptr, pb_off, tl.sum(gbr, axis=0), tl.sum(gbi, axis=0), n < N, CPLX)
            if C_FULL:
                _st(gc_ptr, cq_off, gcr, gci, m2, CPLX)
            else:
                pc_off = ((b * L + t) * n_dblk + pd) * N + n
                _st(gc_ptr, pc_off, tl.sum(gcr, axis=0), tl.sum(gci, axis=0), n < N, CPLX)
            # carry to h_{t-1}: g <- conj(a) g
            nr = er * gr + ei * gi
            gi = er * gi - ei * gr
            gr = nr
    _st(gh0_ptr, st_off, gr, gi, m2, CPLX)
    _st(ga_ptr, st_off, gar, gai, m2, CPLX)  # partial over batch: (Bt, Dm, N)


def _block_sizes(Bt, Dm, N):
    """Channels per program (BLOCK_D) and padded states (BLOCK_N).

    Smaller channel blocks give more programs (the time loop is sequential inside each),
    so BLOCK_D shrinks until there are about 256 programs (2 per SM on an H100). Not tuned
    on hardware yet.
    """
    BLOCK_N = max(triton.next_power_of_2(N), 2)
    BLOCK_D = max(2, min(triton.next_power_of_2(Dm), max(2, 2048 // BLOCK_N), 64))
    while BLOCK_D > 4 and Bt * triton.cdiv(Dm, BLOCK_D) < 256:
        BLOCK_D //= 2
    return BLOCK_D, BLOCK_N


def _planes(x, cplx):
    """Contiguous tensor for the kernel: complex -> interleaved (…, 2) real view."""
    x = x.contiguous()
    return torch.view_as_real(x) if cplx else x


class _TritonScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, h0, dsi):
        # u, delta : (Bt, L, Dm) real ; A : (Dm, N) ; B, C : (Bt, L, [Dm,] N) ; h0 : (Bt, Dm, N)
        Bt, L, Dm = u.shape
        N = A.shape[1]
        cplx = A.is_complex()
        u, delta = u.contiguous(), delta.contiguous()
        n_chunks = triton.cdiv(L, CHUNK)
        y = torch.empty_like(u)
        h_last = torch.empty_like(h0)
        ckpt = torch.empty(Bt, n_chunks, Dm, N, dtype=h0.dtype, device=u.device)
        BLOCK_D, BLOCK_N = _block_sizes(Bt, Dm, N)
        grid = (Bt, triton.cdiv(Dm, BLOCK_D))
        _fwd_kernel[grid](
            u,
            delta,
            _planes(A, cplx),
            _planes(B, cplx),
            _planes(C, cplx),
            _planes(h0, cplx),
            y,
            _planes(h_last, cplx),
            _planes(ckpt, cplx),
            L,
            Dm,
            N,
            n_chunks,
            DSI=dsi,
            CPLX=cplx,
            B_FULL=B.dim() == 4,
            C_FULL=C.dim() == 4,
            CHUNK_T=CHUNK,
            BLOCK_D=BLOCK_D,
            BLOCK_N=BLOCK_N,
        )
        ctx.save_for_backward(u, delta, A, B, C, ckpt)
        ctx.dsi = dsi
        return y, h_last

    @staticmethod
    def backward(ctx, gy, gh_last):
        u, delta, A, B, C, ckpt = ctx.saved_tensors
        Bt, L, Dm = u.shape
        N = A.shape[1]
        cplx = A.is_complex()
        n_chunks = ckpt.shape[1]
        BLOCK_D, BLOCK_N = _block_sizes(Bt, Dm, N)
        n_dblk = triton.cdiv(Dm, BLOCK_D)
        gy = torch.zeros_like(u) if gy is None else gy.contiguous()
        if gh_last is None:
            gh_last = torch.zeros(Bt, Dm, N, dtype=ckpt.dtype, device=u.device)
        scratch = torch.empty(Bt, CHUNK + 1, Dm, N, dtype=ckpt.dtype, device=u.device)
        g_u, g_delta = torch.empty_like(u), torch.empty_like(u)
        g_A = torch.empty(Bt, Dm, N, dtype=A.dtype, device=u.device)
        B_FULL, C_FULL = B.dim() == 4, C.dim() == 4
        g_B = torch.empty(B.shape if B_FULL else (Bt, L, n_dblk, N), dtype=B.dtype, device=u.device)
        g_C = torch.empty(C.shape if C_FULL else (Bt, L, n_dblk, N), dtype=C.dtype, device=u.device)
        g_h0 = torch.empty(Bt, Dm, N, dtype=ckpt.dtype, device=u.device)
        _bwd_kernel[(Bt, n_dblk)](
            u,
            delta,
            _planes(A, cplx),
            _planes(B, cplx),
            _planes(C, cplx),
            _planes(ckpt, cplx),
            gy,
            _planes(gh_last, cplx),
            _planes(scratch, cplx),
            g_u,
            g_delta,
            _planes(g_A, cplx),
            _planes(g_B, cplx),
            _planes(g_C, cplx),
            _planes(g_h0, cplx),
            L,
            Dm,
            N,
            n_chunks,
            n_dblk,
            DSI=ctx.dsi,
            CPLX=cplx,
            B_FULL=B_FULL,
            C_FULL=C_FULL,
            CHUNK_T=CHUNK,
            BLOCK_D=BLOCK_D,
            BLOCK_N=BLOCK_N,
        )
        if not B_FULL:
            g_B = g_B.sum(2)
        if not C_FULL:
            g_C = g_C.sum(2)
        return g_u, g_delta, g_A.sum(0), g_B, g_C, g_h0, None


def selective_scan_triton(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    *,
    h0=None,
    delta_scales_input=True,
    return_last_state=False,
):
    """Selective scan with the Triton kernels; arguments as ``selective_scan``.

    Computes in float32 inside the kernel (inputs in float64 are accepted and rounded);
    inputs are assumed validated by the public function.
    """
    Bt, L, Dm = u.shape
    N = A.shape[-1]
    cplx = A.is_complex() or B.is_complex() or C.is_complex()
    cplx = cplx or (h0 is not None and h0.is_complex())
    rdt = u.dtype
    kdt = torch.complex64 if cplx else torch.float32
    A, B, C = A.to(kdt), B.to(kdt), C.to(kdt)
    h0 = torch.zeros(Bt, Dm, N, dtype=kdt, device=u.device) if h0 is None else h0.to(kdt)
    y, h_last = _TritonScanFn.apply(u.float(), delta.float(), A, B, C, h0, bool(delta_scales_input))
    y = y.to(rdt)
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * torch.nn.functional.silu(z)
    if return_last_state:
        out_dt = (
            h_last.dtype if rdt == torch.float32 else (torch.complex128 if cplx else torch.float64)
        )
        return y, h_last.to(out_dt)
    return y
