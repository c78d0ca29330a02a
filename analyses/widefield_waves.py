"""Slow waves in the LENS widefield recording (mouse, ketamine-xylazine), in m/s.

Pipeline: cortex mask (Otsu on the mean image, largest region), dF/F against each
pixel's mean (background removal), linear detrend, 2 x 2 pixel binning (0.1 mm), then
0.1-5 Hz with generalized phase (phase-gradient route) and event-time plane fits (an
independent, broadband route). Writes analyses/results/widefield_waves.json and .png.

Data: Resta, Allegra Mascaro & Pavone, LENS dataset (EBRAINS, doi:10.25493/QFZK-FXS),
as redistributed with the Cobrawap tutorial (Celotto et al. 2020; Gutzen et al. 2024).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from wavescope.io import WidefieldOptions, read_recording
from wavescope.report.figures import save_figure, velocity_figure
from wavescope.waves import measure_velocity

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "analyses" / "results"
#: The LENS ketamine recording in ../shared/data beside the project (SOURCE.md there)
LENS_KETAMINE = ROOT.parent / "shared" / "data" / "lens_widefield_ketamine" / "frames.npz"


def main() -> int:
    # the data: an argument (relative to the working directory), or the shared recording
    # (LENS_KETAMINE is resolved from this script's location, not the working directory)
    path = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else LENS_KETAMINE
    # one call reads and preprocesses: cortex mask, dF/F, 2 x 2 binning, detrend
    field = read_recording(path, widefield=WidefieldOptions(bin_factor=2))
    n_mask = int(field.meta["mask"].sum())
    print(f"{n_mask} cortex pixels -> {field.n_sites} sites of 0.1 mm, {field.n_times} frames")
    phase = measure_velocity(field, (0.1, 5.0), generalized=True)
    events = measure_velocity(field, (0.1, 5.0), method="event-time", n_surrogates=0)
    s_phase, s_events = phase.summary(), events.summary()
    waves_only = phase.summary("waves")
    result = {
        "data": os.path.relpath(path, ROOT),  # relative to the project: the same on every machine
        "pipeline": "cortex mask (Otsu, largest region, eroded 1 px); dF/F; detrend; 2x2 binning; "
        "band 0.1-5 Hz",
        "n_pixels_in_mask": n_mask,
        "phase_gradient_generalized": s_phase,
        "phase_gradient_in_wave_epochs": waves_only,
        "event_time": s_events,
        "event_time_waves": {
            "n": int(events.broadband.n),
            "speeds_m_per_s": np.asarray(events.broadband.speeds).round(5).tolist(),
            "directions_rad": np.asarray(events.broadband.directions).round(4).tolist(),
            "r2": np.asarray(events.broadband.qualities).round(3).tolist(),
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "widefield_waves.json").write_text(json.dumps(result, indent=2))
    fig = velocity_figure(
        phase, title="LENS widefield, ketamine: slow waves 0.1-5 Hz (generalized phase)"
    )
    (OUT / "widefield_waves.png").write_bytes(save_figure(fig, dpi=110))
    for name, s in (
        ("phase gradient (GP)", s_phase),
        ("in wave epochs", waves_only),
        ("event-time fits", s_events),
    ):
        sp, di = s["speed"], s["direction"]
        print(
            f"{name:22s} speed {1e3 * sp['median']:.1f} mm/s (IQR {1e3 * sp['q25']:.1f}-"
            f"{1e3 * sp['q75']:.1f}), direction {np.degrees(di['mean_rad']):.0f} deg "
            f"(R = {di['concentration']:.2f})"
        )
    print(f"wave fraction {s_phase['wave_fraction']:.2f}, patterns {s_phase.get('patterns')}")
    print(f"wrote {OUT / 'widefield_waves.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
