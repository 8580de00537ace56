//! `hanson2016`: the CAR-T toxicity model of Hanson et al. 2016: cytotoxic CAR-T cells
//! (memory `C_m`, effector `C_e`), helper T cells (memory `H_m`, effector `H_e`), normal
//! lymphocytes `L`, inflammation `Inflam`, the B-ALL tumour `B` and an inflammation-suppressing
//! drug `D`.
//!
//! Paper: S. Hanson, D. R. Grimes, J. P. Taylor-King, B. Bauer, P. I. Warman, Z. Frankenstein,
//! A. Kaznatcheev, M. J. Bonassar, V. L. Cannataro, Z. Y. Motawe, E. A. B. F. Lima, S. Kim,
//! M. L. Davila, A. Araujo, "Toxicity Management in CAR T cell therapy for B-ALL: Mathematical
//! modelling as a new avenue for improvement", bioRxiv 049908 (2016), doi:10.1101/049908.
//!
//! Equation source: the curated BioModels entry BIOMD0000000837 ("Hanson2016 - Toxicity
//! Management in CAR T cell therapy for B-ALL", encoded by J. Meyer, EMBL-EBI, 2019; SBML L2V4
//! exported by COPASI), the file `Hanson2016.xml` of the model zoo's test data. The paper's
//! own text was not available here: the equations, the parameter values and the initial
//! values below are the curated file's, read element by element (function definitions,
//! reactions, assignment rules, initial assignment). The file has no events, no rate rules
//! and no local parameters.
//!
//! # What the states are (the file's names and annotations)
//!
//! `C_m`, `C_e`: cytotoxic T cells (CL:0000910), memory and effector; `H_m`, `H_e`: helper
//! T cells (CL:0000912), memory and effector; `L`: lymphocytes (CL:0000542), made at a
//! constant rate (`Lympocyte_Formation_Constant`): the normal lymphocyte pool, *not* the
//! tumour; `Inflam`: inflammation (GO:0006954); `B`: acute lymphoblastic leukaemia cells
//! (BTO:0000731), the tumour (`Tumor_Growth`, `Tumor_Killing_C_e`); `D`: the drug (NCIT C574),
//! a species that no reaction changes, so it stays at its initial value.
//!
//! # Units
//!
//! The curated file is in **hours** (time unit 3600 s), volume mL, substance "item"; the
//! species are concentrations in a 1-mL compartment (bone marrow, BTO:0000141), so their
//! numbers are the model's own cell scale (a tumour of 300, a tumour capacity of 4,800), not
//! clinical counts. cartkin's time unit is the **day**: every rate of the file is multiplied
//! by exactly 24 ([`HOURS_PER_DAY`]) at this boundary, and [`PARAMS`] holds the per-day values
//! (each entry says the file's per-hour value). The cell states are in "cells" (the file's
//! items), `Inflam` in the file's inflammation units ("a.u."), and `D`, which the file
//! subtracts from `dInflam/dt` as a rate, in a.u. per day.
//!
//! # Equations (t in days)
//!
//! With the file's assignment rules written as algebraic expressions:
//!
//! ```text
//! Total = B + C_e + C_m + H_e + H_m + L                         (Total_Lymphocytes)
//! LT    = 1 - Total / l   if 1 - Total / l > 0,  else 0        (Lymphocyte_Term, piecewise)
//! h(I)  = I^2 / (I^2 + b^2)
//!
//! dC_m/dt   = r_2 C_m LT - a_1 B C_m (1 + a_2 H_e) h(Inflam)
//! dC_e/dt   = 2^n a_1 B C_m (1 + a_2 H_e) h(Inflam) - d_3 C_e
//! dH_m/dt   = r_3 H_m LT - a_3 B H_m h(Inflam)
//! dH_e/dt   = 2^n a_3 B H_m h(Inflam) - d_4 H_e
//! dL/dt     = p_2 + r_4 L LT - d_5 L
//! dInflam/dt = p_0 + p_1 B (C_e + H_e) - d_2 Inflam - D
//! dB/dt     = r_1 B (1 - B / k) - d_1 B C_e
//! dD/dt     = 0
//! ```
//!
//! `l` enters through the file's `ModelValue_16` ("Initial for l"), a constant set by the
//! initial assignment `ModelValue_16 = l`: the same value, so the equations use `l`. The
//! file's stored values of the two rule-defined parameters (`Total_Lymphocytes` 1940,
//! `Lymphocyte_Term` 0) are overridden by their rules at every instant, as libroadrunner does;
//! here they are not parameters at all but computed in the right-hand side.
//!
//! `LT` has a kink where `Total = l` (a continuous right-hand side with a discontinuous
//! derivative). The file's default run never reaches it (`Total` stays above `l`: 1940 at the
//! start, 1747 at 720 h); libroadrunner integrates through it without locating it, and so does
//! this model (the step-size control absorbs it; the tests check a run that crosses it).
//!
//! # What the file says that a reader might not expect (followed as written)
//!
//! - `Total` counts the tumour `B` and the normal lymphocytes `L` with the T cells: a large
//!   tumour stops the homeostatic growth of memory cells and lymphocytes.
//! - The drug removes inflammation at the zero-order rate `D` (not `D Inflam`): with a large
//!   `D`, `Inflam` can become negative; it is not clamped (it enters `h` squared).
//! - The helper cells are activated by the tumour like `C_m` but kill nothing; they are not
//!   counted as CAR-T cells here ([`Observable::CarT`] is `C_m + C_e`).
//!
//! # What cartkin adds
//!
//! The observation map: [`Observable::CarT`] = `C_m + C_e`, [`Observable::CarTMemory`] =
//! `C_m`, [`Observable::Tumour`] = `B`, [`Observable::LnTumour`] = `ln B`, in the model's
//! cell unit. `L` is all normal lymphocytes, not B cells, so [`Observable::BCells`] is not
//! mapped, nor are the IL-6 / CRS observables (`Inflam` is in the model's own units). An
//! infusion of `x` cells adds `x / 2` to `C_m` and `x / 2` to `C_e` (the split of the file's
//! initial CAR-T cells, 10 and 10).

use super::{check_values, typical, Param, ParamDomain, ZooRow};
use crate::error::InputError;
use crate::model::{Invariants, Model, ModelInfo, Observable};
use crate::solve::SolverConfig;
use nalgebra::SVector;

/// Number of states.
pub const N: usize = 8;

/// Hours per day: the file's per-hour rates times this are cartkin's per-day rates.
pub const HOURS_PER_DAY: f64 = 24.0;

/// Index of each state in the state vector (the file's species order).
pub mod idx {
    /// Memory cytotoxic CAR-T cells `C_m`.
    pub const C_M: usize = 0;
    /// Effector cytotoxic CAR-T cells `C_e`.
    pub const C_E: usize = 1;
    /// Memory helper T cells `H_m`.
    pub const H_M: usize = 2;
    /// Effector helper T cells `H_e`.
    pub const H_E: usize = 3;
    /// Normal lymphocytes `L`.
    pub const L: usize = 4;
    /// Inflammation `Inflam`.
    pub const INFLAM: usize = 5;
    /// B-ALL tumour cells `B`.
    pub const B: usize = 6;
    /// Drug `D`.
    pub const D: usize = 7;
}

static INFO: ModelInfo = ModelInfo {
    name: "hanson2016",
    version: "1",
    states: &["C_m", "C_e", "H_m", "H_e", "L", "Inflam", "B", "D"],
    units: &["cells", "cells", "cells", "cells", "cells", "a.u.", "cells", "a.u./day"],
};

/// Name, version and state layout of `hanson2016`.
pub fn info() -> &'static ModelInfo {
    &INFO
}

const H: f64 = HOURS_PER_DAY;

/// The parameters, initial values last, in the order [`Hanson2016::new`] takes them. Values
/// are BIOMD0000000837's, per-hour rates times 24 (exact: written as `value * 24.0`).
pub const PARAMS: &[Param] = &[
    Param {
        name: "n",
        value: 6.0,
        unit: "1",
        domain: ParamDomain::NonNeg,
        what: "divisions of an activated memory cell (2^n effectors per activation); n = 6 in BIOMD0000000837 (dimensionless)",
    },
    Param {
        name: "r_1",
        value: 0.003 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "tumour (B) logistic growth rate; 0.003 /h in BIOMD0000000837 = 0.072 /day",
    },
    Param {
        name: "r_2",
        value: 0.1 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "homeostatic growth rate of memory cytotoxic cells C_m (times LT); 0.1 /h in BIOMD0000000837 = 2.4 /day",
    },
    Param {
        name: "r_3",
        value: 0.1 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "homeostatic growth rate of memory helper cells H_m (times LT); 0.1 /h in BIOMD0000000837 = 2.4 /day",
    },
    Param {
        name: "r_4",
        value: 0.1 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "homeostatic growth rate of normal lymphocytes L (times LT); 0.1 /h in BIOMD0000000837 = 2.4 /day",
    },
    Param {
        name: "d_1",
        value: 0.0002 * H,
        unit: "1/(cell day)",
        domain: ParamDomain::NonNeg,
        what: "killing of tumour cells by effector cytotoxic cells (d_1 B C_e); 0.0002 /(cell h) in BIOMD0000000837 = 0.0048 /(cell day)",
    },
    Param {
        name: "d_2",
        value: 1.5 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "inflammation decay rate; 1.5 /h in BIOMD0000000837 = 36 /day",
    },
    Param {
        name: "d_3",
        value: 0.004 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "death rate of effector cytotoxic cells C_e; 0.004 /h in BIOMD0000000837 = 0.096 /day",
    },
    Param {
        name: "d_4",
        value: 0.004 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "death rate of effector helper cells H_e; 0.004 /h in BIOMD0000000837 = 0.096 /day",
    },
    Param {
        name: "d_5",
        value: 0.0002 * H,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "death rate of normal lymphocytes L; 0.0002 /h in BIOMD0000000837 = 0.0048 /day",
    },
    Param {
        name: "p_1",
        value: 0.002 * H,
        unit: "a.u./(cell^2 day)",
        domain: ParamDomain::NonNeg,
        what: "inflammation made per tumour cell and effector (p_1 B (C_e + H_e)); 0.002 /h in BIOMD0000000837 = 0.048 /day",
    },
    Param {
        name: "p_2",
        value: 0.4 * H,
        unit: "cells/day",
        domain: ParamDomain::NonNeg,
        what: "constant production of normal lymphocytes L; 0.4 cells/h in BIOMD0000000837 = 9.6 cells/day",
    },
    Param {
        name: "a_1",
        value: 4e-7 * H,
        unit: "1/(cell day)",
        domain: ParamDomain::NonNeg,
        what: "activation of memory cytotoxic cells by tumour cells (a_1 B C_m (1 + a_2 H_e) h); 4e-7 /(cell h) in BIOMD0000000837 = 9.6e-6 /(cell day)",
    },
    Param {
        name: "a_2",
        value: 2.0,
        unit: "1/cell",
        domain: ParamDomain::NonNeg,
        what: "help: factor (1 + a_2 H_e) on the activation of memory cytotoxic cells; 2 /cell in BIOMD0000000837 (not a rate, no conversion)",
    },
    Param {
        name: "a_3",
        value: 8e-5 * H,
        unit: "1/(cell day)",
        domain: ParamDomain::NonNeg,
        what: "activation of memory helper cells by tumour cells (a_3 B H_m h); 8e-5 /(cell h) in BIOMD0000000837 = 1.92e-3 /(cell day)",
    },
    Param {
        name: "b",
        value: 800.0,
        unit: "a.u.",
        domain: ParamDomain::Pos,
        what: "inflammation of half-maximal activation, h(I) = I^2 / (I^2 + b^2); 800 in BIOMD0000000837 (no conversion)",
    },
    Param {
        name: "l",
        value: 1600.0,
        unit: "cells",
        domain: ParamDomain::Pos,
        what: "lymphocyte capacity: LT = max(0, 1 - Total / l); 1600 in BIOMD0000000837 (via ModelValue_16 = l)",
    },
    Param {
        name: "k",
        value: 4800.0,
        unit: "cells",
        domain: ParamDomain::Pos,
        what: "tumour carrying capacity; 4800 in BIOMD0000000837",
    },
    Param {
        name: "p_0",
        value: 200.0 * H,
        unit: "a.u./day",
        domain: ParamDomain::NonNeg,
        what: "constant inflammation input; 200 /h in BIOMD0000000837 = 4800 /day",
    },
    Param {
        name: "C_m0",
        value: 10.0,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "initial memory cytotoxic CAR-T cells; 10 in BIOMD0000000837",
    },
    Param {
        name: "C_e0",
        value: 10.0,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "initial effector cytotoxic CAR-T cells; 10 in BIOMD0000000837",
    },
    Param {
        name: "H_m0",
        value: 10.0,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "initial memory helper cells; 10 in BIOMD0000000837",
    },
    Param {
        name: "H_e0",
        value: 10.0,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "initial effector helper cells; 10 in BIOMD0000000837",
    },
    Param {
        name: "L0",
        value: 1600.0,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "initial normal lymphocytes; 1600 in BIOMD0000000837",
    },
    Param {
        name: "Inflam0",
        value: 140.0,
        unit: "a.u.",
        domain: ParamDomain::NonNeg,
        what: "initial inflammation; 140 in BIOMD0000000837",
    },
    Param {
        name: "B0",
        value: 300.0,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "initial tumour (B-ALL) cells; 300 in BIOMD0000000837",
    },
    Param {
        name: "D0",
        value: 0.0,
        unit: "a.u./day",
        domain: ParamDomain::NonNeg,
        what: "drug level: zero-order removal rate of inflammation, constant in time; 0 /h in BIOMD0000000837 = 0 /day",
    },
];

/// Number of parameters (initial values included).
const NP: usize = 27;

/// Per-state scale of the absolute tolerance (`atol_i = cfg.atol() x ATOL_SCALE[i]`): the
/// order of each state in the curated run: 10 cells for the four T-cell states, 1,000 for
/// `L`, 100 a.u. for `Inflam`, 100 cells for `B`, 1 a.u./day for `D` (constant).
pub const ATOL_SCALE: [f64; N] = [10.0, 10.0, 10.0, 10.0, 1000.0, 100.0, 100.0, 1.0];

/// One patient of `hanson2016`: its parameters (per day) and initial state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hanson2016 {
    two_n: f64,
    r_1: f64,
    r_2: f64,
    r_3: f64,
    r_4: f64,
    d_1: f64,
    d_2: f64,
    d_3: f64,
    d_4: f64,
    d_5: f64,
    p_1: f64,
    p_2: f64,
    a_1: f64,
    a_2: f64,
    a_3: f64,
    b_sq: f64,
    l: f64,
    k: f64,
    p_0: f64,
    y0: [f64; N],
}

impl Hanson2016 {
    /// The model with `values` in [`PARAMS`] order (per-day units).
    ///
    /// # Errors
    /// [`InputError`] naming `parameters.<name>` for a wrong count, a non-finite value or a
    /// value outside its domain (negative rates and initial values, `b`, `l` or `k` not > 0).
    pub fn new(values: &[f64]) -> Result<Self, InputError> {
        check_values(INFO.name, PARAMS, values)?;
        let v: [f64; NP] = values.try_into().map_err(|_| InputError::Inconsistent {
            field: format!("{}.parameters", INFO.name),
            reason: format!("{} values for {NP} parameters", values.len()),
        })?;
        let [n, r_1, r_2, r_3, r_4, d_1, d_2, d_3, d_4, d_5, p_1, p_2, a_1, a_2, a_3, b, l, k, p_0, y0 @ ..] = v;
        let two_n = 2f64.powf(n);
        if !two_n.is_finite() {
            return Err(InputError::OutOfDomain {
                field: "parameters.n".into(),
                value: n,
                domain: "small enough that 2^n is finite",
            });
        }
        Ok(Self {
            two_n,
            r_1,
            r_2,
            r_3,
            r_4,
            d_1,
            d_2,
            d_3,
            d_4,
            d_5,
            p_1,
            p_2,
            a_1,
            a_2,
            a_3,
            b_sq: b * b,
            l,
            k,
            p_0,
            y0,
        })
    }

    /// `Lymphocyte_Term` of the file: `max(0, 1 - Total / l)` with
    /// `Total = B + C_e + C_m + H_e + H_m + L`.
    #[inline]
    pub fn lymphocyte_term(&self, y: &SVector<f64, N>) -> f64 {
        let total = y[idx::B] + y[idx::C_E] + y[idx::C_M] + y[idx::H_E] + y[idx::H_M] + y[idx::L];
        let x = 1.0 - total / self.l;
        if x > 0.0 {
            x
        } else {
            0.0
        }
    }
}

impl Default for Hanson2016 {
    /// The curated file's values ([`PARAMS`]).
    fn default() -> Self {
        match Self::new(&typical(PARAMS)) {
            Ok(m) => m,
            Err(e) => unreachable!("the typical values of PARAMS are valid: {e}"),
        }
    }
}

impl Model<N> for Hanson2016 {
    type Mode = ();
    type Row = ZooRow;

    fn info(&self) -> &ModelInfo {
        &INFO
    }

    fn start(&self) -> (SVector<f64, N>, ()) {
        (SVector::from(self.y0), ())
    }

    /// `cfg.atol()` times [`ATOL_SCALE`].
    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, N> {
        SVector::from(ATOL_SCALE) * cfg.atol()
    }

    /// The six cell states (every loss term of each is proportional to it); not `Inflam`,
    /// which the drug's zero-order term can make negative, nor the constant `D`.
    fn non_negative(&self) -> u64 {
        1 << idx::C_M | 1 << idx::C_E | 1 << idx::H_M | 1 << idx::H_E | 1 << idx::L | 1 << idx::B
    }

    #[inline]
    fn rhs(&self, _: &(), _t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        let (cm, ce, hm, he, l, inflam, b, d) = (y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]);
        let lt = self.lymphocyte_term(y);
        let i2 = inflam * inflam;
        let h = i2 / (i2 + self.b_sq);
        let act_c = self.a_1 * b * cm * (1.0 + self.a_2 * he) * h;
        let act_h = self.a_3 * b * hm * h;
        dy[idx::C_M] = self.r_2 * cm * lt - act_c;
        dy[idx::C_E] = self.two_n * act_c - self.d_3 * ce;
        dy[idx::H_M] = self.r_3 * hm * lt - act_h;
        dy[idx::H_E] = self.two_n * act_h - self.d_4 * he;
        dy[idx::L] = self.p_2 + self.r_4 * l * lt - self.d_5 * l;
        dy[idx::INFLAM] = self.p_0 + self.p_1 * b * (ce + he) - self.d_2 * inflam - d;
        dy[idx::B] = self.r_1 * b * (1.0 - b / self.k) - self.d_1 * b * ce;
        dy[idx::D] = 0.0;
    }

    /// Half the cells to `C_m`, half to `C_e` (the file's initial split, 10 and 10).
    fn infuse(&self, _: &mut (), y: &mut SVector<f64, N>, cells: f64) {
        y[idx::C_M] += 0.5 * cells;
        y[idx::C_E] += 0.5 * cells;
    }

    /// Every observable reads its components monotonically (a sum, `ln`); no events.
    fn monotone(&self) -> bool {
        true
    }

    fn observe(&self, _: &(), obs: Observable, y: &SVector<f64, N>, dy: &SVector<f64, N>) -> Option<(f64, f64)> {
        match obs {
            Observable::CarT => Some((y[idx::C_M] + y[idx::C_E], dy[idx::C_M] + dy[idx::C_E])),
            Observable::CarTMemory => Some((y[idx::C_M], dy[idx::C_M])),
            Observable::Tumour => Some((y[idx::B], dy[idx::B])),
            Observable::LnTumour => {
                let b = y[idx::B];
                Some((b.ln(), if b > 0.0 { dy[idx::B] / b } else { 0.0 }))
            }
            _ => None,
        }
    }

    /// The tumour never exceeds `max(k, B0)`: `dB/dt <= r_1 B (1 - B / k)` because the
    /// killing term `d_1 B C_e` is non-negative. No bound on the CAR-T cells (`C_e` has no
    /// capacity of its own).
    fn invariants(&self) -> Option<Invariants> {
        Some(Invariants { car_t: f64::INFINITY, tumour: self.k.max(self.y0[idx::B]) })
    }

    fn row(&self, _: &(), t: f64, y: &SVector<f64, N>) -> ZooRow {
        ZooRow::new(&INFO, t, y.as_slice())
    }
}
