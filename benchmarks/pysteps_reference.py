"""pySTEPS STEPS on the nine reference nowcasts, scored by our own verification: the peer figures the
ensemble's CRPS target is measured against.

Two steps, because pySTEPS is not one of our dependencies:

    # a scratch environment with pySTEPS 1.21.5 (pip install pysteps==1.21.5 opencv-python-headless)
    /path/to/pysteps-venv/bin/python benchmarks/pysteps_reference.py run --out /tmp/pysteps_steps
    # then, in hydro's environment
    .venv/bin/python benchmarks/pysteps_reference.py score --out /tmp/pysteps_steps

``run`` gives pySTEPS what its own examples do: the last three 5-minute frames in dB (0.1 mm h-1
threshold, -15 dB below it; cells the radar did not measure as dry), Lucas-Kanade motion, 20 members,
6 cascade levels, seed 1; it saves the 10-minute means [members, 6, ny, nx] per issue time.
``score`` pools the CRPS per lead time over all nine nowcasts on the cells valid in every frame, with
the same code as ``hydro verify`` (hydro.verification.LeadScores), so both ensembles are scored alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "radar"
CASES = [("knmi_20100826.nc", [f"2010-08-26T0{h}:30" for h in range(6)]),
         ("mch_20160711.nc", ["2016-07-11T21:10", "2016-07-11T21:30", "2016-07-11T21:50"])]
MEMBERS, STEPS, FRAME_MIN = 20, 12, 5


def _name(issue: str) -> str:
    return issue.replace(":", "") + ".npy"


def run(data: Path, out: Path) -> None:
    import xarray as xr
    from pysteps import motion, nowcasts
    from pysteps.utils import transformation

    out.mkdir(parents=True, exist_ok=True)
    for file, issues in CASES:
        with xr.open_dataset(data / file) as ds:
            rate = ds["rainfall_rate"].values.astype(np.float64)
            times = ds["time"].values
        for issue in issues:
            i = int(np.flatnonzero(times == np.datetime64(issue))[0])
            past = np.nan_to_num(rate[i - 2:i + 1], nan=0.0)
            db, _ = transformation.dB_transform(past, {"threshold": 0.1, "zerovalue": 0.0, "transform": None,
                                                       "unit": "mm/h"}, threshold=0.1, zerovalue=-15.0)
            velocity = motion.get_method("LK")(db)
            t0 = time.perf_counter()
            fc = nowcasts.get_method("steps")(db, velocity, STEPS, n_ens_members=MEMBERS, n_cascade_levels=6,
                                              precip_thr=-10.0, kmperpixel=1.0, timestep=FRAME_MIN, seed=1,
                                              num_workers=2)
            seconds = time.perf_counter() - t0
            fc, _ = transformation.dB_transform(fc, {"transform": "dB", "threshold": -10.0, "zerovalue": -15.0,
                                                     "unit": "mm/h"}, inverse=True)
            fc = np.nan_to_num(fc, nan=0.0).astype(np.float32)
            means = fc.reshape(MEMBERS, STEPS // 2, 2, *fc.shape[2:]).mean(axis=2)
            np.save(out / _name(issue), means)
            print(f"{issue}: STEPS {seconds:.1f} s", flush=True)


def score(data: Path, out: Path) -> list[float]:
    from hydro.nowcast.qc import QCPolicy
    from hydro.stages.nowcast import observed_intervals, prepare_frames
    from hydro.verification import LeadScores

    leads = [LeadScores(10 * (k + 1)) for k in range(STEPS // 2)]
    for file, issues in CASES:
        frames, step, _ = prepare_frames(data / file, QCPolicy())
        valid = np.isfinite(frames.rate).all(axis=0)
        for issue in issues:
            path = out / _name(issue)
            if not path.is_file():
                sys.exit(f"{path} is missing: run this script's 'run' step first (in an environment with pySTEPS)")
            members = np.load(path)
            observed = observed_intervals(frames, step, np.datetime64(issue), 60)
            for k, lead in enumerate(leads):
                lead.add(members[:, k].mean(axis=0), observed[k], valid, 1.0, 16, members=members[:, k])
    crps = [lead.to_dict(ensemble=True)["crps"] for lead in leads]
    print("pySTEPS STEPS CRPS [mm/h] at 10..60 min:", " ".join(f"{c:.4f}" for c in crps))
    return crps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["run", "score"])
    parser.add_argument("--data", type=Path, default=DATA, help=f"folder with the event NetCDFs (default {DATA})")
    parser.add_argument("--out", type=Path, required=True, help="folder for pySTEPS' 10-minute means")
    args = parser.parse_args()
    (run if args.step == "run" else score)(args.data, args.out)


if __name__ == "__main__":
    main()
