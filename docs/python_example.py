"""cartkin from Python, notebook style: one patient, then a 2,000-patient virtual trial.

    pip install ./python matplotlib      # from a clone of the repository
    python docs/python_example.py [OUT_DIR]

Writes OUT_DIR/python_example_patient.png and OUT_DIR/python_example_trial.png (OUT_DIR
defaults to docs/) and prints the numbers the figures show. docs/PYTHON.md describes the API.
"""

# %% Setup
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import cartkin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
OUT.mkdir(parents=True, exist_ok=True)

# %% One patient: the shared reference scenario S1 (reference model, 1e8 CAR-T cells on day 0)
sol = cartkin.simulate(ROOT / "tests" / "data" / "S1_nominal.json")
ep = sol.endpoints
print(sol)
print("events:", [(round(t, 2), kind) for t, kind in sol.events])
print(f"CR at day 28: {ep['cr_day28']}, relapse day {ep['relapse_day']:.1f} ({ep['relapse_phenotype']}), "
      f"Cmax {ep['cmax']:.3g} cells on day {ep['tmax']:.1f}, CRS grade {ep['crs_grade']}")

tr = sol.trajectory
t = tr["t"]
fig, ax = plt.subplots(figsize=(8, 4.5))
ax.semilogy(t, tr["E"] + tr["M"], label="CAR-T cells (E + M)")
for i, name in enumerate(k for k in tr if k.startswith("L_")):  # one column per phenotype
    ax.semilogy(t, np.where(tr[name] > 0, tr[name], np.nan), color=f"C{i + 1}",
                label=f"leukaemic blasts {name[2:]}")
ax.semilogy(t, tr["B"], label="normal B cells", color="C4", alpha=0.7)
marks = {"toci_dose": ("tocilizumab", ":"), "steroid_start": ("steroids start", "-."),
         "extinction": ("extinction of a phenotype", "--")}
for day, kind in sol.events:
    if kind in marks:
        what, ls = marks[kind]
        ax.axvline(day, color="grey", ls=ls, lw=1, label=f"{what} (day {day:.1f})")
ax.axvline(ep["relapse_day"], color="C3", ls="--", lw=1.2,
           label=f"relapse endpoint (day {ep['relapse_day']:.1f}, {ep['relapse_phenotype']})")
ax.set_ylim(1, 1e13)  # extinction is at 1 cell
ax.set_xlabel("day after infusion")
ax.set_ylabel("cells")
ax.set_title(f"Scenario {sol.name}: CR at day 28, {ep['relapse_phenotype']} relapse on day "
             f"{ep['relapse_day']:.0f}")
ax.legend(loc="lower right", fontsize=7, ncol=2)
fig.tight_layout()
fig.savefig(OUT / "python_example_patient.png", dpi=120)
plt.close(fig)

# %% A virtual trial: the built-in ELIANA study (model v2), 2,000 patients
t0 = time.perf_counter()
res = cartkin.run_trial("eliana", patients=2000, seed=2018)
print(f"{res} in {time.perf_counter() - t0:.1f} s")
s, p = res.summary, res.patients
print(f"CR at day 28: {s['cr_rate']:.1%} (95% CI {s['cr_rate_ci_low']:.1%}-{s['cr_rate_ci_high']:.1%}); "
      f"EFS at 12 months {s['efs_365']['s']:.1%}; any CRS {s['crs_any_rate']:.1%}")

ok = p["status"] == "ok"
# Kaplan-Meier event-free survival from the patients' columns ...
days, event = p["efs_event_day"][ok], p["efs_censored"][ok] == 0
order = np.lexsort((~event, days))  # events before censorings at the same day
days, event = days[order], event[order]
at_risk = len(days) - np.arange(len(days))
surv = np.cumprod(np.where(event, 1 - 1 / at_risk, 1.0))
km_t = np.concatenate([[0.0], days])
km_s = np.concatenate([[1.0], surv])
# ... and the weekly curve summary.json holds (t, s, ci_low, ci_high, at_risk)
weekly = np.array(s["efs_curve_weekly"])
ours_365 = km_s[np.searchsorted(km_t, 365.0, side="right") - 1]
print(f"EFS at day 365: {ours_365:.4f} from patients.csv, {s['efs_365']['s']:.4f} in summary.json")

fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
a1.step(km_t, km_s, where="post", label="Kaplan-Meier from res.patients")
a1.fill_between(weekly[:, 0], weekly[:, 2], weekly[:, 3], step="post", alpha=0.25, color="C1",
                label="95% CI (summary efs_curve_weekly)")
a1.plot(weekly[:, 0], weekly[:, 1], "o", ms=2.5, color="C1", label="summary efs_curve_weekly")
a1.set_ylim(0, 1.02)
a1.set_xlabel("day after infusion")
a1.set_ylabel("event-free survival")
a1.set_title(f"EFS: {s['efs_365']['s']:.1%} at 12 months (n = {int(ok.sum())})")
a1.legend(fontsize=8, loc="lower left")

grades = p["crs_grade"][ok]
cmax = np.log10(p["cmax"][ok])
present = [g for g in range(5) if np.any(grades == g)]
a2.boxplot([cmax[grades == g] for g in present], positions=present)
a2.set_xticks(present, [f"{g}\n(n={np.sum(grades == g)})" for g in present])
a2.set_xlabel("CRS grade")
a2.set_ylabel("log10 Cmax (CAR-T cells)")
medians = {g: float(np.median(cmax[grades == g])) for g in present}
print("median log10 Cmax by CRS grade:", {g: round(m, 2) for g, m in medians.items()})
a2.set_title("Peak CAR-T expansion by CRS grade")
fig.suptitle(f"Built-in ELIANA study (model v2): {len(res)} virtual patients, seed 2018")
fig.tight_layout()
fig.savefig(OUT / "python_example_trial.png", dpi=120)
plt.close(fig)
print(f"wrote {OUT / 'python_example_patient.png'} and {OUT / 'python_example_trial.png'}")
