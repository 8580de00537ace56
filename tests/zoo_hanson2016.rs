//! `hanson2016` (Hanson et al. 2016, BioModels BIOMD0000000837) against libroadrunner's
//! solutions of the curated file, which is in hours (the model is in days: time t h = day
//! t / 24):
//!
//! - `tests/data/zoo/Hanson2016_trajectory.csv`: the model zoo's reference (copied from
//!   `../shared/zoo/reference/`), the file's own values, hourly 0..720 h, libroadrunner 2.10
//!   CVODE at rtol 1e-11 / atol 1e-16.
//! - `tests/data/zoo/Hanson2016_lowL_trajectory.csv` (initial `L` 1000, so the piecewise
//!   `Lymphocyte_Term` is positive, then 0, then positive again) and
//!   `tests/data/zoo/Hanson2016_drug_trajectory.csv` (initial drug `D` 50 /h = 1200 /day):
//!   the same solver and settings on the same file with that one initial value changed,
//!   every 6 h (`tests/data/zoo/hanson2016_variants.py`).
//!
//! Errors are scaled by each state's maximum over the reference trajectory (absolute for a
//! state that stays 0, the drug `D` of the first two).

use cartkin::endpoints::Definitions;
use cartkin::model::zoo::hanson2016::{idx, info, Hanson2016, HOURS_PER_DAY, N, PARAMS};
use cartkin::model::zoo::{typical, ZooRow};
use cartkin::model::{Model, Observable};
use cartkin::regimen::{Infusion, Regimen, SteroidPolicy, TociPolicy};
use cartkin::solve::{run_model, SolverConfig};
use cartkin::InputError;
use nalgebra::SVector;

#[path = "common/zoo.rs"]
mod zoo_ref;

/// A reference trajectory: times in hours and the eight states (the file's species order),
/// the drug `D` converted to per day.
struct Reference {
    t_h: Vec<f64>,
    y: Vec<[f64; N]>,
}

fn read(name: &str) -> Reference {
    let (header, rows) = zoo_ref::read_reference(name);
    assert_eq!(header[0], "time");
    assert_eq!(&header[1..], info().states, "{name}: columns");
    let (mut t_h, mut y) = (Vec::new(), Vec::new());
    for v in rows {
        assert_eq!(v.len(), N + 1);
        t_h.push(v[0]);
        // the drug D is a rate in the file (a.u. per hour), per day in the model
        y.push(std::array::from_fn(|i| if i == idx::D { v[i + 1] * HOURS_PER_DAY } else { v[i + 1] }));
    }
    Reference { t_h, y }
}

/// The parameters with `changes` applied (by name).
fn values(changes: &[(&str, f64)]) -> Vec<f64> {
    let mut v = typical(PARAMS);
    for &(name, x) in changes {
        let i = PARAMS.iter().position(|p| p.name == name).unwrap();
        v[i] = x;
    }
    v
}

fn empty_regimen() -> Regimen {
    Regimen::new(vec![], false, TociPolicy::None, SteroidPolicy::None).unwrap()
}

/// Simulate `model` under `regimen` on the reference's grid (in days).
fn simulate(model: &Hanson2016, regimen: &Regimen, cfg: &SolverConfig, r: &Reference) -> Vec<ZooRow> {
    let grid: Vec<f64> = r.t_h.iter().map(|t| t / HOURS_PER_DAY).collect();
    let horizon = *grid.last().unwrap();
    let sol = run_model(model, regimen, &Definitions::default(), cfg, horizon, &grid, false).unwrap();
    assert_eq!(sol.rows.len(), grid.len());
    sol.rows
}

/// Per state: the largest error over the trajectory, scaled by the state's maximum over the
/// reference (not scaled for a state that stays 0).
fn scaled_errors(rows: &[ZooRow], r: &Reference) -> [f64; N] {
    let want: Vec<Vec<f64>> = r.t_h.iter().zip(&r.y).map(|(t, y)| std::iter::once(*t).chain(*y).collect()).collect();
    let got: Vec<Vec<f64>> =
        rows.iter().map(|row| std::iter::once(row.t).chain(row.y[..N].iter().copied()).collect()).collect();
    zoo_ref::scaled_errors(&want, &got).try_into().unwrap_or_else(|v: Vec<f64>| panic!("{} columns", v.len()))
}

/// Check `model` against `file` at a tight and at the default tolerance: every state within
/// `tight` (scaled; 1e-12 absolute for a state that stays 0) at rtol 1e-10, within `default`
/// at `SolverConfig::default()`.
fn check(what: &str, model: &Hanson2016, file: &str, tight: f64, default: f64) {
    let r = read(file);
    for (label, cfg, bound) in [
        ("rtol 1e-10", SolverConfig::with_rtol(1e-10).unwrap(), tight),
        ("default (rtol 1e-6)", SolverConfig::default(), default),
    ] {
        let rows = simulate(model, &empty_regimen(), &cfg, &r);
        for (row, t) in rows.iter().zip(&r.t_h) {
            assert_eq!(row.t, t / HOURS_PER_DAY);
        }
        let e = scaled_errors(&rows, &r);
        let worst = e.iter().copied().fold(0.0, f64::max);
        let per: Vec<String> = info().states.iter().zip(&e).map(|(n, x)| format!("{n} {x:.1e}")).collect();
        eprintln!("{what} vs {file}, {label}: max scaled error {worst:.2e}; {}", per.join(", "));
        for (i, &ei) in e.iter().enumerate() {
            let zero = r.y.iter().all(|y| y[i] == 0.0);
            let b = if zero { 1e-12 } else { bound };
            assert!(ei <= b, "{what}, {label}: {} error {ei:.3e} > {b:e}", info().states[i]);
        }
    }
}

#[test]
fn defaults_are_the_curated_file_in_days() {
    // BIOMD0000000837's values (listOfParameters and species initialConcentration), per hour
    // where a rate: (name, value in the file, multiplied by 24 to get per day)
    let file: [(&str, f64, bool); 27] = [
        ("n", 6.0, false),
        ("r_1", 0.003, true),
        ("r_2", 0.1, true),
        ("r_3", 0.1, true),
        ("r_4", 0.1, true),
        ("d_1", 0.0002, true),
        ("d_2", 1.5, true),
        ("d_3", 0.004, true),
        ("d_4", 0.004, true),
        ("d_5", 0.0002, true),
        ("p_1", 0.002, true),
        ("p_2", 0.4, true),
        ("a_1", 4e-7, true),
        ("a_2", 2.0, false),
        ("a_3", 8e-5, true),
        ("b", 800.0, false),
        ("l", 1600.0, false),
        ("k", 4800.0, false),
        ("p_0", 200.0, true),
        ("C_m0", 10.0, false),
        ("C_e0", 10.0, false),
        ("H_m0", 10.0, false),
        ("H_e0", 10.0, false),
        ("L0", 1600.0, false),
        ("Inflam0", 140.0, false),
        ("B0", 300.0, false),
        ("D0", 0.0, true),
    ];
    assert_eq!(PARAMS.len(), file.len());
    for (p, (name, v, rate)) in PARAMS.iter().zip(file) {
        assert_eq!(p.name, name);
        let want = if rate { v * 24.0 } else { v };
        assert_eq!(p.value, want, "{name}");
    }
    // the initial state is the reference's first row
    let r = read("Hanson2016_trajectory.csv");
    let (y0, ()) = Hanson2016::default().start();
    assert_eq!(r.t_h[0], 0.0);
    assert_eq!(y0.as_slice(), &r.y[0]);
    assert_eq!(Hanson2016::default(), Hanson2016::new(&typical(PARAMS)).unwrap());
}

#[test]
fn matches_the_curated_trajectory() {
    // measured: 5.9e-10 at rtol 1e-10 (C_e; the same at 1e-11 and 1e-12: the reference's own
    // error), 3.8e-6 at the default (Inflam); bounds 1e-6 (the zoo's bar) and 1.2e-5 (~3x)
    check("curated", &Hanson2016::default(), "Hanson2016_trajectory.csv", 1e-6, 1.2e-5);
}

#[test]
fn matches_roadrunner_across_the_lymphocyte_term_kink() {
    let m = Hanson2016::new(&values(&[("L0", 1000.0)])).unwrap();
    // the piecewise Lymphocyte_Term is active at the start, reaches 0 and comes back
    let r = read("Hanson2016_lowL_trajectory.csv");
    let lt: Vec<f64> = r.y.iter().map(|y| m.lymphocyte_term(&SVector::from(*y))).collect();
    assert!(lt[0] > 0.16 && lt.contains(&0.0) && *lt.last().unwrap() > 0.0);
    // measured: 1.9e-8 at rtol 1e-10 (C_e; the kink costs accuracy at tight tolerances:
    // 1.8e-9 at 1e-11, 7.6e-10 at 1e-12), 3.1e-6 at the default (Inflam); bounds 1e-6 and
    // 1e-5 (~3x)
    check("L0 = 1000", &m, "Hanson2016_lowL_trajectory.csv", 1e-6, 1e-5);
}

#[test]
fn matches_roadrunner_with_the_drug() {
    // D = 50 /h in the file's units = 1200 /day
    let m = Hanson2016::new(&values(&[("D0", 50.0 * HOURS_PER_DAY)])).unwrap();
    // measured: 3.8e-10 at rtol 1e-10 (C_e), 3.6e-6 at the default (Inflam); bounds 1e-6 and
    // 1.1e-5 (~3x)
    check("D0 = 1200 /day", &m, "Hanson2016_drug_trajectory.csv", 1e-6, 1.1e-5);
}

#[test]
fn new_rejects_bad_values_with_typed_errors() {
    let good = typical(PARAMS);
    assert!(Hanson2016::new(&good).is_ok());
    // wrong count
    match Hanson2016::new(&good[..26]) {
        Err(InputError::Inconsistent { field, .. }) => assert_eq!(field, "hanson2016.parameters"),
        other => panic!("wrong count: {other:?}"),
    }
    let mut long = good.clone();
    long.push(1.0);
    assert!(matches!(Hanson2016::new(&long), Err(InputError::Inconsistent { .. })));
    // NaN
    let mut v = good.clone();
    v[1] = f64::NAN;
    match Hanson2016::new(&v) {
        Err(InputError::NonFinite { field, .. }) => assert_eq!(field, "parameters.r_1"),
        other => panic!("NaN: {other:?}"),
    }
    // negative rate, negative initial value, zero capacity, infinite value
    for (name, x, field) in [
        ("d_3", -0.1, "parameters.d_3"),
        ("B0", -1.0, "parameters.B0"),
        ("l", 0.0, "parameters.l"),
        ("b", 0.0, "parameters.b"),
    ] {
        match Hanson2016::new(&values(&[(name, x)])) {
            Err(InputError::OutOfDomain { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{name} = {x}: {other:?}"),
        }
    }
    assert!(matches!(Hanson2016::new(&values(&[("k", f64::INFINITY)])), Err(InputError::NonFinite { .. })));
    // 2^n overflows
    assert!(matches!(Hanson2016::new(&values(&[("n", 2000.0)])), Err(InputError::OutOfDomain { .. })));
}

#[test]
fn observation_map() {
    let m = Hanson2016::default();
    let r = read("Hanson2016_trajectory.csv");
    // day 10 (240 h) of the reference
    let k = r.t_h.iter().position(|&t| t == 240.0).unwrap();
    let y = SVector::from(r.y[k]);
    let mut dy = SVector::zeros();
    m.rhs(&(), 10.0, &y, &mut dy);
    let ob = |o| m.observe(&(), o, &y, &dy);
    let (c, dc) = ob(Observable::CarT).unwrap();
    assert_eq!(c, r.y[k][idx::C_M] + r.y[k][idx::C_E]);
    assert_eq!(dc, dy[idx::C_M] + dy[idx::C_E]);
    assert_eq!(ob(Observable::CarTMemory).unwrap(), (r.y[k][idx::C_M], dy[idx::C_M]));
    assert_eq!(ob(Observable::Tumour).unwrap(), (r.y[k][idx::B], dy[idx::B]));
    let (lnb, dlnb) = ob(Observable::LnTumour).unwrap();
    assert_eq!(lnb, r.y[k][idx::B].ln());
    assert!((dlnb - dy[idx::B] / r.y[k][idx::B]).abs() <= 1e-15 * dlnb.abs());
    // L is all normal lymphocytes, not B cells; Inflam is not IL-6
    for o in [Observable::BCells, Observable::Il6, Observable::Il6Signal, Observable::CrsSeverity, Observable::Icans] {
        assert!(ob(o).is_none(), "{o:?}");
    }
    // the right-hand side in days is 24 x the file's per-hour one: the reference's hourly
    // difference quotient around 240 h, times 24, matches dB/dt to the quotient's accuracy
    let db_h = (r.y[k + 1][idx::B] - r.y[k - 1][idx::B]) / 2.0;
    assert!((dy[idx::B] - HOURS_PER_DAY * db_h).abs() <= 1e-4 * dy[idx::B].abs(), "{} vs {}", dy[idx::B], 24.0 * db_h);
}

#[test]
fn an_infusion_enters_half_memory_half_effector() {
    // no CAR-T cells at the start plus 20 cells at day 0 is the curated start (10 and 10)
    let m = Hanson2016::new(&values(&[("C_m0", 0.0), ("C_e0", 0.0)])).unwrap();
    let reg =
        Regimen::new(vec![Infusion { t: 0.0, cells: 20.0 }], false, TociPolicy::None, SteroidPolicy::None).unwrap();
    let cfg = SolverConfig::with_rtol(1e-10).unwrap();
    let r = read("Hanson2016_trajectory.csv");
    let dosed = simulate(&m, &reg, &cfg, &r);
    let curated = simulate(&Hanson2016::default(), &empty_regimen(), &cfg, &r);
    assert_eq!(dosed[0].states(), &r.y[0]);
    for (a, b) in dosed.iter().zip(&curated) {
        assert_eq!(a.states(), b.states());
    }
}

#[test]
fn endpoints_and_tumour_bound() {
    let m = Hanson2016::default();
    let r = read("Hanson2016_trajectory.csv");
    let cfg = SolverConfig::with_rtol(1e-10).unwrap();
    let grid: Vec<f64> = r.t_h.iter().map(|t| t / HOURS_PER_DAY).collect();
    let sol = run_model(&m, &empty_regimen(), &Definitions::default(), &cfg, 30.0, &grid, false).unwrap();
    // CAR-T peak: the reference's largest hourly C_m + C_e bounds the located peak from below
    let (k, c) =
        r.y.iter().map(|y| y[idx::C_M] + y[idx::C_E]).enumerate().fold(
            (0, 0.0),
            |a, (k, c)| {
                if c > a.1 {
                    (k, c)
                } else {
                    a
                }
            },
        );
    let e = &sol.endpoints;
    eprintln!("cmax {} at day {} (reference hourly max {c} at {} h)", e.cmax, e.tmax, r.t_h[k]);
    assert!(e.cmax >= c * (1.0 - 1e-8) && e.cmax <= c * (1.0 + 1e-3));
    assert!((e.tmax - r.t_h[k] / 24.0).abs() <= 1.0 / 24.0);
    // a tumour at its capacity stays there or below: B0 = k is the invariant's bound
    let big = Hanson2016::new(&values(&[("B0", 4800.0)])).unwrap();
    assert!(
        run_model(&big, &empty_regimen(), &Definitions::default(), &SolverConfig::default(), 30.0, &[], false).is_ok()
    );
}
