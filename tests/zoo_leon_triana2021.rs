//! The León-Triana et al. 2021 models (`leon_triana2021`, eqs 4a-c, BIOMD0000001011, and
//! `leon_triana2021_progenitors`, eqs 3a-c, BIOMD0000001012) against the reference
//! trajectories of the curated files (`tests/data/zoo/Leon-Triana2020_eqs{4,3}_trajectory.csv`:
//! libroadrunner 2.10, CVODE rtol 1e-11, atol 1e-16, daily over days 0-200; a rerun at rtol
//! 1e-9 agrees to 2.3e-8 and 4.8e-8 of each column's maximum, `zoo_reference.json`).
//!
//! Each model is solved by the crate's driver from its `Default` (which must equal the file's
//! parameters and initial values, listed in `zoo_reference.json`) with an empty regimen, on the
//! reference's daily grid. Error of a state = the largest |simulated - reference| over the 201
//! days divided by that state's largest reference value. Bounds: 1e-6 at rtol 1e-10 (the
//! contract of the zoo) and, at the default tolerance (rtol 1e-6, atol 1e-6 x 1e8 cells), the
//! measured error times about 3 (stated beside each assertion).

use cartkin::endpoints::Definitions;
use cartkin::model::zoo::leon_triana2021::{
    self as lt, LeonTriana2021, LeonTriana2021Progenitors, PARAMS, PARAMS_PROGENITORS,
};
use cartkin::model::zoo::{ZooRow, MAX_STATES};
use cartkin::model::{Model, Observable};
use cartkin::regimen::{Regimen, SteroidPolicy, TociPolicy};
use cartkin::solve::{run_model, SolverConfig};
use cartkin::InputError;
use nalgebra::SVector;
use zoo_ref::read_reference;

#[path = "common/zoo.rs"]
mod zoo_ref;

const DIR: &str = "tests/data/zoo";

/// The parameters and initial values of one model as `zoo_reference.json` lists them.
fn file_values(model: &str) -> (serde_json::Value, serde_json::Value) {
    let text = std::fs::read_to_string(format!("{DIR}/zoo_reference.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (v[model]["parameters"].clone(), v[model]["initial"].clone())
}

fn regimen() -> Regimen {
    Regimen::new(vec![], false, TociPolicy::None, SteroidPolicy::None).unwrap()
}

/// Simulate `m` on the reference's grid and return each state's largest error scaled by that
/// state's largest reference value (absolute for a state that stays 0).
fn scaled_errors<const N: usize, M: Model<N, Row = ZooRow>>(m: &M, file: &str, cfg: &SolverConfig) -> Vec<f64> {
    let (header, rows) = read_reference(file);
    assert_eq!(header.len(), N + 1, "{file}: one column per state");
    let grid: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    let horizon = *grid.last().unwrap();
    let sol = run_model(m, &regimen(), &Definitions::default(), cfg, horizon, &grid, false).unwrap();
    assert_eq!(sol.rows.len(), rows.len());
    let st = &sol.stats;
    eprintln!("{file} rtol {:e}: {} steps accepted, {} rejected", cfg.rtol(), st.accepted, st.rejected);
    let got: Vec<Vec<f64>> = sol
        .rows
        .iter()
        .zip(&rows)
        .map(|(s, r)| {
            assert_eq!(s.t, r[0]);
            std::iter::once(s.t).chain(s.states().iter().copied()).collect()
        })
        .collect();
    zoo_ref::scaled_errors(&rows, &got)
}

fn tight() -> SolverConfig {
    SolverConfig::with_rtol(1e-10).unwrap()
}

fn check(name: &str, errs: &[f64], states: &[&str], bound: f64) {
    for (e, s) in errs.iter().zip(states) {
        eprintln!("{name}: {s} max error / max |{s}| = {e:.2e}");
        assert!(*e <= bound, "{name}: state {s}: scaled error {e:e} > {bound:e}");
    }
}

#[test]
fn defaults_are_the_curated_files_values() {
    // BIOMD0000001011 (eqs 4): the file's tao_* are tau_*, and rho_C = k alpha (the rule)
    let (p, init) = file_values("Leon-Triana2020_eqs4");
    let m = LeonTriana2021::default();
    let v = m.values();
    let want = [
        p["rho_L"].as_f64().unwrap(),
        p["alpha"].as_f64().unwrap(),
        p["rho_C"].as_f64().unwrap() / p["alpha"].as_f64().unwrap(),
        p["tao_C"].as_f64().unwrap(),
        p["tao_B"].as_f64().unwrap(),
        init["CAR_T_cells"].as_f64().unwrap(),
        init["Leukaemic_B_cells"].as_f64().unwrap(),
        init["B_cells_healthy"].as_f64().unwrap(),
    ];
    assert_eq!(v, want);
    assert_eq!(m.rho_c(), p["rho_C"].as_f64().unwrap());
    assert_eq!(p.as_object().unwrap().len(), 5, "eqs 4: every file parameter accounted for");
    assert_eq!(LeonTriana2021::new(&v).unwrap(), m);
    assert_eq!(PARAMS.len(), 8);

    // BIOMD0000001012 (eqs 3): also k = rho_C / alpha of the file, and I(0) = I_0
    let (p, init) = file_values("Leon-Triana2020_eqs3");
    let m = LeonTriana2021Progenitors::default();
    let v = m.values();
    let want = [
        p["rho_L"].as_f64().unwrap(),
        p["alpha"].as_f64().unwrap(),
        p["k"].as_f64().unwrap(),
        p["tao_C"].as_f64().unwrap(),
        p["tao_B"].as_f64().unwrap(),
        p["tao_I"].as_f64().unwrap(),
        p["beta"].as_f64().unwrap(),
        p["C_50"].as_f64().unwrap(),
        p["I_0"].as_f64().unwrap(),
        init["CAR_T_cells"].as_f64().unwrap(),
        init["Leukaemic_B_cells"].as_f64().unwrap(),
        init["B_cells_healthy"].as_f64().unwrap(),
    ];
    assert_eq!(v, want);
    assert_eq!(m.rho_c(), p["rho_C"].as_f64().unwrap());
    assert_eq!(p.as_object().unwrap().len(), 10, "eqs 3: every file parameter accounted for");
    assert_eq!(m.start().0[3], init["B_cell_progenitors"].as_f64().unwrap());
    assert_eq!(LeonTriana2021Progenitors::new(&v).unwrap(), m);
    assert_eq!(PARAMS_PROGENITORS.len(), 12);

    // the names are the ones a study uses, unique, and the infos are what the rows carry
    for ps in [PARAMS, PARAMS_PROGENITORS] {
        let mut names: Vec<_> = ps.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ps.len());
    }
    assert_eq!(lt::info().name, "leon_triana2021");
    assert_eq!(lt::info().states, ["C", "L", "B"]);
    assert_eq!(lt::info_progenitors().name, "leon_triana2021_progenitors");
    assert_eq!(lt::info_progenitors().states, ["C", "L", "B", "I"]);
    assert!(lt::info_progenitors().states.len() <= MAX_STATES);
}

#[test]
fn reduced_model_matches_the_curated_reference() {
    let m = LeonTriana2021::default();
    let file = "Leon-Triana2020_eqs4_trajectory.csv";
    let states = lt::info().states;
    let e = scaled_errors(&m, file, &tight());
    check("leon_triana2021 rtol 1e-10", &e, states, 1e-6);
    let e = scaled_errors(&m, file, &SolverConfig::default());
    // measured 2.70e-6 (C), 2.53e-6 (L), 1.86e-6 (B) at the default tolerance: bound 8e-6
    check("leon_triana2021 default", &e, states, 8e-6);
}

#[test]
fn progenitor_model_matches_the_curated_reference() {
    let m = LeonTriana2021Progenitors::default();
    let file = "Leon-Triana2020_eqs3_trajectory.csv";
    let states = lt::info_progenitors().states;
    let e = scaled_errors(&m, file, &tight());
    check("leon_triana2021_progenitors rtol 1e-10", &e, states, 1e-6);
    let e = scaled_errors(&m, file, &SolverConfig::default());
    // measured 8.45e-7 (C), 8.69e-7 (L), 6.28e-7 (B), 1.01e-8 (I) at the default tolerance:
    // bound 2.5e-6
    check("leon_triana2021_progenitors default", &e, states, 2.5e-6);
}

/// With no progenitor pool (`I_0 = 0`) the eqs-3 model is the eqs-4 model: same `C`, `L`, `B`
/// (the same right-hand side; not the same bits, because the error norm of the eqs-3 model
/// averages over its fourth state, which stays 0, so the step sizes differ).
#[test]
fn progenitor_model_without_progenitors_is_the_reduced_model() {
    let mut v = LeonTriana2021Progenitors::default().values();
    v[8] = 0.0; // I_0
    let with = LeonTriana2021Progenitors::new(&v).unwrap();
    let without = LeonTriana2021::default();
    let grid: Vec<f64> = (0..=200).map(f64::from).collect();
    let cfg = tight();
    let a = run_model(&with, &regimen(), &Definitions::default(), &cfg, 200.0, &grid, false).unwrap();
    let b = run_model(&without, &regimen(), &Definitions::default(), &cfg, 200.0, &grid, false).unwrap();
    let mut worst: f64 = 0.0;
    for i in 0..3 {
        let max = b.rows.iter().map(|r| r.states()[i].abs()).fold(0.0, f64::max);
        for (ra, rb) in a.rows.iter().zip(&b.rows) {
            worst = worst.max((ra.states()[i] - rb.states()[i]).abs() / max);
        }
    }
    assert!(a.rows.iter().all(|r| r.states()[3] == 0.0));
    // both are within 4e-10 of the reference at this tolerance
    eprintln!("I_0 = 0 vs reduced model: largest difference / state maximum {worst:.2e}");
    assert!(worst <= 1e-9, "{worst:e}");
}

#[test]
fn new_rejects_bad_values_with_a_typed_error() {
    let good = LeonTriana2021::default().values();
    assert!(matches!(LeonTriana2021::new(&good[..7]), Err(InputError::Inconsistent { .. })));
    assert!(matches!(LeonTriana2021::new(&[good.as_slice(), &[1.0]].concat()), Err(InputError::Inconsistent { .. })));
    assert!(matches!(LeonTriana2021::new(&[]), Err(InputError::Inconsistent { .. })));
    let with = |i: usize, x: f64| {
        let mut v = good;
        v[i] = x;
        LeonTriana2021::new(&v)
    };
    match with(1, f64::NAN) {
        Err(InputError::NonFinite { field, .. }) => assert_eq!(field, "parameters.alpha"),
        other => panic!("NaN alpha: {other:?}"),
    }
    match with(0, -0.01) {
        Err(InputError::OutOfDomain { field, .. }) => assert_eq!(field, "parameters.rho_L"),
        other => panic!("negative rho_L: {other:?}"),
    }
    assert!(matches!(with(3, 0.0), Err(InputError::OutOfDomain { .. })), "tau_C = 0");
    assert!(matches!(with(6, f64::INFINITY), Err(InputError::NonFinite { .. })), "L0 = inf");
    assert!(matches!(with(7, -1.0), Err(InputError::OutOfDomain { .. })), "B0 < 0");
    assert!(with(5, 0.0).is_ok(), "no CAR-T at day 0 is a valid start");

    let good = LeonTriana2021Progenitors::default().values();
    assert!(matches!(LeonTriana2021Progenitors::new(&good[..11]), Err(InputError::Inconsistent { .. })));
    let with = |i: usize, x: f64| {
        let mut v = good;
        v[i] = x;
        LeonTriana2021Progenitors::new(&v)
    };
    match with(8, f64::NAN) {
        Err(InputError::NonFinite { field, .. }) => assert_eq!(field, "parameters.I_0"),
        other => panic!("NaN I_0: {other:?}"),
    }
    match with(2, -0.25) {
        Err(InputError::OutOfDomain { field, .. }) => assert_eq!(field, "parameters.k"),
        other => panic!("negative k: {other:?}"),
    }
    match with(7, 0.0) {
        Err(InputError::OutOfDomain { field, .. }) => assert_eq!(field, "parameters.C_50"),
        other => panic!("C_50 = 0: {other:?}"),
    }
    assert!(matches!(with(5, -6.0), Err(InputError::OutOfDomain { .. })), "tau_I < 0");
    assert!(matches!(with(6, -0.1), Err(InputError::OutOfDomain { .. })), "beta < 0");
}

/// The observation map on the reference state of day 37 (CAR-T contracting after its day-12
/// peak, leukaemia near its day-57 trough).
#[test]
fn observation_map_on_the_reference() {
    let (_, rows) = read_reference("Leon-Triana2020_eqs3_trajectory.csv");
    let r = &rows[37];
    assert_eq!(r[0], 37.0);
    let m = LeonTriana2021Progenitors::default();
    let y = SVector::<f64, 4>::from([r[1], r[2], r[3], r[4]]);
    let mut dy = SVector::zeros();
    m.rhs(&(), 37.0, &y, &mut dy);
    let obs = |o| m.observe(&(), o, &y, &dy);
    assert_eq!(obs(Observable::CarT), Some((r[1], dy[0])));
    assert_eq!(obs(Observable::Tumour), Some((r[2], dy[1])));
    assert_eq!(obs(Observable::LnTumour), Some((r[2].ln(), dy[1] / r[2])));
    assert_eq!(obs(Observable::BCells), Some((r[3], dy[2])));
    for o in [Observable::Il6, Observable::Il6Signal, Observable::CrsSeverity, Observable::CarTMemory] {
        assert_eq!(obs(o), None);
    }

    let (_, rows) = read_reference("Leon-Triana2020_eqs4_trajectory.csv");
    let r = &rows[37];
    let m = LeonTriana2021::default();
    let y = SVector::<f64, 3>::from([r[1], r[2], r[3]]);
    let mut dy = SVector::zeros();
    m.rhs(&(), 37.0, &y, &mut dy);
    assert_eq!(m.observe(&(), Observable::CarT, &y, &dy), Some((r[1], dy[0])));
    assert_eq!(m.observe(&(), Observable::BCells, &y, &dy), Some((r[3], dy[2])));
    // no leukaemia: ln L is -inf, not NaN
    let y0 = SVector::<f64, 3>::from([r[1], 0.0, r[3]]);
    assert_eq!(m.observe(&(), Observable::LnTumour, &y0, &dy), Some((f64::NEG_INFINITY, 0.0)));

    // an infusion adds its cells to C
    let (mut y, mut mode) = m.start();
    m.infuse(&mut mode, &mut y, 5e6);
    assert_eq!(y, SVector::from([1.5e7, 5e10, 2.5e10]));
}

/// A dose given as a regimen event at day 0 on top of `C0 = 0` is the file's start.
#[test]
fn infusion_at_day_0_is_the_same_as_c0() {
    let mut v = LeonTriana2021::default().values();
    let c0 = v[5];
    v[5] = 0.0;
    let m = LeonTriana2021::new(&v).unwrap();
    let inf = vec![cartkin::regimen::Infusion { t: 0.0, cells: c0 }];
    let reg = Regimen::new(inf, false, TociPolicy::None, SteroidPolicy::None).unwrap();
    let grid: Vec<f64> = (0..=200).map(f64::from).collect();
    let cfg = tight();
    let a = run_model(&m, &reg, &Definitions::default(), &cfg, 200.0, &grid, false).unwrap();
    let b =
        run_model(&LeonTriana2021::default(), &regimen(), &Definitions::default(), &cfg, 200.0, &grid, false).unwrap();
    for (ra, rb) in a.rows.iter().zip(&b.rows) {
        for (x, z) in ra.states().iter().zip(rb.states()) {
            assert!((x - z).abs() <= 1e-9 * z.abs().max(1.0), "day {}: {x} vs {z}", ra.t);
        }
    }
    assert_eq!(a.endpoints.cmax, b.endpoints.cmax);
}
