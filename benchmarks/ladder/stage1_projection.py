"""How long would stage 1 have to run for gate G1 to pass? A projection from a committed stage-1 history.

G1 asks the trend of the VAE's validation MSE over the last fraction f of stage 1 (``claims.gates.window_fraction``,
a fifth) to change by at most ``claims.gates.vae_mse_change`` (2 %); both are read from config.yaml. If the MSE falls
as a power law, MSE(t) = b t^-c, that change is 1 - (1 - f)^c at any stage length T: training longer never passes
G1. It passes only once the MSE nears a floor a, MSE(t) = a + b t^-c, and then at the T where
(MSE((1 - f) T) - MSE(T)) / MSE((1 - f) T) <= 2 %. This script fits both
curves to the epochs from --from-epoch on (least squares, scipy) and prints, per history, the pure power law's
exponent and its G1 change, the floor fit, and the projected G1 change at longer stages.

It is a projection, not a measurement: the β ramp (0.1 -> 1.0 over the whole stage) is slower in a longer stage, so a
longer stage's curve is not this one stretched; the fit says whether G1 is within reach of these CPUs, not when.

    python benchmarks/ladder/stage1_projection.py evidence/ladder/r4-paper-width/stage1-probe-80ep/*_vae_history.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from vaesae.report.gates import convergence_gates
from vaesae.workflow import load_config

RULES = load_config()["claims"]["gates"]  # the gates' rules, as the workflow reads them
KEEP = 1 - RULES["window_fraction"]  # the window starts at this fraction of the stage


def floor_law(t, a, b, c):
    return a + b * np.power(t, -c)


def last_fifth_change(mse, epochs: float) -> float:
    """Relative fall of a fitted curve over G1's window, from epoch (1 - f) T to T."""
    return float((mse(KEEP * epochs) - mse(epochs)) / mse(KEEP * epochs))


def project(history: Path, from_epoch: int, lengths: list[int]) -> list[str]:
    h = pd.read_csv(history)
    h = h[h["phase"] == "vae"].sort_values("epoch")
    mse = h["mse"].to_numpy(float)
    t = np.arange(1, len(mse) + 1, dtype=float)
    keep = t >= from_epoch
    g1 = convergence_gates(h, RULES).set_index("gate").loc["G1"]
    out = [f"{history}: {len(mse)} epochs, G1 (trend over the last {g1['window']}) {100 * g1['change']:.1f} % "
           f"{g1['status']}"]
    slope, _ = np.polyfit(np.log(t[keep]), np.log(mse[keep]), 1)
    out.append(f"  pure power law: c = {-slope:.3f}; its G1 change at any length: {100 * (1 - KEEP ** -slope):.1f} %")
    try:
        (a, b, c), _ = curve_fit(floor_law, t[keep], mse[keep], p0=[mse[-1] / 2, mse[keep][0] * 10, 0.5],
                                 maxfev=20000)
    except RuntimeError as err:
        return out + [f"  floor fit: did not converge ({err})"]
    if a <= 0 or c <= 0:
        return out + [f"  floor fit: no floor in the data (a = {a:.3g}, c = {c:.3g}): G1 is out of reach of any "
                      "length this curve projects to"]
    out.append(f"  floor fit: a = {a:.4g} (MSE at the end {mse[-1]:.4g}), b = {b:.3g}, c = {c:.3f}")
    curve = lambda x: floor_law(x, a, b, c)  # noqa: E731
    rows = [f"{n}: {100 * last_fifth_change(curve, n):.1f} %" for n in lengths]
    out.append("  projected G1 change at T epochs: " + ", ".join(rows))
    reach = next((n for n in range(len(mse), 100_000) if last_fifth_change(curve, n) <= RULES["vae_mse_change"]),
                 math.inf)
    out.append(f"  first T with G1 <= {100 * RULES['vae_mse_change']:g} %: {reach}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("histories", nargs="+", type=Path, help="stage-1 history.csv files (phase 'vae')")
    p.add_argument("--from-epoch", type=int, default=10, help="fit the epochs from this one on (default 10)")
    p.add_argument("--lengths", type=int, nargs="+", default=[80, 160, 320, 640, 1280, 2560])
    args = p.parse_args()
    for path in args.histories:
        print("\n".join(project(path, args.from_epoch, args.lengths)))


if __name__ == "__main__":
    main()
