"""Diagonal (selective) scans: one API, three backends.

``selective_scan`` runs the Mamba-style recurrence shared by Mamba, the shift-SSM and
v-Wave (all diagonal, possibly complex); ``scan`` runs the plain linear recurrence
``h_t = a_t * h_{t-1} + b_t``. Backends:

- ``"reference"``: a sequential loop in torch (:mod:`.reference`), the ground truth;
- ``"chunked"``: the fast CPU path (:mod:`.chunked`), a custom autograd function that
  recomputes states chunk by chunk in backward; runs on any device. Real float32 CPU
  scans with B, C shared by the channels (Mamba's) run a small compiled kernel instead
  (:mod:`.cpu_kernel`, built with the system C compiler on first use; the torch code
  is the fallback without one);
- ``"triton"``: a Triton GPU kernel with forward and backward (:mod:`.triton_scan`);
  needs CUDA tensors (or ``TRITON_INTERPRET=1`` set before triton is imported, which
  runs the kernel on CPU tensors for testing);
- ``"auto"``: Triton for CUDA tensors when triton imports, chunked otherwise.
"""

from __future__ import annotations

import os

import torch

from wavescope.core.validate import WaveInputError, check_option
from wavescope.models.scan.reference import scan_reference, selective_scan_reference

__all__ = [
    "BACKENDS",
    "scan",
    "scan_reference",
    "selective_scan",
    "selective_scan_reference",
    "triton_available",
]

BACKENDS = ("auto", "reference", "chunked", "triton")


def triton_available() -> bool:
    """True if ``import triton`` works (a GPU is still needed unless TRITON_INTERPRET=1)."""
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _resolve_backend(backend: str, device: torch.device) -> str:
    check_option("backend", backend, BACKENDS)
    if backend == "auto":
        return "triton" if device.type == "cuda" and triton_available() else "chunked"
    if backend == "triton":
        if not triton_available():
            raise WaveInputError(
                "backend='triton' needs the triton package, which does not import here; "
                "install triton (pip install 'wavescope[gpu]') or use backend='chunked'."
            )
        if device.type != "cuda" and not _interpret():
            raise WaveInputError(
                f"backend='triton' needs CUDA tensors, got tensors on {device}; move them "
                "to a GPU, use backend='chunked' on the CPU, or set TRITON_INTERPRET=1 "
                "before importing triton to run the kernel in Triton's CPU interpreter."
            )
    return backend


def _check_tensor(name, x, shapes, *, real_only=False):
    """Check that ``x`` is a floating/complex tensor whose shape is one of ``shapes``."""
    if not isinstance(x, torch.Tensor):
        raise WaveInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not (x.is_floating_point() or x.is_complex()):
        raise WaveInputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}.")
    if real_only and x.is_complex():
        raise WaveInputError(f"{name} must be real, got dtype {x.dtype}.")
    if tuple(x.shape) not in [tuple(s) for s in shapes]:
        want = " or ".join(str(tuple(s)) for s in shapes)
        raise WaveInputError(f"{name} has shape {tuple(x.shape)}; expected {want}.")


def _as_precision(x, real_dtype):
    """Cast ``x`` to ``real_dtype`` (or its complex twin if ``x`` is complex)."""
    if x is None:
        return None
    if x.is_complex():
        return x.to(torch.complex128 if real_dtype == torch.float64 else torch.complex64)
    return x.to(real_dtype)


def selective_scan(
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
    return_states=False,
    backend="auto",
):
    """Selective diagonal state-space scan (Mamba's S6 recurrence, real or complex).

    Parameters
    ----------
    u : Tensor, shape (Bt, L, Dm), real
        Input sequence (batch, time steps, channels).
    delta : Tensor, shape (Bt, L, Dm), real
        Step size (> 0) per time and channel; for v-Wave the velocity multiplier.
    A : Tensor, shape (Dm, N), real or complex
        Continuous-time diagonal state matrix (per channel and state).
    B, C : Tensor, shape (Bt, L, N) or (Bt, L, Dm, N), real or complex
        Input and output maps; the 3-D form is shared by all channels.
    D : Tensor, shape (Dm,), optional
        Skip connection.
    z : Tensor, shape (Bt, L, Dm), optional
        Gate: the output is multiplied by ``silu(z)``.
    h0 : Tensor, shape (Bt, Dm, N), optional
        Initial state (zeros if omitted); complex if any of A, B, C is complex.
    delta_scales_input : bool
        Whether the input term is ``delta_t * B_t * u_t`` (Mamba's Euler/ZOH-like
        discretisation) or ``B_t * u_t``.
    return_last_state : bool
        Also return the last state ``h_L``, shape (Bt, Dm, N).
    return_states : bool
        Also return every state ``h_1 .. h_L``, shape (Bt, L, Dm, N) (for probes; this
        materialises the full state tensor and uses :func:`scan`).
    backend : {"auto", "reference", "chunked", "triton"}
        Implementation; see the module docstring.

    Returns
    -------
    y : Tensor, shape (Bt, L, Dm), real
        Output, dtype of ``u``. If ``return_last_state`` or ``return_states`` is set, a
        tuple ``(y, h_last)``, ``(y, states)`` or ``(y, h_last, states)`` in that order.

    Notes
    -----
    Per batch b, channel d and state n::

        h_t = exp(delta_t * A) * h_{t-1} + (delta_t if delta_scales_input else 1) * B_t * u_t
        y_t = Re(sum_n C_t[n] * h_t[n]) + D * u_t ;   y_t <- y_t * silu(z_t) if z is given

    All backends agree with the reference to float32 rounding (tested at relative error
    <= 1e-5, relative error = max|x - ref| / max|ref|). The Triton backend computes in
    float32 whatever the input precision; the reference and chunked backends also run in
    float64 / complex128.

    Examples
    --------
    >>> import torch
    >>> Bt, L, Dm, N = 2, 50, 8, 4
    >>> u, delta = torch.randn(Bt, L, Dm), torch.rand(Bt, L, Dm) * 0.1
    >>> A = -torch.arange(1.0, N + 1).repeat(Dm, 1)  # (Dm, N), S4D-real
    >>> B, C = torch.randn(Bt, L, N), torch.randn(Bt, L, N)
    >>> y, h_last = selective_scan(u, delta, A, B, C, return_last_state=True)
    >>> y.shape, h_last.shape
    (torch.Size([2, 50, 8]), torch.Size([2, 8, 4]))
    """
    if not isinstance(u, torch.Tensor) or u.dim() != 3:
        shape = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
        raise WaveInputError(f"u has shape {shape}; expected (Bt, L, Dm).")
    _check_tensor("u", u, [u.shape], real_only=True)
    Bt, L, Dm = u.shape
    _check_tensor("delta", delta, [(Bt, L, Dm)], real_only=True)
    if not isinstance(A, torch.Tensor) or A.dim() != 2 or A.shape[0] != Dm:
        shape = tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__
        raise WaveInputError(f"A has shape {shape}; expected (Dm, N) = ({Dm}, N).")
    N = A.shape[1]
    _check_tensor("A", A, [(Dm, N)])
    _check_tensor("B", B, [(Bt, L, N), (Bt, L, Dm, N)])
    _check_tensor("C", C, [(Bt, L, N), (Bt, L, Dm, N)])
    if D is not None:
        _check_tensor("D", D, [(Dm,)], real_only=True)
    if z is not None:
        _check_tensor("z", z, [(Bt, L, Dm)], real_only=True)
    if h0 is not None:
        _check_tensor("h0", h0, [(Bt, Dm, N)])
    if L == 0:
        raise WaveInputError("u has length L=0; the scan needs at least one time step.")
    tensors = [t for t in (u, delta, A, B, C, D, z, h0) if t is not None]
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise WaveInputError(
            f"all tensors must be on one device, got {sorted(map(str, devices))}; move them "
            "with .to(device)."
        )
    rdt = u.dtype
    delta, A, B, C, D, z, h0 = (_as_precision(t, rdt) for t in (delta, A, B, C, D, z, h0))
    cplx = (
        A.is_complex() or B.is_complex() or C.is_complex() or (h0 is not None and h0.is_complex())
    )
    if h0 is not None and cplx and not h0.is_complex():
        h0 = h0.to(A.dtype if A.is_complex() else (B if B.is_complex() else C).dtype)
    backend = _resolve_backend(backend, u.device)
    kw = dict(
        h0=h0,
        delta_scales_input=delta_scales_input,
        return_last_state=return_last_state,
        return_states=return_states,
    )
    if backend == "reference" or return_states:
        if backend != "reference":
            return _selective_scan_states(u, delta, A, B, C, D, z, backend=backend, **kw)
        return selective_scan_reference(u, delta, A, B, C, D, z, **kw)
    if backend == "chunked":
        from wavescope.models.scan.chunked import selective_scan_chunked as impl
    else:
        from wavescope.models.scan.triton_scan import selective_scan_triton as impl
    kw.pop("return_states")
    return impl(u, delta, A, B, C, D, z, **kw)


def _selective_scan_states(
    u,
    delta,
    A,
    B,
    C,
    D,
    z,
    *,
    h0,
    delta_scales_input,
    return_last_state,
    return_states,
    backend,
):
    """Selective scan that materialises all states (Bt, L, Dm, N) through :func:`scan`."""
    # u, delta : (Bt, L, Dm) ; A : (Dm, N) ; B, C -> (Bt, L, Dm|1, N)
    Bx = B if B.dim() == 4 else B.unsqueeze(2)
    Cx = C if C.dim() == 4 else C.unsqueeze(2)
    s = delta * u if delta_scales_input else u
    a = torch.exp(delta.unsqueeze(-1) * A)  # (Bt, L, Dm, N)
    b = s.unsqueeze(-1) * Bx  # (Bt, L, Dm, N)
    a, b = _promote_pair(a, b, h0)
    hs = scan(a, b, h0, backend="chunked" if backend == "triton" else backend)
    y = (Cx * hs).sum(-1)
    y = y.real if y.is_complex() else y
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * torch.nn.functional.silu(z)
    out = [y]
    if return_last_state:
        out.append(hs[:, -1])
    if return_states:
        out.append(hs)
    return out[0] if len(out) == 1 else tuple(out)


def _promote_pair(a, b, h0=None):
    dt = torch.promote_types(a.dtype, b.dtype)
    if h0 is not None:
        dt = torch.promote_types(dt, h0.dtype)
    return a.to(dt), b.expand_as(a).to(dt) if b.shape != a.shape else b.to(dt)


def scan(a, b, h0=None, backend="auto"):
    """Linear diagonal recurrence ``h_t = a_t * h_{t-1} + b_t`` over time (dimension 1).

    Parameters
    ----------
    a, b : Tensor, shape (Bt, L, ...)
        Decay and input, same shape, real or complex (typically (Bt, L, Dm, N)).
    h0 : Tensor, shape (Bt, ...), optional
        State before the first step (zeros if omitted).
    backend : {"auto", "reference", "chunked", "triton"}
        ``"auto"`` and ``"triton"`` run the chunked torch path (which also runs on GPUs);
        the Triton kernel is specialised to :func:`selective_scan`.

    Returns
    -------
    h : Tensor, shape (Bt, L, ...)
        All states ``h_1 .. h_L``, dtype promoted from a, b and h0.
    """
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            raise WaveInputError(f"{name} must be a tensor of shape (Bt, L, ...), got {x!r:.80}.")
        if not (x.is_floating_point() or x.is_complex()):
            raise WaveInputError(f"{name} must be floating point, got dtype {x.dtype}.")
    if a.shape != b.shape:
        raise WaveInputError(
            f"a and b must have the same shape (Bt, L, ...), got {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )
    if a.shape[1] == 0:
        raise WaveInputError("a has length L=0; the scan needs at least one time step.")
    want = (a.shape[0], *a.shape[2:])
    if h0 is not None and (not isinstance(h0, torch.Tensor) or tuple(h0.shape) != want):
        got = tuple(h0.shape) if isinstance(h0, torch.Tensor) else type(h0).__name__
        raise WaveInputError(f"h0 has shape {got}; expected (Bt, ...) = {want}.")
    check_option("backend", backend, BACKENDS)
    a, b = _promote_pair(a, b, h0)
    if h0 is not None:
        h0 = h0.to(a.dtype)
    if backend == "reference":
        return scan_reference(a, b, h0)
    from wavescope.models.scan.chunked import scan_chunked

    return scan_chunked(a, b, h0)
