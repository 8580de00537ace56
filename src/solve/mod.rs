//! The solve layer: the solver settings ([`SolverConfig`]), output grids, and the generic
//! single-patient driver ([`run_model`]) that integrates any [`Model`] between events and
//! feeds the endpoint observer. [`simulate`] is the reference model's entry point.
//!
//! Events at one instant are applied in this order (MODEL.md section 4 and the reference
//! README): the model's own events (extinctions) located at that time, infusions,
//! prophylactic tocilizumab doses, the end of the tocilizumab window, the end of the steroid
//! course; then the IL-6 signal is evaluated with the new switches and every trigger it
//! reaches fires (a reactive tocilizumab dose before the steroid start); only then does a
//! new dose lower the signal.

pub mod daily;
mod driver;
mod observer;
mod piece;

use crate::endpoints::{Definitions, Endpoints, Event};
use crate::error::{Domain, Error, InputError, SolveError};
use crate::model::reference::{RefModel, RefSystem};
use crate::model::{Model, NSTATE};
use crate::ode::{Method, OdeSystem, Stats};
use crate::regimen::Regimen;
use crate::scenario::Scenario;
use nalgebra::SVector;
use serde::Serialize;

/// Which output times get a trajectory row.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Grid {
    /// No trajectory (endpoints only: the fast path for trials).
    None,
    /// Every integer day from 0 to the horizon.
    #[default]
    Daily,
    /// These times (days, non-decreasing, within [0, horizon]).
    Times(Vec<f64>),
}

/// What a solve records besides the endpoints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputSpec {
    /// Output times.
    pub grid: Grid,
    /// Also a row at every event time (as the reference trajectories have).
    pub event_rows: bool,
}

impl OutputSpec {
    /// Endpoints and event log only.
    pub fn endpoints_only() -> Self {
        Self { grid: Grid::None, event_rows: false }
    }

    /// Daily rows plus a row at every event time (the reference trajectory format).
    pub fn reference() -> Self {
        Self { grid: Grid::Daily, event_rows: true }
    }
}

pub use crate::model::reference::Row;

/// The result of one solve; `R` is the model's trajectory row ([`Row`] for the reference
/// model).
#[derive(Debug, Clone, PartialEq)]
pub struct Solution<R = Row> {
    /// Endpoints (MODEL.md section 5).
    pub endpoints: Endpoints,
    /// Event log in time order.
    pub events: Vec<Event>,
    /// Trajectory rows (empty with [`Grid::None`]).
    pub rows: Vec<R>,
    /// Solver work.
    pub stats: Stats,
}

impl Solution<Row> {
    /// Phenotypes present at t = 0 (canonical order), the blast columns of the reference
    /// trajectory format.
    pub fn present(&self) -> [bool; 4] {
        let mut p = [false; 4];
        for (ph, _) in &self.endpoints.extinction_days.0 {
            p[ph.index()] = true;
        }
        p
    }
}

/// The loosest relative tolerance accepted (1e-2).
pub const MAX_RTOL: f64 = 1e-2;

/// The longest horizon a solve accepts: 100 years (days). It bounds the work and the memory
/// of a daily grid (36,526 rows).
pub const MAX_HORIZON_DAYS: f64 = 36_525.0;

/// Most output times a grid may hold (a daily grid over [`MAX_HORIZON_DAYS`] fits).
pub const MAX_GRID_TIMES: usize = 1_000_000;

/// The output times of `grid` for `horizon`, validated.
///
/// # Errors
/// A horizon that is not finite, negative or above [`MAX_HORIZON_DAYS`]; a time outside
/// `[0, horizon]`, non-finite, or out of order; more than [`MAX_GRID_TIMES`] times.
pub fn grid_times(grid: &Grid, horizon: f64) -> Result<Vec<f64>, InputError> {
    if !(0.0..=MAX_HORIZON_DAYS).contains(&horizon) {
        return Err(InputError::OutOfDomain {
            field: "horizon".into(),
            value: horizon,
            domain: "finite, >= 0 and <= 36525 days (100 years)",
        });
    }
    if let Grid::Times(v) = grid {
        if v.len() > MAX_GRID_TIMES {
            return Err(InputError::Inconsistent {
                field: "output.times".into(),
                reason: format!("{} output times; at most {MAX_GRID_TIMES}", v.len()),
            });
        }
    }
    Ok(match grid {
        Grid::None => Vec::new(),
        Grid::Daily => (0..=(horizon.floor() as u64)).map(|d| d as f64).collect(),
        Grid::Times(v) => {
            let mut prev = f64::NEG_INFINITY;
            for (k, &t) in v.iter().enumerate() {
                if !(t >= 0.0 && t <= horizon) {
                    return Err(InputError::OutOfDomain {
                        field: format!("output.times[{k}]"),
                        value: t,
                        domain: "within [0, horizon]",
                    });
                }
                if t < prev {
                    return Err(InputError::Inconsistent {
                        field: format!("output.times[{k}]"),
                        reason: format!("times must not decrease: {t} after {prev}"),
                    });
                }
                prev = t;
            }
            v.clone()
        }
    })
}

/// Scales of the absolute tolerance: `atol_i = atol_factor x scale_i` (MODEL.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtolScales {
    /// Cell states E, M, X, B and the AUC (default 1e8 cells).
    pub cells: f64,
    /// `ln L_j` (default 1: relative accuracy on blasts).
    pub ln_blasts: f64,
    /// G and I (default 5 pg/mL, the baseline).
    pub cytokines: f64,
}

impl Default for AtolScales {
    fn default() -> Self {
        Self { cells: 1e8, ln_blasts: 1.0, cytokines: 5.0 }
    }
}

/// Solver settings. The default is MODEL.md's default tolerance: rtol 1e-6 and
/// `atol_i = 1e-6 x scale_i`. Setting rtol alone ([`SolverConfig::with_rtol`]) scales atol
/// with it, so "rtol 1e-9" means both.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SolverConfig {
    rtol: f64,
    atol_factor: Option<f64>,
    scales: AtolScales,
    max_steps: u64,
    h_max: f64,
    method: Method,
    /// Search every step (no skipping of steps where nothing can happen); not written out:
    /// it changes no result.
    #[serde(skip_serializing)]
    search_every_step: bool,
}

impl Default for SolverConfig {
    fn default() -> Self {
        Self {
            rtol: 1e-6,
            atol_factor: None,
            scales: AtolScales::default(),
            max_steps: 1_000_000,
            h_max: f64::INFINITY,
            method: Method::Dopri5Exp,
            search_every_step: false,
        }
    }
}

impl SolverConfig {
    /// Default settings with relative tolerance `rtol` (and atol scaled with it).
    ///
    /// # Errors
    /// `rtol` not in (0, 1e-2] ([`MAX_RTOL`]).
    pub fn with_rtol(rtol: f64) -> Result<Self, InputError> {
        if !(rtol > 0.0 && rtol <= MAX_RTOL) {
            return Err(InputError::OutOfDomain {
                field: "solver.rtol".into(),
                value: rtol,
                domain: "in (0, 1e-2]: looser tolerances give meaningless results (cells beyond the carrying capacity)",
            });
        }
        Ok(Self { rtol, ..Self::default() })
    }

    /// Set the atol factor separately from rtol (`atol_i = factor x scale_i`).
    ///
    /// # Errors
    /// `factor` not in (0, 1).
    pub fn atol_factor(mut self, factor: f64) -> Result<Self, InputError> {
        Domain::OpenUnit.check("solver.atol", factor)?;
        self.atol_factor = Some(factor);
        Ok(self)
    }

    /// Set the atol scales.
    ///
    /// # Errors
    /// A scale that is not finite and > 0.
    pub fn scales(mut self, scales: AtolScales) -> Result<Self, InputError> {
        Domain::Pos.check("solver.scales.cells", scales.cells)?;
        Domain::Pos.check("solver.scales.ln_blasts", scales.ln_blasts)?;
        Domain::Pos.check("solver.scales.cytokines", scales.cytokines)?;
        self.scales = scales;
        Ok(self)
    }

    /// Set the step limit per solve (accepted + rejected steps).
    ///
    /// # Errors
    /// Zero.
    pub fn max_steps(mut self, n: u64) -> Result<Self, InputError> {
        if n == 0 {
            return Err(InputError::OutOfDomain { field: "solver.max_steps".into(), value: 0.0, domain: ">= 1" });
        }
        self.max_steps = n;
        Ok(self)
    }

    /// Set the largest step (days).
    ///
    /// # Errors
    /// Not > 0.
    pub fn h_max(mut self, h: f64) -> Result<Self, InputError> {
        if !(h > 0.0) {
            return Err(InputError::OutOfDomain { field: "solver.h_max".into(), value: h, domain: "> 0" });
        }
        self.h_max = h;
        Ok(self)
    }

    /// Set the method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Search the dense output of every step for crossings and maxima (`true`), or skip the
    /// steps where the model's ranges ([`Model::observe_range`], [`Model::event_range`]) show
    /// that no event can fire, no endpoint threshold can be crossed and no tracked maximum
    /// can rise (`false`, the default). Skipping only leaves out searches that would find
    /// nothing, so both give the same results, bit for bit (`tests/quiet_steps.rs`); `true`
    /// is for checking that and for timing the skip.
    pub fn search_every_step(mut self, on: bool) -> Self {
        self.search_every_step = on;
        self
    }

    /// Whether every step is searched ([`SolverConfig::search_every_step`]).
    pub fn searches_every_step(&self) -> bool {
        self.search_every_step
    }

    /// Relative tolerance.
    pub fn rtol(&self) -> f64 {
        self.rtol
    }
    /// The atol factor (`rtol` unless set).
    pub fn atol(&self) -> f64 {
        self.atol_factor.unwrap_or(self.rtol)
    }
    /// The atol scales.
    pub fn atol_scales(&self) -> AtolScales {
        self.scales
    }
    /// Step limit.
    pub fn step_limit(&self) -> u64 {
        self.max_steps
    }
    /// Largest step.
    pub fn max_step(&self) -> f64 {
        self.h_max
    }
    /// Method.
    pub fn method_used(&self) -> Method {
        self.method
    }
}

/// Simulate one patient of the reference model.
///
/// # Errors
/// [`Error::Input`] for output times outside `[0, horizon]` or out of order;
/// [`Error::Solve`] when the integration fails (step limit, step-size underflow,
/// non-finite state).
///
/// ```
/// use cartkin::{simulate, OutputSpec, Scenario, SolverConfig};
/// let sol = simulate(&Scenario::nominal(), &SolverConfig::default(), &OutputSpec::default()).unwrap();
/// assert!(sol.endpoints.cr_day28);
/// assert_eq!(sol.rows.len(), 366);
/// ```
pub fn simulate(sc: &Scenario, cfg: &SolverConfig, out: &OutputSpec) -> Result<Solution, Error> {
    let grid = grid_times(&out.grid, sc.horizon())?;
    Ok(run(sc, cfg, &grid, out.event_rows, 0)?)
}

/// Simulate one patient of the reference model with a pre-validated grid; `patient_id`
/// goes into a [`SolveError`].
///
/// # Errors
/// The solve failure with the patient id and the time reached.
pub fn run(
    sc: &Scenario,
    cfg: &SolverConfig,
    grid: &[f64],
    event_rows: bool,
    patient_id: u64,
) -> Result<Solution, SolveError> {
    let model = RefModel::new(sc);
    run_model(&model, sc.regimen(), sc.definitions(), cfg, sc.horizon(), grid, event_rows)
        .map_err(|(t, reason)| SolveError { patient_id, t, reason })
}

/// The relative slack of the invariant check ([`crate::model::Invariants`]) per unit of
/// `rtol`: a state may exceed a bound by `min(INVARIANT_SLACK * rtol, INVARIANT_SLACK_MAX)`
/// of it before the solve fails (3e-4 at the default `rtol = 1e-6`, 10% from `rtol = 3.3e-4`
/// up). The blasts are integrated as logarithms, whose tolerance is `rtol |ln L|` (about
/// `30 rtol` relative in cells): over 3,000 random valid scenarios within 100x of REF-1 the
/// largest excess at the default tolerance was `53 rtol` (`tests/properties.rs`), so the
/// slack leaves a factor of about 5; at `rtol = 1e-3` the same scenarios exceed the CAR-T
/// bound by up to 19% and the tumour bound by up to 62%, which the check reports.
pub const INVARIANT_SLACK: f64 = 300.0;

/// The cap of the invariant check's relative slack ([`INVARIANT_SLACK`]).
pub const INVARIANT_SLACK_MAX: f64 = 0.1;

/// `1 +` the invariant check's relative slack under `cfg` ([`INVARIANT_SLACK`]).
pub(crate) fn invariant_slack(cfg: &SolverConfig) -> f64 {
    1.0 + (INVARIANT_SLACK * cfg.rtol()).min(INVARIANT_SLACK_MAX)
}

/// Simulate one patient of any model: integrate `model` over `[0, horizon]` under `regimen`
/// (infusions, tocilizumab and steroid policies), record rows at the times of `grid` (and
/// at every event time with `event_rows`), and read the endpoints with `defs`.
///
/// # Errors
/// The time reached and the solve failure (step limit, step-size underflow, non-finite
/// state or endpoint, an event storm, a violated invariant ([`Model::invariants`])).
pub fn run_model<const N: usize, M: Model<N>>(
    model: &M,
    regimen: &Regimen,
    defs: &Definitions,
    cfg: &SolverConfig,
    horizon: f64,
    grid: &[f64],
    event_rows: bool,
) -> Result<Solution<M::Row>, (f64, crate::error::SolveFailure)> {
    let mut r = driver::Run::new(model, regimen, defs, cfg, horizon, grid, event_rows);
    r.go()?;
    let sol = r.finish();
    // results are never silently non-finite: a NaN or infinite endpoint is a failed solve
    let e = &sol.endpoints;
    for c in crate::endpoints::COLUMNS.iter().filter(|c| e.observed.has(c.group)) {
        let v = match (c.value)(e) {
            crate::endpoints::Cell::Num(v) | crate::endpoints::Cell::Opt(Some(v)) => v,
            _ => continue,
        };
        if !v.is_finite() {
            return Err((horizon, crate::error::SolveFailure::NonFiniteEndpoint { name: c.name }));
        }
    }
    // the invariants on the located peak (between step ends) and the fraction in [0, 1]
    if let Some(b) = model.invariants() {
        let infused: f64 = regimen.infusions().iter().filter(|i| i.t <= horizon).map(|i| i.cells).sum();
        let bound = (b.car_t + infused) * invariant_slack(cfg);
        if !(e.cmax <= bound) {
            let what = crate::error::SolveFailure::InvariantViolated { what: "car_t", value: e.cmax, bound };
            return Err((e.tmax, what));
        }
    }
    if e.observed.tumour && !(0.0..=1.0).contains(&e.f_day28) {
        let what = crate::error::SolveFailure::InvariantViolated { what: "f_day28", value: e.f_day28, bound: 1.0 };
        return Err((horizon, what));
    }
    Ok(sol)
}

/// Evaluate the reference model's right-hand side once (for benchmarks and checks): the
/// nominal switches of day 0 (no tocilizumab, no steroids, every present phenotype active).
pub fn rhs_once(sc: &Scenario, t: f64, y: &[f64; NSTATE], dy: &mut [f64; NSTATE]) {
    let model = RefModel::new(sc);
    let sw = model.start_switches();
    let sys = RefSystem { model, sw };
    let ys = SVector::<f64, NSTATE>::from(*y);
    let mut d = SVector::<f64, NSTATE>::zeros();
    sys.rhs(t, &ys, &mut d);
    dy.copy_from_slice(d.as_slice());
}
