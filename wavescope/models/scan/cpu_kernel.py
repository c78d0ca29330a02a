"""A small compiled CPU kernel for the real selective scan (Mamba's training path).

Why: at the training sizes of the CPU scale (batch 16, 85 steps, 128 channels, 16 states)
the torch chunked scan runs ~10 full passes of small tensor ops per direction, each a few
MB, and one step of the model spent most of its time there (benchmarks/results/
profile_train_step.md). This kernel does the whole recurrence in one pass per direction,
with the state of one batch row (16 x 128 floats, 8 KiB) in L1 cache: forward keeps only
the state, backward recomputes one row's states and decays, then runs the adjoint scan
with every gradient (u, delta, A, B, C, h0) fused into the same loop.

Scope: float32, real A, B and C of shape (Bt, L, N) shared by the channels, CPU tensors:
Mamba's and v-Wave Mamba's selective SSM, with the skip ``D u`` and the ``silu(z)`` gate
fused, and optionally the step's ``softplus(delta + bias)`` (Mamba's dt_proj bias and
softplus, with their gradients, in the same passes). Everything else (complex v-Wave
scans, float64, per-channel B and C, GPUs) stays on the torch chunked path, which is also
the fallback. The same library holds three more
small kernels of the training step, each one pass forward and one backward: the
depthwise causal convolution (Mamba's conv, with its SiLU; the v-Wave ring's impulse
response for short sequences) and RMSNorm; and the v-Wave ring's impulse response (its
kernel sum over modes, float64, by a complex recurrence) with its gradient sums.

Mamba's mixer (with its conv context, float32 CPU) runs as one autograd node,
:func:`mamba_inner_kernel`: in_proj and x_proj as torch matmuls, the conv and the scan
(dt_proj's rank-R projection inside it) by the kernels, batch slice by batch slice, its
backward writing each projection's gradient into one tensor (no concatenation).

Build: the C source below is compiled once per machine with the system C compiler
(``cc``, or ``$CC``; about 0.3 s, no Python headers) into the user cache
(``$XDG_CACHE_HOME/wavescope`` or ``~/.cache/wavescope``), keyed by a hash of the source,
the flags and the CPU, and loaded with ctypes (which releases the GIL during a call).
Without a working compiler, with ``WAVESCOPE_SCAN_KERNEL=0`` in the environment or with
``ENABLED = False``, every op silently uses its torch path (:func:`kernel_status` says
whether the library built and why not).

Numerics: ``exp`` is ``2^(x log2 e)`` with a degree-6 polynomial on a [-1/2, 1/2]
reduced argument (relative error ~1e-7, float32 rounding), clamped below at 2^-126 (a
decay that small already makes the state's past vanish in float32). Sums over channels
run in 16 fixed partial sums, so results are deterministic for a given machine and
build. Agreement with the float64 reference is tested in tests/models/test_scan_kernel.py.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import torch

from wavescope.models.scan.chunked import _buffer

__all__ = [
    "applies",
    "causal_conv_kernel",
    "rms_norm_kernel",
    "scan_applies",
    "kernel_status",
    "mamba_inner_applies",
    "mamba_inner_kernel",
    "selective_scan_kernel",
]

_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* exp(x) as 2^r * 2^f, r = round(x log2 e), |f| <= 1/2, 2^f by a degree-6 polynomial
   (Chebyshev interpolant on [-1/2, 1/2]: relative error 1.1e-7 evaluated in float32).
   Branch-free, so loops vectorise. The clamp bounds are variables, not literals: against
   constant bounds GCC threads the clamped case (a constant result) into a mask over the
   whole computation, ~40 instructions per vector instead of ~24 with one vmaxps/vminps. */
float ws_exp_lo = -126.0f, ws_exp_hi = 127.0f;

static inline float exp_fast(float x) {
    float t = x * 1.44269504088896341f;
    t = t < ws_exp_lo ? ws_exp_lo : t;
    t = t > ws_exp_hi ? ws_exp_hi : t;
    float r = (t + 12582912.0f) - 12582912.0f; /* round to nearest, |t| < 2^22 */
    float f = t - r;
    float p = 1.5461444724808513e-4f;
    p = p * f + 1.3400428177711937e-3f;
    p = p * f + 9.6180566784320400e-3f;
    p = p * f + 5.5503272266698950e-2f;
    p = p * f + 2.4022650922289554e-1f;
    p = p * f + 6.9314720670283290e-1f;
    p = p * f + 1.0f;
    int32_t e = ((int32_t)r + 127) << 23;
    float s;
    memcpy(&s, &e, 4);
    return p * s;
}

#ifdef __AVX512F__
/* exp_fast on 16 lanes, the same numbers: the rounding by vrndscaleps and 2^r by vscalefps
   (exact for integer r) instead of the magic-constant rounding and the exponent-bit
   arithmetic: 11 instructions instead of 16 in the scan's inner loops. */
static inline __m512 exp16(__m512 x) {
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
    t = _mm512_max_ps(t, _mm512_set1_ps(ws_exp_lo));
    t = _mm512_min_ps(t, _mm512_set1_ps(ws_exp_hi));
    __m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, r);
    __m512 p = _mm512_set1_ps(1.5461444724808513e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3400428177711937e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6180566784320400e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503272266698950e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650922289554e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314720670283290e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, r);
}
#define LD(p) _mm512_loadu_ps(p)
#define ST(p, v) _mm512_storeu_ps(p, v)
#endif

/* torch's softplus (x above 20, else log1p(exp(x))): log1p(e) = 2 atanh(e / (2 + e)) for
   e = exp(-|x|) in (0, 1], the odd series in z = e / (2 + e) <= 1/3 to z^13 (truncation
   ~1e-8 relative, below float32 rounding). Branch-free, so loops vectorise. */
static inline float softplus_fast(float x) {
    float e = exp_fast(-fabsf(x));
    float z = e / (2.0f + e), z2 = z * z;
    float p = 2.0f / 13.0f;
    p = p * z2 + 2.0f / 11.0f;
    p = p * z2 + 2.0f / 9.0f;
    p = p * z2 + 2.0f / 7.0f;
    p = p * z2 + 2.0f / 5.0f;
    p = p * z2 + 2.0f / 3.0f;
    p = p * z2 + 2.0f;
    float r = (x > 0.0f ? x : 0.0f) + z * p;
    return x > 20.0f ? x : r;
}

/* Dot product in 16 fixed partial sums (deterministic, vectorised). */
static float dot16(int64_t D, const float *restrict a, const float *restrict b) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= D; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += a[i + k] * b[i + k];
    for (int k = 0; k < 8; k++) acc[k] += acc[k + 8];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < D; i++) s += a[i] * b[i];
    return s;
}

/* The step Delta of one row: the raw input (or, with R > 0, its projection W raw from R
   inputs: Mamba's dt_proj fused, Wt (R, Dm)), plus the bias, through softplus (each
   optional; with none of them, the raw row itself). ``pre`` keeps the value before the
   softplus (the backward's sigmoid reads it). */
static inline const float *delta_row(int64_t Dm, const float *raw, int64_t R,
                                     const float *restrict Wt, const float *bias, int soft,
                                     float *restrict pre, float *restrict out) {
    if (!R && !bias && !soft) return raw;
    if (R) {
        for (int64_t d = 0; d < Dm; d++) pre[d] = bias ? bias[d] : 0.0f;
        for (int64_t r = 0; r < R; r++) {
            const float x = raw[r], *restrict w = Wt + r * Dm;
            for (int64_t d = 0; d < Dm; d++) pre[d] += w[d] * x;
        }
    } else
        for (int64_t d = 0; d < Dm; d++) pre[d] = bias ? raw[d] + bias[d] : raw[d];
    if (!soft) return pre;
    for (int64_t d = 0; d < Dm; d++) out[d] = softplus_fast(pre[d]);
    return out;
}

/* The backward's last pass over one step: g_u and the gradient wrt the step before its
   softplus (gd), from gs (wrt s = dt u or u) and gdt (wrt dt). */
static void bwd_tail(int64_t Dm, int dsi, int soft, const float *restrict gs,
                     const float *restrict gdt, const float *restrict dt,
                     const float *restrict ut, const float *restrict gyt,
                     const float *restrict D, const float *restrict pre, float *restrict gu,
                     float *restrict gd) {
    /* separate simple loops: a branch inside one kept GCC from vectorising it */
    if (dsi)
        for (int64_t d = 0; d < Dm; d++) {
            gd[d] = gdt[d] + gs[d] * ut[d];
            gu[d] = gs[d] * dt[d];
        }
    else
        for (int64_t d = 0; d < Dm; d++) {
            gd[d] = gdt[d];
            gu[d] = gs[d];
        }
    if (D)
        for (int64_t d = 0; d < Dm; d++) gu[d] += gyt[d] * D[d];
    if (soft) /* back through softplus: its derivative is the sigmoid */
        for (int64_t d = 0; d < Dm; d++) {
            float sg = 1.0f / (1.0f + exp_fast(-pre[d]));
            gd[d] *= pre[d] > 20.0f ? 1.0f : sg;
        }
}

static inline void input_scale(float *s, const float *dt, const float *ut, int64_t Dm, int dsi) {
    for (int64_t d = 0; d < Dm; d++) s[d] = dsi ? dt[d] * ut[d] : ut[d];
}

/* One state index n of one step, over the channels (the vectorised inner loops; restrict
   lets the compiler vectorise without run-time alias checks). */
static void fwd_row(int64_t Dm, float Bn, float Cn, const float *restrict An,
                    const float *restrict dt, const float *restrict s, float *restrict hn,
                    float *restrict yt) {
    int64_t d = 0;
#ifdef __AVX512F__
    const __m512 vB = _mm512_set1_ps(Bn), vC = _mm512_set1_ps(Cn);
    for (; d + 16 <= Dm; d += 16) {
        __m512 a = exp16(_mm512_mul_ps(LD(dt + d), LD(An + d)));
        __m512 hv = _mm512_fmadd_ps(a, LD(hn + d), _mm512_mul_ps(LD(s + d), vB));
        ST(hn + d, hv);
        ST(yt + d, _mm512_fmadd_ps(vC, hv, LD(yt + d)));
    }
#endif
    for (; d < Dm; d++) {
        float hv = exp_fast(dt[d] * An[d]) * hn[d] + s[d] * Bn;
        hn[d] = hv;
        yt[d] += Cn * hv;
    }
}

static void recompute_row(int64_t Dm, float Bn, float Cn, const float *restrict An,
                          const float *restrict dt, const float *restrict s,
                          const float *restrict hpn, float *restrict hn, float *restrict an,
                          float *restrict yt) {
    int64_t d = 0;
#ifdef __AVX512F__
    const __m512 vB = _mm512_set1_ps(Bn), vC = _mm512_set1_ps(Cn);
    for (; d + 16 <= Dm; d += 16) {
        __m512 a = exp16(_mm512_mul_ps(LD(dt + d), LD(An + d)));
        ST(an + d, a);
        __m512 hv = _mm512_fmadd_ps(a, LD(hpn + d), _mm512_mul_ps(LD(s + d), vB));
        ST(hn + d, hv);
        ST(yt + d, _mm512_fmadd_ps(vC, hv, LD(yt + d)));
    }
#endif
    for (; d < Dm; d++) {
        float a = exp_fast(dt[d] * An[d]);
        an[d] = a; /* kept for the adjoint: a load there instead of a second exp */
        float hv = a * hpn[d] + s[d] * Bn;
        hn[d] = hv;
        yt[d] += Cn * hv; /* the scan's output again, in the forward's order */
    }
}

/* The adjoint step for one state index n over the channels; also returns
   g_B = sum_d g s and g_C = sum_d gy h in 16 fixed partial sums (one pass, vectorised). */
static void bwd_row(int64_t Dm, float Bn, float Cn, const float *restrict An,
                    const float *restrict hpn, const float *restrict hn,
                    const float *restrict an, const float *restrict dt,
                    const float *restrict s, const float *restrict gyt, float *restrict ghn,
                    float *restrict gAn, float *restrict gs, float *restrict gdt, float *gB,
                    float *gC) {
#ifdef __AVX512F__
    if (Dm % 16 == 0) { /* the same sums on 16 lanes, each reduced by one reduce_add (GCC's
                           tree from the 16 scalars below took ~20 instructions) */
        const __m512 vB = _mm512_set1_ps(Bn), vC = _mm512_set1_ps(Cn);
        __m512 aB = _mm512_setzero_ps(), aC = _mm512_setzero_ps();
        for (int64_t d = 0; d < Dm; d += 16) {
            const __m512 a = LD(an + d), gy = LD(gyt + d);
            const __m512 g = _mm512_fmadd_ps(gy, vC, LD(ghn + d));
            const __m512 gx = _mm512_mul_ps(_mm512_mul_ps(g, LD(hpn + d)), a);
            ST(gdt + d, _mm512_fmadd_ps(gx, LD(An + d), LD(gdt + d)));
            ST(gAn + d, _mm512_fmadd_ps(gx, LD(dt + d), LD(gAn + d)));
            ST(gs + d, _mm512_fmadd_ps(g, vB, LD(gs + d)));
            ST(ghn + d, _mm512_mul_ps(g, a));
            aB = _mm512_fmadd_ps(g, LD(s + d), aB);
            aC = _mm512_fmadd_ps(gy, LD(hn + d), aC);
        }
        *gB = _mm512_reduce_add_ps(aB);
        *gC = _mm512_reduce_add_ps(aC);
        return;
    }
#endif
    float accB[16] = {0}, accC[16] = {0};
    int64_t d0 = 0;
    for (; d0 + 16 <= Dm; d0 += 16)
        for (int k = 0; k < 16; k++) {
            const int64_t d = d0 + k;
            float a = an[d];
            float g = ghn[d] + gyt[d] * Cn;     /* total gradient wrt h_t */
            float gx = g * hpn[d] * a;          /* wrt dt * A, through exp */
            gdt[d] += gx * An[d];
            gAn[d] += gx * dt[d];
            gs[d] += g * Bn;
            ghn[d] = g * a; /* wrt h_{t-1} */
            accB[k] += g * s[d];
            accC[k] += gyt[d] * hn[d];
        }
    for (int k = 0; k < 8; k++) {
        accB[k] += accB[k + 8];
        accC[k] += accC[k + 8];
    }
    float sB = ((accB[0] + accB[1]) + (accB[2] + accB[3])) +
               ((accB[4] + accB[5]) + (accB[6] + accB[7]));
    float sC = ((accC[0] + accC[1]) + (accC[2] + accC[3])) +
               ((accC[4] + accC[5]) + (accC[6] + accC[7]));
    for (int64_t d = d0; d < Dm; d++) {
        float a = an[d];
        float g = ghn[d] + gyt[d] * Cn;
        float gx = g * hpn[d] * a;
        gdt[d] += gx * An[d];
        gAn[d] += gx * dt[d];
        gs[d] += g * Bn;
        ghn[d] = g * a;
        sB += g * s[d];
        sC += gyt[d] * hn[d];
    }
    *gB = sB;
    *gC = sC;
}

/* y <- (y + D u) * silu(z), each optional (D or z NULL) */
static void gate_row(int64_t Dm, float *restrict yt, const float *restrict ut,
                     const float *restrict D, const float *restrict zt) {
    if (D)
        for (int64_t d = 0; d < Dm; d++) yt[d] += D[d] * ut[d];
    if (zt)
        for (int64_t d = 0; d < Dm; d++) yt[d] *= zt[d] / (1.0f + exp_fast(-zt[d]));
}

/* Gradient through the gate at one step: gy (wrt the gated output) -> ge (wrt the scan's
   output y), g_z, and g_D accumulated; ys is y, the scan's output before the gate. */
static void gate_row_bwd(int64_t Dm, const float *restrict ys, const float *restrict ut,
                         const float *restrict D, const float *restrict zt,
                         const float *restrict gy, float *restrict ge, float *restrict gz,
                         float *restrict gD) {
    if (zt)
        for (int64_t d = 0; d < Dm; d++) {
            float v = D ? ys[d] + D[d] * ut[d] : ys[d];
            float sg = 1.0f / (1.0f + exp_fast(-zt[d]));
            gz[d] = gy[d] * v * sg * (1.0f + zt[d] * (1.0f - sg));
            ge[d] = gy[d] * zt[d] * sg;
        }
    else
        for (int64_t d = 0; d < Dm; d++) ge[d] = gy[d];
    if (D)
        for (int64_t d = 0; d < Dm; d++) gD[d] += ge[d] * ut[d];
}

/* Layouts: u, y, gy, g_u (Bt, L, Dm); At, g_At (N, Dm); h0, h_last, gh_last, g_h0
   (Bt, N, Dm); D, g_D (Dm). Rows (b, t) of delta and g_delta lie ldd floats apart (Dm
   values each, or R with the fused projection Wt, g_Wt (R, Dm)); of B, C, g_B and g_C ldbc
   floats apart (N values: they may be views into x_proj's output); of z ldz, of g_z ldgz
   (Dm values: e.g. halves of in_proj's output and its gradient). D and z may be NULL.
   Scratch rows (Dm): s, dts, pre. */
void ws_scan_fwd(int64_t Bt, int64_t L, int64_t Dm, int64_t N, int64_t ldz, const float *u,
                 const float *delta, const float *At, const float *B, const float *C,
                 const float *h0, const float *D, const float *z, int dsi, float *y,
                 float *h_last, float *s, int64_t CH, float *ckpt, const float *dbias,
                 int dsoft, float *dts, int64_t ldd, int64_t R, const float *Wt, int64_t ldbc,
                 float *pre) {
    const int64_t nC = (L + CH - 1) / CH;
    for (int64_t b = 0; b < Bt; b++) {
        float *h = h_last + b * N * Dm;
        memcpy(h, h0 + b * N * Dm, (size_t)(N * Dm) * sizeof(float));
        for (int64_t t = 0; t < L; t++) {
            const int64_t o = (b * L + t) * Dm, on = (b * L + t) * ldbc;
            const float *dt = delta_row(Dm, delta + (b * L + t) * ldd, R, Wt, dbias, dsoft,
                                        pre, dts);
            float *yt = y + o;
            if (t % CH == 0) /* the state before each chunk of CH steps, for the backward */
                memcpy(ckpt + (b * nC + t / CH) * N * Dm, h, (size_t)(N * Dm) * sizeof(float));
            input_scale(s, dt, u + o, Dm, dsi);
            for (int64_t d = 0; d < Dm; d++) yt[d] = 0.0f;
            for (int64_t n = 0; n < N; n++)
                fwd_row(Dm, B[on + n], C[on + n], At + n * Dm, dt, s, h + n * Dm, yt);
            if (D || z) gate_row(Dm, yt, u + o, D, z ? z + (b * L + t) * ldz : 0);
        }
    }
}

/* The v-Wave ring's impulse response, float64: K[m, d] = Re(sum_k P_m[d, k]) with
   P_m = W E^m, E = exp(v_d A[d, k]), by the recurrence P <- P E over m (one complex
   product per term; rounding ~1e-16 relative per step). Layouts: v (ch); Are, Aim, Wre, Wim
   (ch, N); K (L, ch). Scratch: 4 N doubles. */
void ws_wave_kernel_fwd(int64_t ch, int64_t N, int64_t L, const double *v, const double *Are,
                        const double *Aim, const double *Wre, const double *Wim, double *K,
                        double *scratch) {
    double *restrict Er = scratch, *restrict Ei = scratch + N, *restrict Pr = scratch + 2 * N,
                     *restrict Pi = scratch + 3 * N;
    for (int64_t d = 0; d < ch; d++) {
        for (int64_t k = 0; k < N; k++) {
            double mag = exp(v[d] * Are[d * N + k]), ang = v[d] * Aim[d * N + k];
            Er[k] = mag * cos(ang);
            Ei[k] = mag * sin(ang);
            Pr[k] = Wre[d * N + k];
            Pi[k] = Wim[d * N + k];
        }
        for (int64_t m = 0; m < L; m++) {
            double acc[8] = {0};
            int64_t k0 = 0;
            for (; k0 + 8 <= N; k0 += 8)
                for (int j = 0; j < 8; j++) {
                    const int64_t k = k0 + j;
                    double r = Pr[k], i = Pi[k];
                    acc[j] += r;
                    Pr[k] = r * Er[k] - i * Ei[k];
                    Pi[k] = r * Ei[k] + i * Er[k];
                }
            double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                         ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; k0 < N; k0++) {
                double r = Pr[k0], i = Pi[k0];
                sum += r;
                Pr[k0] = r * Er[k0] - i * Ei[k0];
                Pi[k0] = r * Ei[k0] + i * Er[k0];
            }
            K[m * ch + d] = sum;
        }
    }
}

/* Its gradient sums, from gK (L, ch): S[d, k] = sum_m gK[m, d] E^m and
   Sm[d, k] = sum_m m gK[m, d] E^m (complex, as re and im parts (ch, N) each). */
void ws_wave_kernel_bwd(int64_t ch, int64_t N, int64_t L, const double *v, const double *Are,
                        const double *Aim, const double *gK, double *Sr, double *Si,
                        double *Smr, double *Smi, double *scratch) {
    double *restrict Er = scratch, *restrict Ei = scratch + N, *restrict Pr = scratch + 2 * N,
                     *restrict Pi = scratch + 3 * N;
    for (int64_t d = 0; d < ch; d++) {
        double *restrict sr = Sr + d * N, *restrict si = Si + d * N, *restrict smr = Smr + d * N,
                         *restrict smi = Smi + d * N;
        for (int64_t k = 0; k < N; k++) {
            double mag = exp(v[d] * Are[d * N + k]), ang = v[d] * Aim[d * N + k];
            Er[k] = mag * cos(ang);
            Ei[k] = mag * sin(ang);
            Pr[k] = 1.0;
            Pi[k] = 0.0;
            sr[k] = si[k] = smr[k] = smi[k] = 0.0;
        }
        for (int64_t m = 0; m < L; m++) {
            const double g = gK[m * ch + d], gm = g * (double)m;
            for (int64_t k = 0; k < N; k++) {
                double r = Pr[k], i = Pi[k];
                sr[k] += g * r;
                si[k] += g * i;
                smr[k] += gm * r;
                smi[k] += gm * i;
                Pr[k] = r * Er[k] - i * Ei[k];
                Pi[k] = r * Ei[k] + i * Er[k];
            }
        }
    }
}

/* Depthwise causal convolution, y[b, t, d] = bias[d] + sum_m w[m, d] x[b, t - m, d] over
   m <= min(t, K - 1) (Mamba's conv with K = 4; the v-Wave ring's impulse response with K = L).
   x, y, gy, gx (Bt, L, D); w, gw (K, D); bias, gbias (D) or NULL. */
static void silu_row(int64_t D, const float *restrict v, float *restrict y) {
    for (int64_t d = 0; d < D; d++) y[d] = v[d] / (1.0f + exp_fast(-v[d]));
}


/* The sums run over blocks of CB channels held in registers (one vector at 512 bits):
   a row-at-a-time axpy loaded and stored the accumulator for every tap. */
#define CB 16

void ws_conv_fwd(int64_t Bt, int64_t L, int64_t D, int64_t K, int64_t ldx, const float *x,
                 const float *w, const float *bias, float *pre, float *y) {
    for (int64_t b = 0; b < Bt; b++)
        for (int64_t t = 0; t < L; t++) {
            float *yt = (pre ? pre : y) + (b * L + t) * D;
            const int64_t mmax = K - 1 < t ? K - 1 : t;
            int64_t d0 = 0;
            for (; d0 + CB <= D; d0 += CB) {
                float acc[CB];
                for (int k = 0; k < CB; k++) acc[k] = bias ? bias[d0 + k] : 0.0f;
                for (int64_t m = 0; m <= mmax; m++) {
                    const float *wm = w + m * D + d0, *xm = x + (b * L + t - m) * ldx + d0;
                    for (int k = 0; k < CB; k++) acc[k] += wm[k] * xm[k];
                }
                for (int k = 0; k < CB; k++) yt[d0 + k] = acc[k];
            }
            for (; d0 < D; d0++) {
                float acc = bias ? bias[d0] : 0.0f;
                for (int64_t m = 0; m <= mmax; m++)
                    acc += w[m * D + d0] * x[(b * L + t - m) * ldx + d0];
                yt[d0] = acc;
            }
            if (pre) silu_row(D, yt, y + (b * L + t) * D);
        }
}

/* gx (Bt, L, D), gw (K, D) and gbias (D) are written (not accumulated); g (Bt, L, D) is
   scratch when pre is given (the gradient before the SiLU). */
void ws_conv_bwd(int64_t Bt, int64_t L, int64_t D, int64_t K, int64_t ldx, const float *x,
                 const float *w, const float *pre, const float *gy, float *gx, float *gw,
                 float *gbias, float *g) {
    if (pre) {
        for (int64_t i = 0; i < Bt * L * D; i++) {
            float sg = 1.0f / (1.0f + exp_fast(-pre[i]));
            g[i] = gy[i] * sg * (1.0f + pre[i] * (1.0f - sg));
        }
        gy = g;
    }
    /* gx[b, s] = sum_m w[m] gy[b, s + m] */
    for (int64_t b = 0; b < Bt; b++)
        for (int64_t s = 0; s < L; s++) {
            float *gxs = gx + (b * L + s) * D;
            const int64_t mmax = K - 1 < L - 1 - s ? K - 1 : L - 1 - s;
            int64_t d0 = 0;
            for (; d0 + CB <= D; d0 += CB) {
                float acc[CB] = {0};
                for (int64_t m = 0; m <= mmax; m++) {
                    const float *wm = w + m * D + d0, *gm = gy + (b * L + s + m) * D + d0;
                    for (int k = 0; k < CB; k++) acc[k] += wm[k] * gm[k];
                }
                for (int k = 0; k < CB; k++) gxs[d0 + k] = acc[k];
            }
            for (; d0 < D; d0++) {
                float acc = 0.0f;
                for (int64_t m = 0; m <= mmax; m++)
                    acc += w[m * D + d0] * gy[(b * L + s + m) * D + d0];
                gxs[d0] = acc;
            }
        }
    /* gw[m] += gy[b, t] x[b, t - m] and gbias += gy[b, t], row by row: the K x D
       accumulator stays in cache, the inputs stream once (a pass per tap and channel
       block re-read them K D / CB times: 40 ms at L = 1024) */
    memset(gw, 0, (size_t)(K * D) * sizeof(float));
    if (gbias) memset(gbias, 0, (size_t)D * sizeof(float));
    for (int64_t b = 0; b < Bt; b++)
        for (int64_t t = 0; t < L; t++) {
            const float *restrict gt = gy + (b * L + t) * D;
            if (gbias)
                for (int64_t d = 0; d < D; d++) gbias[d] += gt[d];
            for (int64_t m = 0; m < K && m <= t; m++) {
                float *restrict gwm = gw + m * D;
                const float *restrict xm = x + (b * L + t - m) * ldx;
                for (int64_t d = 0; d < D; d++) gwm[d] += gt[d] * xm[d];
            }
        }
}

/* Mamba's conv with its SiLU for a small width K, one pass each way: the forward writes
   only y = SiLU(pre); the backward recomputes pre (K multiply-adds) instead of reading a
   stored copy, and runs the SiLU's derivative, g_x, g_w and g_bias in one sweep backwards
   in time, the last K rows of the gradient before the SiLU in a ring (K, D). x rows lie
   ldx floats apart, gx rows ldgx apart (halves of in_proj's output and its gradient). */
/* pre (D) = bias + sum_{m <= min(t, K - 1)} w[m] x[t - m], x rows ldx apart. */
static void sconv_pre(int64_t D, int64_t K, int64_t ldx, const float *x, const float *w,
                      const float *bias, int64_t t, float *restrict pre) {
    const int64_t mmax = K - 1 < t ? K - 1 : t;
    for (int64_t d = 0; d < D; d++) pre[d] = bias ? bias[d] : 0.0f;
    for (int64_t m = 0; m <= mmax; m++) {
        const float *restrict wm = w + m * D, *restrict xm = x + (t - m) * ldx;
        for (int64_t d = 0; d < D; d++) pre[d] += wm[d] * xm[d];
    }
}

/* pre (D) scratch. */
void ws_sconv_fwd(int64_t Bt, int64_t L, int64_t D, int64_t K, int64_t ldx, const float *x,
                  const float *w, const float *bias, float *y, float *pre) {
    for (int64_t b = 0; b < Bt; b++)
        for (int64_t t = 0; t < L; t++) {
            float *restrict yt = y + (b * L + t) * D;
            sconv_pre(D, K, ldx, x + b * L * ldx, w, bias, t, pre);
            silu_row(D, pre, yt);
        }
}

/* gw (K, D) and gbias (D) are written; ring (K + 2, D) scratch: g_x's sums for the last K
   steps (row s at s mod K), the SiLU's input, the gradient before the SiLU. One sweep
   forwards in time (every stream ascending): step t's gradient g_t adds w[m] g_t to
   g_x[t - m] and g_t x[t - m] to gw[m]; g_x[t - K + 1] is then complete. */
void ws_sconv_bwd(int64_t Bt, int64_t L, int64_t D, int64_t K, int64_t ldx, const float *x,
                  const float *w, const float *bias, const float *gy, int64_t ldgx, float *gx,
                  float *gw, float *gbias, float *ring) {
    float *restrict pre = ring + K * D, *restrict g = ring + (K + 1) * D;
    memset(gw, 0, (size_t)(K * D) * sizeof(float));
    if (gbias) memset(gbias, 0, (size_t)D * sizeof(float));
    for (int64_t b = 0; b < Bt; b++) {
        const float *xb = x + b * L * ldx;
        memset(ring, 0, (size_t)(K * D) * sizeof(float));
        for (int64_t t = 0; t < L + K - 1; t++) {
            if (t < L) {
                const float *restrict gyt = gy + (b * L + t) * D;
                sconv_pre(D, K, ldx, xb, w, bias, t, pre);
                for (int64_t d = 0; d < D; d++) {
                    float sg = 1.0f / (1.0f + exp_fast(-pre[d]));
                    g[d] = gyt[d] * sg * (1.0f + pre[d] * (1.0f - sg));
                }
                if (gbias)
                    for (int64_t d = 0; d < D; d++) gbias[d] += g[d];
                for (int64_t m = 0; m < K && m <= t; m++) {
                    float *restrict acc = ring + ((t - m) % K) * D, *restrict gwm = gw + m * D;
                    const float *restrict wm = w + m * D, *restrict xm = xb + (t - m) * ldx;
                    for (int64_t d = 0; d < D; d++) {
                        acc[d] += wm[d] * g[d];
                        gwm[d] += g[d] * xm[d];
                    }
                }
            }
            const int64_t s = t - K + 1; /* complete: no later step reaches it */
            if (s >= 0) {
                float *row = ring + (s % K) * D;
                memcpy(gx + (b * L + s) * ldgx, row, (size_t)D * sizeof(float));
                memset(row, 0, (size_t)D * sizeof(float));
            }
        }
    }
}

/* RMSNorm over rows of D: y = x / sqrt(mean(x^2) + eps) * w; rs (R) keeps 1 / rms. */
void ws_rms_fwd(int64_t R, int64_t D, const float *x, const float *w, float eps, float *y,
                float *rs) {
    for (int64_t r = 0; r < R; r++) {
        const float *restrict xr = x + r * D;
        float *restrict yr = y + r * D;
        float inv = 1.0f / sqrtf(dot16(D, xr, xr) / (float)D + eps);
        rs[r] = inv;
        for (int64_t d = 0; d < D; d++) yr[d] = xr[d] * inv * w[d];
    }
}

/* gw must be zeroed (it accumulates); gxw (D) is scratch. */
void ws_rms_bwd(int64_t R, int64_t D, const float *x, const float *w, const float *rs,
                const float *gy, float *gx, float *gw, float *gxw) {
    for (int64_t r = 0; r < R; r++) {
        const float *restrict xr = x + r * D, *restrict gr = gy + r * D;
        float *restrict gxr = gx + r * D, *restrict gwr = gw, *restrict t = gxw;
        const float inv = rs[r];
        for (int64_t d = 0; d < D; d++) {
            t[d] = gr[d] * w[d];
            gwr[d] += gr[d] * xr[d] * inv;
        }
        const float c = dot16(D, t, xr) * inv * inv * inv / (float)D;
        for (int64_t d = 0; d < D; d++) gxr[d] = inv * t[d] - c * xr[d];
    }
}

/* Layouts as ws_scan_fwd's. Scratch: hs and as (CH, N, Dm) (one chunk's states and
   decays: the adjoint loads each decay instead of a second exp, 10% of the backward at
   L = 1024), ys (CH, Dm) (its outputs), rows (Dm) s, gs, gdt, gye, dts, pre, gdv. g_At,
   g_D, g_dbias and g_Wt must be zeroed by the caller (they accumulate over the batch). */
void ws_scan_bwd(int64_t Bt, int64_t L, int64_t Dm, int64_t N, int64_t ldz, const float *u,
                 const float *delta, const float *At, const float *B, const float *C,
                 const float *h0, const float *D, const float *z, int dsi, const float *gy,
                 const float *gh_last, float *g_u, float *g_delta, float *g_At, float *g_B,
                 float *g_C, float *g_h0, float *g_D, float *g_z, float *hs,
                 float *ys, float *s, float *gs, float *gdt, float *gye, int64_t CH,
                 const float *ckpt, const float *dbias, int dsoft, float *dts,
                 float *g_dbias, float *as, int64_t ldd, int64_t R, const float *Wt,
                 int64_t ldbc, int64_t ldgz, float *g_Wt, float *pre, float *gdv) {
    const int64_t S = N * Dm, nC = (L + CH - 1) / CH;
    (void)h0; /* the first checkpoint */
    for (int64_t b = 0; b < Bt; b++) {
      /* gh carries the gradient wrt h_t from the later steps */
      float *gh = g_h0 + b * S;
      memcpy(gh, gh_last + b * S, (size_t)S * sizeof(float));
      for (int64_t c = nC - 1; c >= 0; c--) {
        const int64_t t0 = c * CH, t1 = t0 + CH < L ? t0 + CH : L;
        const float *hc = ckpt + (b * nC + c) * S; /* the state before step t0 */
        /* recompute this chunk's states (and outputs) from its checkpoint */
        for (int64_t t = t0; t < t1; t++) {
            const int64_t o = (b * L + t) * Dm, on = (b * L + t) * ldbc;
            const float *dt = delta_row(Dm, delta + (b * L + t) * ldd, R, Wt, dbias, dsoft,
                                        pre, dts);
            const float *hp = t > t0 ? hs + (t - t0 - 1) * S : hc;
            float *yt = ys + (t - t0) * Dm;
            input_scale(s, dt, u + o, Dm, dsi);
            for (int64_t d = 0; d < Dm; d++) yt[d] = 0.0f;
            for (int64_t n = 0; n < N; n++) {
                recompute_row(Dm, B[on + n], C[on + n], At + n * Dm, dt, s, hp + n * Dm,
                              hs + (t - t0) * S + n * Dm, as + (t - t0) * S + n * Dm, yt);
            }
        }
        /* adjoint scan through the chunk */
        for (int64_t t = t1 - 1; t >= t0; t--) {
            const int64_t o = (b * L + t) * Dm, on = (b * L + t) * ldbc;
            const float *raw = delta + (b * L + t) * ldd;
            const float *dt = delta_row(Dm, raw, R, Wt, dbias, dsoft, pre, dts);
            const float *ut = u + o, *gyt = gy + o;
            const float *hp = t > t0 ? hs + (t - t0 - 1) * S : hc;
            input_scale(s, dt, ut, Dm, dsi);
            if (D || z) { /* through the gate, from the scan's output y_t kept above */
                gate_row_bwd(Dm, ys + (t - t0) * Dm, ut, D, z ? z + (b * L + t) * ldz : 0, gyt,
                             gye, z ? g_z + (b * L + t) * ldgz : 0, g_D);
                gyt = gye;
            }
            for (int64_t d = 0; d < Dm; d++) {
                gs[d] = 0.0f;
                gdt[d] = 0.0f;
            }
            for (int64_t n = 0; n < N; n++) {
                bwd_row(Dm, B[on + n], C[on + n], At + n * Dm, hp + n * Dm,
                        hs + (t - t0) * S + n * Dm, as + (t - t0) * S + n * Dm, dt, s, gyt,
                        gh + n * Dm, g_At + n * Dm, gs, gdt, g_B + on + n,
                        g_C + on + n);
            }
            /* gd: the gradient wrt the step before its softplus (and bias) */
            float *gd = R ? gdv : g_delta + (b * L + t) * ldd;
            bwd_tail(Dm, dsi, dsoft, gs, gdt, dt, ut, gyt, D, pre, g_u + o, gd);
            if (g_dbias)
                for (int64_t d = 0; d < Dm; d++) g_dbias[d] += gd[d];
            for (int64_t r = 0; r < R; r++) { /* back through the fused projection */
                float *restrict gw = g_Wt + r * Dm;
                const float x = raw[r];
                g_delta[(b * L + t) * ldd + r] = dot16(Dm, gd, Wt + r * Dm);
                for (int64_t d = 0; d < Dm; d++) gw[d] += gd[d] * x;
            }
        }
    }
      }
}
"""

# 512-bit vectors where the CPU has them: 1.6x the forward and 1.25x the backward at the
# CPU scale on the development machine's Xeon (gcc 12 prefers 256 bits by default)
#: False keeps every model op on its torch path (the compiled kernels are not used).
ENABLED = True
#: Steps per chunk of the scan's backward: the forward keeps the state before each chunk,
#: the backward recomputes one chunk's states and decays (2 x 64 x 8 KiB at 16 states x
#: 128 channels, in L2 cache) and runs the adjoint through it (a whole row's 8 MB at L = 1024 went
#: through memory).
KERNEL_CHUNK = 64

# -ffp-contract=fast: under -std=c99 GCC contracts no a * b + c into a fused multiply-add
# (ISO C rounding); the exp polynomial and the state updates want them.
_FLAG_SETS = (
    ["-O3", "-march=native", "-mprefer-vector-width=512", "-ffp-contract=fast"],
    ["-O3", "-march=native", "-ffp-contract=fast"],
    ["-O3"],
)
_LOCK = threading.Lock()
_STATE: dict = {}  # "lib" (ctypes.CDLL or None) and "reason" once tried


def _cpu_key() -> str:
    """What the compiled code depends on besides source and flags: the CPU's features."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features", "model name")):
                flags += line
    except OSError:
        pass
    return platform.machine() + platform.processor() + flags


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "wavescope" / "kernels"


def _compile(cc: str, flags: list[str], out: Path) -> str | None:
    """Compile the source into ``out`` (atomically); return None or the error text."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "ws_scan.c"
        src.write_text(_SOURCE)
        so = Path(tmp) / out.name
        cmd = [cc, *flags, "-std=c99", "-fPIC", "-shared", str(src), "-o", str(so), "-lm"]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            return f"{' '.join(cmd)}: {e}"
        if res.returncode != 0:
            return f"{' '.join(cmd)} failed: {res.stderr.strip()[:300]}"
        os.replace(so, out)  # atomic: concurrent processes never load a partial file
    return None


def _load():
    """The compiled library (building it on first use), or None with the reason stored."""
    with _LOCK:
        if "lib" in _STATE:
            return _STATE["lib"]
        lib, reason = None, ""
        if os.environ.get("WAVESCOPE_SCAN_KERNEL", "1") == "0":
            reason = "disabled by WAVESCOPE_SCAN_KERNEL=0"
        else:
            cc = os.environ.get("CC", "cc")
            errors = []
            for flags in _FLAG_SETS:
                key = hashlib.sha256(
                    "\0".join([_SOURCE, cc, *flags, _cpu_key()]).encode()
                ).hexdigest()[:16]
                path = _cache_dir() / f"ws_scan_{key}.so"
                try:
                    err = None if path.exists() else _compile(cc, flags, path)
                except OSError:  # e.g. a read-only home: build in a private temp dir
                    path = Path(tempfile.mkdtemp(prefix="wavescope-")) / path.name
                    err = _compile(cc, flags, path)
                if err is None:
                    try:
                        lib = ctypes.CDLL(str(path))
                        break
                    except OSError as e:
                        err = f"loading {path}: {e}"
                errors.append(err)
            reason = "" if lib is not None else "; ".join(errors)
        if lib is not None:
            _declare(lib)
        _STATE["lib"], _STATE["reason"] = lib, reason
        return lib


def _declare(lib) -> None:
    i64, ptr, cint = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
    lib.ws_scan_fwd.argtypes = [i64] * 5 + [ptr] * 8 + [cint] + [ptr] * 3 + [i64, ptr]
    lib.ws_scan_fwd.argtypes += [ptr, cint, ptr, i64, i64, ptr, i64, ptr]
    lib.ws_scan_fwd.restype = None
    lib.ws_scan_bwd.argtypes = [i64] * 5 + [ptr] * 8 + [cint] + [ptr] * 16 + [i64, ptr]
    lib.ws_scan_bwd.argtypes += [ptr, cint, ptr, ptr, ptr, i64, i64, ptr, i64, i64, ptr, ptr, ptr]
    lib.ws_scan_bwd.restype = None
    lib.ws_wave_kernel_fwd.argtypes = [i64] * 3 + [ptr] * 7
    lib.ws_wave_kernel_fwd.restype = None
    lib.ws_wave_kernel_bwd.argtypes = [i64] * 3 + [ptr] * 9
    lib.ws_wave_kernel_bwd.restype = None
    lib.ws_rms_fwd.argtypes = [i64, i64, ptr, ptr, ctypes.c_float, ptr, ptr]
    lib.ws_rms_fwd.restype = None
    lib.ws_rms_bwd.argtypes = [i64, i64] + [ptr] * 7
    lib.ws_rms_bwd.restype = None
    lib.ws_conv_fwd.argtypes = [i64] * 5 + [ptr] * 5
    lib.ws_conv_fwd.restype = None
    lib.ws_conv_bwd.argtypes = [i64] * 5 + [ptr] * 8
    lib.ws_conv_bwd.restype = None
    lib.ws_sconv_fwd.argtypes = [i64] * 5 + [ptr] * 5
    lib.ws_sconv_fwd.restype = None
    lib.ws_sconv_bwd.argtypes = [i64] * 5 + [ptr] * 4 + [i64] + [ptr] * 4
    lib.ws_sconv_bwd.restype = None


def kernel_status() -> tuple[bool, str]:
    """(available, reason): whether the compiled kernel loads here, and why not if not."""
    lib = _load()
    return lib is not None, _STATE.get("reason", "")


def applies(*tensors) -> bool:
    """Whether the compiled kernels take these tensors: all float32 on the CPU, the kernels
    enabled (``ENABLED``) and built here. The conv and RMSNorm kernels need no more."""
    ok = ENABLED and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
    return ok and _load() is not None


def scan_applies(u, A, B, C, h0) -> bool:
    """Whether :func:`selective_scan_kernel` handles these inputs (and the kernel loads)."""
    ok = (
        ENABLED
        and u.device.type == "cpu"
        and u.dtype == torch.float32
        and not (A.is_complex() or B.is_complex() or C.is_complex())
        and (h0 is None or not h0.is_complex())
        and B.dim() == 3
        and C.dim() == 3
    )
    return ok and _load() is not None


def _p(x: torch.Tensor) -> int:
    return x.data_ptr()


def _opt(x):
    """Pointer of an optional tensor (None: NULL)."""
    return None if x is None else x.data_ptr()


class _KernelScanFn(torch.autograd.Function):
    """(y_t + D u_t) silu(z_t) with y_t = C_t . h_t, and h_L: the real selective scan;
    the step is softplus(delta + dbias) (each part optional)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, h0, delta_scales_input, dbias=None, dsoft=False):
        # u, delta, z : (Bt, L, Dm) ; A : (Dm, N) ; B, C : (Bt, L, N) ; D, dbias : (Dm,) ;
        # h0 : (Bt, Dm, N) ; D, z and dbias may be None
        lib = _load()
        Bt, L, Dm = u.shape
        N = A.shape[1]
        u, delta, B, C = (x.contiguous() for x in (u, delta, B, C))
        D, dbias = (None if x is None else x.contiguous() for x in (D, dbias))
        z, ldz = (None, Dm) if z is None else _rows(z)
        At = A.t().contiguous()  # (N, Dm)
        h0t = h0.transpose(1, 2).contiguous()  # (Bt, N, Dm)
        y = torch.empty(Bt, L, Dm, dtype=u.dtype)
        h_last = torch.empty(Bt, N, Dm, dtype=u.dtype)
        s, dts, pre = torch.empty(3, Dm, dtype=u.dtype)  # scratch rows
        dsi = int(bool(delta_scales_input))
        ckpt = torch.empty(Bt, -(-L // KERNEL_CHUNK), N, Dm, dtype=u.dtype)
        lib.ws_scan_fwd(
            Bt, L, Dm, N, ldz, _p(u), _p(delta), _p(At), _p(B), _p(C), _p(h0t), _opt(D), _opt(z),
            dsi, _p(y), _p(h_last), _p(s), KERNEL_CHUNK, _p(ckpt), _opt(dbias), int(dsoft),
            _p(dts), Dm, 0, None, N, _p(pre),
        )  # fmt: skip
        ctx.save_for_backward(u, delta, At, B, C, h0t, D, z, ckpt, dbias)
        ctx.dsi, ctx.ldz, ctx.dsoft = dsi, ldz, int(dsoft)
        return y, h_last.transpose(1, 2)

    @staticmethod
    def backward(ctx, gy, gh_last):
        u, delta, At, B, C, h0t, D, z, ckpt, dbias = ctx.saved_tensors
        lib = _load()
        Bt, L, Dm = u.shape
        N = At.shape[0]
        gy = torch.zeros_like(u) if gy is None else gy.contiguous()
        if gh_last is None:
            ghl = torch.zeros_like(h0t)
        else:
            ghl = gh_last.transpose(1, 2).contiguous()  # (Bt, N, Dm)
        g_u, g_delta = torch.empty_like(u), torch.empty_like(u)
        g_At = torch.zeros_like(At)
        g_B, g_C = torch.empty_like(B), torch.empty_like(C)
        g_h0 = torch.empty_like(h0t)
        g_D = None if D is None else torch.zeros_like(D)
        g_z = None if z is None else torch.empty(Bt, L, Dm, dtype=u.dtype)
        g_db = None if dbias is None else torch.zeros_like(dbias)
        T = min(L, KERNEL_CHUNK)
        hs = torch.empty(2, T, N, Dm, dtype=u.dtype)  # the chunk's states and decays
        scratch = torch.empty(T + 7, Dm, dtype=u.dtype)  # kept alive through the call
        rows = [scratch.data_ptr()] + [r.data_ptr() for r in scratch[T : T + 4]]
        lib.ws_scan_bwd(
            Bt, L, Dm, N, ctx.ldz, _p(u), _p(delta), _p(At), _p(B), _p(C), _p(h0t), _opt(D),
            _opt(z), ctx.dsi, _p(gy), _p(ghl), _p(g_u), _p(g_delta), _p(g_At), _p(g_B), _p(g_C),
            _p(g_h0), _opt(g_D), _opt(g_z), _p(hs[0]), *rows, KERNEL_CHUNK, _p(ckpt), _opt(dbias),
            ctx.dsoft, _p(scratch[T + 4]), _opt(g_db), _p(hs[1]), Dm, 0, None, N, Dm, None,
            _p(scratch[T + 5]), _p(scratch[T + 6]),
        )  # fmt: skip
        g_h0 = g_h0.transpose(1, 2)
        return g_u, g_delta, g_At.t(), g_B, g_C, g_D, g_z, g_h0, None, g_db, None


def selective_scan_kernel(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    h0=None,
    delta_scales_input=True,
    delta_bias=None,
    delta_softplus=False,
):
    """The selective scan by the compiled kernel, skip and gate included: (y, h_last).

    u, delta : (Bt, L, Dm) float32 ; A : (Dm, N) ; B, C : (Bt, L, N) ; D : (Dm,) or None ;
    z : (Bt, L, Dm) or None ; h0 : (Bt, Dm, N) or None (zeros). ``y = (C . h + D u) *
    silu(z)`` as in :func:`wavescope.models.scan.selective_scan`, with the step
    ``softplus(delta + delta_bias)`` if ``delta_softplus`` (Mamba's Delta from the output
    of ``dt_proj`` before its bias: the bias, softplus and their gradients fused into the
    scan's passes), ``delta + delta_bias`` otherwise (``delta_bias`` (Dm,) or None). Call
    only where :func:`scan_applies` is true.
    """
    if h0 is None:
        h0 = torch.zeros(u.shape[0], A.shape[0], A.shape[1], dtype=u.dtype)
    dt = u.dtype
    return _KernelScanFn.apply(
        u, delta, A.to(dt), B.to(dt), C.to(dt), None if D is None else D.to(dt),
        None if z is None else z.to(dt), h0.to(dt), bool(delta_scales_input),
        None if delta_bias is None else delta_bias.to(dt), bool(delta_softplus),
    )  # fmt: skip


def _rows(x):
    """(x or a contiguous copy, row stride): x (Bt, L, D) read as rows of D at a stride."""
    Bt, L, D = x.shape
    if x.stride(2) == 1 and (Bt == 1 or x.stride(0) == L * x.stride(1)):
        return x, x.stride(1)  # e.g. one half of in_proj's output: no copy
    return x.contiguous(), D


class _CausalConvFn(torch.autograd.Function):
    """y[b, t] = act(bias + sum_{m <= min(t, K - 1)} w[m] * x[b, t - m]), act = SiLU or none,
    by the compiled kernel."""

    @staticmethod
    def forward(ctx, x, w, bias, silu):
        # x : (Bt, L, D) ; w : (K, D) ; bias : (D,) or None
        lib = _load()
        x, ldx = _rows(x)
        w = w.contiguous()
        Bt, L, D = x.shape
        y = torch.empty(Bt, L, D, dtype=x.dtype)
        pre = torch.empty_like(y) if silu else None
        b = None if bias is None else bias.contiguous()
        lib.ws_conv_fwd(Bt, L, D, w.shape[0], ldx, _p(x), _p(w), _opt(b), _opt(pre), _p(y))
        ctx.save_for_backward(x, w, pre)
        ctx.has_bias, ctx.ldx = bias is not None, ldx
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w, pre = ctx.saved_tensors
        lib = _load()
        Bt, L, D = x.shape
        gy = gy.contiguous()
        gx, gw = torch.empty(Bt, L, D, dtype=x.dtype), torch.empty_like(w)
        gb = torch.empty(D, dtype=x.dtype) if ctx.has_bias else None
        g = None if pre is None else torch.empty_like(pre)
        lib.ws_conv_bwd(
            Bt, L, D, w.shape[0], ctx.ldx, _p(x), _p(w), _opt(pre), _p(gy), _p(gx), _p(gw),
            _opt(gb), _opt(g),
        )  # fmt: skip
        return gx, gw, gb, None


def causal_conv_kernel(x, w, bias=None, silu=False):
    """Depthwise causal convolution ``y_t = bias + sum_m w[m] x_{t-m}`` (m < K, m <= t),
    followed by SiLU if ``silu``.

    x : (Bt, L, D) float32 CPU ; w : (K, D), w[m] multiplies the input m steps back ;
    bias : (D,) or None. Returns y (Bt, L, D). Call only where :func:`applies` is true.
    """
    return _CausalConvFn.apply(x, w, bias, bool(silu))


#: Steps (batch rows x L) per slice of the fused Mamba node: each slice runs all of its
#: parts before the next, so that a part reads its input while it is still in the cache
#: (about 2 MB of activations per 1024 steps at Mamba's CPU sizes).
MAMBA_SLICE_STEPS = 2048


#: Intra-op threads of the fused Mamba node's matmuls (its compiled kernels use one): at
#: 2 torch threads on the shared 2-core machine, OpenMP's fork/join and spin-waiting around
#: its 16 small matmuls a layer took the L = 1024 step from ~350 to 550-1050 ms of CPU time
#: (wall 700 -> 1150-2100 ms). None leaves torch's setting.
MAMBA_THREADS: int | None = 1


@contextmanager
def _intra_op_threads(n: int | None):
    prev = torch.get_num_threads()
    if n is not None and prev != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != prev:
            torch.set_num_threads(prev)


def _slices(Bt: int, L: int):
    """Batch slices (b0, b1) of about ``MAMBA_SLICE_STEPS`` steps each."""
    n = max(1, MAMBA_SLICE_STEPS // max(L, 1))
    return [(b0, min(b0 + n, Bt)) for b0 in range(0, Bt, n)]


class _MambaInnerFn(torch.autograd.Function):
    """Mamba's mixer from its input to out_proj's input, by the compiled kernels and
    torch matmuls: in_proj, the conv (with its SiLU), x_proj, dt_proj, the softplus and the
    selective scan with its skip and gate. One autograd node: its backward writes the
    gradients of in_proj's two halves (conv and gate) and x_proj's three parts (the step's
    rank-R input, B and C) into one tensor each, where separate nodes would concatenate
    them, and the scan and x_proj's gradients wrt the conv's output add in place. Both
    directions run batch slice by batch slice (:data:`MAMBA_SLICE_STEPS`), every part of
    a slice in turn, so that each reads what the previous one wrote from the cache, not
    from memory (the matmuls too: in_proj's at 2048 rows ran 1.4x its rate at 16384 on
    the development machine); the weight gradients add up over the slices."""

    @staticmethod
    def forward(ctx, x, inw, conv_w, conv_b, xw, dtw, dtb, A, D):
        with _intra_op_threads(MAMBA_THREADS):
            return _MambaInnerFn._forward(ctx, x, inw, conv_w, conv_b, xw, dtw, dtb, A, D)

    @staticmethod
    def backward(ctx, gy):
        with _intra_op_threads(MAMBA_THREADS):
            return _MambaInnerFn._backward(ctx, gy)

    @staticmethod
    def _forward(ctx, x, inw, conv_w, conv_b, xw, dtw, dtb, A, D):
        # x (Bt, L, Dmodel) ; inw (2 ED, Dmodel) in_proj's weight ; conv_w (K, ED),
        # conv_w[m] multiplies x_{t-m} ; conv_b, dtb, D (ED,) ; xw (R + 2N, ED) x_proj's
        # weight ; dtw (ED, R) dt_proj's ; A (ED, N)
        lib = _load()
        x = x.contiguous()
        Bt, L, E2, dt = x.shape[0], x.shape[1], inw.shape[0], x.dtype
        ED, N, R = E2 // 2, A.shape[1], dtw.shape[1]
        P, K, f, nC = R + 2 * N, conv_w.shape[0], x.element_size(), -(-L // KERNEL_CHUNK)
        conv_w, conv_b = conv_w.contiguous(), None if conv_b is None else conv_b.contiguous()
        At, Wt, inwT, xwT = A.t().contiguous(), dtw.t().contiguous(), inw.t(), xw.t()
        xz, xc = torch.empty(Bt, L, E2, dtype=dt), torch.empty(Bt, L, ED, dtype=dt)
        xdbl, y = torch.empty(Bt, L, P, dtype=dt), torch.empty(Bt, L, ED, dtype=dt)
        ckpt = torch.empty(Bt, nC, N, ED, dtype=dt)
        rows = torch.empty(3, ED, dtype=dt)  # scratch
        for b0, b1 in _slices(Bt, L):
            nb = b1 - b0
            torch.mm(x[b0:b1].view(-1, x.shape[2]), inwT, out=xz[b0:b1].view(-1, E2))
            pz, pc, pd = _p(xz[b0:b1]), _p(xc[b0:b1]), _p(xdbl[b0:b1])
            lib.ws_sconv_fwd(nb, L, ED, K, E2, pz, _p(conv_w), _opt(conv_b), pc, _p(rows[0]))
            torch.mm(xc[b0:b1].view(-1, ED), xwT, out=xdbl[b0:b1].view(-1, P))  # dt, B, C
            h0 = _buffer("mi_zero", (nb, N, ED), dt, "cpu").zero_()
            h_last = _buffer("mi_hlast", (nb, N, ED), dt, "cpu")  # not returned
            lib.ws_scan_fwd(
                nb, L, ED, N, E2, pc, pd, _p(At), pd + f * R, pd + f * (R + N), _p(h0), _p(D),
                pz + f * ED, 1, _p(y[b0:b1]), _p(h_last), _p(rows[0]), KERNEL_CHUNK,
                _p(ckpt[b0:b1]), _p(dtb), 1, _p(rows[1]), P, R, _p(Wt), P, _p(rows[2]),
            )  # fmt: skip
        ctx.save_for_backward(x, inw, xz, conv_w, conv_b, xw, xc, xdbl, Wt, At, D, dtb, ckpt)
        return y

    @staticmethod
    def _backward(ctx, gy):
        x, inw, xz, conv_w, conv_b, xw, xc, xdbl, Wt, At, D, dtb, ckpt = ctx.saved_tensors
        lib = _load()
        Bt, L, E2 = xz.shape
        ED, N, R, Dmodel = E2 // 2, At.shape[0], Wt.shape[0], x.shape[2]
        P, K, f = R + 2 * N, conv_w.shape[0], xz.element_size()
        gy = gy.contiguous()
        dt, T = xz.dtype, min(L, KERNEL_CHUNK)
        g_At, g_Wt = torch.zeros_like(At), torch.zeros_like(Wt)
        g_D, g_db = torch.zeros_like(D), torch.zeros_like(dtb)
        g_xw, g_inwT = torch.zeros_like(xw), torch.zeros(Dmodel, E2, dtype=dt)
        g_w, g_ws = torch.zeros_like(conv_w), torch.empty_like(conv_w)
        g_b = None if conv_b is None else torch.zeros_like(conv_b)
        g_bs = None if conv_b is None else torch.empty_like(conv_b)
        g_x = torch.empty_like(x)
        # temporaries (none leaves the call) in buffers kept between calls: fresh ones
        # page-fault on every use (~35 MB a step at L = 1024, 10-20 ms of system time)
        hs = _buffer("mi_hs", (2, T, N, ED), dt, "cpu")  # the chunk's states and decays
        sc = _buffer("mi_rows", (T + 7, ED), dt, "cpu")  # scratch rows
        ring = _buffer("mi_ring", (K + 2, ED), dt, "cpu")
        rows = [_p(sc)] + [_p(r) for r in sc[T:]]
        for b0, b1 in _slices(Bt, L):
            nb = b1 - b0
            g_xz = _buffer("mi_gxz", (nb, L, E2), dt, "cpu")
            g_u = _buffer("mi_gu", (nb, L, ED), dt, "cpu")
            g_xdbl = _buffer("mi_gxdbl", (nb, L, P), dt, "cpu")
            zero = _buffer("mi_zero", (nb, N, ED), dt, "cpu").zero_()  # gradient wrt h_L
            g_h0 = _buffer("mi_gh0", (nb, N, ED), dt, "cpu")
            pz, pc, pd, gx = _p(xz[b0:b1]), _p(xc[b0:b1]), _p(xdbl[b0:b1]), _p(g_xdbl)
            lib.ws_scan_bwd(
                nb, L, ED, N, E2, pc, pd, _p(At), pd + f * R, pd + f * (R + N), _p(zero), _p(D),
                pz + f * ED, 1, _p(gy[b0:b1]), _p(zero), _p(g_u), gx, _p(g_At), gx + f * R,
                gx + f * (R + N), _p(g_h0), _p(g_D), _p(g_xz) + f * ED, _p(hs[0]), *rows[:5],
                KERNEL_CHUNK, _p(ckpt[b0:b1]), _p(dtb), 1, rows[5], _p(g_db), _p(hs[1]), P, R,
                _p(Wt), P, E2, _p(g_Wt), rows[6], rows[7],
            )  # fmt: skip
            g2, xc2 = g_xdbl.view(-1, P), xc[b0:b1].view(-1, ED)
            g_xw.addmm_(g2.t(), xc2)
            g_u.view(-1, ED).addmm_(g2, xw)  # the conv's output feeds the scan and x_proj
            lib.ws_sconv_bwd(
                nb, L, ED, K, E2, pz, _p(conv_w), _opt(conv_b), _p(g_u), E2, _p(g_xz),
                _p(g_ws), _opt(g_bs), _p(ring),
            )  # fmt: skip
            g_w += g_ws
            if g_b is not None:
                g_b += g_bs
            x2, gxz2 = x[b0:b1].view(-1, Dmodel), g_xz.view(-1, E2)
            g_inwT.addmm_(x2.t(), gxz2)  # (x^T g): 1.5x autograd's g^T x rate here
            torch.mm(gxz2, inw, out=g_x[b0:b1].view(-1, Dmodel))
        g_inw = g_inwT.t().contiguous()
        return g_x, g_inw, g_w, g_b, g_xw, g_Wt.t(), g_db, g_At.t(), g_D


def mamba_inner_applies(*tensors) -> bool:
    """Whether :func:`mamba_inner_kernel` takes these tensors (its arguments but None):
    all float32 (A real) CPU tensors, the kernels built here."""
    return applies(*tensors)


def mamba_inner_kernel(x, inw, conv_w, conv_b, xw, dtw, dtb, A, D):
    """Mamba's mixer from its input to out_proj's input, fused: returns y (Bt, L, ED).

    ``(xi, z) = x inw^T`` (in_proj, halves of 2 ED); ``xc = silu(conv(xi) + conv_b)``;
    ``(dt, B, C) = xc xw^T``; ``Delta = softplus(dt dtw^T + dtb)``;
    ``y = (scan(xc, Delta, A, B, C) + D xc) silu(z)``; float32 CPU. x (Bt, L, Dmodel);
    inw (2 ED, Dmodel); conv_w (K, ED): conv_w[m] multiplies the input m steps back;
    conv_b (ED,) or None; xw (R + 2N, ED); dtw (ED, R); dtb, D (ED,); A (ED, N). Call
    only where :func:`mamba_inner_applies` is true.
    """
    return _MambaInnerFn.apply(x, inw, conv_w, conv_b, xw, dtw, dtb, A, D)


class _RMSNormFn(torch.autograd.Function):
    """x / rms(x) * w over the last axis, by the compiled kernel."""

    @staticmethod
    def forward(ctx, x, w, eps):
        lib = _load()
        x, w = x.contiguous(), w.contiguous()
        D = x.shape[-1]
        R = x.numel() // D
        y = torch.empty_like(x)
        rs = torch.empty(R, dtype=x.dtype)
        lib.ws_rms_fwd(R, D, _p(x), _p(w), float(eps), _p(y), _p(rs))
        ctx.save_for_backward(x, w, rs)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w, rs = ctx.saved_tensors
        lib = _load()
        D = x.shape[-1]
        gy = gy.contiguous()
        gx, gw, tmp = torch.empty_like(x), torch.zeros_like(w), torch.empty_like(w)
        lib.ws_rms_bwd(x.numel() // D, D, _p(x), _p(w), _p(rs), _p(gy), _p(gx), _p(gw), _p(tmp))
        return gx, gw, None


def rms_norm_kernel(x, w, eps: float):
    """``x / sqrt(mean(x^2, -1) + eps) * w`` for float32 CPU x (..., D) and w (D,), in one
    pass each way. Call only where :func:`applies` (x, w) is true."""
    return _RMSNormFn.apply(x, w, eps)


def _f64(x):
    return x.detach().to(torch.float64).contiguous()


def wave_kernel_sum(v, A, W_re, W_im, L: int):
    """The v-Wave ring's impulse response ``K[m, d] = Re(sum_k W[d, k] exp(m v_d A[d, k]))``,
    (L, channels) float64, by the compiled recurrence (no autograd: the caller's function
    differentiates through :func:`wave_kernel_sum_grads`).

    v : (channels,) ; A : (channels, N) complex ; W_re, W_im : (channels, N). Call only
    where :func:`applies` () is true, with CPU tensors.
    """
    lib = _load()
    ch, N = W_re.shape
    Are, Aim, v, Wr, Wi = _f64(A.real), _f64(A.imag), _f64(v), _f64(W_re), _f64(W_im)
    K = torch.empty(L, ch, dtype=torch.float64)
    scratch = torch.empty(4 * N, dtype=torch.float64)
    lib.ws_wave_kernel_fwd(
        ch, N, L, _p(v), _p(Are), _p(Aim), _p(Wr), _p(Wi), _p(K), _p(scratch)
    )  # fmt: skip
    return K


def wave_kernel_sum_grads(v, A, gK):
    """``S[d, k] = sum_m gK[m, d] exp(m v_d A[d, k])`` and ``S_m`` (the same weighted by m),
    complex128 (channels, N) each, for the gradient of :func:`wave_kernel_sum` from
    gK (L, channels)."""
    lib = _load()
    ch, N = A.shape
    Are, Aim, v, g = _f64(A.real), _f64(A.imag), _f64(v), _f64(gK)
    out = torch.empty(4, ch, N, dtype=torch.float64)
    scratch = torch.empty(4 * N, dtype=torch.float64)
    lib.ws_wave_kernel_bwd(
        ch, N, g.shape[0], _p(v), _p(Are), _p(Aim), _p(g), _p(out[0]), _p(out[1]), _p(out[2]),
        _p(out[3]), _p(scratch),
    )  # fmt: skip
    return torch.complex(out[0], out[1]), torch.complex(out[2], out[3])
