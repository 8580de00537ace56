//! The integrator seam: an [`OdeSystem`] is stepped by a [`Stepper`] that keeps a dense
//! output of its last step, so that the drivers in [`crate::solve`] can locate crossings
//! and extrema on it, cut the step there, change the state and restart.
//!
//! Methods available ([`Method`]):
//! - [`Method::Dopri5`]: Dormand–Prince 5(4) with Hairer's step control and 4th-order dense
//!   output, hand-written and allocation-free (no per-step heap use).
//! - [`Method::Dopri5Exp`]: the same on the non-stiff core, with the stiff linear cascade
//!   (IFN-gamma, IL-6) integrated exactly ([`Cascade`]).
//!
//! - [`Dopri5Batch`]: either method on four problems at once in structure-of-arrays form
//!   ([`BatchSystem`]), every lane bit-identical to [`Dopri5`] on its own problem.
//!
//! Steppers work on stack vectors (`nalgebra::SVector<f64, N>`); nothing in a step
//! allocates.

pub mod batch;
mod dopri5;
pub mod fastexp;

pub use batch::{BatchSystem, Dopri5Batch, F64x4, Lanes, Real, SimdPath, LANES};
pub use dopri5::Dopri5;

use crate::error::SolveFailure;
use nalgebra::SVector;
use serde::Serialize;

/// A system `dy/dt = f(t, y)` of fixed size `N`. The right-hand side is in place,
/// allocation-free and infallible.
pub trait OdeSystem<const N: usize> {
    /// Write `f(t, y)` into `dy`.
    fn rhs(&self, t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>);

    /// The right-hand side as [`Method::Dopri5Exp`] evaluates it inside a step with a cascade
    /// (its stages, the step's end and the interior nodes): like [`OdeSystem::rhs`], except
    /// that the derivative of a cascade component that is [`Cascade::coupled`] and whose
    /// [`OdeSystem::cascade_source`] is `Some` may be left out (written as anything finite):
    /// the stepper reads such a component's source from `cascade_source` only. Lets a system
    /// skip costly terms nothing reads. Default: [`OdeSystem::rhs`].
    #[inline]
    fn rhs_stage(&self, t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        self.rhs(t, y, dy)
    }

    /// The linear cascade of the system, if it has one (see [`Cascade`]). Default: none.
    fn cascade(&self) -> Cascade {
        Cascade::NONE
    }

    /// The source `src_c(t, y)` of cascade component `ci` (see [`Cascade`]) alone, if the
    /// system can compute it more cheaply than the whole right-hand side. [`Method::Dopri5Exp`]
    /// needs it at three interior nodes of every step. Default: `None`, and the stepper
    /// evaluates [`OdeSystem::rhs`] there and adds `rate_c (y_c - base_c)` back.
    #[inline]
    fn cascade_source(&self, t: f64, y: &SVector<f64, N>, ci: usize) -> Option<f64> {
        let _ = (t, y, ci);
        None
    }

    /// Components that cannot be negative (bit `i` for component `i`; at most 64): after
    /// every accepted step a negative value there is projected to 0. Default: none.
    ///
    /// A population that has collapsed far below the absolute tolerance (a few CAR-T cells
    /// when atol is 100 cells) may come out of a step slightly negative; without the
    /// projection, a negative effector count under a positive net growth rate grows
    /// exponentially negative and drives the kill terms `E L / (K_k + E + L)` through a
    /// pole. The projection changes the state by less than the absolute tolerance.
    #[inline]
    fn non_negative(&self) -> u64 {
        0
    }
}

/// A *linear cascade*: components `y_c` whose equation is `dy_c/dt = src_c(t, y) - rate_c (y_c -
/// base_c)`, where `src_c` depends on the other ("core") components and on cascade components
/// listed before `c` only, and no core component depends on any cascade component. In the
/// reference model, IFN-gamma and IL-6 form such a cascade (their clearance, 8/day, is what
/// makes the model stiff for explicit methods). [`Method::Dopri5Exp`] integrates the core with
/// Dormand–Prince and the cascade exactly for a source interpolated by a quartic on the step,
/// so the clearance rates no longer limit the step size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cascade {
    /// Number of cascade components (at most 4).
    pub n: usize,
    /// Their indices in the state vector, in dependency order.
    pub idx: [usize; 4],
    /// Linear clearance rate of each (>= 0, per time unit).
    pub rate: [f64; 4],
    /// Baseline each relaxes to.
    pub base: [f64; 4],
    /// Whether the source depends on earlier cascade components in a way the stepper must
    /// evaluate: it evaluates the right-hand side again with their new values (one call at the
    /// step's end and three at the interior nodes, unless [`OdeSystem::cascade_source`] gives
    /// the source directly).
    pub coupled: [bool; 4],
    /// `coupling[i][j]` (`j < i`): for a component that is not `coupled`, the constant
    /// coefficient of earlier component `j` in the source of component `i`, whose source is
    /// then affine in the earlier components: `src_i = core part + sum_j coupling[i][j] y_j`.
    /// The stepper evaluates the sources with the cascade frozen at the step's start and adds
    /// `coupling[i][j] (y_j(t) - y_j(t_n))`, with no further evaluations (the reference model's
    /// IL-6 reads IFN-gamma this way). All zero (the default) for a source that reads no
    /// earlier component.
    pub coupling: [[f64; 4]; 4],
}

impl Cascade {
    /// No cascade.
    pub const NONE: Cascade =
        Cascade { n: 0, idx: [0; 4], rate: [0.0; 4], base: [0.0; 4], coupled: [false; 4], coupling: [[0.0; 4]; 4] };

    /// Checks the cascade against a state of dimension `N`: at most 4 components, each index
    /// below `N` and listed once, each rate finite and `>= 0`, each baseline finite, each
    /// coupling finite and zero except on earlier components (`coupling[i][j]`, `j < i`). A cascade
    /// that fails is a [`SolveFailure::InvalidCascade`] of the solve (never a panic or an
    /// out-of-bounds write).
    ///
    /// ```
    /// use cartkin::ode::Cascade;
    /// let ok = Cascade { n: 1, idx: [2, 0, 0, 0], rate: [8.0, 0.0, 0.0, 0.0], ..Cascade::NONE };
    /// assert!(ok.check::<3>().is_ok());
    /// assert!(ok.check::<2>().is_err()); // index 2 is outside a 2-component state
    /// ```
    pub fn check<const N: usize>(&self) -> Result<(), SolveFailure> {
        if self.n > 4 {
            return Err(SolveFailure::InvalidCascade { component: self.n });
        }
        for ci in 0..self.n {
            let i = self.idx[ci];
            let bad = i >= N
                || self.idx[..ci].contains(&i)
                || !(self.rate[ci] >= 0.0 && self.rate[ci].is_finite())
                || !self.base[ci].is_finite()
                || (0..4).any(|cj| !self.coupling[ci][cj].is_finite() || (cj >= ci && self.coupling[ci][cj] != 0.0));
            if bad {
                return Err(SolveFailure::InvalidCascade { component: ci });
            }
        }
        Ok(())
    }
}

/// The integration method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub enum Method {
    /// Dormand–Prince 5(4), explicit, with 4th-order dense output (step size limited by
    /// the cytokine clearance, ~0.4 day).
    Dopri5,
    /// Dormand–Prince 5(4) on the core components and exact exponential integration of the
    /// system's linear [`Cascade`] (quartic source interpolation with an embedded cubic error
    /// estimate). Falls back to plain Dormand–Prince for a system without a cascade. The
    /// default: 3-5x fewer steps than [`Method::Dopri5`] on the reference model.
    #[default]
    Dopri5Exp,
}

/// Work done by a solve: right-hand-side evaluations, accepted and rejected steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    /// Right-hand-side evaluations.
    pub rhs_evals: u64,
    /// Accepted steps.
    pub accepted: u64,
    /// Rejected steps.
    pub rejected: u64,
}

impl Stats {
    /// Add another solve's counters.
    pub fn add(&mut self, o: &Stats) {
        self.rhs_evals += o.rhs_evals;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
    }
}

/// Error control of a stepper: `sc_i = atol_i + rtol * max(|y_i|, |y_new_i|)`, RMS norm over
/// the components whose `weight` is 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance<const N: usize> {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance per component.
    pub atol: SVector<f64, N>,
    /// 1 for components in the error norm, 0 for switched-off ones.
    pub weight: SVector<f64, N>,
    /// Largest step (days).
    pub h_max: f64,
    /// Steps (accepted + rejected) allowed before [`SolveFailure::StepLimit`].
    pub max_steps: u64,
}

/// One-step integrator with dense output over its last accepted step `[t_prev, t]`.
pub trait Stepper<const N: usize> {
    /// Start (or restart after a state change) at `(t, y)`. Keeps the last step size as
    /// the first guess when there is one.
    fn reset<S: OdeSystem<N>>(&mut self, sys: &S, t: f64, y: &SVector<f64, N>, tol: &Tolerance<N>);
    /// Take one accepted step, never past `t_end` (landing on it exactly when it is reached).
    ///
    /// # Errors
    /// The step limit, a step-size underflow, or a non-finite state.
    fn step<S: OdeSystem<N>>(&mut self, sys: &S, t_end: f64, tol: &Tolerance<N>) -> Result<(), SolveFailure>;
    /// Time at the start of the last step.
    fn t_prev(&self) -> f64;
    /// Current time (end of the last step).
    fn t(&self) -> f64;
    /// Current state.
    fn y(&self) -> &SVector<f64, N>;
    /// Derivative `f(t, y)` at the current state.
    fn dy(&self) -> &SVector<f64, N>;
    /// Dense output at `t` in `[t_prev, t]`.
    fn dense(&self, t: f64, out: &mut SVector<f64, N>);
    /// Time derivative of the dense output at `t` in `[t_prev, t]`.
    fn dense_deriv(&self, t: f64, out: &mut SVector<f64, N>);
    /// [`Stepper::dense`] and [`Stepper::dense_deriv`] at the same `t`, the same values
    /// bit for bit; a stepper overrides it when the two share work.
    #[inline]
    fn dense_both(&self, t: f64, y: &mut SVector<f64, N>, dy: &mut SVector<f64, N>) {
        self.dense(t, y);
        self.dense_deriv(t, dy);
    }
    /// Bounds `lo <= dense(t) <= hi` (component-wise) for every `t` in `[t_prev, t]`, with a
    /// margin for rounding, if the stepper can give them cheaply; `false` (the default) if
    /// not. Used to skip searching a step for crossings that cannot be in it.
    #[inline]
    fn dense_box(&self, lo: &mut SVector<f64, N>, hi: &mut SVector<f64, N>) -> bool {
        let _ = (lo, hi);
        false
    }
    /// Counters so far.
    fn stats(&self) -> Stats;
}
