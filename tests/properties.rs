//! Property tests (proptest): random valid inputs within 100x of nominal never panic and give
//! finite, non-negative, consistent results; random invalid inputs give an `Err`, never a
//! panic; arbitrary bytes into the scenario loader give an error or a valid scenario.
//!
//! Cases per property: `PROPTEST_CASES` (default 64 here, so that `cargo test` stays quick;
//! the release sweep `PROPTEST_CASES=100000 cargo test --release --test properties` is the
//! one reported in the closing notes).

use cartkin::{
    simulate, Error, Infusion, OutputSpec, Params, Patient, Phenotype, PolicyRules, Product, Regimen, Scenario,
    ScenarioError, SolverConfig, SteroidPolicy, TociPolicy,
};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

/// Parameters scaled within 100x of REF-1: each rate, capacity or production.
const SCALED: &[&str] = &[
    "rho_E", "K_A", "delta_E", "k_EM", "rho_M", "delta_M", "k_X", "delta_X", "K_C", "rho_LD", "tau_LD", "k_kill",
    "K_k", "r_L", "K_L", "H", "s_B", "delta_B", "p_G", "k_G", "p_I", "p_IG", "k_I",
];

/// Policy durations scaled within 100x of REF-1 (they live on the regimen's rules).
fn scaled_rules(s_t: f64, s_s: f64, n_toci: u32) -> PolicyRules {
    let d = PolicyRules::default();
    PolicyRules {
        toci_window_days: d.toci_window_days * 10f64.powf(s_t),
        steroid_course_days: d.steroid_course_days * 10f64.powf(s_s),
        toci_max_reactive_doses: n_toci,
        ..d
    }
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        (prop::collection::vec(-2.0f64..2.0, SCALED.len()), -2.0f64..2.0, -2.0f64..2.0),
        0.0f64..0.99,
        prop::array::uniform4(0.0f64..1.0),
        (6.0f64..10.0, 0u8..4),
        (0u8..3, 0u8..2, any::<bool>(), 1u8..4, 0u32..3),
        (0.0f64..1.0, 0.0f64..1.0),
    )
        .prop_map(
            |((scale, s_t, s_s), f0, w, (log_dose, split), (toci, ster, ld, targets, n_toci), (f_mem, eps))| {
                let mut p = Params::nominal();
                for (name, s) in SCALED.iter().zip(&scale) {
                    let v = p.get(name).unwrap() * 10f64.powf(*s);
                    p.set(name, v).unwrap();
                }
                p.f_mem = f_mem;
                p.eps_t = eps;
                let total: f64 = w.iter().sum::<f64>().max(1e-12);
                let fr: Vec<(Phenotype, f64)> =
                    Phenotype::ALL.iter().zip(&w).map(|(&ph, &x)| (ph, x / total)).collect();
                let patient = Patient::from_marrow(f0, &fr, p.h, 1e8)
                    .unwrap_or_else(|_| Patient::from_counts([1e9, 0.0, 0.0, 0.0], 1e8).unwrap());
                let dose = 10f64.powf(log_dose);
                let infusions: Vec<Infusion> = match split {
                    0 => vec![Infusion { t: 0.0, cells: dose }],
                    1 => vec![
                        Infusion { t: 0.0, cells: 0.1 * dose },
                        Infusion { t: 1.0, cells: 0.3 * dose },
                        Infusion { t: 2.0, cells: 0.6 * dose },
                    ],
                    2 => vec![Infusion { t: 0.0, cells: dose }, Infusion { t: 30.0, cells: dose }],
                    _ => vec![],
                };
                let toci = match toci {
                    0 => TociPolicy::Reactive,
                    1 => TociPolicy::Prophylactic { times: vec![0.0, 10.0] },
                    _ => TociPolicy::None,
                };
                let ster = if ster == 0 { SteroidPolicy::Reactive } else { SteroidPolicy::None };
                let regimen = Regimen::new(infusions, ld, toci, ster)
                    .unwrap()
                    .with_rules(scaled_rules(s_t, s_s, n_toci))
                    .unwrap();
                let product = match targets {
                    1 => Product::from_names(&["CD19"]),
                    2 => Product::from_names(&["CD22"]),
                    _ => Product::from_names(&["CD19", "CD22"]),
                }
                .unwrap();
                Scenario::new("prop", p, patient, product, regimen, 365.0).unwrap()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_inputs_give_finite_nonnegative_consistent_results(sc in scenario_strategy()) {
        let cfg = SolverConfig::default();
        let sol = match simulate(&sc, &cfg, &OutputSpec::reference()) {
            Ok(s) => s,
            // a failed solve is a typed error, never a panic; with these ranges none is expected
            Err(Error::Solve(e)) => { prop_assert!(false, "solve failed: {e}"); unreachable!() }
            Err(e) => { prop_assert!(false, "unexpected error {e}"); unreachable!() }
        };
        let p = sc.params();
        // states finite and non-negative to within the solver's absolute tolerance (atol =
        // 100 cells, 5e-6 pg/mL at the default tolerance; bound 5 atol). A stiff corner of the
        // box (delta_X = 13.6/day, 27x REF-1, with X ~ 0) showed X = -132 cells: the explicit
        // core method at its stability limit oscillates at the atol level around a zero
        // quasi-steady state. Blasts are integrated as logarithms and are positive exactly.
        let mut extinct = [false; 4];
        for r in &sol.rows {
            for (name, v, atol) in [("E", r.e, 100.0), ("M", r.m, 100.0), ("X", r.x, 100.0), ("B", r.b, 100.0), ("G", r.g, 5e-6), ("I", r.i, 5e-6)] {
                prop_assert!(v.is_finite() && v >= -5.0 * atol, "{name}({}) = {v}", r.t);
            }
            #[allow(clippy::needless_range_loop)] // j indexes the row's blasts and the extinct flags
            for j in 0..4 {
                prop_assert!(r.l[j].is_finite() && r.l[j] >= 0.0);
                // extinct phenotypes stay extinct
                if extinct[j] { prop_assert_eq!(r.l[j], 0.0); }
            }
            for ev in sol.events.iter().filter(|e| e.t <= r.t) {
                if let cartkin::EventKind::Extinction { phenotype } = ev.kind { extinct[phenotype.index()] = true; }
            }
        }
        // the day-0 infusion adds exactly its cells
        let first = &sol.rows[0];
        let d0: f64 = sc.regimen().infusions().iter().filter(|i| i.t == 0.0).map(|i| i.cells).sum();
        prop_assert_eq!(first.e, (1.0 - p.f_mem) * d0);
        prop_assert_eq!(first.m, p.f_mem * d0);
        // endpoints consistent
        let e = &sol.endpoints;
        if e.mrd_neg_day28 { prop_assert!(e.cr_day28, "MRD-negative implies CR"); }
        if let Some(d) = e.relapse_day {
            prop_assert!(e.cr_day28 && d > 28.0, "relapse only after CR, after day 28");
            prop_assert!(e.relapse_phenotype.is_some());
        }
        let reached = sc.definitions().crs_thresholds.iter().filter(|&&th| e.peak_signal >= th * (1.0 - 1e-12)).count() as u8;
        prop_assert_eq!(e.crs_grade, reached, "grade = thresholds at or below the peak signal {}", e.peak_signal);
        prop_assert!(e.cmax >= d0 * (1.0 - 1e-12) || d0 == 0.0);
        prop_assert!(e.auc28.is_finite() && e.auc28 >= 0.0);
        if e.cured { prop_assert!(e.cure_day.is_some()); }
        let mut last = 0.0;
        for ev in &sol.events { prop_assert!(ev.t >= last); last = ev.t; }
    }

    #[test]
    fn invalid_parameters_are_errors_never_panics(
        k in 0usize..Params::NAMES.len(),
        bad in prop_oneof![Just(f64::NAN), Just(f64::NEG_INFINITY), Just(-1.0), Just(-1e-300), Just(0.0), Just(2.0), Just(1.5)],
    ) {
        let name = Params::NAMES[k];
        let mut p = Params::nominal();
        match p.set(name, bad) {
            Err(e) => prop_assert!(e.field().ends_with(name)),
            Ok(()) => {
                // accepted by its own domain (e.g. 0 for a rate): the whole must still validate
                // or be rejected with a typed error
                let r = Scenario::nominal().with_params(p);
                if let Err(e) = r { prop_assert!(!e.to_string().is_empty()); }
            }
        }
    }

    #[test]
    fn invalid_patients_and_regimens_are_errors(
        f0 in prop_oneof![Just(1.0), Just(-0.01), Just(f64::NAN), Just(7.0)],
        cells in prop_oneof![Just(0.0), Just(-1e8), Just(f64::NAN), Just(f64::INFINITY)],
        t in prop_oneof![Just(-1.0), Just(f64::NAN), Just(400.0)],
    ) {
        prop_assert!(Patient::from_marrow(f0, &[(Phenotype::DOUBLE_POS, 1.0)], 5e11, 1e8).is_err());
        prop_assert!(Regimen::single_dose(cells).is_err());
        let r = Regimen::new(vec![Infusion { t: 0.0, cells: 1e8 }, Infusion { t, cells: 1e7 }], true, TociPolicy::Reactive, SteroidPolicy::Reactive);
        let ok = r.and_then(|r| Scenario::nominal().with_regimen(r));
        prop_assert!(ok.is_err());
    }

    /// Fuzzing of the scenario loader (proptest, not cargo-fuzz): arbitrary bytes.
    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = Scenario::from_json_str(&s);
    }

    /// Fuzzing of the loader with structured damage to a real scenario: truncation, a byte
    /// replaced, a number replaced. Each gives an error or a valid scenario, never a panic,
    /// and every error names where the problem is.
    #[test]
    fn damaged_reference_scenarios_never_panic(cut in 0usize..4000, pos in 0usize..4000, byte in any::<u8>(), num in any::<f64>()) {
        let s1 = include_str!("data/S1_nominal.json");
        let truncated = &s1.as_bytes()[..cut.min(s1.len())];
        check_loader(&String::from_utf8_lossy(truncated))?;
        let mut b = s1.as_bytes().to_vec();
        let i = pos % b.len();
        b[i] = byte;
        check_loader(&String::from_utf8_lossy(&b))?;
        if num.is_finite() {
            let replaced = s1.replacen("\"k_I\": 8.0", &format!("\"k_I\": {num:e}"), 1);
            let r = Scenario::from_json_str(&replaced);
            prop_assert_eq!(r.is_ok(), num > 0.0, "k_I = {} accepted: {:?}", num, r.as_ref().err().map(|e| e.to_string()));
        }
    }
}

fn check_loader(s: &str) -> Result<(), TestCaseError> {
    match Scenario::from_json_str(s) {
        Ok(sc) => {
            prop_assert!(sc.horizon() >= 28.0);
        }
        Err(ScenarioError::Json { line, .. }) => prop_assert!(line >= 1 || s.trim().is_empty()),
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

/// The invariant check (finding 5 of the reliability issue: at `rtol = 1e-3` valid scenarios
/// exceeded the carrying capacity plus the dose). 400 scenarios of the strategy above from
/// proptest's deterministic generator: at `rtol = 1e-3` every result either keeps CAR-T
/// within `max(K_C, C(0))` plus the doses and the blasts within `max(K_L, L(0))` (on every
/// daily row, with the 10% slack of that tolerance) or is an `invariant` failure; at least
/// one is flagged (the finding reproduced); at the default tolerance the first 100 are all
/// unflagged (the proptest above covers more).
#[test]
fn loose_tolerance_invariant_violations_are_failures_never_results() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = scenario_strategy();
    let loose = SolverConfig::with_rtol(1e-3).unwrap();
    let slack = 1.0 + (cartkin::solve::INVARIANT_SLACK * 1e-3).min(cartkin::solve::INVARIANT_SLACK_MAX);
    let (mut flagged, mut kept) = (0, 0);
    for i in 0..400 {
        let sc = strategy.new_tree(&mut runner).unwrap().current();
        let p = sc.params();
        let c0: f64 = sc.patient().car_t().iter().sum();
        let l0 = sc.patient().l_tot();
        let dose: f64 = sc.regimen().infusions().iter().map(|i| i.cells).sum();
        if i < 100 {
            let r = simulate(&sc, &SolverConfig::default(), &OutputSpec::reference());
            assert!(r.is_ok(), "scenario {i} at the default tolerance: {:?}", r.err());
        }
        match simulate(&sc, &loose, &OutputSpec::reference()) {
            Ok(sol) => {
                kept += 1;
                let (cb, lb) = ((p.k_c.max(c0) + dose) * slack, p.k_l.max(l0) * slack);
                assert!(sol.endpoints.cmax <= cb, "scenario {i}: cmax {} > {cb}", sol.endpoints.cmax);
                for r in &sol.rows {
                    assert!(r.c() <= cb, "scenario {i}: C({}) = {} > {cb}", r.t, r.c());
                    let l: f64 = r.l.iter().sum();
                    assert!(l <= lb * (1.0 + 1e-9), "scenario {i}: L({}) = {l} > {lb}", r.t);
                }
            }
            Err(Error::Solve(e)) if e.reason.label() == "invariant" => flagged += 1,
            Err(e) => panic!("scenario {i}: {e}"),
        }
    }
    eprintln!("rtol 1e-3: {flagged} of 400 flagged, {kept} within the bounds");
    assert!(flagged >= 1, "no violation flagged at rtol 1e-3");
}
