//! The minimal model of MODEL.md section 7: the performance peers' six-state model
//! (`../shared/peers`), with its own small state so that the speed comparison is fair.
//!
//! State `(E, M, ln L, ln N, B, I)`; L = CD19+ blasts (killed), N = CD19- blasts (not
//! killed), no exhaustion, IFN-gamma, lymphodepletion, capacity, extinction or CRS
//! management. It is exactly the reference model with the switches of
//! [`crate::Params::minimal`] (checked by the tests against `MIN_nominal`).

use crate::error::{Domain, InputError, SolveFailure};
use crate::ode::{Cascade, Dopri5, OdeSystem, Stats, Stepper, Tolerance};
use crate::scenario::SolverConfig;
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
    /// The values of MODEL.md section 7.
    pub fn nominal() -> Self {
        Self {
            rho_e: 1.0,
            k_a: 1e9,
            delta_e: 0.3,
            k_em: 0.05,
            rho_m: 0.5,
            delta_m: 0.005,
            r_l: 0.05,
            k_l: 1e12,
            k_kill: 2.0,
            k_k: 1e9,
            s_b: 1e8,
            delta_b: 0.1,
            p_i: 100.0,
            k_i: 8.0,
            i_0: 5.0,
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
            d.check(format!("parameters.{n}"), v)?;
        }
        Ok(())
    }
}

impl OdeSystem<6> for MinimalParams {
    #[inline]
    fn rhs(&self, _t: f64, y: &SVector<f64, 6>, dy: &mut SVector<f64, 6>) {
        let (e, m, b) = (y[0], y[1], y[4]);
        let l = y[2].exp();
        let n = y[3].exp();
        let a = l + b;
        let s = a / (self.k_a + a);
        let kl = self.k_kill * e / (self.k_k + e + l);
        let kill_b = self.k_kill * e * b / (self.k_k + e + b);
        let growth = self.r_l * (1.0 - (l + n) / self.k_l);
        dy[0] = self.rho_e * s * e + self.rho_m * s * m - (self.delta_e + self.k_em) * e;
        dy[1] = self.k_em * e - self.rho_m * s * m - self.delta_m * m;
        dy[2] = growth - kl;
        dy[3] = growth;
        dy[4] = self.s_b - self.delta_b * b - kill_b;
        dy[I] = self.p_i * 1e-9 * (kl * l + kill_b) - self.k_i * (y[I] - self.i_0);
    }

    fn cascade(&self) -> Cascade {
        Cascade { n: 1, idx: [I, 0, 0, 0], rate: [self.k_i, 0.0, 0.0, 0.0], base: [self.i_0, 0.0, 0.0, 0.0], coupled: [false; 4] }
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
            d.check(format!("initial_state.{n}"), v)?;
        }
        Ok(())
    }
}

/// A reusable solver for the minimal model: daily outputs into a caller's buffer, no heap
/// allocation per patient, per step or per right-hand-side evaluation.
#[derive(Debug, Clone)]
pub struct MinimalSolver {
    stepper: Dopri5<6>,
    tol: Tolerance<6>,
}

impl MinimalSolver {
    /// A solver with the settings of `cfg` (rtol, atol = factor x scales: 1e8 cells for E,
    /// M, B; 1 for ln L, ln N; 5 pg/mL for I, as MODEL.md section 7 says).
    pub fn new(cfg: &SolverConfig) -> Self {
        let a = cfg.atol();
        let s = cfg.atol_scales();
        let tol = Tolerance {
            rtol: cfg.rtol(),
            atol: SVector::from([a * s.cells, a * s.cells, a * s.ln_blasts, a * s.ln_blasts, a * s.cells, a * s.cytokines]),
            weight: SVector::repeat(1.0),
            h_max: cfg.max_step(),
            max_steps: cfg.step_limit(),
        };
        Self { stepper: Dopri5::with_method(cfg.method_used()), tol }
    }

    /// Solve over `[0, out.len() - 1]` days and write `(E, M, L, N, B, I)` at every integer
    /// day into `out` (natural units). Returns the solver statistics of this solve.
    ///
    /// # Errors
    /// A solve failure (step limit, underflow, non-finite state) and the day reached.
    pub fn solve(&mut self, p: &MinimalParams, init: &MinimalInit, out: &mut [[f64; 6]]) -> Result<Stats, (f64, SolveFailure)> {
        let horizon = out.len().saturating_sub(1) as f64;
        let y0 = SVector::from([init.e, init.m, init.l.ln(), init.n.ln(), init.b, init.i]);
        self.stepper.clear();
        self.stepper.reset(p, 0.0, &y0, &self.tol);
        if let Some(o) = out.first_mut() {
            *o = natural(&y0);
        }
        let mut next = 1usize;
        let mut y = SVector::<f64, 6>::zeros();
        while self.stepper.t() < horizon {
            self.stepper.step(p, horizon, &self.tol).map_err(|e| (self.stepper.t(), e))?;
            let t = self.stepper.t();
            while next < out.len() && (next as f64) <= t {
                self.stepper.dense(next as f64, &mut y);
                out[next] = natural(&y);
                next += 1;
            }
        }
        Ok(self.stepper.stats())
    }
}

#[inline]
fn natural(y: &SVector<f64, 6>) -> [f64; 6] {
    [y[0], y[1], y[2].exp(), y[3].exp(), y[4], y[5]]
}
