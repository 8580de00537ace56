//! The minimal model through the `ode_solvers` crate (its `Dopri5` and `Dop853`), the
//! general-purpose Rust integrator the project's brief names, for the race table of
//! BENCHMARKS.md. A dev-dependency only: the crate itself does not use it.
//!
//! ```text
//! cargo run --release --example race_ode_solvers -- --population ../shared/peers/population_seed42.csv \
//!     --patients 2000 [--method dopri5|dop853] [--rtol R] [--atol A] \
//!     [--reference ../shared/peers/results/reference_summaries.csv] [--check 20]
//! ```
//!
//! The right-hand side is the crate's own public one ([`OdeSystem::rhs`] of
//! [`MinimalParams`], the kernel `MinimalSolver` integrates), on the same state
//! `(E, M, ln L, ln N, B, I)`. The model is integrated segment by segment between its
//! discontinuities, a fresh `ode_solvers` solver per segment; the minimal model has none
//! after day 0 (the product is in `E` at day 0, no later dose), so that is one segment
//! `[0, 365]`. Daily rows come from `ode_solvers`' dense output with `dx = 1` (exact in
//! binary, so its end-point rounding issue does not arise). Its stiffness test is off
//! (`n_stiff = u32::MAX`: it tests when the accepted-step count is a multiple of
//! `n_stiff`). One scalar `rtol` and one scalar `atol` for all six states: that is all its
//! API takes. Controller settings are its defaults (`Dopri5::new` / `Dop853::new`).
//!
//! One thread, patients one after the other. Prints RHS evaluations, accepted and rejected
//! steps per patient (`ode_solvers`' own counters), with `--reference` the two error
//! metrics of `throughput` (|x - ref| / max(|x|, |ref|) on `Cmax_EM` = largest daily E + M
//! and `L_d28` = L at day 28), with `--check K` the largest relative difference of the daily
//! rows of the first K patients from the crate's `MinimalSolver` at its default tolerance
//! (|x - y| / max(|x|, |y|, floor): floors 10,000 cells for E, M, B, one cell for L, N and
//! 0.001 pg/mL for I, below which a difference is noise),
//! and last `us_per_patient=`.

use cartkin::model::{MinimalModel, MinimalParams};
use cartkin::ode::OdeSystem;
use cartkin::population::{read_minimal_csv, NumericTable};
use cartkin::{MinimalSolver, SolverConfig};
use ode_solvers::{Dop853, Dopri5, OutputType, SVector, System};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

/// Days simulated (366 daily outputs).
const DAYS: usize = 365;

type State = SVector<f64, 6>;

/// The crate's minimal-model right-hand side as an `ode_solvers` system.
struct Minimal(MinimalParams);

impl System<f64, State> for Minimal {
    #[inline]
    fn system(&self, t: f64, y: &State, dy: &mut State) {
        self.0.rhs(t, y, dy);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Which {
    Dopri5,
    Dop853,
}

/// Solver statistics of one patient (summed over its segments).
#[derive(Default, Clone, Copy)]
struct Counts {
    rhs: u64,
    accepted: u64,
    rejected: u64,
}

/// Solve one patient over `[0, DAYS]` segment by segment, daily rows of the state
/// `(E, M, ln L, ln N, B, I)` into `out` (`DAYS + 1` rows).
fn solve(which: Which, m: &MinimalModel, rtol: f64, atol: f64, out: &mut [State]) -> Result<Counts, String> {
    // the minimal model's discontinuities after day 0: none (the product is in E at day 0)
    let breaks: [usize; 0] = [];
    let i = &m.init;
    let mut y = State::from([i.e, i.m, i.l.ln(), i.n.ln(), i.b, i.i]);
    let mut c = Counts::default();
    let mut t0 = 0usize;
    for t1 in breaks.iter().copied().chain([DAYS]) {
        let (x, x_end, sys) = (t0 as f64, t1 as f64, Minimal(m.params));
        // arguments after atol: safety, beta, fac_min, fac_max, h_max, h (0: its initial
        // step guess), n_max, n_stiff, output; all its defaults except n_stiff (test off)
        let (st, ys) = match which {
            Which::Dopri5 => {
                let mut s = Dopri5::from_param(
                    sys,
                    x,
                    x_end,
                    1.0,
                    y,
                    rtol,
                    atol,
                    0.9,
                    0.04,
                    0.2,
                    10.0,
                    x_end - x,
                    0.0,
                    100_000,
                    u32::MAX,
                    OutputType::Dense,
                );
                let st = s.integrate().map_err(|e| e.to_string())?;
                (st, s.y_out().clone())
            }
            Which::Dop853 => {
                let mut s = Dop853::from_param(
                    sys,
                    x,
                    x_end,
                    1.0,
                    y,
                    rtol,
                    atol,
                    0.9,
                    0.0,
                    0.333,
                    6.0,
                    x_end - x,
                    0.0,
                    100_000,
                    u32::MAX,
                    OutputType::Dense,
                );
                let st = s.integrate().map_err(|e| e.to_string())?;
                (st, s.y_out().clone())
            }
        };
        if ys.len() != t1 - t0 + 1 {
            return Err(format!("{} daily rows on [{t0}, {t1}], expected {}", ys.len(), t1 - t0 + 1));
        }
        out[t0..=t1].copy_from_slice(&ys);
        y = ys[t1 - t0];
        c.rhs += u64::from(st.num_eval);
        c.accepted += u64::from(st.accepted_steps);
        c.rejected += u64::from(st.rejected_steps);
        t0 = t1;
    }
    Ok(c)
}

struct Summary {
    cmax_em: f64,
    l_d28: f64,
    counts: Counts,
    ok: bool,
}

fn summarize(res: Result<Counts, String>, out: &[State]) -> Summary {
    match res {
        Ok(counts) => Summary {
            cmax_em: out.iter().map(|o| o[0] + o[1]).fold(f64::NEG_INFINITY, f64::max),
            l_d28: out[28][2].exp(),
            counts,
            ok: true,
        },
        Err(_) => Summary { cmax_em: f64::NAN, l_d28: f64::NAN, counts: Counts::default(), ok: false },
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
    let mut which = Which::Dopri5;
    let (mut rtol, mut atol) = (None, None);
    let mut check = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--population" => population = Some(val()?),
            "--reference" => reference = Some(val()?),
            "--patients" => n = Some(val()?.parse().map_err(|_| "--patients: not a whole number")?),
            "--check" => check = val()?.parse().map_err(|_| "--check: not a whole number")?,
            "--rtol" => rtol = Some(val()?.parse::<f64>().map_err(|_| "--rtol: not a number")?),
            "--atol" => atol = Some(val()?.parse::<f64>().map_err(|_| "--atol: not a number")?),
            "--method" => {
                which = match val()?.as_str() {
                    "dopri5" => Which::Dopri5,
                    "dop853" => Which::Dop853,
                    m => return Err(format!("--method: unknown {m:?} (dopri5, dop853)")),
                }
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    // defaults: the tolerances at which the errors against the peers' reference match the
    // crate's at its default (BENCHMARKS.md)
    let (rtol, atol) = match which {
        Which::Dopri5 => (rtol.unwrap_or(2e-5), atol.unwrap_or(1e-6)),
        Which::Dop853 => (rtol.unwrap_or(3e-5), atol.unwrap_or(1e-4)),
    };
    let population = population.ok_or("--population <csv> is required")?;
    let rows = read_minimal_csv(&population).map_err(|e| e.to_string())?;
    let n = n.unwrap_or(rows.len()).min(rows.len());
    if n == 0 {
        return Err("no patients".into());
    }
    let inputs: Vec<MinimalModel> = rows[..n].iter().map(|r| r.model()).collect();
    let mut out = vec![State::zeros(); DAYS + 1];
    // warm-up (page in code and data), not timed
    for m in inputs.iter().take(4) {
        let _ = solve(which, m, rtol, atol, &mut out);
    }
    let mut results = Vec::with_capacity(n);
    let start = Instant::now();
    for m in &inputs {
        let r = solve(which, m, rtol, atol, &mut out);
        results.push(summarize(r, &out));
    }
    let wall = start.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| !r.ok).count();
    let nf = n as f64;
    println!("patients={n} threads=1 solver=ode_solvers::{which:?} rtol={rtol:e} atol={atol:e} failed={failed}");
    let mean = |f: &dyn Fn(&Counts) -> u64| results.iter().map(|r| f(&r.counts) as f64).sum::<f64>() / nf;
    println!("rhs_evals_per_patient={:.1}", mean(&|c| c.rhs));
    println!("steps_per_patient={:.1}", mean(&|c| c.accepted));
    println!("rejected_per_patient={:.2}", mean(&|c| c.rejected));
    if check > 0 {
        // the crate's daily rows at its default tolerance, for the first `check` patients
        let mut solver = MinimalSolver::new(&SolverConfig::default());
        let mut rows_c = vec![[0.0f64; 6]; DAYS + 1];
        // below these (cells; pg/mL for I) a difference is noise: E and M contract to a few
        // cells by day 365, where both solvers' values are within their absolute tolerance
        // (the crate's is 100 cells)
        const FLOOR: [f64; 6] = [1e4, 1e4, 1.0, 1.0, 1e4, 1e-3];
        const NAMES: [&str; 6] = ["E", "M", "L", "N", "B", "I"];
        let mut at = (0u64, 0usize, 0usize);
        let mut worst = 0.0f64;
        for (row, m) in rows.iter().zip(&inputs).take(check) {
            solver.solve(m, &mut rows_c).map_err(|e| format!("crate solve: {e:?}"))?;
            solve(which, m, rtol, atol, &mut out)?;
            for (day, (a, b)) in rows_c.iter().zip(&out).enumerate() {
                let nat = [b[0], b[1], b[2].exp(), b[3].exp(), b[4], b[5]];
                for k in 0..6 {
                    let d = (a[k] - nat[k]).abs() / a[k].abs().max(nat[k].abs()).max(FLOOR[k]);
                    if d > worst {
                        worst = d;
                        at = (row.id, k, day);
                    }
                }
            }
        }
        let (id, k, day) = at;
        println!(
            "check_patients={} max_rel_diff_daily_rows_vs_crate={worst:.3e} (patient {id}, {}, day {day})",
            check.min(n),
            NAMES[k]
        );
    }
    if let Some(rp) = reference {
        let t = NumericTable::read(&rp).map_err(|e| e.to_string())?;
        let col = |name: &str| t.column(name).map_err(|e| e.to_string());
        let (ci, cc, cl) = (col("id")?, col("Cmax_EM")?, col("L_d28")?);
        let mut refs = HashMap::new();
        for k in 0..t.len() {
            let v = t.row(k);
            refs.insert(v[ci] as u64, (v[cc], v[cl]));
        }
        let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs());
        let (mut ec, mut el, mut covered) = (0.0f64, 0.0f64, 0usize);
        for (row, r) in rows[..n].iter().zip(&results) {
            if let Some(&(c, l)) = refs.get(&row.id) {
                covered += 1;
                let (a, b) = (rel(r.cmax_em, c), rel(r.l_d28, l));
                ec = if a.is_nan() { f64::NAN } else { ec.max(a) };
                el = if b.is_nan() { f64::NAN } else { el.max(b) };
            }
        }
        println!("reference_patients={covered}");
        println!("max_rel_err_cmax={ec:.3e}");
        println!("max_rel_err_l28={el:.3e}");
    }
    println!("us_per_patient={:.2}", wall / nf * 1e6);
    Ok(())
}
