//! León-Triana et al. 2021: CAR-T cells, leukaemic B cells and healthy B cells in B-cell acute
//! lymphoblastic leukaemia (B-ALL), two models of the same paper.
//!
//! Paper: O. León-Triana, S. Sabir, G. F. Calvo, J. Belmonte-Beitia, S. Chulián,
//! Á. Martínez-Rubio, M. Rosa, A. Pérez-Martínez, M. Ramirez-Orellana, V. M. Pérez-García,
//! "CAR T cell therapy in B-cell acute lymphoblastic leukaemia: Insights from mathematical
//! models", Commun Nonlinear Sci Numer Simul 2021;94:105570, doi:10.1016/j.cnsns.2020.105570.
//!
//! Equation source: the curated BioModels entries (content CC0), which are all of the paper
//! that is reachable here:
//!
//! - `leon_triana2021` ([`LeonTriana2021`]): BIOMD0000001011, "Leon-Triana2020 - CAR T-cell
//!   therapy in B-cell acute lymphoblastic leukaemia", the paper's reduced model, eqs 4a-c
//!   (file `Leon-Triana2020_eqs4.xml`);
//! - `leon_triana2021_progenitors` ([`LeonTriana2021Progenitors`]): BIOMD0000001012,
//!   "Leon-Triana2020 - CAR T-cell therapy in B-cell acute lymphoblastic leukaemia with
//!   contribution from immature B cells", eqs 3a-c (file `Leon-Triana2020_eqs3.xml`).
//!
//! Both files are one compartment of size 1 ("Whole_organism_blood"), so every species is a
//! number of cells in the whole body; time is in days (the files' time unit is 86,400 s).
//!
//! # The reduced model (eqs 4a-c, BIOMD0000001011)
//!
//! ```text
//! dC/dt = rho_C (L + B) C - C / tau_C
//! dL/dt = rho_L L - alpha L C
//! dB/dt =        - alpha B C - B / tau_B
//! rho_C = k alpha                    (the files' assignment rule rho_C = 0.25 alpha)
//! ```
//!
//! `C` CAR-T cells, `L` leukaemic (CD19+) B cells, `B` healthy (CD19+) B cells, all in cells.
//! CAR-T cells expand on contact with either CD19+ population (mass action, `rho_C`), die
//! with mean life `tau_C`; leukaemic cells grow exponentially at `rho_L` and are killed by
//! CAR-T cells (mass action, `alpha`); healthy B cells are killed likewise and die with mean
//! life `tau_B`. There is no B-cell production in this reduced model, so `B` only falls.
//!
//! # The model with B-cell progenitors (eqs 3a-c, BIOMD0000001012)
//!
//! ```text
//! s     = 1 / (1 + C / C_50)                                  (CAR-T inhibition of the marrow output)
//! dC/dt = rho_C (L + B) C + rho_C beta I_0 s - C / tau_C
//! dL/dt = rho_L L - alpha L C
//! dB/dt = I_0 s / tau_I - alpha B C - B / tau_B
//! dI/dt = I_0 - I_0 s / tau_I                                 (the file's species B_cell_progenitors)
//! I(0)  = I_0                                                 (the file's initial assignment)
//! ```
//!
//! The progenitor pool enters the dynamics only through the *parameter* `I_0`: healthy B
//! cells are produced at `I_0 / tau_I` cells/day (a pool of `I_0` progenitors maturing with
//! mean time `tau_I`), and this output is inhibited by CAR-T cells through the saturation
//! factor `s = 1 / (1 + C / C_50)` (half at `C = C_50`). The same inhibited pool stimulates
//! CAR-T expansion through the term `rho_C beta I_0 s` (`beta`: the stimulating weight of a
//! progenitor relative to a mature B cell).
//!
//! The species `I` (the file's `B_cell_progenitors`) is read by no rate law: it is the
//! running balance of two reactions of the file, a constant inflow `I_0` per day
//! (`proBcell_proliferation`, "Constant flux") and the maturation flux into `B`
//! (`Bcell_proliferation`, `I_0 s / tau_I`, which is taken *from* `I` but computed from the
//! parameter `I_0`, not from `I`). It therefore has no effect on `C`, `L`, `B`; it grows by
//! between `I_0 (1 - 1/tau_I)` and `I_0` cells per day (for `tau_I >= 1`; from 1e7 cells to
//! 1.76e9 at day 200 in the reference) and is kept as a state only so that the model
//! reproduces every species of the curated file. It is not marked non-negative (for
//! `tau_I < 1` it falls, and a clamp at 0 would make it differ from the file).
//!
//! # Differences between the curated files and the paper's text, and what is followed
//!
//! The paper's text is not reachable here, so the points below are what the files themselves
//! show; in every case cartkin follows the curated file, because the reference trajectories
//! are simulated from the files.
//!
//! - `rho_L = 0.03333333333` / day in both files: `1/30` rounded to 10 significant digits.
//!   The file's value is used (so the reference is matched); `1/30` differs from it by 3.3e-12
//!   / day (1e-10 relative).
//! - The files name the mean lives `tao_C`, `tao_B`, `tao_I`; they are time constants
//!   (`tau`, days) and are named `tau_C`, `tau_B`, `tau_I` here.
//! - `rho_C` is not a free parameter in either file: an assignment rule sets
//!   `rho_C = 0.25 alpha` (its stored value 1.125e-11 is that product), and the eqs-3 file
//!   also defines `k = rho_C / alpha` (= 0.25), which no rate law reads. cartkin keeps the
//!   files' structure with `k` as the parameter: `rho_C = k alpha` (a study that varies
//!   `alpha` varies `rho_C` with it, as the file's rule does).
//! - Units of `alpha` and `rho_C`: `1/(d*#)` in the eqs-3 file but `1/d` in the eqs-4 file;
//!   only `1/(cell day)` makes `alpha L C` and `rho_C (L + B) C` fluxes in cells/day. Same
//!   values in both files.
//! - Eqs-3 file, `I_0`: labelled `#/d` and used as a flux (the constant inflow of species
//!   `I`), but also as a cell number: it is the initial value of `I` and the B-cell source
//!   `I_0 / tau_I` is in cells/day only if `I_0` is in cells. cartkin takes `I_0` in cells
//!   (the role it has in the equations for `C`, `L`, `B`) and keeps the file's `dI/dt`.
//! - Eqs-3 file, CAR-T stimulation by progenitors: the term `rho_C beta I_0 s` has no factor
//!   `C` (compare `rho_C (L + B) C`), so it is a rate (1/day) added to a flux (cells/day).
//!   cartkin follows the file. Its size is at most `rho_C beta I_0` = 1.125e-5 cells/day at
//!   the typical values, i.e. negligible against the CAR-T death flux `C / tau_C` (7e5
//!   cells/day at `C0`); yet a variant with the factor `C` differs from the reference by up
//!   to 2e-5 of a state's maximum over days 0-200 (1.9e-5 for `C`; SciPy DOP853, rtol
//!   1e-11), beyond the test's 1e-6, so the reference does pin the file's form.
//!
//! # What cartkin adds
//!
//! Observation map: [`Observable::CarT`] = `C`, [`Observable::Tumour`] = `L`,
//! [`Observable::LnTumour`] = `ln L`, [`Observable::BCells`] = `B` (healthy B cells, so the
//! B-cell recovery and aplasia endpoints apply, with their thresholds in cells). The models
//! have no normal marrow compartment ([`Model::marrow_cells`] is `None`), hence no blast
//! fraction and no response or relapse endpoints; no IL-6, hence no CRS grade. An infusion
//! adds its cells to `C`; the models start from their own initial values (`C0`, `L0`, `B0`,
//! the day-0 product already in `C`), so they are run with an empty regimen.

use super::{check_values, Param, ParamDomain, ZooRow};
use crate::error::InputError;
use crate::model::{Model, ModelInfo, Observable};
use crate::solve::SolverConfig;
use nalgebra::SVector;

/// `rho_L` of both files (1/day): `1/30` rounded to 10 significant digits.
const RHO_L: f64 = 0.03333333333;

/// The parameters of `leon_triana2021` (eqs 4a-c), initial values included, in the order of
/// [`LeonTriana2021::new`]. Typical values: the curated file BIOMD0000001011 (already in days
/// and cells).
pub const PARAMS: &[Param] = &[
    Param {
        name: "rho_L",
        value: RHO_L,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "leukaemic cell proliferation rate; BIOMD0000001011 rho_L = 0.03333333333 (1/30 rounded, kept so the \
               reference is matched)",
    },
    Param {
        name: "alpha",
        value: 4.5e-11,
        unit: "1/(cell day)",
        domain: ParamDomain::NonNeg,
        what: "killing rate of CD19+ cells (leukaemic and healthy B) per CAR-T cell; BIOMD0000001011 alpha (labelled \
               1/d there)",
    },
    Param {
        name: "k",
        value: 0.25,
        unit: "1",
        domain: ParamDomain::NonNeg,
        what: "CAR-T stimulation relative to killing, rho_C = k alpha (1.125e-11 /(cell day)); BIOMD0000001011 \
               assignment rule rho_C = 0.25 alpha",
    },
    Param {
        name: "tau_C",
        value: 14.0,
        unit: "day",
        domain: ParamDomain::Pos,
        what: "mean life of CAR-T cells; BIOMD0000001011 tao_C",
    },
    Param {
        name: "tau_B",
        value: 60.0,
        unit: "day",
        domain: ParamDomain::Pos,
        what: "mean life of healthy B cells; BIOMD0000001011 tao_B",
    },
    Param {
        name: "C0",
        value: 1e7,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "CAR-T cells at day 0 (the product); BIOMD0000001011 initial CAR_T_cells",
    },
    Param {
        name: "L0",
        value: 5e10,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "leukaemic B cells at day 0; BIOMD0000001011 initial Leukaemic_B_cells",
    },
    Param {
        name: "B0",
        value: 2.5e10,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "healthy B cells at day 0; BIOMD0000001011 initial B_cells_healthy",
    },
];

/// The parameters of `leon_triana2021_progenitors` (eqs 3a-c), initial values included, in
/// the order of [`LeonTriana2021Progenitors::new`]. Typical values: the curated file
/// BIOMD0000001012 (already in days and cells). The progenitor species starts at `I_0` (the
/// file's initial assignment), so it has no initial value of its own.
pub const PARAMS_PROGENITORS: &[Param] = &[
    Param {
        name: "rho_L",
        value: RHO_L,
        unit: "1/day",
        domain: ParamDomain::NonNeg,
        what: "leukaemic cell proliferation rate; BIOMD0000001012 rho_L = 0.03333333333 (1/30 rounded, kept so the \
               reference is matched)",
    },
    Param {
        name: "alpha",
        value: 4.5e-11,
        unit: "1/(cell day)",
        domain: ParamDomain::NonNeg,
        what: "killing rate of CD19+ cells (leukaemic and healthy B) per CAR-T cell; BIOMD0000001012 alpha",
    },
    Param {
        name: "k",
        value: 0.25,
        unit: "1",
        domain: ParamDomain::NonNeg,
        what: "CAR-T stimulation relative to killing, rho_C = k alpha (1.125e-11 /(cell day)); BIOMD0000001012 \
               assignment rule rho_C = 0.25 alpha and k = rho_C / alpha",
    },
    Param {
        name: "tau_C",
        value: 14.0,
        unit: "day",
        domain: ParamDomain::Pos,
        what: "mean life of CAR-T cells; BIOMD0000001012 tao_C",
    },
    Param {
        name: "tau_B",
        value: 60.0,
        unit: "day",
        domain: ParamDomain::Pos,
        what: "mean life of healthy B cells; BIOMD0000001012 tao_B",
    },
    Param {
        name: "tau_I",
        value: 6.0,
        unit: "day",
        domain: ParamDomain::Pos,
        what: "maturation time of B-cell progenitors into B cells (B source I_0 / tau_I); BIOMD0000001012 tao_I",
    },
    Param {
        name: "beta",
        value: 0.1,
        unit: "1",
        domain: ParamDomain::NonNeg,
        what: "weight of progenitors in CAR-T stimulation (term rho_C beta I_0 / (1 + C / C_50)); BIOMD0000001012 beta",
    },
    Param {
        name: "C_50",
        value: 1e9,
        unit: "cells",
        domain: ParamDomain::Pos,
        what: "CAR-T cells that halve the progenitor output (factor 1 / (1 + C / C_50)); BIOMD0000001012 C_50",
    },
    Param {
        name: "I_0",
        value: 1e7,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "B-cell progenitor pool (B source I_0 / tau_I cells/day, and the initial and per-day inflow of the \
               progenitor species); BIOMD0000001012 I_0 (labelled #/d there)",
    },
    Param {
        name: "C0",
        value: 1e7,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "CAR-T cells at day 0 (the product); BIOMD0000001012 initial CAR_T_cells",
    },
    Param {
        name: "L0",
        value: 5e10,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "leukaemic B cells at day 0; BIOMD0000001012 initial Leukaemic_B_cells",
    },
    Param {
        name: "B0",
        value: 2.5e10,
        unit: "cells",
        domain: ParamDomain::NonNeg,
        what: "healthy B cells at day 0; BIOMD0000001012 initial B_cells_healthy",
    },
];

// the struct layouts below follow these lists
const _: () = assert!(PARAMS.len() == 8 && PARAMS_PROGENITORS.len() == 12);

/// The error of a wrong number of values (what [`check_values`] reports).
fn count_error(model: &str, got: usize, want: usize) -> InputError {
    InputError::Inconsistent {
        field: format!("{model}.parameters"),
        reason: format!("{got} values for {want} parameters"),
    }
}

static INFO: ModelInfo =
    ModelInfo { name: "leon_triana2021", version: "1", states: &["C", "L", "B"], units: &["cells", "cells", "cells"] };

static INFO_PROGENITORS: ModelInfo = ModelInfo {
    name: "leon_triana2021_progenitors",
    version: "1",
    states: &["C", "L", "B", "I"],
    units: &["cells", "cells", "cells", "cells"],
};

/// Name, version and state layout of `leon_triana2021` (states `C`, `L`, `B`, cells).
pub fn info() -> &'static ModelInfo {
    &INFO
}

/// Name, version and state layout of `leon_triana2021_progenitors` (states `C`, `L`, `B`,
/// `I`, cells).
pub fn info_progenitors() -> &'static ModelInfo {
    &INFO_PROGENITORS
}

/// `C`, `L` and `B` cannot be negative (see [`Model::non_negative`]); the progenitor
/// bookkeeping species `I` of the eqs-3 model is not a population that must stay
/// non-negative (it falls for `tau_I < 1`).
const NON_NEGATIVE: u64 = 0b111;

/// The shared observation map of both models: `C` CAR-T, `L` leukaemia, `B` healthy B cells
/// (states 0, 1, 2).
#[inline]
fn observe_clb<const N: usize>(obs: Observable, y: &SVector<f64, N>, dy: &SVector<f64, N>) -> Option<(f64, f64)> {
    Some(match obs {
        Observable::CarT => (y[0], dy[0]),
        Observable::Tumour => (y[1], dy[1]),
        Observable::LnTumour => {
            if y[1] > 0.0 {
                (y[1].ln(), dy[1] / y[1])
            } else {
                (f64::NEG_INFINITY, 0.0)
            }
        }
        Observable::BCells => (y[2], dy[2]),
        _ => return None,
    })
}

/// One patient of the reduced León-Triana model (eqs 4a-c, BIOMD0000001011): CAR-T `C`,
/// leukaemic B `L`, healthy B `B` (cells, days). See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeonTriana2021 {
    rho_l: f64,
    alpha: f64,
    k: f64,
    tau_c: f64,
    tau_b: f64,
    c0: f64,
    l0: f64,
    b0: f64,
}

impl LeonTriana2021 {
    /// The model with `values` in [`PARAMS`] order (`rho_L`, `alpha`, `k`, `tau_C`, `tau_B`,
    /// `C0`, `L0`, `B0`).
    ///
    /// # Errors
    /// [`InputError`] naming `parameters.<name>` for a wrong count, a non-finite value or one
    /// outside its domain (rates, `k` and initial cells `>= 0`, mean lives `> 0`).
    pub fn new(values: &[f64]) -> Result<Self, InputError> {
        check_values(INFO.name, PARAMS, values)?;
        let v: [f64; 8] = values.try_into().map_err(|_| count_error(INFO.name, values.len(), PARAMS.len()))?;
        Ok(Self::from_array(v))
    }

    fn from_array(v: [f64; 8]) -> Self {
        let [rho_l, alpha, k, tau_c, tau_b, c0, l0, b0] = v;
        Self { rho_l, alpha, k, tau_c, tau_b, c0, l0, b0 }
    }

    /// The values in [`PARAMS`] order.
    pub fn values(&self) -> [f64; 8] {
        [self.rho_l, self.alpha, self.k, self.tau_c, self.tau_b, self.c0, self.l0, self.b0]
    }

    /// The CAR-T stimulation rate `rho_C = k alpha` (1/(cell day)).
    pub fn rho_c(&self) -> f64 {
        self.k * self.alpha
    }
}

impl Default for LeonTriana2021 {
    /// The typical values ([`PARAMS`]: the curated file BIOMD0000001011).
    fn default() -> Self {
        Self::from_array(std::array::from_fn(|i| PARAMS[i].value))
    }
}

impl Model<3> for LeonTriana2021 {
    type Mode = ();
    type Row = ZooRow;

    fn info(&self) -> &ModelInfo {
        &INFO
    }

    /// `(C0, L0, B0)`: the day-0 product is already in `C`.
    fn start(&self) -> (SVector<f64, 3>, ()) {
        (SVector::from([self.c0, self.l0, self.b0]), ())
    }

    /// `atol x cells scale` for every state: 100 cells at the default tolerance (the cells
    /// scale is 1e8 cells by default). In the reference `C` runs from 1e7 to 1.6e10 cells
    /// (peak at day 12), `L` from 5e10 down to 4.1e5 (day 57) and back to 3e7, `B` from 2.5e10
    /// down to 700, so the scale is at or below the typical magnitude of each state; values
    /// below about 100 cells are resolved only to about 100 cells.
    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, 3> {
        SVector::repeat(cfg.atol() * cfg.atol_scales().cells)
    }

    fn non_negative(&self) -> u64 {
        NON_NEGATIVE
    }

    #[inline]
    fn rhs(&self, _: &(), _t: f64, y: &SVector<f64, 3>, dy: &mut SVector<f64, 3>) {
        let (c, l, b) = (y[0], y[1], y[2]);
        dy[0] = self.rho_c() * (l + b) * c - c / self.tau_c;
        dy[1] = self.rho_l * l - self.alpha * l * c;
        dy[2] = -self.alpha * b * c - b / self.tau_b;
    }

    /// An infusion adds its cells to `C`.
    fn infuse(&self, _: &mut (), y: &mut SVector<f64, 3>, cells: f64) {
        y[0] += cells;
    }

    /// `CarT` = `C`, `Tumour` = `L`, `LnTumour` = `ln L` (`-inf` at `L = 0`), `BCells` = `B`.
    fn observe(&self, _: &(), obs: Observable, y: &SVector<f64, 3>, dy: &SVector<f64, 3>) -> Option<(f64, f64)> {
        observe_clb(obs, y, dy)
    }

    /// `C`, `L`, `B` and `ln L` are non-decreasing in their component; no events.
    fn monotone(&self) -> bool {
        true
    }

    fn row(&self, _: &(), t: f64, y: &SVector<f64, 3>) -> ZooRow {
        ZooRow::new(&INFO, t, y.as_slice())
    }
}

/// One patient of the León-Triana model with B-cell progenitors (eqs 3a-c,
/// BIOMD0000001012): CAR-T `C`, leukaemic B `L`, healthy B `B` and the file's progenitor
/// species `I` (cells, days). See the module documentation for the role of `I_0` and `I`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeonTriana2021Progenitors {
    rho_l: f64,
    alpha: f64,
    k: f64,
    tau_c: f64,
    tau_b: f64,
    tau_i: f64,
    beta: f64,
    c_50: f64,
    i_0: f64,
    c0: f64,
    l0: f64,
    b0: f64,
}

impl LeonTriana2021Progenitors {
    /// The model with `values` in [`PARAMS_PROGENITORS`] order (`rho_L`, `alpha`, `k`,
    /// `tau_C`, `tau_B`, `tau_I`, `beta`, `C_50`, `I_0`, `C0`, `L0`, `B0`).
    ///
    /// # Errors
    /// [`InputError`] naming `parameters.<name>` for a wrong count, a non-finite value or one
    /// outside its domain (rates, `k`, `beta`, `I_0` and initial cells `>= 0`; mean lives and
    /// `C_50` `> 0`).
    pub fn new(values: &[f64]) -> Result<Self, InputError> {
        check_values(INFO_PROGENITORS.name, PARAMS_PROGENITORS, values)?;
        let v: [f64; 12] = values
            .try_into()
            .map_err(|_| count_error(INFO_PROGENITORS.name, values.len(), PARAMS_PROGENITORS.len()))?;
        Ok(Self::from_array(v))
    }

    fn from_array(v: [f64; 12]) -> Self {
        let [rho_l, alpha, k, tau_c, tau_b, tau_i, beta, c_50, i_0, c0, l0, b0] = v;
        Self { rho_l, alpha, k, tau_c, tau_b, tau_i, beta, c_50, i_0, c0, l0, b0 }
    }

    /// The values in [`PARAMS_PROGENITORS`] order.
    pub fn values(&self) -> [f64; 12] {
        [
            self.rho_l, self.alpha, self.k, self.tau_c, self.tau_b, self.tau_i, self.beta, self.c_50, self.i_0,
            self.c0, self.l0, self.b0,
        ]
    }

    /// The CAR-T stimulation rate `rho_C = k alpha` (1/(cell day)).
    pub fn rho_c(&self) -> f64 {
        self.k * self.alpha
    }
}

impl Default for LeonTriana2021Progenitors {
    /// The typical values ([`PARAMS_PROGENITORS`]: the curated file BIOMD0000001012).
    fn default() -> Self {
        Self::from_array(std::array::from_fn(|i| PARAMS_PROGENITORS[i].value))
    }
}

impl Model<4> for LeonTriana2021Progenitors {
    type Mode = ();
    type Row = ZooRow;

    fn info(&self) -> &ModelInfo {
        &INFO_PROGENITORS
    }

    /// `(C0, L0, B0, I_0)`: the day-0 product is already in `C`; the progenitor species
    /// starts at `I_0` (the file's initial assignment).
    fn start(&self) -> (SVector<f64, 4>, ()) {
        (SVector::from([self.c0, self.l0, self.b0, self.i_0]), ())
    }

    /// `atol x cells scale` for every state: 100 cells at the default tolerance (the cells
    /// scale is 1e8 cells by default). In the reference `C` runs from 1e7 to 1.6e10 cells
    /// (peak at day 12), `L` from 5e10 down to 4.1e5 (day 57) and back to 3e7, `B` from 2.5e10
    /// down to 1.1e6 (day 30) and back to 8.9e7, `I` from 1e7 up to 1.8e9, so the scale is
    /// at or below the typical magnitude of each state.
    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, 4> {
        SVector::repeat(cfg.atol() * cfg.atol_scales().cells)
    }

    fn non_negative(&self) -> u64 {
        NON_NEGATIVE
    }

    #[inline]
    fn rhs(&self, _: &(), _t: f64, y: &SVector<f64, 4>, dy: &mut SVector<f64, 4>) {
        let (c, l, b) = (y[0], y[1], y[2]);
        let rho_c = self.rho_c();
        let s = 1.0 / (1.0 + c / self.c_50);
        let maturation = self.i_0 * s / self.tau_i;
        dy[0] = rho_c * (l + b) * c + rho_c * self.beta * self.i_0 * s - c / self.tau_c;
        dy[1] = self.rho_l * l - self.alpha * l * c;
        dy[2] = maturation - self.alpha * b * c - b / self.tau_b;
        dy[3] = self.i_0 - maturation;
    }

    /// An infusion adds its cells to `C`.
    fn infuse(&self, _: &mut (), y: &mut SVector<f64, 4>, cells: f64) {
        y[0] += cells;
    }

    /// `CarT` = `C`, `Tumour` = `L`, `LnTumour` = `ln L` (`-inf` at `L = 0`), `BCells` = `B`
    /// (the mature healthy B cells; the progenitor species `I` maps to no observable).
    fn observe(&self, _: &(), obs: Observable, y: &SVector<f64, 4>, dy: &SVector<f64, 4>) -> Option<(f64, f64)> {
        observe_clb(obs, y, dy)
    }

    /// `C`, `L`, `B` and `ln L` are non-decreasing in their component; no events.
    fn monotone(&self) -> bool {
        true
    }

    fn row(&self, _: &(), t: f64, y: &SVector<f64, 4>) -> ZooRow {
        ZooRow::new(&INFO_PROGENITORS, t, y.as_slice())
    }
}
