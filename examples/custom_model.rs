//! A model of your own, through the public API only: one compartment of CAR-T cells,
//!
//! ```text
//! dC/dt = -k C          (k = 0.3 / day, C in cells)
//! ```
//!
//! with infusions of 1e8 cells at days 0 and 5 and an event of the model's own when `C`
//! falls below 1e6 cells (it goes into the event log). It runs as one patient (horizon 30
//! days, rtol 1e-10, atol 1e-4 cells) against the closed form
//! `C(t) = 1e8 e^{-k t} + 1e8 e^{-k (t - 5)} [t >= 5]`, and as a 1,000-patient trial with `k`
//! log-normal (typical value 0.3 / day, CV 30%, seed 7) through the same trial, summary and
//! `patients.csv` layers as the built-in models.
//!
//! ```text
//! cargo run --release --example custom_model
//! ```
//!
//! Everything a model needs is here: [`Model`] (state layout, tolerances, right-hand side,
//! how an infusion enters, the event, the observation map, the trajectory row), a patient
//! type with [`Subject`] (how one patient is simulated) and a [`PatientSource`] (how patient
//! `id` of a run with a seed is drawn). The driver, the endpoint observer, the trial and the
//! summary are the crate's, unchanged.

use cartkin::endpoints::{Definitions, EventKind};
use cartkin::io::PatientCsv;
use cartkin::model::{ModelInfo, Observable};
use cartkin::population::patient_rng;
use cartkin::regimen::{Infusion, Regimen, SteroidPolicy, TociPolicy};
use cartkin::solve::{run_model, Solution, SolverConfig};
use cartkin::trial::{Failure, PatientSource, Subject, Trial};
use cartkin::{InputError, Model, SolveError};
use nalgebra::SVector;
use rand_distr::{Distribution, LogNormal};

/// Cells infused at days 0 and 5.
const DOSE: f64 = 1e8;
/// The event's threshold (cells).
const THRESHOLD: f64 = 1e6;
/// Typical elimination rate (1 / day).
const K_TYPICAL: f64 = 0.3;

static INFO: ModelInfo = ModelInfo { name: "one-compartment", version: "1", states: &["C"], units: &["cells"] };

/// One patient of the one-compartment model: its elimination rate.
#[derive(Debug, Clone, Copy)]
struct OneCompartment {
    k: f64,
}

/// The model's switches: whether the below-threshold event has fired (it fires once).
#[derive(Debug, Clone, Copy)]
struct Mode {
    fired: bool,
}

impl Model<1> for OneCompartment {
    type Mode = Mode;
    /// A trajectory row: `(t, C)`.
    type Row = (f64, f64);

    fn info(&self) -> &ModelInfo {
        &INFO
    }

    /// No cells before the first infusion (infusions are the regimen's events).
    fn start(&self) -> (SVector<f64, 1>, Mode) {
        (SVector::from([0.0]), Mode { fired: false })
    }

    /// `atol = factor x cells scale` (the solver settings carry both).
    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, 1> {
        SVector::from([cfg.atol() * cfg.atol_scales().cells])
    }

    fn non_negative(&self) -> u64 {
        1
    }

    fn rhs(&self, _: &Mode, _t: f64, y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>) {
        dy[0] = -self.k * y[0];
    }

    fn infuse(&self, _: &mut Mode, y: &mut SVector<f64, 1>, cells: f64) {
        y[0] += cells;
    }

    fn n_events(&self) -> usize {
        1
    }

    /// `g = ln(1e6) - ln C` reaches 0 from below when C falls to 1e6 (armed once there are
    /// cells above the threshold, until it fired).
    fn event(&self, m: &Mode, _k: usize, y: &SVector<f64, 1>, dy: &SVector<f64, 1>) -> Option<(f64, f64)> {
        if m.fired || y[0].is_nan() || y[0] <= 0.0 {
            return None;
        }
        Some((THRESHOLD.ln() - y[0].ln(), -dy[0] / y[0]))
    }

    fn fire(&self, m: &mut Mode, k: usize, _t: f64, _y: &mut SVector<f64, 1>) -> EventKind {
        m.fired = true;
        EventKind::Model { name: "below_1e6", index: k as u32 }
    }

    fn observe(&self, _: &Mode, obs: Observable, y: &SVector<f64, 1>, dy: &SVector<f64, 1>) -> Option<(f64, f64)> {
        match obs {
            Observable::CarT => Some((y[0], dy[0])),
            _ => None,
        }
    }

    fn row(&self, _: &Mode, t: f64, y: &SVector<f64, 1>) -> (f64, f64) {
        (t, y[0])
    }
}

/// The regimen: 1e8 cells at days 0 and 5, no lymphodepletion, no drugs.
fn regimen() -> Result<Regimen, InputError> {
    let inf = vec![Infusion { t: 0.0, cells: DOSE }, Infusion { t: 5.0, cells: DOSE }];
    Regimen::new(inf, false, TociPolicy::None, SteroidPolicy::None)
}

/// A trial patient is the model itself: [`Subject`] says how to simulate it.
impl Subject for OneCompartment {
    type Row = (f64, f64);
    fn covariates(&self) -> Option<cartkin::population::Covariates> {
        None
    }
    fn parameters(&self) -> Vec<(&'static str, f64)> {
        vec![("k", self.k)]
    }
    fn simulate(
        &self,
        solver: &SolverConfig,
        horizon: f64,
        grid: &[f64],
        id: u64,
    ) -> Result<Solution<(f64, f64)>, Failure> {
        let reg = regimen().map_err(Failure::Input)?;
        run_model(self, &reg, &Definitions::default(), solver, horizon, grid, false)
            .map_err(|(t, reason)| Failure::Solve(SolveError { patient_id: id, t, reason }))
    }
}

/// The population: `k` log-normal around 0.3 / day with CV 30%, one independent stream per
/// patient (the crate's [`patient_rng`]: same seed, same patients, whatever the threads).
struct Population {
    k: LogNormal<f64>,
}

impl Population {
    fn new(typical: f64, cv: f64) -> Self {
        let sigma = (1.0 + cv * cv).ln().sqrt();
        Population { k: LogNormal::new(typical.ln(), sigma).expect("finite sigma") }
    }
}

impl PatientSource for Population {
    type Patient = OneCompartment;
    fn patient(&self, seed: u64, id: u64) -> Result<OneCompartment, InputError> {
        Ok(OneCompartment { k: self.k.sample(&mut patient_rng(seed, id)) })
    }
    fn parameter_names(&self) -> Vec<&'static str> {
        vec!["k"]
    }
    fn model(&self) -> &'static ModelInfo {
        &INFO
    }
    fn describe(&self) -> String {
        format!("one-compartment k ~ {:?}", self.k)
    }
}

fn analytic(k: f64, t: f64) -> f64 {
    DOSE * (-k * t).exp() + if t >= 5.0 { DOSE * (-k * (t - 5.0)).exp() } else { 0.0 }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ---- one patient
    let cfg = SolverConfig::with_rtol(1e-10)?.atol_factor(1e-4 / 1e8)?; // atol = 1e-4 cells
    let patient = OneCompartment { k: K_TYPICAL };
    let days = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0];
    let sol = patient.simulate(&cfg, 30.0, &days, 0)?;
    for &(t, c) in &sol.rows {
        println!("t={t} simulated={c:.12e} analytic={:.12e}", analytic(K_TYPICAL, t));
    }
    let below = sol.events.iter().find(|e| e.kind.name() == "below_1e6").ok_or("the event did not fire")?;
    println!("below_1e6_day={:.10}", below.t);
    // after the second dose C = 1e8 e^{-kt} (1 + e^{5k}) = 1e6
    println!("analytic_below_1e6_day={:.10}", (100.0 * (1.0 + (5.0 * K_TYPICAL).exp())).ln() / K_TYPICAL);

    // ---- a 1,000-patient trial with k log-normal (CV 30%), seed 7
    let trial = Trial::new(Population::new(K_TYPICAL, 0.3), 1000, 7).horizon(30.0)?.solver(cfg);
    let mut csv = PatientCsv::new(Vec::new(), vec!["k"])?;
    let mut fired = 0u64;
    let mut fired_analytic = 0u64;
    let mut worst: f64 = 0.0;
    let summary = trial.run(
        &mut |o| {
            let _ = csv.write(o);
            if let (Ok(e), Some(&(_, k))) = (&o.result, o.parameters.first()) {
                // the closed form of each patient's peak: the larger of C(0) and C(5+)
                let cmax = analytic(k, 0.0).max(analytic(k, 5.0));
                worst = worst.max((e.cmax - cmax).abs() / cmax);
                fired += u64::from(e.c_end < THRESHOLD);
                fired_analytic += u64::from(analytic(k, 30.0) < THRESHOLD);
            }
        },
        None,
    );
    let s = summary.to_json();
    println!(
        "trial: {} patients, {} failed, median Cmax {} cells, below 1e6 at day 30: {} (closed form {})",
        s["n_patients"], s["n_failed"], s["cmax_median"], fired, fired_analytic
    );
    println!("trial: worst Cmax error vs closed form {worst:.1e} (relative)");
    println!("trial: patients.csv has {} bytes", csv.finish()?.len());
    Ok(())
}
