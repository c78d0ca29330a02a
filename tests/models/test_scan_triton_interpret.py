"""The Triton kernels' logic on the CPU, through Triton's interpreter.

``TRITON_INTERPRET=1`` must be set before triton is imported, so the kernels run in a
fresh subprocess (this file run as a script) that reports relative errors as JSON.
Sizes are tiny (the interpreter runs every program in Python). Truth: the sequential
reference in float64 on the same (float32-representable) inputs. Relative error
``max|x - ref| / max|ref|``; tolerance 1e-5 because the kernel computes in float32
(rounding ~1e-7 per operation, accumulated over a few dozen steps and reductions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

# (name, a_cplx, bc_cplx, b4, extras, L, delta_scales_input, Dm, N); Dm=9 spans 3 channel
# blocks of 4 (the last one partial), which exercises the partial sums over blocks; N=3
# pads the state block to 4 (masked lanes)
CASES = [
    ("real", False, False, False, False, 9, True, 3, 4),
    ("real_full_BC_h0_D_z", False, False, True, True, 9, True, 3, 4),
    ("complex", True, True, False, True, 9, True, 3, 4),
    ("complex_A_real_BC_full", True, False, True, False, 9, True, 3, 4),
    ("real_no_delta_on_input", False, False, False, True, 9, False, 3, 4),
    ("length_one", True, True, False, True, 1, True, 3, 4),
    ("length_eight_exact_chunks", False, False, False, True, 8, True, 3, 4),
    ("real_three_channel_blocks", False, False, False, True, 6, True, 9, 3),
    ("complex_three_channel_blocks_full_BC", True, True, True, True, 6, True, 9, 3),
]


def _run_cases() -> dict:
    """Run every case in this process (which must have TRITON_INTERPRET=1 set)."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_scan import make_inputs

    import wavescope.models.scan.triton_scan as ts
    from wavescope.models.scan import selective_scan

    ts.CHUNK = 4  # several chunks (and a partial one) at these tiny lengths
    out = {}
    for name, a_c, bc_c, b4, extras, L, dsi, Dm, N in CASES:
        args, kw = make_inputs(
            Bt=2, L=L, Dm=Dm, N=N, a_cplx=a_c, bc_cplx=bc_c, b4=b4, extras=extras, seed=7
        )
        kw["delta_scales_input"] = dsi
        leaves = args + ([kw["h0"]] if "h0" in kw else [])
        res = {}
        for backend in ("reference", "triton"):
            if backend == "reference":
                a64 = [
                    x.detach()
                    .to(torch.complex128 if x.is_complex() else torch.float64)
                    .requires_grad_()
                    for x in leaves
                ]
            else:
                a64 = leaves
            n_args = len(args)
            k = dict(kw, h0=a64[n_args]) if "h0" in kw else dict(kw)
            y, h = selective_scan(*a64[:n_args], **k, return_last_state=True, backend=backend)
            g = torch.Generator().manual_seed(1)
            gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
            gh = torch.randn(h.shape, generator=g, dtype=torch.float64).to(h.dtype)
            loss = (y * gy.to(y.dtype)).sum() + (h * gh.conj()).real.sum()
            res[backend] = [y, h, *torch.autograd.grad(loss, a64)]
        errs = {}
        names = ["y", "h_last", "u", "delta", "A", "B", "C"] + (["D", "z", "h0"] if extras else [])
        for nm, x, r in zip(names, res["triton"], res["reference"], strict=True):
            x = x.detach().to(r.dtype)
            errs[nm] = ((x - r).abs().max() / r.abs().max().clamp_min(1e-30)).item()
        out[name] = errs
    return out


@pytest.fixture(scope="module")
def interpreted():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run(
        [sys.executable, __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_triton_kernels_match_reference_in_interpreter(interpreted, case):
    errs = interpreted[case]
    assert set(errs) >= {"y", "h_last", "u", "delta", "A", "B", "C"}
    bad = {k: v for k, v in errs.items() if not v <= 1e-5}
    assert not bad, f"relative errors above 1e-5: {bad}"


if __name__ == "__main__":
    assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"
    print(json.dumps(_run_cases()))
