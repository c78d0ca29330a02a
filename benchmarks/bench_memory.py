"""Memory curves: wavescope's decoder next to scikit-learn's RidgeClassifierCV, same folds.

    .venv/bin/python benchmarks/bench_memory.py [--quick | --reduced] [--threads 1] [--out DIR]

The job: decode the token of every lag ``tau = 0 .. max_lag`` from the state at every
snapshot step (held-out accuracy per lag, 5 grouped folds over sequences, features
standardised inside the fold, ridge penalty chosen from the 17 values of
``wavescope.waves.memory.ALPHAS`` inside the fold). States: a token delay line of 8
sites (26 letters) plus unit noise in a latent space of ``RANK_FRACTION * p`` dimensions,
mixed into ``p`` float32 features of unequal scale: rank-deficient like the models'
states (CPU-scale v-Wave Mamba: rank 2512 of 4096), and a read-out imperfect enough for
the penalty to matter.

- ``wavescope``: ``wavescope.waves.memory.memory_curve``, its fast default (one shared
  rank-r basis, one r x r float64 eigendecomposition per fold for every lag and penalty;
  GCV; bootstrap of 1000 resamples included);
- ``wavescope-exact``: the same with ``exact=True`` (the per-fold float64 reference, one
  p x p eigendecomposition per fold);
- ``sklearn``: per fold and lag, ``make_pipeline(StandardScaler(),
  RidgeClassifierCV(alphas=ALPHAS))`` fitted and asked to predict (its penalty from
  efficient leave-one-out, not GCV, so the two curves may differ slightly: the table gives
  the largest difference of accuracy over lags). At the probe's size it is timed on one
  (fold, lag) fit and scaled by the number of fits (marked "est.").

Each implementation runs in a fresh child process: wall and CPU time, and peak memory as
``VmHWM`` above the resident set after the imports (so it includes the states). BLAS
threads are fixed to ``--threads`` for both (wavescope's own policy,
``memory_ridge.blas_threads``, is overridden). Writes benchmarks/results/memory.json and
.md (``run_all.py`` puts the same section in benchmarks/results/benchmarks.*).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

IMPLS = ("wavescope", "wavescope-exact", "sklearn")
VOCAB, SITES, N_SPLITS, SEED = 26, 8, 5, 0
#: Rank of the states as a fraction of the features (v-Wave Mamba's: 2512 / 4096).
RANK_FRACTION = 0.6
#: (n_sequences, length, max_lag, features); the last is `wavescope probe --memory-curve`'s
#: default on CPU-scale v-Wave Mamba (200 x 96 letters, lags 0-48, 128 x 32 ring sites).
FULL = {
    "cases": ((100, 40, 8, 256), (200, 64, 16, 1024), (200, 96, 48, 4096)),
    "peer_full_max_p": 1024,
}
QUICK = {"cases": ((40, 30, 4, 64), (60, 40, 8, 256)), "peer_full_max_p": 256}
#: A shorter run that shows the ratios (about 10 minutes on a busy 2-core machine): the
#: peer in full at 256 features, timed on one fit and scaled at 1024; at the probe's size
#: wavescope's fast default alone (the exact path and the peer there take 2.5 and 12 hours
#: of the full run; the probe's own before/after is in memory_probe.md).
REDUCED = {
    "cases": ((60, 40, 8, 256), (200, 64, 16, 1024), (200, 96, 48, 4096)),
    "peer_full_max_p": 256,
    "skip": {(4096, "wavescope-exact"), (4096, "sklearn")},
}
CHILD_TIMEOUT_S = 3600.0


def make_states(n_seq: int, length: int, p: int, seed: int = SEED, start: int = 0):
    """(states float32 (n_seq, length - start, p): the steps ``start ..``, tokens
    (n_seq, length)). wavescope is given the snapshot steps alone (``start = max_lag``,
    as ``wavescope probe --memory-curve`` captures them), the peer every step."""
    import numpy as np

    rng = np.random.default_rng(seed)
    u = rng.integers(0, VOCAB, size=(n_seq, length))
    k = max(SITES * VOCAB, int(round(RANK_FRACTION * p)))
    mix = rng.standard_normal((SITES * VOCAB, k), dtype=np.float32) / np.float32(np.sqrt(SITES))
    proj = rng.standard_normal((k, p), dtype=np.float32) / np.float32(np.sqrt(k))
    proj *= rng.uniform(0.2, 5.0, size=p).astype(np.float32)  # unequal feature scales
    # one sequence at a time, in float32: no temporary of the states' size, so that the
    # peak memory measured is the decoder's (plus the states), not the generator's
    states = np.empty((n_seq, length - start, p), dtype=np.float32)
    for s in range(n_seq):
        latent = rng.standard_normal((length, k), dtype=np.float32)
        for i in range(SITES):  # site i holds the one-hot code of u[t - i]
            latent[i:] += mix[i * VOCAB + u[s, : length - i]]
        states[s] = latent[start:] @ proj
    return states, u


def _folds(n_seq: int, n_snap: int):
    import numpy as np
    from sklearn.model_selection import GroupKFold

    groups = np.repeat(np.arange(n_seq), n_snap)
    return list(GroupKFold(n_splits=N_SPLITS).split(groups, groups=groups))


def run_sklearn(states, u, max_lag: int, limit_fits: int | None = None) -> dict:
    """The peer on the same folds; ``limit_fits``: time only that many (fold, lag) fits."""
    import numpy as np
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from wavescope.waves.memory import ALPHAS

    n_seq, length, p = states.shape
    n_snap = length - max_lag
    x = states[:, max_lag:].reshape(-1, p)
    y = np.stack([u[:, max_lag - k : length - k].reshape(-1) for k in range(max_lag + 1)], 1)
    pred = np.empty_like(y)
    fits, total = 0, N_SPLITS * (max_lag + 1)
    for train, test in _folds(n_seq, n_snap):
        for lag in range(max_lag + 1):
            if limit_fits is not None and fits >= limit_fits:
                return {"fits": fits, "fits_total": total, "score": None}
            clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=ALPHAS))
            pred[test, lag] = clf.fit(x[train], y[train, lag]).predict(x[test])
            fits += 1
    return {"fits": fits, "fits_total": total, "score": np.mean(pred == y, axis=0).tolist()}


def run_wavescope(states, u, max_lag: int, threads: int, exact: bool = False) -> dict:
    from wavescope.waves import memory_curve, memory_ridge

    memory_ridge.blas_threads = lambda: threads  # the same BLAS threads as the peer
    c = memory_curve(states, u, max_lag, exact=exact, states_start=max_lag)
    return {"score": c.score.tolist(), "horizon": c.horizon, "rank": c.meta.get("rank")}


def worker(impl: str, case: tuple, threads: int, limit_fits: int | None) -> dict:
    """One implementation on one case, in this (fresh) process."""
    import numpy as np  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    import wavescope.waves.memory  # noqa: F401

    n_seq, length, max_lag, p = case
    meter = bl.PeakMeter()
    meter.start()
    states, u = make_states(n_seq, length, p, start=max_lag if impl != "sklearn" else 0)
    with threadpool_limits(limits=threads, user_api="blas"):
        t0, c0 = time.perf_counter(), time.process_time()
        if impl.startswith("wavescope"):
            res = run_wavescope(states, u, max_lag, threads, exact=impl == "wavescope-exact")
        else:
            res = run_sklearn(states, u, max_lag, limit_fits)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "impl": impl,
        "wall_s": wall,
        "cpu_s": cpu,
        **meter.stop(),
        "states_mb": states.nbytes / bl.MB,
        **res,
    }


def _child(args) -> dict:
    return bl.run_child([__file__, *map(str, args)], CHILD_TIMEOUT_S)


def run(quick: bool = False, log=print, threads: int = 1, reduced: bool = False) -> dict:
    plan = QUICK if quick else REDUCED if reduced else FULL
    rows = []
    t_start = time.perf_counter()
    for case in plan["cases"]:
        n_seq, length, max_lag, p = case
        row = {
            "n_sequences": n_seq,
            "length": length,
            "max_lag": max_lag,
            "features": p,
            "rows": n_seq * (length - max_lag),
            "impls": {},
        }
        full_peer = p <= plan["peer_full_max_p"]
        for impl in IMPLS:
            if (p, impl) in plan.get("skip", ()):
                row["impls"][impl] = {"status": "not run"}
                continue
            extra = [] if impl != "sklearn" or full_peer else ["--limit-fits", 1]
            res = _child(["--worker", impl, "--case", *case, "--threads", threads, *extra])
            if "error" in res:
                row["impls"][impl] = {"status": "error", "reason": res["error"]}
                log(f"  memory {case} {impl}: error {res['error']}")
                continue
            res["status"] = "ok" if impl != "sklearn" or full_peer else "estimate"
            if res["status"] == "estimate":  # one fit timed, scaled to all fits
                scale = res["fits_total"] / res["fits"]
                res["wall_s_measured"], res["wall_s"] = res["wall_s"], res["wall_s"] * scale
                res["cpu_s"] *= scale
            row["impls"][impl] = res
            log(
                f"  memory {case} {impl:9s} {res['wall_s']:9.1f} s"
                f"{' (est.)' if res['status'] == 'estimate' else ''}  peak {res['peak_mb']:8.1f} MB"
            )
        a, e, b = (row["impls"].get(i, {}) for i in IMPLS)
        ok_a, ok_e = a.get("status") == "ok", e.get("status") == "ok"
        diff = diff_exact = None
        if ok_a and b.get("status") == "ok" and b.get("score"):
            diff = max(abs(x - y) for x, y in zip(a["score"], b["score"]))
        if ok_a and ok_e:
            diff_exact = max(abs(x - y) for x, y in zip(a["score"], e["score"]))
        row["ratios"] = {
            "speedup_vs_peer": bl.ratio(b.get("wall_s"), a.get("wall_s")) if ok_a else None,
            "memory_fraction_of_peer": (  # an estimate's peak is that of its one fit
                bl.ratio(a.get("peak_mb"), b.get("peak_mb")) if ok_a else None
            ),
            "max_accuracy_difference": diff,
            "speedup_vs_exact": (
                bl.ratio(e.get("wall_s"), a.get("wall_s")) if ok_a and ok_e else None
            ),
            "max_difference_vs_exact": diff_exact,
            "same_horizon_as_exact": (a["horizon"] == e["horizon"]) if ok_a and ok_e else None,
        }
        rows.append(row)
    slopes = [
        {
            "impl": "wavescope",
            "metric": metric,
            "vs": "features",
            "slope": bl.loglog_slope(
                [r["features"] for r in rows],
                [r["impls"].get("wavescope", {}).get(metric) for r in rows],
            ),
        }
        for metric in ("wall_s", "peak_mb")
    ]
    return {
        "config": {
            "vocab": VOCAB,
            "sites": SITES,
            "n_splits": N_SPLITS,
            "threads": threads,
            "quick": quick,
            "reduced": reduced,
            "rank_fraction": RANK_FRACTION,
            "cases": [list(c) for c in plan["cases"]],
        },
        "rows": rows,
        "slopes": slopes,
        "targets": targets(rows),
        "wall_s": time.perf_counter() - t_start,
    }


def targets(rows) -> list[dict]:
    """At the largest case the peer ran in full: >= 10x faster than RidgeClassifierCV and
    at most its peak memory; at the probe's size: under 0.5 GB above the imports."""
    full = [r for r in rows if r["impls"].get("sklearn", {}).get("status") == "ok"]
    big = max(full, key=lambda r: r["features"]) if full else None
    probe = next((r for r in rows if r["features"] == 4096), None)
    q = big["ratios"] if big else {}
    where = f"p={big['features']}" if big else "not measured"
    peak = probe["impls"].get("wavescope", {}).get("peak_mb") if probe else None
    return [
        bl.check_target(
            "Memory curve: speed-up vs RidgeClassifierCV", q.get("speedup_vs_peer"), ">=", 10.0,
            where,
        ),
        bl.check_target(
            "Memory curve: peak memory / RidgeClassifierCV's",
            q.get("memory_fraction_of_peer"), "<=", 1.0, where,
        ),
        bl.check_target(
            "Memory curve: peak MB above imports at the probe's size", peak, "<=", 500.0,
            "200 x 96 x 4096 float32 states" if probe else "not measured",
        ),
    ]  # fmt: skip


def markdown(sec: dict) -> list[str]:
    c = sec["config"]
    lines = [
        "## Memory curves: wavescope next to RidgeClassifierCV",
        "",
        f"Token delay line of {c['sites']} sites ({c['vocab']} letters) mixed into p float32 "
        f"features plus noise (rank {RANK_FRACTION:g} p); lags 0..max_lag decoded, "
        f"{c['n_splits']} grouped folds over sequences, the same folds for both; BLAS "
        f"threads {c['threads']} for both. Time: wall "
        "clock of the whole curve in a fresh process (wavescope includes its 1000-resample "
        "bootstrap); peak: VmHWM above the imports, MB (includes the states: wavescope is "
        "given the snapshot steps alone, as the probe captures them). 'est.': the peer "
        "timed on one (fold, lag) fit and scaled to all of them (its peak is that fit's). "
        "'wavescope' is the fast default, 'exact=True' the per-fold float64 reference; "
        "'—': not run (see the commands).",
        "",
    ]
    rows = []
    for r in sec["rows"]:
        a, e, b = (r["impls"].get(i, {}) for i in IMPLS)
        est = " est." if b.get("status") == "estimate" else ""
        q = r["ratios"]
        rows.append(
            [
                f"{r['n_sequences']} x {r['length']}, lags 0-{r['max_lag']}",
                str(r["features"]),
                str(a.get("rank") if a.get("rank") is not None else "full (exact path)"),
                bl.fmt(a.get("wall_s"), ".1f"),
                bl.fmt(a.get("peak_mb"), ".0f"),
                bl.fmt(e.get("wall_s"), ".1f"),
                bl.fmt(e.get("peak_mb"), ".0f"),
                bl.fmt(q.get("max_difference_vs_exact"), ".4f")
                + ("" if q.get("same_horizon_as_exact") is not False else " (horizon differs)"),
                bl.fmt(b.get("wall_s"), ".1f") + est,
                bl.fmt(b.get("peak_mb"), ".0f") + (" (1 fit)" if est else ""),
                bl.fmt_ratio(q.get("speedup_vs_peer")) + est,
                bl.fmt(q.get("memory_fraction_of_peer"), ".2f"),
                bl.fmt(q.get("max_accuracy_difference"), ".3f"),
            ]
        )
    lines += bl.md_table(
        [
            "sequences x steps",
            "features",
            "rank (fast path)",
            "wavescope s",
            "wavescope peak MB",
            "exact=True s",
            "exact=True peak MB",
            "max |score difference| vs exact",
            "RidgeClassifierCV s",
            "RidgeClassifierCV peak MB",
            "speed-up",
            "memory (wavescope / peer)",
            "max |accuracy difference|",
        ],
        rows,
    )
    return lines


def slopes_markdown(sec: dict) -> list[str]:
    got = {s["metric"]: s["slope"] for s in sec["slopes"]}
    return [
        "Memory curves (wavescope):",
        "",
        *bl.md_table(
            ["implementation", "time vs features", "peak memory vs features"],
            [["wavescope", bl.fmt(got.get("wall_s")), bl.fmt(got.get("peak_mb"))]],
        ),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases: checks the code")
    ap.add_argument("--reduced", action="store_true", help="shorter run that shows the ratios")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both (default 1)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default results/)")
    ap.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    ap.add_argument("--case", type=int, nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--limit-fits", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        res = worker(args.worker, tuple(args.case), args.threads, args.limit_fits)
        print(json.dumps(res))
        return 0
    machine = bl.machine_info()
    sec = run(args.quick, threads=args.threads, reduced=args.reduced)
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    md = ["# Memory-curve benchmark", "", *bl.machine_markdown(machine), "", *markdown(sec)]
    md += ["", "## Targets", ""]
    md += bl.md_table(
        ["target", "wanted", "measured", "where", "status"],
        [
            [t["target"], f"{t['op']} {t['threshold']:g}", bl.fmt(t["value"], ".3g"), t["where"],
             f"**{t['status']}**"]
            for t in sec["targets"]
        ],
    )  # fmt: skip
    print("\n".join(md))
    out = args.out or (None if args.quick else bl.RESULTS)
    stem = "memory_reduced" if args.reduced else "memory"
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.json").write_text(json.dumps({"machine": machine, "memory": sec}, indent=2))
        (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
