"""Fast CPU scans: chunked, with recomputation in backward.

Design, chosen by measurement on the 2-core development machine (AMD EPYC, torch 2.13,
float32; Mamba sizes Bt=16, L=1024, Dm=128, N=16, one layer): the sequence is cut into
chunks of ``DEFAULT_CHUNK`` = 16 steps. Inside a chunk, everything that does not depend
on the previous state is one batched tensor op over the chunk: the decays
``exp(delta * A)``, the input terms ``delta * B * u``, the contraction with C and, in
backward, every gradient. What stays sequential is one in-place ``addcmul_`` per time
step on a (Bt, N, Dm) block (128 KiB, in L2 cache). Measured single-thread CPU time per
layer, forward / backward: about 40 / 150 ms (chunk 16), against 50 / 200 ms at chunk 32
and 75 / 270 ms at chunk 64 (larger chunks fall out of cache).

Choices that mattered (each measured):

- time-major (T, Bt, N, Dm) layout: each step is one contiguous block and every sum over
  the state index n runs over a non-inner axis (4x faster than summing an inner axis of
  16); contractions with B and C of shape (Bt, L, N) are row-vector matmuls;
- ``exp2`` of a pre-scaled exponent instead of ``exp`` (3x faster; error ~1e-6 relative
  at exponents of -20, where the decay is ~2e-9 anyway), and ``torch.polar`` instead of a
  complex ``exp`` (25x faster);
- chunk-sized temporaries in a few buffers allocated once per call (a fresh large
  allocation page-faults on every use in this VM);
- the ops run on one intra-op thread (``SCAN_THREADS``): they are small, and with 2
  OpenMP threads the same scan ran 2-30x slower in wall time on the shared 2-core machine
  (fork/join and spin-waiting per op). Batch slices on Python threads (``SCAN_WORKERS``)
  are supported but measured slower here (the per-step Python work serialises on the GIL);
- rejected: a log-space cumulative-sum scan inside chunks (the cumulative decay overflows
  in float32 for strong decays, and needs more full passes) and a doubling
  (Hillis-Steele) scan (log2(T) full passes; the work is memory bound).

Memory: the autograd function saves only its inputs and the state at each chunk boundary
(L / chunk states of shape (Bt, N, Dm)); backward recomputes a chunk's states from its
boundary state, then runs the reverse-time adjoint scan through the chunk. Extra memory
is a few (chunk, Bt, N, Dm) buffers, independent of L.

Gradients follow PyTorch's complex convention (conjugate Wirtinger): for a holomorphic
step ``w = f(v)`` the gradient flows as ``grad_v = grad_w * conj(f'(v))``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["DEFAULT_CHUNK", "scan_chunked", "selective_scan_chunked"]

DEFAULT_CHUNK = 16


def _conj(x):
    return x.conj().resolve_conj() if x.is_complex() else x


def _seq_scan_(h, a, h_prev):
    """In place: h[i] <- a[i] * h[i-1] + h[i] for i = 0..T-1 (h[-1] := h_prev)."""
    # h, a : (T, ...) time-major, contiguous ; h_prev : (...)
    h[0].addcmul_(a[0], h_prev)
    for i in range(1, h.shape[0]):
        h[i].addcmul_(a[i], h[i - 1])


def _seq_scan_rev_(g, ac):
    """In place: g[i] <- g[i] + ac[i+1] * g[i+1] for i = T-2..0 (the adjoint scan)."""
    for i in range(g.shape[0] - 2, -1, -1):
        g[i].addcmul_(ac[i + 1], g[i + 1])


class _SelectiveScanFn(torch.autograd.Function):
    """Core of the selective scan: y_t = Re(C_t . h_t) and h_L, without D and z.

    Each batch slice (one by default, see ``SCAN_WORKERS`` and :func:`_run_parts`) runs
    :func:`_forward_part` / :func:`_backward_part`.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, h0, delta_scales_input, chunk):
        # u, delta : (Bt, L, Dm) real ; A : (Dm, N) ; B, C : (Bt, L, [Dm,] N)
        # h0 : (Bt, N, Dm) (internal layout) ; A, B, C, h0 share the state dtype.
        parts = _batch_slices(u.shape[0])
        args = [
            (u[sl], delta[sl], A, B[sl], C[sl], h0[sl], delta_scales_input, chunk) for sl in parts
        ]
        outs = _run_parts(_forward_part, args)
        y = _cat([o[0] for o in outs], 0)
        ckpt = _cat([o[1] for o in outs], 1)
        h_last = _cat([o[2] for o in outs], 0)
        ctx.save_for_backward(u, delta, A, B, C, ckpt)
        ctx.delta_scales_input = delta_scales_input
        ctx.chunk = chunk
        return y, h_last

    @staticmethod
    def backward(ctx, gy, gh_last):
        u, delta, A, B, C, ckpt = ctx.saved_tensors
        if gy is None:
            gy = torch.zeros_like(u)
        if gh_last is None:
            gh_last = torch.zeros_like(ckpt[0])
        parts = _batch_slices(u.shape[0])
        args = [
            (
                u[sl],
                delta[sl],
                A,
                B[sl],
                C[sl],
                ckpt[:, sl],
                gy[sl],
                gh_last[sl],
                ctx.delta_scales_input,
                ctx.chunk,
            )
            for sl in parts
        ]
        outs = _run_parts(_backward_part, args)
        g_u, g_delta, g_B, g_C, g_h0 = (_cat([o[i] for o in outs], 0) for i in (0, 1, 3, 4, 5))
        g_A = outs[0][2]
        for o in outs[1:]:
            g_A = g_A + o[2]
        return g_u, g_delta, g_A, g_B, g_C, g_h0, None, None


def _cat(xs, dim):
    return xs[0] if len(xs) == 1 else torch.cat(xs, dim)


def _forward_part(u, delta, A, B, C, h0, dsi, chunk):
    """Forward over one batch slice; returns y (Bt, L, Dm), checkpoints, h_L.

    States are laid out (T, Bt, N, Dm): time-major so each step is one contiguous block,
    and channels innermost so that every sum over the state index n is a vectorised
    reduction over a non-inner axis (a sum over an inner axis of 16 is ~4x slower here).
    All chunk-sized temporaries live in a few buffers kept between calls (see
    :class:`_Workspace`).
    """
    Bt, L, Dm = u.shape
    dT, sT = _time_major_inputs(u, delta, dsi)  # (L, Bt, Dm)
    At2 = _exp2_form(A.t())  # (N, Dm)
    ws = _Workspace((min(chunk, L), Bt, A.shape[1], Dm), A.dtype, u.device, ("a", "hs"))
    y = torch.empty(Bt, L, Dm, dtype=u.dtype, device=u.device)
    starts = list(range(0, L, chunk))
    ckpt = torch.empty(len(starts), *h0.shape, dtype=h0.dtype, device=u.device)
    h = h0
    for c, t0 in enumerate(starts):
        t1 = min(t0 + chunk, L)
        ckpt[c] = h
        a = _decay(dT[t0:t1], At2, ws.get("a", t1 - t0), ws)  # (T, Bt, N, Dm)
        hs = ws.get("hs", t1 - t0)
        torch.mul(sT[t0:t1].unsqueeze(2), _chunk_of(B, t0, t1), out=hs)
        _seq_scan_(hs, a, ckpt[c])
        y[:, t0:t1] = _re_contract(hs, _chunk_of(C, t0, t1)).transpose(0, 1)
        h = hs[-1]  # a view into the workspace: copied into ckpt before reuse
    return y, ckpt, h.clone()


def _backward_part(u, delta, A, B, C, ckpt, gy, gh_last, dsi, chunk):
    """Backward over one batch slice: recompute each chunk, then the adjoint scan.

    Returns the gradients (u, delta, A, B, C, h0) of this slice (A's is partial).
    """
    Bt, L, Dm = u.shape
    N = A.shape[1]
    cplx = A.is_complex()
    B3, C3 = B.dim() == 3, C.dim() == 3
    dT, sT = _time_major_inputs(u, delta, dsi)  # (L, Bt, Dm)
    At = A.t()  # (N, Dm)
    Atc = _conj(At)
    At2, At2c = _exp2_form(At), _exp2_form(Atc)
    gyT = gy.transpose(0, 1).contiguous()  # (L, Bt, Dm)
    g_sT = torch.empty(L, Bt, Dm, dtype=u.dtype, device=u.device)
    g_dT = torch.empty(L, Bt, Dm, dtype=u.dtype, device=u.device)
    g_BT = torch.empty((L, Bt, *B.shape[2:]), dtype=B.dtype, device=B.device)
    g_CT = torch.empty((L, Bt, *C.shape[2:]), dtype=C.dtype, device=C.device)
    g_At = torch.zeros_like(At)  # (N, Dm)
    names = ("a", "hs", "g", "gx", "tmp") + (("ac",) if cplx else ())
    ws = _Workspace((min(chunk, L), Bt, N, Dm), A.dtype, u.device, names)
    gcarry = gh_last
    starts = list(range(0, L, chunk))
    for c in range(len(starts) - 1, -1, -1):
        t0 = starts[c]
        t1 = min(t0 + chunk, L)
        T = t1 - t0
        dt, st, gyc = dT[t0:t1], sT[t0:t1], gyT[t0:t1]  # (T, Bt, Dm) real
        dtx, stx, gyx = dt.unsqueeze(2), st.unsqueeze(2), gyc.unsqueeze(2)  # (T, Bt, 1, Dm)
        Bc, Cc = _chunk_of(B, t0, t1), _chunk_of(C, t0, t1)  # (T, Bt, N, 1|Dm)
        tmp = ws.get("tmp", T)
        # recompute the chunk from its boundary state: decays a and states hs, (T, Bt, N, Dm)
        h_before = ckpt[c]
        a = _decay(dt, At2, ws.get("a", T), ws)
        hs = ws.get("hs", T)
        torch.mul(stx, Bc, out=hs)
        _seq_scan_(hs, a, h_before)
        ac = _decay(dt, At2c, ws.get("ac", T), ws) if cplx else a  # conj(a)
        # gradient wrt C from y = Re(sum_n C h): gy * conj(h)
        if C3:  # sum over channels: (T Bt, N, Dm) @ (T Bt, Dm, 1), one matmul
            hv = _conj(hs).reshape(T * Bt, N, Dm)
            gyv = gyc.reshape(T * Bt, Dm, 1).to(hv.dtype)
            g_CT[t0:t1] = torch.bmm(hv, gyv).reshape(T, Bt, N)
        else:
            torch.mul(_conj(hs), gyx, out=tmp)
            g_CT[t0:t1] = tmp.transpose(2, 3)
        # gradient wrt the states from the output: gy * conj(C), then the adjoint scan
        g = ws.get("g", T)
        torch.mul(gyx, _conj(Cc), out=g)
        g[-1] += gcarry
        _seq_scan_rev_(g, ac)  # g : total gradient wrt h_t (= wrt the input term)
        gcarry = ac[0] * g[0]  # gradient wrt the state before the chunk
        # gradient wrt x = delta * A, through a = exp(x): g * conj(h_{t-1}) * conj(a)
        gx = ws.get("gx", T)
        if T > 1:
            torch.mul(g[1:], _conj(hs[:-1]), out=gx[1:])
        torch.mul(g[0], _conj(h_before), out=gx[0])
        gx.mul_(ac)
        torch.mul(gx, Atc, out=tmp)
        g_dx = tmp.sum(2)  # (T, Bt, Dm)
        g_dT[t0:t1] = g_dx.real if cplx else g_dx
        torch.mul(gx, dtx, out=tmp)
        g_At += tmp.sum((0, 1))
        # gradient wrt the input term s * B
        if B3:
            g_s = torch.matmul(_conj(Bc).transpose(-1, -2), g).squeeze(2)
            # gradient wrt B: sum over channels of g * s, (T Bt, N, Dm) @ (T Bt, Dm, 1)
            sv = st.reshape(T * Bt, Dm, 1).to(g.dtype)
            g_BT[t0:t1] = torch.bmm(g.reshape(T * Bt, N, Dm), sv).reshape(T, Bt, N)
        else:
            torch.mul(g, _conj(Bc), out=tmp)
            g_s = tmp.sum(2)
            torch.mul(g, stx, out=tmp)
            g_BT[t0:t1] = tmp.transpose(2, 3)
        g_sT[t0:t1] = g_s.real if cplx else g_s
    if dsi:
        g_u = (g_sT * dT).transpose(0, 1)
        g_delta = g_dT.addcmul_(g_sT, u.transpose(0, 1)).transpose(0, 1)
    else:
        g_u = g_sT.transpose(0, 1)
        g_delta = g_dT.transpose(0, 1)
    return g_u, g_delta, g_At.t(), g_BT.transpose(0, 1), g_CT.transpose(0, 1), gcarry


class _Workspace:
    """Named (T, ...) buffers; ``get(name, T)`` returns the first T steps of one.

    The buffers are kept between calls (per thread, shape and dtype; see ``_BUFFERS``):
    only temporaries live here, never a tensor that leaves the call, and a fresh large
    allocation page-faults on every use in this VM (about 2500 faults, 2-5 ms, per
    backward call at Mamba's CPU sizes).
    """

    def __init__(self, shape, dtype, device, names):
        self.shape, self.dtype, self.device = tuple(shape), dtype, device
        self.bufs = {n: _buffer(n, self.shape, dtype, device) for n in names}

    def get(self, name, T):
        if name not in self.bufs:
            real = self.dtype.to_real() if name.startswith("r_") else self.dtype
            self.bufs[name] = _buffer(name, self.shape, real, self.device)
        return self.bufs[name][:T]


#: Scratch buffers kept between calls, keyed by (thread, name, shape, dtype, device);
#: emptied when they would exceed ``_BUFFER_LIMIT`` bytes (e.g. after many shapes).
_BUFFERS: dict = {}
_BUFFER_LIMIT = 256 * 2**20


def _buffer(name, shape, dtype, device) -> torch.Tensor:
    import threading

    key = (threading.get_ident(), name, shape, dtype, str(device))
    buf = _BUFFERS.get(key)
    if buf is None:
        buf = torch.empty(shape, dtype=dtype, device=device)
        used = sum(b.numel() * b.element_size() for b in _BUFFERS.values())
        if used + buf.numel() * buf.element_size() > _BUFFER_LIMIT:
            _BUFFERS.clear()
        _BUFFERS[key] = buf
    return buf


#: Number of batch slices run concurrently on Python threads (None: torch's thread count).
SCAN_WORKERS: int | None = 1
#: Intra-op threads while the scan runs (None: leave torch's setting).
SCAN_THREADS: int | None = 1
_POOL: list = []  # the lazily created ThreadPoolExecutor


def _no_grad_call(fn, args):
    with torch.no_grad():  # grad mode is thread-local; autograd.Function disables it here
        return fn(*args)


def _batch_slices(Bt):
    """Split the batch into up to ``SCAN_WORKERS`` contiguous slices."""
    n = SCAN_WORKERS if SCAN_WORKERS is not None else torch.get_num_threads()
    n = max(1, min(int(n), Bt))
    edges = [round(i * Bt / n) for i in range(n + 1)]
    return [slice(edges[i], edges[i + 1]) for i in range(n)]


def _run_parts(fn, argsets):
    """Run ``fn(*args)`` for each batch slice, concurrently, each on one intra-op thread.

    Measured on the 2-core development machine: the scan's ops are small (one chunk, or
    one time step), so OpenMP's fork/join per op costs more than it gains, and much more
    when the cores are shared with other processes (2 OpenMP threads ran the scan 2-5x
    slower in wall time than 1 under load). Independent batch slices on plain threads
    (torch releases the GIL inside ops) use both cores without a barrier per op.
    """
    prev = torch.get_num_threads()
    want = prev if SCAN_THREADS is None else SCAN_THREADS
    if prev != want:
        torch.set_num_threads(want)
    try:
        if len(argsets) == 1:
            return [fn(*argsets[0])]
        if not _POOL or _POOL[0]._max_workers < len(argsets) - 1:
            from concurrent.futures import ThreadPoolExecutor

            _POOL[:] = [ThreadPoolExecutor(len(argsets) - 1, thread_name_prefix="ws-scan")]
        futures = [_POOL[0].submit(_no_grad_call, fn, args) for args in argsets[1:]]
        first = fn(*argsets[0])
        return [first] + [f.result() for f in futures]
    finally:
        if torch.get_num_threads() != prev:
            torch.set_num_threads(prev)


_LOG2E = math.log2(math.e)


def _time_major_inputs(u, delta, delta_scales_input):
    """delta and the input scale s (delta * u or u), each (L, Bt, Dm) contiguous."""
    dT = delta.transpose(0, 1).contiguous()
    uT = u.transpose(0, 1)  # u may come channels-first from a conv
    if not delta_scales_input:
        return dT, uT.contiguous()  # read only (may alias u)
    sT = torch.empty(dT.shape, dtype=u.dtype, device=u.device)
    return dT, torch.mul(uT, dT, out=sT)


def _chunk_of(X, t0, t1):
    """Time slice of B or C as (T, Bt, N, 1) from (Bt, L, N) or (T, Bt, N, Dm) from 4-D."""
    if X.dim() == 3:
        return X[:, t0:t1].transpose(0, 1).unsqueeze(-1)
    return X[:, t0:t1].permute(1, 0, 3, 2)


def _exp2_form(At):
    """A scaled for exp2: real A -> A * log2(e); complex A -> (Re(A) * log2(e), Im(A))."""
    if At.is_complex():
        return (At.real * _LOG2E).contiguous(), At.imag.contiguous()
    return (At * _LOG2E).contiguous()


def _decay(dt, At2, out, ws):
    """exp(dt * A) for dt (T, Bt, Dm) real and A^T (N, Dm) in exp2 form, into ``out``.

    exp2 of a pre-scaled exponent is about 3x faster than torch.exp here, and
    ``torch.polar`` is about 25x faster than a complex torch.exp.
    """
    dtx = dt.unsqueeze(2)  # (T, Bt, 1, Dm)
    if isinstance(At2, tuple):
        T = dt.shape[0]
        mag, ang = ws.get("r_mag", T), ws.get("r_ang", T)
        torch.mul(dtx, At2[0], out=mag).exp2_()
        torch.mul(dtx, At2[1], out=ang)
        return torch.polar(mag, ang, out=out)
    return torch.mul(dtx, At2, out=out).exp2_()


def _re_contract(hs, Cc):
    """Re(sum_n C h) : hs (T, Bt, N, Dm), Cc (T, Bt, N, 1|Dm) -> (T, Bt, Dm) real."""
    if Cc.shape[-1] == 1:
        y = torch.matmul(Cc.transpose(-1, -2), hs).squeeze(2)  # row-vector gemv, fast
    else:
        y = (hs * Cc).sum(2)
    return y.real if y.is_complex() else y


def selective_scan_chunked(
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
    chunk=None,
):
    """Chunked selective scan; arguments as :func:`wavescope.models.scan.selective_scan`.

    ``chunk`` sets the number of time steps per chunk (memory ~ chunk * Bt * Dm * N);
    None uses the module's ``DEFAULT_CHUNK``.
    Inputs are assumed validated by the public function.
    """
    from wavescope.models.scan.cpu_kernel import scan_applies, selective_scan_kernel

    # real float32 CPU scans with shared B and C: the compiled kernel, where it builds
    if scan_applies(u, A, B, C, h0):
        y, h_last = selective_scan_kernel(u, delta, A, B, C, D, z, h0, delta_scales_input)
        return (y, h_last) if return_last_state else y
    chunk = DEFAULT_CHUNK if chunk is None else chunk
    Bt, L, Dm = u.shape
    N = A.shape[-1]
    cplx = A.is_complex() or B.is_complex() or C.is_complex()
    cplx = cplx or (h0 is not None and h0.is_complex())
    sdt = (torch.complex128 if u.dtype == torch.float64 else torch.complex64) if cplx else u.dtype
    A, B, C = A.to(sdt), B.to(sdt), C.to(sdt)
    if h0 is None:
        h0 = torch.zeros(Bt, Dm, N, dtype=sdt, device=u.device)
    else:
        h0 = h0.to(sdt)
    y, h_last = _SelectiveScanFn.apply(
        u, delta, A, B, C, h0.transpose(1, 2), bool(delta_scales_input), int(chunk)
    )
    h_last = h_last.transpose(1, 2)  # (Bt, N, Dm) -> (Bt, Dm, N)
    return _skip_and_gate(y, h_last, u, D, z, return_last_state)


def _skip_and_gate(y, h_last, u, D, z, return_last_state):
    """y + D u, gated by silu(z); with h_last if asked."""
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * torch.nn.functional.silu(z)
    return (y, h_last) if return_last_state else y


class _ScanFn(torch.autograd.Function):
    """h_t = a_t * h_{t-1} + b_t on (Bt, L, ...) tensors; saves a, h0 and the states."""

    @staticmethod
    def forward(ctx, a, b, h0):
        # a, b : (Bt, L, ...) same dtype ; h0 : (Bt, ...)
        aT = a.transpose(0, 1).contiguous()  # (L, Bt, ...) read only
        hT = _time_major_copy(b)  # scanned in place: must never alias b
        _seq_scan_(hT, aT, h0)
        ctx.save_for_backward(aT, hT, h0)
        return hT.transpose(0, 1)

    @staticmethod
    def backward(ctx, gh):
        aT, hT, h0 = ctx.saved_tensors
        g = _time_major_copy(gh)  # (L, Bt, ...), scanned in place
        ac = _conj(aT)
        _seq_scan_rev_(g, ac)  # g : gradient wrt h_t in total = wrt b_t
        g_a = torch.empty_like(g)
        torch.mul(g[1:], _conj(hT[:-1]), out=g_a[1:])
        torch.mul(g[0], _conj(h0), out=g_a[0])
        g_h0 = ac[0] * g[0]
        return g_a.transpose(0, 1), g.transpose(0, 1), g_h0


def _time_major_copy(x):
    """A fresh contiguous (L, Bt, ...) copy of x (Bt, L, ...); never a view of x."""
    out = torch.empty((x.shape[1], x.shape[0], *x.shape[2:]), dtype=x.dtype, device=x.device)
    return out.copy_(x.transpose(0, 1))


def scan_chunked(a, b, h0=None):
    """``h_t = a_t * h_{t-1} + b_t`` with a custom backward (reverse-time adjoint scan).

    a, b : (Bt, L, ...) same shape and dtype ; h0 : (Bt, ...) or None. Returns (Bt, L, ...).
    """
    if h0 is None:
        h0 = torch.zeros_like(b[:, 0])
    return _ScanFn.apply(a, b, h0)
