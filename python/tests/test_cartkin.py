"""Tests of the Python package against the command line and the shared reference.

Run from anywhere: ``pytest python/tests``. The comparisons with the command line need its
binary: ``cargo build --release -p cartkin-cli`` and ``CARTKIN_BIN=target/release/cartkin``
(they are skipped, saying so, when it is unset).
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cartkin

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "tests" / "data" / "S1_nominal.json"
ELIANA = ROOT / "studies" / "eliana.toml"


def cli() -> str:
    """The command line's binary (CARTKIN_BIN), or skip."""
    b = os.environ.get("CARTKIN_BIN")
    if not b:
        pytest.skip("CARTKIN_BIN is unset: build the CLI (cargo build --release -p cartkin-cli) and set "
                    "CARTKIN_BIN=target/release/cartkin to compare with the command line")
    if not os.access(b, os.X_OK):
        pytest.fail(f"CARTKIN_BIN={b} is not an executable")
    return b


def read_csv_columns(path: Path):
    """patients.csv parsed by Python's csv module alone (not by the library)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return header, [[r[i] for r in body] for i in range(len(header))]


def assert_columns_equal(columns: dict, path: Path) -> None:
    """Each array equals the file's column value for value: numbers exactly (the same
    shortest round-trip text parsed), NaN where the cell is empty; text columns equal,
    None where empty."""
    header, cells = read_csv_columns(path)
    assert list(columns) == header
    for name, col in zip(header, cells):
        arr = columns[name]
        assert arr.shape == (len(col),), name
        if arr.dtype == np.float64:
            expected = np.array([float(c) if c != "" else math.nan for c in col])
            assert np.array_equal(arr, expected, equal_nan=True), name
        else:
            assert arr.dtype == object, (name, arr.dtype)
            assert list(arr) == [c if c != "" else None for c in col], name


# ------------------------------------------------------------------------------------------
# Trials


@pytest.fixture(scope="module")
def eliana_1000():
    t0 = time.perf_counter()
    res = cartkin.run_trial(str(ELIANA), patients=1000, seed=5, threads=2)
    print(f"run_trial eliana 1000 patients, 2 threads: {time.perf_counter() - t0:.2f} s")
    return res


def test_eliana_trial_equals_the_command_line(eliana_1000, tmp_path):
    out = tmp_path / "trial"
    subprocess.run(
        [cli(), "trial", str(ELIANA), "--patients", "1000", "--seed", "5", "--threads", "2",
         "--out", str(out), "--quiet"],
        check=True, capture_output=True,
    )
    text = (out / "summary.json").read_text()
    assert eliana_1000.summary_json == text  # the same bytes
    assert eliana_1000.summary == json.loads(text)  # so the same keys and values
    assert eliana_1000.summary["n_patients"] == 1000
    assert_columns_equal(eliana_1000.patients, out / "patients.csv")


def test_patients_columns_are_typed(eliana_1000):
    p = eliana_1000.patients
    assert len(eliana_1000) == 1000
    assert np.array_equal(p["id"], np.arange(1000, dtype=float))
    assert p["cmax"].dtype == np.float64 and np.all(np.isfinite(p["cmax"]))
    assert p["status"].dtype == object and all(isinstance(s, str) for s in p["status"])
    # a missing value: NaN in a number column, None in a text column
    assert np.isnan(p["relapse_day"]).any() and not np.isnan(p["relapse_day"]).all()
    phen = p["relapse_phenotype"]
    assert any(v is None for v in phen) and any(isinstance(v, str) for v in phen)
    # the same patients relapse by both columns
    assert [v is not None for v in phen] == list(~np.isnan(p["relapse_day"]))


def test_to_pandas(eliana_1000):
    pd = pytest.importorskip("pandas")
    df = eliana_1000.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (1000, len(eliana_1000.patients))
    assert list(df.columns) == list(eliana_1000.patients)
    assert df["relapse_phenotype"].isna().sum() == sum(v is None for v in eliana_1000.patients["relapse_phenotype"])


def test_threads_do_not_change_results():
    a = cartkin.run_trial("eliana", patients=300, seed=11, threads=1)
    b = cartkin.run_trial("eliana", patients=300, seed=11, threads=2)
    assert a.summary_json == b.summary_json
    assert list(a.patients) == list(b.patients)
    for k in a.patients:
        x, y = a.patients[k], b.patients[k]
        if x.dtype == np.float64:
            assert np.array_equal(x, y, equal_nan=True), k
        else:
            assert list(x) == list(y), k


def test_a_study_dict_equals_its_file():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    study = tomllib.loads(ELIANA.read_text())
    a = cartkin.run_trial(study, patients=60, seed=3, threads=2)
    b = cartkin.run_trial(ELIANA, patients=60, seed=3, threads=2)  # a pathlib.Path
    assert a.summary_json == b.summary_json
    for k in a.patients:
        assert np.array_equal(a.patients[k], b.patients[k], equal_nan=a.patients[k].dtype == np.float64), k
    # a dict with a `model` key is a study for simulate too
    assert cartkin.simulate(study, patient=2).document_json == cartkin.simulate(ELIANA, patient=2).document_json


def test_the_gil_is_released_while_a_trial_runs():
    done = threading.Event()
    box = {}

    def work():
        box["res"] = cartkin.run_trial("eliana", patients=400, seed=2, threads=1)
        done.set()

    th = threading.Thread(target=work)
    th.start()
    spins = 0
    while not done.is_set():
        spins += 1  # pure Python: runs only while the trial's thread does not hold the GIL
    th.join()
    assert box["res"].summary["n_patients"] == 400
    assert spins > 100_000, spins


INTERRUPT_CHILD = textwrap.dedent(
    """
    import signal, sys, time, cartkin
    # Python leaves SIGINT ignored when it starts with it ignored (a job started in the
    # background by a non-interactive shell, as CI may be); an interactive session has
    # Python's handler, which this restores
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print("started", flush=True)
    t0 = time.perf_counter()
    try:
        cartkin.run_trial("eliana", patients=200_000, seed=1, threads=2)
    finally:
        print(f"left run_trial after {time.perf_counter() - t0:.2f} s", file=sys.stderr, flush=True)
    print("finished", flush=True)
    """
)


def test_ctrl_c_interrupts_a_long_trial():
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPT_CHILD],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "started"
        time.sleep(1.0)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        # The trial stops after the chunk of 1,024 patients under way (~1 s on 2 free
        # cores); the bound leaves room for a loaded machine.
        out, err = child.communicate(timeout=60)
        waited = time.perf_counter() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    print(f"SIGINT to exit: {waited:.2f} s; child stderr tail: {err.strip().splitlines()[-1]!r}")
    assert "finished" not in out
    assert "KeyboardInterrupt" in err, err
    assert child.returncode != 0
    assert waited < 30, waited


# ------------------------------------------------------------------------------------------
# One patient


def reference_endpoints() -> dict:
    """S1's reference document: the repository's copy, else the shared one."""
    for p in (ROOT / "tests" / "data" / "S1_nominal_endpoints.json",
              ROOT.parent / "shared" / "reference" / "S1_nominal_endpoints.json"):
        if p.exists():
            return json.loads(p.read_text())
    pytest.fail("no S1_nominal_endpoints.json in tests/data nor ../shared/reference")


# The README's bounds, as tests/common/mod.rs (TIGHT, DEFAULT) holds them and
# tests/reference.rs applies them: continuous amounts `rel` relative (cell counts: also
# `cells` absolute); crossing times max(c, c / |d ln y/dt|) days, taken here as c, their
# floor (stricter: no slope needed); extinction days and cure_day `ext` days; times of
# maxima `tmax` days; discrete endpoints and the event log's kinds exact.
BOUNDS = {
    "tight": dict(rtol=1e-9, rel=1e-6, cells=1.0, c=1e-6, ext=1e-5, tmax=1e-4),
    "default": dict(rtol=None, rel=1e-3, cells=1e3, c=1e-3, ext=1e-2, tmax=0.1),
}
CELL_AMOUNTS = {"Ltot_day28", "cmax", "auc28", "B_day28", "C_end", "M_end", "B_end", "Ltot_end"}
OTHER_AMOUNTS = {"f_day28", "cmax_copies", "peak_il6", "peak_ifng", "peak_signal"}
CROSSINGS = {"relapse_day", "efs_event_day", "crs_onset_day", "steroid_day", "b_recovery_day"}
MAXIMA = {"tmax", "t_peak_il6", "t_peak_ifng", "t_peak_signal"}


def close(got, want, bound, what):
    if want is None:
        assert got is None, what
    else:
        assert got is not None and abs(got - want) <= bound, f"{what}: got {got!r}, want {want!r}, bound {bound}"


@pytest.mark.parametrize("level", ["tight", "default"])
def test_s1_reproduces_the_reference_endpoints(level):
    b = BOUNDS[level]
    ref = reference_endpoints()
    sol = cartkin.simulate(str(S1), rtol=b["rtol"])
    got, want = sol.endpoints, ref["endpoints"]
    assert set(got) == set(want)
    checked = set()
    for k, x in want.items():
        g = got[k]
        if k in CELL_AMOUNTS or k in OTHER_AMOUNTS:
            floor = b["cells"] if k in CELL_AMOUNTS else 0.0
            close(g, x, max(b["rel"] * abs(x), floor), k)
        elif k in CROSSINGS:
            close(g, x, b["c"], k)
        elif k in MAXIMA:
            close(g, x, b["tmax"], k)
        elif k == "cure_day":
            close(g, x, b["ext"], k)
        elif k == "extinction_days":
            assert set(g) == set(x)
            for ph in x:
                close(g[ph], x[ph], b["ext"], f"extinction_days.{ph}")
        elif k in ("crs_threshold_days", "toci_days"):
            assert len(g) == len(x), k
            for i, (gi, xi) in enumerate(zip(g, x)):
                close(gi, xi, b["c"], f"{k}[{i}]")
        else:  # discrete: booleans, phenotype, grade
            assert not isinstance(x, float), k
            assert g == x, k
        checked.add(k)
    assert checked == set(want)
    # the event log: the same kinds in the same order, the same details, times within bounds
    assert [e["kind"] for e in sol.event_log] == [e["kind"] for e in ref["events"]]
    for e, r in zip(sol.event_log, ref["events"]):
        assert {k: v for k, v in e.items() if k != "t"} == {k: v for k, v in r.items() if k != "t"}
        close(e["t"], r["t"], b["ext"] if e["kind"] == "extinction" else b["c"], f"event {e['kind']}")
    assert sol.events == [(e["t"], e["kind"]) for e in sol.event_log]


def test_simulate_returns_the_document_and_the_daily_trajectory():
    sol = cartkin.simulate(S1)
    assert sol.name == "S1_nominal"
    assert set(sol.document) >= {"name", "endpoints", "events", "solver"}
    t = sol.trajectory["t"]
    # every day of the horizon, plus a row at each event's time
    assert t.dtype == np.float64 and np.all(np.diff(t) >= 0)
    days = t[t == np.round(t)]
    assert np.array_equal(days, np.arange(len(days))) and len(days) == 366
    for day, kind in sol.events:
        assert day in t, kind
    header = sol.trajectory_csv.splitlines()[0].split(",")
    assert list(sol.trajectory) == header
    assert all(len(v) == len(t) for v in sol.trajectory.values())


def test_simulate_equals_the_command_line(tmp_path):
    b = cli()
    printed = subprocess.run([b, "simulate", str(S1)], check=True, capture_output=True, text=True).stdout
    sol = cartkin.simulate(str(S1))
    assert sol.document == json.loads(printed)
    subprocess.run([b, "simulate", str(S1), "--out", str(tmp_path)], check=True, capture_output=True)
    assert sol.trajectory_csv == (tmp_path / "S1_nominal_trajectory.csv").read_text()
    # a study's patient
    printed = subprocess.run([b, "simulate", "eliana", "--patient", "7"], check=True, capture_output=True,
                             text=True).stdout
    pat = cartkin.simulate("eliana", patient=7)
    assert pat.document == json.loads(printed)
    assert pat.document["study"] == "eliana" and pat.document["patient"] == 7


def test_a_scenario_dict_equals_its_file():
    a = cartkin.simulate(json.loads(S1.read_text()))
    b = cartkin.simulate(str(S1))
    assert a.document_json == b.document_json
    assert a.trajectory_csv == b.trajectory_csv


def test_a_study_patient_and_rtol():
    a = cartkin.simulate("eliana", patient=3)
    b = cartkin.simulate("eliana", patient=3, rtol=1e-8)
    assert a.document["patient"] == 3 and a.document["model"] == "v2"
    assert a.document["solver"] != b.document["solver"]


# ------------------------------------------------------------------------------------------
# Errors


def test_bad_input_raises_value_error_with_the_message():
    with pytest.raises(ValueError) as e:
        cartkin.simulate('{"name": "broken", "horizon": -1}')
    assert str(e.value) == "<string>: malformed scenario (line 1, column 33): missing field `product`"
    with pytest.raises(ValueError, match="no such file, nor a built-in study"):
        cartkin.run_trial("no/such/study.toml")
    with pytest.raises(ValueError, match=r"^patients 0: must be between 1 and 2000000"):
        cartkin.run_trial("eliana", patients=0)
    with pytest.raises(ValueError, match=r"^patients -1: must be a non-negative integer"):
        cartkin.run_trial("eliana", patients=-1)
    with pytest.raises(ValueError, match=r"^threads 0: must be between 1"):
        cartkin.run_trial("eliana", patients=10, threads=0)
    with pytest.raises(ValueError, match=r"^rtol: "):
        cartkin.simulate(S1, rtol=0.5)
    with pytest.raises(ValueError, match=r"^patient 1: a scenario holds one patient"):
        cartkin.simulate(S1, patient=1)
    with pytest.raises(TypeError):
        cartkin.simulate(42)


def test_error_messages_are_the_command_lines(tmp_path):
    b = cli()
    bad = tmp_path / "broken.json"
    bad.write_text('{"name": "broken", "horizon": -1}')
    run = subprocess.run([b, "simulate", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    with pytest.raises(ValueError) as e:
        cartkin.simulate(str(bad))
    assert run.stderr.strip() == f"error: {e.value}"
    run = subprocess.run([b, "trial", "no/such.toml", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    with pytest.raises(ValueError) as e:
        cartkin.run_trial("no/such.toml")
    assert run.stderr.strip() == f"error: {e.value}"


# ------------------------------------------------------------------------------------------
# Catalogue


def test_models_lists_what_the_command_line_lists():
    items = cartkin.models()
    kinds = {i["kind"] for i in items}
    assert kinds == {"model", "population", "study"}
    models = {i["name"]: i for i in items if i["kind"] == "model"}
    assert {"reference", "minimal", "v2"} <= set(models)
    assert models["v2"]["states"][0] == "E" and len(models["v2"]["states"]) == len(models["v2"]["units"])
    pops = {(i["model"], i["name"]) for i in items if i["kind"] == "population"}
    assert ("v2", "eliana") in pops and ("reference", "eliana") in pops
    studies = {i["name"]: i for i in items if i["kind"] == "study"}
    assert "eliana" in studies and 'model = "v2"' in studies["eliana"]["toml"]


def test_models_equal_the_command_line():
    printed = subprocess.run([cli(), "models"], check=True, capture_output=True, text=True).stdout.splitlines()
    items = cartkin.models()
    assert len(printed) == len(items)
    for line, item in zip(printed, items):
        assert line.split()[0] == item["kind"] and line.split()[1] == item["name"], (line, item)
