//! The equations: the reference model (MODEL.md sections 1-4) and its parameters.
//!
//! The state vector of the reference model has a fixed layout of [`NSTATE`] components,
//! `[E, M, X, ln L_0, ln L_1, ln L_2, ln L_3, B, G, I, Q]`, where `L_j` are the blasts of
//! the four phenotypes in canonical order ([`Phenotype::ALL`]) and `Q` is the running
//! AUC of `C = E + M + X` over [0, 28]. Blasts are integrated as `ln L_j` (they fall from
//! ~1e12 to far below one cell); absent and extinct phenotypes are switched off and
//! contribute nothing.

mod antigen;
pub mod minimal;
mod params;

pub use antigen::{efficacy, Antigen, AntigenSet, Phenotype};
pub use minimal::{MinimalInit, MinimalParams, MinimalSolver};
pub use params::Params;

use crate::ode::{Cascade, OdeSystem};
use nalgebra::SVector;

/// Number of components of the reference model's state vector.
pub const NSTATE: usize = 11;

/// Indices into the reference model's state vector.
pub mod idx {
    /// Effector CAR-T cells (cells).
    pub const E: usize = 0;
    /// Memory CAR-T cells (cells).
    pub const M: usize = 1;
    /// Exhausted CAR-T cells (cells).
    pub const X: usize = 2;
    /// `ln L_j` of phenotype `j` is at `LN_L + j`.
    pub const LN_L: usize = 3;
    /// Normal B cells (cells).
    pub const B: usize = 7;
    /// IFN-gamma (pg/mL).
    pub const G: usize = 8;
    /// IL-6 (pg/mL).
    pub const I: usize = 9;
    /// AUC of C over [0, 28] (cells x day).
    pub const Q: usize = 10;
}

/// The piecewise-constant switches of one integration segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Switches {
    /// Tocilizumab acting, `T(t)`.
    pub toci: bool,
    /// Steroids acting, `S(t)`.
    pub steroid: bool,
    /// Phenotype present and not extinct.
    pub active: [bool; 4],
    /// Before day 28: the AUC accumulates.
    pub auc: bool,
}

/// The right-hand side of the reference model for one segment (fixed switches).
#[derive(Debug, Clone)]
pub(crate) struct RefRhs<'a> {
    pub p: &'a Params,
    /// Efficacy per phenotype.
    pub e: [f64; 4],
    /// Efficacy against normal B cells.
    pub e_b: f64,
    /// Lymphodepletion given (h(t) on).
    pub lymphodepletion: bool,
    pub sw: Switches,
}

impl<'a> RefRhs<'a> {
    /// The right-hand side of `sc` with the switches of day 0: no tocilizumab, no steroids,
    /// every phenotype present at t = 0 active, the AUC accumulating.
    pub fn at_start(sc: &'a crate::Scenario) -> Self {
        let p = sc.params();
        let targets = sc.product().targets();
        let mut e = [0.0; 4];
        for ph in Phenotype::ALL {
            e[ph.index()] = efficacy(targets, ph.antigens(), p.w_cd19, p.w_cd22);
        }
        let b = sc.patient().blasts();
        Self {
            p,
            e,
            e_b: efficacy(targets, AntigenSet::BOTH, p.w_cd19, p.w_cd22),
            lymphodepletion: sc.regimen().lymphodepletion(),
            sw: Switches {
                toci: false,
                steroid: false,
                active: [b[0] > 0.0, b[1] > 0.0, b[2] > 0.0, b[3] > 0.0],
                auc: true,
            },
        }
    }

    /// The IL-6 signal `I_eff = I (1 - eps_T T)`.
    #[inline]
    pub fn i_eff(&self, y: &SVector<f64, NSTATE>) -> f64 {
        y[idx::I] * self.signal_factor()
    }

    /// `1 - eps_T T`.
    #[inline]
    pub fn signal_factor(&self) -> f64 {
        if self.sw.toci {
            1.0 - self.p.eps_t
        } else {
            1.0
        }
    }

    /// Total blasts `L_tot` (cells).
    #[inline]
    pub fn l_tot(&self, y: &SVector<f64, NSTATE>) -> f64 {
        let mut s = 0.0;
        for j in 0..4 {
            if self.sw.active[j] {
                s += y[idx::LN_L + j].exp();
            }
        }
        s
    }
}

impl OdeSystem<NSTATE> for RefRhs<'_> {
    /// Cell counts, cytokines and the AUC cannot be negative.
    fn non_negative(&self) -> u64 {
        [idx::E, idx::M, idx::X, idx::B, idx::G, idx::I, idx::Q].iter().fold(0, |m, &i| m | 1 << i)
    }

    /// IFN-gamma and IL-6 are a one-way linear cascade: G <- core, I <- core + G.
    fn cascade(&self) -> Cascade {
        let k_i = if self.sw.toci { self.p.k_i * (1.0 - self.p.c_t) } else { self.p.k_i };
        Cascade {
            n: 2,
            idx: [idx::G, idx::I, 0, 0],
            rate: [self.p.k_g, k_i, 0.0, 0.0],
            base: [self.p.g_0, self.p.i_0, 0.0, 0.0],
            coupled: [false, true, false, false],
        }
    }

    #[inline]
    fn rhs(&self, t: f64, y: &SVector<f64, NSTATE>, dy: &mut SVector<f64, NSTATE>) {
        let p = self.p;
        let (e, m, x, b, g, i) = (y[idx::E], y[idx::M], y[idx::X], y[idx::B], y[idx::G], y[idx::I]);
        let c = e + m + x;
        let phi = if p.k_c.is_finite() { (1.0 - c / p.k_c).max(0.0) } else { 1.0 };
        let mut l = [0.0; 4];
        let mut l_tot = 0.0;
        let mut antigen = self.e_b * b;
        for j in 0..4 {
            if self.sw.active[j] {
                l[j] = y[idx::LN_L + j].exp();
                l_tot += l[j];
                antigen += self.e[j] * l[j];
            }
        }
        let s = antigen / (p.k_a + antigen);
        let u = if self.sw.steroid { 1.0 - p.eps_s } else { 1.0 };
        let h = if self.lymphodepletion { p.rho_ld * (-t / p.tau_ld).exp() } else { 0.0 };
        let growth = p.r_l * (1.0 - l_tot / p.k_l);
        let mut kills = 0.0;
        for j in 0..4 {
            if self.sw.active[j] {
                // per-cell kill rate; kill_j = rate * L_j
                let rate = p.k_kill * self.e[j] * e / (p.k_k + e + l[j]);
                kills += rate * l[j];
                dy[idx::LN_L + j] = growth - rate;
            } else {
                dy[idx::LN_L + j] = 0.0;
            }
        }
        let kill_b = p.k_kill * self.e_b * e * b / (p.k_k + e + b);
        let us = u * s;
        dy[idx::E] = (p.rho_e * us + h) * phi * e + p.rho_m * us * m - (p.delta_e + p.k_em + p.k_x * s) * e;
        dy[idx::M] = p.k_em * e - p.rho_m * us * m - p.delta_m * m;
        dy[idx::X] = p.k_x * s * e - p.delta_x * x;
        dy[idx::B] = p.s_b - p.delta_b * b - kill_b;
        dy[idx::G] = p.p_g * 1e-9 * us * e - p.k_g * (g - p.g_0);
        let clear = if self.sw.toci { p.k_i * (1.0 - p.c_t) } else { p.k_i };
        dy[idx::I] = u * (p.p_i * 1e-9 * (kills + kill_b) + p.p_ig * g) - clear * (i - p.i_0);
        dy[idx::Q] = if self.sw.auc { c } else { 0.0 };
    }
}
