//! Skipping the search of "quiet" steps (where the model's ranges show that no event can
//! fire, no endpoint threshold can be crossed and no tracked maximum can rise) changes no
//! result: the default solver and `SolverConfig::search_every_step(true)` give the same
//! solution bit for bit — endpoints, event log and trajectory rows (daily grid and event
//! rows) — on the 200-patient reference population, on 300 patients of the default (v2)
//! population, on 300 of the v1 ELIANA-like population and on 100 of each zoo model. (That most steps are skipped is
//! checked inside the crate, `solve::driver::tests`.)

mod common;

use cartkin::population::v2::{simulate_v2, PopulationV2};
use cartkin::population::Population;
use cartkin::solve::run;
use cartkin::trial::PatientSource;
use cartkin::{Params, Patient, Product, Regimen, Scenario, SolverConfig};
use common::*;

/// Daily rows over the year.
fn daily() -> Vec<f64> {
    (0..=365).map(f64::from).collect()
}

/// `Debug` prints every f64 in round-trip form (NaN included, unlike `==`).
fn same<T: std::fmt::Debug>(a: &T, b: &T, what: &str) {
    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{what}");
}

#[test]
fn the_200_reference_patients_are_the_same_with_every_step_searched() {
    let pop = Csv::read(std::path::Path::new("tests/data/population_200.csv"));
    let every = SolverConfig::default().search_every_step(true);
    let grid = daily();
    for i in 0..pop.len() {
        let mut p = Params::nominal();
        for name in ["rho_E", "k_kill", "r_L", "delta_E", "p_I"] {
            p.set(name, pop.f(i, name)).unwrap();
        }
        let patient =
            Patient::from_counts([pop.f(i, "L0_CD19+CD22+"), pop.f(i, "L0_CD19-CD22+"), 0.0, 0.0], 1e8).unwrap();
        let regimen = Regimen::single_dose(pop.f(i, "dose")).unwrap();
        let sc = Scenario::new(format!("patient {i}"), p, patient, Product::cd19(), regimen, 365.0).unwrap();
        let a = run(&sc, &SolverConfig::default(), &grid, true, i as u64).unwrap();
        let b = run(&sc, &every, &grid, true, i as u64).unwrap();
        same(&a, &b, &format!("patient {i}"));
    }
}

#[test]
fn v1_eliana_like_patients_are_the_same_with_every_step_searched() {
    let pop = Population::eliana_like();
    let every = SolverConfig::default().search_every_step(true);
    let grid = daily();
    for id in 0..300 {
        let sc = pop.sample_patient(7, id).scenario(365.0).unwrap();
        let a = run(&sc, &SolverConfig::default(), &grid, true, id).unwrap();
        let b = run(&sc, &every, &grid, true, id).unwrap();
        same(&a, &b, &format!("patient {id}"));
    }
}

#[test]
fn v2_patients_are_the_same_with_every_step_searched() {
    let pop = PopulationV2::eliana();
    let every = SolverConfig::default().search_every_step(true);
    let grid = daily();
    for id in 0..300 {
        let pt = pop.patient(2018, id).unwrap();
        let a = simulate_v2(&pt.scenario, &SolverConfig::default(), 365.0, &grid, id).unwrap();
        let b = simulate_v2(&pt.scenario, &every, 365.0, &grid, id).unwrap();
        same(&a, &b, &format!("patient {id}"));
    }
}

/// Every zoo model, 100 patients of its built-in population (with variability added to the
/// models that publish none, so the patients differ).
#[test]
fn zoo_patients_are_the_same_with_every_step_searched() {
    use cartkin::model::zoo::{Kind, Variability, ZooPopulation};
    let every = SolverConfig::default().search_every_step(true);
    let grid = daily();
    for &kind in Kind::ALL {
        let mut pop = ZooPopulation::builtin(kind);
        if pop.variability().iter().all(|v| *v == Variability::None) {
            for p in kind.params().iter().take(2) {
                pop.set_variability(p.name, Variability::LogNormal { omega2: 0.09 }).unwrap();
            }
        }
        for id in 0..100 {
            let pt = pop.sample(11, id).unwrap();
            let a = kind.simulate(pt.values(), pt.uniforms(), &SolverConfig::default(), 365.0, &grid, id).unwrap();
            let b = kind.simulate(pt.values(), pt.uniforms(), &every, 365.0, &grid, id).unwrap();
            same(&a, &b, &format!("{kind:?} patient {id}"));
        }
    }
}
