//! `stein2019`: tisagenlecleucel cellular kinetics in B-ALL.
//!
//! Source: Stein AM, Grupp SA, Levine JE, et al. *Tisagenlecleucel model-based cellular
//! kinetic analysis of chimeric antigen receptor-T cells.* CPT Pharmacometrics Syst
//! Pharmacol 2019;8(5):285-295 (doi:10.1002/psp4.12388): the piecewise model of transgene
//! levels in blood (qPCR, copies/µg genomic DNA) in the ELIANA and ENSIGN trials, Table 1
//! (typical values and between-patient variability, ω² of log-normal random effects). No
//! SBML of it exists; the numbers are those of `../shared/zoo/README.md`.
//!
//! The paper's curve, with `R0 = Cmax / foldx` and `ρ = ln(foldx) / Tmax`:
//!
//! ```text
//! C(t) = R0 exp(ρ t)                                                    t <  Tmax
//! C(t) = Cmax [(1 - FB) exp(-α (t - Tmax)) + FB exp(-β (t - Tmax))]      t >= Tmax
//! ```
//!
//! cartkin integrates it as two first-order states that expand together and then decline
//! apart, so that the driver's observer, endpoints and trials apply unchanged: the fast
//! component `F` and the slow component `S` (copies/µg), `C = F + S`, with
//!
//! ```text
//! F(0) = (1 - FB) R0,  S(0) = FB R0
//! dF/dt = ρ F,  dS/dt = ρ S                 t <  Tmax   (both expand: F/S stays (1-FB)/FB)
//! dF/dt = -α F, dS/dt = -β S                t >= Tmax   (a time break of the model at Tmax)
//! ```
//!
//! which is the paper's curve exactly (at `Tmax`, `F + S = R0 e^{ρ Tmax} = Cmax`).
//!
//! Parameter names are the paper's (`foldx`, `Tmax`, `Cmax`, `alpha`, `FB`, `beta`): a
//! patient's `Tmax` and `Cmax` are its parameters, distinct from the `tmax` and `cmax`
//! endpoints (the located peak of the solution) in `patients.csv`.
//!
//! Left out, as the issue asks: the paper's covariate factors of tocilizumab and of
//! corticosteroids on the expansion (both estimated close to 1 and not significant in
//! Stein 2019); the model has no dose term (the paper found no dose effect on the
//! kinetics), so an infusion does not enter its state. Its CAR-T observable is the
//! transgene level itself (copies/µg), so its `cmax` and `cmax_copies` are both in
//! copies/µg.

use super::{check_values, typical, Param, ParamDomain, ZooRow};
use crate::error::InputError;
use crate::model::{Model, ModelInfo, Observable};
use crate::solve::SolverConfig;
use nalgebra::SVector;

/// The parameters in order (Stein 2019, Table 1 typical values).
pub const PARAMS: &[Param] = &[
    Param {
        name: "foldx",
        value: 3900.0,
        unit: "1",
        domain: ParamDomain::Pos,
        what: "fold expansion Cmax / R0 (Stein 2019 Table 1, omega^2 2.4)",
    },
    Param {
        name: "Tmax",
        value: 9.3,
        unit: "day",
        domain: ParamDomain::Pos,
        what: "time of the peak (Stein 2019 Table 1, omega^2 0.38)",
    },
    Param {
        name: "Cmax",
        value: 24000.0,
        unit: "copies/ug",
        domain: ParamDomain::Pos,
        what: "peak transgene level (Stein 2019 Table 1, omega^2 0.65)",
    },
    Param {
        name: "alpha",
        value: 0.16,
        unit: "1/day",
        domain: ParamDomain::Pos,
        what: "rate of the fast decline (Stein 2019 Table 1, omega^2 0.91)",
    },
    Param {
        name: "FB",
        value: 0.0079,
        unit: "1",
        domain: ParamDomain::Unit,
        what: "fraction of the peak in the slow phase (Stein 2019 Table 1, omega^2 0.8)",
    },
    Param {
        name: "beta",
        value: 0.0032,
        unit: "1/day",
        domain: ParamDomain::Pos,
        what: "rate of the slow decline (Stein 2019 Table 1, omega^2 0.86)",
    },
];

/// Between-patient variability of Stein 2019 Table 1: ω² of the log-normal random effect
/// of each parameter, in [`PARAMS`] order.
pub const OMEGA2: [f64; 6] = [2.4, 0.38, 0.65, 0.91, 0.8, 0.86];

static INFO: ModelInfo =
    ModelInfo { name: "stein2019", version: "1", states: &["F", "S"], units: &["copies/ug", "copies/ug"] };

/// Name, version and states of `stein2019`.
pub fn info() -> &'static ModelInfo {
    &INFO
}

/// One patient of `stein2019` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stein2019 {
    foldx: f64,
    tmax: f64,
    cmax: f64,
    alpha: f64,
    fb: f64,
    beta: f64,
}

impl Default for Stein2019 {
    /// The typical patient (Stein 2019 Table 1).
    fn default() -> Self {
        Self::new(&typical(PARAMS)).unwrap_or_else(|_| unreachable!("the typical values are valid"))
    }
}

/// The switches: whether the expansion phase is on (until `Tmax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Before `Tmax`.
    pub expanding: bool,
}

impl Stein2019 {
    /// A patient from the values of [`PARAMS`], in order.
    ///
    /// # Errors
    /// A wrong count, a value that is not finite or outside its domain.
    pub fn new(values: &[f64]) -> Result<Self, InputError> {
        check_values("stein2019", PARAMS, values)?;
        let s = Self {
            foldx: values[0],
            tmax: values[1],
            cmax: values[2],
            alpha: values[3],
            fb: values[4],
            beta: values[5],
        };
        if !(s.rho().is_finite() && s.r0().is_finite() && s.r0() > 0.0) {
            return Err(InputError::Inconsistent {
                field: "stein2019.parameters".into(),
                reason: format!("foldx {} with tmax {} gives no finite expansion rate", s.foldx, s.tmax),
            });
        }
        Ok(s)
    }

    /// Level at t = 0: `R0 = Cmax / foldx` (copies/µg).
    pub fn r0(&self) -> f64 {
        self.cmax / self.foldx
    }

    /// Expansion rate `ρ = ln(foldx) / Tmax` (1/day).
    pub fn rho(&self) -> f64 {
        self.foldx.ln() / self.tmax
    }

    /// Doubling time of the expansion, `ln 2 / ρ` (day).
    pub fn doubling_time(&self) -> f64 {
        std::f64::consts::LN_2 / self.rho()
    }

    /// Half-life of the fast decline, `ln 2 / α` (day).
    pub fn fast_half_life(&self) -> f64 {
        std::f64::consts::LN_2 / self.alpha
    }

    /// Terminal half-life, `ln 2 / β` (day).
    pub fn terminal_half_life(&self) -> f64 {
        std::f64::consts::LN_2 / self.beta
    }

    /// Time of the peak (day).
    pub fn tmax(&self) -> f64 {
        self.tmax
    }
}

impl Model<2> for Stein2019 {
    type Mode = Mode;
    type Row = ZooRow;

    fn info(&self) -> &ModelInfo {
        &INFO
    }

    fn start(&self) -> (SVector<f64, 2>, Mode) {
        let r0 = self.r0();
        (SVector::from([(1.0 - self.fb) * r0, self.fb * r0]), Mode { expanding: true })
    }

    /// `atol = factor x 1 copy/µg` (the qPCR scale; the level spans 1 to 1e6 copies/µg).
    fn atol(&self, cfg: &SolverConfig) -> SVector<f64, 2> {
        SVector::from([cfg.atol(); 2])
    }

    fn non_negative(&self) -> u64 {
        0b11
    }

    #[inline]
    fn rhs(&self, mode: &Mode, _t: f64, y: &SVector<f64, 2>, dy: &mut SVector<f64, 2>) {
        if mode.expanding {
            let r = self.rho();
            dy[0] = r * y[0];
            dy[1] = r * y[1];
        } else {
            dy[0] = -self.alpha * y[0];
            dy[1] = -self.beta * y[1];
        }
    }

    /// The model has no dose term: an infusion does not change its state.
    fn infuse(&self, _: &mut Mode, _: &mut SVector<f64, 2>, _cells: f64) {}

    fn next_break(&self, mode: &Mode, _t: f64) -> f64 {
        if mode.expanding {
            self.tmax
        } else {
            f64::INFINITY
        }
    }

    fn at_break(&self, mode: &mut Mode, t: f64) {
        if t >= self.tmax {
            mode.expanding = false;
        }
    }

    /// Its one observable is a sum of components; no events.
    fn monotone(&self) -> bool {
        true
    }

    /// `CarT = F + S` (copies/µg).
    fn observe(&self, _: &Mode, obs: Observable, y: &SVector<f64, 2>, dy: &SVector<f64, 2>) -> Option<(f64, f64)> {
        match obs {
            Observable::CarT => Some((y[0] + y[1], dy[0] + dy[1])),
            _ => None,
        }
    }

    fn copies_per_unit(&self) -> Option<f64> {
        Some(1.0)
    }

    fn row(&self, _: &Mode, t: f64, y: &SVector<f64, 2>) -> ZooRow {
        ZooRow::new(&INFO, t, y.as_slice())
    }
}
