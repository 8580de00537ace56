//! Sub-models with closed-form solutions (MODEL.md section 4, item 1): with no antigen the
//! CAR-T cells only decay; with no infusion the blasts grow logistically and B cells and
//! cytokines relax linearly; an infusion adds exactly its cells.

use cartkin::{
    simulate, Grid, Infusion, OutputSpec, Params, Patient, Phenotype, Product, Regimen, Scenario, SolverConfig,
    SteroidPolicy, TociPolicy,
};

fn tight() -> SolverConfig {
    SolverConfig::with_rtol(1e-10).unwrap()
}

/// Relative error with an absolute floor.
fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= rel * want.abs() + abs
}

/// A patient whose blasts carry no targeted antigen, no B cells and no B-cell production:
/// the stimulation `s` is 0 and `h(t) = 0`, so E and M follow the linear decay
/// `E' = -(delta_E + k_EM) E`, `M' = k_EM E - delta_M M`.
fn no_antigen(infusions: Vec<Infusion>) -> (Scenario, Params) {
    let mut p = Params::nominal();
    p.s_b = 0.0;
    p.rho_ld = 0.0;
    let mut l = [0.0; 4];
    l[Phenotype::DOUBLE_NEG.index()] = 1e9;
    let patient = Patient::from_counts(l, 0.0).unwrap();
    let regimen = Regimen::new(infusions, false, TociPolicy::None, SteroidPolicy::None).unwrap();
    (Scenario::new("no antigen", p.clone(), patient, Product::cd19(), regimen, 60.0).unwrap(), p)
}

#[test]
fn without_antigen_car_t_cells_decay_as_the_linear_solution() {
    let dose = 1e8;
    let (sc, p) = no_antigen(vec![Infusion { t: 0.0, cells: dose }]);
    let sol = simulate(&sc, &tight(), &OutputSpec::default()).unwrap();
    let a = p.delta_e + p.k_em;
    let (e0, m0) = ((1.0 - p.f_mem) * dose, p.f_mem * dose);
    for r in &sol.rows {
        let t = r.t;
        let e = e0 * (-a * t).exp();
        let m = m0 * (-p.delta_m * t).exp() + p.k_em * e0 * ((-p.delta_m * t).exp() - (-a * t).exp()) / (a - p.delta_m);
        // rtol 1e-10 solve, atol 1e-10 x 1e8 = 0.01 cell: 1e-8 relative + 0.1 cell
        assert!(close(r.e, e, 1e-8, 0.1), "E({t}) = {} vs {e}", r.e);
        assert!(close(r.m, m, 1e-8, 0.1), "M({t}) = {} vs {m}", r.m);
        assert_eq!(r.x, 0.0, "no stimulation, no exhaustion");
    }
    assert_eq!(sol.endpoints.crs_grade, 0);
    assert_eq!(sol.endpoints.tmax, 0.0, "C only decays: its maximum is the day-0 value after the infusion");
    assert_eq!(sol.endpoints.cmax, dose);
}

#[test]
fn a_second_infusion_adds_exactly_its_cells() {
    let (d0, d1, t1) = (1e8, 3e7, 5.5);
    let (sc, p) = no_antigen(vec![Infusion { t: 0.0, cells: d0 }, Infusion { t: t1, cells: d1 }]);
    let out = OutputSpec { grid: Grid::Times(vec![0.0, t1, 10.0, 30.0]), event_rows: false };
    let sol = simulate(&sc, &tight(), &out).unwrap();
    let a = p.delta_e + p.k_em;
    let f = p.f_mem;
    // day 0: the infusion itself, to the last bit
    assert_eq!(sol.rows[0].e, (1.0 - f) * d0);
    assert_eq!(sol.rows[0].m, f * d0);
    for r in &sol.rows[1..] {
        let e = (1.0 - f) * d0 * (-a * r.t).exp() + (1.0 - f) * d1 * (-a * (r.t - t1)).exp();
        // atol 0.01 cell at rtol 1e-10: 1e-8 relative + 0.1 cell
        assert!(close(r.e, e, 1e-8, 0.1), "E({}) = {} vs {e}", r.t, r.e);
    }
    let n_inf = sol.events.iter().filter(|e| e.kind.name() == "infusion").count();
    assert_eq!(n_inf, 2);
    assert_eq!(sol.events[1].t, t1);
}

#[test]
fn without_infusion_blasts_grow_logistically_and_b_cells_and_il6_relax_linearly() {
    let p = Params::nominal();
    let mut l = [0.0; 4];
    l[Phenotype::DOUBLE_POS.index()] = 2e11;
    l[Phenotype::CD19_NEG.index()] = 3e6;
    let b0 = 1e8;
    let patient = Patient::from_counts(l, b0).unwrap();
    let regimen = Regimen::new(vec![], true, TociPolicy::Reactive, SteroidPolicy::Reactive).unwrap();
    let sc = Scenario::new("no infusion", p.clone(), patient, Product::cd19(), regimen, 365.0).unwrap();
    let sol = simulate(&sc, &tight(), &OutputSpec::default()).unwrap();
    let l0: f64 = l.iter().sum();
    let (r, k) = (p.r_l, p.k_l);
    for row in &sol.rows {
        let t = row.t;
        let g = (r * t).exp();
        let lt = k * l0 * g / (k + l0 * (g - 1.0));
        // every phenotype has the same per-capita rate: each scales with L_tot
        assert!(close(row.l_tot(), lt, 1e-8, 0.0), "L_tot({t}) = {} vs {lt}", row.l_tot());
        assert!(close(row.l[1], l[1] * lt / l0, 1e-8, 0.0), "L_CD19-({t})");
        let b = p.s_b / p.delta_b + (b0 - p.s_b / p.delta_b) * (-p.delta_b * t).exp();
        assert!(close(row.b, b, 1e-8, 1e-6), "B({t}) = {} vs {b}", row.b);
        assert_eq!(row.g, p.g_0, "no effectors, no IFN-gamma");
        // I' = p_IG G_0 - k_I (I - I_0), I(0) = I_0 (the cytokine cascade, integrated exactly)
        let i = p.i_0 + p.p_ig * p.g_0 / p.k_i * (1.0 - (-p.k_i * t).exp());
        assert!(close(row.i, i, 1e-9, 1e-9), "I({t}) = {} vs {i}", row.i);
        assert_eq!((row.e, row.m, row.x), (0.0, 0.0, 0.0));
    }
    let e = &sol.endpoints;
    assert!(!e.cr_day28 && !e.cured && e.toci_days.is_empty());
    assert_eq!(e.crs_grade, 0, "I_eff settles at I_0 + p_IG G_0 / k_I = 11.25 pg/mL, below theta_1 = 50");
}

#[test]
fn a_patient_with_no_blasts_is_valid_and_cured_at_day_0() {
    let patient = Patient::from_counts([0.0; 4], 1e8).unwrap();
    let sc = Scenario::nominal().with_patient(patient);
    let sol = simulate(&sc, &SolverConfig::default(), &OutputSpec::default()).unwrap();
    let e = &sol.endpoints;
    assert!(e.cured);
    assert_eq!(e.cure_day, Some(0.0));
    assert!(e.cr_day28 && e.mrd_neg_day28);
    assert_eq!(e.f_day28, 0.0);
    assert!(e.extinction_days.0.is_empty());
    assert!(e.relapse_day.is_none());
}

#[test]
fn both_methods_agree_on_the_nominal_patient() {
    use cartkin::Method;
    let sc = Scenario::nominal();
    let a =
        simulate(&sc, &SolverConfig::with_rtol(1e-9).unwrap().method(Method::Dopri5), &OutputSpec::default()).unwrap();
    let b = simulate(&sc, &SolverConfig::with_rtol(1e-9).unwrap().method(Method::Dopri5Exp), &OutputSpec::default())
        .unwrap();
    let (ea, eb) = (&a.endpoints, &b.endpoints);
    assert_eq!(a.events.len(), b.events.len());
    for (x, y) in a.events.iter().zip(&b.events) {
        assert_eq!(x.kind, y.kind);
        assert!((x.t - y.t).abs() < 1e-6, "{:?} at {} vs {}", x.kind, x.t, y.t);
    }
    for (n, x, y) in [
        ("cmax", ea.cmax, eb.cmax),
        ("auc28", ea.auc28, eb.auc28),
        ("peak_il6", ea.peak_il6, eb.peak_il6),
        ("peak_ifng", ea.peak_ifng, eb.peak_ifng),
    ] {
        assert!(close(x, y, 1e-6, 0.0), "{n}: {x} vs {y}");
    }
    // at the default tolerance plain Dormand-Prince is held to ~0.4-day steps by the 8/day
    // cytokine clearance; the exact cascade is not
    let d = SolverConfig::default();
    let a = simulate(&sc, &d.method(Method::Dopri5), &OutputSpec::default()).unwrap();
    let b = simulate(&sc, &d.method(Method::Dopri5Exp), &OutputSpec::default()).unwrap();
    assert!(b.stats.accepted * 3 < a.stats.accepted, "{:?} vs {:?}", b.stats, a.stats);
}
