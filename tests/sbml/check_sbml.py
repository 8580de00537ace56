#!/usr/bin/env python3
"""The SBML export checked by independent tools: every reference scenario of tests/data
(S1-S8) and patients of the 200-patient reference population are exported with
`cartkin export sbml`, validated by libsbml (0 errors; warnings listed) and simulated by
libroadrunner (CVODE, rtol 1e-10, atol 1e-10 x the MODEL.md section-2 scales), then compared
with the shared reference solution (tests/data, a copy of ../shared/reference):

- trajectories on the integer days (E, M, X, B, G, I, I_eff and every blast column): within
  1e-6 of each column's maximum (README "Tolerances", tight: 1e-6 relative per column);
  a day that is also an event time is left out (the reference row holds the state after the
  events there);
- the event log: the same kinds in the same order (exact), every time within the README's
  tight bound: crossing times (reactive tocilizumab, steroid start) max(1e-6 day, 1e-6 /
  |d ln I_eff/dt|), extinctions 1e-5 day, window ends as their dose; infusions and
  prophylactic doses are the scenario's own times.

Usage: check_sbml.py --cartkin BIN [--patients N] [--ids 142,123,98,...]
Exit 0 when everything holds; one line per scenario / patient; the worst margins at the end.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

import libsbml
import numpy as np
import roadrunner

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data"))
PHENOTYPES = ["CD19+CD22+", "CD19-CD22+", "CD19+CD22-", "CD19-CD22-"]
SCALES = {"E": 1e8, "M": 1e8, "X": 1e8, "B": 1e8, "Q": 1e8, "G": 5.0, "I": 5.0}
# the Rust event log's order at one instant (src/solve/mod.rs)
RANK = {"extinction": 0, "infusion": 1, "toci_dose:prophylactic": 2, "toci_end": 3, "steroid_end": 4,
        "toci_dose:reactive": 5, "steroid_start": 6}


def pid(ph):
    """cartkin's SBML id of a phenotype (docs/SBML.md)."""
    return ph.replace("+CD", "pos_CD").replace("-CD", "neg_CD").replace("+", "pos").replace("-", "neg")


def export(cartkin, scenario, out):
    r = subprocess.run([cartkin, "export", "sbml", scenario, "--endpoints", "--out", out], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"export failed: {r.stderr.strip()}")


def validate(xml):
    doc = libsbml.readSBMLFromFile(xml)
    doc.checkConsistency()
    errors, warnings = [], []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        (errors if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR else warnings).append(
            f"{e.getCategoryAsString()}: {e.getShortMessage()}")
    return errors, warnings


def runner(xml, rtol=1e-10):
    rr = roadrunner.RoadRunner(xml)
    it = rr.integrator
    it.relative_tolerance = rtol
    it.maximum_num_steps = 1_000_000
    ids = list(rr.model.getGlobalParameterIds())
    states = [v for v in ids if v in SCALES or v.startswith("lnL_")]
    for v in states:
        sc = SCALES.get(v, 1.0)   # lnL_*: 1
        it.setIndividualTolerance(v, rtol * sc)
    return rr


def recorded_events(rr, sc):
    """The event log from the file's recorders (and the scenario's own scheduled times)."""
    g = {k: rr[k] for k in rr.model.getGlobalParameterIds()}
    ev = []
    for d in sc["product"]["schedule"]:
        ev.append((float(d["t"]), "infusion", None))
    toci = sc["policies"]["tocilizumab"]
    if toci["policy"] == "prophylactic":
        for t in toci.get("times", []):
            ev.append((float(t), "toci_dose:prophylactic", None))
    for ph in PHENOTYPES:
        k = f"ext_day_{pid(ph)}"
        if k in g and g[k] >= 0:
            ev.append((g[k], "extinction", ph))
    for k, v in g.items():
        if k.startswith("toci_day_") and v >= 0:
            ev.append((v, "toci_dose:reactive", None))
        if k.startswith("toci_end_day_") and v >= 0:
            ev.append((v, "toci_end", None))
    if g.get("ster_day", -1) >= 0:
        ev.append((g["ster_day"], "steroid_start", None))
    if g.get("ster_end_day", -1) >= 0:
        ev.append((g["ster_end_day"], "steroid_end", None))
    horizon = float(sc["horizon"])
    ev = [e for e in ev if e[0] <= horizon + 1e-9]
    ev.sort(key=lambda e: (round(e[0], 9), RANK[e[1]]))
    return ev


def reference_events(events):
    out = []
    for e in events:
        k = e["kind"]
        if k == "toci_dose":
            k = f"toci_dose:{e.get('trigger', 'reactive')}"
        out.append((float(e["t"]), k, e.get("phenotype")))
    return out


def slope_ln_ieff(xml, t, sym="I_eff"):
    """|d ln y/dt| just before t (y = I_eff, L_tot or B), from the file's own solution (for
    the README's crossing bound)."""
    rr = runner(xml)
    h = 1e-4
    out = rr.simulate(0.0, t - h, 3, ["time", sym])
    a = np.asarray(out)
    y0, y1 = a[-2, 1], a[-1, 1]
    return abs(math.log(y1 / y0) / (a[-1, 0] - a[-2, 0])) if y0 > 0 and y1 > 0 else 0.0


def compare_events(xml, got, want):
    if [(k, p) for _, k, p in got] != [(k, p) for _, k, p in want]:
        return f"event kinds differ: {[k for _, k, _ in got]} vs {[k for _, k, _ in want]}", 0.0
    worst = 0.0
    for (tg, k, _), (tw, _, _) in zip(got, want):
        if k == "extinction":
            bound = 1e-5
        elif k in ("toci_dose:reactive", "steroid_start") and tw > 0:
            s = slope_ln_ieff(xml, tw)
            bound = max(1e-6, 1e-6 / s) if s > 0 else 1e-3
        elif k in ("toci_end", "steroid_end"):
            bound = 1e-5   # a dose time + the window: inherits the dose's (tight) bound
        else:
            bound = 1e-12
        worst = max(worst, abs(tg - tw) / bound)
        if abs(tg - tw) > bound:
            return f"{k} at {tg!r} vs {tw!r} (bound {bound:.1e})", worst
    return None, worst


def trajectory_error(xml, traj_csv, event_times, phs):
    ref = np.genfromtxt(traj_csv, delimiter=",", names=True, deletechars="")
    t = ref["t"]
    keep = (np.abs(t - np.round(t)) < 1e-9) & np.r_[True, np.diff(t) > 0]
    days = t[keep]
    at_event = np.array([any(abs(d - e) < 1e-9 for e in event_times) for d in days])
    cols = ["E", "M", "X", "B", "G", "I", "I_eff"] + [f"L_{ph}" for ph in phs]
    ids = ["E", "M", "X", "B", "G", "I", "I_eff"] + [f"L_{pid(ph)}" for ph in phs]
    rr = runner(xml)   # a fresh load: reset() does not restore parameters that events changed
    out = np.asarray(rr.simulate(0.0, float(days[-1]), len(days), ["time"] + ids))
    worst = (0.0, "")
    for j, (c, i) in enumerate(zip(cols, ids)):
        w = ref[c][keep]
        scale = max(np.abs(w).max(), 1e-300)
        e = (np.abs(out[:, j + 1] - w) / scale)[~at_event]
        if e.size and e.max() > worst[0]:
            worst = (float(e.max()), c)
    return worst


def scenario_check(cartkin, path, tmp):
    sc = json.load(open(path))
    name = os.path.basename(path)[:-5]
    xml = os.path.join(tmp, f"{name}.xml")
    export(cartkin, path, xml)
    errors, warnings = validate(xml)
    if errors:
        return False, f"{name}: libsbml {len(errors)} errors, first: {errors[0]}", warnings
    rr = runner(xml)
    rr.simulate(0.0, float(sc["horizon"]), 2)
    got = recorded_events(rr, sc)
    want = reference_events(json.load(open(os.path.join(DATA, f"{name}_endpoints.json")))["events"])
    msg, ev_margin = compare_events(xml, got, want)
    if msg:
        return False, f"{name}: {msg}", warnings
    phs = [ph for ph in PHENOTYPES if sc["initial_state"]["L"].get(ph, 0.0) > 0.0]
    err, col = trajectory_error(xml, os.path.join(DATA, f"{name}_trajectory.csv"), [e[0] for e in want], phs)
    ends = json.load(open(os.path.join(DATA, f"{name}_endpoints.json")))["endpoints"]
    emsg, e_worst = endpoint_errors(xml, sc, ends, phs)
    if emsg:
        return False, f"{name}: {emsg}", warnings
    omsg, o_worst, n_obs = compare_observed(xml, observed_endpoints(xml, sc, phs), ends)
    if n_obs < 17:
        omsg = omsg or f"only {n_obs} observed endpoints compared"
    if omsg:
        return False, f"{name}: {omsg}", warnings
    e_worst = max(e_worst, o_worst)
    ok = err <= 1e-6
    return ok, (f"{name}: {len(want)} events as the reference (worst time {ev_margin:.2f} of its bound); "
                f"trajectory worst {col} {err:.1e} of its maximum (bound 1e-6); "
                f"{n_obs} observed and 8 state endpoints, worst {e_worst:.2f} of their bound"), warnings


def observed_endpoints(xml, sc, phs):
    """The endpoints the file's observers record (export --endpoints), in the reference's
    names, plus those derived from them and from the day-28 state."""
    rr = runner(xml)
    rr.simulate(0.0, float(sc["horizon"]), 2)
    g = {k: rr[k] for k in rr.model.getGlobalParameterIds()}
    H = float(sc["parameters"].get("H", 5e11))
    cps = float(sc.get("definitions", {}).get("copies_per_cell", 3e-7)) if isinstance(sc.get("definitions"), dict) else 3e-7
    d28 = state_at(xml, 28.0, [f"L_{pid(ph)}" for ph in phs])
    l28 = sum(d28.values())
    f28 = l28 / (l28 + H)
    cr = f28 < 0.05
    thr = [g[f"thr_day_{k}"] if g[f"thr_day_{k}"] >= 0 else None for k in range(1, 5)]
    out = {k: g[k] for k in ["cmax", "tmax", "peak_il6", "t_peak_il6", "peak_ifng", "t_peak_ifng",
                             "peak_signal", "t_peak_signal"]}
    out["cmax_copies"] = g["cmax"] * cps
    out["crs_threshold_days"] = thr
    out["crs_grade"] = sum(t is not None for t in thr)
    out["crs_onset_day"] = thr[0]
    out["cr_day28"] = cr
    rel = g["relapse_day"] if cr and g["relapse_day"] >= 0 else None
    out["relapse_day"] = rel
    if rel is not None:
        best = max(phs, key=lambda ph: g[f"relL_{pid(ph)}"])
        out["relapse_phenotype"] = best
    else:
        out["relapse_phenotype"] = None
    out["b_recovery_day"] = g["b_recovery_day"] if g["b_recovery_day"] >= 0 else None
    return out


# README "Tolerances", tight: amounts 1e-6 relative; times of maxima 1e-4 day; crossing times
# max(1e-6 day, 1e-6 / |d ln y/dt|) with y the crossing quantity; discrete endpoints exact
AMOUNTS = ["cmax", "cmax_copies", "peak_il6", "peak_ifng", "peak_signal"]
MAXIMA_TIMES = ["tmax", "t_peak_il6", "t_peak_ifng", "t_peak_signal"]
CROSSINGS = {"crs_onset_day": "I_eff", "relapse_day": "L_tot", "b_recovery_day": "B"}
EXACT = ["crs_grade", "cr_day28", "relapse_phenotype"]


def compare_observed(xml, got, ref):
    """(None or what differs, worst fraction of a bound, how many values were compared)."""
    worst = 0.0
    n = 0

    def num(v):
        if v in ("", None):
            return None
        if isinstance(v, str):
            if v in ("true", "True", "1"):
                return True
            if v in ("false", "False", "0"):
                return False
            try:
                return float(v)
            except ValueError:
                return v
        return v
    for k in AMOUNTS + MAXIMA_TIMES + list(CROSSINGS) + EXACT + ["crs_threshold_days"]:
        if k not in ref:
            continue
        w = ref[k]
        if k == "crs_threshold_days":
            pairs = [(f"crs_threshold_day_{i + 1}", a, b, "I_eff") for i, (a, b) in enumerate(zip(got[k], w))]
        elif k in EXACT:
            w = num(w)
            gv = got[k]
            if k == "cr_day28":
                w = bool(w)
            if k == "crs_grade":
                w = int(w)
            n += 1
            if gv != w:
                return f"{k} {gv!r} vs {w!r}", worst, n
            continue
        else:
            pairs = [(k, got[k], num(w), CROSSINGS.get(k))]
        for name, gv, wv, sym in pairs:
            n += 1
            if (gv is None) != (wv is None):
                return f"{name} {gv!r} vs {wv!r}", worst, n
            if gv is None:
                continue
            if name in AMOUNTS:
                bound = 1e-6 * abs(wv)
            elif name in MAXIMA_TIMES:
                bound = 1e-4
            else:
                sl = slope_ln_ieff(xml, wv, sym) if wv > 1e-3 else 0.0
                bound = max(1e-6, 1e-6 / sl) if sl > 0 else 1e-3
            worst = max(worst, abs(gv - wv) / bound)
            if abs(gv - wv) > bound:
                return f"{name} {gv!r} vs {wv!r} (bound {bound:.1e})", worst, n
    return None, worst, n


def state_at(xml, t, ids):
    """The file's solution at time t (a fresh load; the last output row)."""
    rr = runner(xml)
    out = np.asarray(rr.simulate(0.0, t, 2, ["time"] + ids))
    return dict(zip(ids, out[-1, 1:]))


def endpoint_errors(xml, sc, ends, phs):
    """The endpoints that are values of the solution at day 28 and at the horizon (README
    tight bound: 1e-6 relative, and 1 cell absolute for cell counts): auc28 (the state Q),
    f_day28, Ltot_day28, B_day28, C_end, M_end, B_end, Ltot_end."""
    H = float(sc["parameters"].get("H", 5e11))
    Ls = [f"L_{pid(ph)}" for ph in phs]
    d28 = state_at(xml, 28.0, ["Q", "B"] + Ls)
    end = state_at(xml, float(sc["horizon"]), ["E", "M", "X", "B"] + Ls)
    l28 = sum(d28[k] for k in Ls)
    lend = sum(end[k] for k in Ls)
    got = {"auc28": d28["Q"], "f_day28": l28 / (l28 + H), "Ltot_day28": l28, "B_day28": d28["B"],
           "C_end": end["E"] + end["M"] + end["X"], "M_end": end["M"], "B_end": end["B"], "Ltot_end": lend}
    worst = 0.0
    for k, g in got.items():
        w = ends.get(k)
        if w is None:
            continue
        cells = k not in ("auc28", "f_day28")
        bound = max(1e-6 * abs(w), 1.0 if cells else 0.0)
        if k == "f_day28":
            bound = max(bound, 1e-6 * 1.0 / H)   # 1 cell of the marrow
        worst = max(worst, abs(g - w) / bound if bound > 0 else 0.0)
        if abs(g - w) > bound:
            return f"{k} {g!r} vs {w!r} (bound {bound:.1e})", worst
    return None, worst


def population_scenario(row):
    """A reference-format scenario of a row of population_200.csv (README: REF-1 with the
    row's rho_E, k_kill, r_L, delta_E, p_I, blasts and dose; the S1 product and policies)."""
    s1 = json.load(open(os.path.join(DATA, "S1_nominal.json")))
    sc = json.loads(json.dumps(s1))
    sc["name"] = f"patient_{row['id']}"
    for k in ["rho_E", "k_kill", "r_L", "delta_E", "p_I"]:
        sc["parameters"][k] = float(row[k])
    L = {}
    for ph in PHENOTYPES:
        v = float(row.get(f"L0_{ph}", 0.0) or 0.0)
        if v > 0:
            L[ph] = v
    sc["initial_state"]["L"] = L
    sc["product"]["schedule"] = [{"t": 0.0, "cells": float(row["dose"])}]
    return sc


def population_events(row):
    """The reference endpoints' event times of a population patient (population_200_endpoints.csv)."""
    ev = {}
    for k in ["toci_day_1", "steroid_day", "n_toci_doses"] + [f"extinction_day_{ph}" for ph in PHENOTYPES]:
        v = row.get(k, "")
        ev[k] = float(v) if v not in ("", None) else None
    return ev


def patient_check(cartkin, row, ref, tmp):
    sc = population_scenario(row)
    path = os.path.join(tmp, f"{sc['name']}.json")
    json.dump(sc, open(path, "w"))
    xml = os.path.join(tmp, f"{sc['name']}.xml")
    export(cartkin, path, xml)
    errors, _ = validate(xml)
    if errors:
        return False, f"{sc['name']}: libsbml {len(errors)} errors, first: {errors[0]}"
    rr = runner(xml)
    rr.simulate(0.0, float(sc["horizon"]), 2)
    got = recorded_events(rr, sc)
    want = population_events(ref)
    toci = [t for t, k, _ in got if k == "toci_dose:reactive"]
    ster = [t for t, k, _ in got if k == "steroid_start"]
    checks = [("toci_day_1", toci[0] if toci else None, True), ("steroid_day", ster[0] if ster else None, True)]
    for ph in PHENOTYPES:
        e = [t for t, k, p in got if k == "extinction" and p == ph]
        checks.append((f"extinction_day_{ph}", e[0] if e else None, False))
    worst = 0.0
    for key, g, crossing in checks:
        w = want.get(key)
        if (g is None) != (w is None):
            return False, f"{sc['name']}: {key} {g} vs reference {w}"
        if g is None:
            continue
        if crossing:
            s = slope_ln_ieff(xml, w)
            bound = max(1e-6, 1e-6 / s) if s > 0 else 1e-3
        else:
            bound = 1e-5
        worst = max(worst, abs(g - w) / bound)
        if abs(g - w) > bound:
            return False, f"{sc['name']}: {key} {g!r} vs {w!r} (bound {bound:.1e})"
    n = int(want["n_toci_doses"] or 0)
    if len(toci) != n:
        return False, f"{sc['name']}: {len(toci)} reactive doses, reference {n}"
    phs = [ph for ph in PHENOTYPES if sc["initial_state"]["L"].get(ph, 0.0) > 0.0]
    ends = {k: float(ref[k]) for k in ("auc28", "f_day28") if ref.get(k, "") != ""}
    emsg, e_worst = endpoint_errors(xml, sc, ends, phs)
    if emsg:
        return False, f"{sc['name']}: {emsg}"
    omsg, o_worst, n_obs = compare_observed(xml, observed_endpoints(xml, sc, phs), ref)
    if n_obs < 11:
        omsg = omsg or f"only {n_obs} observed endpoints compared"
    if omsg:
        return False, f"{sc['name']}: {omsg}"
    return True, (f"{sc['name']}: event days as the reference (worst {worst:.2f} of its bound), "
                  f"{n_obs} observed endpoints and auc28, f_day28 (worst {max(e_worst, o_worst):.2f} of their bound)")


ZOO = [  # (model, reference trajectory in tests/data/zoo, its columns -> the SBML ids, hours?)
    ("kimmel2021", "Kimmel2021_trajectory.csv",
     {"Normal_T_cells": "N", "CAR_T_cells": "C", "Antigen_presenting_tumour_cells": "B"}, False),
    ("leon_triana2021", "Leon-Triana2020_eqs4_trajectory.csv",
     {"CAR_T_cells": "C", "Leukaemic_B_cells": "L", "B_cells_healthy": "B"}, False),
    ("leon_triana2021_progenitors", "Leon-Triana2020_eqs3_trajectory.csv",
     {"CAR_T_cells": "C", "Leukaemic_B_cells": "L", "B_cells_healthy": "B", "B_cell_progenitors": "I"}, False),
    ("hanson2016", "Hanson2016_trajectory.csv",
     {c: c for c in ["C_m", "C_e", "H_m", "H_e", "L", "Inflam", "B"]}, True),
]


def zoo_checks(cartkin, tmp):
    """The zoo's exports: each typical patient against its curated file's libroadrunner
    trajectory (within 1e-6 of each column's maximum), stein2019 against its closed form
    (../shared/zoo/README.md), and a kimmel2021 patient's random cure against cartkin's."""
    fails = 0
    for model, ref, cols, hours in ZOO:
        xml = os.path.join(tmp, f"{model}.xml")
        r = subprocess.run([cartkin, "export", "sbml", "--model", model, "--out", xml], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {model}: export failed: {r.stderr.strip()}")
            fails += 1
            continue
        errors, _ = validate(xml)
        want = np.genfromtxt(os.path.join(DATA, "zoo", ref), delimiter=",", names=True, deletechars="")
        t = want["time"] / (24.0 if hours else 1.0)
        rr = runner(xml)
        out = np.asarray(rr.simulate(float(t[0]), float(t[-1]), len(t), ["time"] + list(cols.values())))
        worst = max((float(np.max(np.abs(out[:, j + 1] - want[c]) / max(np.abs(want[c]).max(), 1e-300))), c)
                    for j, c in enumerate(cols))
        ok = not errors and worst[0] <= 1e-6
        fails += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {model}: libsbml {len(errors)} errors; the curated file's trajectory "
              f"within {worst[0]:.1e} of the maximum ({worst[1]}; bound 1e-6)")
    # stein2019: the closed form of the README (Stein 2019 Table 1)
    xml = os.path.join(tmp, "stein2019.xml")
    subprocess.run([cartkin, "export", "sbml", "--model", "stein2019", "--out", xml], check=True)
    rr = runner(xml)
    out = np.asarray(rr.simulate(0.0, 365.0, 366, ["time", "C"]))
    closed = {28: 1373.559, 90: 146.5077, 365: 60.74450}
    err = max(abs(out[d, 1] / v - 1.0) for d, v in closed.items())
    ok = err <= 1e-6
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} stein2019: C at days 28, 90, 365 within {err:.1e} relative of the closed form (bound 1e-6)")
    # kimmel2021: patients of studies/kimmel2021.toml with their extinction uniforms; the
    # SBML's extinction time against cartkin's own (both at rtol 1e-10)
    study = os.path.normpath(os.path.join(HERE, "..", "..", "studies", "kimmel2021.toml"))
    compared = 0
    for pid_ in range(40):
        r = subprocess.run([cartkin, "simulate", study, "--patient", str(pid_), "--rtol", "1e-10"],
                           capture_output=True, text=True, check=True)
        cure = json.loads(r.stdout)["endpoints"].get("cure_day")
        xml = os.path.join(tmp, f"kimmel_{pid_}.xml")
        subprocess.run([cartkin, "export", "sbml", study, "--model", "kimmel2021", "--patient", str(pid_), "--out", xml],
                       check=True)
        # rtol 1e-12 (atol 1e-14): the extinction is a slow crossing of V (the clock state),
        # where CVODE at 1e-10 is 3e-4 day off (measured; 4e-6 day at 1e-12)
        rr = runner(xml, 1e-12)
        rr.integrator.absolute_tolerance = 1e-14
        rr.simulate(0.0, 365.0, 2)
        got = rr["extinct"] > 0.5
        if got != (cure is not None):
            print(f"FAIL kimmel2021 patient {pid_}: cured {got} in SBML, {cure is not None} in cartkin")
            fails += 1
            break
        if cure is not None:
            # the extinction time: re-run to find it (the recorder-free file: bisect on `extinct`)
            lo, hi = 0.0, 365.0
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                rr2 = runner(xml, 1e-12)
                rr2.integrator.absolute_tolerance = 1e-14
                rr2.simulate(0.0, mid, 2)
                if rr2["extinct"] > 0.5:
                    hi = mid
                else:
                    lo = mid
            # a crossing time's bound (README "Tolerances"): max(1e-6 day, 1e-6 / |d ln V/dt|),
            # V the crossing quantity, its rate from the file's own solution just before
            sl = slope_ln_ieff(xml, cure, "V")
            bound = max(1e-6, 1e-6 / sl) if sl > 0 else 1e-3
            if abs(hi - cure) > bound:
                print(f"FAIL kimmel2021 patient {pid_}: extinction day {hi} in SBML, {cure} in cartkin (bound {bound:.1e})")
                fails += 1
                break
            compared += 1
            if compared == 3:
                break
    ok = compared >= 1
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} kimmel2021: {compared} random cures of studies/kimmel2021.toml on the same day in the SBML "
          "file and in cartkin (the crossing bound on V), the uncured ones uncured")
    return fails


V2_COLS = {"E": "E", "M": "M", "P": "P", "X": "X", "B": "B", "G": "G", "I": "I", "R": "R", "S_CRS": "S", "N_ICANS": "N"}
V2_CLONES = {"CD19+CD22+": "CD19pos_CD22pos", "CD19-CD22+": "CD19neg_CD22pos", "CD19+CD22-": "CD19pos_CD22neg",
             "CD19-CD22-": "CD19neg_CD22neg", "CD19dim": "CD19dim"}


def v2_checks(cartkin, tmp, n, study=None, label="studies/eliana.toml"):
    """Model v2 (no independent reference exists): patients of studies/eliana.toml exported
    and simulated by libroadrunner against cartkin's own solution at rtol 1e-10: the
    trajectories on the integer days within 1e-6 of each column's maximum, or, where
    libroadrunner's own error is larger (an explosive CAR-T re-expansion at a relapse, where
    CVODE at rtol 1e-10 moves by up to 6e-5 of the maximum when tightened to 1e-12, measured),
    within 3 times that own error (its change from rtol 1e-10 to 1e-12); and the
    tocilizumab, steroid and extinction days within the crossing bound."""
    study = study or os.path.normpath(os.path.join(HERE, "..", "..", "studies", "eliana.toml"))
    stem = os.path.basename(study)[:-5]
    name = {"eliana": "eliana"}.get(stem, None)
    fails, worst_traj, worst_ev, events, strict = 0, (0.0, "", 0.0), 0.0, 0, 0
    for i in range(n):
        out = os.path.join(tmp, f"v2_{stem}_{i}")
        subprocess.run([cartkin, "simulate", study, "--patient", str(i), "--rtol", "1e-10", "--out", out],
                       capture_output=True, check=True)
        xml = os.path.join(tmp, f"v2_{stem}_{i}.xml")
        subprocess.run([cartkin, "export", "sbml", study, "--model", "v2", "--patient", str(i), "--out", xml],
                       capture_output=True, check=True)
        errors, _ = validate(xml)
        if errors:
            print(f"FAIL v2 patient {i}: libsbml {len(errors)} errors, first: {errors[0]}")
            fails += 1
            continue
        sname = name or json.loads(subprocess.run([cartkin, "simulate", study, "--patient", str(i)], capture_output=True,
                                                  text=True, check=True).stdout)["study"]
        ref = np.genfromtxt(os.path.join(out, f"{sname}_patient{i}_trajectory.csv"), delimiter=",", names=True, deletechars="")
        ends = json.load(open(os.path.join(out, f"{sname}_patient{i}_endpoints.json")))
        t = ref["t"]
        keep = (np.abs(t - np.round(t)) < 1e-9) & np.r_[True, np.diff(t) > 0]
        days = t[keep]
        ev_t = [e["t"] for e in ends["events"]]
        at_event = np.array([any(abs(d - e) < 1e-9 for e in ev_t) for d in days])
        L = [c for c in ref.dtype.names if c.startswith("L_") and np.abs(ref[c]).max() > 0]
        ids = list(V2_COLS.values()) + [f"L_{V2_CLONES[c[2:]]}" for c in L]
        rr = runner(xml)
        sim = np.asarray(rr.simulate(0.0, float(days[-1]), len(days), ["time"] + ids))
        rr12 = runner(xml, 1e-12)
        sim12 = np.asarray(rr12.simulate(0.0, float(days[-1]), len(days), ["time"] + ids))
        within = True
        for j, c in enumerate(list(V2_COLS) + L):
            w = ref[c][keep]
            scale = max(np.abs(w).max(), 1e-300)
            e = (np.abs(sim[:, j + 1] - w) / scale)[~at_event]
            own = (np.abs(sim[:, j + 1] - sim12[:, j + 1]) / scale)[~at_event]
            if not e.size:
                continue
            if e.max() > 1e-6:
                within = False
            if e.max() > max(1e-6, 3.0 * own.max()):
                print(f"FAIL v2 patient {i}: {c} {e.max():.1e} of its maximum, libroadrunner's own error {own.max():.1e}")
                fails += 1
            if e.max() > worst_traj[0]:
                worst_traj = (float(e.max()), f"{c} of patient {i}", float(own.max()))
        strict += within
        g = {k: rr[k] for k in rr.model.getGlobalParameterIds()}
        got = sorted([(g[k], "toci_dose") for k in g if k.startswith("toci_day_") and g[k] >= 0]
                     + ([(g["ster_day"], "steroid_start")] if g["ster_day"] >= 0 else [])
                     + [(g[k], "extinction") for k in g if k.startswith("ext_day_") and g[k] > 0])
        want = sorted((e["t"], e["kind"]) for e in ends["events"]
                      if (e["kind"] == "toci_dose" and e.get("trigger") != "prophylactic") or e["kind"] == "steroid_start"
                      or (e["kind"] == "extinction" and e["t"] > 0))
        if [k for _, k in got] != [k for _, k in want]:
            print(f"FAIL v2 patient {i}: events {got} vs cartkin {want}")
            fails += 1
            continue
        for (tg, k), (tw, _) in zip(got, want):
            if k == "extinction":
                bound = 1e-5
            else:
                sl = slope_ln_ieff(xml, tw, "S")
                bound = max(1e-6, 1e-6 / sl) if sl > 0 else 1e-3
            worst_ev = max(worst_ev, abs(tg - tw) / bound)
            events += 1
            if abs(tg - tw) > bound:
                print(f"FAIL v2 patient {i}: {k} at {tg} vs cartkin {tw} (bound {bound:.1e})")
                fails += 1
    ok = fails == 0
    print(f"{'ok  ' if ok else 'FAIL'} v2: {n} patients of {label} against cartkin at rtol 1e-10: {strict} with every "
          f"trajectory column within 1e-6 of its maximum, the others within 3x libroadrunner's own error (worst "
          f"{worst_traj[1]}: {worst_traj[0]:.1e}, its own error {worst_traj[2]:.1e}); {events} tocilizumab, steroid and "
          f"extinction days within their bounds (worst {worst_ev:.2f})")
    return 0 if ok else max(fails, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cartkin", required=True)
    ap.add_argument("--patients", type=int, default=50, help="population patients (the listed ids first)")
    ap.add_argument("--ids", default="142,123,98")
    ap.add_argument("--v2-patients", type=int, default=30, help="patients of studies/eliana.toml (model v2)")
    a = ap.parse_args()
    fails = 0
    warn_kinds = set()
    with tempfile.TemporaryDirectory() as tmp:
        for f in sorted(os.listdir(DATA)):
            if f.startswith("S") and f.endswith(".json") and not f.endswith("_endpoints.json"):
                ok, msg, warnings = scenario_check(a.cartkin, os.path.join(DATA, f), tmp)
                warn_kinds.update(warnings)
                print(("ok   " if ok else "FAIL ") + msg)
                fails += not ok
        # negative control: the same comparison on a file with k_kill 1% off must fail
        s1 = os.path.join(DATA, "S1_nominal.json")
        xml = os.path.join(tmp, "S1_nominal.xml")
        bad = os.path.join(tmp, "control.xml")
        text = open(xml).read()
        key = '<parameter id="k_kill" value="2.0"'
        assert key in text, "k_kill not found in the exported S1"
        open(bad, "w").write(text.replace(key, '<parameter id="k_kill" value="2.02"'))
        sc1 = json.load(open(s1))
        ev1 = reference_events(json.load(open(os.path.join(DATA, "S1_nominal_endpoints.json")))["events"])
        phs1 = [ph for ph in PHENOTYPES if sc1["initial_state"]["L"].get(ph, 0.0) > 0.0]
        err, col = trajectory_error(bad, os.path.join(DATA, "S1_nominal_trajectory.csv"), [e[0] for e in ev1], phs1)
        if err <= 1e-6:
            print(f"FAIL control: k_kill 1% off still passes ({col} {err:.1e})")
            fails += 1
        else:
            print(f"ok   control: k_kill 1% off is caught ({col} {err:.1e} of its maximum)")
        rows = {r["id"]: r for r in csv.DictReader(open(os.path.join(DATA, "population_200.csv")))}
        refs = {r["id"]: r for r in csv.DictReader(open(os.path.join(DATA, "population_200_endpoints.csv")))}
        first = [i for i in a.ids.split(",") if i]
        ids = first + [i for i in rows if i not in first]
        n_ok = 0
        for i in ids[: a.patients]:
            ok, msg = patient_check(a.cartkin, rows[i], refs[i], tmp)
            if ok:
                n_ok += 1
                if i in first:
                    print("ok   " + msg)
            else:
                print("FAIL " + msg)
            fails += not ok
        print(f"{'ok  ' if n_ok == min(a.patients, len(ids)) else 'FAIL'} population: {n_ok} of "
              f"{min(a.patients, len(ids))} patients (ids {', '.join(ids[:a.patients][:6])}, ...): reactive "
              "doses, steroid day, extinction days and every endpoint column as the reference")
        fails += zoo_checks(a.cartkin, tmp)
        fails += v2_checks(a.cartkin, tmp, a.v2_patients)
        # the same population with prophylactic tocilizumab at days 0 and 3 (scheduled windows)
        proph = os.path.join(tmp, "eliana_prophylactic.toml")
        base = open(os.path.normpath(os.path.join(HERE, "..", "..", "studies", "eliana.toml"))).read()
        open(proph, "w").write(base.replace('name = "eliana"', 'name = "eliana_prophylactic"')
                               + '\n[regimen]\ntocilizumab = "prophylactic"\nprophylactic_days = [0.0, 3.0]\n')
        fails += v2_checks(a.cartkin, tmp, max(a.v2_patients // 3, 1), proph, "eliana with prophylactic tocilizumab (days 0, 3)")
    if warn_kinds:
        print(f"libsbml warnings ({len(warn_kinds)} kinds):")
        for w in sorted(warn_kinds):
            print(f"  {w}")
    print("SBML export: " + ("every check holds" if fails == 0 else f"{fails} failures"))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
