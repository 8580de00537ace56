#!/usr/bin/env python3
"""cartkin's Sobol' estimators against SALib's on the same model outputs.

For each test model (Ishigami, 3 factors; Sobol's G function, 8 factors):

1. SALib draws its own Saltelli sample, `SALib.sample.sobol.sample(problem, N,
   calc_second_order=False, seed=SEED)` (scrambled Sobol' from scipy), rows in blocks of
   K + 2: A, AB_1 .. AB_K, B;
2. the model (SALib's own `test_functions`) is evaluated on it;
3. SALib analyses the outputs: `SALib.analyze.sobol.analyze(problem, Y,
   calc_second_order=False, num_resamples=100, seed=SEED)`;
4. the sample matrix and the outputs are written to a CSV (columns x1 .. xK, y, 17
   significant digits, so the file holds the exact doubles);
5. `cartkin sensitivity --analyze FILE --factors K` analyses the same outputs;
6. S1 and ST must agree with SALib's to rounding: |cartkin - SALib| <= 1e-10 for every
   factor. The bootstrap half-widths S1_conf / ST_conf come from different random resamples
   (numpy's generator against cartkin's ChaCha8), so they agree only statistically: their
   ratio must lie in [0.5, 2]. For Ishigami the indices must also be within 0.01 of the closed
   form (Ishigami and Homma 1990).

Usage: check_salib.py --cartkin BIN [--n 16384] [--seed 1] [--keep DIR]
Exit 0 when everything holds; a table per model and a closing line `salib: P passed, F failed`.
"""
import argparse
import json
import math
from importlib.metadata import version
import os
import subprocess
import sys
import tempfile

import numpy as np
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample
from SALib.test_functions import Ishigami, Sobol_G

TOL = 1e-10
G_A = [0.0, 1.0, 4.5, 9.0, 99.0, 99.0, 99.0, 99.0]


def ishigami_analytic(a=7.0, b=0.1):
    """Closed-form S1, ST of Ishigami (inputs uniform on [-pi, pi])."""
    pi4, pi8 = math.pi**4, math.pi**8
    v = a * a / 8 + b * pi4 / 5 + b * b * pi8 / 18 + 0.5
    v1 = 0.5 * (1 + b * pi4 / 5) ** 2
    v2 = a * a / 8
    v13 = 8 * b * b * pi8 / 225
    return [v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v]


def run_case(name, problem, model, n, seed, cartkin, folder, analytic=None):
    k = problem["num_vars"]
    x = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    y = model(x)
    si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=100, seed=seed)
    path = os.path.join(folder, f"{name}.csv")
    header = ",".join(problem["names"] + ["y"])
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", fmt="%.17g", header=header, comments="")
    r = subprocess.run(
        [cartkin, "sensitivity", "--analyze", path, "--factors", str(k), "--seed", str(seed)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        print(f"{name}: cartkin failed (exit {r.returncode}): {r.stderr.strip()}")
        return 0, 1
    ck = json.loads(r.stdout)
    print(f"\n{name}: K = {k}, N = {n}, {len(y)} model runs, seed {seed} ({path})")
    print(f"{'factor':<8} {'index':<5} {'SALib':>22} {'cartkin':>22} {'|diff|':>9}   {'conf SALib':>10} {'cartkin':>8} {'ratio':>6}")
    passed = failed = 0
    worst = 0.0
    for key in ("S1", "ST"):
        for i, fname in enumerate(problem["names"]):
            s, c = float(si[key][i]), float(ck[key][i])
            sc, cc = float(si[key + "_conf"][i]), float(ck[key + "_conf"][i])
            d = abs(s - c)
            worst = max(worst, d)
            ok = d <= TOL and 0.5 <= cc / sc <= 2.0
            if analytic is not None:
                ok = ok and abs(c - analytic[0 if key == "S1" else 1][i]) <= 0.01
            passed, failed = passed + ok, failed + (not ok)
            print(f"{fname:<8} {key:<5} {s:>22.17f} {c:>22.17f} {d:>9.1e}   {sc:>10.2e} {cc:>8.2e} {cc / sc:>6.3f}{'' if ok else '  FAIL'}")
    if analytic is not None:
        print(f"closed form: S1 = {[round(v, 4) for v in analytic[0]]}, ST = {[round(v, 4) for v in analytic[1]]}")
    print(f"{name}: largest |S1, ST difference| = {worst:.2e} (tolerance {TOL:g})")
    return passed, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cartkin", required=True, help="the cartkin binary")
    ap.add_argument("--n", type=int, default=16384, help="base samples N (a power of two)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="write the CSVs here (default: a temporary folder, removed)")
    a = ap.parse_args()
    print(f"SALib {version('SALib')}, numpy {np.__version__}, scipy {version('scipy')}, cartkin {a.cartkin}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or tmp
        os.makedirs(folder, exist_ok=True)
        ish = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-math.pi, math.pi]] * 3}
        g = {"num_vars": len(G_A), "names": [f"x{i + 1}" for i in range(len(G_A))], "bounds": [[0.0, 1.0]] * len(G_A)}
        p1, f1 = run_case("ishigami", ish, Ishigami.evaluate, a.n, a.seed, a.cartkin, folder, ishigami_analytic())
        p2, f2 = run_case("sobol_g", g, lambda x: Sobol_G.evaluate(x, np.array(G_A)), a.n // 4, a.seed, a.cartkin, folder)
    passed, failed = p1 + p2, f1 + f2
    print(f"salib: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
