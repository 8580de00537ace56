//! The default virtual trial: what fraction of virtual patients reach remission, stay
//! MRD-negative, relapse (and with which phenotype), and how severe their cytokine release
//! syndrome is.
//!
//! ```text
//! cargo run --release --example virtual_trial -- [--patients N] [--seed S] [--threads T] [--out DIR]
//!                                               [--shard K/N] [--trajectories K]
//! ```
//!
//! Defaults: 10,000 patients of the crate's default population, seed 2018, every core. It
//! prints a summary table; with `--out DIR` (created if missing) it writes
//! `DIR/patients.csv` (one row per patient, streamed in id order), `DIR/summary.json`
//! (byte-identical for any thread count) and `DIR/run.json` (threads, seed, wall time,
//! version). `--shard K/N` runs only shard K of N (ids split into N contiguous ranges); the
//! shards' summaries merge into the full run's summary (`cartkin::trial::TrialSummary::merge`).
//! `--trajectories K` (with `--out`) also writes the daily trajectories of the first K
//! patients to `DIR/trajectories/patient_<id>.csv` (model v2's trajectory format,
//! [`cartkin::io::TrajectoryCsv`]).
//!
//! The default population is model v2's ELIANA-like one ([`PopulationV2::eliana`],
//! `docs/MODEL-v2.md`); `studies/eliana.toml` is the same trial as a study file.

use cartkin::io::PatientCsv;
use cartkin::io::TrajectoryCsv;
use cartkin::population::v2::PopulationV2;
use cartkin::trial::{PatientSource, Trial};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut n: u64 = 10_000;
    let mut seed: u64 = 2018;
    let mut threads: Option<usize> = None;
    let mut out: Option<PathBuf> = None;
    let mut shard: Option<(u64, u64)> = None;
    let mut trajectories: u64 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--patients" => n = val()?.parse().map_err(|_| "--patients: not a whole number")?,
            "--seed" => seed = val()?.parse().map_err(|_| "--seed: not a whole number")?,
            "--threads" => {
                let t: usize = val()?.parse().map_err(|_| "--threads: not a whole number")?;
                let max = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
                if t == 0 || t > max {
                    return Err(format!("--threads {t}: must be between 1 and {max} (4 per core)"));
                }
                threads = Some(t);
            }
            "--out" => out = Some(val()?.into()),
            "--shard" => {
                let v = val()?;
                let (k, m) = v.split_once('/').ok_or("--shard takes K/N, e.g. 0/4")?;
                shard = Some((k.parse().map_err(|_| "--shard: bad K")?, m.parse().map_err(|_| "--shard: bad N")?));
            }
            "--trajectories" => trajectories = val()?.parse().map_err(|_| "--trajectories: not a whole number")?,
            "-h" | "--help" => {
                println!("usage: virtual_trial [--patients N] [--seed S] [--threads T] [--out DIR] [--shard K/N] [--trajectories K]");
                return Ok(());
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        builder = builder.num_threads(t);
    }
    let pool = builder.build().map_err(|e| e.to_string())?;
    let threads_used = pool.current_num_threads();

    let population = PopulationV2::default();
    if trajectories > 0 && out.is_none() {
        return Err("--trajectories needs --out DIR".into());
    }
    let trial = Trial::new(population, n, seed).trajectories(trajectories, cartkin::Grid::Daily);
    if let (Some(dir), true) = (&out, trajectories > 0) {
        std::fs::create_dir_all(dir.join("trajectories"))
            .map_err(|e| format!("cannot create {}/trajectories: {e}", dir.display()))?;
    }
    let range = match shard {
        Some((k, m)) => {
            if m == 0 || k >= m {
                return Err(format!("--shard {k}/{m}: need 0 <= K < N"));
            }
            trial.shard_range(k, m)
        }
        None => 0..trial.n_patients(),
    };

    let mut csv = match &out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let f = File::create(dir.join("patients.csv")).map_err(|e| format!("patients.csv: {e}"))?;
            Some(PatientCsv::new(BufWriter::new(f), trial.source().parameter_names()).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let bar = ProgressBar::new(range.end - range.start);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} patients ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = |done: u64, _total: u64| bar.set_position(done);
    let mut io_error: Option<std::io::Error> = None;
    let mut rhs_total: u64 = 0;
    let start = Instant::now();
    let summary = pool.install(|| {
        trial.run_range(
            range.clone(),
            &mut |o| {
                rhs_total += o.stats.rhs_evals;
                if let (Some(rows), Some(dir), None) = (&o.trajectory, &out, io_error.as_ref()) {
                    let path = dir.join("trajectories").join(format!("patient_{}.csv", o.id));
                    if let Err(e) = std::fs::write(&path, TrajectoryCsv::csv(rows)) {
                        io_error = Some(e);
                    }
                }
                if let (Some(w), None) = (csv.as_mut(), io_error.as_ref()) {
                    if let Err(e) = w.write(o) {
                        io_error = Some(e);
                    }
                }
            },
            Some(&progress),
        )
    });
    let wall = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if let Some(e) = io_error {
        return Err(format!("writing patients.csv or a trajectory: {e}"));
    }
    let n_run = range.end - range.start;
    let json = summary.to_json();
    print_table(&summary, n_run, wall, threads_used);
    if let Some(dir) = &out {
        if let Some(w) = csv {
            w.finish().map_err(|e| format!("patients.csv: {e}"))?;
        }
        let s = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n";
        std::fs::write(dir.join("summary.json"), s).map_err(|e| format!("summary.json: {e}"))?;
        let run = serde_json::json!({
            "crate": "cartkin",
            "version": env!("CARGO_PKG_VERSION"),
            "threads": threads_used,
            "seed": seed,
            "n_patients": n_run,
            "shard": shard.map(|(k, m)| format!("{k}/{m}")),
            "id_range": [range.start, range.end],
            "wall_s": wall,
            "patients_per_s": n_run as f64 / wall.max(1e-12),
            "rhs_evals_per_patient": rhs_total as f64 / (n_run.max(1) as f64),
            "population": "PopulationV2::eliana()",
            "solver": "Dopri5Exp, rtol 1e-6, atol 1e-6 x scale",
        });
        std::fs::write(dir.join("run.json"), serde_json::to_string_pretty(&run).map_err(|e| e.to_string())? + "\n")
            .map_err(|e| format!("run.json: {e}"))?;
        eprintln!("wrote {}/patients.csv, summary.json, run.json", dir.display());
    }
    Ok(())
}

fn print_table(summary: &cartkin::trial::TrialSummary, n: u64, wall: f64, threads: usize) {
    println!(
        "Virtual trial: {n} patients, {threads} threads, {wall:.1} s ({:.0} patients/s)",
        n as f64 / wall.max(1e-12)
    );
    print!("{}", summary.report());
}
