//! Calibration of the ELIANA-like default population (`Population::eliana_like`) against the
//! pivotal tisagenlecleucel trial; `CALIBRATION.md` explains the targets and the method.
//!
//! ```text
//! cargo run --release --example calibrate                     # the documented search
//! cargo run --release --example calibrate -- [--patients N] [--seed S] [--max-evals E]
//! cargo run --release --example calibrate -- [--patients N] [--seed S]
//!     [--set KNOB=V ...] --grid KNOB=V1,V2,... [--grid ...]    # a hand search
//! ```
//!
//! Without `--grid` the documented search runs, the library's [`cartkin::calibrate::calibrate`]
//! (what `cartkin calibrate` runs): the three knobs tuned last by hand
//! (`studies/targets/eliana_v1_knobs.toml`: `K_C`, fold expansion; `p_IG`, CRS grades; the CV
//! of `delta_E`, response and grade-0 CRS) searched from starts off their hand values against
//! ELIANA's targets (`studies/targets/eliana.toml`) on `studies/eliana_v1.toml`, N patients
//! per trial (default 2,000), then the best point's MRD ratio (not a target of the file) and
//! kinetics (between-patient CV of Cmax, contraction half-lives) on the first 400 patients.
//!
//! With `--grid`, each grid point (the cartesian product of the `--grid` lists, applied on
//! top of the calibrated knobs and any `--set`) runs a virtual trial of N patients and prints
//! the eight contract quantities, how many fall inside their intervals and a distance outside
//! them (sum over targets of the distance to the interval in units of the interval's width):
//! how the population was searched by hand before the command existed. Knob names:
//! `ElianaCalibration::NAMES` (`src/population/eliana.rs`).

use cartkin::population::Population;
use cartkin::trial::Trial;
use cartkin::Grid;
use std::process::ExitCode;

/// ELIANA's targets, `studies/targets/eliana.toml` (the one table; the MRD ratio is checked
/// separately).
fn targets() -> Vec<cartkin::calibrate::Target> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/targets/eliana.toml");
    cartkin::calibrate::read_targets(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The documented search: `cartkin calibrate studies/eliana_v1.toml --targets
/// studies/targets/eliana.toml --knobs studies/targets/eliana_v1_knobs.toml`, then the best
/// point's MRD ratio and kinetics.
fn documented(n: u64, seed: u64, max_evals: usize) -> Result<(), String> {
    use cartkin::calibrate::{calibrate, read_knobs, summary_of, NelderMead};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut study = cartkin::bind::load_study(&root.join("studies/eliana_v1.toml").display().to_string())
        .map_err(|e| e.to_string())?;
    study.patients = n;
    study.seed = seed;
    let knobs = read_knobs(&root.join("studies/targets/eliana_v1_knobs.toml")).map_err(|e| e.to_string())?;
    let opt = NelderMead { max_evals, ..NelderMead::default() };
    let c = calibrate(&study, &targets(), &knobs, seed + 1, &opt).map_err(|e| e.to_string())?;
    print!("{}", c.report());
    let mut best = study.with_settings(&c.knobs).map_err(|e| e.to_string())?;
    let s = summary_of(&best);
    println!(
        "  {:<28} {:>22} {:>11.4}  (all responders MRD-negative, Maude 2018; search seed)",
        "mrd_neg_rate / cr_rate",
        ">= 0.95",
        mrd_ratio(&s)
    );
    best.patients = 400;
    kinetics(best.population_trial().ok_or("the v1 study has no population")?);
    Ok(())
}
const MRD_RATIO_MIN: f64 = 0.95;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

struct Point {
    values: Vec<f64>,
    json: serde_json::Value,
    met: usize,
    distance: f64,
}

fn evaluate(pop: Population, n: u64, seed: u64) -> (serde_json::Value, usize, f64) {
    let s = Trial::new(pop, n, seed).run(&mut |_| {}, None).to_json();
    let (mut met, mut dist) = (0, 0.0);
    for t in targets() {
        let (k, lo, hi) = (t.key.as_str(), t.low, t.high);
        let v = s[k].as_f64().unwrap_or(f64::NAN);
        if (lo..=hi).contains(&v) {
            met += 1;
        } else {
            dist += if v.is_nan() { 10.0 } else { ((lo - v).max(v - hi)) / (hi - lo) };
        }
    }
    let ratio = mrd_ratio(&s);
    if ratio >= MRD_RATIO_MIN {
        met += 1;
    } else {
        dist += if ratio.is_nan() { 10.0 } else { (MRD_RATIO_MIN - ratio) / 0.05 };
    }
    (s, met, dist)
}

fn mrd_ratio(s: &serde_json::Value) -> f64 {
    s["mrd_neg_rate"].as_f64().unwrap_or(0.0) / s["cr_rate"].as_f64().unwrap_or(f64::NAN)
}

fn run() -> Result<(), String> {
    let mut n: u64 = 2000;
    let mut seed: u64 = 2018;
    let mut max_evals: usize = 100;
    let mut sets: Vec<(String, f64)> = Vec::new();
    let mut grid: Vec<(String, Vec<f64>)> = Vec::new();
    let mut args = std::env::args().skip(1);
    let kv = |s: &str| -> Result<(String, String), String> {
        s.split_once('=')
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .ok_or_else(|| format!("expected KNOB=VALUE, got {s}"))
    };
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--patients" => n = val()?.parse().map_err(|_| "--patients: not a whole number")?,
            "--seed" => seed = val()?.parse().map_err(|_| "--seed: not a whole number")?,
            "--max-evals" => max_evals = val()?.parse().map_err(|_| "--max-evals: not a whole number")?,
            "--set" => {
                let (k, v) = kv(&val()?)?;
                let x = v.parse().map_err(|_| format!("--set {k}: not a number"))?;
                sets.push((k, x));
            }
            "--grid" => {
                let (k, v) = kv(&val()?)?;
                let vs: Result<Vec<f64>, _> = v.split(',').map(str::parse).collect();
                let vs = vs.map_err(|_| format!("--grid {k}: not a list of numbers"))?;
                grid.push((k, vs));
            }
            "-h" | "--help" => {
                println!("usage: calibrate [--patients N] [--seed S] [--max-evals E] | [--patients N] [--seed S] [--set KNOB=V ...] --grid KNOB=V1,V2,... ...");
                return Ok(());
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if grid.is_empty() {
        if !sets.is_empty() {
            return Err("--set goes with --grid (the documented search sets its knobs itself)".into());
        }
        return documented(n, seed, max_evals);
    }
    let mut base = Population::eliana_calibration();
    for (k, v) in &sets {
        base.set(k, *v).map_err(|e| e.to_string())?;
    }
    for (k, _) in &grid {
        base.get(k).ok_or_else(|| format!("unknown knob {k}"))?;
    }

    println!("Calibration search: {n} patients per point, seed {seed}");
    let names: Vec<&str> = grid.iter().map(|(k, _)| k.as_str()).collect();
    println!(
        "{:>46}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}  met  dist",
        names.join(" "),
        "cr",
        "mrd/cr",
        "crs",
        "sev",
        "rfs12",
        "cd19-",
        "tmax",
        "fold",
        "",
    );
    let total: usize = grid.iter().map(|(_, v)| v.len()).product();
    let mut points: Vec<Point> = Vec::with_capacity(total);
    for idx in 0..total {
        let mut cal = base.clone();
        let mut rest = idx;
        let mut values = Vec::new();
        for (k, vs) in &grid {
            let v = vs[rest % vs.len()];
            rest /= vs.len();
            cal.set(k, v).map_err(|e| e.to_string())?;
            values.push(v);
        }
        let pop = Population::eliana_with(&cal).map_err(|e| e.to_string())?;
        let (json, met, distance) = evaluate(pop, n, seed);
        print_row(&values, &json, met, distance);
        points.push(Point { values, json, met, distance });
    }
    if let Some(best) = points.iter().min_by(|a, b| b.met.cmp(&a.met).then(a.distance.total_cmp(&b.distance))) {
        println!("best point: {:?} ({} of 8 met, distance {:.3})", best.values, best.met, best.distance);
        let _ = &best.json;
    }
    let pop = Population::eliana_with(&base).map_err(|e| e.to_string())?;
    let (json, met, dist) = evaluate(pop.clone(), n, seed);
    println!("\nThe calibrated point ({met} of 8 targets met, distance {dist:.3}):");
    println!("  {:<24} {:>14} {:>10}  source", "quantity", "interval", "simulated");
    for t in targets() {
        let v = json[t.key.as_str()].as_f64().unwrap_or(f64::NAN);
        println!("  {:<24} {:>14} {:>10.4}  {}", t.key, format!("{}-{}", t.low, t.high), v, t.source);
    }
    println!(
        "  {:<24} {:>14} {:>10.4}  all responders MRD-negative, Maude 2018",
        "mrd_neg_rate / cr_rate",
        ">= 0.95",
        mrd_ratio(&json)
    );
    kinetics(Trial::new(pop, 400, seed));
    Ok(())
}

fn print_row(values: &[f64], s: &serde_json::Value, met: usize, dist: f64) {
    let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
    let vals: Vec<String> = values.iter().map(|v| format!("{v:.3e}")).collect();
    println!(
        "{:>46}  {:>5.3} {:>5.3} {:>5.3} {:>5.3} {:>5.3} {:>5.3} {:>5.2} {:>5.0} {:>5}  {met}/8 {dist:.3}",
        vals.join(" "),
        f("cr_rate"),
        mrd_ratio(s),
        f("crs_any_rate"),
        f("crs_severe_rate"),
        f("rfs12_responders"),
        f("cd19neg_relapse_share"),
        f("tmax_median"),
        f("cmax_fold_median"),
        "",
    );
}

/// Between-patient CV of Cmax and contraction half-lives on the first 400 patients (daily
/// trajectories): fast phase from `C(tmax + 2)` to `C(tmax + 12)`, slow phase from day 120 to
/// day 360, and the persisting fraction `C(180) / Cmax`.
fn kinetics(trial: Trial<Population>) {
    let k = 400;
    let trial = trial.trajectories(k, Grid::Daily);
    let (mut cmax, mut fast, mut slow, mut persist) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    trial.run(
        &mut |o| {
            let (Ok(e), Some(rows)) = (&o.result, &o.trajectory) else { return };
            cmax.push(e.cmax);
            let c = |d: usize| rows.get(d).map(|r| r.e + r.m + r.x).unwrap_or(f64::NAN);
            let t0 = e.tmax.round() as usize;
            let (a, b) = (c(t0 + 2), c(t0 + 12));
            if a > b && b > 0.0 {
                fast.push(10.0 * std::f64::consts::LN_2 / (a / b).ln());
            }
            let (a, b) = (c(120), c(360));
            if a > b && b > 0.0 {
                slow.push(240.0 * std::f64::consts::LN_2 / (a / b).ln());
            }
            persist.push(c(180) / e.cmax);
        },
        None,
    );
    let mean = cmax.iter().sum::<f64>() / cmax.len() as f64;
    let sd = (cmax.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (cmax.len() as f64 - 1.0)).sqrt();
    println!("Kinetics (first {k} patients): CV of Cmax {:.0}% (Stein 2019: ~95%)", 100.0 * sd / mean);
    println!(
        "  fast contraction half-life median {:.1} d (~4.3 d); slow half-life median {:.0} d (~220 d); C(180)/Cmax median {:.2e} (~0.8% persists)",
        median(&mut fast),
        median(&mut slow),
        median(&mut persist)
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}
