//! Simulate one scenario file (reference JSON format) and write its endpoints and trajectory.
//!
//! ```text
//! cargo run --release --example simulate -- <scenario.json> [--out DIR] [--rtol R]
//! ```
//!
//! Without `--out` the endpoints JSON goes to stdout. With `--out DIR`, DIR is created if
//! missing and `DIR/<name>_endpoints.json` and `DIR/<name>_trajectory.csv` are written
//! (only after the solve succeeded: a bad input writes nothing). A malformed or invalid file
//! exits with status 2 and a one-line message on stderr naming the field and the value.

use cartkin::{io, simulate, OutputSpec, Scenario, SolverConfig};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {}", cartkin::error::one_line(&msg, 2000));
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut file: Option<PathBuf> = None;
    let mut out: Option<PathBuf> = None;
    let mut rtol: Option<f64> = None;
    let mut method: Option<cartkin::Method> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "--rtol" => {
                let v = args.next().ok_or("--rtol needs a number")?;
                rtol = Some(v.parse().map_err(|_| format!("--rtol: not a number: {v:?}"))?);
            }
            "--method" => {
                let v = args.next().ok_or("--method needs dopri5 or dopri5exp")?;
                method = Some(match v.as_str() {
                    "dopri5" => cartkin::Method::Dopri5,
                    "dopri5exp" => cartkin::Method::Dopri5Exp,
                    _ => return Err(format!("--method: unknown method {v:?} (dopri5, dopri5exp)")),
                });
            }
            "-h" | "--help" => {
                println!("usage: simulate <scenario.json> [--out DIR] [--rtol R]");
                return Ok(());
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => {
                if file.is_some() {
                    return Err(format!("more than one scenario file given ({s})"));
                }
                file = Some(s.into());
            }
        }
    }
    let file = file.ok_or("usage: simulate <scenario.json> [--out DIR] [--rtol R]")?;
    let sc = Scenario::from_path(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let cfg = match rtol {
        Some(r) => SolverConfig::with_rtol(r).map_err(|e| e.to_string())?,
        None => SolverConfig::default(),
    };
    let cfg = match method {
        Some(m) => cfg.method(m),
        None => cfg,
    };
    if out.is_some() {
        // the name becomes file names: refuse one that could leave DIR (before any work)
        io::file_stem(sc.name()).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let sol = simulate(&sc, &cfg, &OutputSpec::reference()).map_err(|e| e.to_string())?;
    let json = io::endpoints_json(sc.name(), &sol, &cfg);
    match out {
        None => print!("{json}"),
        Some(dir) => {
            // each file replaced atomically; symbolic links are never followed
            for (f, bytes) in [
                (format!("{}_endpoints.json", sc.name()), json.into_bytes()),
                (format!("{}_trajectory.csv", sc.name()), io::trajectory_csv(&sol).into_bytes()),
            ] {
                io::write_atomic(&dir, &f, &bytes)
                    .map_err(|e| format!("cannot write {}: {e}", dir.join(&f).display()))?;
            }
        }
    }
    Ok(())
}
