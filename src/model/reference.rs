//! The reference model of MODEL.md (v1, parameter set REF-1) as a [`Model`].
//!
//! The state vector has a fixed layout of [`NSTATE`] components,
//! `[E, M, X, ln L_0, ln L_1, ln L_2, ln L_3, B, G, I, Q]`, where `L_j` are the blasts of
//! the four phenotypes in canonical order ([`Phenotype::ALL`]) and `Q` is the running AUC of
//! `C = E + M + X` over the assessment window `[0, 28]`. Blasts are integrated as `ln L_j`
//! (they fall from ~1e12 to far below one cell); absent and extinct phenotypes are switched
//! off and contribute nothing. The model's own events are the extinctions (`L_j` falling to
//! `n_ext`), its own time break the end of the AUC window.

use super::{efficacy, AntigenSet, Drug, Invariants, Model, ModelInfo, Observable, Params, Phenotype};
use crate::endpoints::EventKind;
use crate::ode::{Cascade, OdeSystem};
use crate::scenario::Scenario;
use crate::solve::SolverConfig;
use nalgebra::SVector;
use serde::Serialize;

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

type State = SVector<f64, NSTATE>;

/// The piecewise-constant switches of one integration segment of the reference model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Switches {
    /// Tocilizumab acting, `T(t)`.
    pub toci: bool,
    /// Steroids acting, `S(t)`.
    pub steroid: bool,
    /// Phenotype present and not extinct.
    pub active: [bool; 4],
    /// Before the end of the AUC window: the AUC accumulates.
    pub auc: bool,
}

static INFO: ModelInfo = ModelInfo {
    name: "reference",
    version: "1",
    states: &[
        "E",
        "M",
        "X",
        "lnL_CD19+CD22+",
        "lnL_CD19-CD22+",
        "lnL_CD19+CD22-",
        "lnL_CD19-CD22-",
        "B",
        "G",
        "I",
        "Q",
    ],
    units: &[
        "cells",
        "cells",
        "cells",
        "ln cells",
        "ln cells",
        "ln cells",
        "ln cells",
        "cells",
        "pg/mL",
        "pg/mL",
        "cells day",
    ],
};

/// The reference model's trajectory row: the state at one output time. Values are right-continuous: at an event time the row
/// holds the state after every event at that time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Row {
    /// Time (day).
    pub t: f64,
    /// Effector CAR-T (cells).
    pub e: f64,
    /// Memory CAR-T (cells).
    pub m: f64,
    /// Exhausted CAR-T (cells).
    pub x: f64,
    /// Blasts per phenotype, canonical order (cells; 0 when absent or extinct).
    pub l: [f64; 4],
    /// Normal B cells.
    pub b: f64,
    /// IFN-gamma (pg/mL).
    pub g: f64,
    /// Serum IL-6 (pg/mL).
    pub i: f64,
    /// IL-6 signal `I (1 - eps_T T)` (pg/mL).
    pub i_eff: f64,
    /// Tocilizumab acting.
    pub toci: bool,
    /// Steroids acting.
    pub steroid: bool,
}

impl Row {
    /// CAR-T total `C = E + M + X`.
    pub fn c(&self) -> f64 {
        self.e + self.m + self.x
    }
    /// Total blasts.
    pub fn l_tot(&self) -> f64 {
        self.l.iter().sum()
    }
}

/// Name, version and state layout of the reference model.
pub fn info() -> &'static ModelInfo {
    &INFO
}

/// The reference model for one scenario: parameters, product efficacies, the patient's
/// initial state and whether lymphodepletion was given.
#[derive(Debug, Clone)]
pub struct RefModel<'a> {
    p: &'a Params,
    /// Efficacy per phenotype.
    e: [f64; 4],
    /// Efficacy against normal B cells.
    e_b: f64,
    /// Lymphodepletion given (h(t) on).
    lymphodepletion: bool,
    y0: State,
    present: [bool; 4],
    ln_ext: f64,
    auc_end: f64,
}

impl<'a> RefModel<'a> {
    /// The model of scenario `sc` (its parameters, patient, product and lymphodepletion).
    pub fn new(sc: &'a Scenario) -> Self {
        let p = sc.params();
        let targets = sc.product().targets();
        let mut e = [0.0; 4];
        for ph in Phenotype::ALL {
            e[ph.index()] = efficacy(targets, ph.antigens(), p.w_cd19, p.w_cd22);
        }
        let pat = sc.patient();
        let b = pat.blasts();
        let present = [b[0] > 0.0, b[1] > 0.0, b[2] > 0.0, b[3] > 0.0];
        let mut y = State::zeros();
        let [e0, m0, x0] = pat.car_t();
        let [g0, i0] = pat.cytokines();
        y[idx::E] = e0;
        y[idx::M] = m0;
        y[idx::X] = x0;
        for j in 0..4 {
            y[idx::LN_L + j] = if present[j] { b[j].ln() } else { 0.0 };
        }
        y[idx::B] = pat.b0();
        y[idx::G] = g0;
        y[idx::I] = i0;
        Self {
            p,
            e,
            e_b: efficacy(targets, AntigenSet::BOTH, p.w_cd19, p.w_cd22),
            lymphodepletion: sc.regimen().lymphodepletion(),
            y0: y,
            present,
            ln_ext: if p.n_ext > 0.0 { p.n_ext.ln() } else { f64::NEG_INFINITY },
            auc_end: sc.definitions().assessment_day,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        self.p
    }

    /// The switches of day 0: no tocilizumab, no steroids, every phenotype present at t = 0
    /// active, the AUC accumulating.
    pub fn start_switches(&self) -> Switches {
        Switches { toci: false, steroid: false, active: self.present, auc: true }
    }

    /// `1 - eps_T T`.
    #[inline]
    fn signal_factor(&self, sw: &Switches) -> f64 {
        if sw.toci {
            1.0 - self.p.eps_t
        } else {
            1.0
        }
    }

    /// The right-hand side with the switches `sw`.
    #[inline]
    pub fn eval(&self, sw: &Switches, t: f64, y: &State, dy: &mut State) {
        let p = self.p;
        let (e, m, x, b, g, i) = (y[idx::E], y[idx::M], y[idx::X], y[idx::B], y[idx::G], y[idx::I]);
        let c = e + m + x;
        let phi = if p.k_c.is_finite() { (1.0 - c / p.k_c).max(0.0) } else { 1.0 };
        let mut l = [0.0; 4];
        let mut l_tot = 0.0;
        let mut antigen = self.e_b * b;
        for j in 0..4 {
            if sw.active[j] {
                l[j] = y[idx::LN_L + j].exp();
                l_tot += l[j];
                antigen += self.e[j] * l[j];
            }
        }
        let s = antigen / (p.k_a + antigen);
        let u = if sw.steroid { 1.0 - p.eps_s } else { 1.0 };
        let h = if self.lymphodepletion { p.rho_ld * (-t / p.tau_ld).exp() } else { 0.0 };
        let growth = p.r_l * (1.0 - l_tot / p.k_l);
        let mut kills = 0.0;
        for j in 0..4 {
            if sw.active[j] {
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
        let clear = if sw.toci { p.k_i * (1.0 - p.c_t) } else { p.k_i };
        dy[idx::I] = u * (p.p_i * 1e-9 * (kills + kill_b) + p.p_ig * g) - clear * (i - p.i_0);
        dy[idx::Q] = if sw.auc { c } else { 0.0 };
    }
}

impl Model<NSTATE> for RefModel<'_> {
    type Mode = Switches;
    type Row = Row;

    fn info(&self) -> &ModelInfo {
        &INFO
    }

    fn start(&self) -> (State, Switches) {
        (self.y0, self.start_switches())
    }

    fn atol(&self, cfg: &SolverConfig) -> State {
        let a = cfg.atol();
        let sc = cfg.atol_scales();
        let mut atol = State::zeros();
        for k in [idx::E, idx::M, idx::X, idx::B, idx::Q] {
            atol[k] = a * sc.cells;
        }
        for j in 0..4 {
            atol[idx::LN_L + j] = a * sc.ln_blasts;
        }
        atol[idx::G] = a * sc.cytokines;
        atol[idx::I] = a * sc.cytokines;
        atol
    }

    #[inline]
    fn in_error_norm(&self, sw: &Switches, i: usize) -> bool {
        !(idx::LN_L..idx::LN_L + 4).contains(&i) || sw.active[i - idx::LN_L]
    }

    /// `C <= max(K_C, C(0))` plus the doses (the capacity caps only new cells, section 3)
    /// and `L_tot <= max(K_L, L_tot(0))` (logistic growth minus killing).
    fn invariants(&self) -> Option<Invariants> {
        let y = &self.y0;
        let c0 = y[idx::E] + y[idx::M] + y[idx::X];
        let l0: f64 = (0..4).filter(|&j| self.present[j]).map(|j| y[idx::LN_L + j].exp()).sum();
        Some(Invariants { car_t: self.p.k_c.max(c0), tumour: self.p.k_l.max(l0) })
    }

    /// Cell counts, cytokines and the AUC cannot be negative.
    fn non_negative(&self) -> u64 {
        [idx::E, idx::M, idx::X, idx::B, idx::G, idx::I, idx::Q].iter().fold(0, |m, &i| m | 1 << i)
    }

    #[inline]
    fn rhs(&self, sw: &Switches, t: f64, y: &State, dy: &mut State) {
        self.eval(sw, t, y, dy)
    }

    /// IFN-gamma and IL-6 are a one-way linear cascade: G <- core, I <- core + G.
    ///
    /// IL-6's source is affine in G (`u p_IG G`, `u` the steroid factor), so it could be
    /// declared as `coupling[1][0] = u p_IG` instead of `coupled`: 4 fewer right-hand sides per
    /// step (13.4 -> 9.3; the race about 13% faster), the same steps, every discrete endpoint
    /// the same on 1,000,000 patients, continuous ones within rounding (BENCHMARKS.md). It is
    /// not, because the v1 study's outputs are pinned bit for bit (the command-line contract
    /// check compares them with the outputs of commit b671185) and the affine update rounds
    /// differently. Model v2 uses it.
    fn cascade(&self, sw: &Switches) -> Cascade {
        let k_i = if sw.toci { self.p.k_i * (1.0 - self.p.c_t) } else { self.p.k_i };
        Cascade {
            n: 2,
            idx: [idx::G, idx::I, 0, 0],
            rate: [self.p.k_g, k_i, 0.0, 0.0],
            base: [self.p.g_0, self.p.i_0, 0.0, 0.0],
            coupled: [false, true, false, false],
            ..Cascade::NONE
        }
    }

    /// A fraction `f_mem` of the cells enters the memory compartment, the rest the effectors.
    #[inline]
    fn infuse(&self, _sw: &mut Switches, y: &mut State, cells: f64) {
        let f_mem = self.p.f_mem;
        y[idx::E] += (1.0 - f_mem) * cells;
        y[idx::M] += f_mem * cells;
    }

    #[inline]
    fn set_drug(&self, sw: &mut Switches, drug: Drug, acting: bool) {
        match drug {
            Drug::Tocilizumab => sw.toci = acting,
            Drug::Steroids => sw.steroid = acting,
        }
    }

    #[inline]
    fn drug_acting(&self, sw: &Switches, drug: Drug) -> bool {
        match drug {
            Drug::Tocilizumab => sw.toci,
            Drug::Steroids => sw.steroid,
        }
    }

    #[inline]
    fn next_break(&self, sw: &Switches, _t: f64) -> f64 {
        if sw.auc {
            self.auc_end
        } else {
            f64::INFINITY
        }
    }

    #[inline]
    fn at_break(&self, sw: &mut Switches, t: f64) {
        if t >= self.auc_end {
            sw.auc = false;
        }
    }

    /// Event `j` (0..4): phenotype `j` falls to `n_ext` cells.
    #[inline]
    fn n_events(&self) -> usize {
        if self.ln_ext.is_finite() {
            4
        } else {
            0
        }
    }

    #[inline]
    fn event(&self, sw: &Switches, k: usize, y: &State, dy: &State) -> Option<(f64, f64)> {
        if sw.active[k] {
            let i = idx::LN_L + k;
            Some((self.ln_ext - y[i], -dy[i]))
        } else {
            None
        }
    }

    fn fire(&self, sw: &mut Switches, k: usize, _t: f64, _y: &mut State) -> EventKind {
        sw.active[k] = false;
        EventKind::Extinction { phenotype: Phenotype::from_index(k) }
    }

    #[inline]
    fn observe(&self, sw: &Switches, obs: Observable, y: &State, dy: &State) -> Option<(f64, f64)> {
        Some(match obs {
            Observable::CarT => (y[idx::E] + y[idx::M] + y[idx::X], dy[idx::E] + dy[idx::M] + dy[idx::X]),
            Observable::CarTMemory => (y[idx::M], dy[idx::M]),
            Observable::CarTAuc => (y[idx::Q], dy[idx::Q]),
            Observable::Tumour => {
                let (mut s, mut ds) = (0.0, 0.0);
                for j in 0..4 {
                    if sw.active[j] {
                        let l = y[idx::LN_L + j].exp();
                        s += l;
                        ds += l * dy[idx::LN_L + j];
                    }
                }
                (s, ds)
            }
            Observable::LnTumour => {
                let (s, ds) = self.observe(sw, Observable::Tumour, y, dy)?;
                (s.ln(), if s > 0.0 { ds / s } else { 0.0 })
            }
            Observable::BCells => (y[idx::B], dy[idx::B]),
            Observable::Il6Signal => {
                let fac = self.signal_factor(sw);
                (y[idx::I] * fac, dy[idx::I] * fac)
            }
            Observable::Il6 => (y[idx::I], dy[idx::I]),
            Observable::Ifng => (y[idx::G], dy[idx::G]),
            _ => return None,
        })
    }

    /// Every observable reads its components monotonically (sums, `exp`, `ln`, a constant
    /// factor), all in one direction; an event's `ln n_ext - ln L_k` decreases in `ln L_k`,
    /// armed by the switches alone.
    #[inline]
    fn monotone(&self) -> bool {
        true
    }

    #[inline]
    fn marrow_cells(&self) -> Option<f64> {
        Some(self.p.h)
    }

    #[inline]
    fn n_clones(&self) -> usize {
        4
    }

    #[inline]
    fn clone_label(&self, j: usize) -> Phenotype {
        Phenotype::from_index(j)
    }

    #[inline]
    fn clone_present(&self, j: usize) -> bool {
        self.present[j]
    }

    #[inline]
    fn clone_ln(&self, sw: &Switches, j: usize, y: &State) -> Option<f64> {
        if sw.active[j] {
            Some(y[idx::LN_L + j])
        } else {
            None
        }
    }

    fn row(&self, sw: &Switches, t: f64, y: &State) -> Row {
        let mut l = [0.0; 4];
        for j in 0..4 {
            if sw.active[j] {
                l[j] = y[idx::LN_L + j].exp();
            }
        }
        // Cell counts are non-negative; the dense output between two steps can dip below 0
        // by less than the absolute tolerance where a population has collapsed (the state
        // itself is projected to 0 after each step, see `OdeSystem::non_negative`).
        Row {
            t,
            e: y[idx::E].max(0.0),
            m: y[idx::M].max(0.0),
            x: y[idx::X].max(0.0),
            l,
            b: y[idx::B].max(0.0),
            g: y[idx::G],
            i: y[idx::I],
            i_eff: y[idx::I] * self.signal_factor(sw),
            toci: sw.toci,
            steroid: sw.steroid,
        }
    }
}

/// The reference model's right-hand side with fixed switches, as an [`OdeSystem`] (for
/// benchmarks and [`crate::solve::rhs_once`]).
#[derive(Debug, Clone)]
pub struct RefSystem<'a> {
    /// The model.
    pub model: RefModel<'a>,
    /// The switches.
    pub sw: Switches,
}

impl OdeSystem<NSTATE> for RefSystem<'_> {
    #[inline]
    fn rhs(&self, t: f64, y: &State, dy: &mut State) {
        self.model.eval(&self.sw, t, y, dy)
    }
    fn cascade(&self) -> Cascade {
        Model::cascade(&self.model, &self.sw)
    }
    fn non_negative(&self) -> u64 {
        Model::non_negative(&self.model)
    }
}
