//! Model v2 (`docs/MODEL-v2.md`): each mechanism on single patients with a known answer,
//! tight-vs-default tolerance agreement on 200 patients of the v2 population, and the
//! reference model left untouched (its own tests are unchanged).

use cartkin::model::v2::{Costim, CrsScale, Lymphodepletion, ParamsV2, RowV2, ScenarioV2};
use cartkin::population::v2::{simulate_v2, PopulationV2};
use cartkin::regimen::{Regimen, SteroidPolicy, TociPolicy};
use cartkin::trial::PatientSource;
use cartkin::{Definitions, Endpoints, Patient, Phenotype, Product, Solution, SolverConfig};

/// One v2 patient: CD19+CD22+ blasts `l` and a CD19-dim subclone `dim` (cells), B cells
/// `b0`, one infusion of `dose` cells at day 0 of a 4-1BB CD19 product, standard
/// lymphodepletion, reactive tocilizumab and steroids, the Penn scale.
fn scenario(p: ParamsV2, l: f64, dim: f64, b0: f64, dose: f64) -> ScenarioV2 {
    let patient = Patient::from_counts([l, 0.0, 0.0, 0.0], b0).unwrap().with_cytokines(p.g_0, p.i_0).unwrap();
    ScenarioV2 {
        params: p,
        patient,
        dim_blasts: dim,
        product: Product::cd19(),
        costim: Costim::FourOneBb,
        regimen: Regimen::single_dose(dose).unwrap(),
        lymphodepletion: Lymphodepletion::Standard,
        scale: CrsScale::Penn,
        definitions: Definitions { crs_thresholds: CrsScale::Penn.thresholds(), ..Definitions::default() },
    }
}

fn run(sc: &ScenarioV2, horizon: f64, grid: &[f64]) -> Solution<RowV2> {
    simulate_v2(sc, &SolverConfig::default(), horizon, grid, 0).unwrap_or_else(|e| panic!("{e}"))
}

fn ends(sc: &ScenarioV2, horizon: f64) -> Endpoints {
    run(sc, horizon, &[]).endpoints
}

#[test]
fn a_fitness_of_zero_means_no_expansion() {
    let dose = 1e8;
    let mut p = ParamsV2::nominal();
    let fit = ends(&scenario(p.clone(), 2.5e11, 0.0, 1e8, dose), 365.0);
    assert!(fit.cmax > 100.0 * dose, "a fit product expands: cmax {}", fit.cmax);
    p.phi_t = 0.0;
    let e = ends(&scenario(p, 2.5e11, 0.0, 1e8, dose), 365.0);
    // no proliferation, no boost: C can only fall from the infused cells
    assert_eq!(e.tmax, 0.0);
    assert!(e.cmax <= dose * (1.0 + 1e-12), "cmax {} > dose", e.cmax);
    assert!(!e.cr_day28, "no killing without fitness");
}

/// No antigen (no blasts, no B cells, no B-cell production) and no lymphodepletion: the
/// cells only transfer and die, with the closed form
/// `E = E0 e^{-a t}` (`a = delta_E + k_EM + k_EP`), `M = M0 e^{-delta_M t}` (`k_EM = 0`),
/// `P = k_EP E0 (e^{-delta_P t} - e^{-a t}) / (a - delta_P)`, `X = 0`; late on, C decays at
/// exactly `delta_P`. Tolerance 1e-6 relative plus 0.05 cells (rtol 1e-10, whose absolute
/// tolerance is 0.01 cells).
#[test]
fn without_antigen_the_cells_decay_to_pure_persistence_at_the_slow_rate() {
    let mut p = ParamsV2::nominal();
    p.s_b = 0.0;
    let dose = 2e8;
    let mut sc = scenario(p.clone(), 0.0, 0.0, 0.0, dose);
    sc.lymphodepletion = Lymphodepletion::None;
    sc.regimen = Regimen::single_dose(dose).unwrap().with_lymphodepletion(false);
    let times = [0.0, 10.0, 50.0, 100.0, 200.0, 400.0, 700.0];
    let cfg = SolverConfig::with_rtol(1e-10).unwrap();
    let sol = simulate_v2(&sc, &cfg, 700.0, &times, 0).unwrap();
    let (e0, m0) = ((1.0 - p.f_mem) * dose, p.f_mem * dose);
    let a = p.delta_e + p.k_em + p.k_ep;
    for r in &sol.rows {
        let t = r.t;
        let e = e0 * (-a * t).exp();
        let m = m0 * (-p.delta_m * t).exp();
        let pp = p.k_ep * e0 * ((-p.delta_p * t).exp() - (-a * t).exp()) / (a - p.delta_p);
        for (name, got, want) in [("E", r.e, e), ("M", r.m, m), ("P", r.p, pp)] {
            // 1e-6 relative, plus 5 x the absolute tolerance (rtol 1e-10 x 1e8 cells)
            let tol = 1e-6 * want.abs() + 0.05;
            assert!((got - want).abs() <= tol, "{name}({t}) = {got}, closed form {want}");
        }
        assert_eq!(r.x, 0.0);
    }
    let c = |k: usize| sol.rows[k].c();
    let slope = (c(6) / c(5)).ln() / 300.0;
    assert!((slope + p.delta_p).abs() < 1e-6 * p.delta_p.max(1e-3), "late slope {slope}, -delta_P {}", -p.delta_p);
}

/// A patient whose CAR-T cells are lost at day 60 while a CD19-dim subclone is still there
/// relapses CD19-positive, and only after the B cells have recovered; the same patient
/// without the loss stays in remission with B-cell aplasia.
#[test]
fn a_patient_whose_car_t_cells_are_lost_relapses_cd19_positive_after_b_cell_recovery() {
    let mut p = ParamsV2::nominal();
    p.a_dim = 0.02;
    let base = scenario(p.clone(), 2.5e11, 1e4, 1e8, 1e8);
    let kept = ends(&base, 1095.0);
    assert!(kept.cr_day28 && kept.relapse_day.is_none(), "without loss: {:?}", kept.relapse_day);
    assert_eq!(kept.b_aplasia_12m, Some(true));
    p.t_loss = 60.0;
    let lost = ends(&scenario(p, 2.5e11, 1e4, 1e8, 1e8), 1095.0);
    assert!(lost.cr_day28);
    let relapse = lost.relapse_day.expect("a relapse after the loss");
    assert_eq!(lost.relapse_phenotype, Some(Phenotype::DOUBLE_POS), "CD19-positive");
    assert_eq!(lost.cd19_negative_relapse, Some(false));
    let recovery = lost.b_recovery_day.expect("B cells recover once the CAR-T cells are gone");
    assert!(recovery > 60.0 && recovery < relapse, "B recovery {recovery}, relapse {relapse}");
}

/// The CRS grade is read from the severity state, whose peak is not clamped at the
/// tocilizumab trigger: tocilizumab blocks the signal through the receptor blockade R,
/// which comes on over hours, so a patient treated at `theta_T` peaks above it, lower than
/// without tocilizumab.
#[test]
fn a_grade_is_not_clamped_at_a_trigger_threshold() {
    let p = ParamsV2::nominal();
    let mut sc = scenario(p.clone(), 1.5e12, 0.0, 1e8, 2e8);
    sc.regimen = sc.regimen.clone().with_steroids(SteroidPolicy::None);
    let treated = ends(&sc, 365.0);
    assert!(!treated.toci_days.is_empty(), "this patient reaches theta_T");
    assert!(treated.peak_signal > p.theta_t + 0.05, "peak {} vs theta_T {}", treated.peak_signal, p.theta_t);
    let untreated_sc = ScenarioV2 { regimen: sc.regimen.clone().with_tocilizumab(TociPolicy::None).unwrap(), ..sc };
    let untreated = ends(&untreated_sc, 365.0);
    assert!(untreated.peak_signal > treated.peak_signal, "tocilizumab lowers the peak");
    // grades follow the peak on the scale's thresholds
    let grade = |s: f64| CrsScale::Penn.thresholds().iter().filter(|&&th| s >= th).count() as u8;
    assert_eq!(treated.crs_grade, grade(treated.peak_signal));
    // over a population: treated patients' peaks are spread above the trigger, not piled on it
    let pop = PopulationV2::eliana();
    let (mut treated_n, mut at_trigger) = (0, 0);
    for id in 0..600 {
        let pt = pop.patient(7, id).unwrap();
        let e = run(&pt.scenario, 365.0, &[]).endpoints;
        if !e.toci_days.is_empty() {
            treated_n += 1;
            if (e.peak_signal - p.theta_t).abs() < 0.01 {
                at_trigger += 1;
            }
        }
    }
    assert!(treated_n > 100, "{treated_n} treated");
    assert!(at_trigger * 50 < treated_n, "{at_trigger} of {treated_n} treated patients peak at theta_T");
}

#[test]
fn the_grading_scales_grade_the_same_severity_no_higher_than_penn() {
    let p = ParamsV2::nominal();
    let mut last = None;
    for scale in [CrsScale::Penn, CrsScale::Lee, CrsScale::Astct] {
        let mut sc = scenario(p.clone(), 1e12, 0.0, 1e8, 1e8);
        sc.scale = scale;
        sc.definitions.crs_thresholds = scale.thresholds();
        let e = ends(&sc, 365.0);
        assert_eq!(e.crs_scale, Some(scale.name()));
        if let Some((g, s)) = last {
            assert!(e.crs_grade <= g, "{} grades higher than the previous scale", scale.name());
            assert_eq!(e.peak_signal, s, "the severity does not depend on the scale");
        }
        last = Some((e.crs_grade, e.peak_signal));
    }
    // a scale's thresholds must match the definitions
    let mut sc = scenario(p, 1e12, 0.0, 1e8, 1e8);
    sc.scale = CrsScale::Astct;
    assert!(simulate_v2(&sc, &SolverConfig::default(), 365.0, &[], 0).is_err());
}

#[test]
fn costimulation_and_lymphodepletion_act_as_documented() {
    let p = ParamsV2::nominal();
    let sc = |c: Costim, ld: Lymphodepletion| {
        let mut s = scenario(p.clone(), 2.5e11, 0.0, 1e8, 1e8);
        s.costim = c;
        s.lymphodepletion = ld;
        s.regimen = s.regimen.clone().with_lymphodepletion(ld != Lymphodepletion::None);
        ends(&s, 365.0)
    };
    let bb = sc(Costim::FourOneBb, Lymphodepletion::Standard);
    let cd28 = sc(Costim::Cd28, Lymphodepletion::Standard);
    assert!(cd28.cmax > bb.cmax, "CD28 peaks higher: {} vs {}", cd28.cmax, bb.cmax);
    assert!(cd28.tmax <= bb.tmax, "CD28 expands faster");
    let rel = |e: &Endpoints| e.car_t_rel_12m.unwrap();
    assert!(rel(&cd28) < rel(&bb) / 3.0, "4-1BB persists: {} vs {}", rel(&bb), rel(&cd28));
    let none = sc(Costim::FourOneBb, Lymphodepletion::None);
    let intense = sc(Costim::FourOneBb, Lymphodepletion::Intensified);
    assert!(none.cmax < bb.cmax && bb.cmax < intense.cmax, "{} < {} < {}", none.cmax, bb.cmax, intense.cmax);
}

/// Patients 0..200 of the ELIANA-like v2 population at the default tolerance against
/// `rtol = 1e-10`: the same responses, CRS and ICANS grades and treatments; Cmax within
/// 2e-4 relative; event days (relapse, B recovery, CRS onset) within 0.05 day. A patient
/// whose peak severity lies within 1e-3 of a grade threshold may differ by one grade (none
/// did when the bounds were set; the count is asserted at most 2).
#[test]
fn tight_and_default_tolerances_agree_on_200_v2_patients() {
    let pop = PopulationV2::eliana();
    let tight = SolverConfig::with_rtol(1e-10).unwrap();
    let mut near = 0;
    for id in 0..200 {
        let pt = pop.patient(2018, id).unwrap();
        let a = run(&pt.scenario, 365.0, &[]).endpoints;
        let b = simulate_v2(&pt.scenario, &tight, 365.0, &[], id).unwrap().endpoints;
        assert_eq!(a.cr_day28, b.cr_day28, "patient {id}");
        assert_eq!(a.mrd_neg_day28, b.mrd_neg_day28, "patient {id}");
        assert_eq!(a.toci_days.len(), b.toci_days.len(), "patient {id}");
        assert_eq!(a.steroid_day.is_some(), b.steroid_day.is_some(), "patient {id}");
        assert!((a.cmax - b.cmax).abs() <= 2e-4 * b.cmax, "patient {id}: cmax {} vs {}", a.cmax, b.cmax);
        for (what, x, y) in [
            ("relapse", a.relapse_day, b.relapse_day),
            ("B recovery", a.b_recovery_day, b.b_recovery_day),
            ("CRS onset", a.crs_onset_day, b.crs_onset_day),
        ] {
            match (x, y) {
                (Some(x), Some(y)) => assert!((x - y).abs() < 0.05, "patient {id}: {what} {x} vs {y}"),
                (None, None) => {}
                _ => panic!("patient {id}: {what} {x:?} vs {y:?}"),
            }
        }
        if a.crs_grade != b.crs_grade || a.icans_grade != b.icans_grade {
            let th = CrsScale::Penn.thresholds();
            let close = th.iter().any(|t| (b.peak_signal - t).abs() < 1e-3)
                || cartkin::model::v2::ICANS_THRESHOLDS
                    .iter()
                    .any(|t| b.peak_icans.is_some_and(|p| (p - t).abs() < 1e-3));
            assert!(close, "patient {id}: grades differ away from a threshold");
            near += 1;
        }
    }
    assert!(near <= 2, "{near} patients changed grade");
}

/// The steroid trigger of docs/MODEL-v2.md section 4 (event 6): second line after a
/// tocilizumab dose (reactive or prophylactic), first line when the tocilizumab policy is
/// not reactive. Checked against the severity trajectory on a fine grid: steroids start
/// exactly when `S` first reaches `theta_S` among the times they are armed.
/// A prophylactic dose late enough that this patient's severity still reaches `theta_S`
/// after it (an earlier one keeps `S` below `theta_S`, and then steroids never start).
const PROPHYLAXIS_DAY: f64 = 5.5;

#[test]
fn steroids_follow_the_documented_trigger() {
    let p = ParamsV2::nominal();
    let grid: Vec<f64> = (0..=28_000).map(|k| k as f64 * 0.001).collect();
    let first_reach = |rows: &[RowV2], from: f64| rows.iter().find(|r| r.t >= from && r.s >= p.theta_s).map(|r| r.t);
    let base = scenario(p.clone(), 1.5e12, 0.0, 1e8, 2e8);
    for (name, toci) in [
        ("none", TociPolicy::None),
        ("prophylactic", TociPolicy::Prophylactic { times: vec![PROPHYLAXIS_DAY] }),
        ("reactive", TociPolicy::Reactive),
    ] {
        let sc = ScenarioV2 { regimen: base.regimen.clone().with_tocilizumab(toci).unwrap(), ..base.clone() };
        let sol = run(&sc, 28.0, &grid);
        let e = &sol.endpoints;
        // reactive: armed from the first reactive dose; otherwise armed from day 0
        let armed_from = match name {
            "reactive" => e.toci_days.first().copied(),
            "prophylactic" => Some(PROPHYLAXIS_DAY),
            _ => Some(0.0),
        };
        let expected = armed_from.and_then(|t0| first_reach(&sol.rows, t0));
        let (Some(want), Some(got)) = (expected, e.steroid_day) else {
            panic!("{name}: S reaches theta_S at {expected:?}, steroids at {:?}", e.steroid_day);
        };
        assert!((got - want).abs() <= 1.5e-3, "{name}: steroids at {got}, S reaches theta_S at {want}");
    }
    // no steroid policy: never
    let sc = ScenarioV2 { regimen: base.regimen.clone().with_steroids(SteroidPolicy::None), ..base.clone() };
    assert_eq!(ends(&sc, 28.0).steroid_day, None);
}

/// A v2 patient's draws depend only on (seed, id): not on the horizon, nor on how many
/// patients the trial has (the rule; the calibration test reads 12-month values
/// from a 1,095-day run because of it).
#[test]
fn a_v2_patient_depends_only_on_seed_and_id_not_on_the_horizon() {
    use cartkin::trial::Trial;
    let short = Trial::new(PopulationV2::eliana(), 40, 11);
    let long = Trial::new(PopulationV2::eliana(), 400, 11).horizon(1095.0).unwrap();
    for id in 0..40 {
        let (a, b) = (short.simulate_patient(id), long.simulate_patient(id));
        assert_eq!(a.parameters, b.parameters, "patient {id}");
        assert_eq!(a.covariates, b.covariates, "patient {id}");
        let (ea, eb) = (a.result.unwrap(), b.result.unwrap());
        // the first 28 days are the same solve
        assert_eq!((ea.cr_day28, ea.crs_grade, ea.icans_grade), (eb.cr_day28, eb.crs_grade, eb.icans_grade));
    }
    let other = Trial::new(PopulationV2::eliana(), 40, 12);
    assert_ne!(short.simulate_patient(0).parameters, other.simulate_patient(0).parameters);
}
