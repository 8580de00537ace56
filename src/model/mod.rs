//! Models: the [`Model`] trait that every model implements, the shared vocabulary of
//! [`Observable`]s that endpoints are computed from, and the built-in models.
//!
//! A model is one value that knows its state layout and its equations *for one patient*:
//! the reference model of MODEL.md ([`reference::RefModel`], built from a
//! [`crate::Scenario`]), the minimal model of MODEL.md section 7 ([`MinimalModel`]), or a
//! model of your own (see `examples/custom_model.rs`). The generic driver
//! ([`crate::solve::run_model`]) integrates any of them between events, applies the
//! regimen (infusions, tocilizumab and steroid switches), fires the model's own events, and
//! feeds the endpoint observer (`solve/observer.rs`) through the model's
//! observation map ([`Model::observe`]).
//!
//! Everything is monomorphised: the driver is generic over `M: Model<N>`, so a model's
//! right-hand side and observation map are inlined into its own copy of the driver.

mod antigen;
pub mod minimal;
mod params;
pub mod reference;
pub mod v2;
pub mod zoo;

pub use antigen::{efficacy, Antigen, AntigenSet, Phenotype};
pub use minimal::{MinimalInit, MinimalModel, MinimalParams, MinimalSolver};
pub use params::Params;
pub use reference::{idx, RefModel, NSTATE};

use crate::endpoints::EventKind;
use crate::ode::Cascade;
use crate::solve::SolverConfig;
use nalgebra::SVector;

/// What a model is called and what its states are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    /// Short name (`reference`, `minimal`, ...): how studies and the command line select it.
    pub name: &'static str,
    /// Version of the model's equations (MODEL.md's `model_version` for the reference).
    pub version: &'static str,
    /// State names, in state-vector order.
    pub states: &'static [&'static str],
    /// Unit of each state, in state-vector order.
    pub units: &'static [&'static str],
}

/// The built-in models, one entry each: the reference model, the minimal model and model v2.
pub fn builtin() -> [&'static ModelInfo; 3] {
    [reference::info(), minimal::info(), v2::info()]
}

/// Every model of the crate: [`builtin`] and then the zoo's ([`zoo::Kind::ALL`]), what
/// `cartkin models` lists.
pub fn all() -> Vec<&'static ModelInfo> {
    let mut v = builtin().to_vec();
    v.extend(zoo::Kind::ALL.iter().map(|k| k.info()));
    v
}

/// The shared vocabulary of observables: every endpoint is computed from these, so a model
/// gets the endpoints of every observable it maps. Each is optional: a model without a
/// tumour has no response endpoints, one without IL-6 no CRS grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observable {
    /// All CAR-T cells (cells). Every model must map it.
    CarT,
    /// Memory CAR-T cells (cells).
    CarTMemory,
    /// Running AUC of [`Observable::CarT`] over the assessment window `[0, day 28]`
    /// (cells x day), when the model integrates it as a quadrature state.
    CarTAuc,
    /// All tumour cells (cells).
    Tumour,
    /// `ln` of all tumour cells (the crossing function of relapse).
    LnTumour,
    /// Normal B cells (cells).
    BCells,
    /// The IL-6 signal that grades CRS and triggers treatment (pg/mL).
    Il6Signal,
    /// Serum IL-6 (pg/mL).
    Il6,
    /// IFN-gamma (pg/mL).
    Ifng,
    /// CRS severity (grade units): when a model maps it, CRS is graded on it (with the
    /// definitions' thresholds) instead of on [`Observable::Il6Signal`].
    CrsSeverity,
    /// Neurotoxicity (ICANS) severity (grade units), graded with
    /// [`Model::icans_thresholds`].
    Icans,
}

/// A drug switch that a regimen turns on and off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drug {
    /// Tocilizumab (IL-6 receptor blockade).
    Tocilizumab,
    /// Corticosteroids.
    Steroids,
}

/// Upper bounds that every exact solution of a model respects, for the driver's invariant
/// check ([`Model::invariants`]): a state beyond them (by more than a slack scaled by the
/// tolerance, [`crate::solve::INVARIANT_SLACK`]) is an integration error, reported as the
/// patient's [`crate::SolveFailure::InvariantViolated`] instead of a result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Invariants {
    /// [`Observable::CarT`] stays at or below this plus the cells infused so far (cells): the
    /// larger of the CAR-T carrying capacity and the initial CAR-T cells; infinity for none.
    pub car_t: f64,
    /// [`Observable::Tumour`] stays at or below this (cells): the larger of the tumour's
    /// carrying capacity and its initial size; infinity for none.
    pub tumour: f64,
}

/// A model the generic driver can solve: the equations of one patient with `N` states.
///
/// Required: the state layout ([`Model::info`]), the start ([`Model::start`]), the absolute
/// tolerances, the right-hand side, how an infusion enters the state, the observation map
/// (at least [`Observable::CarT`]) and the trajectory row. Everything else has a default
/// (no cascade, no drug effects, no events of its own, no clones).
///
/// The right-hand side must be allocation-free and infallible; the driver calls it with the
/// model's piecewise-constant [`Model::Mode`] (its switches), which only the model's own
/// events, drug switches and time breaks change.
pub trait Model<const N: usize>: Sync {
    /// The piecewise-constant switches of one integration segment (drugs acting, clones
    /// extinct, windows open, ...).
    type Mode: Copy + std::fmt::Debug;
    /// One trajectory row (see [`crate::solve::Row`] for the reference model's).
    type Row: Clone + std::fmt::Debug + Send;

    /// Name, version and state layout.
    fn info(&self) -> &ModelInfo;

    /// State and switches at t = 0, before the events of t = 0 (infusions at day 0 are
    /// regimen events).
    fn start(&self) -> (SVector<f64, N>, Self::Mode);

    /// Absolute tolerance of each state for the solver settings `cfg`.
    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, N>;

    /// Whether state `i` takes part in the error norm under `mode` (switched-off states do
    /// not). Default: every state.
    #[inline]
    fn in_error_norm(&self, mode: &Self::Mode, i: usize) -> bool {
        let _ = (mode, i);
        true
    }

    /// States that cannot be negative (bit `i` for state `i`, see
    /// [`crate::ode::OdeSystem::non_negative`]). Default: none.
    #[inline]
    fn non_negative(&self) -> u64 {
        0
    }

    /// Write `dy/dt = f(t, y)` under `mode` into `dy`.
    fn rhs(&self, mode: &Self::Mode, t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>);

    /// The right-hand side inside a step with a cascade (see
    /// [`crate::ode::OdeSystem::rhs_stage`]). Default: [`Model::rhs`].
    #[inline]
    fn rhs_stage(&self, mode: &Self::Mode, t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        self.rhs(mode, t, y, dy)
    }

    /// The stiff linear cascade under `mode`, if the model has one ([`Cascade`]).
    #[inline]
    fn cascade(&self, mode: &Self::Mode) -> Cascade {
        let _ = mode;
        Cascade::NONE
    }

    /// The source of cascade component `ci` alone, if cheaper than the whole right-hand side
    /// (see [`crate::ode::OdeSystem::cascade_source`]).
    #[inline]
    fn cascade_source(&self, mode: &Self::Mode, t: f64, y: &SVector<f64, N>, ci: usize) -> Option<f64> {
        let _ = (mode, t, y, ci);
        None
    }

    /// An infusion of `cells` CAR-T cells enters the state.
    fn infuse(&self, mode: &mut Self::Mode, y: &mut SVector<f64, N>, cells: f64);

    /// A drug starts (`acting`) or stops acting. Default: the model has no drug effects.
    #[inline]
    fn set_drug(&self, mode: &mut Self::Mode, drug: Drug, acting: bool) {
        let _ = (mode, drug, acting);
    }

    /// Whether `drug` acts under `mode` (for trajectory rows). Default: never.
    #[inline]
    fn drug_acting(&self, mode: &Self::Mode, drug: Drug) -> bool {
        let _ = (mode, drug);
        false
    }

    /// The next time break of the model's own (e.g. the end of a quadrature window) at or
    /// after `t` under `mode`; `f64::INFINITY` for none. The driver stops the integration
    /// there and calls [`Model::at_break`]. Default: none.
    #[inline]
    fn next_break(&self, mode: &Self::Mode, t: f64) -> f64 {
        let _ = (mode, t);
        f64::INFINITY
    }

    /// Called at every instant at which the driver stopped (events, breaks), after the
    /// events there, to apply the model's own time-break changes. Default: nothing.
    #[inline]
    fn at_break(&self, mode: &mut Self::Mode, t: f64) {
        let _ = (mode, t);
    }

    /// Number of the model's own crossing events (extinctions, thresholds).
    #[inline]
    fn n_events(&self) -> usize {
        0
    }

    /// Crossing function of event `k` under `mode` as `(g, dg/dt)` from the state and its
    /// derivative: the event fires when `g` reaches 0 from below (and at an instant where
    /// `g >= -`[`Model::event_tie`]). `None`: the event is not armed.
    #[inline]
    fn event(&self, mode: &Self::Mode, k: usize, y: &SVector<f64, N>, dy: &SVector<f64, N>) -> Option<(f64, f64)> {
        let _ = (mode, k, y, dy);
        None
    }

    /// How close below 0 an event's `g` may be at an instant and still fire there (ties of
    /// events at one instant). Default 1e-9.
    #[inline]
    fn event_tie(&self) -> f64 {
        1e-9
    }

    /// Event `k` fires at `t`: change the switches (and the state if the event says so) and
    /// return what goes into the event log.
    fn fire(&self, mode: &mut Self::Mode, k: usize, t: f64, y: &mut SVector<f64, N>) -> EventKind {
        let _ = (mode, t, y);
        EventKind::Model { name: "event", index: k as u32 }
    }

    /// The observation map: observable `obs` under `mode` as `(value, d value/dt)` from the
    /// state and its derivative (pass a zero `dy` when only the value is needed). `None`:
    /// the model lacks it.
    fn observe(
        &self,
        mode: &Self::Mode,
        obs: Observable,
        y: &SVector<f64, N>,
        dy: &SVector<f64, N>,
    ) -> Option<(f64, f64)>;

    /// Whether every observable's value ([`Model::observe`]) and every event's crossing
    /// function ([`Model::event`]) is monotone (in one direction) in each state component it
    /// reads, and an event's being armed is too (armed at neither corner of a box of states
    /// means armed nowhere in it). Then [`Model::observe_range`] and [`Model::event_range`]
    /// are the values at a box's two corners. Default `false` (no ranges).
    #[inline]
    fn monotone(&self) -> bool {
        false
    }

    /// An interval `(low, high)` that contains [`Model::observe`]'s value of `obs` under
    /// `mode` at **every** state `y` with `lo <= y <= hi` component-wise, or `None` when the
    /// model cannot say. The driver uses it to skip the search of a step's dense output for
    /// crossings and maxima when no crossing or new maximum is possible there (the step's
    /// dense output lies in such a box, [`crate::ode::Stepper::dense_box`]); an interval that
    /// does not contain a value the search would have seen changes results, so a model gives
    /// one only where it is sure. Default: the values at `lo` and `hi` for a
    /// [`Model::monotone`] model, else `None`.
    #[inline]
    fn observe_range(
        &self,
        mode: &Self::Mode,
        obs: Observable,
        lo: &SVector<f64, N>,
        hi: &SVector<f64, N>,
    ) -> Option<(f64, f64)> {
        if !self.monotone() {
            return None;
        }
        let z = SVector::zeros();
        corner_range(self.observe(mode, obs, lo, &z), self.observe(mode, obs, hi, &z))
    }

    /// As [`Model::observe_range`] for the crossing function `g` of event `k`
    /// ([`Model::event`]); an event armed nowhere in the box says `Some((-inf, -inf))` (it
    /// cannot fire). Default, for a [`Model::monotone`] model: that when the event is armed
    /// at neither corner, the corners' values when it is armed at both, else `None`.
    #[inline]
    fn event_range(
        &self,
        mode: &Self::Mode,
        k: usize,
        lo: &SVector<f64, N>,
        hi: &SVector<f64, N>,
    ) -> Option<(f64, f64)> {
        if !self.monotone() {
            return None;
        }
        let z = SVector::zeros();
        match (self.event(mode, k, lo, &z), self.event(mode, k, hi, &z)) {
            (None, None) => Some((f64::NEG_INFINITY, f64::NEG_INFINITY)),
            (a, b) => corner_range(a, b),
        }
    }

    /// Normal marrow cells `H` (cells), for the marrow blast fraction `L / (L + H)` of the
    /// response endpoints. `None`: the model has no marrow (no response endpoints).
    #[inline]
    fn marrow_cells(&self) -> Option<f64> {
        None
    }

    /// Number of tumour clones (labelled by phenotype, [`Model::clone_label`]).
    #[inline]
    fn n_clones(&self) -> usize {
        0
    }

    /// Phenotype of clone `j`.
    #[inline]
    fn clone_label(&self, j: usize) -> Phenotype {
        let _ = j;
        Phenotype::DOUBLE_POS
    }

    /// Whether clone `j` was present at t = 0.
    #[inline]
    fn clone_present(&self, j: usize) -> bool {
        let _ = j;
        false
    }

    /// `ln` of clone `j`'s cells under `mode`; `None` when it is absent or extinct.
    #[inline]
    fn clone_ln(&self, mode: &Self::Mode, j: usize, y: &SVector<f64, N>) -> Option<f64> {
        let _ = (mode, j, y);
        None
    }

    /// Thresholds of ICANS grades 1-4 on [`Observable::Icans`], if the model maps it.
    /// Default: none.
    #[inline]
    fn icans_thresholds(&self) -> Option<[f64; 4]> {
        None
    }

    /// Name of the CRS grading scale (`patients.csv` column `crs_scale`), if the model
    /// grades CRS on a named scale. Default: none.
    #[inline]
    fn crs_scale(&self) -> Option<&'static str> {
        None
    }

    /// Transgene copies per ug genomic DNA per unit of [`Observable::CarT`], when the model
    /// fixes it (`cmax_copies = cmax` times it): `Some(1.0)` for a model whose CAR-T
    /// observable is the transgene level itself (copies/ug, as `stein2019`). Default `None`:
    /// the endpoint definitions' `copies_per_cell`.
    #[inline]
    fn copies_per_unit(&self) -> Option<f64> {
        None
    }

    /// The bounds every exact solution respects ([`Invariants`]), checked by the driver at
    /// the end of every accepted step. Default: none (nothing checked).
    #[inline]
    fn invariants(&self) -> Option<Invariants> {
        None
    }

    /// The trajectory row at `t` (right-continuous: after every event at `t`).
    fn row(&self, mode: &Self::Mode, t: f64, y: &SVector<f64, N>) -> Self::Row;
}

/// The range of a function monotone (in one direction) in every component it reads, from its
/// values `(value, slope)` at a box's two corners: `None` if either is missing or NaN.
#[inline]
fn corner_range(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> Option<(f64, f64)> {
    let (a, b) = (a?.0, b?.0);
    if a.is_nan() || b.is_nan() {
        return None;
    }
    Some((a.min(b), a.max(b)))
}
