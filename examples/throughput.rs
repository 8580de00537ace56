//! Throughput of the minimal model on the performance peers' population, with accuracy
//! against their tight reference; and of the full reference model with events (the race
//! against libroadrunner, `../shared/peers/race_full.py --crate-bin <this binary>`).
//!
//! ```text
//! cargo run --release --example throughput -- --population ../shared/peers/population_seed42.csv \
//!     --patients 2000 [--threads T] [--rtol R] [--method dopri5|dopri5exp] [--scalar] [--portable] \
//!     [--reference ../shared/peers/results/reference_summaries.csv]
//! cargo run --release --example throughput -- --model reference \
//!     --population ../shared/peers/population_full_2000.csv [--repeat K] [--grid none|daily] [--rtol R]
//! ```
//!
//! **Full model** (`--model reference`, the default for a table in the
//! `reference/population_200.csv` format, whose header has `rho_E`): every patient of the
//! table solved with events and endpoints ([`cartkin::simulate`], REF-1 of MODEL.md) over 365
//! days on one thread, rows on `--grid` (`none`: no trajectory rows, the default; `daily`),
//! `--repeat K` timed passes after a warm-up. The last lines are `rhs_evals_per_patient=`,
//! `steps_per_patient=`, `cpu_us_per_patient=` (this thread's CPU time, from
//! `/proc/thread-self/schedstat`, best of K) and `us_per_patient=` (wall, best of K).
//!
//! **Minimal model** (the default for a table `id,rhoE,kk,L0,rL,dE`):
//! By default the patients are solved four at a time ([`MinimalSolver::solve_batch`], SIMD
//! lanes, bit-identical to the one-at-a-time solver); `--scalar` uses
//! [`MinimalSolver::solve`] instead; `--portable` keeps the batch on the portable SIMD path
//! (by default it takes the fastest path of the CPU, picked at run time:
//! [`cartkin::ode::SimdPath`]; the results are the same bits). With `--threads T` the patients are split into
//! contiguous chunks solved on T rayon threads; results stay in patient order.
//!
//! Solves the minimal model (MODEL.md section 7) for the first N rows of a table
//! `id,rhoE,kk,L0,rL,dE` with the crate's default method and tolerance (rtol 1e-6, atol
//! 1e-6 x scale), 366 daily outputs per patient, the peers' summaries read off them
//! (`Cmax_EM`, `Tmax_EM`, `L_d28`), and prints RHS evaluations and steps per patient. With
//! `--reference` it prints `max_rel_err_cmax=` and `max_rel_err_l28=` over the patients the
//! reference covers (metric |x - ref| / max(|x|, |ref|)). The last line is
//! `us_per_patient=<wall time of the patient loop / N>`.

use cartkin::model::MinimalModel;
use cartkin::population::{parse_minimal_csv, parse_population_csv, NumericTable};
use cartkin::{simulate, Grid, Method, MinimalSolver, OutputSpec, SolverConfig};
use rayon::prelude::*;
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

/// Days simulated (366 daily outputs).
const DAYS: usize = 365;

struct Summary {
    cmax_em: f64,
    tmax_em: usize,
    l_d28: f64,
    rhs: u64,
    steps: u64,
    rejected: u64,
    ok: bool,
}

impl Summary {
    fn failed() -> Self {
        Summary { cmax_em: f64::NAN, tmax_em: 0, l_d28: f64::NAN, rhs: 0, steps: 0, rejected: 0, ok: false }
    }
}

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
    let mut population = None;
    let mut reference = None;
    let mut n: Option<usize> = None;
    let mut threads = 1usize;
    let mut rtol = None;
    let mut method = Method::default();
    let mut scalar = false;
    let mut portable = false;
    let mut model: Option<String> = None;
    let mut repeat: Option<usize> = None;
    let mut grid: Option<Grid> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--population" => population = Some(val()?),
            "--reference" => reference = Some(val()?),
            "--patients" => n = Some(val()?.parse().map_err(|_| "--patients: not a whole number")?),
            "--threads" => {
                threads = val()?.parse().map_err(|_| "--threads: not a whole number")?;
                let max = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
                if threads == 0 || threads > max {
                    return Err(format!("--threads {threads}: must be between 1 and {max} (4 per core)"));
                }
            }
            "--scalar" => scalar = true,
            "--portable" => portable = true,
            "--model" => model = Some(val()?),
            "--repeat" => {
                let k: usize = val()?.parse().map_err(|_| "--repeat: not a whole number")?;
                if !(1..=1000).contains(&k) {
                    return Err(format!("--repeat {k}: must be between 1 and 1000"));
                }
                repeat = Some(k);
            }
            "--grid" => {
                grid = Some(match val()?.as_str() {
                    "none" => Grid::None,
                    "daily" => Grid::Daily,
                    g => return Err(format!("--grid: unknown {g:?} (none, daily)")),
                })
            }
            "--rtol" => rtol = Some(val()?.parse::<f64>().map_err(|_| "--rtol: not a number")?),
            "--method" => {
                method = match val()?.as_str() {
                    "dopri5" => Method::Dopri5,
                    "dopri5exp" => Method::Dopri5Exp,
                    m => return Err(format!("--method: unknown {m:?} (dopri5, dopri5exp)")),
                }
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let population = population.ok_or("--population <csv> is required")?;
    // the model: --model, else the table's header (`rho_E` is the reference model's)
    let text = cartkin::io::read_capped(std::path::Path::new(&population), cartkin::io::MAX_TABLE_BYTES)
        .map_err(|e| format!("{population}: {e}"))?;
    let is_reference = text.lines().next().is_some_and(|h| h.split(',').any(|c| c.trim() == "rho_E"));
    let model = model.unwrap_or_else(|| if is_reference { "reference".into() } else { "minimal".into() });
    match model.as_str() {
        "reference" => {
            if scalar || portable || reference.is_some() || threads != 1 || n.is_some() || method != Method::default() {
                return Err("--model reference takes --population, --repeat, --grid and --rtol only".into());
            }
            return run_reference(&text, &population, rtol, grid.unwrap_or(Grid::None), repeat.unwrap_or(1));
        }
        "minimal" => {
            if repeat.is_some() || grid.is_some() {
                return Err("--repeat and --grid are options of --model reference".into());
            }
        }
        m => return Err(format!("--model: unknown {m:?} (minimal, reference)")),
    }
    let rows = parse_minimal_csv(&text, &population).map_err(|e| e.to_string())?;
    let n = n.unwrap_or(rows.len()).min(rows.len());
    if n == 0 {
        return Err("no patients".into());
    }
    let threads = threads.max(1);
    let cfg = match rtol {
        Some(r) => SolverConfig::with_rtol(r).map_err(|e| e.to_string())?,
        None => SolverConfig::default(),
    }
    .method(method);
    let inputs: Vec<MinimalModel> = rows[..n].iter().map(|r| r.model()).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    let summarize = |res: Result<cartkin::Stats, _>, out: &[[f64; 6]]| -> Summary {
        match res {
            Ok(st) => {
                let st: cartkin::Stats = st;
                let (mut cmax, mut tmax) = (f64::NEG_INFINITY, 0);
                for (d, o) in out.iter().enumerate() {
                    if o[0] + o[1] > cmax {
                        cmax = o[0] + o[1];
                        tmax = d;
                    }
                }
                Summary {
                    cmax_em: cmax,
                    tmax_em: tmax,
                    l_d28: out[28][2],
                    rhs: st.rhs_evals,
                    steps: st.accepted,
                    rejected: st.rejected,
                    ok: true,
                }
            }
            Err(_) => {
                Summary { cmax_em: f64::NAN, tmax_em: 0, l_d28: f64::NAN, rhs: 0, steps: 0, rejected: 0, ok: false }
            }
        }
    };
    // one chunk of patients on one thread, with one solver and one output buffer
    let solve_chunk = |solver: &mut MinimalSolver, chunk: &[MinimalModel], res: &mut [Summary]| {
        if scalar {
            let mut out = [[0.0f64; 6]; DAYS + 1];
            for (x, r) in chunk.iter().zip(res.iter_mut()) {
                *r = summarize(solver.solve(x, &mut out), &out);
            }
        } else {
            solver.solve_batch(chunk, DAYS, |j, st, out| res[j] = summarize(st, out));
        }
    };
    // warm-up (page in code and data), not timed
    let mut warm = MinimalSolver::new(&cfg).force_portable(portable);
    let mut dummy: Vec<Summary> = (0..4.min(n)).map(|_| Summary::failed()).collect();
    solve_chunk(&mut warm, &inputs[..dummy.len()], &mut dummy);
    let mut results: Vec<Summary> = (0..n).map(|_| Summary::failed()).collect();
    // contiguous chunks, a few per thread (so that a slow chunk does not leave a core idle)
    let chunk = if threads == 1 { n } else { n.div_ceil(threads * 8).max(16) };
    let start = Instant::now();
    pool.install(|| {
        inputs
            .par_chunks(chunk)
            .zip(results.par_chunks_mut(chunk))
            .for_each_init(|| MinimalSolver::new(&cfg).force_portable(portable), |s, (x, r)| solve_chunk(s, x, r))
    });
    let wall = start.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| !r.ok).count();
    let nf = n as f64;
    let simd = if scalar { "none (--scalar)".to_string() } else { format!("{:?}", warm.simd_path()) };
    println!("patients={n} threads={threads} method={method:?} rtol={} failed={failed} simd={simd}", cfg.rtol());
    println!("rhs_evals_per_patient={:.1}", results.iter().map(|r| r.rhs as f64).sum::<f64>() / nf);
    println!("steps_per_patient={:.1}", results.iter().map(|r| r.steps as f64).sum::<f64>() / nf);
    println!("rejected_per_patient={:.2}", results.iter().map(|r| r.rejected as f64).sum::<f64>() / nf);
    if let Some(rp) = reference {
        let t = NumericTable::read(&rp).map_err(|e| e.to_string())?;
        let col = |name: &str| t.column(name).map_err(|e| e.to_string());
        let (ci, cc, ct, cl) = (col("id")?, col("Cmax_EM")?, col("Tmax_EM")?, col("L_d28")?);
        let mut refs = HashMap::new();
        for k in 0..t.len() {
            let v = t.row(k);
            refs.insert(v[ci] as u64, (v[cc], v[ct], v[cl]));
        }
        let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs());
        let (mut ec, mut el, mut tmax_diff, mut covered) = (0.0f64, 0.0f64, 0usize, 0usize);
        for (row, r) in rows[..n].iter().zip(&results) {
            if let Some(&(c, t, l)) = refs.get(&row.id) {
                covered += 1;
                let (a, b) = (rel(r.cmax_em, c), rel(r.l_d28, l));
                ec = if a.is_nan() { f64::NAN } else { ec.max(a) };
                el = if b.is_nan() { f64::NAN } else { el.max(b) };
                tmax_diff += (r.tmax_em as f64 != t) as usize;
            }
        }
        println!("reference_patients={covered} tmax_em_mismatches={tmax_diff}");
        println!("max_rel_err_cmax={ec:.3e}");
        println!("max_rel_err_l28={el:.3e}");
    }
    println!("us_per_patient={:.2}", wall / nf * 1e6);
    Ok(())
}

/// CPU time of this thread in seconds (Linux: the first field of
/// `/proc/thread-self/schedstat`, in ns); NaN where it cannot be read.
fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map_or(f64::NAN, |ns| ns * 1e-9)
}

/// The full reference model on a `population_200.csv`-format table (`text`, read from
/// `path`), one thread.
fn run_reference(text: &str, path: &str, rtol: Option<f64>, grid: Grid, repeat: usize) -> Result<(), String> {
    let patients = parse_population_csv(text, path).map_err(|e| e.to_string())?;
    if patients.is_empty() {
        return Err("no patients".into());
    }
    let scs = patients
        .iter()
        .map(|p| p.scenario(365.0).map_err(|e| format!("patient {}: {e}", p.id)))
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = match rtol {
        Some(r) => SolverConfig::with_rtol(r).map_err(|e| e.to_string())?,
        None => SolverConfig::default(),
    };
    let grid_name = if matches!(grid, Grid::Daily) { "daily" } else { "none" };
    let spec = OutputSpec { grid, event_rows: false };
    // warm-up (page in code and data), not timed
    let _ = simulate(&scs[0], &cfg, &spec);
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    let (mut rhs, mut steps, mut failed) = (0u64, 0u64, 0usize);
    for _ in 0..repeat {
        let (c0, t0) = (thread_cpu_s(), Instant::now());
        (rhs, steps, failed) = (0, 0, 0);
        for sc in &scs {
            match simulate(sc, &cfg, &spec) {
                Ok(sol) => {
                    rhs += sol.stats.rhs_evals;
                    steps += sol.stats.accepted;
                }
                Err(_) => failed += 1,
            }
        }
        best = best.min(t0.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(thread_cpu_s() - c0);
    }
    let nf = scs.len() as f64;
    println!(
        "model=reference patients={} threads=1 rtol={} grid={grid_name} repeat={repeat} failed={failed}",
        scs.len(),
        cfg.rtol()
    );
    println!("rhs_evals_per_patient={:.1}", rhs as f64 / nf);
    println!("steps_per_patient={:.1}", steps as f64 / nf);
    println!("cpu_us_per_patient={:.2}", best_cpu / nf * 1e6);
    println!("us_per_patient={:.2}", best / nf * 1e6);
    Ok(())
}
