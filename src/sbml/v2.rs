//! Model v2 (docs/MODEL-v2.md) of one patient as SBML.

use super::math::{and, exp, geq, gt, ite, leq, lt, max, n, prod, s, sum, Ex};
use super::reference::phenotype_id;
use super::{record_in_slots, Document, EventDef, SbmlError, Unit};
use crate::model::v2::{idx2, ModelV2, ParamsV2, ScenarioV2, DIM, NCLONES_V2};
use crate::model::Phenotype;
use crate::regimen::TociPolicy;

/// The SBML id of clone `j` of model v2: the four phenotypes, then `CD19dim`.
pub fn clone_id(j: usize) -> String {
    if j == DIM {
        "CD19dim".into()
    } else {
        phenotype_id(Phenotype::ALL[j])
    }
}

/// Most reactive tocilizumab doses the file records.
const MAX_REACTIVE: f64 = 16.0;

/// A patient of model v2 (its scenario: parameters, patient, product, costimulation,
/// regimen, lymphodepletion) as SBML: the 16 states as rate rules (ids `E`, `M`, `P`, `X`,
/// `lnL_<clone>`, `B`, `R`, `G`, `I`, `S`, `N`, `Q`), the CRS and ICANS targets as
/// assignment rules, and events for infusions, scheduled and reactive tocilizumab (windows),
/// steroids, extinctions, the loss of persistence and day 28; the instant t = 0 in the
/// initial values.
///
/// # Errors
/// [`SbmlError::Unsupported`] for more than 16 reactive tocilizumab doses.
pub fn v2(sc: &ScenarioV2) -> Result<Document, SbmlError> {
    let m = ModelV2::new(sc);
    let p: &ParamsV2 = m.params();
    let parts = m.export_parts();
    let reg = &sc.regimen;
    if parts.reactive_toci && p.n_toci > MAX_REACTIVE {
        return Err(SbmlError::Unsupported(format!(
            "n_toci = {}: the SBML export records at most {MAX_REACTIVE} reactive doses",
            p.n_toci
        )));
    }
    let mut d =
        Document { id: "cartkin_v2".into(), name: "cartkin model v2 (docs/MODEL-v2.md)".into(), ..Document::default() };
    d.notes = vec![
        format!(
            "Exported by cartkin {}: model v2 (docs/MODEL-v2.md) with one patient's parameters (costimulation and lymphodepletion factors applied), product and regimen.",
            env!("CARGO_PKG_VERSION")
        ),
        "Time in days; cells in cells; G, I in pg/mL; S, N in grade units; R in 0..1. Blasts as lnL_<clone> = ln(cells).".into(),
    ];
    d.units = vec![Unit::day()];
    for &name in ParamsV2::NAMES {
        let v = p.get(name).unwrap_or(f64::NAN);
        if !v.is_finite() {
            continue; // K_C or t_loss infinite: written as their structure (below)
        }
        d.constant(name, v, None);
    }
    // the effective factors of the lymphodepletion intensity
    d.constant("rho_LD_eff", parts.rho_ld, None);
    if parts.k_c.is_finite() {
        d.constant("K_C_eff", parts.k_c, None);
    }
    let ids: Vec<(usize, String)> = (0..NCLONES_V2).filter(|&j| parts.present[j]).map(|j| (j, clone_id(j))).collect();
    for (j, id) in &ids {
        d.constant(&format!("eff_{id}"), parts.e[*j], None);
    }
    d.constant("eff_B", parts.e_b, None);
    let ln_ext = if p.n_ext > 0.0 { Some(p.n_ext.ln()) } else { None };
    if let Some(l) = ln_ext {
        d.constant("ln_n_ext", l, None);
    }
    d.constant("day_assessment", sc.definitions.assessment_day, Some("day"));
    let window = reg.rules().toci_window_days;
    d.constant("toci_window", window, Some("day"));

    // ---- the instant t = 0 in the initial values
    let y0 = parts.y0;
    let d0: f64 = reg.infusions().iter().filter(|i| i.t == 0.0).map(|i| i.cells).sum();
    let prophylactic: Vec<f64> = match reg.tocilizumab() {
        TociPolicy::Prophylactic { times } => times.clone(),
        _ => Vec::new(),
    };
    let pro0 = prophylactic.contains(&0.0);
    let state = [
        ("E", y0[idx2::E] + (1.0 - p.f_mem) * d0),
        ("M", y0[idx2::M] + p.f_mem * d0),
        ("P", y0[idx2::P]),
        ("X", y0[idx2::X]),
        ("B", y0[idx2::B]),
        ("R", y0[idx2::R]),
        ("G", y0[idx2::G]),
        ("I", y0[idx2::I]),
        ("S", y0[idx2::S]),
        ("N", y0[idx2::N]),
        ("Q", 0.0),
    ];
    for (k, v) in state {
        d.variable(k, v, None);
    }
    for (j, id) in &ids {
        d.variable(&format!("lnL_{id}"), y0[idx2::LN_L + j], None);
        let alive = !(ln_ext.is_some() && y0[idx2::LN_L + j] <= ln_ext.unwrap_or(f64::NEG_INFINITY));
        d.variable(&format!("alive_{id}"), if alive { 1.0 } else { 0.0 }, None);
        d.variable(&format!("ext_day_{id}"), if alive { -1.0 } else { 0.0 }, Some("day"));
    }
    // switches: scheduled and reactive tocilizumab, steroids, loss of persistence, AUC window
    d.variable("toci_sched", if pro0 { 1.0 } else { 0.0 }, None);
    d.variable("sched_end", if pro0 { window } else { -1.0 }, Some("day"));
    d.variable("toci_react", 0.0, None);
    d.variable("toci_until", -1.0, Some("day"));
    d.variable("n_toci_given", 0.0, None);
    d.variable("toci_given", if pro0 { 1.0 } else { 0.0 }, None);
    d.variable("steroid", 0.0, None);
    d.variable("steroid_given", 0.0, None);
    d.variable("steroid_until", -1.0, Some("day"));
    d.variable("ster_day", -1.0, Some("day"));
    d.variable("lost", 0.0, None);
    d.variable("before28", 1.0, None);
    let n_reactive = if parts.reactive_toci { p.n_toci as usize } else { 0 };
    for k in 1..=n_reactive {
        d.variable(&format!("toci_day_{k}"), -1.0, Some("day"));
    }

    // ---- assignment rules
    let mut r: Vec<(String, Ex)> = Vec::new();
    for (_, id) in &ids {
        r.push((format!("L_{id}"), s(format!("alive_{id}")) * exp(s(format!("lnL_{id}")))));
    }
    r.push(("L_tot".into(), sum(ids.iter().map(|(_, id)| s(format!("L_{id}"))).collect())));
    r.push(("C".into(), sum(vec![s("E"), s("M"), s("P"), s("X")])));
    r.push(("Ek".into(), s("E") + s("P")));
    r.push(("cap".into(), if parts.k_c.is_finite() { max(n(0.0), n(1.0) - s("C") / s("K_C_eff")) } else { n(1.0) }));
    let mut antigen: Vec<Ex> = ids.iter().map(|(_, id)| s(format!("eff_{id}")) * s(format!("L_{id}"))).collect();
    antigen.push(s("eff_B") * s("B"));
    r.push(("A".into(), sum(antigen)));
    r.push(("sig".into(), s("A") / (s("K_A") + s("A"))));
    r.push(("u".into(), n(1.0) - s("eps_S") * s("steroid")));
    r.push(("h".into(), if parts.rho_ld > 0.0 { s("rho_LD_eff") * exp(-(Ex::Time) / s("tau_LD")) } else { n(0.0) }));
    r.push(("grow".into(), s("r_L") * (n(1.0) - s("L_tot") / s("K_L"))));
    r.push(("kmax".into(), s("k_kill") * s("phi_T")));
    for (_, id) in &ids {
        r.push((
            format!("kpc_{id}"),
            prod(vec![s("kmax"), s("sigma_L"), s(format!("eff_{id}")), s("Ek")])
                / sum(vec![s("K_k"), s("Ek"), s(format!("L_{id}"))]),
        ));
    }
    r.push((
        "kill_B".into(),
        prod(vec![s("kmax"), s("eff_B"), s("Ek"), s("B")]) / sum(vec![s("K_k"), s("Ek"), s("B")]),
    ));
    let mut kills: Vec<Ex> = ids.iter().map(|(_, id)| s(format!("kpc_{id}")) * s(format!("L_{id}"))).collect();
    kills.push(s("kill_B"));
    r.push(("kills".into(), sum(kills)));
    r.push(("rej".into(), s("lost") * s("k_rej")));
    r.push(("toci_on".into(), ite(gt(s("toci_sched") + s("toci_react"), n(0.5)), n(1.0), n(0.0))));
    r.push(("I_eff".into(), s("I") * (n(1.0) - s("eps_T") * s("R"))));
    let hill = |v: Ex, half: &str, hn: &str| {
        // x^n / (1 + x^n), 0 at x = 0 (n > 0): no piecewise, so that no root function
        // chatters while I_eff sits at its baseline
        let x = max(n(0.0), v) / s(half);
        let xn = Ex::Op("power", vec![x, s(hn)]);
        xn.clone() / (n(1.0) + xn)
    };
    r.push(("S_target".into(), s("S_max") * hill(s("I_eff") - s("I_0"), "I_S50", "n_S")));
    r.push(("N_target".into(), prod(vec![s("psi_N"), s("N_max"), hill(s("I") - s("I_0"), "I_N50", "n_N")])));
    for (v, _) in &r {
        d.params.push(super::Param { id: v.clone(), value: 0.0, constant: false, units: None, name: None });
    }
    d.assignment_rules = r;

    // ---- rate rules (docs/MODEL-v2.md)
    let us = s("u") * s("sig");
    let phi = s("phi_T");
    d.rate_rules = vec![
        (
            "E".into(),
            (prod(vec![s("rho_E"), phi.clone(), us.clone()]) + phi.clone() * s("h")) * s("cap") * s("E")
                + prod(vec![s("rho_M"), phi.clone(), us.clone(), s("M")])
                - sum(vec![s("delta_E"), s("k_EM"), s("k_EP"), s("k_X") * s("sig"), s("rej")]) * s("E"),
        ),
        (
            "M".into(),
            s("k_EM") * s("E") - prod(vec![s("rho_M"), phi, us.clone(), s("M")]) - (s("delta_M") + s("rej")) * s("M"),
        ),
        ("P".into(), s("k_EP") * s("E") - (s("delta_P") + s("rej")) * s("P")),
        ("X".into(), s("k_X") * s("sig") * s("E") - (s("delta_X") + s("rej")) * s("X")),
        ("B".into(), s("s_B") - s("delta_B") * s("B") - s("kill_B")),
        ("G".into(), prod(vec![s("p_G"), n(1e-9), us, s("E")]) - s("k_G") * (s("G") - s("G_0"))),
        (
            "I".into(),
            s("u") * (prod(vec![s("p_I"), n(1e-9), s("kills")]) + s("p_IG") * s("G"))
                - s("k_I") * (n(1.0) - s("c_T") * s("toci_on")) * (s("I") - s("I_0")),
        ),
        ("R".into(), s("k_R") * (s("toci_on") - s("R"))),
        ("S".into(), s("k_S") * (s("S_target") - s("S"))),
        ("N".into(), s("k_N") * (s("N_target") - s("N"))),
        ("Q".into(), s("before28") * s("C")),
    ];
    for (_, id) in &ids {
        d.rate_rules.push((format!("lnL_{id}"), s(format!("alive_{id}")) * (s("grow") - s(format!("kpc_{id}")))));
    }

    // ---- events (the driver's order at one instant: extinctions, infusions, scheduled
    // doses, window ends; then the model's triggers on S)
    let ev = EventDef::new;
    if ln_ext.is_some() {
        for (_, id) in &ids {
            d.events.push(ev(
                format!("extinction_{id}"),
                and(vec![leq(s(format!("lnL_{id}")), s("ln_n_ext")), gt(s(format!("alive_{id}")), n(0.5))]),
                100.0,
                vec![(format!("alive_{id}"), n(0.0)), (format!("ext_day_{id}"), Ex::Time)],
            ));
        }
    }
    for (k, inf) in reg.infusions().iter().filter(|i| i.t > 0.0).enumerate() {
        d.constant(&format!("t_infusion_{}", k + 1), inf.t, Some("day"));
        d.constant(&format!("cells_infusion_{}", k + 1), inf.cells, None);
        let c = s(format!("cells_infusion_{}", k + 1));
        d.events.push(ev(
            format!("infusion_{}", k + 1),
            geq(Ex::Time, s(format!("t_infusion_{}", k + 1))),
            90.0,
            vec![("E".into(), s("E") + (n(1.0) - s("f_mem")) * c.clone()), ("M".into(), s("M") + s("f_mem") * c)],
        ));
    }
    for (k, t) in prophylactic.iter().filter(|&&t| t > 0.0).enumerate() {
        d.constant(&format!("t_prophylactic_{}", k + 1), *t, Some("day"));
        d.events.push(ev(
            format!("toci_prophylactic_{}", k + 1),
            geq(Ex::Time, s(format!("t_prophylactic_{}", k + 1))),
            80.0,
            vec![
                ("toci_sched".into(), n(1.0)),
                ("toci_given".into(), n(1.0)),
                ("sched_end".into(), max(s("sched_end"), Ex::Time + s("toci_window"))),
            ],
        ));
    }
    if !prophylactic.is_empty() {
        d.events.push(ev(
            "toci_sched_end".into(),
            geq(Ex::Time, s("sched_end")),
            70.0,
            vec![("toci_sched".into(), n(0.0))],
        ));
    }
    if n_reactive > 0 {
        d.events.push(ev(
            "toci_reactive_end".into(),
            and(vec![geq(Ex::Time, s("toci_until")), gt(s("toci_react"), n(0.5))]),
            69.0,
            vec![("toci_react".into(), n(0.0))],
        ));
    }
    if parts.reactive_steroids {
        d.events.push(ev(
            "steroid_end".into(),
            and(vec![geq(Ex::Time, s("steroid_until")), gt(s("steroid"), n(0.5))]),
            60.0,
            vec![("steroid".into(), n(0.0))],
        ));
    }
    if let Some(tl) = Some(p.t_loss).filter(|t| t.is_finite()) {
        d.constant("t_loss_day", tl, Some("day"));
        d.events.push(ev(
            "persistence_loss".into(),
            geq(Ex::Time, s("t_loss_day")),
            50.0,
            vec![("lost".into(), n(1.0))],
        ));
    }
    if n_reactive > 0 {
        let mut a = vec![
            ("toci_react".into(), n(1.0)),
            ("toci_given".into(), n(1.0)),
            ("toci_until".into(), Ex::Time + s("tau_T")),
            ("n_toci_given".into(), s("n_toci_given") + n(1.0)),
        ];
        a.extend(record_in_slots("n_toci_given", "toci_day", n_reactive));
        d.events.push(ev(
            "toci_reactive".into(),
            and(vec![geq(s("S"), s("theta_T")), lt(s("toci_react"), n(0.5)), lt(s("n_toci_given"), s("n_toci"))]),
            30.0,
            a,
        ));
    }
    if parts.reactive_steroids {
        let mut cond = vec![geq(s("S"), s("theta_S")), lt(s("steroid_given"), n(0.5))];
        if parts.reactive_toci {
            cond.push(gt(s("toci_given"), n(0.5)));
        }
        d.events.push(ev(
            "steroid_start".into(),
            and(cond),
            40.0,
            vec![
                ("steroid".into(), n(1.0)),
                ("steroid_given".into(), n(1.0)),
                ("steroid_until".into(), Ex::Time + s("tau_S")),
                ("ster_day".into(), Ex::Time),
            ],
        ));
    }
    d.events.push(ev(
        "assessment_day".into(),
        geq(Ex::Time, s("day_assessment")),
        1.0,
        vec![("before28".into(), n(0.0))],
    ));
    Ok(d)
}
