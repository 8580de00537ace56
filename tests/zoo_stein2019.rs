//! `stein2019` against its closed form (the 7-digit values of `../shared/zoo/README.md`,
//! computed there from Stein et al. 2019 Table 1) and the paper's rounded figures, and its
//! built-in population against Table 1's typical values and variability.

use cartkin::endpoints::Definitions;
use cartkin::model::zoo::stein2019::{Stein2019, OMEGA2, PARAMS};
use cartkin::model::zoo::{Kind, ZooPopulation};
use cartkin::regimen::{Regimen, SteroidPolicy, TociPolicy};
use cartkin::solve::{run_model, SolverConfig};
use cartkin::trial::Trial;

fn solve(cfg: &SolverConfig) -> cartkin::solve::Solution<cartkin::model::zoo::ZooRow> {
    let reg = Regimen::new(vec![], false, TociPolicy::None, SteroidPolicy::None).unwrap();
    run_model(&Stein2019::default(), &reg, &Definitions::default(), cfg, 365.0, &[28.0, 90.0, 365.0], false).unwrap()
}

/// Closed-form values from `../shared/zoo/README.md` (Stein 2019 typical curve).
const C28: f64 = 1373.559;
const C90: f64 = 146.5077;
const C365: f64 = 60.74450;
const AUC28: f64 = 171774.3;

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn closed_form_to_1e_6() {
    let sol = solve(&SolverConfig::with_rtol(1e-10).unwrap());
    let c: Vec<f64> = sol.rows.iter().map(|r| r.y[0] + r.y[1]).collect();
    let e = &sol.endpoints;
    println!("C(28) {} C(90) {} C(365) {} AUC0-28 {} cmax {} tmax {}", c[0], c[1], c[2], e.auc28, e.cmax, e.tmax);
    // the README's values carry 7 significant digits: 1e-6 relative is their precision
    for (got, want) in [(c[0], C28), (c[1], C90), (c[2], C365), (e.auc28, AUC28)] {
        assert!(rel(got, want) < 1e-6, "{got} vs {want}");
    }
    // the peak: Table 1's Cmax at Tmax (copies/ug), which is also cmax_copies
    assert!(rel(e.cmax, 24000.0) < 1e-9 && rel(e.cmax_copies, 24000.0) < 1e-9, "cmax {}", e.cmax);
    assert!((e.tmax - 9.3).abs() < 1e-9, "tmax {}", e.tmax);
    let m = Stein2019::default();
    assert!(rel(m.r0(), 6.153846) < 1e-6 && rel(m.rho(), 0.8891109) < 1e-6);
    assert!(rel(m.doubling_time(), 0.7795958) < 1e-6);
    assert!(rel(m.fast_half_life(), 4.332170) < 1e-6);
    assert!(rel(m.terminal_half_life(), 216.6085) < 1e-6);
    // the paper's rounded figures at their printed precision: 0.78 d, 4.3 d, 220 d
    assert_eq!(format!("{:.2}", m.doubling_time()), "0.78");
    assert_eq!(format!("{:.1}", m.fast_half_life()), "4.3");
    assert_eq!((m.terminal_half_life() / 10.0).round() * 10.0, 220.0);
}

#[test]
fn default_tolerance_bound() {
    let sol = solve(&SolverConfig::default());
    let c: Vec<f64> = sol.rows.iter().map(|r| r.y[0] + r.y[1]).collect();
    let worst = [rel(c[0], C28), rel(c[1], C90), rel(c[2], C365), rel(sol.endpoints.auc28, AUC28)]
        .into_iter()
        .fold(0.0, f64::max);
    println!("default tolerance: largest relative error {worst:.2e}");
    // measured 1.6e-6 (the README values' own rounding included); bound 1e-5
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn bad_parameters_are_typed_errors() {
    let mut v: Vec<f64> = PARAMS.iter().map(|p| p.value).collect();
    assert!(Stein2019::new(&v[..5]).is_err());
    v[4] = 1.5; // fb > 1
    assert!(Stein2019::new(&v).is_err());
    v[4] = 0.0079;
    v[1] = f64::NAN;
    assert!(Stein2019::new(&v).is_err());
    v[1] = 9.3;
    v[0] = 1.0; // foldx 1: no expansion, R0 = Cmax; valid
    assert!(Stein2019::new(&v).is_ok());
}

/// 10,000 patients of the built-in population (Table 1 with its IIV): the medians of Cmax
/// and Tmax within 3% of the typical values, and the 5th-95th percentile range of Cmax
/// within 10% of `24,000 exp(±1.645 sqrt(0.65))` (the log-normal's own percentiles).
#[test]
fn population_of_table_1() {
    let pop = ZooPopulation::builtin(Kind::Stein2019);
    let t = Trial::new(pop, 10_000, 1).horizon(365.0).unwrap();
    let summary = t.run(&mut |_| {}, None);
    let j = summary.to_json();
    let q = |k: &str, p: &str| j[format!("{k}_quantiles")][p].as_f64().unwrap();
    let (cmax_med, tmax_med) = (j["cmax_copies_median"].as_f64().unwrap(), j["tmax_median"].as_f64().unwrap());
    let (p05, p95) = (q("cmax_copies", "p05"), q("cmax_copies", "p95"));
    let sd = 1.645 * OMEGA2[2].sqrt();
    let (w05, w95) = (24000.0 * (-sd).exp(), 24000.0 * sd.exp());
    println!("median cmax {cmax_med} (24000), tmax {tmax_med} (9.3); p05 {p05} ({w05:.0}), p95 {p95} ({w95:.0})");
    assert_eq!(j["n_failed"].as_u64(), Some(0));
    assert!(rel(cmax_med, 24000.0) < 0.03 && rel(tmax_med, 9.3) < 0.03);
    assert!(rel(p05, w05) < 0.10 && rel(p95, w95) < 0.10);
}
