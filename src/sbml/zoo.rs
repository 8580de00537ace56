//! The zoo's published models as SBML (one patient: its parameter values, and for
//! `kimmel2021` its extinction uniforms).

use super::math::{and, exp, geq, gt, ite, leq, lt, max, n, prod, s, sum, Ex};
use super::{Document, EventDef, SbmlError, Unit};
use crate::model::zoo::{check_values, Kind, UNIFORMS};

/// Patient `values` (in [`Kind::params`] order) of zoo model `kind` as SBML: every parameter
/// (initial values included) a constant of its name, every state a parameter with a rate
/// rule (the ids of [`crate::model::ModelInfo::states`]), the model's switches as events.
/// `uniforms`: `kimmel2021`'s extinction draws (its stochastic part is exported with them,
/// and left out without them, as the model does).
///
/// # Errors
/// [`SbmlError::Input`] for values outside the parameters' domains.
pub fn zoo(kind: Kind, values: &[f64], uniforms: Option<&[f64; UNIFORMS]>) -> Result<Document, SbmlError> {
    let info = kind.info();
    check_values(info.name, kind.params(), values).map_err(SbmlError::Input)?;
    let v = |name: &str| kind.index(name).map_or(f64::NAN, |i| values[i]);
    let mut d = Document {
        id: format!("cartkin_{}", info.name),
        name: format!("cartkin {}: {}", info.name, kind.citation()),
        ..Document::default()
    };
    d.notes = vec![
        format!(
            "Exported by cartkin {} (model {}, docs/MODELS.md): {}.",
            env!("CARGO_PKG_VERSION"),
            info.name,
            kind.citation()
        ),
        format!(
            "Time in days. States: {}.",
            info.states.iter().zip(info.units).map(|(s, u)| format!("{s} ({u})")).collect::<Vec<_>>().join(", ")
        ),
    ];
    d.units = vec![Unit::day()];
    for p in kind.params() {
        d.constant(p.name, v(p.name), None);
    }
    let ev = EventDef::new;
    match kind {
        Kind::Stein2019 => {
            let r0 = v("Cmax") / v("foldx");
            let fb = v("FB");
            d.variable("F", (1.0 - fb) * r0, None);
            d.variable("S", fb * r0, None);
            d.variable("expanding", 1.0, None);
            d.variable("rho", 0.0, None);
            d.variable("C", 0.0, None);
            d.assignment_rules =
                vec![("rho".into(), Ex::Op("ln", vec![s("foldx")]) / s("Tmax")), ("C".into(), s("F") + s("S"))];
            let on = gt(s("expanding"), n(0.5));
            d.rate_rules = vec![
                ("F".into(), ite(on.clone(), s("rho") * s("F"), -(s("alpha") * s("F")))),
                ("S".into(), ite(on, s("rho") * s("S"), -(s("beta") * s("S")))),
            ];
            d.events.push(ev("tmax", geq(Ex::Time, s("Tmax")), 1.0, vec![("expanding".into(), n(0.0))]));
        }
        Kind::Kimmel2021 => {
            for (st, p0) in [("N", "N0"), ("C", "C0"), ("B", "B0")] {
                d.variable(st, v(p0), None);
            }
            d.variable("T_total", 0.0, None);
            d.variable("r_C", 0.0, None);
            d.variable("mu", 0.0, None);
            d.variable("extinct", if v("B0") <= 0.0 { 1.0 } else { 0.0 }, None);
            d.assignment_rules = vec![
                ("T_total".into(), s("N") + s("C")),
                (
                    "r_C".into(),
                    s("rho_C")
                        + prod(vec![s("b"), sq(s("T_total") - s("K_N"))])
                            / (s("a") * sq(s("T_total")) + sq(s("T_total") - s("K_N"))),
                ),
                ("mu".into(), s("gamma_B") * s("C") / (s("k_B") + s("C"))),
            ];
            let ln = |e: Ex| Ex::Op("ln", vec![e]);
            d.rate_rules = vec![
                ("N".into(), -(prod(vec![s("r_N"), s("N"), ln(s("T_total") / s("K_N"))]))),
                ("C".into(), -(prod(vec![s("r_C"), s("C"), ln(s("T_total") / s("K_C"))]))),
                ("B".into(), (n(1.0) - s("extinct")) * (s("r_B") - s("mu")) * s("B")),
            ];
            let stochastic = v("n_stoch") > 0.0 && uniforms.is_some();
            if let (true, Some(u)) = (stochastic, uniforms) {
                // the birth-death clock (docs/MODELS.md, kimmel2021): rho, V = ln W
                d.variable("rho", 0.0, None);
                d.variable("V", 0.0, None);
                d.variable("clock", 0.0, None);
                d.variable("dips", 0.0, None);
                d.variable("V_star", 0.0, None);
                let dips = crate::model::zoo::kimmel2021::DIPS;
                let vstar: Vec<f64> = u[..dips].iter().map(|&x| -(-(x.ln() / v("n_stoch")).exp_m1()).ln()).collect();
                for (k, x) in vstar.iter().enumerate() {
                    d.constant(&format!("V_star_{}", k + 1), *x, None);
                }
                d.rate_rules.push(("rho".into(), s("clock") * (s("mu") - s("r_B"))));
                d.rate_rules.push(("V".into(), prod(vec![s("clock"), s("mu"), exp(s("rho") - s("V"))])));
                let mut pick = Ex::Num(vstar[dips - 1]);
                for k in (0..dips).rev() {
                    pick = ite(lt(s("dips"), n(k as f64 + 0.5)), s(format!("V_star_{}", k + 1)), pick);
                }
                let cells = s("B") * s("cells_per_ml");
                d.events.push(ev(
                    "below_n_stoch",
                    and(vec![
                        leq(cells.clone(), s("n_stoch")),
                        lt(s("clock"), n(0.5)),
                        lt(s("extinct"), n(0.5)),
                        lt(s("dips"), n(dips as f64)),
                    ]),
                    3.0,
                    vec![
                        ("clock".into(), n(1.0)),
                        ("V_star".into(), pick),
                        ("dips".into(), s("dips") + n(1.0)),
                        ("rho".into(), n(0.0)),
                        ("V".into(), n(0.0)),
                    ],
                ));
                d.events.push(ev(
                    "extinction",
                    and(vec![geq(s("V"), s("V_star")), gt(s("clock"), n(0.5))]),
                    2.0,
                    vec![("extinct".into(), n(1.0)), ("clock".into(), n(0.0)), ("B".into(), n(0.0))],
                ));
                d.events.push(ev(
                    "escaped",
                    and(vec![geq(cells, n(2.0) * s("n_stoch")), gt(s("clock"), n(0.5))]),
                    1.0,
                    vec![("clock".into(), n(0.0))],
                ));
            }
        }
        Kind::LeonTriana2021 | Kind::LeonTriana2021Progenitors => {
            let prog = kind == Kind::LeonTriana2021Progenitors;
            for (st, p0) in [("C", "C0"), ("L", "L0"), ("B", "B0")] {
                d.variable(st, v(p0), None);
            }
            d.variable("rho_C", 0.0, None);
            d.assignment_rules = vec![("rho_C".into(), s("k") * s("alpha"))];
            let mut dc = vec![prod(vec![s("rho_C"), s("L") + s("B"), s("C")]), -(s("C") / s("tau_C"))];
            let mut db = vec![-(prod(vec![s("alpha"), s("B"), s("C")])), -(s("B") / s("tau_B"))];
            if prog {
                d.variable("I", v("I_0"), None);
                d.variable("sat", 0.0, None);
                d.variable("maturation", 0.0, None);
                d.assignment_rules.push(("sat".into(), n(1.0) / (n(1.0) + s("C") / s("C_50"))));
                d.assignment_rules.push(("maturation".into(), s("I_0") * s("sat") / s("tau_I")));
                dc.push(prod(vec![s("rho_C"), s("beta"), s("I_0"), s("sat")]));
                db.push(s("maturation"));
            }
            d.rate_rules = vec![
                ("C".into(), sum(dc)),
                ("L".into(), s("rho_L") * s("L") - prod(vec![s("alpha"), s("L"), s("C")])),
                ("B".into(), sum(db)),
            ];
            if prog {
                d.rate_rules.push(("I".into(), s("I_0") - s("maturation")));
            }
        }
        Kind::Hanson2016 => {
            for (st, p0) in [
                ("C_m", "C_m0"),
                ("C_e", "C_e0"),
                ("H_m", "H_m0"),
                ("H_e", "H_e0"),
                ("L", "L0"),
                ("Inflam", "Inflam0"),
                ("B", "B0"),
                ("D", "D0"),
            ] {
                d.variable(st, v(p0), None);
            }
            for a in ["Total_Lymphocytes", "Lymphocyte_Term", "h_inflam", "act_C", "act_H"] {
                d.variable(a, 0.0, None);
            }
            let two_n = Ex::Op("power", vec![n(2.0), s("n")]);
            d.assignment_rules = vec![
                ("Total_Lymphocytes".into(), sum(vec![s("B"), s("C_e"), s("C_m"), s("H_e"), s("H_m"), s("L")])),
                ("Lymphocyte_Term".into(), max(n(0.0), n(1.0) - s("Total_Lymphocytes") / s("l"))),
                ("h_inflam".into(), sq(s("Inflam")) / (sq(s("Inflam")) + sq(s("b")))),
                ("act_C".into(), prod(vec![s("a_1"), s("B"), s("C_m"), n(1.0) + s("a_2") * s("H_e"), s("h_inflam")])),
                ("act_H".into(), prod(vec![s("a_3"), s("B"), s("H_m"), s("h_inflam")])),
            ];
            d.rate_rules = vec![
                ("C_m".into(), prod(vec![s("r_2"), s("C_m"), s("Lymphocyte_Term")]) - s("act_C")),
                ("C_e".into(), two_n.clone() * s("act_C") - s("d_3") * s("C_e")),
                ("H_m".into(), prod(vec![s("r_3"), s("H_m"), s("Lymphocyte_Term")]) - s("act_H")),
                ("H_e".into(), two_n * s("act_H") - s("d_4") * s("H_e")),
                (
                    "L".into(),
                    sum(vec![s("p_2"), prod(vec![s("r_4"), s("L"), s("Lymphocyte_Term")]), -(s("d_5") * s("L"))]),
                ),
                (
                    "Inflam".into(),
                    sum(vec![
                        s("p_0"),
                        prod(vec![s("p_1"), s("B"), s("C_e") + s("H_e")]),
                        -(s("d_2") * s("Inflam")),
                        -s("D"),
                    ]),
                ),
                (
                    "B".into(),
                    prod(vec![s("r_1"), s("B"), n(1.0) - s("B") / s("k")]) - prod(vec![s("d_1"), s("B"), s("C_e")]),
                ),
                ("D".into(), n(0.0)),
            ];
        }
    }
    Ok(d)
}

fn sq(e: Ex) -> Ex {
    e.clone() * e
}
