//! `kimmel2021`: T-cell competition after lymphodepletion with an antigen-presenting
//! tumour, and the tumour's stochastic extinction.
//!
//! Source: Kimmel GJ, Locke FL, Altrock PM. *The roles of T cell competition and stochastic
//! extinction events in chimeric antigen receptor T cell therapy.* Proc R Soc B
//! 2021;288:20210229 (doi:10.1098/rspb.2021.0229), curated as BioModels BIOMD0000001041
//! (`../shared/zoo/sbml/Kimmel2021.xml`; its units: T cells in cells/µL of blood, tumour in
//! mL, time in days). The deterministic part, as in the paper and the curated file:
//!
//! ```text
//! T     = N + C                                                   (total lymphocytes)
//! r_C   = rho_C + b (T - K_N)^2 / (a T^2 + (T - K_N)^2)           (CAR-T growth, niche-dependent)
//! dN/dt = -r_N N ln(T / K_N)                                      (normal T cells, Gompertz)
//! dC/dt = -r_C C ln(T / K_C)                                      (CAR-T cells, Gompertz)
//! dB/dt = r_B B - gamma_B B C / (k_B + C)                         (tumour, mL)
//! ```
//!
//! The stochastic part, as the paper describes it: while the tumour is large it follows the
//! equations; below a small number of cells (`n_stoch`, about 100, with `cells_per_ml` = 1e9
//! tumour cells per mL) its extinction is that of a linear birth-death process with per-cell
//! birth rate `λ = r_B` and death rate `μ(t) = gamma_B C(t) / (k_B + C(t))`. The T cells do
//! not depend on the tumour in this model, so `μ(t)` is known along the solution and the
//! extinction time of the process started from `n0 = n_stoch` cells at the crossing time
//! `t0` has the exact distribution (Kendall 1948)
//!
//! ```text
//! P(extinct by t) = (1 - 1/W(t))^n0,   W(t) = e^{ρ(t)} + ∫_{t0}^t λ e^{ρ(s)} ds,   ρ(t) = ∫_{t0}^t (μ - λ) ds
//! ```
//!
//! cartkin integrates `ρ` and `V = ln W` (`dV/dt = μ e^{ρ - V}`, bounded by μ) as two more
//! states from the crossing on, and draws the extinction time by inversion: with the
//! patient's own uniform `U`, the tumour goes extinct (an `Extinction` event, `B = 0`, the
//! patient is cured) when `V` reaches `V* = -ln(1 - U^{1/n0})`; if the process survives
//! (`V` never gets there) the tumour goes on along the equations, and a tumour that grows
//! back above `2 n_stoch` cells ends the stochastic phase (the next dip below `n_stoch` draws
//! a new `U`, up to [`DIPS`] dips). `U` comes from the patient's random stream (seed, id),
//! so a cure is reproducible for any thread count.
//!
//! With `n_stoch = 0` the model is the curated file's deterministic system (the reference
//! test runs it so). The curated file's `r_B` is 0.01/day; the paper's spread of tumour
//! growth rates is `r_B` in {0.105, 0.19, 0.265} per day with 5% variability on the other
//! parameters (the built-in population of the zoo).

use super::{check_values, typical, Param, ParamDomain, ZooRow};
use crate::endpoints::EventKind;
use crate::error::InputError;
use crate::model::{Model, ModelInfo, Observable, Phenotype};
use crate::solve::SolverConfig;
use nalgebra::SVector;

/// The parameters and initial values in order (BIOMD0000001041's values; Kimmel 2021).
pub const PARAMS: &[Param] = &[
    Param {
        name: "K_N",
        value: 500.0,
        unit: "cells/uL",
        domain: ParamDomain::Pos,
        what: "carrying capacity of normal T cells (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "K_C",
        value: 139.0,
        unit: "cells/uL",
        domain: ParamDomain::Pos,
        what: "carrying capacity of CAR-T cells (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "r_N",
        value: 0.17,
        unit: "1/day",
        domain: ParamDomain::Pos,
        what: "growth rate of normal T cells (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "rho_C",
        value: 0.0251,
        unit: "1/day",
        domain: ParamDomain::Pos,
        what: "baseline growth rate of CAR-T cells (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "a",
        value: 0.423,
        unit: "1",
        domain: ParamDomain::Pos,
        what: "shape of the lymphodepletion boost of r_C (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "b",
        value: 0.525,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "size of the lymphodepletion boost of r_C (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "r_B",
        value: 0.01,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "tumour growth rate (BIOMD0000001041: 0.01; the paper's spread 0.105, 0.19, 0.265)",
    },
    Param {
        name: "gamma_B",
        value: 1.15,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "maximal killing rate of tumour by CAR-T (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "k_B",
        value: 4.05,
        unit: "cells/uL",
        domain: ParamDomain::Pos,
        what: "CAR-T level of half-maximal killing (BIOMD0000001041; Kimmel 2021 Table 1)",
    },
    Param {
        name: "N0",
        value: 6.0,
        unit: "cells/uL",
        domain: ParamDomain::Pos,
        what: "normal T cells after lymphodepletion, t = 0 (BIOMD0000001041)",
    },
    Param {
        name: "C0",
        value: 0.36,
        unit: "cells/uL",
        domain: ParamDomain::Pos,
        what: "CAR-T cells at t = 0 (BIOMD0000001041)",
    },
    Param {
        name: "B0",
        value: 94.86,
        unit: "mL",
        domain: ParamDomain::NonNeg,
        what: "tumour volume at t = 0 (BIOMD0000001041)",
    },
    Param {
        name: "n_stoch",
        value: 100.0,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "tumour size below which extinction is a birth-death process (Kimmel 2021: about 100 cells); 0: deterministic",
    },
    Param {
        name: "cells_per_ml",
        value: 1e9,
        unit: "cells/mL",
        domain: ParamDomain::Pos,
        what: "tumour cells per mL (Kimmel 2021's conversion)",
    },
];

/// How many dips below `n_stoch` draw their own extinction uniform.
pub const DIPS: usize = 4;

static INFO: ModelInfo = ModelInfo {
    name: "kimmel2021",
    version: "1",
    states: &["N", "C", "B", "rho", "V"],
    units: &["cells/uL", "cells/uL", "mL", "1", "1"],
};

/// Name, version and states of `kimmel2021`.
pub fn info() -> &'static ModelInfo {
    &INFO
}

mod ix {
    pub const N: usize = 0;
    pub const C: usize = 1;
    pub const B: usize = 2;
    pub const RHO: usize = 3;
    pub const V: usize = 4;
}

/// One patient of `kimmel2021` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kimmel2021 {
    k_n: f64,
    k_c: f64,
    r_n: f64,
    rho_c: f64,
    a: f64,
    b: f64,
    r_b: f64,
    gamma_b: f64,
    k_b: f64,
    y0: [f64; 3],
    n_stoch: f64,
    cells_per_ml: f64,
    /// The patient's uniforms in (0, 1), one per dip below `n_stoch`.
    uniforms: [f64; DIPS],
}

impl Default for Kimmel2021 {
    /// The curated file's patient (deterministic unless given uniforms).
    fn default() -> Self {
        Self::new(&typical(PARAMS)).unwrap_or_else(|_| unreachable!("the typical values are valid"))
    }
}

/// The switches of a `kimmel2021` patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// The birth-death clock runs (the tumour is below `n_stoch` cells).
    pub clock: bool,
    /// The tumour is extinct.
    pub extinct: bool,
    /// Dips below `n_stoch` so far.
    pub dips: usize,
}

impl Kimmel2021 {
    /// A patient from the values of [`PARAMS`], in order, deterministic (no extinction
    /// draws yet: see [`Kimmel2021::with_uniforms`]).
    ///
    /// # Errors
    /// A wrong count, a value that is not finite or outside its domain.
    pub fn new(values: &[f64]) -> Result<Self, InputError> {
        check_values("kimmel2021", PARAMS, values)?;
        let v = values;
        Ok(Self {
            k_n: v[0],
            k_c: v[1],
            r_n: v[2],
            rho_c: v[3],
            a: v[4],
            b: v[5],
            r_b: v[6],
            gamma_b: v[7],
            k_b: v[8],
            y0: [v[9], v[10], v[11]],
            n_stoch: v[12],
            cells_per_ml: v[13],
            uniforms: [f64::NAN; DIPS],
        })
    }

    /// The same patient with its extinction uniforms (each in (0, 1), one per dip below
    /// `n_stoch`): with them, and `n_stoch > 0`, the tumour's extinction is a random event.
    ///
    /// # Errors
    /// A uniform outside (0, 1).
    pub fn with_uniforms(mut self, u: [f64; DIPS]) -> Result<Self, InputError> {
        for (k, &x) in u.iter().enumerate() {
            if !(x > 0.0 && x < 1.0) {
                return Err(InputError::OutOfDomain {
                    field: format!("kimmel2021.uniforms[{k}]"),
                    value: x,
                    domain: "in (0, 1)",
                });
            }
        }
        self.uniforms = u;
        Ok(self)
    }

    fn stochastic(&self) -> bool {
        self.n_stoch > 0.0 && self.uniforms[0].is_finite()
    }

    /// `V* = -ln(1 - U^{1/n0})` of dip `k`: the process is extinct when `V` reaches it.
    fn v_star(&self, k: usize) -> f64 {
        let u = self.uniforms[k.min(DIPS - 1)];
        // 1 - U^{1/n0} = -expm1(ln U / n0), accurate for n0 large
        -(-(u.ln() / self.n_stoch).exp_m1()).ln()
    }

    /// Per-cell death rate of the tumour, `gamma_B C / (k_B + C)` (1/day).
    #[inline]
    fn mu(&self, c: f64) -> f64 {
        self.gamma_b * c / (self.k_b + c)
    }
}

impl Model<5> for Kimmel2021 {
    type Mode = Mode;
    type Row = ZooRow;

    fn info(&self) -> &ModelInfo {
        &INFO
    }

    fn start(&self) -> (SVector<f64, 5>, Mode) {
        let [n, c, b] = self.y0;
        (SVector::from([n, c, b, 0.0, 0.0]), Mode { clock: false, extinct: b <= 0.0, dips: 0 })
    }

    /// `atol = factor x (1 cell/µL, 1 cell/µL, 1e-9 mL = 1 tumour cell, 1, 1)`.
    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, 5> {
        let a = cfg.atol();
        SVector::from([a, a, a * 1e-9, a, a])
    }

    /// The clock states count only while the clock runs.
    fn in_error_norm(&self, mode: &Mode, i: usize) -> bool {
        i < ix::RHO || mode.clock
    }

    fn non_negative(&self) -> u64 {
        0b111
    }

    #[inline]
    fn rhs(&self, mode: &Mode, _t: f64, y: &SVector<f64, 5>, dy: &mut SVector<f64, 5>) {
        let (n, c, b) = (y[ix::N], y[ix::C], y[ix::B]);
        let t = n + c;
        let d = t - self.k_n;
        let r_c = self.rho_c + self.b * d * d / (self.a * t * t + d * d);
        dy[ix::N] = -self.r_n * n * (t / self.k_n).ln();
        dy[ix::C] = -r_c * c * (t / self.k_c).ln();
        let mu = self.mu(c);
        dy[ix::B] = if mode.extinct { 0.0 } else { (self.r_b - mu) * b };
        if mode.clock {
            dy[ix::RHO] = mu - self.r_b;
            dy[ix::V] = mu * (y[ix::RHO] - y[ix::V]).exp();
        } else {
            dy[ix::RHO] = 0.0;
            dy[ix::V] = 0.0;
        }
    }

    /// An infusion (cells/µL of blood) adds to `C`.
    fn infuse(&self, _: &mut Mode, y: &mut SVector<f64, 5>, cells: f64) {
        y[ix::C] += cells;
    }

    fn n_events(&self) -> usize {
        if self.stochastic() {
            3
        } else {
            0
        }
    }

    /// 0: the tumour falls below `n_stoch` cells (the clock starts); 1: the process goes
    /// extinct (`V` reaches `V*`); 2: the tumour grows back above `2 n_stoch` cells.
    fn event(&self, m: &Mode, k: usize, y: &SVector<f64, 5>, dy: &SVector<f64, 5>) -> Option<(f64, f64)> {
        if m.extinct {
            return None;
        }
        let b = y[ix::B];
        match k {
            0 if !m.clock && m.dips < DIPS && b > 0.0 => {
                Some(((self.n_stoch / self.cells_per_ml).ln() - b.ln(), -dy[ix::B] / b))
            }
            1 if m.clock => Some((y[ix::V] - self.v_star(m.dips - 1), dy[ix::V])),
            2 if m.clock && b > 0.0 => Some((b.ln() - (2.0 * self.n_stoch / self.cells_per_ml).ln(), dy[ix::B] / b)),
            _ => None,
        }
    }

    fn fire(&self, m: &mut Mode, k: usize, _t: f64, y: &mut SVector<f64, 5>) -> EventKind {
        match k {
            0 => {
                m.clock = true;
                m.dips += 1;
                y[ix::RHO] = 0.0;
                y[ix::V] = 0.0;
                EventKind::Model { name: "tumour_below_n_stoch", index: 0 }
            }
            1 => {
                m.clock = false;
                m.extinct = true;
                y[ix::B] = 0.0;
                EventKind::Extinction { phenotype: Phenotype::DOUBLE_POS }
            }
            _ => {
                m.clock = false;
                EventKind::Model { name: "tumour_escaped", index: 2 }
            }
        }
    }

    /// Every observable reads one component monotonically (a positive factor, `ln`); each
    /// crossing function reads one component monotonically (`ln B`, `V`), armed by the mode
    /// and, for 0 and 2, by `B > 0` (monotone in `B`).
    fn monotone(&self) -> bool {
        true
    }

    /// `CarT = C` (cells/µL), `Tumour = B x cells_per_ml` (cells), `LnTumour` its log.
    fn observe(&self, m: &Mode, obs: Observable, y: &SVector<f64, 5>, dy: &SVector<f64, 5>) -> Option<(f64, f64)> {
        match obs {
            Observable::CarT => Some((y[ix::C], dy[ix::C])),
            Observable::Tumour => Some((y[ix::B] * self.cells_per_ml, dy[ix::B] * self.cells_per_ml)),
            Observable::LnTumour => {
                let b = y[ix::B];
                if m.extinct || b <= 0.0 {
                    Some((f64::NEG_INFINITY, 0.0))
                } else {
                    Some(((b * self.cells_per_ml).ln(), dy[ix::B] / b))
                }
            }
            _ => None,
        }
    }

    /// One clone (CD19+, the target of axi-cel), present when `B0 > 0`.
    fn n_clones(&self) -> usize {
        1
    }

    fn clone_present(&self, _j: usize) -> bool {
        self.y0[2] > 0.0
    }

    fn clone_ln(&self, m: &Mode, _j: usize, y: &SVector<f64, 5>) -> Option<f64> {
        (!m.extinct && y[ix::B] > 0.0).then(|| (y[ix::B] * self.cells_per_ml).ln())
    }

    fn row(&self, _: &Mode, t: f64, y: &SVector<f64, 5>) -> ZooRow {
        ZooRow::new(&INFO, t, y.as_slice())
    }
}
