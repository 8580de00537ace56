//! The reference model (MODEL.md v1) of one scenario as SBML.

use super::math::{and, exp, geq, gt, ite, leq, lt, max, n, prod, s, sum, Ex};
use super::{record_in_slots, Document, EventDef, SbmlError, Unit};
use crate::model::{efficacy, AntigenSet, Phenotype};
use crate::regimen::{SteroidPolicy, TociPolicy};
use crate::Scenario;

/// The SBML-safe id of a phenotype: `CD19+CD22-` -> `CD19pos_CD22neg` (blasts `L_<id>`, their
/// log `lnL_<id>`).
pub fn phenotype_id(ph: Phenotype) -> String {
    ph.name().replace("+CD", "pos_CD").replace("-CD", "neg_CD").replace('+', "pos").replace('-', "neg")
}

/// Most reactive tocilizumab doses the file records (`toci_day_1..`).
const MAX_REACTIVE: u32 = 16;

/// The reference model with scenario `sc`'s parameters, patient, product and regimen.
///
/// States (rate rules): `E`, `M`, `X`, `B`, `G`, `I`, `Q` (the AUC of `C` over [0, 28]) and
/// `lnL_<phenotype>` for each phenotype present at t = 0. Assignment rules: `L_<phenotype>`,
/// `L_tot`, `C`, `phi`, `A`, `s`, `u`, `h`, the kill rates, `grow`, `I_eff`. Events:
/// extinctions, infusions after day 0, prophylactic doses after day 0, the end of the
/// tocilizumab window and of the steroid course, reactive steroids and tocilizumab, day 28.
/// The instant t = 0 (MODEL.md section 4: extinctions, day-0 infusions and doses, then the
/// triggers the IL-6 signal reaches) is applied to the initial values, because tools apply
/// t = 0 events differently (libroadrunner only inside `reset()`).
///
/// # Errors
/// [`SbmlError::Unsupported`] for more than 16 reactive tocilizumab doses.
pub fn scenario(sc: &Scenario) -> Result<Document, SbmlError> {
    scenario_with(sc, &Options::default())
}

/// What the export adds to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Endpoint observers: events that record the located maxima of `C` (over the horizon)
    /// and of `I`, `G` and `I_eff` (up to day 28) with their times, the days the CRS
    /// thresholds `theta_1..4` are reached (up to day 28), the relapse day (the first time
    /// after day 28 that the blasts reach the CR level) and the B-cell recovery day: the
    /// recorders `cmax`, `tmax`, `peak_il6`, `t_peak_il6`, `peak_ifng`, `t_peak_ifng`,
    /// `peak_signal`, `t_peak_signal`, `thr_day_1..4`, `relapse_day`, `relL_<phenotype>`,
    /// `b_recovery_day` (-1: never).
    pub endpoints: bool,
}

/// [`scenario`] with options (e.g. the endpoint observers).
///
/// # Errors
/// [`SbmlError::Unsupported`] for more than 16 reactive tocilizumab doses.
pub fn scenario_with(sc: &Scenario, opt: &Options) -> Result<Document, SbmlError> {
    let p = sc.params();
    let reg = sc.regimen();
    let rules = reg.rules();
    let defs = sc.definitions();
    let targets = sc.product().targets();
    let pat = sc.patient();
    let blasts = pat.blasts();
    let present: Vec<Phenotype> = Phenotype::ALL.into_iter().filter(|ph| blasts[ph.index()] > 0.0).collect();
    let reactive_toci = matches!(reg.tocilizumab(), TociPolicy::Reactive);
    let reactive_ster = matches!(reg.steroids(), SteroidPolicy::Reactive);
    if reactive_toci && rules.toci_max_reactive_doses > MAX_REACTIVE {
        return Err(SbmlError::Unsupported(format!(
            "n_toci = {}: the SBML export records at most {MAX_REACTIVE} reactive doses",
            rules.toci_max_reactive_doses
        )));
    }
    let prophylactic: Vec<f64> = match reg.tocilizumab() {
        TociPolicy::Prophylactic { times } => times.clone(),
        _ => Vec::new(),
    };

    let mut d = Document {
        id: "cartkin_reference".into(),
        name: format!("cartkin reference model (MODEL.md v1): scenario {}", sc.name()),
        ..Document::default()
    };
    d.notes = vec![
        format!(
            "Exported by cartkin {} from scenario \"{}\": the reference model of MODEL.md (REF-1 with this scenario's parameters, patient, product and regimen).",
            env!("CARGO_PKG_VERSION"),
            sc.name()
        ),
        "Time in days; cells in cells; G, I, I_eff in pg/mL. Blasts are integrated as lnL_<phenotype> = ln(cells); L_<phenotype> = alive x exp(lnL) is the number of cells. The instant t = 0 is applied to the initial values.".into(),
        "docs/SBML.md of cartkin lists every id, event and priority.".into(),
    ];
    d.units = vec![
        Unit::day(),
        Unit { id: "per_day", factors: vec![("second", -1.0, 0, 86400.0)] },
        Unit { id: "cell", factors: vec![("item", 1.0, 0, 1.0)] },
        Unit { id: "pg_per_mL", factors: vec![("gram", 1.0, -12, 1.0), ("litre", -1.0, -3, 1.0)] },
    ];

    // ---- constants: MODEL.md parameters, policy numbers, CRS thresholds
    for &name in crate::model::Params::NAMES {
        let v = p.get(name).unwrap_or(f64::NAN);
        if name == "K_C" && !v.is_finite() {
            continue; // no capacity: phi = 1
        }
        d.constant(name, v, None);
    }
    d.constant("theta_toci", rules.toci_threshold, Some("pg_per_mL"));
    d.constant("tau_T", rules.toci_window_days, Some("day"));
    d.constant("n_toci", f64::from(rules.toci_max_reactive_doses), None);
    d.constant("theta_ster", rules.steroid_threshold, Some("pg_per_mL"));
    d.constant("tau_S", rules.steroid_course_days, Some("day"));
    for (k, th) in defs.crs_thresholds.iter().enumerate() {
        d.constant(&format!("theta_{}", k + 1), *th, Some("pg_per_mL"));
    }
    d.constant("day_assessment", defs.assessment_day, Some("day"));
    for ph in &present {
        let id = phenotype_id(*ph);
        d.constant(&format!("eff_{id}"), efficacy(targets, ph.antigens(), p.w_cd19, p.w_cd22), None);
    }
    d.constant("eff_B", efficacy(targets, AntigenSet::BOTH, p.w_cd19, p.w_cd22), None);
    let ln_ext = if p.n_ext > 0.0 { Some(p.n_ext.ln()) } else { None };
    if let Some(l) = ln_ext {
        d.constant("ln_n_ext", l, None);
    }

    // ---- the instant t = 0 (MODEL.md section 4), applied to the initial values
    let [e0, m0, x0] = pat.car_t();
    let [g0, i0] = pat.cytokines();
    let d0: f64 = reg.infusions().iter().filter(|i| i.t == 0.0).map(|i| i.cells).sum();
    let (e0, m0) = (e0 + (1.0 - p.f_mem) * d0, m0 + p.f_mem * d0);
    let mut alive0 = Vec::new();
    for ph in &present {
        let b = blasts[ph.index()];
        alive0.push(!(ln_ext.is_some() && b <= p.n_ext));
    }
    let pro0 = prophylactic.contains(&0.0);
    let mut t0 = if pro0 { 1.0 } else { 0.0 };
    let mut toci_end0 = if pro0 { rules.toci_window_days } else { -1.0 };
    let (mut s0, mut ster_end0, mut ster_day0) = (0.0, -1.0, -1.0);
    let ieff0 = i0 * (1.0 - p.eps_t * t0);
    if reactive_ster && ieff0 >= rules.steroid_threshold {
        (s0, ster_end0, ster_day0) = (1.0, rules.steroid_course_days, 0.0);
    }
    let mut toci_given0 = 0.0;
    if reactive_toci && rules.toci_max_reactive_doses >= 1 && ieff0 >= rules.toci_threshold {
        t0 = 1.0;
        toci_given0 = 1.0;
        toci_end0 = f64::max(toci_end0, rules.toci_window_days);
    }

    // ---- states
    d.variable("E", e0, Some("cell"));
    d.variable("M", m0, Some("cell"));
    d.variable("X", x0, Some("cell"));
    d.variable("B", pat.b0(), Some("cell"));
    d.variable("G", g0, Some("pg_per_mL"));
    d.variable("I", i0, Some("pg_per_mL"));
    d.variable("Q", 0.0, None);
    for ph in &present {
        d.variable(&format!("lnL_{}", phenotype_id(*ph)), blasts[ph.index()].ln(), None);
    }
    // ---- switches and recorders
    d.variable("T", t0, None);
    d.variable("S", s0, None);
    d.variable("toci_end", toci_end0, Some("day"));
    d.variable("ster_end", ster_end0, Some("day"));
    d.variable("toci_given", toci_given0, None);
    d.variable("ster_given", s0, None);
    d.variable("before28", 1.0, None);
    for (ph, &a) in present.iter().zip(&alive0) {
        let id = phenotype_id(*ph);
        d.variable(&format!("alive_{id}"), if a { 1.0 } else { 0.0 }, None);
        d.variable(&format!("ext_day_{id}"), if a { -1.0 } else { 0.0 }, Some("day"));
    }
    d.variable("ster_day", ster_day0, Some("day"));
    d.variable("ster_end_day", -1.0, Some("day"));
    let n_reactive = if reactive_toci { rules.toci_max_reactive_doses } else { 0 };
    for k in 1..=n_reactive {
        d.variable(&format!("toci_day_{k}"), if k == 1 && toci_given0 > 0.0 { 0.0 } else { -1.0 }, Some("day"));
    }
    let later_pro: Vec<f64> = prophylactic.iter().copied().filter(|&t| t > 0.0).collect();
    let n_ends = n_reactive as usize + prophylactic.len();
    d.variable("n_toci_end", 0.0, None);
    for k in 1..=n_ends {
        d.variable(&format!("toci_end_day_{k}"), -1.0, Some("day"));
    }

    // ---- assignment rules (MODEL.md section 3)
    let ids: Vec<String> = present.iter().map(|ph| phenotype_id(*ph)).collect();
    let mut rules_ = Vec::new();
    for id in &ids {
        rules_.push((format!("L_{id}"), s(format!("alive_{id}")) * exp(s(format!("lnL_{id}")))));
    }
    rules_.push(("L_tot".into(), sum(ids.iter().map(|id| s(format!("L_{id}"))).collect())));
    rules_.push(("C".into(), sum(vec![s("E"), s("M"), s("X")])));
    if p.k_c.is_finite() {
        rules_.push(("phi".into(), max(n(0.0), n(1.0) - s("C") / s("K_C"))));
    } else {
        rules_.push(("phi".into(), n(1.0)));
    }
    let mut antigen: Vec<Ex> = ids.iter().map(|id| s(format!("eff_{id}")) * s(format!("L_{id}"))).collect();
    antigen.push(s("eff_B") * s("B"));
    rules_.push(("A".into(), sum(antigen)));
    rules_.push(("s".into(), s("A") / (s("K_A") + s("A"))));
    rules_.push(("u".into(), n(1.0) - s("eps_S") * s("S")));
    if reg.lymphodepletion() {
        rules_.push(("h".into(), s("rho_LD") * exp(-(Ex::Time) / s("tau_LD"))));
    } else {
        rules_.push(("h".into(), n(0.0)));
    }
    for id in &ids {
        rules_.push((
            format!("kpc_{id}"),
            prod(vec![s("k_kill"), s(format!("eff_{id}")), s("E")]) / sum(vec![s("K_k"), s("E"), s(format!("L_{id}"))]),
        ));
    }
    rules_.push((
        "kill_B".into(),
        prod(vec![s("k_kill"), s("eff_B"), s("E"), s("B")]) / sum(vec![s("K_k"), s("E"), s("B")]),
    ));
    let mut kills: Vec<Ex> = ids.iter().map(|id| s(format!("kpc_{id}")) * s(format!("L_{id}"))).collect();
    kills.push(s("kill_B"));
    rules_.push(("kills".into(), sum(kills)));
    rules_.push(("grow".into(), s("r_L") * (n(1.0) - s("L_tot") / s("K_L"))));
    rules_.push(("I_eff".into(), s("I") * (n(1.0) - s("eps_T") * s("T"))));
    d.assignment_rules = rules_;
    for v in ["L_tot", "C", "phi", "A", "s", "u", "h", "kill_B", "kills", "grow", "I_eff"] {
        let units = match v {
            "L_tot" | "C" | "A" => Some("cell"),
            "I_eff" => Some("pg_per_mL"),
            "h" => Some("per_day"),
            _ => None,
        };
        d.variable(v, 0.0, units);
    }
    for id in &ids {
        d.variable(&format!("L_{id}"), 0.0, Some("cell"));
        d.variable(&format!("kpc_{id}"), 0.0, Some("per_day"));
    }

    // ---- rate rules (MODEL.md section 3)
    let us = s("u") * s("s");
    d.rate_rules = vec![
        (
            "E".into(),
            (s("rho_E") * us.clone() + s("h")) * s("phi") * s("E") + s("rho_M") * us.clone() * s("M")
                - sum(vec![s("delta_E"), s("k_EM"), s("k_X") * s("s")]) * s("E"),
        ),
        ("M".into(), s("k_EM") * s("E") - s("rho_M") * us.clone() * s("M") - s("delta_M") * s("M")),
        ("X".into(), s("k_X") * s("s") * s("E") - s("delta_X") * s("X")),
        ("B".into(), s("s_B") - s("delta_B") * s("B") - s("kill_B")),
        ("G".into(), prod(vec![s("p_G"), n(1e-9), us, s("E")]) - s("k_G") * (s("G") - s("G_0"))),
        (
            "I".into(),
            s("u") * (prod(vec![s("p_I"), n(1e-9), s("kills")]) + s("p_IG") * s("G"))
                - s("k_I") * (n(1.0) - s("c_T") * s("T")) * (s("I") - s("I_0")),
        ),
        ("Q".into(), s("before28") * s("C")),
    ];
    for id in &ids {
        d.rate_rules.push((format!("lnL_{id}"), s(format!("alive_{id}")) * (s("grow") - s(format!("kpc_{id}")))));
    }

    if opt.endpoints {
        // the rates of C, G and I (their downward zeros are the maxima)
        d.assignment_rules.push((
            "dCdt".into(),
            ((s("rho_E") * s("u") * s("s") + s("h")) * s("phi") - s("delta_E")) * s("E")
                - s("delta_M") * s("M")
                - s("delta_X") * s("X"),
        ));
        let (_, dg) =
            d.rate_rules.iter().find(|(v, _)| v == "G").cloned().unwrap_or_else(|| unreachable!("G has a rate rule"));
        let (_, di) =
            d.rate_rules.iter().find(|(v, _)| v == "I").cloned().unwrap_or_else(|| unreachable!("I has a rate rule"));
        d.assignment_rules.push(("dGdt".into(), dg));
        d.assignment_rules.push(("dIdt".into(), di));
        for v in ["dCdt", "dGdt", "dIdt"] {
            d.variable(v, 0.0, None);
        }
        d.constant("b_recovery", defs.b_recovery, Some("cell"));
        let cr = defs.cr_fraction;
        d.constant("L_relapse", cr * p.h / (1.0 - cr), Some("cell"));
        let c0 = e0 + m0 + x0;
        let ieff_pre = i0 * (1.0 - p.eps_t * if pro0 { 1.0 } else { 0.0 });
        d.variable("cmax", c0, Some("cell"));
        d.variable("tmax", 0.0, Some("day"));
        d.variable("peak_il6", i0, Some("pg_per_mL"));
        d.variable("t_peak_il6", 0.0, Some("day"));
        d.variable("peak_ifng", g0, Some("pg_per_mL"));
        d.variable("t_peak_ifng", 0.0, Some("day"));
        d.variable("peak_signal", ieff_pre, Some("pg_per_mL"));
        d.variable("t_peak_signal", 0.0, Some("day"));
        for (k, th) in defs.crs_thresholds.iter().enumerate() {
            d.variable(&format!("thr_day_{}", k + 1), if ieff_pre >= *th { 0.0 } else { -1.0 }, Some("day"));
        }
        d.variable("relapse_day", -1.0, Some("day"));
        d.variable("b_recovery_day", -1.0, Some("day"));
        for id in &ids {
            d.variable(&format!("relL_{id}"), 0.0, Some("cell"));
        }
    }

    // ---- events, highest priority first at one instant (MODEL.md section 4)
    let ev = EventDef::new;
    // candidates of the maxima offered at an event (the values there, before its
    // assignments): C over the horizon, I, G and I_eff up to day 28; the first time of the
    // largest value is kept (the peers' encoding, ../shared/peers/peer_roadrunner_full.py)
    let obs = opt.endpoints;
    let cand = |c: Ex, ieff: Ex, what: &str| -> Vec<(String, Ex)> {
        let mut a: Vec<(String, Ex)> = Vec::new();
        if !obs {
            return a;
        }
        let pk = gt(s("before28"), n(0.5));
        if what.contains('C') {
            a.push(("tmax".into(), ite(gt(c.clone(), s("cmax")), Ex::Time, s("tmax"))));
            a.push(("cmax".into(), max(s("cmax"), c)));
        }
        for (key, sym, pv, tv) in [
            ('I', s("I"), "peak_il6", "t_peak_il6"),
            ('G', s("G"), "peak_ifng", "t_peak_ifng"),
            ('S', ieff, "peak_signal", "t_peak_signal"),
        ] {
            if what.contains(key) {
                a.push((tv.into(), ite(and(vec![pk.clone(), gt(sym.clone(), s(pv))]), Ex::Time, s(tv))));
                a.push((pv.into(), ite(pk.clone(), max(s(pv), sym), s(pv))));
            }
        }
        a
    };
    let all = |c: Ex| cand(c, s("I_eff"), "CIGS");
    if ln_ext.is_some() {
        for id in &ids {
            d.events.push(ev(
                format!("extinction_{id}"),
                and(vec![leq(s(format!("lnL_{id}")), s("ln_n_ext")), gt(s(format!("alive_{id}")), n(0.5))]),
                100.0,
                [vec![(format!("alive_{id}"), n(0.0)), (format!("ext_day_{id}"), Ex::Time)], all(s("C"))].concat(),
            ));
        }
    }
    for (k, inf) in reg.infusions().iter().filter(|i| i.t > 0.0).enumerate() {
        d.constant(&format!("t_infusion_{}", k + 1), inf.t, Some("day"));
        d.constant(&format!("cells_infusion_{}", k + 1), inf.cells, Some("cell"));
        let c = s(format!("cells_infusion_{}", k + 1));
        d.events.push(ev(
            format!("infusion_{}", k + 1),
            geq(Ex::Time, s(format!("t_infusion_{}", k + 1))),
            90.0,
            [
                vec![
                    ("E".into(), s("E") + (n(1.0) - s("f_mem")) * c.clone()),
                    ("M".into(), s("M") + s("f_mem") * c.clone()),
                ],
                // C just after the infusion (the larger side of the jump)
                all(s("C") + c),
            ]
            .concat(),
        ));
    }
    for (k, t) in later_pro.iter().enumerate() {
        d.constant(&format!("t_prophylactic_{}", k + 1), *t, Some("day"));
        d.events.push(ev(
            format!("toci_prophylactic_{}", k + 1),
            geq(Ex::Time, s(format!("t_prophylactic_{}", k + 1))),
            80.0,
            [vec![("T".into(), n(1.0)), ("toci_end".into(), max(s("toci_end"), Ex::Time + s("tau_T")))], all(s("C"))]
                .concat(),
        ));
    }
    if n_ends > 0 {
        let mut a = vec![("T".into(), n(0.0))];
        a.extend(record_in_slots("n_toci_end", "toci_end_day", n_ends));
        a.push(("n_toci_end".into(), s("n_toci_end") + n(1.0)));
        // I_eff just after the wear-off is I
        a.extend(cand(s("C"), s("I"), "CIGS"));
        d.events.push(ev("toci_end".into(), geq(Ex::Time, s("toci_end")), 70.0, a));
    }
    if reactive_ster {
        d.events.push(ev(
            "steroid_end".into(),
            geq(Ex::Time, s("ster_end")),
            60.0,
            [vec![("S".into(), n(0.0)), ("ster_end_day".into(), Ex::Time)], all(s("C"))].concat(),
        ));
        d.events.push(ev(
            "steroid_start".into(),
            and(vec![geq(s("I_eff"), s("theta_ster")), lt(s("ster_given"), n(0.5))]),
            40.0,
            vec![
                ("S".into(), n(1.0)),
                ("ster_given".into(), n(1.0)),
                ("ster_end".into(), Ex::Time + s("tau_S")),
                ("ster_day".into(), Ex::Time),
            ]
            .into_iter()
            .chain(all(s("C")))
            .collect(),
        ));
    }
    if n_reactive > 0 {
        let mut a = vec![("T".into(), n(1.0)), ("toci_end".into(), max(s("toci_end"), Ex::Time + s("tau_T")))];
        a.extend(record_in_slots("toci_given", "toci_day", n_reactive as usize));
        a.push(("toci_given".into(), s("toci_given") + n(1.0)));
        // I_eff just before the dose
        a.extend(all(s("C")));
        d.events.push(ev(
            "toci_reactive".into(),
            and(vec![geq(s("I_eff"), s("theta_toci")), lt(s("toci_given"), s("n_toci"))]),
            30.0,
            a,
        ));
    }
    if obs {
        let pk = gt(s("before28"), n(0.5));
        let after = lt(s("before28"), n(0.5));
        for k in 1..=4 {
            let day = format!("thr_day_{k}");
            d.events.push(ev(
                format!("crs_threshold_{k}"),
                and(vec![geq(s("I_eff"), s(format!("theta_{k}"))), lt(s(day.clone()), n(0.0)), pk.clone()]),
                51.0 - k as f64,
                [vec![(day, Ex::Time)], cand(s("C"), s("I_eff"), "S")].concat(),
            ));
        }
        d.events.push(ev(
            "max_ifng".into(),
            and(vec![lt(s("dGdt"), n(0.0)), pk.clone()]),
            22.0,
            cand(s("C"), s("I_eff"), "G"),
        ));
        d.events.push(ev(
            "max_il6".into(),
            and(vec![lt(s("dIdt"), n(0.0)), pk.clone()]),
            21.0,
            cand(s("C"), s("I_eff"), "IS"),
        ));
        d.events.push(ev("max_car_t".into(), lt(s("dCdt"), n(0.0)), 20.0, cand(s("C"), s("I_eff"), "C")));
        let mut rel = vec![("relapse_day".into(), Ex::Time)];
        for id in &ids {
            rel.push((format!("relL_{id}"), s(format!("L_{id}"))));
        }
        d.events.push(ev(
            "relapse".into(),
            and(vec![geq(s("L_tot"), s("L_relapse")), after.clone(), lt(s("relapse_day"), n(0.0))]),
            12.0,
            rel,
        ));
        d.events.push(ev(
            "b_recovery".into(),
            and(vec![geq(s("B"), s("b_recovery")), after, lt(s("b_recovery_day"), n(0.0))]),
            11.0,
            vec![("b_recovery_day".into(), Ex::Time)],
        ));
    }
    // day 28: the AUC stops (and the peaks of I, G, I_eff take their day-28 value)
    d.events.push(ev(
        "assessment_day".into(),
        geq(Ex::Time, s("day_assessment")),
        1.0,
        [cand(s("C"), s("I_eff"), "IGS"), vec![("before28".into(), n(0.0))]].concat(),
    ));
    Ok(d)
}
