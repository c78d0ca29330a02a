"""Speed bias of the default phase route under in-band noise (issue 11, item 6).

Planar waves of known speed on three geometries, with noise in the analysis band that is
either independent per site (white in space) or spatially smooth (a Gaussian spatial
correlation of 3 site spacings, no propagation), at SNR 10, 5 and 0 dB, 3 seeds each.
Each case is measured by ``measure_velocity(field, band)`` with the defaults (phase
route, wave-epoch summary) and the speed error reported for the wave-epoch median and
for the all-sample median, next to the Cramer-Rao standard deviation of the recording's
speed (``plane_wave_precision``).

    .venv/bin/python analyses/speed_bias.py          # about 5 minutes on 2 cores

Writes analyses/results/speed_bias.json and .md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from wavescope.datasets import grid_positions, planar_wave, smooth_noise
from wavescope.signal.spectral import bandpass
from wavescope.waves import measure_velocity, plane_wave_precision

RESULTS = Path(__file__).resolve().parent / "results"
CASES = {
    # a binned widefield window: 24 x 24 sites at 0.1 mm, 25 Hz, 1.35 Hz waves at 30 mm/s
    "widefield 0.1-5 Hz": dict(
        pos=grid_positions(24, 24, 0.1e-3), fs=25.0, dur=120.0, f=1.35, v=0.03, band=(0.1, 5.0)
    ),
    # a Utah-like array: 10 x 10 at 0.4 mm, 500 Hz, 10 Hz waves at 0.3 m/s
    "utah 8-12 Hz": dict(
        pos=grid_positions(10, 10, 0.4e-3), fs=500.0, dur=20.0, f=10.0, v=0.3, band=(8.0, 12.0)
    ),
    "utah 5-20 Hz": dict(
        pos=grid_positions(10, 10, 0.4e-3), fs=500.0, dur=20.0, f=10.0, v=0.3, band=(5.0, 20.0)
    ),
}
SNRS = (10, 5, 0)
SEEDS = (0, 1, 2)


def one(c, kind, snr_db, seed):
    rng = np.random.default_rng(seed)
    d = rng.uniform(-np.pi, np.pi)
    w = planar_wave(
        c["pos"], fs=c["fs"], duration=c["dur"], frequency=c["f"], speed=c["v"], direction=d,
        dtype=np.float64,
    )  # fmt: skip
    if kind == "white":
        n = bandpass(rng.standard_normal(w.data.shape), c["fs"], c["band"])
    else:
        pitch = float(np.median(np.diff(np.unique(c["pos"][:, 0]))))
        n = smooth_noise(
            c["pos"], fs=c["fs"], duration=c["dur"], band=c["band"], length_scale=3 * pitch,
            seed=seed, dtype=np.float64,
        ).data  # fmt: skip
    n = n / np.std(n) * np.std(w.data) / 10 ** (snr_db / 20)
    s = measure_velocity(w.with_data(w.data + n), c["band"]).summary()
    sp_w, sp_all = s["speed"]["median"], s["speed_all_samples"]["median"]
    crb = plane_wave_precision(
        c["pos"], frequency=c["f"], speed=c["v"], direction=d, amplitude=1.0,
        noise_sd=float(np.std(n)) * np.sqrt(c["fs"] / 2 / (c["band"][1] - c["band"][0])),
        fs=c["fs"], duration=c["dur"], band=c["band"],
    )  # fmt: skip

    def err(x):
        return None if x is None else 100 * (x / c["v"] - 1)

    return err(sp_w), err(sp_all), 100 * crb["recording_speed_rel"], s["wave_fraction"]


def main(argv=None):
    t0 = time.time()
    rows = []
    for name, c in CASES.items():
        for kind in ("white", "smooth"):
            for snr in SNRS:
                res = [one(c, kind, snr, s) for s in SEEDS]
                ew = [r[0] for r in res]
                ea = [r[1] for r in res]
                row = dict(
                    case=name, noise=kind, snr_db=snr,
                    epoch_error_pct=ew, all_sample_error_pct=ea,
                    crb_pct=float(np.mean([r[2] for r in res])),
                    wave_fraction=[r[3] for r in res],
                )  # fmt: skip
                rows.append(row)
                print(row, flush=True)
    RESULTS.mkdir(exist_ok=True)
    cmd = "python analyses/speed_bias.py"
    (RESULTS / "speed_bias.json").write_text(
        json.dumps({"command": cmd, "seconds": time.time() - t0, "rows": rows}, indent=1)
    )

    def f(v):
        vals = [x for x in v if x is not None]
        return "no waves" if not vals else ", ".join(f"{x:+.1f}" for x in v if x is not None)

    lines = [
        "| geometry | noise | SNR (dB) | wave-epoch speed error (%) | all-sample (%) | CRB (%) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['noise']} | {r['snr_db']} | {f(r['epoch_error_pct'])} | "
            f"{f(r['all_sample_error_pct'])} | {r['crb_pct']:.2f} |"
        )
    (RESULTS / "speed_bias.md").write_text(
        f"Speed bias under in-band noise (`{cmd}`, seeds {list(SEEDS)}; one value per "
        "seed)\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())
