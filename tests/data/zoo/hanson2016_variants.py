#!/usr/bin/env python3
"""Two extra reference trajectories for `hanson2016` (tests/zoo_hanson2016.rs), made with
libroadrunner 2.10 from the curated BioModels file BIOMD0000000837
(`../shared/zoo/sbml/Hanson2016.xml`, time in hours) with one initial value changed each:

- `Hanson2016_lowL_trajectory.csv`: init([L]) = 1000 instead of 1600. The lymphocyte total
  starts below l = 1600, so `Lymphocyte_Term` = max(0, 1 - total / l) is positive at t = 0,
  reaches 0 (total above l) and turns positive again: the piecewise rule's kink is crossed
  (the curated default run never leaves the 0 branch).
- `Hanson2016_drug_trajectory.csv`: init([D]) = 50 (inflammation units per hour) instead of 0:
  the zero-order suppression of Inflam by the drug D acts.

Same solver settings as the shared reference (CVODE, rtol 1e-11, atol 1e-16); grid 0..720 h
every 6 h. A rerun at rtol 1e-9 agrees to within 2e-8 of each column's maximum (checked when
written). Run with the peers' virtual environment:

    /work/shared/peers/.venv/bin/python tests/data/zoo/hanson2016_variants.py
"""
import os

import numpy as np
import roadrunner

HERE = os.path.dirname(os.path.abspath(__file__))
SBML = os.path.join(HERE, "..", "..", "..", "..", "shared", "zoo", "sbml", "Hanson2016.xml")
COLS = ["time", "C_m", "C_e", "H_m", "H_e", "L", "Inflam", "B", "D"]


def simulate(over, rtol, atol):
    r = roadrunner.RoadRunner(os.path.normpath(SBML))
    r.integrator.relative_tolerance = rtol
    r.integrator.absolute_tolerance = atol
    for k, v in over.items():
        r[k] = v
    r.timeCourseSelections = COLS
    return np.array(r.simulate(0, 720, 121))


for name, over in [("lowL", {"init([L])": 1000.0}), ("drug", {"init([D])": 50.0})]:
    a = simulate(over, 1e-11, 1e-16)
    b = simulate(over, 1e-9, 1e-14)
    scale = np.maximum(np.abs(a).max(axis=0), 1e-300)
    print(name, "rtol 1e-9 vs 1e-11, scaled by column max:", (np.abs(a - b) / scale).max())
    with open(os.path.join(HERE, f"Hanson2016_{name}_trajectory.csv"), "w") as f:
        f.write(",".join(COLS) + "\n")
        for row in a:
            f.write(",".join(repr(float(v)) for v in row) + "\n")
