//! The driver's fast path for models without events: daily rows of many patients, one at a
//! time or four at a time on SIMD lanes ([`crate::ode::Dopri5Batch`]), with no heap
//! allocation per patient, step or right-hand side.
//!
//! A model opts in by implementing [`Batched`]: its right-hand side written once more
//! lane-wise (a [`BatchSystem`] whose problem is the model itself) and its output row in
//! natural units. The path integrates from the model's start state over `[0, days]` with the
//! model's start switches throughout: no regimen, no events of the model's own, no
//! endpoints (use [`crate::solve::run_model`] for those). The scalar and the 4-lane solves
//! are bit-identical (`tests/batch.rs`).

use super::driver::Bound;
use super::SolverConfig;
use crate::error::SolveFailure;
use crate::model::Model;
use crate::ode::{BatchSystem, Dopri5, Dopri5Batch, Stats, Stepper, Tolerance};
use nalgebra::SVector;

/// A model with the driver's batch capability (see the module docs).
pub trait Batched<const N: usize>: Model<N> + Copy {
    /// The model's equations on four lanes; lane `l` is loaded with one model.
    type Lanes: BatchSystem<N, Problem = Self> + Default + Clone + std::fmt::Debug;

    /// Check the model's parameters and initial state (default: nothing to check). Called
    /// before every solve; it must not allocate when the values are valid.
    ///
    /// # Errors
    /// The first value outside its domain.
    fn validate(&self) -> Result<(), crate::InputError> {
        Ok(())
    }

    /// The output row of state `y` in natural units (e.g. `exp` of log-states).
    fn natural(y: &SVector<f64, N>) -> [f64; N];

    /// [`Batched::natural`] on many rows of states in place; a model may vectorise it, but
    /// must stay bit-identical to [`Batched::natural`].
    fn natural_rows(rows: &mut [[f64; N]]) {
        for r in rows {
            *r = Self::natural(&SVector::from(*r));
        }
    }
}

/// A reusable solver of daily rows for a [`Batched`] model: one patient at a time
/// ([`DailySolver::solve`]) or four at a time ([`DailySolver::solve_batch`]).
#[derive(Debug, Clone)]
pub struct DailySolver<const N: usize, M: Batched<N>> {
    stepper: Dopri5<N>,
    batch: Dopri5Batch<N>,
    sys: M::Lanes,
    cfg: SolverConfig,
}

impl<const N: usize, M: Batched<N>> DailySolver<N, M> {
    /// A solver with the settings of `cfg` (method, rtol, step limit, largest step; the
    /// absolute tolerances are the model's [`Model::atol`] for `cfg`).
    pub fn new(cfg: &SolverConfig) -> Self {
        let m = cfg.method_used();
        Self {
            stepper: Dopri5::with_method(m),
            batch: Dopri5Batch::with_method(m),
            sys: M::Lanes::default(),
            cfg: *cfg,
        }
    }

    /// Always take the portable SIMD path in [`DailySolver::solve_batch`] (the results are
    /// the same bits; by default the fastest path of the CPU is taken, see
    /// [`crate::ode::SimdPath`]).
    pub fn force_portable(mut self, yes: bool) -> Self {
        self.batch = self.batch.force_portable(yes);
        self
    }

    /// The SIMD path [`DailySolver::solve_batch`] takes on this machine.
    pub fn simd_path(&self) -> crate::ode::SimdPath {
        self.batch.simd_path()
    }

    fn tolerance(&self, m: &M) -> Tolerance<N> {
        Tolerance {
            rtol: self.cfg.rtol(),
            atol: m.atol(&self.cfg),
            weight: SVector::repeat(1.0),
            h_max: self.cfg.max_step(),
            max_steps: self.cfg.step_limit(),
        }
    }

    /// Solve `model` over `[0, out.len() - 1]` days and write its natural row at every
    /// integer day into `out`. Returns the solver statistics of this solve.
    ///
    /// # Errors
    /// A solve failure (step limit, underflow, non-finite state) and the day reached;
    /// [`SolveFailure::InvalidInput`] at day 0 for a model that fails [`Batched::validate`].
    pub fn solve(&mut self, model: &M, out: &mut [[f64; N]]) -> Result<Stats, (f64, SolveFailure)> {
        if model.validate().is_err() {
            return Err((0.0, SolveFailure::InvalidInput));
        }
        let horizon = out.len().saturating_sub(1) as f64;
        let tol = self.tolerance(model);
        let (y0, mode) = model.start();
        let sys = Bound { m: model, mode };
        self.stepper.clear();
        self.stepper.reset(&sys, 0.0, &y0, &tol);
        if let Some(o) = out.first_mut() {
            *o = M::natural(&y0);
        }
        let mut next = 1usize;
        let mut y = SVector::<f64, N>::zeros();
        while self.stepper.t() < horizon {
            self.stepper.step(&sys, horizon, &tol).map_err(|e| (self.stepper.t(), e))?;
            let t = self.stepper.t();
            while next < out.len() && (next as f64) <= t {
                self.stepper.dense(next as f64, &mut y);
                out[next] = M::natural(&y);
                next += 1;
            }
        }
        Ok(self.stepper.stats())
    }

    /// Solve many models four at a time over `[0, days]`. For each model `j` (in completion
    /// order, not in input order) `out(j, result, rows)` receives what
    /// [`DailySolver::solve`] returns for it and its `days + 1` daily rows, bit-identical to
    /// [`DailySolver::solve`]'s (after a failure the rows past the day reached are stale).
    /// A failed model is reported, never dropped. The absolute tolerances are those of the
    /// first model (all models of a batch share them). No heap allocation per model, step or
    /// right-hand side (the row buffer is reused across calls).
    pub fn solve_batch(
        &mut self,
        models: &[M],
        days: usize,
        mut out: impl FnMut(usize, Result<Stats, (f64, SolveFailure)>, &[[f64; N]]),
    ) {
        let Some(first) = models.first() else { return };
        let tol = self.tolerance(first);
        // invalid models are reported at once and never loaded into a lane (each model is
        // validated once; the common all-valid batch allocates nothing)
        let all_valid = models.iter().all(|m| m.validate().is_ok());
        let mut valid = Vec::new();
        if !all_valid {
            for (j, m) in models.iter().enumerate() {
                if m.validate().is_ok() {
                    valid.push(j);
                } else {
                    out(j, Err((0.0, SolveFailure::InvalidInput)), &[]);
                }
            }
        }
        let n = if all_valid { models.len() } else { valid.len() };
        let index = |j: usize| if all_valid { j } else { valid[j] };
        self.batch.solve(
            &mut self.sys,
            &tol,
            n,
            days,
            |j| {
                let m = &models[index(j)];
                let (y0, _) = m.start();
                (*m, y0.into())
            },
            |j, res, rows| {
                M::natural_rows(rows);
                out(index(j), res, rows);
            },
        );
    }
}
