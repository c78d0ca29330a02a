"""Reference scans: plain sequential loops over time in torch, the ground truth.

Both functions walk the sequence one step at a time. The loop uses ``unbind`` over time
and ``torch.stack`` at the end, never per-step indexing of a tensor that needs a gradient
(indexing makes autograd's backward quadratic in the length L). They are slow but simple
and support real and complex dtypes and any autograd use.
"""

from __future__ import annotations

import torch

__all__ = ["scan_reference", "selective_scan_reference"]


def scan_reference(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None):
    """Linear recurrence ``h_t = a_t * h_{t-1} + b_t`` by a loop over time.

    Parameters
    ----------
    a, b : Tensor, shape (Bt, L, ...)
        Decay and input; time on dimension 1, any trailing shape (e.g. (Dm, N)); real or
        complex, broadcastable against each other.
    h0 : Tensor, shape (Bt, ...), optional
        State before the first step (zeros if omitted).

    Returns
    -------
    h : Tensor, shape (Bt, L, ...)
        All states ``h_1 .. h_L``.
    """
    a, b = torch.broadcast_tensors(a, b)
    h = h0 if h0 is not None else torch.zeros_like(b[:, 0])
    hs = []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):
        h = a_t * h + b_t
        hs.append(h)
    return torch.stack(hs, dim=1)


def selective_scan_reference(
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
):
    """Selective (Mamba-style) diagonal scan by a loop over time; the ground truth.

    Same arguments and returns as :func:`wavescope.models.scan.selective_scan` (which
    validates them; this function assumes valid input).

    Notes
    -----
    Per batch b, channel d and state n::

        h_t = exp(delta_t * A) * h_{t-1} + (delta_t if delta_scales_input else 1) * B_t * u_t
        y_t = Re(sum_n C_t[n] * h_t[n]) + D * u_t ;   y_t <- y_t * silu(z_t) if z is given
    """
    # u, delta : (Bt, L, Dm) ; A : (Dm, N) ; B, C : (Bt, L, N) or (Bt, L, Dm, N)
    Bt, L, Dm = u.shape
    N = A.shape[-1]
    Bx = B if B.dim() == 4 else B.unsqueeze(2)  # (Bt, L, Dm|1, N)
    Cx = C if C.dim() == 4 else C.unsqueeze(2)
    s = delta * u if delta_scales_input else u  # (Bt, L, Dm)
    if h0 is None:
        cplx = A.is_complex() or B.is_complex() or C.is_complex()
        dtype = torch.promote_types(u.dtype, torch.complex64) if cplx else u.dtype
        h = torch.zeros(Bt, Dm, N, dtype=dtype, device=u.device)
    else:
        h = h0
    hs, ys = [], []
    for d_t, s_t, B_t, C_t in zip(
        delta.unbind(1), s.unbind(1), Bx.unbind(1), Cx.unbind(1), strict=True
    ):
        # d_t, s_t : (Bt, Dm) ; B_t, C_t : (Bt, Dm|1, N) ; h : (Bt, Dm, N)
        h = torch.exp(d_t.unsqueeze(-1) * A) * h + s_t.unsqueeze(-1) * B_t
        y_t = (C_t * h).sum(-1)
        ys.append(y_t.real if y_t.is_complex() else y_t)
        if return_states:
            hs.append(h)
    y = torch.stack(ys, dim=1)  # (Bt, L, Dm)
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * torch.nn.functional.silu(z)
    out = [y]
    if return_last_state:
        out.append(h)
    if return_states:
        out.append(torch.stack(hs, dim=1))
    return out[0] if len(out) == 1 else tuple(out)
