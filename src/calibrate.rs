//! Calibration of a study to published trial-level targets (docs/ANALYSIS.md).
//!
//! *Targets* are summary quantities with the interval a trial gives them (a rate with its
//! Wilson interval, a median with its tolerance), read from a TOML file; *knobs* are study
//! settings ([`crate::study::Study::with_settings`] paths) with bounds. [`calibrate`] searches
//! the knobs with a documented Nelder–Mead simplex on the loss
//!
//! ```text
//! loss(x) = sum_i ((v_i(x) - c_i) / h_i)^2,   c_i = (low_i + high_i) / 2,  h_i = (high_i - low_i) / 2
//! ```
//!
//! (each target's distance from the centre of its interval in half-widths: below 1 inside
//! the interval), with common random numbers (every evaluation runs the same patients: the
//! study's seed), then checks the best knobs once more at a fresh seed and reports every
//! target's interval, value and Wilson interval where the target is a rate.
//!
//! ```
//! use cartkin::calibrate::{nelder_mead, NelderMead};
//! // the minimum of a quadratic bowl inside the unit square
//! let r = nelder_mead(|x| (x[0] - 0.3).powi(2) + (x[1] - 0.7).powi(2), &[0.5, 0.5], &NelderMead::default());
//! assert!((r.x[0] - 0.3).abs() < 1e-3 && (r.x[1] - 0.7).abs() < 1e-3);
//! ```

use crate::study::{Study, StudyError};
use serde_json::Value;
use std::path::Path;

/// Errors of the calibration files and runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// A targets or knobs file that cannot be read or is invalid.
    #[error("{file}: {message}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A study setting refused (a knob's path or value).
    #[error(transparent)]
    Study(#[from] StudyError),
    /// A target key the study's summary does not have (or not a number).
    #[error(
        "target {0:?}: not a number in the study's summary.json (see the summary's keys; nested keys as itt.cr_rate)"
    )]
    MissingKey(String),
}

/// One target: a summary key and its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Key of `summary.json` (nested with dots: `itt.cr_rate`, `quantiles.tmax.p50`).
    pub key: String,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Where the interval comes from.
    pub source: String,
}

/// One knob: a study setting and its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Knob {
    /// The setting's path ([`Study::with_settings`]).
    pub path: String,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Searched on a log scale (needs `lo > 0`).
    pub log: bool,
    /// Start value (default: the study's own value, clamped into the bounds).
    pub start: Option<f64>,
}

impl Knob {
    /// The value at `u` in [0, 1] of the search cube.
    pub fn value(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        if self.log {
            (self.lo.ln() + u * (self.hi / self.lo).ln()).exp().clamp(self.lo, self.hi)
        } else {
            self.lo + u * (self.hi - self.lo)
        }
    }

    /// Where `v` lies in the search cube.
    pub fn unit(&self, v: f64) -> f64 {
        let v = v.clamp(self.lo, self.hi);
        let u =
            if self.log { (v / self.lo).ln() / (self.hi / self.lo).ln() } else { (v - self.lo) / (self.hi - self.lo) };
        if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.5
        }
    }
}

fn file_err(file: &Path, message: impl Into<String>) -> CalibrationError {
    CalibrationError::File { file: file.display().to_string(), message: message.into() }
}

fn read_table(path: &Path) -> Result<toml::Table, CalibrationError> {
    let text = crate::io::read_capped(path, crate::io::MAX_INPUT_BYTES).map_err(|e| file_err(path, e.to_string()))?;
    text.parse::<toml::Table>().map_err(|e| file_err(path, format!("TOML: {}", e.message())))
}

fn num(path: &Path, what: &str, t: &toml::Table, k: &str) -> Result<Option<f64>, CalibrationError> {
    match t.get(k) {
        None => Ok(None),
        Some(toml::Value::Float(x)) if x.is_finite() => Ok(Some(*x)),
        Some(toml::Value::Integer(i)) => Ok(Some(*i as f64)),
        Some(v) => Err(file_err(path, format!("{what}.{k}: expected a finite number, found {v}"))),
    }
}

fn entries<'a>(path: &Path, t: &'a toml::Table, k: &str) -> Result<Vec<&'a toml::Table>, CalibrationError> {
    let Some(toml::Value::Array(a)) = t.get(k) else {
        return Err(file_err(path, format!("expected [[{k}]] entries")));
    };
    if a.is_empty() || a.len() > 100 {
        return Err(file_err(path, format!("{} [[{k}]] entries: give 1 to 100", a.len())));
    }
    a.iter()
        .enumerate()
        .map(|(i, v)| v.as_table().ok_or_else(|| file_err(path, format!("{k}[{i}]: expected a table"))))
        .collect()
}

fn only_keys(path: &Path, what: &str, t: &toml::Table, keys: &[&str]) -> Result<(), CalibrationError> {
    for k in t.keys() {
        if !keys.contains(&k.as_str()) {
            return Err(file_err(path, format!("{what}: unknown key {k:?} (keys: {})", keys.join(", "))));
        }
    }
    Ok(())
}

/// Read a targets file: `[[target]]` entries with `key`, `low`, `high` and optionally
/// `source` (docs/ANALYSIS.md).
///
/// # Errors
/// An unreadable file, unknown keys, a missing key, `low >= high`.
pub fn read_targets(path: &Path) -> Result<Vec<Target>, CalibrationError> {
    let t = read_table(path)?;
    only_keys(path, "targets file", &t, &["target"])?;
    let mut out = Vec::new();
    for (i, e) in entries(path, &t, "target")?.into_iter().enumerate() {
        let what = format!("target[{i}]");
        only_keys(path, &what, e, &["key", "low", "high", "source"])?;
        let key = e
            .get("key")
            .and_then(|v| v.as_str())
            .ok_or_else(|| file_err(path, format!("{what}.key: missing (a summary.json key)")))?;
        let low = num(path, &what, e, "low")?.ok_or_else(|| file_err(path, format!("{what}.low: missing")))?;
        let high = num(path, &what, e, "high")?.ok_or_else(|| file_err(path, format!("{what}.high: missing")))?;
        if !(low < high) {
            return Err(file_err(path, format!("{what}: low {low} must be below high {high}")));
        }
        let source = e.get("source").and_then(|v| v.as_str()).unwrap_or("").to_string();
        out.push(Target { key: key.to_string(), low, high, source });
    }
    Ok(out)
}

/// Read a knobs file: `[[knob]]` entries with `path`, `lo`, `hi` and optionally
/// `scale = "log" | "linear"` (default linear) and `start`.
///
/// # Errors
/// An unreadable file, unknown keys, `lo >= hi`, a log scale with `lo <= 0`, a start out of
/// bounds.
pub fn read_knobs(path: &Path) -> Result<Vec<Knob>, CalibrationError> {
    read_ranges(path, "knob")
}

/// Read a sensitivity factors file: `[[factor]]` entries with `path` (a study setting),
/// `lo`, `hi` and optionally `scale = "log" | "linear"` (the knobs file's format under
/// another name; `start` is ignored).
///
/// # Errors
/// As [`read_knobs`].
pub fn read_factors(path: &Path) -> Result<Vec<Knob>, CalibrationError> {
    read_ranges(path, "factor")
}

fn read_ranges(path: &Path, entry: &str) -> Result<Vec<Knob>, CalibrationError> {
    let t = read_table(path)?;
    only_keys(path, &format!("{entry}s file"), &t, &[entry])?;
    let mut out: Vec<Knob> = Vec::new();
    for (i, e) in entries(path, &t, entry)?.into_iter().enumerate() {
        let what = format!("{entry}[{i}]");
        only_keys(path, &what, e, &["path", "lo", "hi", "scale", "start"])?;
        let p = e
            .get("path")
            .and_then(|v| v.as_str())
            .ok_or_else(|| file_err(path, format!("{what}.path: missing (a study setting, e.g. typical.rho_E)")))?;
        if out.iter().any(|k| k.path == p) {
            return Err(file_err(path, format!("{what}.path: {p} is given twice")));
        }
        let lo = num(path, &what, e, "lo")?.ok_or_else(|| file_err(path, format!("{what}.lo: missing")))?;
        let hi = num(path, &what, e, "hi")?.ok_or_else(|| file_err(path, format!("{what}.hi: missing")))?;
        if !(lo < hi) {
            return Err(file_err(path, format!("{what}: lo {lo} must be below hi {hi}")));
        }
        let log = match e.get("scale").map(|v| v.as_str()) {
            None | Some(Some("linear")) => false,
            Some(Some("log")) => true,
            Some(_) => return Err(file_err(path, format!("{what}.scale: \"log\" or \"linear\""))),
        };
        if log && lo <= 0.0 {
            return Err(file_err(path, format!("{what}: a log scale needs lo > 0")));
        }
        let start = num(path, &what, e, "start")?;
        if let Some(s) = start {
            if !(lo..=hi).contains(&s) {
                return Err(file_err(path, format!("{what}.start: {s} is outside [{lo}, {hi}]")));
            }
        }
        out.push(Knob { path: p.to_string(), lo, hi, log, start });
    }
    Ok(out)
}

/// The number at a dotted key of a summary (`cr_rate`, `itt.cr_rate`, `quantiles.tmax.p50`).
pub fn lookup(summary: &Value, key: &str) -> Option<f64> {
    key.split('.').try_fold(summary, |v, k| v.get(k))?.as_f64()
}

/// Run a study's trial and return its summary JSON.
pub fn summary_of(study: &Study) -> Value {
    struct Summary;
    impl crate::study::TrialVisitor for Summary {
        type Output = Value;
        fn visit<S: crate::trial::PatientSource>(self, t: crate::trial::Trial<S>) -> Value {
            t.run(&mut |_| {}, None).to_json()
        }
    }
    study.with_trial(Summary).unwrap_or(Value::Null)
}

/// The loss of a summary against targets (module docs); a missing target counts as a
/// distance of 10 half-widths (a trial that gives no value, e.g. no responder, is far).
pub fn loss(summary: &Value, targets: &[Target]) -> f64 {
    targets
        .iter()
        .map(|t| {
            let c = 0.5 * (t.low + t.high);
            let h = 0.5 * (t.high - t.low);
            match lookup(summary, &t.key) {
                Some(v) if v.is_finite() => ((v - c) / h).powi(2),
                _ => 100.0,
            }
        })
        .sum()
}

/// Nelder–Mead settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NelderMead {
    /// Initial simplex: the start plus `step` along each axis (of the unit cube; away from
    /// the nearer bound).
    pub step: f64,
    /// Stop after this many evaluations.
    pub max_evals: usize,
    /// Stop when the simplex's values differ by less than this.
    pub f_tol: f64,
    /// Stop when the simplex is smaller than this (largest coordinate distance to the best).
    pub x_tol: f64,
    /// Restarts from the best point with a fresh simplex (half the previous step each time)
    /// after a convergence, while evaluations remain: a simplex stuck on a flat step of a
    /// Monte Carlo loss gets a new chance.
    pub restarts: usize,
}

impl Default for NelderMead {
    fn default() -> Self {
        Self { step: 0.15, max_evals: 400, f_tol: 1e-10, x_tol: 1e-6, restarts: 3 }
    }
}

/// The result of [`nelder_mead`].
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The best point (unit cube).
    pub x: Vec<f64>,
    /// Its value.
    pub f: f64,
    /// Evaluations made.
    pub evals: usize,
}

/// Minimise `f` over the unit cube `[0, 1]^n` from `x0` by the Nelder–Mead simplex method
/// (Nelder & Mead 1965, Comput. J. 7:308) with the standard coefficients (reflection 1,
/// expansion 2, contraction 0.5, shrink 0.5) and every point clamped into the cube, restarted
/// from the best point [`NelderMead::restarts`] times. Ties keep the earlier vertex;
/// deterministic.
pub fn nelder_mead(mut f: impl FnMut(&[f64]) -> f64, x0: &[f64], opt: &NelderMead) -> Minimum {
    let mut best = simplex_search(&mut f, x0, opt.step, opt.max_evals, opt);
    let mut step = opt.step;
    for _ in 0..opt.restarts {
        step *= 0.5;
        let left = opt.max_evals.saturating_sub(best.evals);
        if left <= x0.len() + 1 {
            break;
        }
        let again = simplex_search(&mut f, &best.x, step, left, opt);
        let evals = best.evals + again.evals;
        if again.f < best.f {
            best = again;
        }
        best.evals = evals;
    }
    best
}

fn simplex_search(
    mut f: impl FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: f64,
    max_evals: usize,
    opt: &NelderMead,
) -> Minimum {
    let n = x0.len();
    let clamp = |x: Vec<f64>| x.into_iter().map(|v| v.clamp(0.0, 1.0)).collect::<Vec<_>>();
    let mut evals = 0;
    let mut eval = |x: &[f64], evals: &mut usize| {
        *evals += 1;
        let v = f(x);
        if v.is_nan() {
            f64::INFINITY
        } else {
            v
        }
    };
    let start = clamp(x0.to_vec());
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    let f0 = eval(&start, &mut evals);
    simplex.push((start.clone(), f0));
    for i in 0..n {
        let mut x = start.clone();
        x[i] = if x[i] + step <= 1.0 { x[i] + step } else { x[i] - step };
        let fx = eval(&x, &mut evals);
        simplex.push((x, fx));
    }
    while evals < max_evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[n].1);
        let size = simplex[1..]
            .iter()
            .map(|(x, _)| x.iter().zip(&simplex[0].0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max))
            .fold(0.0, f64::max);
        if (worst - best).abs() <= opt.f_tol || size <= opt.x_tol {
            break;
        }
        let centroid: Vec<f64> =
            (0..n).map(|j| simplex[..n].iter().map(|(x, _)| x[j]).sum::<f64>() / n as f64).collect();
        let along = |t: f64| clamp(centroid.iter().zip(&simplex[n].0).map(|(c, w)| c + t * (c - w)).collect());
        let xr = along(1.0);
        let fr = eval(&xr, &mut evals);
        if fr < simplex[0].1 {
            let xe = along(2.0);
            let fe = eval(&xe, &mut evals);
            simplex[n] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (xr, fr);
        } else {
            let (xc, fc) = if fr < simplex[n].1 {
                let xc = along(0.5);
                let fc = eval(&xc, &mut evals);
                (xc, fc)
            } else {
                let xc = along(-0.5);
                let fc = eval(&xc, &mut evals);
                (xc, fc)
            };
            if fc < simplex[n].1.min(fr) {
                simplex[n] = (xc, fc);
            } else {
                let b = simplex[0].0.clone();
                for v in simplex.iter_mut().skip(1) {
                    let x: Vec<f64> = v.0.iter().zip(&b).map(|(a, c)| c + 0.5 * (a - c)).collect();
                    let fx = eval(&x, &mut evals);
                    *v = (x, fx);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (x, f) = simplex.swap_remove(0);
    Minimum { x, f, evals }
}

/// One target's line of a calibration report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TargetResult {
    /// The summary key.
    pub key: String,
    /// Its interval.
    pub low: f64,
    /// Its interval.
    pub high: f64,
    /// The value at the best knobs, with the search's seed.
    pub value: Option<f64>,
    /// The value at the check seed.
    pub check_value: Option<f64>,
    /// Its Wilson 95% interval at the check seed (rates).
    pub check_ci: Option<(f64, f64)>,
    /// Within the interval at the check seed.
    pub within: bool,
    /// Where the interval comes from.
    pub source: String,
}

/// A calibration's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// The best knob values, by path.
    pub knobs: Vec<(String, f64)>,
    /// Loss at the start and at the best knobs (search seed), and at the check seed.
    pub loss_start: f64,
    /// Loss at the best knobs.
    pub loss: f64,
    /// Loss at the check seed.
    pub loss_check: f64,
    /// Trials run.
    pub evaluations: usize,
    /// Per target.
    pub targets: Vec<TargetResult>,
    /// Seeds: the search's and the check's.
    pub seed: u64,
    /// The check's seed.
    pub check_seed: u64,
    /// Patients per trial.
    pub patients: u64,
}

/// Calibrate `study`'s knobs to `targets` (module docs): the search runs every trial with
/// the study's seed and patients (common random numbers), then the best knobs are run once
/// more with `check_seed`.
///
/// # Errors
/// A knob path the study does not have or a value it refuses; a target key missing from the
/// study's summary.
pub fn calibrate(
    study: &Study,
    targets: &[Target],
    knobs: &[Knob],
    check_seed: u64,
    opt: &NelderMead,
) -> Result<Calibration, CalibrationError> {
    let start: Vec<f64> = knobs
        .iter()
        .map(|k| {
            let v = k.start.or_else(|| study.setting(&k.path)).ok_or_else(|| {
                CalibrationError::Study(StudyError::Invalid {
                    file: study.name.clone(),
                    key: k.path.clone(),
                    message: "not a number of this study (`cartkin study show` lists its keys)".into(),
                })
            })?;
            Ok(k.unit(v))
        })
        .collect::<Result<_, CalibrationError>>()?;
    let settings =
        |u: &[f64]| -> Vec<(String, f64)> { knobs.iter().zip(u).map(|(k, &x)| (k.path.clone(), k.value(x))).collect() };
    // the start must be a valid study with every target present
    let first = study.with_settings(&settings(&start))?;
    let s0 = summary_of(&first);
    for t in targets {
        if lookup(&s0, &t.key).is_none() {
            return Err(CalibrationError::MissingKey(t.key.clone()));
        }
    }
    let loss_start = loss(&s0, targets);
    let min = nelder_mead(
        |u| match study.with_settings(&settings(u)) {
            Ok(s) => loss(&summary_of(&s), targets),
            Err(_) => f64::INFINITY,
        },
        &start,
        opt,
    );
    let best = settings(&min.x);
    let at_best = study.with_settings(&best)?;
    let s_best = summary_of(&at_best);
    let mut check = at_best.clone();
    check.seed = check_seed;
    let s_check = summary_of(&check);
    let results = targets
        .iter()
        .map(|t| {
            let v = lookup(&s_check, &t.key);
            let ci =
                match (lookup(&s_check, &format!("{}_ci_low", t.key)), lookup(&s_check, &format!("{}_ci_high", t.key)))
                {
                    (Some(a), Some(b)) => Some((a, b)),
                    _ => None,
                };
            TargetResult {
                key: t.key.clone(),
                low: t.low,
                high: t.high,
                value: lookup(&s_best, &t.key),
                check_value: v,
                check_ci: ci,
                within: v.is_some_and(|v| (t.low..=t.high).contains(&v)),
                source: t.source.clone(),
            }
        })
        .collect();
    Ok(Calibration {
        knobs: best,
        loss_start,
        loss: loss(&s_best, targets),
        loss_check: loss(&s_check, targets),
        evaluations: min.evals + 3,
        targets: results,
        seed: study.seed,
        check_seed,
        patients: study.patients,
    })
}

impl Calibration {
    /// The report as text: knobs, then one line per target.
    pub fn report(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Calibration: {} trials of {} patients (seed {}); loss {:.4} -> {:.4}; check at seed {}: loss {:.4}",
            self.evaluations, self.patients, self.seed, self.loss_start, self.loss, self.check_seed, self.loss_check
        );
        let _ = writeln!(s, "Knobs");
        for (p, v) in &self.knobs {
            let _ = writeln!(s, "  {p:<40} {v:.6}");
        }
        let _ = writeln!(s, "Targets (value at the search seed; at the check seed with its 95% CI)");
        for t in &self.targets {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            let ci = t.check_ci.map_or(String::new(), |(a, b)| format!(" ({a:.4}-{b:.4})"));
            let _ = writeln!(
                s,
                "  {:<28} [{:.4}, {:.4}]  {:>10}  {:>10}{ci}  {}",
                t.key,
                t.low,
                t.high,
                f(t.value),
                f(t.check_value),
                if t.within { "within" } else { "OUTSIDE" }
            );
        }
        s
    }
}
