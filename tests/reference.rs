//! The nine shared reference scenarios (`tests/data/<name>*.{json,csv}`, README "Scenarios")
//! at the README's tight tolerance (rtol 1e-9, atol 1e-9 x scale) and at the default
//! tolerance (rtol 1e-6), each with the bounds the README gives for that level.
//!
//! Run with `-- --nocapture` to see the worst measured margin per quantity.

mod common;

use cartkin::{simulate, OutputSpec, Row, Scenario, Solution, SolverConfig};
use common::*;
use serde_json::Value;

struct Loaded {
    sc: Scenario,
    endpoints: serde_json::Map<String, Value>,
    events: Vec<Value>,
}

fn load(name: &'static str) -> Loaded {
    let dir = data_dir();
    let sc = Scenario::from_path(dir.join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{name}: cannot load scenario: {e}"));
    let ep = read_json(&dir.join(format!("{name}_endpoints.json")));
    Loaded {
        sc,
        endpoints: ep["endpoints"].as_object().unwrap().clone(),
        events: ep["events"].as_array().unwrap().clone(),
    }
}

fn solve(sc: &Scenario, b: Bounds) -> Solution {
    simulate(sc, &b.cfg(), &OutputSpec::reference())
        .unwrap_or_else(|e| panic!("{} ({}): solve failed: {e}", sc.name(), b.label))
}

fn endpoints_and_events(b: Bounds) {
    let mut all = Checker::new("all");
    for name in SCENARIOS {
        let l = load(name);
        let sol = solve(&l.sc, b);
        let tb = TimeBounds::new(&l.sc, b, &sol);
        let mut chk = Checker::new(format!("{name} {}", b.label));
        compare_endpoints(&mut chk, &l.sc, &sol, &l.endpoints, &tb, Allowance::default());
        compare_events(&mut chk, &sol, &l.events, &tb);
        all.merge(chk);
    }
    all.finish(&format!("reference scenarios: endpoints and event log at {} tolerance", b.label));
}

#[test]
fn endpoints_and_events_tight() {
    endpoints_and_events(TIGHT);
}

#[test]
fn endpoints_and_events_default() {
    endpoints_and_events(DEFAULT);
}

/// How trajectory rows are compared.
#[derive(Clone, Copy)]
struct TrajBounds {
    /// Relative bound per column.
    rel: f64,
    /// Absolute floor on E, M, X, B (cells).
    cells_abs: f64,
    /// L_j: below this many cells compare absolutely with this bound (README: "for L below 1
    /// cell compare absolutely").
    l_abs: f64,
    /// Also compare the rows at event times (matched by event, not by row index).
    event_rows: bool,
    /// Default tolerance: the L_j columns also get the extinction-time allowance.
    l_extinction_time: Option<f64>,
}

fn trajectory(b: Bounds, tbnd: TrajBounds) {
    let mut all = Checker::new("all");
    for name in SCENARIOS {
        let l = load(name);
        let sol = solve(&l.sc, b);
        let csv = Csv::read(&data_dir().join(format!("{name}_trajectory.csv")));
        let mut chk = Checker::new(format!("{name} {}", b.label));
        // Columns: one L_ per phenotype present at t = 0 (README).
        let ours_l: Vec<String> = cartkin::Phenotype::ALL
            .iter()
            .filter(|p| sol.present()[p.index()])
            .map(|p| format!("L_{}", p.name()))
            .collect();
        let theirs_l: Vec<String> = csv.header.iter().filter(|h| h.starts_with("L_")).cloned().collect();
        chk.discrete("trajectory L columns", ours_l, theirs_l);
        chk.discrete("number of trajectory rows", sol.rows.len(), csv.len());

        // Reference event times -> our event times (logs compared in the endpoint tests; here
        // the k-th reference event is matched to our k-th event when the kinds agree).
        let same_log = sol.events.len() == l.events.len()
            && sol.events.iter().zip(&l.events).all(|(o, x)| o.kind.name() == x["kind"].as_str().unwrap());
        let ext_days: Vec<(usize, Option<f64>)> =
            sol.endpoints.extinction_days.0.iter().map(|(p, d)| (p.index(), *d)).collect();
        for i in 0..csv.len() {
            let t_ref = csv.f(i, "t");
            let is_day = t_ref.fract() == 0.0;
            let t_ours = if is_day {
                t_ref
            } else {
                if !tbnd.event_rows {
                    continue;
                }
                if !same_log {
                    chk.fail("trajectory", format!("event row at t = {t_ref}: event logs differ, cannot match"));
                    continue;
                }
                // serde_json's float parsing is not always correctly rounded (no
                // `float_roundtrip` feature): match the CSV time to the event within 1e-9 day.
                match l.events.iter().position(|x| (x["t"].as_f64().unwrap() - t_ref).abs() <= 1e-9) {
                    Some(k) => sol.events[k].t,
                    None => {
                        chk.fail("trajectory", format!("row t = {t_ref} is neither a day nor a reference event time"));
                        continue;
                    }
                }
            };
            let Some(row): Option<&Row> = sol.rows.iter().find(|r| r.t == t_ours) else {
                chk.fail("trajectory", format!("no row of ours at t = {t_ours} (reference row t = {t_ref})"));
                continue;
            };
            let what = if is_day { format!("day {t_ref}") } else { format!("event row t = {t_ref}") };
            for col in csv.header.iter().skip(1) {
                let x = csv.f(i, col);
                let g = row_value(row, col);
                let field = format!("{col} at {what}");
                let key = format!("traj {col}{}", if is_day { "" } else { " (event rows)" });
                match col.as_str() {
                    // Switches: exact.
                    "T" | "S" => chk.discrete(&field, g, x),
                    // README: "for L below 1 cell compare absolutely, or compare ln L". Only
                    // MIN_nominal (n_ext = 0) has 0 < L < 1 (down to 5e-59 cells), where an
                    // absolute 1-cell bound would check nothing: compare ln L there, with the
                    // column's relative bound applied to ln L (relative to max(1, |ln L|)).
                    c if c.starts_with("L_") && x > 0.0 && x < 1.0 => {
                        let (lg, lx) = (g.ln(), x.ln());
                        chk.amount(
                            &format!("{key} (ln L, L < 1 cell)"),
                            &format!("ln {field}"),
                            lg,
                            lx,
                            tbnd.rel * lx.abs().max(1.0),
                        );
                    }
                    c if c.starts_with("L_") => {
                        let mut bound = (tbnd.rel * x.abs()).max(tbnd.l_abs);
                        if let Some(ext_bound) = tbnd.l_extinction_time {
                            // Default tolerance: ln L_j's error grows over its fall, and the
                            // README bounds the extinction time by 1e-2 day; a phenotype that
                            // is falling towards extinction gets L |d ln L/dt| x 1e-2 day,
                            // the slope averaged over the rest of its fall in our solution.
                            let j =
                                cartkin::Phenotype::ALL.iter().position(|p| format!("L_{}", p.name()) == *c).unwrap();
                            if let Some((_, Some(te))) = ext_days.iter().find(|(k, _)| *k == j) {
                                if *te > t_ours && g > 1.0 {
                                    bound = bound.max(g * g.ln() / (te - t_ours) * ext_bound);
                                }
                            }
                        }
                        chk.amount(&key, &field, g, x, bound);
                    }
                    "E" | "M" | "X" | "B" => chk.amount(&key, &field, g, x, (tbnd.rel * x.abs()).max(tbnd.cells_abs)),
                    _ => chk.amount(&key, &field, g, x, tbnd.rel * x.abs()),
                }
            }
        }
        all.merge(chk);
    }
    all.finish(&format!("reference trajectories at {} tolerance", b.label));
}

/// README, tight tolerance: "trajectories on the integer days: 1e-6 relative per column (for L
/// below 1 cell compare absolutely, or compare ln L); compare event rows by event kind, not by
/// row index". Event rows are compared too (their times differ from the reference by at most
/// the event-time bound, 1e-6..1e-5 day, which moves no column by 1e-6 relative here).
#[test]
fn trajectories_tight() {
    trajectory(
        TIGHT,
        TrajBounds {
            rel: 1e-6,
            // README: cell counts also 1 cell absolute (continuous-endpoint rule, applied to the
            // cell columns of the trajectory: C at the horizon of S2 is ~4e3 cells).
            cells_abs: 1.0,
            l_abs: 1.0,
            event_rows: true,
            l_extinction_time: None,
        },
    );
}

/// Default tolerance. The README gives no trajectory bound at this level; the daily rows are
/// states at fixed times, like the endpoints B_day28, C_end, B_end, Ltot_end, so they get the
/// continuous-endpoint bounds: 1e-3 relative and 1e3 cells absolute, and blasts falling towards
/// extinction inherit the extinction-time bound (1e-2 day, as "a blast total just before its
/// extinction" does). Event rows are skipped: at default tolerance their times differ by up to
/// the event-time bound, and the event log test checks those times.
#[test]
fn trajectories_default() {
    trajectory(
        DEFAULT,
        TrajBounds { rel: 1e-3, cells_abs: 1e3, l_abs: 1e3, event_rows: false, l_extinction_time: Some(1e-2) },
    );
}

/// Deliberate snapshot of the solver's cost on the nominal patient (S1 at the default
/// tolerance), so that a change in the number of steps or right-hand-side evaluations shows up
/// in review. These are not accuracy requirements: if a solver change moves them on purpose,
/// update the numbers in the same commit and say why.
#[test]
fn solver_stats_snapshot_s1_default() {
    let sc = Scenario::from_path(data_dir().join("S1_nominal.json")).unwrap();
    let sol = simulate(&sc, &SolverConfig::default(), &OutputSpec::reference()).unwrap();
    let s = sol.stats;
    println!("S1 default: rhs_evals {}, accepted {}, rejected {}", s.rhs_evals, s.accepted, s.rejected);
    assert_eq!(
        (s.rhs_evals, s.accepted, s.rejected),
        (3180, 237, 7),
        "solver statistics of S1 at default tolerance changed (snapshot)"
    );
}

/// Guard against vacuous checks: the comparison used above must flag a reference that is
/// perturbed just beyond each tight bound (and pass the unperturbed one).
#[test]
fn checks_detect_perturbations() {
    let l = load("S1_nominal");
    let sol = solve(&l.sc, TIGHT);
    let tb = TimeBounds::new(&l.sc, TIGHT, &sol);
    let run = |ep: &serde_json::Map<String, Value>, ev: &[Value]| {
        let mut c = Checker::new("perturbed S1");
        compare_endpoints(&mut c, &l.sc, &sol, ep, &tb, Allowance::default());
        compare_events(&mut c, &sol, ev, &tb);
        c.failures
    };
    assert!(run(&l.endpoints, &l.events).is_empty(), "unperturbed S1 must pass");

    type Edit = Box<dyn Fn(&mut serde_json::Map<String, Value>, &mut Vec<Value>)>;
    let scale = |k: &'static str, f: f64| -> Edit {
        Box::new(move |ep, _| ep[k] = serde_json::json!(ep[k].as_f64().unwrap() * f))
    };
    let shift = |k: &'static str, d: f64| -> Edit {
        Box::new(move |ep, _| ep[k] = serde_json::json!(ep[k].as_f64().unwrap() + d))
    };
    let cases: Vec<(&str, &str, Edit)> = vec![
        ("cmax +3e-6 rel", "cmax", scale("cmax", 1.0 + 3e-6)),
        ("auc28 -3e-6 rel", "auc28", scale("auc28", 1.0 - 3e-6)),
        ("peak_ifng +3e-6 rel", "peak_ifng", scale("peak_ifng", 1.0 + 3e-6)),
        ("Ltot_day28 +3e-6 rel", "Ltot_day28", scale("Ltot_day28", 1.0 + 3e-6)),
        ("B_end +3e-6 rel", "B_end", scale("B_end", 1.0 + 3e-6)),
        ("tmax +3e-4 day", "tmax", shift("tmax", 3e-4)),
        ("relapse_day +1e-2 day", "relapse_day", shift("relapse_day", 1e-2)),
        ("b_recovery_day +1e-2 day", "b_recovery_day", shift("b_recovery_day", 1e-2)),
        ("steroid_day +1e-4 day", "steroid_day", shift("steroid_day", 1e-4)),
        ("crs_onset_day +1e-4 day", "crs_onset_day", shift("crs_onset_day", 1e-4)),
        ("cr_day28 flipped", "cr_day28", Box::new(|ep, _| ep["cr_day28"] = serde_json::json!(false))),
        ("crs_grade 2", "crs_grade", Box::new(|ep, _| ep["crs_grade"] = serde_json::json!(2))),
        ("cured flipped", "cured", Box::new(|ep, _| ep["cured"] = serde_json::json!(true))),
        (
            "extinction day +3e-5 day",
            "extinction_days.CD19+CD22+",
            Box::new(|ep, _| {
                let d = ep["extinction_days"]["CD19+CD22+"].as_f64().unwrap();
                ep["extinction_days"]["CD19+CD22+"] = serde_json::json!(d + 3e-5);
            }),
        ),
        (
            "extinction of CD19-CD22+ (not extinct)",
            "extinction_days.CD19-CD22+",
            Box::new(|ep, _| ep["extinction_days"]["CD19-CD22+"] = serde_json::json!(100.0)),
        ),
        (
            "toci dose time +1e-4 day",
            "events[1]",
            Box::new(|_, ev| ev[1]["t"] = serde_json::json!(ev[1]["t"].as_f64().unwrap() + 1e-4)),
        ),
        ("toci dose number 2", "events", Box::new(|_, ev| ev[1]["dose"] = serde_json::json!(2))),
        ("events swapped", "events", Box::new(|_, ev| ev.swap(3, 4))),
        (
            "event missing",
            "events",
            Box::new(|_, ev| {
                ev.pop();
            }),
        ),
    ];
    for (what, field, edit) in cases {
        let mut ep = l.endpoints.clone();
        let mut ev = l.events.clone();
        edit(&mut ep, &mut ev);
        let f = run(&ep, &ev);
        assert!(f.iter().any(|m| m.contains(field)), "perturbation '{what}' was not detected (failures: {f:?})");
    }
}

/// The crossing-time bounds use `d ln y/dt` from the model's right-hand side at our own state
/// just before the crossing (tests/common: `ModelSlopes`). Cross-check that helper against a
/// central finite difference of our own tight-tolerance solution (h = 1e-4 day, 1e-3 day before
/// each S1 crossing): they must agree to 1e-3 relative.
#[test]
fn slope_helper_matches_finite_differences() {
    let sc = Scenario::from_path(data_dir().join("S1_nominal.json")).unwrap();
    let sol = solve(&sc, TIGHT);
    let e = &sol.endpoints;
    let m = ModelSlopes::new(&sc);
    type F = fn(&ModelSlopes, &Row) -> f64;
    type V = fn(&Row) -> f64;
    let cases: [(&str, f64, F, V); 4] = [
        ("I_eff before toci dose", e.toci_days[0], ModelSlopes::dln_ieff, |r| r.i_eff),
        ("I_eff before steroids", e.steroid_day.unwrap(), ModelSlopes::dln_ieff, |r| r.i_eff),
        ("L_tot before relapse", e.relapse_day.unwrap(), ModelSlopes::dln_ltot, |r| r.l.iter().sum()),
        ("B before recovery", e.b_recovery_day.unwrap(), ModelSlopes::dln_b, |r| r.b),
    ];
    for (what, tc, slope, val) in cases {
        let (t, h) = (tc - 1e-3, 1e-4);
        let out = OutputSpec { grid: cartkin::Grid::Times(vec![t - h, t, t + h]), event_rows: false };
        let rows = simulate(&sc, &TIGHT.cfg(), &out).unwrap().rows;
        assert_eq!(rows.len(), 3);
        let fd = (val(&rows[2]).ln() - val(&rows[0]).ln()) / (2.0 * h);
        let an = slope(&m, &rows[1]);
        println!("{what} (t = {t:.6}): model {an:.6e} /day, finite difference {fd:.6e} /day");
        assert!((an - fd).abs() <= 1e-3 * fd.abs(), "{what}: model slope {an:e} vs finite difference {fd:e}");
    }
}
