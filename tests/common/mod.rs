//! Shared helpers for the reference-data integration tests (`tests/reference.rs`,
//! `tests/population200.rs`).
//!
//! Every tolerance here comes from `tests/data/README.md` (a copy of
//! `/work/shared/reference/README.md`), section "Tolerances to expect from another
//! implementation"; the comments cite it as "README".
//!
//! Design:
//! - [`Checker`] collects every violation (scenario / patient, field, got, expected, bound)
//!   instead of stopping at the first, and keeps the worst measured margin per quantity so
//!   that a passing run still prints how close it came (`cargo test -- --nocapture`).
//! - [`compare_endpoints`] compares a [`Solution`] with reference endpoints given as a JSON
//!   object in the `<name>_endpoints.json` shape (the population CSV is converted to that shape,
//!   leaving out what it does not have).
//! - Crossing-time bounds are slope-scaled, `max(c, c / |d ln y/dt|)` (README), with the
//!   slope taken from OUR solution: we re-solve the same scenario with output rows at
//!   `t_cross - 1e-7 day` (the left limit, before any switch at `t_cross`) and evaluate
//!   `d ln y/dt` from the model's right-hand side (MODEL.md section 3) at that state, written
//!   out independently here ([`ModelSlopes`]). An analytic slope is used rather than finite
//!   differences of trajectory rows because near-tangent triggers (population 142, 123, 98)
//!   have a slope that changes within a fraction of a day, and the default-tolerance dense
//!   output (~1e-6 relative) is too noisy for short differences.
#![allow(dead_code)]
// As in the library: `!(err <= bound)` sends NaN down the failure branch, and the model
// kernels index several arrays with one loop variable.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use cartkin::model::efficacy;
use cartkin::{
    simulate, AntigenSet, EventKind, Grid, OutputSpec, Params, Phenotype, Row, Scenario, Solution, SolverConfig,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `tests/data`.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("data")
}

/// The nine shared scenarios of the README's scenario table.
pub const SCENARIOS: [&str; 9] = [
    "S1_nominal",
    "S2_low_burden",
    "S3_high_burden_low_dose",
    "S4_dual_cd19_cd22",
    "S5_split_dosing",
    "S6_no_toci",
    "S7_prophylactic_toci",
    "S8_no_lymphodepletion",
    "MIN_nominal",
];

pub fn read_json(path: &std::path::Path) -> Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------
// Tolerance sets (README, "Tolerances to expect from another implementation")
// ------------------------------------------------------------------------------------------

/// One tolerance level: the solver setting and the bounds the README promises for it.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub label: &'static str,
    /// Solver rtol (atol_i = rtol x scale_i: `SolverConfig::with_rtol` scales atol with rtol,
    /// which is what the README's tight setting "rtol 1e-9 **and atol_i = 1e-9 x scale_i**" asks).
    pub rtol: f64,
    /// Continuous endpoints: relative bound.
    pub rel: f64,
    /// Continuous endpoints that are cell counts: absolute floor (cells).
    pub cells_abs: f64,
    /// Crossing times: `max(c, c / |d ln y/dt|)` with this `c` (days).
    pub cross_c: f64,
    /// Extinction days and cure_day (days).
    pub ext: f64,
    /// Times of maxima (tmax, t_peak_*) (days).
    pub tmax: f64,
    /// Default tolerance only: near-tangent / late-trigger allowances apply.
    pub is_default: bool,
}

/// README, tight tolerance: rtol 1e-9 and atol_i = 1e-9 x scale_i;
/// continuous endpoints 1e-6 relative and 1 cell absolute; crossing times
/// max(1e-6 day, 1e-6 / |d ln y/dt|); extinction days and cure_day 1e-5 day; times of maxima
/// 1e-4 day.
pub const TIGHT: Bounds = Bounds {
    label: "tight",
    rtol: 1e-9,
    rel: 1e-6,
    cells_abs: 1.0,
    cross_c: 1e-6,
    ext: 1e-5,
    tmax: 1e-4,
    is_default: false,
};

/// README, default tolerance (rtol 1e-6, atol of MODEL.md section 2): continuous endpoints
/// 1e-3 relative and 1e3 cells absolute; crossing times max(1e-3 day, 1e-3 / |d ln y/dt|);
/// extinction days and cure_day 1e-2 day; times of maxima 0.1 day.
pub const DEFAULT: Bounds = Bounds {
    label: "default",
    rtol: 1e-6,
    rel: 1e-3,
    cells_abs: 1e3,
    cross_c: 1e-3,
    ext: 1e-2,
    tmax: 0.1,
    is_default: true,
};

impl Bounds {
    pub fn cfg(&self) -> SolverConfig {
        if self.is_default {
            SolverConfig::default()
        } else {
            SolverConfig::with_rtol(self.rtol).expect("valid rtol")
        }
    }
    /// README: crossing time bound `max(c, c / |d ln y/dt|)`.
    pub fn crossing(&self, dlny_dt: f64) -> f64 {
        let s = dlny_dt.abs();
        if s > 0.0 && s.is_finite() {
            self.cross_c.max(self.cross_c / s)
        } else {
            f64::INFINITY
        }
    }
}

// ------------------------------------------------------------------------------------------
// Violation collection and margins
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Worst {
    /// |got - expected| / bound (the margin: > 1 fails).
    ratio: f64,
    ratio_ctx: String,
    /// The raw error: relative for amounts, absolute days for times.
    err: f64,
    err_ctx: String,
    unit: &'static str,
}

/// Collects violations and the worst margin per quantity.
#[derive(Debug, Default)]
pub struct Checker {
    pub ctx: String,
    pub failures: Vec<String>,
    worst: BTreeMap<String, Worst>,
    pub n_checks: u64,
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("none".into(), |x| format!("{x:.17e}"))
}

impl Checker {
    pub fn new(ctx: impl Into<String>) -> Self {
        Self { ctx: ctx.into(), ..Default::default() }
    }

    pub fn fail(&mut self, field: &str, msg: String) {
        self.failures.push(format!("[{}] {field}: {msg}", self.ctx));
    }

    fn record(&mut self, key: &str, ratio: f64, err: f64, unit: &'static str) {
        self.n_checks += 1;
        let ctx = self.ctx.clone();
        let w = self.worst.entry(key.to_string()).or_insert(Worst {
            ratio: f64::NEG_INFINITY,
            ratio_ctx: String::new(),
            err: f64::NEG_INFINITY,
            err_ctx: String::new(),
            unit,
        });
        if ratio > w.ratio {
            w.ratio = ratio;
            w.ratio_ctx = ctx.clone();
        }
        if err > w.err {
            w.err = err;
            w.err_ctx = ctx;
        }
    }

    /// A discrete value: must be identical (README: "discrete endpoints ... exact").
    pub fn discrete<T: PartialEq + std::fmt::Debug>(&mut self, field: &str, got: T, expected: T) {
        self.n_checks += 1;
        if got != expected {
            self.fail(field, format!("discrete mismatch: got {got:?}, expected {expected:?}"));
        }
    }

    /// An amount: `|got - expected| <= bound`; `key` groups margins in the summary.
    pub fn amount(&mut self, key: &str, field: &str, got: f64, expected: f64, bound: f64) {
        let err = (got - expected).abs();
        let rel = if expected != 0.0 { err / expected.abs() } else { err };
        let ratio = if bound > 0.0 {
            err / bound
        } else if err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        self.record(key, ratio, rel, "rel");
        if !(err <= bound) {
            self.fail(
                field,
                format!(
                    "got {got:.17e}, expected {expected:.17e}, |diff| {err:.3e} (rel {rel:.3e}) > bound {bound:.3e}"
                ),
            );
        }
    }

    /// A time (days): `|got - expected| <= bound`.
    pub fn time(&mut self, key: &str, field: &str, got: f64, expected: f64, bound: f64) {
        let err = (got - expected).abs();
        let ratio = if bound > 0.0 {
            err / bound
        } else if err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        self.record(key, ratio, err, "day");
        if !(err <= bound) {
            self.fail(
                field,
                format!("got {got:.17e}, expected {expected:.17e}, |diff| {err:.3e} day > bound {bound:.3e} day"),
            );
        }
    }

    /// An optional time: presence must agree exactly (discrete), then the value within bound.
    pub fn opt_time(&mut self, key: &str, field: &str, got: Option<f64>, expected: Option<f64>, bound: f64) {
        match (got, expected) {
            (Some(g), Some(e)) => self.time(key, field, g, e, bound),
            (None, None) => self.n_checks += 1,
            _ => self.fail(field, format!("presence differs: got {}, expected {}", fmt_opt(got), fmt_opt(expected))),
        }
    }

    pub fn merge(&mut self, other: Checker) {
        self.failures.extend(other.failures);
        self.n_checks += other.n_checks;
        for (k, w) in other.worst {
            let e = self.worst.entry(k).or_insert(Worst {
                ratio: f64::NEG_INFINITY,
                ratio_ctx: String::new(),
                err: f64::NEG_INFINITY,
                err_ctx: String::new(),
                unit: w.unit,
            });
            if w.ratio > e.ratio {
                e.ratio = w.ratio;
                e.ratio_ctx = w.ratio_ctx.clone();
            }
            if w.err > e.err {
                e.err = w.err;
                e.err_ctx = w.err_ctx;
            }
        }
    }

    /// The margin table (worst |err| / bound and worst raw error per quantity).
    pub fn summary(&self, title: &str) -> String {
        let mut s = format!("\n=== {title}: {} checks, {} failures ===\n", self.n_checks, self.failures.len());
        let _ =
            writeln!(s, "{:<34} {:>10}  {:<28} {:>10}      (where)", "quantity", "err/bound", "(where)", "worst err");
        for (k, w) in &self.worst {
            let _ = writeln!(
                s,
                "{:<34} {:>10.3e}  {:<28} {:>10.3e} {:<4} {}",
                k, w.ratio, w.ratio_ctx, w.err, w.unit, w.err_ctx
            );
        }
        s
    }

    /// Print the summary and panic with every violation if there is any.
    pub fn finish(self, title: &str) {
        println!("{}", self.summary(title));
        if !self.failures.is_empty() {
            let n = self.failures.len();
            let mut msg = format!("{title}: {n} violation(s):\n");
            for f in self.failures.iter().take(200) {
                msg.push_str("  ");
                msg.push_str(f);
                msg.push('\n');
            }
            if n > 200 {
                let _ = writeln!(msg, "  ... and {} more", n - 200);
            }
            panic!("{msg}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Slopes from the model (MODEL.md section 3), at OUR states
// ------------------------------------------------------------------------------------------

/// The parts of the right-hand side needed for `d ln y/dt` of the crossing quantities
/// (README: I_eff for doses, steroids and CRS days; L_tot for relapse; B for b_recovery_day).
pub struct ModelSlopes {
    p: Params,
    e: [f64; 4],
    e_b: f64,
}

impl ModelSlopes {
    pub fn new(sc: &Scenario) -> Self {
        let p = sc.params().clone();
        let targets = sc.product().targets();
        let mut e = [0.0; 4];
        for ph in Phenotype::ALL {
            e[ph.index()] = efficacy(targets, ph.antigens(), p.w_cd19, p.w_cd22);
        }
        let e_b = efficacy(targets, AntigenSet::BOTH, p.w_cd19, p.w_cd22);
        Self { p, e, e_b }
    }

    fn kills(&self, r: &Row) -> ([f64; 4], f64) {
        let p = &self.p;
        let mut k = [0.0; 4];
        for j in 0..4 {
            k[j] = p.k_kill * self.e[j] * r.e * r.l[j] / (p.k_k + r.e + r.l[j]);
        }
        let kb = p.k_kill * self.e_b * r.e * r.b / (p.k_k + r.e + r.b);
        (k, kb)
    }

    /// d ln I_eff / dt with the switches of the row held constant (= d ln I / dt).
    pub fn dln_ieff(&self, r: &Row) -> f64 {
        let p = &self.p;
        let (k, kb) = self.kills(r);
        let u = 1.0 - p.eps_s * (r.steroid as u8 as f64);
        let tt = r.toci as u8 as f64;
        let di = u * (p.p_i * 1e-9 * (k.iter().sum::<f64>() + kb) + p.p_ig * r.g)
            - p.k_i * (1.0 - p.c_t * tt) * (r.i - p.i_0);
        di / r.i
    }

    /// d ln B / dt.
    pub fn dln_b(&self, r: &Row) -> f64 {
        let p = &self.p;
        let (_, kb) = self.kills(r);
        (p.s_b - p.delta_b * r.b - kb) / r.b
    }

    /// d ln L_tot / dt.
    pub fn dln_ltot(&self, r: &Row) -> f64 {
        let p = &self.p;
        let (k, _) = self.kills(r);
        let lt: f64 = r.l.iter().sum();
        let mut d = 0.0;
        for j in 0..4 {
            d += p.r_l * r.l[j] * (1.0 - lt / p.k_l) - k[j];
        }
        d / lt
    }
}

/// How far before a crossing the "left" state is sampled (days).
pub const LEFT_EPS: f64 = 1e-7;

/// Our states just before the given times (`t - LEFT_EPS`), from a second solve of the same
/// scenario at the same tolerance (so the slope is "taken from the implementation's own
/// solution", README).
pub struct LeftStates {
    rows: Vec<Row>,
}

impl LeftStates {
    pub fn new(sc: &Scenario, cfg: &SolverConfig, times: &[f64]) -> Self {
        let mut ts: Vec<f64> = times.iter().map(|&t| (t - LEFT_EPS).max(0.0)).collect();
        ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
        ts.dedup();
        let out = OutputSpec { grid: Grid::Times(ts), event_rows: false };
        let sol = simulate(sc, cfg, &out).expect("slope solve");
        Self { rows: sol.rows }
    }

    /// The left state at `t` (row at `t - LEFT_EPS`).
    pub fn at(&self, t: f64) -> &Row {
        let tl = (t - LEFT_EPS).max(0.0);
        self.rows.iter().find(|r| r.t == tl).unwrap_or_else(|| {
            panic!("no left state at {t} (rows at {:?})", self.rows.iter().map(|r| r.t).collect::<Vec<_>>())
        })
    }
}

// ------------------------------------------------------------------------------------------
// Time bounds derived from our solution
// ------------------------------------------------------------------------------------------

const SAME_INSTANT: f64 = 1e-9;

/// The bound on each of our event times, and the rules for other crossing times.
pub struct TimeBounds<'a> {
    pub b: Bounds,
    pub sol: &'a Solution,
    pub slopes: ModelSlopes,
    pub left: LeftStates,
    pub tau_t: f64,
    /// Per event of `sol.events`: the bound on its time.
    pub event: Vec<f64>,
    /// Near-tangent allowance (README: 1 day on times after the trigger), default only.
    pub after_trigger: Option<(f64, f64)>,
}

/// The times at which a left state is needed for a solution.
pub fn crossing_times(sol: &Solution) -> Vec<f64> {
    let e = &sol.endpoints;
    let mut v: Vec<f64> = sol
        .events
        .iter()
        .filter(|ev| matches!(ev.kind, EventKind::TociReactive { .. } | EventKind::SteroidStart))
        .map(|ev| ev.t)
        .collect();
    v.extend(e.crs_threshold_days.iter().flatten());
    v.extend(e.crs_onset_day);
    v.extend(e.relapse_day);
    v.extend(e.b_recovery_day);
    v.push(28.0);
    v.push(e.tmax);
    v.retain(|&t| t > 0.0);
    v
}

impl<'a> TimeBounds<'a> {
    pub fn new(sc: &Scenario, b: Bounds, sol: &'a Solution) -> Self {
        let left = LeftStates::new(sc, &b.cfg(), &crossing_times(sol));
        let mut tb = Self {
            b,
            sol,
            slopes: ModelSlopes::new(sc),
            left,
            tau_t: sc.regimen().rules().toci_window_days,
            event: Vec::new(),
            after_trigger: None,
        };
        for k in 0..sol.events.len() {
            let ev = sol.events[k];
            let bound = match ev.kind {
                // Scheduled: fixed by the input.
                EventKind::Infusion { .. } | EventKind::TociProphylactic => b.cross_c,
                EventKind::TociReactive { .. } | EventKind::SteroidStart => tb.ieff_crossing(ev.t),
                // A window end inherits the time bound of the dose that set it (README: "A time
                // or value fixed by a switch ... inherits the tolerance of that switch's time").
                EventKind::TociEnd => (0..k)
                    .rev()
                    .find(|&d| {
                        matches!(sol.events[d].kind, EventKind::TociReactive { .. } | EventKind::TociProphylactic)
                            && (sol.events[d].t + tb.tau_t - ev.t).abs() <= SAME_INSTANT
                    })
                    .map_or(b.cross_c, |d| tb.event[d]),
                EventKind::SteroidEnd => (0..k)
                    .rev()
                    .find(|&d| matches!(sol.events[d].kind, EventKind::SteroidStart))
                    .map_or(b.cross_c, |d| tb.event[d]),
                // README: extinction days 1e-5 (tight) / 1e-2 (default) day.
                EventKind::Extinction { .. } => b.ext,
                _ => b.cross_c,
            };
            tb.event.push(bound);
        }
        tb
    }

    /// Bound of an I_eff crossing at our time `t`: inherited from a tocilizumab wear-off at the
    /// same instant (the jump fires it), else max(c, c / |d ln I_eff/dt|) from our left state.
    pub fn ieff_crossing(&self, t: f64) -> f64 {
        for (k, ev) in self.sol.events.iter().enumerate() {
            if k < self.event.len() && matches!(ev.kind, EventKind::TociEnd) && (ev.t - t).abs() <= SAME_INSTANT {
                return self.event[k];
            }
        }
        self.b.crossing(self.slopes.dln_ieff(self.left.at(t)))
    }

    /// The largest bound of any of our events at the instant `t` (0 if none).
    pub fn switch_at(&self, t: f64) -> f64 {
        self.sol
            .events
            .iter()
            .zip(&self.event)
            .filter(|(ev, _)| (ev.t - t).abs() <= SAME_INSTANT)
            .map(|(_, &b)| b)
            .fold(0.0, f64::max)
    }

    /// README: times of maxima 1e-4 / 0.1 day; a maximum on a switch inherits its bound.
    pub fn maximum(&self, t: f64) -> f64 {
        self.b.tmax.max(self.switch_at(t))
    }

    pub fn relapse(&self, t: f64) -> f64 {
        self.b.crossing(self.slopes.dln_ltot(self.left.at(t)))
    }

    /// B recovery: 28 exactly when B(28) >= b_recovery (a fixed time), else the slope rule.
    pub fn b_recovery(&self, t: f64) -> f64 {
        if t == 28.0 {
            self.b.cross_c
        } else {
            self.b.crossing(self.slopes.dln_b(self.left.at(t)))
        }
    }

    /// Apply the near-tangent allowance (README: 1 day on times after the trigger).
    pub fn adjust(&self, bound: f64, t_expected: f64) -> f64 {
        match self.after_trigger {
            Some((t_trig, extra)) if t_expected > t_trig + SAME_INSTANT => bound.max(extra),
            _ => bound,
        }
    }

    /// Default tolerance only (README: "a blast total just before its extinction ...
    /// inherits the extinction-time bound"): an absolute allowance on L_tot at time `t` for
    /// every phenotype that is still present at `t` and goes extinct later in our solution:
    /// `L_j(t) x |d ln L_j/dt| x ext_bound`, with the slope averaged over the rest of its fall,
    /// `ln(L_j(t) / n_ext) / (t_ext - t)` (our solution).
    pub fn ltot_extinction_allowance(&self, t: f64, n_ext: f64) -> f64 {
        if !self.b.is_default {
            return 0.0;
        }
        let row = self.left.at(t);
        let mut extra = 0.0;
        for (ph, d) in &self.sol.endpoints.extinction_days.0 {
            let lj = row.l[ph.index()];
            if let Some(te) = *d {
                if te > t && lj > n_ext {
                    let slope = (lj / n_ext).ln() / (te - t);
                    extra += lj * slope * self.b.ext;
                }
            }
        }
        extra
    }
}

// ------------------------------------------------------------------------------------------
// Endpoint comparison (reference `endpoints` object shape)
// ------------------------------------------------------------------------------------------

fn opt_f(v: &Value) -> Option<f64> {
    if v.is_null() {
        None
    } else {
        Some(v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")))
    }
}

/// Extra allowances for one comparison (README's near-tangent triggers, default tolerance).
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowance {
    /// Minimum relative bound on amounts (README: 1e-2 for 142, 123, 98).
    pub amount_rel: Option<f64>,
    /// (trigger time in the reference, minimum bound on any later time) (README: 1 day).
    pub after_trigger: Option<(f64, f64)>,
}

/// Compare our endpoints with the reference object. Fields missing from `r` are skipped (the
/// population CSV lacks some); `r` uses the names of `<name>_endpoints.json`.
pub fn compare_endpoints(
    chk: &mut Checker,
    sc: &Scenario,
    sol: &Solution,
    r: &Map<String, Value>,
    tb: &TimeBounds,
    allow: Allowance,
) {
    let b = tb.b;
    let e = &sol.endpoints;
    let p = sc.params();
    let has = |k: &str| r.contains_key(k);
    let get = |k: &str| &r[k];

    // ---- discrete: exact (README: "discrete endpoints and the event log: exact")
    if has("cr_day28") {
        chk.discrete("cr_day28", e.cr_day28, get("cr_day28").as_bool().unwrap());
    }
    if has("mrd_neg_day28") {
        chk.discrete("mrd_neg_day28", e.mrd_neg_day28, get("mrd_neg_day28").as_bool().unwrap());
    }
    if has("relapse_phenotype") {
        chk.discrete(
            "relapse_phenotype",
            e.relapse_phenotype.map(|ph| ph.name().to_string()),
            get("relapse_phenotype").as_str().map(str::to_string),
        );
    }
    if has("cd19_negative_relapse") {
        chk.discrete("cd19_negative_relapse", e.cd19_negative_relapse, get("cd19_negative_relapse").as_bool());
    }
    if has("efs_censored") {
        chk.discrete("efs_censored", e.efs_censored, get("efs_censored").as_bool().unwrap());
    }
    if has("cured") {
        chk.discrete("cured", e.cured, get("cured").as_bool().unwrap());
    }
    if has("crs_grade") {
        chk.discrete("crs_grade", e.crs_grade as u64, get("crs_grade").as_u64().unwrap());
    }
    if has("toci_days") {
        let rt: Vec<f64> = get("toci_days").as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        chk.discrete("number of toci doses", e.toci_days.len(), rt.len());
        if e.toci_days.len() == rt.len() {
            for (k, (&g, &x)) in e.toci_days.iter().zip(&rt).enumerate() {
                // Each dose: an event of our log; its bound is that event's.
                let bound = sol
                    .events
                    .iter()
                    .zip(&tb.event)
                    .filter(|(ev, _)| {
                        matches!(ev.kind, EventKind::TociReactive { .. } | EventKind::TociProphylactic) && ev.t == g
                    })
                    .map(|(_, &bd)| bd)
                    .next()
                    .unwrap_or(b.cross_c);
                chk.time("toci_days", &format!("toci_days[{k}]"), g, x, tb.adjust(bound, x));
            }
        }
    }
    if has("steroid_day") {
        let x = opt_f(get("steroid_day"));
        chk.discrete("steroids given", e.steroid_day.is_some(), x.is_some());
        if let (Some(g), Some(x)) = (e.steroid_day, x) {
            let bound = tb.switch_at(g).max(b.cross_c);
            chk.time("steroid_day", "steroid_day", g, x, tb.adjust(bound, x));
        }
    }
    if has("extinction_days") {
        let rx = get("extinction_days").as_object().unwrap();
        let ours: Vec<String> = e.extinction_days.0.iter().map(|(ph, _)| ph.name().to_string()).collect();
        let theirs: Vec<String> = rx.keys().cloned().collect();
        let mut o2 = ours.clone();
        o2.sort();
        let mut t2 = theirs.clone();
        t2.sort();
        chk.discrete("extinction_days: present phenotypes", o2, t2);
        for (ph, d) in &e.extinction_days.0 {
            if let Some(x) = rx.get(ph.name()) {
                let x = opt_f(x);
                let f = format!("extinction_days.{}", ph.name());
                chk.discrete(&format!("{f} (extinct?)"), d.is_some(), x.is_some());
                if let (Some(g), Some(x)) = (*d, x) {
                    // README: extinction days 1e-5 / 1e-2 day.
                    chk.time("extinction_days", &f, g, x, tb.adjust(b.ext, x));
                }
            }
        }
    }
    if has("cure_day") {
        let x = opt_f(get("cure_day"));
        chk.discrete("cure_day present", e.cure_day.is_some(), x.is_some());
        if let (Some(g), Some(x)) = (e.cure_day, x) {
            chk.time("cure_day", "cure_day", g, x, tb.adjust(b.ext, x));
        }
    }

    // ---- crossing times (README: max(c, c / |d ln y/dt|), slope from our solution)
    if has("relapse_day") {
        let x = opt_f(get("relapse_day"));
        chk.discrete("relapse occurs", e.relapse_day.is_some(), x.is_some());
        if let (Some(g), Some(x)) = (e.relapse_day, x) {
            chk.time("relapse_day", "relapse_day", g, x, tb.adjust(tb.relapse(g), x));
        }
    }
    if has("efs_event_day") {
        let x = get("efs_event_day").as_f64().unwrap();
        let g = e.efs_event_day;
        // 28 (no CR) and the horizon (censored) are fixed times; else the relapse day.
        let bound = match e.relapse_day {
            Some(rd) if rd == g => tb.relapse(g),
            _ => b.cross_c,
        };
        chk.time("efs_event_day", "efs_event_day", g, x, tb.adjust(bound, x));
    }
    if has("crs_onset_day") {
        let x = opt_f(get("crs_onset_day"));
        if let (Some(g), Some(xv)) = (e.crs_onset_day, x) {
            chk.time("crs_onset_day", "crs_onset_day", g, xv, tb.adjust(tb.ieff_crossing(g), xv));
        } else {
            chk.opt_time("crs_onset_day", "crs_onset_day", e.crs_onset_day, x, 0.0);
        }
    }
    if has("crs_threshold_days") {
        let rx = get("crs_threshold_days").as_array().unwrap();
        for k in 0..4 {
            let x = opt_f(&rx[k]);
            let g = e.crs_threshold_days[k];
            let f = format!("crs_threshold_days[{k}]");
            if let (Some(g), Some(xv)) = (g, x) {
                chk.time("crs_threshold_days", &f, g, xv, tb.adjust(tb.ieff_crossing(g), xv));
            } else {
                chk.opt_time("crs_threshold_days", &f, g, x, 0.0);
            }
        }
    }
    if has("b_recovery_day") {
        let x = opt_f(get("b_recovery_day"));
        if let (Some(g), Some(xv)) = (e.b_recovery_day, x) {
            chk.time("b_recovery_day", "b_recovery_day", g, xv, tb.adjust(tb.b_recovery(g), xv));
        } else {
            chk.opt_time("b_recovery_day", "b_recovery_day", e.b_recovery_day, x, 0.0);
        }
    }

    // ---- times of maxima (README: 1e-4 / 0.1 day; on a switch: that switch's bound)
    for (k, g) in [
        ("tmax", e.tmax),
        ("t_peak_il6", e.t_peak_il6),
        ("t_peak_ifng", e.t_peak_ifng),
        ("t_peak_signal", e.t_peak_signal),
    ] {
        if has(k) {
            let x = get(k).as_f64().unwrap();
            chk.time(k, k, g, x, tb.adjust(tb.maximum(g), x));
        }
    }

    // ---- continuous amounts (README: 1e-6 / 1e-3 relative; cell counts also 1 / 1e3 cells)
    let rel = allow.amount_rel.map_or(b.rel, |a| a.max(b.rel));
    let cells = b.cells_abs;
    let n_ext = p.n_ext.max(1.0);
    let l28_extra = if has("Ltot_day28") || has("f_day28") { tb.ltot_extinction_allowance(28.0, n_ext) } else { 0.0 };
    let amounts: [(&str, f64, f64); 13] = [
        ("cmax", e.cmax, cells),
        ("auc28", e.auc28, cells),
        ("cmax_copies", e.cmax_copies, cells * sc.definitions().copies_per_cell),
        ("peak_il6", e.peak_il6, 0.0),
        ("peak_ifng", e.peak_ifng, 0.0),
        ("peak_signal", e.peak_signal, 0.0),
        // f ~ L_tot / H for small f: the cell floor and the extinction allowance carry over.
        ("f_day28", e.f_day28, (cells + l28_extra) / p.h),
        ("Ltot_day28", e.ltot_day28, cells + l28_extra),
        ("B_day28", e.b_day28, cells),
        ("C_end", e.c_end, cells),
        ("M_end", e.m_end, cells),
        ("B_end", e.b_end, cells),
        ("Ltot_end", e.ltot_end, cells),
    ];
    for (k, g, floor) in amounts {
        if has(k) {
            let x = get(k).as_f64().unwrap();
            chk.amount(k, k, g, x, (rel * x.abs()).max(floor));
        }
    }
}

/// Compare the event log (README: same kinds in the same order, same phenotypes / dose numbers
/// / triggers / cells; times within the time bound of each event).
pub fn compare_events(chk: &mut Checker, sol: &Solution, reference: &[Value], tb: &TimeBounds) {
    let ours: Vec<Value> = sol.events.iter().map(|ev| serde_json::to_value(ev).unwrap()).collect();
    let strip = |v: &Value| {
        let mut m = v.as_object().unwrap().clone();
        m.remove("t");
        Value::Object(m)
    };
    let kinds = |v: &[Value]| v.iter().map(|x| strip(x).to_string()).collect::<Vec<_>>();
    if kinds(&ours) != kinds(reference) {
        chk.fail(
            "events",
            format!(
                "event log differs in kinds/order/details:\n    got      {:?}\n    expected {:?}",
                kinds(&ours),
                kinds(reference)
            ),
        );
        return;
    }
    chk.n_checks += 1;
    for (k, (o, x)) in ours.iter().zip(reference).enumerate() {
        let g = o["t"].as_f64().unwrap();
        let xt = x["t"].as_f64().unwrap();
        let name = o["kind"].as_str().unwrap();
        chk.time(&format!("event time: {name}"), &format!("events[{k}] ({name}).t"), g, xt, tb.adjust(tb.event[k], xt));
    }
}

// ------------------------------------------------------------------------------------------
// CSV
// ------------------------------------------------------------------------------------------

/// A CSV file with a header: columns by name, cells as strings (the crate's table reader,
/// panicking on errors as a test should).
pub struct Csv {
    pub header: Vec<String>,
    table: cartkin::population::TextTable,
}

impl Csv {
    pub fn read(path: &std::path::Path) -> Self {
        let table = cartkin::population::TextTable::read(path).unwrap_or_else(|e| panic!("{e}"));
        Self { header: table.columns().to_vec(), table }
    }
    pub fn len(&self) -> usize {
        self.table.len()
    }
    pub fn col(&self, name: &str) -> usize {
        self.table.column(name).unwrap_or_else(|e| panic!("{e}"))
    }
    pub fn f(&self, row: usize, name: &str) -> f64 {
        self.table.number(row, self.col(name)).unwrap_or_else(|e| panic!("{e}"))
    }
    pub fn opt(&self, row: usize, name: &str) -> Option<f64> {
        if self.s(row, name).is_empty() {
            None
        } else {
            Some(self.f(row, name))
        }
    }
    pub fn s(&self, row: usize, name: &str) -> &str {
        self.table.text(row, self.col(name))
    }
}

/// Our row's value for a reference trajectory column.
pub fn row_value(r: &Row, col: &str) -> f64 {
    match col {
        "t" => r.t,
        "E" => r.e,
        "M" => r.m,
        "X" => r.x,
        "B" => r.b,
        "G" => r.g,
        "I" => r.i,
        "I_eff" => r.i_eff,
        "T" => r.toci as u8 as f64,
        "S" => r.steroid as u8 as f64,
        c if c.starts_with("L_") => {
            let ph = Phenotype::ALL.iter().find(|p| p.name() == &c[2..]).unwrap_or_else(|| panic!("bad column {c}"));
            r.l[ph.index()]
        }
        c => panic!("unknown column {c}"),
    }
}

pub fn json_bool(b: bool) -> Value {
    json!(b)
}
