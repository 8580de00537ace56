//! The minimal model of MODEL.md section 7: the performance peers' six-state model
//! (the model the Python/Julia peers implement for the speed race), with its own small state so
//! that the speed comparison is fair.
//!
//! State `(E, M, ln L, ln N, B, I)`; L = CD19+ blasts (killed), N = CD19- blasts (not
//! killed), no exhaustion, IFN-gamma, lymphodepletion, capacity, extinction or CRS
//! management. It is exactly the reference model with the switches of
//! [`crate::Params::minimal`] (checked by the tests against `MIN_nominal`).

use super::{Model, ModelInfo, Observable};
use crate::error::{Domain, InputError};
use crate::ode::batch::{F64x4, Real};
use crate::ode::fastexp::{exp as fexp, exp4};
use crate::ode::{BatchSystem, Cascade, Lanes, OdeSystem};
use crate::solve::daily::{Batched, DailySolver};
use crate::solve::SolverConfig;
use nalgebra::SVector;
use serde::Serialize;

/// Index of IL-6 in the minimal state.
const I: usize = 5;

/// Parameters of the minimal model (MODEL.md section 7 values by default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MinimalParams {
    /// `rho_E` (1/day).
    pub rho_e: f64,
    /// `K_A` (cells).
    pub k_a: f64,
    /// `delta_E` (1/day).
    pub delta_e: f64,
    /// `k_EM` (1/day).
    pub k_em: f64,
    /// `rho_M` (1/day).
    pub rho_m: f64,
    /// `delta_M` (1/day).
    pub delta_m: f64,
    /// `r_L` (1/day).
    pub r_l: f64,
    /// `K_L` (cells).
    pub k_l: f64,
    /// `k_kill` (1/day).
    pub k_kill: f64,
    /// `K_k` (cells).
    pub k_k: f64,
    /// `s_B` (cells/day).
    pub s_b: f64,
    /// `delta_B` (1/day).
    pub delta_b: f64,
    /// `p_I` (pg/mL/day per 1e9 kills/day).
    pub p_i: f64,
    /// `k_I` (1/day).
    pub k_i: f64,
    /// `I_0` (pg/mL).
    pub i_0: f64,
}

impl Default for MinimalParams {
    fn default() -> Self {
        Self::nominal()
    }
}

impl MinimalParams {
    /// The values of MODEL.md section 7 (those of [`crate::Params::minimal`]).
    pub fn nominal() -> Self {
        Self::from_params(&crate::Params::minimal())
    }

    /// The minimal model's parameters taken from a parameter set of the reference model
    /// (the parts the minimal model switches off are ignored).
    pub fn from_params(p: &crate::Params) -> Self {
        Self {
            rho_e: p.rho_e,
            k_a: p.k_a,
            delta_e: p.delta_e,
            k_em: p.k_em,
            rho_m: p.rho_m,
            delta_m: p.delta_m,
            r_l: p.r_l,
            k_l: p.k_l,
            k_kill: p.k_kill,
            k_k: p.k_k,
            s_b: p.s_b,
            delta_b: p.delta_b,
            p_i: p.p_i,
            k_i: p.k_i,
            i_0: p.i_0,
        }
    }

    /// Check the domains of MODEL.md section 6.
    ///
    /// # Errors
    /// The first value out of its domain.
    pub fn validate(&self) -> Result<(), InputError> {
        for (n, v, d) in [
            ("rho_E", self.rho_e, Domain::NonNeg),
            ("K_A", self.k_a, Domain::Pos),
            ("delta_E", self.delta_e, Domain::NonNeg),
            ("k_EM", self.k_em, Domain::NonNeg),
            ("rho_M", self.rho_m, Domain::NonNeg),
            ("delta_M", self.delta_m, Domain::NonNeg),
            ("r_L", self.r_l, Domain::NonNeg),
            ("K_L", self.k_l, Domain::Pos),
            ("k_kill", self.k_kill, Domain::NonNeg),
            ("K_k", self.k_k, Domain::Pos),
            ("s_B", self.s_b, Domain::NonNeg),
            ("delta_B", self.delta_b, Domain::NonNeg),
            ("p_I", self.p_i, Domain::NonNeg),
            ("k_I", self.k_i, Domain::Pos),
            ("I_0", self.i_0, Domain::NonNeg),
        ] {
            d.check(format_args!("parameters.{n}"), v)?;
        }
        Ok(())
    }
}

/// The parameters in the arithmetic of a kernel: `f64` for one patient, [`F64x4`] for four.
#[derive(Debug, Clone, Copy, Default)]
struct Coef<R> {
    rho_e: R,
    k_a: R,
    delta_e: R,
    k_em: R,
    rho_m: R,
    delta_m: R,
    r_l: R,
    k_l: R,
    k_kill: R,
    k_k: R,
    s_b: R,
    delta_b: R,
    p_i: R,
    k_i: R,
    i_0: R,
}

impl MinimalParams {
    #[inline(always)]
    fn coef(&self) -> Coef<f64> {
        Coef {
            rho_e: self.rho_e,
            k_a: self.k_a,
            delta_e: self.delta_e,
            k_em: self.k_em,
            rho_m: self.rho_m,
            delta_m: self.delta_m,
            r_l: self.r_l,
            k_l: self.k_l,
            k_kill: self.k_kill,
            k_k: self.k_k,
            s_b: self.s_b,
            delta_b: self.delta_b,
            p_i: self.p_i,
            k_i: self.k_i,
            i_0: self.i_0,
        }
    }
}

/// The right-hand side, written once for one patient and for four lanes (the same operations
/// per lane, hence bit-identical results).
#[inline(always)]
fn rhs_kernel<R: Real>(p: &Coef<R>, y: &[R; 6]) -> [R; 6] {
    let (e, m, b) = (y[0], y[1], y[4]);
    let l = y[2].exp();
    let n = y[3].exp();
    let a = l + b;
    let s = a / (p.k_a + a);
    let kl = p.k_kill * e / (p.k_k + e + l);
    let kill_b = p.k_kill * e * b / (p.k_k + e + b);
    let growth = p.r_l * (R::splat(1.0) - (l + n) / p.k_l);
    [
        p.rho_e * s * e + p.rho_m * s * m - (p.delta_e + p.k_em) * e,
        p.k_em * e - p.rho_m * s * m - p.delta_m * m,
        growth - kl,
        growth,
        p.s_b - p.delta_b * b - kill_b,
        p.p_i * R::splat(1e-9) * (kl * l + kill_b) - p.k_i * (y[I] - p.i_0),
    ]
}

/// The IL-6 source alone (the cascade's source at its interior nodes): one exponential and
/// two divisions instead of two and four.
#[inline(always)]
fn source_kernel<R: Real>(p: &Coef<R>, y: &[R; 6]) -> R {
    let (e, b) = (y[0], y[4]);
    let l = y[2].exp();
    let kl = p.k_kill * e / (p.k_k + e + l);
    let kill_b = p.k_kill * e * b / (p.k_k + e + b);
    p.p_i * R::splat(1e-9) * (kl * l + kill_b)
}

/// E, M, B and I cannot be negative (see [`OdeSystem::non_negative`]).
const NON_NEGATIVE: u64 = 1 << 0 | 1 << 1 | 1 << 4 | 1 << 5;

impl OdeSystem<6> for MinimalParams {
    fn non_negative(&self) -> u64 {
        NON_NEGATIVE
    }

    #[inline]
    fn rhs(&self, _t: f64, y: &SVector<f64, 6>, dy: &mut SVector<f64, 6>) {
        let v: [f64; 6] = (*y).into();
        *dy = SVector::from(rhs_kernel(&self.coef(), &v));
    }

    fn cascade(&self) -> Cascade {
        Cascade {
            n: 1,
            idx: [I, 0, 0, 0],
            rate: [self.k_i, 0.0, 0.0, 0.0],
            base: [self.i_0, 0.0, 0.0, 0.0],
            coupled: [false; 4],
            coupling: [[0.0; 4]; 4],
        }
    }

    #[inline]
    fn cascade_source(&self, _t: f64, y: &SVector<f64, 6>, _ci: usize) -> Option<f64> {
        let v: [f64; 6] = (*y).into();
        Some(source_kernel(&self.coef(), &v))
    }
}

/// Four patients of the minimal model, lane-wise (the model's [`Batched::Lanes`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MinimalBatch {
    c: Coef<F64x4>,
}

impl BatchSystem<6> for MinimalBatch {
    fn non_negative(&self) -> u64 {
        NON_NEGATIVE
    }

    type Problem = MinimalModel;

    fn load(&mut self, l: usize, m: &MinimalModel) {
        let p = &m.params;
        let c = &mut self.c;
        c.rho_e.0[l] = p.rho_e;
        c.k_a.0[l] = p.k_a;
        c.delta_e.0[l] = p.delta_e;
        c.k_em.0[l] = p.k_em;
        c.rho_m.0[l] = p.rho_m;
        c.delta_m.0[l] = p.delta_m;
        c.r_l.0[l] = p.r_l;
        c.k_l.0[l] = p.k_l;
        c.k_kill.0[l] = p.k_kill;
        c.k_k.0[l] = p.k_k;
        c.s_b.0[l] = p.s_b;
        c.delta_b.0[l] = p.delta_b;
        c.p_i.0[l] = p.p_i;
        c.k_i.0[l] = p.k_i;
        c.i_0.0[l] = p.i_0;
    }

    #[inline(always)]
    fn rhs(&self, _t: &Lanes, y: &[Lanes; 6], dy: &mut [Lanes; 6]) {
        let v = y.map(F64x4);
        let d = rhs_kernel(&self.c, &v);
        for i in 0..6 {
            dy[i] = d[i].0;
        }
    }

    fn cascade(&self, l: usize) -> Cascade {
        Cascade {
            n: 1,
            idx: [I, 0, 0, 0],
            rate: [self.c.k_i.0[l], 0.0, 0.0, 0.0],
            base: [self.c.i_0.0[l], 0.0, 0.0, 0.0],
            coupled: [false; 4],
            coupling: [[0.0; 4]; 4],
        }
    }

    #[inline(always)]
    fn cascade_source(&self, _t: &Lanes, y: &[Lanes; 6], _ci: usize, src: &mut Lanes) -> bool {
        *src = source_kernel(&self.c, &y.map(F64x4)).0;
        true
    }
}

/// Initial state of the minimal model (natural units; section 7 defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MinimalInit {
    /// Effector CAR-T at day 0 (cells).
    pub e: f64,
    /// Memory CAR-T (cells).
    pub m: f64,
    /// CD19+ blasts (cells, > 0).
    pub l: f64,
    /// CD19- blasts (cells, > 0).
    pub n: f64,
    /// B cells (cells).
    pub b: f64,
    /// IL-6 (pg/mL).
    pub i: f64,
}

impl Default for MinimalInit {
    fn default() -> Self {
        Self { e: 1e8, m: 0.0, l: 1e11, n: 1e4, b: 1e8, i: 5.0 }
    }
}

impl MinimalInit {
    /// Check the initial state (blasts > 0 because they are integrated as logarithms).
    ///
    /// # Errors
    /// A negative or non-finite amount, or zero blasts.
    pub fn validate(&self) -> Result<(), InputError> {
        for (n, v, d) in [
            ("E", self.e, Domain::NonNeg),
            ("M", self.m, Domain::NonNeg),
            ("L", self.l, Domain::Pos),
            ("N", self.n, Domain::Pos),
            ("B", self.b, Domain::NonNeg),
            ("I", self.i, Domain::NonNeg),
        ] {
            d.check(format_args!("initial_state.{n}"), v)?;
        }
        Ok(())
    }
}

/// The minimal model's daily solver (the driver's batch path, [`DailySolver`]): daily rows
/// `(E, M, L, N, B, I)` in natural units, one patient at a time or four at a time.
pub type MinimalSolver = DailySolver<6, MinimalModel>;

#[inline]
fn natural(y: &SVector<f64, 6>) -> [f64; 6] {
    [y[0], y[1], fexp(y[2]), fexp(y[3]), y[4], y[5]]
}

/// [`natural`] on rows of states in place, four rows at a time (bit-identical).
fn natural_rows(rows: &mut [[f64; 6]]) {
    let mut chunks = rows.chunks_exact_mut(4);
    for c in &mut chunks {
        let l = exp4(&[c[0][2], c[1][2], c[2][2], c[3][2]]);
        let n = exp4(&[c[0][3], c[1][3], c[2][3], c[3][3]]);
        for k in 0..4 {
            c[k][2] = l[k];
            c[k][3] = n[k];
        }
    }
    for r in chunks.into_remainder() {
        *r = [r[0], r[1], fexp(r[2]), fexp(r[3]), r[4], r[5]];
    }
}

/// The minimal model of one patient as a [`Model`] of the generic driver: parameters and
/// initial state, no switches, no events of its own. Rows are the natural state
/// `(E, M, L, N, B, I)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimalModel {
    /// Parameters.
    pub params: MinimalParams,
    /// Initial state (day 0, the product already in `E`).
    pub init: MinimalInit,
}

static MINIMAL_INFO: ModelInfo = ModelInfo {
    name: "minimal",
    version: "1",
    states: &["E", "M", "lnL", "lnN", "B", "I"],
    units: &["cells", "cells", "ln cells", "ln cells", "cells", "pg/mL"],
};

impl Batched<6> for MinimalModel {
    type Lanes = MinimalBatch;

    fn validate(&self) -> Result<(), InputError> {
        self.params.validate()?;
        self.init.validate()
    }

    #[inline]
    fn natural(y: &SVector<f64, 6>) -> [f64; 6] {
        natural(y)
    }

    fn natural_rows(rows: &mut [[f64; 6]]) {
        natural_rows(rows)
    }
}

/// Name, version and state layout of the minimal model.
pub fn info() -> &'static ModelInfo {
    &MINIMAL_INFO
}

impl Model<6> for MinimalModel {
    type Mode = ();
    type Row = [f64; 6];

    fn info(&self) -> &ModelInfo {
        &MINIMAL_INFO
    }

    fn start(&self) -> (SVector<f64, 6>, ()) {
        let i = &self.init;
        (SVector::from([i.e, i.m, i.l.ln(), i.n.ln(), i.b, i.i]), ())
    }

    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, 6> {
        let a = cfg.atol();
        let s = cfg.atol_scales();
        SVector::from([a * s.cells, a * s.cells, a * s.ln_blasts, a * s.ln_blasts, a * s.cells, a * s.cytokines])
    }

    fn non_negative(&self) -> u64 {
        NON_NEGATIVE
    }

    #[inline]
    fn rhs(&self, _: &(), t: f64, y: &SVector<f64, 6>, dy: &mut SVector<f64, 6>) {
        OdeSystem::rhs(&self.params, t, y, dy)
    }

    fn cascade(&self, _: &()) -> Cascade {
        OdeSystem::cascade(&self.params)
    }

    #[inline]
    fn cascade_source(&self, _: &(), t: f64, y: &SVector<f64, 6>, ci: usize) -> Option<f64> {
        OdeSystem::cascade_source(&self.params, t, y, ci)
    }

    /// The minimal model has no memory fraction: the cells enter `E`.
    fn infuse(&self, _: &mut (), y: &mut SVector<f64, 6>, cells: f64) {
        y[0] += cells;
    }

    fn observe(&self, _: &(), obs: Observable, y: &SVector<f64, 6>, dy: &SVector<f64, 6>) -> Option<(f64, f64)> {
        let (l, n) = (y[2].exp(), y[3].exp());
        Some(match obs {
            Observable::CarT => (y[0] + y[1], dy[0] + dy[1]),
            Observable::CarTMemory => (y[1], dy[1]),
            Observable::Tumour => (l + n, l * dy[2] + n * dy[3]),
            Observable::LnTumour => ((l + n).ln(), (l * dy[2] + n * dy[3]) / (l + n)),
            Observable::BCells => (y[4], dy[4]),
            Observable::Il6 | Observable::Il6Signal => (y[I], dy[I]),
            _ => return None,
        })
    }

    fn n_clones(&self) -> usize {
        2
    }

    fn clone_label(&self, j: usize) -> crate::Phenotype {
        if j == 0 {
            crate::Phenotype::CD22_NEG
        } else {
            crate::Phenotype::DOUBLE_NEG
        }
    }

    fn clone_present(&self, _j: usize) -> bool {
        true
    }

    fn clone_ln(&self, _: &(), j: usize, y: &SVector<f64, 6>) -> Option<f64> {
        Some(y[2 + j])
    }

    fn row(&self, _: &(), _t: f64, y: &SVector<f64, 6>) -> [f64; 6] {
        natural(y)
    }
}
