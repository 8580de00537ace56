//! Criterion benchmarks: one right-hand-side evaluation of each model, one nominal patient
//! (minimal and reference model, 365 days, with events; the minimal one also through the
//! `ode_solvers` crate's Dopri5 and Dop853 for comparison), and a 1,000-patient trial on one
//! and on all threads (patients per second). Everything is built outside `b.iter`.
//!
//! `cargo bench` (about 3 minutes here). The side-by-side race with the Python peers is
//! `scripts/compare_peers.sh`; see BENCHMARKS.md.

use cartkin::model::MinimalModel;
use cartkin::model::NSTATE;
use cartkin::ode::OdeSystem;
use cartkin::population::Population;
use cartkin::solve::{rhs_once, run};
use cartkin::trial::Trial;
use cartkin::{Method, MinimalInit, MinimalParams, MinimalSolver, Scenario, SolverConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nalgebra::SVector;
use std::hint::black_box;
use std::time::Duration;

fn rhs(c: &mut Criterion) {
    let mut g = c.benchmark_group("rhs");
    let p = MinimalParams::nominal();
    let y = SVector::<f64, 6>::from([1e9, 1e8, 25.0, 9.0, 5e7, 300.0]);
    let mut dy = SVector::<f64, 6>::zeros();
    g.bench_function("minimal", |b| {
        b.iter(|| {
            p.rhs(black_box(3.0), black_box(&y), &mut dy);
            black_box(&dy);
        })
    });
    let sc = Scenario::nominal();
    let mut yr = [0.0; NSTATE];
    yr[0] = 1e9;
    yr[1] = 1e8;
    yr[2] = 1e7;
    yr[3] = 26.0;
    yr[4] = 15.0;
    yr[7] = 5e7;
    yr[8] = 100.0;
    yr[9] = 300.0;
    let mut dyr = [0.0; NSTATE];
    g.bench_function("reference", |b| {
        b.iter(|| {
            rhs_once(&sc, black_box(3.0), black_box(&yr), &mut dyr);
            black_box(&dyr);
        })
    });
    g.finish();
}

/// The crate's minimal-model right-hand side as an `ode_solvers` system.
struct OdeSolversMinimal(MinimalParams);

impl ode_solvers::System<f64, SVector<f64, 6>> for OdeSolversMinimal {
    fn system(&self, t: f64, y: &SVector<f64, 6>, dy: &mut SVector<f64, 6>) {
        self.0.rhs(t, y, dy);
    }
}

fn one_patient(c: &mut Criterion) {
    let mut g = c.benchmark_group("patient_365d");
    let cfg = SolverConfig::default();
    let mut solver = MinimalSolver::new(&cfg);
    let m = MinimalModel { params: MinimalParams::nominal(), init: MinimalInit::default() };
    let mut out = vec![[0.0f64; 6]; 366];
    g.bench_function("minimal_dopri5exp", |b| b.iter(|| black_box(solver.solve(&m, &mut out).is_ok())));
    // the same patient through the ode_solvers crate (dev-dependency), the crate's own
    // right-hand side, one segment [0, 365] with daily dense output, stiffness test off,
    // at the tolerances of matched accuracy (examples/race_ode_solvers.rs, BENCHMARKS.md)
    let i = &m.init;
    let y0 = SVector::<f64, 6>::from([i.e, i.m, i.l.ln(), i.n.ln(), i.b, i.i]);
    g.bench_function("minimal_ode_solvers_dopri5", |b| {
        b.iter(|| {
            let mut s = ode_solvers::Dopri5::from_param(
                OdeSolversMinimal(m.params),
                0.0,
                365.0,
                1.0,
                y0,
                2e-5,
                1e-6,
                0.9,
                0.04,
                0.2,
                10.0,
                365.0,
                0.0,
                100_000,
                u32::MAX,
                ode_solvers::OutputType::Dense,
            );
            black_box(s.integrate().is_ok() && s.y_out().len() == 366)
        })
    });
    g.bench_function("minimal_ode_solvers_dop853", |b| {
        b.iter(|| {
            let mut s = ode_solvers::Dop853::from_param(
                OdeSolversMinimal(m.params),
                0.0,
                365.0,
                1.0,
                y0,
                3e-5,
                1e-4,
                0.9,
                0.0,
                0.333,
                6.0,
                365.0,
                0.0,
                100_000,
                u32::MAX,
                ode_solvers::OutputType::Dense,
            );
            black_box(s.integrate().is_ok() && s.y_out().len() == 366)
        })
    });
    let sc = Scenario::nominal();
    for m in [Method::Dopri5Exp, Method::Dopri5] {
        let cfg = SolverConfig::default().method(m);
        g.bench_function(format!("reference_{m:?}").to_lowercase(), |b| {
            b.iter(|| black_box(run(&sc, &cfg, &[], false, 0).is_ok()))
        });
    }
    g.finish();
}

fn trial(c: &mut Criterion) {
    let mut g = c.benchmark_group("trial_1000");
    g.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(1000));
    let trial = Trial::new(Population::default(), 1000, 7);
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, all] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        g.bench_function(format!("reference_model_{threads}_threads"), |b| {
            b.iter(|| black_box(pool.install(|| trial.run(&mut |_| {}, None)).n_patients()))
        });
    }
    g.finish();
}

criterion_group!(benches, rhs, one_patient, trial);
criterion_main!(benches);
