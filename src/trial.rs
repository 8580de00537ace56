//! Virtual trials: many patients, in parallel, reproducible bit for bit, in memory that does
//! not grow with the number of patients.
//!
//! A [`Trial`] takes patients from a [`PatientSource`] (a sampled [`Population`] or a table of
//! [`VirtualPatient`]s), simulates each with [`crate::solve::run`], and folds the outcomes
//! into a [`TrialSummary`] of push/merge accumulators (integer counts only).
//!
//! **Determinism.** Patient `id` depends only on `(seed, id)` ([`crate::population::patient_rng`]).
//! Ids are processed in fixed chunks: the patients of a chunk are solved on the rayon pool
//! and collected in id order, then pushed into the summary and handed to the sink in id
//! order. The summary holds only integer counts, so it is identical for any thread count,
//! and a trial run as shards ([`Trial::run_shard`]) and merged ([`TrialSummary::merge`])
//! gives exactly the full run's summary.
//!
//! **Failures** never abort a trial: a patient whose solve fails is an outcome
//! `Err(Failure)` with its id, time and reason; the summary counts failures by reason.
//!
//! ```
//! use cartkin::population::Population;
//! use cartkin::trial::Trial;
//! let trial = Trial::new(Population::reference_200(), 8, 2026);
//! let summary = trial.run(&mut |_o| {}, None);
//! assert_eq!(summary.n_patients(), 8);
//! let json = summary.to_json();
//! assert!(json["cr_rate"].is_number());
//! ```

use crate::endpoints::Endpoints;
use crate::error::{InputError, SolveError};
use crate::journey::{Journey, JourneyRecord, JourneySummary, Stage};
use crate::model::ModelInfo;
use crate::ode::Stats;
use crate::population::{Covariates, Population, VirtualPatient};
use crate::solve::SolverConfig;
use crate::solve::{grid_times, run, Grid, Row, Solution};
use crate::state::{fnv1a64, Manifest, Shards, SummaryState, STATE_FORMAT};
use crate::summary::{Accumulate, GradeCounts, KaplanMeier, LinearHistogram, LogHistogram, Rate, Stratified};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ops::Range;

/// One patient of a trial, ready to simulate: any model's patient (the reference model's is
/// [`VirtualPatient`]). A model plugs into the trial layer by giving its patients this trait.
pub trait Subject: Send {
    /// The model's trajectory row.
    type Row: Clone + std::fmt::Debug + Send;
    /// Covariates shared by every model's `patients.csv` (`None`: the model has none).
    fn covariates(&self) -> Option<Covariates>;
    /// The sampled parameters `(name, value)`, in the source's column order.
    fn parameters(&self) -> Vec<(&'static str, f64)>;
    /// Simulate over `[0, horizon]` with rows at the times of `grid`.
    ///
    /// # Errors
    /// Invalid inputs (e.g. a horizon shorter than a scheduled infusion) or a failed solve.
    fn simulate(
        &self,
        solver: &SolverConfig,
        horizon: f64,
        grid: &[f64],
        id: u64,
    ) -> Result<Solution<Self::Row>, Failure>;

    /// Simulate as [`Subject::simulate`] and, for a patient of a source with a patient
    /// journey, return the journey around the infusion (the visits read on the solution;
    /// docs/JOURNEY.md). A patient who was not infused gives `Err(Failure::NotInfused)` and
    /// its journey. Default: no journey.
    fn simulate_journey(&self, solver: &SolverConfig, horizon: f64, grid: &[f64], id: u64) -> JourneyRun<Self::Row> {
        (self.simulate(solver, horizon, grid, id), None)
    }
}

impl Subject for VirtualPatient {
    type Row = Row;
    fn covariates(&self) -> Option<Covariates> {
        Some(self.covariates)
    }
    fn parameters(&self) -> Vec<(&'static str, f64)> {
        self.sampled_parameters()
    }
    fn simulate(&self, solver: &SolverConfig, horizon: f64, grid: &[f64], id: u64) -> Result<Solution, Failure> {
        let sc = self.scenario(horizon).map_err(Failure::Input)?;
        run(&sc, solver, grid, false, id).map_err(Failure::Solve)
    }
}

/// A simulation with its patient journey ([`Subject::simulate_journey`]).
pub type JourneyRun<R> = (Result<Solution<R>, Failure>, Option<Box<JourneyRecord>>);

/// The outcome of one patient of source `S` (its model's trajectory rows).
pub type SourceOutcome<S> = PatientOutcome<<<S as PatientSource>::Patient as Subject>::Row>;

/// Where a trial's patients come from.
pub trait PatientSource: Sync {
    /// The patients it gives.
    type Patient: Subject;
    /// Patient `id` of a run with `seed`.
    ///
    /// # Errors
    /// An invalid patient (e.g. a table row outside the model's domains).
    fn patient(&self, seed: u64, id: u64) -> Result<Self::Patient, InputError>;
    /// How many patients the source holds (`None`: unlimited, as a sampled population).
    fn len(&self) -> Option<u64> {
        None
    }
    /// Whether the source holds no patient at all.
    fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
    /// Names of the parameters that vary between patients (CSV columns), in a stable order.
    fn parameter_names(&self) -> Vec<&'static str>;
    /// The model the patients are of (name and version go into the run's manifest).
    fn model(&self) -> &'static ModelInfo;
    /// The endpoint definitions its patients are read with (the summary's NGS MRD
    /// threshold comes from here). Default: MODEL.md's.
    fn definitions(&self) -> crate::Definitions {
        crate::Definitions::default()
    }
    /// The patient journey its patients go through (`None`: every patient starts at the
    /// infusion).
    fn journey(&self) -> Option<&Journey> {
        None
    }
    /// A complete, deterministic description of the source (every typical value,
    /// variability, covariate distribution, product and regimen), for the run's manifest
    /// hash: two sources with the same description give the same patients.
    fn describe(&self) -> String;
}

impl PatientSource for Population {
    type Patient = VirtualPatient;
    fn patient(&self, seed: u64, id: u64) -> Result<VirtualPatient, InputError> {
        self.try_sample_patient(seed, id)
    }
    fn parameter_names(&self) -> Vec<&'static str> {
        self.varied_names().to_vec()
    }
    fn model(&self) -> &'static ModelInfo {
        crate::model::reference::info()
    }
    fn definitions(&self) -> crate::Definitions {
        *Population::definitions(self)
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl PatientSource for Vec<VirtualPatient> {
    type Patient = VirtualPatient;
    fn patient(&self, _seed: u64, id: u64) -> Result<VirtualPatient, InputError> {
        self.get(id as usize).cloned().ok_or_else(|| InputError::OutOfDomain {
            field: "patient id".into(),
            value: id as f64,
            domain: "below the number of table rows",
        })
    }
    fn len(&self) -> Option<u64> {
        Some(Vec::len(self) as u64)
    }
    fn parameter_names(&self) -> Vec<&'static str> {
        self.first().map(|p| p.varied_names().to_vec()).unwrap_or_default()
    }
    fn definitions(&self) -> crate::Definitions {
        self.first().map(|p| p.definitions).unwrap_or_default()
    }
    fn model(&self) -> &'static ModelInfo {
        crate::model::reference::info()
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// Why a patient has no endpoints.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Failure {
    /// The solve failed (step limit, step-size underflow, non-finite state).
    Solve(SolveError),
    /// The patient's inputs were invalid.
    Input(InputError),
    /// The patient's journey ended before the infusion (a screen failure, a manufacturing
    /// failure, ...): not a failed solve, and not in the infused patients' rates.
    NotInfused(Stage),
}

impl Failure {
    /// Short label for tallies and the CSV `status` column (`failed:<label>`).
    pub fn label(&self) -> &'static str {
        match self {
            Failure::Solve(e) => e.reason.label(),
            Failure::Input(_) => "invalid_input",
            Failure::NotInfused(s) => s.label().unwrap_or("infused"),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Solve(e) => write!(f, "{e}"),
            Failure::Input(e) => write!(f, "{e}"),
            Failure::NotInfused(s) => write!(f, "not infused ({})", s.label().unwrap_or("infused")),
        }
    }
}

impl std::error::Error for Failure {}

/// One patient's outcome; `R` is the model's trajectory row.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientOutcome<R = Row> {
    /// Patient id.
    pub id: u64,
    /// Sampled covariates (`None` when the patient could not even be built).
    pub covariates: Option<Covariates>,
    /// Sampled parameters `(MODEL.md name, value)`.
    pub parameters: Vec<(&'static str, f64)>,
    /// Endpoints, or why there are none.
    pub result: Result<Endpoints, Failure>,
    /// Solver work.
    pub stats: Stats,
    /// Trajectory on the trial's grid (only for the first `k` patients, see
    /// [`Trial::trajectories`]).
    pub trajectory: Option<Vec<R>>,
    /// The patient's journey (sources with a journey).
    pub journey: Option<Box<JourneyRecord>>,
}

/// Progress report: patients done out of the total of this run.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// A virtual trial: a patient source, a number of patients, a seed and solver settings.
#[derive(Debug, Clone)]
pub struct Trial<S: PatientSource> {
    source: S,
    n: u64,
    seed: u64,
    solver: SolverConfig,
    horizon: f64,
    chunk: u64,
    trajectories: u64,
    grid: Grid,
    f0_edges: Vec<f64>,
    dose_edges: Option<Vec<f64>>,
}

/// Patients solved per chunk (memory and the order of pushes do not depend on threads).
pub const DEFAULT_CHUNK: u64 = 1024;

impl<S: PatientSource> Trial<S> {
    /// A trial of `n` patients from `source` with `seed`, default solver settings, a
    /// 365-day horizon, summary strata by `f0` (< 20%, 20-50%, >= 50%) and by dose tertile.
    /// For a table source `n` is capped at the table's length.
    pub fn new(source: S, n: u64, seed: u64) -> Self {
        let n = source.len().map_or(n, |l| n.min(l));
        Self {
            source,
            n,
            seed,
            solver: SolverConfig::default(),
            horizon: 365.0,
            chunk: DEFAULT_CHUNK,
            trajectories: 0,
            grid: Grid::Daily,
            f0_edges: vec![0.0, 0.2, 0.5, 1.0],
            dose_edges: None,
        }
    }

    /// Solver settings for every patient.
    pub fn solver(mut self, cfg: SolverConfig) -> Self {
        self.solver = cfg;
        self
    }

    /// Horizon (days, >= 28).
    ///
    /// # Errors
    /// A horizon that is not finite or below 28.
    pub fn horizon(mut self, horizon: f64) -> Result<Self, InputError> {
        if !(28.0..=crate::solve::MAX_HORIZON_DAYS).contains(&horizon) {
            return Err(InputError::OutOfDomain {
                field: "horizon".into(),
                value: horizon,
                domain: ">= 28 and <= 36525 days (100 years)",
            });
        }
        self.horizon = horizon;
        Ok(self)
    }

    /// Record trajectories on `grid` for the first `k` patients.
    pub fn trajectories(mut self, k: u64, grid: Grid) -> Self {
        self.trajectories = k;
        self.grid = grid;
        self
    }

    /// Patients per chunk (>= 1; default [`DEFAULT_CHUNK`]). Changes memory use and
    /// progress granularity, never results.
    pub fn chunk(mut self, chunk: u64) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// Edges of the `f0` strata (strictly increasing).
    ///
    /// # Errors
    /// Fewer than two edges, a non-finite edge, or edges that do not increase strictly.
    pub fn f0_strata(mut self, edges: Vec<f64>) -> Result<Self, InputError> {
        check_edges("strata.marrow_blast_fraction", &edges)?;
        self.f0_edges = edges;
        Ok(self)
    }

    /// Edges of the dose strata (cells); default: tertiles of the doses of the first
    /// 3,000 patients of the seed (the same for every shard).
    ///
    /// # Errors
    /// As [`Trial::f0_strata`].
    pub fn dose_strata(mut self, edges: Vec<f64>) -> Result<Self, InputError> {
        check_edges("strata.dose_cells", &edges)?;
        self.dose_edges = Some(edges);
        Ok(self)
    }

    /// Number of patients.
    pub fn n_patients(&self) -> u64 {
        self.n
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The patient source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Simulate one patient of this trial.
    pub fn simulate_patient(&self, id: u64) -> PatientOutcome<<S::Patient as Subject>::Row> {
        let vp = match self.source.patient(self.seed, id) {
            Ok(vp) => vp,
            Err(e) => {
                return PatientOutcome {
                    id,
                    covariates: None,
                    parameters: Vec::new(),
                    result: Err(Failure::Input(e)),
                    stats: Stats::default(),
                    trajectory: None,
                    journey: None,
                }
            }
        };
        let parameters = vp.parameters();
        let covariates = vp.covariates();
        let want_traj = id < self.trajectories;
        let grid = if want_traj {
            match grid_times(&self.grid, self.horizon) {
                Ok(g) => g,
                // a grid that does not fit the horizon is this patient's input error, not
                // a silently empty trajectory
                Err(e) => {
                    return PatientOutcome {
                        id,
                        covariates,
                        parameters,
                        result: Err(Failure::Input(e)),
                        stats: Stats::default(),
                        trajectory: None,
                        journey: None,
                    }
                }
            }
        } else {
            Vec::new()
        };
        let (result, journey) = vp.simulate_journey(&self.solver, self.horizon, &grid, id);
        match result {
            Ok(sol) => PatientOutcome {
                id,
                covariates,
                parameters,
                result: Ok(sol.endpoints),
                stats: sol.stats,
                trajectory: if want_traj { Some(sol.rows) } else { None },
                journey,
            },
            Err(e) => PatientOutcome {
                id,
                covariates,
                parameters,
                result: Err(e),
                stats: Stats::default(),
                trajectory: None,
                journey,
            },
        }
    }

    /// Solve one patient of this trial in full: the endpoints, the event log, the solver
    /// statistics and the trajectory on `grid` over the trial's horizon (a single-patient
    /// view of a study: `cartkin simulate` on a study file). Same parameters and result as
    /// patient `id` of [`Trial::run`].
    ///
    /// # Errors
    /// The patient's input failure (a draw outside the patient's domain, a grid that does
    /// not fit the horizon) or a failed solve.
    pub fn solve_patient(&self, id: u64, grid: &Grid) -> Result<Solution<<S::Patient as Subject>::Row>, Failure> {
        let vp = self.source.patient(self.seed, id).map_err(Failure::Input)?;
        let times = grid_times(grid, self.horizon).map_err(Failure::Input)?;
        vp.simulate(&self.solver, self.horizon, &times, id)
    }

    /// The trial's horizon (days).
    pub fn horizon_days(&self) -> f64 {
        self.horizon
    }

    /// A fresh summary with this trial's layout (strata edges).
    pub fn empty_summary(&self) -> TrialSummary {
        let dose_edges = self.dose_edges.clone().unwrap_or_else(|| self.dose_tertiles());
        // the horizon and the edges were checked by the setters (the tertiles are increasing)
        let mut s = TrialSummary::new(self.horizon, &self.f0_edges, &dose_edges)
            .unwrap_or_else(|e| unreachable!("a trial's horizon and strata are validated: {e}"));
        s.mrd_ngs_threshold = self.source.definitions().mrd_ngs_threshold;
        s.journey = self.source.journey().map(|j| JourneySummary::new(j, self.horizon, s.mrd_ngs_threshold));
        s
    }

    fn dose_tertiles(&self) -> Vec<f64> {
        let m = self.source.len().unwrap_or(3000).min(3000);
        let mut d: Vec<f64> = (0..m)
            .filter_map(|id| self.source.patient(self.seed, id).ok())
            .filter_map(|p| p.covariates().map(|c| c.dose_cells))
            .filter(|d| d.is_finite() && *d > 0.0)
            .collect();
        d.sort_by(f64::total_cmp);
        if d.len() < 3 || d[0] == d[d.len() - 1] {
            return vec![0.0, f64::MAX];
        }
        let q = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
        let (a, b) = (q(1.0 / 3.0), q(2.0 / 3.0));
        if !(a < b) {
            return vec![0.0, f64::MAX];
        }
        vec![0.0, a, b, f64::MAX]
    }

    /// Run every patient. `sink` receives each outcome in id order; `progress` (if any) is
    /// called after each chunk.
    pub fn run(&self, sink: &mut dyn FnMut(&SourceOutcome<S>), progress: Option<Progress<'_>>) -> TrialSummary {
        self.run_range(0..self.n, sink, progress)
    }

    /// Run shard `k` of `n_shards`: the contiguous ids `[k n / n_shards, (k + 1) n / n_shards)`.
    /// Merging the shards' summaries in any order gives the full run's summary exactly.
    ///
    /// # Errors
    /// `k >= n_shards` or `n_shards == 0`.
    pub fn run_shard(
        &self,
        k: u64,
        n_shards: u64,
        sink: &mut dyn FnMut(&SourceOutcome<S>),
        progress: Option<Progress<'_>>,
    ) -> Result<TrialSummary, InputError> {
        if n_shards == 0 || k >= n_shards {
            return Err(InputError::Inconsistent {
                field: "shard".into(),
                reason: format!("shard {k} of {n_shards}: need 0 <= k < n_shards"),
            });
        }
        Ok(self.run_range(self.shard_range(k, n_shards), sink, progress))
    }

    /// The manifest of this run (see [`crate::state`] for what its hash covers).
    pub fn manifest(&self) -> Manifest {
        let info = self.source.model();
        let pop = self.source.describe();
        let dose_edges = self.dose_edges.clone().unwrap_or_else(|| self.dose_tertiles());
        let resolved = format!(
            "model={} {}\nsource={}\nsolver={:?}\nhorizon={:?}\ndefinitions={:?}\nf0_strata={:?}\ndose_strata={:?}\nseed={}\nn={}",
            info.name,
            info.version,
            pop,
            self.solver,
            self.horizon,
            self.source.definitions(),
            self.f0_edges,
            dose_edges,
            self.seed,
            self.n
        );
        Manifest {
            format: STATE_FORMAT,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            model: info.name.to_string(),
            model_version: info.version.to_string(),
            population: fnv1a64(&pop),
            seed: self.seed,
            n_patients: self.n,
            run_hash: fnv1a64(&resolved),
        }
    }

    /// Run shard `k` of `n_shards` (as [`Trial::run_shard`]) and return its mergeable state.
    ///
    /// # Errors
    /// `k >= n_shards` or `n_shards == 0`.
    pub fn run_shard_state(
        &self,
        k: u64,
        n_shards: u64,
        sink: &mut dyn FnMut(&SourceOutcome<S>),
        progress: Option<Progress<'_>>,
    ) -> Result<SummaryState, InputError> {
        let summary = self.run_shard(k, n_shards, sink, progress)?;
        Ok(SummaryState { manifest: self.manifest(), shards: Shards { n_shards, held: vec![k] }, summary })
    }

    /// Ids of shard `k` of `n_shards`.
    pub fn shard_range(&self, k: u64, n_shards: u64) -> Range<u64> {
        shard_range(self.n, k, n_shards)
    }

    /// Run the patients with ids in `range` (see [`Trial::run`]).
    pub fn run_range(
        &self,
        range: Range<u64>,
        sink: &mut dyn FnMut(&SourceOutcome<S>),
        progress: Option<Progress<'_>>,
    ) -> TrialSummary {
        let total = range.end.saturating_sub(range.start);
        let first = range.start;
        let mut after = |next: u64, _: &TrialSummary| {
            if let Some(p) = progress {
                p(next - first, total);
            }
            true
        };
        self.run_chunks(range.clone(), range.start, self.empty_summary(), sink, &mut after).0
    }

    /// Run the ids `from..range.end` chunk by chunk, continuing `summary` (the summary of the
    /// ids `range.start..from`, e.g. read back from a checkpoint), and call
    /// `after_chunk(next_id, &summary)` after every chunk, when the chunk's outcomes have
    /// been pushed and handed to `sink`: it returns `false` to stop there (an interruption).
    /// Returns the summary and the next id to run (`range.end` when the range is complete).
    /// Stopping and continuing from the returned id gives exactly the uninterrupted summary.
    pub fn run_chunks(
        &self,
        range: Range<u64>,
        from: u64,
        mut summary: TrialSummary,
        sink: &mut dyn FnMut(&SourceOutcome<S>),
        after_chunk: &mut dyn FnMut(u64, &TrialSummary) -> bool,
    ) -> (TrialSummary, u64) {
        let mut start = from.clamp(range.start, range.end);
        while start < range.end {
            let end = (start + self.chunk).min(range.end);
            let outcomes: Vec<PatientOutcome<_>> =
                (start..end).into_par_iter().map(|id| self.simulate_patient(id)).collect();
            for o in &outcomes {
                summary.push(o);
                sink(o);
            }
            start = end;
            if !after_chunk(end, &summary) {
                break;
            }
        }
        (summary, start)
    }
}

/// The ids of shard `k` of `n_shards` of a run of `n` patients: the k-th of `n_shards`
/// contiguous ranges (`k * n / n_shards .. (k + 1) * n / n_shards`), what
/// [`Trial::shard_range`] gives; for tools that know a run by its size alone.
///
/// ```
/// use cartkin::trial::shard_range;
/// assert_eq!(shard_range(10, 0, 3), 0..3);
/// assert_eq!(shard_range(10, 1, 3), 3..6);
/// assert_eq!(shard_range(10, 2, 3), 6..10);
/// ```
pub fn shard_range(n: u64, k: u64, n_shards: u64) -> Range<u64> {
    let n = n as u128;
    let (k, s) = (k as u128, n_shards.max(1) as u128);
    ((k * n / s) as u64)..(((k + 1) * n / s) as u64)
}

/// Rates and counts of one stratum.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StratumSummary {
    n: u64,
    cr: Rate,
    mrd_neg: Rate,
    crs_any: Rate,
    crs_severe: Rate,
    cured: Rate,
    relapse_cd19neg: Rate,
    grades: GradeCounts,
    efs: KaplanMeier,
}

impl StratumSummary {
    fn new(horizon: f64) -> Self {
        Self {
            n: 0,
            cr: Rate::new(),
            mrd_neg: Rate::new(),
            crs_any: Rate::new(),
            crs_severe: Rate::new(),
            cured: Rate::new(),
            relapse_cd19neg: Rate::new(),
            grades: GradeCounts::new(),
            efs: KaplanMeier::new(horizon, 0.5).expect("valid KM grid"),
        }
    }

    fn push(&mut self, e: &Endpoints) {
        self.n += 1;
        self.cr.push(e.cr_day28);
        self.mrd_neg.push(e.mrd_neg_day28);
        self.crs_any.push(e.crs_grade >= 1);
        self.crs_severe.push(e.crs_grade >= 3);
        self.cured.push(e.cured);
        if e.relapse_day.is_some() {
            self.relapse_cd19neg.push(e.cd19_negative());
        }
        self.grades.push(e.crs_grade);
        self.efs.push(e.efs_event_day, !e.efs_censored);
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("n".into(), json!(self.n));
        put_rate(&mut m, "cr_rate", &self.cr);
        put_rate(&mut m, "mrd_neg_rate", &self.mrd_neg);
        put_rate(&mut m, "crs_any_rate", &self.crs_any);
        put_rate(&mut m, "crs_severe_rate", &self.crs_severe);
        put_rate(&mut m, "cured_rate", &self.cured);
        put_rate(&mut m, "cd19neg_relapse_share", &self.relapse_cd19neg);
        m.insert("crs_grade_counts".into(), json!(self.grades.counts()));
        if let Some(p) = self.efs.survival_at(365.0) {
            m.insert("efs_365".into(), json!(p.s));
        }
        Value::Object(m)
    }
}

impl Accumulate for StratumSummary {
    fn merge(&mut self, o: &Self) -> Result<(), crate::summary::LayoutMismatch> {
        self.efs.merge(&o.efs)?;
        self.n += o.n;
        self.cr.merge(&o.cr);
        self.mrd_neg.merge(&o.mrd_neg);
        self.crs_any.merge(&o.crs_any);
        self.crs_severe.merge(&o.crs_severe);
        self.cured.merge(&o.cured);
        self.relapse_cd19neg.merge(&o.relapse_cd19neg);
        self.grades.merge(&o.grades);
        Ok(())
    }
}

/// The streaming summary of a trial: rates with Wilson 95% intervals, the CRS grade
/// distribution, quantiles of the kinetics (log-spaced histograms of 1% relative bin width:
/// a reported quantile is within 0.5% of a sample quantile; times on 0.05-day bins: within
/// 0.025 day), Kaplan–Meier event-free and relapse-free survival with Greenwood log-log 95%
/// bands on a 0.5-day grid, and strata by `f0` and dose. Integer counts only: memory is fixed
/// by the layout, and merging is exact. It serialises (serde) without loss: see
/// [`SummaryState`] for the form that shards in other processes merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrialSummary {
    horizon: f64,
    /// The NGS MRD threshold the summary counts `mrd_neg_ngs` with.
    #[serde(default = "default_ngs")]
    mrd_ngs_threshold: f64,
    n: u64,
    failures: BTreeMap<String, u64>,
    cr: Rate,
    mrd_neg: Rate,
    mrd_neg_ngs: Rate,
    cured: Rate,
    relapse_in_cr: Rate,
    relapse_cd19neg: Rate,
    crs_any: Rate,
    crs_severe: Rate,
    toci: Rate,
    steroid: Rate,
    b_recovered: Rate,
    grades: GradeCounts,
    cmax: LogHistogram,
    cmax_fold: LogHistogram,
    auc28: LogHistogram,
    peak_il6: LogHistogram,
    tmax: LinearHistogram,
    crs_onset: LinearHistogram,
    efs: KaplanMeier,
    rfs_responders: KaplanMeier,
    /// Model v2's endpoints (empty for models without them).
    #[serde(default)]
    extra: ExtraSummary,
    by_f0: Stratified<StratumSummary>,
    by_dose: Stratified<StratumSummary>,
    /// The patient journey's flow, intention-to-treat rates, visits and costs (sources with
    /// a journey); the other fields count infused patients only.
    #[serde(default)]
    journey: Option<JourneySummary>,
}

fn default_ngs() -> f64 {
    crate::Definitions::default().mrd_ngs_threshold
}

/// Strata edges: at least two, finite, strictly increasing.
fn check_edges(field: &str, edges: &[f64]) -> Result<(), InputError> {
    if edges.len() < 2 || edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| !(w[0] < w[1])) {
        return Err(InputError::Inconsistent {
            field: field.into(),
            reason: format!("edges must be at least two finite, strictly increasing numbers, not {edges:?}"),
        });
    }
    Ok(())
}

/// A number for people: plain with up to 2 decimals between 0.01 and 100,000, else
/// scientific with 3 significant digits.
pub fn plain(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (0.01..1e5).contains(&a) {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.2e}")
    }
}

pub(crate) fn put_rate(m: &mut Map<String, Value>, key: &str, r: &Rate) {
    match r.estimate() {
        Some(e) => {
            m.insert(key.into(), json!(e.p));
            m.insert(format!("{key}_ci_low"), json!(e.ci_low));
            m.insert(format!("{key}_ci_high"), json!(e.ci_high));
        }
        None => {
            m.insert(key.into(), Value::Null);
            m.insert(format!("{key}_ci_low"), Value::Null);
            m.insert(format!("{key}_ci_high"), Value::Null);
        }
    }
    m.insert(format!("{key}_n"), json!(r.n()));
}

fn quantiles_json(q: impl Fn(f64) -> Option<f64>) -> Value {
    let mut m = Map::new();
    for (k, p) in [("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95)] {
        m.insert(k.into(), q(p).map_or(Value::Null, |v| json!(v)));
    }
    Value::Object(m)
}

/// The summary of the endpoints that model v2 adds (ICANS, B-cell aplasia and CAR-T
/// persistence of responders, CRS duration): empty for a model without them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct ExtraSummary {
    icans_any: Rate,
    icans_severe: Rate,
    aplasia_6m: Rate,
    aplasia_12m: Rate,
    rel_6m: LogHistogram,
    rel_12m: LogHistogram,
    crs_duration: LinearHistogram,
    icans_onset: LinearHistogram,
    /// `cmax_copies` of every patient (transgene copies per ug DNA).
    #[serde(default = "copies_histogram")]
    cmax_copies: LogHistogram,
    /// The cure day of every cured patient (a model that tracks extinction).
    #[serde(default = "day_histogram")]
    cure_day: LinearHistogram,
}

fn copies_histogram() -> LogHistogram {
    LogHistogram::new(1e-6, 1e12, 0.01).expect("layout")
}

fn day_histogram() -> LinearHistogram {
    LinearHistogram::new(0.0, crate::solve::MAX_HORIZON_DAYS + 0.05, 0.05).expect("layout")
}

impl Default for ExtraSummary {
    fn default() -> Self {
        Self::new(crate::solve::MAX_HORIZON_DAYS)
    }
}

impl ExtraSummary {
    fn new(horizon: f64) -> Self {
        Self {
            icans_any: Rate::new(),
            icans_severe: Rate::new(),
            aplasia_6m: Rate::new(),
            aplasia_12m: Rate::new(),
            rel_6m: LogHistogram::new(1e-20, 10.0, 0.01).expect("layout"),
            rel_12m: LogHistogram::new(1e-20, 10.0, 0.01).expect("layout"),
            crs_duration: LinearHistogram::new(0.0, horizon + 0.05, 0.05).expect("layout"),
            icans_onset: LinearHistogram::new(0.0, horizon + 0.05, 0.05).expect("layout"),
            cmax_copies: copies_histogram(),
            cure_day: LinearHistogram::new(0.0, horizon + 0.05, 0.05).expect("layout"),
        }
    }

    fn push(&mut self, e: &Endpoints) {
        let ob = e.observed;
        if ob.icans {
            self.icans_any.push(e.icans_grade >= 1);
            self.icans_severe.push(e.icans_grade >= 3);
            if let Some(d) = e.icans_onset_day {
                self.icans_onset.push(d);
            }
        }
        if let Some(d) = e.crs_duration {
            self.crs_duration.push(d);
        }
        self.cmax_copies.push(e.cmax_copies);
        if ob.extinction {
            if let Some(d) = e.cure_day {
                self.cure_day.push(d);
            }
        }
        if ob.tumour && e.cr_day28 {
            if let Some(a) = e.b_aplasia_6m {
                self.aplasia_6m.push(a);
            }
            if let Some(a) = e.b_aplasia_12m {
                self.aplasia_12m.push(a);
            }
            if let Some(r) = e.car_t_rel_6m {
                self.rel_6m.push(r);
            }
            if let Some(r) = e.car_t_rel_12m {
                self.rel_12m.push(r);
            }
        }
    }

    fn merge(&mut self, o: &Self) -> Result<(), crate::summary::LayoutMismatch> {
        let mut m = self.clone();
        m.rel_6m.merge(&o.rel_6m)?;
        m.rel_12m.merge(&o.rel_12m)?;
        m.crs_duration.merge(&o.crs_duration)?;
        m.icans_onset.merge(&o.icans_onset)?;
        m.cmax_copies.merge(&o.cmax_copies)?;
        m.cure_day.merge(&o.cure_day)?;
        for (a, b) in [
            (&mut m.icans_any, &o.icans_any),
            (&mut m.icans_severe, &o.icans_severe),
            (&mut m.aplasia_6m, &o.aplasia_6m),
            (&mut m.aplasia_12m, &o.aplasia_12m),
        ] {
            a.merge(b);
        }
        *self = m;
        Ok(())
    }

    fn to_json(&self, m: &mut Map<String, Value>) {
        put_rate(m, "icans_any_rate", &self.icans_any);
        put_rate(m, "icans_severe_rate", &self.icans_severe);
        put_rate(m, "b_aplasia_6m_responders_rate", &self.aplasia_6m);
        put_rate(m, "b_aplasia_12m_responders_rate", &self.aplasia_12m);
        let opt = |v: Option<f64>| v.map_or(Value::Null, |x| json!(x));
        m.insert("car_t_rel_6m_responders_median".into(), opt(self.rel_6m.quantile(0.5)));
        m.insert("car_t_rel_12m_responders_median".into(), opt(self.rel_12m.quantile(0.5)));
        m.insert("crs_duration_median".into(), opt(self.crs_duration.quantile(0.5)));
        m.insert("icans_onset_median".into(), opt(self.icans_onset.quantile(0.5)));
        m.insert("cmax_copies_median".into(), opt(self.cmax_copies.quantile(0.5)));
        m.insert("cure_day_median".into(), opt(self.cure_day.quantile(0.5)));
        // top-level keys: `quantiles` keeps the keys it had before the zoo
        m.insert("cmax_copies_quantiles".into(), quantiles_json(|p| self.cmax_copies.quantile(p)));
        m.insert("cure_day_quantiles".into(), quantiles_json(|p| self.cure_day.quantile(p)));
    }
}

impl TrialSummary {
    /// An empty summary for `horizon` with the given strata edges.
    ///
    /// # Errors
    /// A horizon that is not finite, > 0 and at most [`crate::solve::MAX_HORIZON_DAYS`];
    /// strata edges that are fewer than two, not finite or not strictly increasing.
    pub fn new(horizon: f64, f0_edges: &[f64], dose_edges: &[f64]) -> Result<Self, InputError> {
        if !(horizon > 0.0 && horizon <= crate::solve::MAX_HORIZON_DAYS) {
            return Err(InputError::OutOfDomain {
                field: "horizon".into(),
                value: horizon,
                domain: "> 0 and <= 36525 days",
            });
        }
        check_edges("strata.marrow_blast_fraction", f0_edges)?;
        check_edges("strata.dose_cells", dose_edges)?;
        Ok(Self::checked(horizon, f0_edges, dose_edges))
    }

    fn checked(horizon: f64, f0_edges: &[f64], dose_edges: &[f64]) -> Self {
        let km = || KaplanMeier::new(horizon, 0.5).expect("valid KM grid");
        let stratum = StratumSummary::new(horizon);
        let strat = |edges: &[f64]| {
            Stratified::new(edges.to_vec(), stratum.clone())
                .or_else(|_| Stratified::new(vec![f64::MIN, f64::MAX], stratum.clone()))
                .expect("valid default strata")
        };
        Self {
            horizon,
            mrd_ngs_threshold: default_ngs(),
            n: 0,
            failures: BTreeMap::new(),
            cr: Rate::new(),
            mrd_neg: Rate::new(),
            mrd_neg_ngs: Rate::new(),
            cured: Rate::new(),
            relapse_in_cr: Rate::new(),
            relapse_cd19neg: Rate::new(),
            crs_any: Rate::new(),
            crs_severe: Rate::new(),
            toci: Rate::new(),
            steroid: Rate::new(),
            b_recovered: Rate::new(),
            grades: GradeCounts::new(),
            cmax: LogHistogram::new(1.0, 1e17, 0.01).expect("layout"),
            cmax_fold: LogHistogram::new(1e-6, 1e9, 0.01).expect("layout"),
            auc28: LogHistogram::new(1.0, 1e19, 0.01).expect("layout"),
            peak_il6: LogHistogram::new(1e-3, 1e9, 0.01).expect("layout"),
            tmax: LinearHistogram::new(0.0, horizon + 0.05, 0.05).expect("layout"),
            crs_onset: LinearHistogram::new(0.0, horizon + 0.05, 0.05).expect("layout"),
            efs: km(),
            rfs_responders: km(),
            extra: ExtraSummary::new(horizon),
            by_f0: strat(f0_edges),
            by_dose: strat(dose_edges),
            journey: None,
        }
    }

    /// Add one patient.
    pub fn push<R>(&mut self, o: &PatientOutcome<R>) {
        if let Some(r) = &o.journey {
            if let Some(j) = &mut self.journey {
                j.push(r, o.result.as_ref().ok());
            }
            if r.plan.stage != Stage::Infused {
                return;
            }
        }
        self.n += 1;
        let e = match &o.result {
            Ok(e) => e,
            Err(f) => {
                *self.failures.entry(f.label().to_string()).or_insert(0) += 1;
                return;
            }
        };
        let ob = e.observed;
        if ob.extinction {
            self.cured.push(e.cured);
        }
        if ob.tumour {
            self.cr.push(e.cr_day28);
            self.mrd_neg.push(e.mrd_neg_day28);
            self.mrd_neg_ngs.push(e.f_day28 < self.mrd_ngs_threshold);
            if e.cr_day28 {
                self.relapse_in_cr.push(e.relapse_day.is_some());
                match e.relapse_day {
                    Some(d) => self.rfs_responders.push(d, true),
                    None => self.rfs_responders.push(self.horizon, false),
                }
            }
            if e.relapse_day.is_some() {
                self.relapse_cd19neg.push(e.cd19_negative());
            }
        }
        if ob.il6_signal {
            self.crs_any.push(e.crs_grade >= 1);
            self.crs_severe.push(e.crs_grade >= 3);
        }
        self.toci.push(!e.toci_days.is_empty());
        self.steroid.push(e.steroid_day.is_some());
        if ob.b_cells {
            self.b_recovered.push(e.b_recovery_day.is_some());
        }
        if ob.il6_signal {
            self.grades.push(e.crs_grade);
        }
        self.cmax.push(e.cmax);
        self.auc28.push(e.auc28);
        if ob.il6 {
            self.peak_il6.push(e.peak_il6);
        }
        self.tmax.push(e.tmax);
        if let Some(d) = e.crs_onset_day {
            self.crs_onset.push(d);
        }
        if ob.tumour {
            self.efs.push(e.efs_event_day, !e.efs_censored);
        }
        self.extra.push(e);
        if let Some(c) = &o.covariates {
            if c.dose_cells > 0.0 {
                self.cmax_fold.push(e.cmax / c.dose_cells);
            }
            if ob.tumour && ob.il6_signal {
                if let Some(s) = self.by_f0.get_mut(c.f0) {
                    s.push(e);
                }
                if let Some(s) = self.by_dose.get_mut(c.dose_cells) {
                    s.push(e);
                }
            }
        }
    }

    /// Merge another summary of the same layout (e.g. another shard).
    ///
    /// # Errors
    /// Different layouts (horizon or strata edges).
    pub fn merge(&mut self, o: &TrialSummary) -> Result<(), crate::summary::LayoutMismatch> {
        if self.horizon != o.horizon {
            return Err(crate::summary::LayoutMismatch { what: "horizon" });
        }
        let mut m = self.clone();
        m.cmax.merge(&o.cmax)?;
        m.cmax_fold.merge(&o.cmax_fold)?;
        m.auc28.merge(&o.auc28)?;
        m.peak_il6.merge(&o.peak_il6)?;
        m.tmax.merge(&o.tmax)?;
        m.crs_onset.merge(&o.crs_onset)?;
        m.efs.merge(&o.efs)?;
        m.rfs_responders.merge(&o.rfs_responders)?;
        m.extra.merge(&o.extra)?;
        m.by_f0.merge(&o.by_f0)?;
        m.by_dose.merge(&o.by_dose)?;
        match (&mut m.journey, &o.journey) {
            (Some(a), Some(b)) => a.merge(b)?,
            (None, None) => {}
            _ => return Err(crate::summary::LayoutMismatch { what: "journey" }),
        }
        m.n += o.n;
        for (k, v) in &o.failures {
            *m.failures.entry(k.clone()).or_insert(0) += v;
        }
        for (a, b) in [
            (&mut m.cr, &o.cr),
            (&mut m.mrd_neg, &o.mrd_neg),
            (&mut m.mrd_neg_ngs, &o.mrd_neg_ngs),
            (&mut m.cured, &o.cured),
            (&mut m.relapse_in_cr, &o.relapse_in_cr),
            (&mut m.relapse_cd19neg, &o.relapse_cd19neg),
            (&mut m.crs_any, &o.crs_any),
            (&mut m.crs_severe, &o.crs_severe),
            (&mut m.toci, &o.toci),
            (&mut m.steroid, &o.steroid),
            (&mut m.b_recovered, &o.b_recovered),
        ] {
            a.merge(b);
        }
        m.grades.merge(&o.grades);
        *self = m;
        Ok(())
    }

    /// The journey's part (sources with a patient journey).
    pub fn journey(&self) -> Option<&JourneySummary> {
        self.journey.as_ref()
    }

    /// Patients pushed (completed or failed; with a journey: infused patients).
    pub fn n_patients(&self) -> u64 {
        self.n
    }

    /// Failed patients.
    pub fn n_failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Failures by reason label.
    pub fn failures(&self) -> &BTreeMap<String, u64> {
        &self.failures
    }

    /// Complete remission at day 28 among completed patients.
    pub fn cr(&self) -> &Rate {
        &self.cr
    }

    /// Kaplan–Meier event-free survival.
    pub fn efs(&self) -> &KaplanMeier {
        &self.efs
    }

    /// Kaplan–Meier relapse-free survival among day-28 responders.
    pub fn rfs_responders(&self) -> &KaplanMeier {
        &self.rfs_responders
    }

    /// CRS grade counts.
    pub fn grades(&self) -> &GradeCounts {
        &self.grades
    }

    /// The summary as a table for a terminal: rates with their 95% intervals, the CRS grade
    /// counts and the kinetics medians (plain numbers; scientific notation only for cell
    /// counts and other large or tiny values).
    pub fn report(&self) -> String {
        self.report_in("cells")
    }

    /// [`TrialSummary::report`] with the unit of the model's CAR-T observable (`cells` for
    /// the built-in models; `copies/ug` for `stein2019`, `cells/uL` for `kimmel2021`).
    pub fn report_in(&self, car_t_unit: &str) -> String {
        use std::fmt::Write as _;
        let s = self.to_json();
        let mut out = String::new();
        let num = |k: &str| s.get(k).and_then(|v| v.as_f64());
        let rate = |out: &mut String, label: &str, k: &str| {
            let n_k = s.get(format!("{k}_n")).and_then(|v| v.as_u64()).unwrap_or(0);
            match (num(k), num(&format!("{k}_ci_low")), num(&format!("{k}_ci_high"))) {
                (Some(p), Some(lo), Some(hi)) => {
                    let _ = writeln!(
                        out,
                        "  {label:<38} {:>6.1}%   (95% CI {:>5.1}-{:>5.1}%, n = {n_k})",
                        100.0 * p,
                        100.0 * lo,
                        100.0 * hi
                    );
                }
                _ => {
                    let _ = writeln!(out, "  {label:<38}      -    (n = {n_k})");
                }
            }
        };
        if let Some(f) = s.get("flow") {
            let n = |k: &str| f.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            let _ = writeln!(out, "Patient flow");
            let _ = writeln!(
                out,
                "  screened {} -> eligible {} -> enrolled {} -> manufactured {} -> infused {} -> evaluable {}",
                n("screened"),
                n("eligible"),
                n("enrolled"),
                n("manufactured"),
                n("infused"),
                n("evaluable")
            );
            if let Some(itt) = s.get("itt").and_then(|v| v.as_object()) {
                let g = |k: &str| itt.get(k).and_then(|v| v.as_f64());
                if let (Some(p), Some(lo), Some(hi)) = (g("cr_rate"), g("cr_rate_ci_low"), g("cr_rate_ci_high")) {
                    let _ = writeln!(
                        out,
                        "  {:<38} {:>6.1}%   (95% CI {:>5.1}-{:>5.1}%, n = {})",
                        "remission by intention to treat",
                        100.0 * p,
                        100.0 * lo,
                        100.0 * hi,
                        n("enrolled")
                    );
                }
            }
            if let Some(c) = s.get("cost") {
                let g = |k: &str| c.get(k).and_then(|v| v.as_f64());
                let cur = c.get("currency").and_then(|v| v.as_str()).unwrap_or("");
                for (label, k) in [
                    ("cost per infused patient", "per_infused"),
                    ("cost per responder (intention to treat)", "per_responder_itt"),
                ] {
                    if let Some(v) = g(k) {
                        let _ = writeln!(out, "  {label:<38} {v:.0} {cur}");
                    }
                }
            }
            let _ = writeln!(out, "Infused patients");
        }
        let _ = writeln!(out, "  {:<38} {} of {}", "failed solves", self.n_failed(), self.n);
        let _ = writeln!(out, "Response");
        rate(&mut out, "complete remission at day 28", "cr_rate");
        rate(&mut out, "MRD-negative (flow, 1e-4) at day 28", "mrd_neg_rate");
        rate(&mut out, "MRD-negative (NGS, 1e-6) at day 28", "mrd_neg_ngs_rate");
        rate(&mut out, "relapse after CR (by the horizon)", "relapse_rate_in_cr");
        rate(&mut out, "CD19-negative share of relapses", "cd19neg_relapse_share");
        rate(&mut out, "cured (all blasts extinct)", "cured_rate");
        if let Some(p) = self.efs.survival_at(365.0_f64.min(self.horizon)) {
            let _ = writeln!(out, "  {:<38} {:>6.1}%", "event-free survival at 12 months", 100.0 * p.s);
        }
        let _ = writeln!(out, "Cytokine release syndrome");
        rate(&mut out, "any grade", "crs_any_rate");
        rate(&mut out, "severe (grade 3-4)", "crs_severe_rate");
        rate(&mut out, "tocilizumab given", "toci_rate");
        rate(&mut out, "steroids given", "steroid_rate");
        let g: Vec<String> = self.grades.counts().iter().map(|x| x.to_string()).collect();
        let _ = writeln!(out, "  {:<38} {}", "grade 0 / 1 / 2 / 3 / 4 (patients)", g.join(" / "));
        let _ = writeln!(out, "CAR-T kinetics and IL-6 (medians)");
        let mut med = |label: &str, v: Option<f64>, unit: &str| {
            let _ = match v {
                Some(v) => writeln!(out, "  {label:<38} {}{}{unit}", plain(v), if unit.is_empty() { "" } else { " " }),
                None => writeln!(out, "  {label:<38} -"),
            };
        };
        med("Cmax", self.cmax.quantile(0.5), car_t_unit);
        med("Cmax / cells infused (fold expansion)", self.cmax_fold.quantile(0.5), "");
        med("Tmax", self.tmax.quantile(0.5), "days");
        med("AUC 0-28", self.auc28.quantile(0.5), &format!("{car_t_unit} x day"));
        med("peak IL-6 (serum, days 0-28)", self.peak_il6.quantile(0.5), "pg/mL");
        out
    }

    /// The summary as JSON (keys sorted, no wall time or thread count: byte-identical for
    /// any thread count or shard split).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("n_patients".into(), json!(self.n));
        m.insert("n_failed".into(), json!(self.n_failed()));
        m.insert("n_completed".into(), json!(self.n - self.n_failed()));
        m.insert("failures_by_reason".into(), json!(self.failures));
        put_rate(&mut m, "cr_rate", &self.cr);
        put_rate(&mut m, "mrd_neg_rate", &self.mrd_neg);
        put_rate(&mut m, "mrd_neg_ngs_rate", &self.mrd_neg_ngs);
        put_rate(&mut m, "cured_rate", &self.cured);
        put_rate(&mut m, "relapse_rate_in_cr", &self.relapse_in_cr);
        put_rate(&mut m, "cd19neg_relapse_share", &self.relapse_cd19neg);
        put_rate(&mut m, "crs_any_rate", &self.crs_any);
        put_rate(&mut m, "crs_severe_rate", &self.crs_severe);
        put_rate(&mut m, "toci_rate", &self.toci);
        put_rate(&mut m, "steroid_rate", &self.steroid);
        put_rate(&mut m, "b_recovery_rate", &self.b_recovered);
        m.insert("crs_grade_counts".into(), json!(self.grades.counts()));
        m.insert("crs_grade_fractions".into(), self.grades.fractions().map_or(Value::Null, |f| json!(f)));
        let opt = |v: Option<f64>| v.map_or(Value::Null, |x| json!(x));
        m.insert("tmax_median".into(), opt(self.tmax.quantile(0.5)));
        m.insert("cmax_median".into(), opt(self.cmax.quantile(0.5)));
        m.insert("cmax_fold_median".into(), opt(self.cmax_fold.quantile(0.5)));
        m.insert("auc28_median".into(), opt(self.auc28.quantile(0.5)));
        m.insert("peak_il6_median".into(), opt(self.peak_il6.quantile(0.5)));
        m.insert("crs_onset_median".into(), opt(self.crs_onset.quantile(0.5)));
        self.extra.to_json(&mut m);
        let mut q = Map::new();
        q.insert("cmax".into(), quantiles_json(|p| self.cmax.quantile(p)));
        q.insert("cmax_fold".into(), quantiles_json(|p| self.cmax_fold.quantile(p)));
        q.insert("auc28".into(), quantiles_json(|p| self.auc28.quantile(p)));
        q.insert("peak_il6".into(), quantiles_json(|p| self.peak_il6.quantile(p)));
        q.insert("tmax".into(), quantiles_json(|p| self.tmax.quantile(p)));
        q.insert("crs_onset_day".into(), quantiles_json(|p| self.crs_onset.quantile(p)));
        m.insert("quantiles".into(), Value::Object(q));
        m.insert(
            "quantile_method".into(),
            json!("fixed-layout histograms: log-spaced bins of 1% relative width for amounts (error <= 0.5%), 0.05-day bins for times (error <= 0.025 day)"),
        );
        let km_point = |km: &KaplanMeier, t: f64| {
            km.survival_at(t).map_or(
                Value::Null,
                |p| json!({"t": p.t, "s": p.s, "ci_low": p.ci_low, "ci_high": p.ci_high, "at_risk": p.at_risk}),
            )
        };
        let km_value = |km: &KaplanMeier, t: f64| km.survival_at(t).map_or(Value::Null, |p| json!(p.s));
        m.insert("efs_182_5".into(), km_point(&self.efs, 182.5));
        m.insert("efs_365".into(), km_point(&self.efs, 365.0));
        m.insert("rfs12_responders".into(), km_value(&self.rfs_responders, 365.0));
        m.insert("rfs12_responders_detail".into(), km_point(&self.rfs_responders, 365.0));
        let curve = |km: &KaplanMeier| {
            Value::Array(
                km.curve()
                    .iter()
                    .filter(|p| (p.t * 2.0).round() as i64 % 14 == 0 || p.t == self.horizon)
                    .map(|p| json!([p.t, p.s, p.ci_low, p.ci_high, p.at_risk]))
                    .collect(),
            )
        };
        m.insert("efs_curve_weekly".into(), curve(&self.efs));
        m.insert("rfs_responders_curve_weekly".into(), curve(&self.rfs_responders));
        m.insert("km_curve_columns".into(), json!(["t", "s", "ci_low", "ci_high", "at_risk"]));
        let strata = |s: &Stratified<StratumSummary>| {
            Value::Array(
                s.bins()
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        let mut v = b.to_json();
                        if let Value::Object(o) = &mut v {
                            o.insert("label".into(), json!(s.label(i)));
                        }
                        v
                    })
                    .collect(),
            )
        };
        let mut st = Map::new();
        st.insert("f0".into(), strata(&self.by_f0));
        st.insert("dose_cells".into(), strata(&self.by_dose));
        m.insert("strata".into(), Value::Object(st));
        if let Some(j) = &self.journey {
            j.to_json(&mut m);
        }
        Value::Object(m)
    }
}
