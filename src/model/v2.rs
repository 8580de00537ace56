//! Model v2 (`docs/MODEL-v2.md`): the reference model's structure with the mechanisms that
//! make a virtual trial predict rather than fit: per-patient T-cell fitness, tumour kill
//! susceptibility and antigen density; a long-lived CAR-T compartment with slow
//! antigen-independent decay; per-patient loss of CAR-T persistence; CRS as its own severity
//! state with selectable grading scales and clinically phrased treatment triggers;
//! neurotoxicity (ICANS) as a delayed signal; costimulation class and lymphodepletion
//! intensity.
//!
//! State vector ([`NSTATE_V2`] components): `[E, M, P, X, ln L_0..4, B, R, G, I, S, N, Q]`
//! ([`idx2`]): five tumour clones (the four phenotypes and a CD19-dim subclone) and the
//! tocilizumab receptor blockade `R`. `G, I, S, N` form the linear cascade integrated
//! exactly.

use super::params::params;
use super::{efficacy, AntigenSet, Drug, Invariants, Model, ModelInfo, Observable, Phenotype};
use crate::endpoints::{Definitions, EventKind};
use crate::error::InputError;
use crate::ode::Cascade;
use crate::patient::Patient;
use crate::regimen::{Product, Regimen, SteroidPolicy, TociPolicy};
use crate::solve::SolverConfig;
use nalgebra::SVector;
use serde::Serialize;

/// Number of components of model v2's state vector.
pub const NSTATE_V2: usize = 16;

/// Number of tumour clones of model v2: the four phenotypes and a CD19-dim subclone.
pub const NCLONES_V2: usize = 5;

/// The CD19-dim subclone's index among the clones (it is CD19-positive, CD22-positive).
pub const DIM: usize = 4;

/// Indices into model v2's state vector.
pub mod idx2 {
    /// Effector CAR-T cells.
    pub const E: usize = 0;
    /// Memory CAR-T cells of the product (reactivated by antigen).
    pub const M: usize = 1;
    /// Long-lived (persisting) CAR-T cells: antigen-independent slow decay.
    pub const P: usize = 2;
    /// Exhausted CAR-T cells.
    pub const X: usize = 3;
    /// `ln L_j` of clone `j` is at `LN_L + j` (the four phenotypes in canonical order, then
    /// the CD19-dim subclone).
    pub const LN_L: usize = 4;
    /// Normal B cells.
    pub const B: usize = 9;
    /// IL-6 receptor blockade by tocilizumab (0..1).
    pub const R: usize = 10;
    /// IFN-gamma (pg/mL).
    pub const G: usize = 11;
    /// Serum IL-6 (pg/mL).
    pub const I: usize = 12;
    /// CRS severity (grade units, 0..S_max).
    pub const S: usize = 13;
    /// Neurotoxicity (ICANS) severity (grade units, 0..N_max).
    pub const N: usize = 14;
    /// AUC of C over the assessment window (cells x day).
    pub const Q: usize = 15;
}

type State = SVector<f64, NSTATE_V2>;

params! {
    /// Parameters of model v2 (`docs/MODEL-v2.md` section 6), with the typical values of the
    /// ELIANA-like v2 population as defaults. By-name access uses the document's spelling.
    struct ParamsV2;
    /// Max antigen-driven effector expansion `rho_E` at fitness 1 (1/day).
    rho_e: "rho_E" = 1.5, NonNeg;
    /// Antigen load for half-maximal stimulation `K_A` (cells).
    k_a: "K_A" = 1e10, Pos;
    /// Effector death `delta_E` (1/day).
    delta_e: "delta_E" = 0.15, NonNeg;
    /// Effector to product-memory `k_EM` (1/day).
    k_em: "k_EM" = 0.0, NonNeg;
    /// Memory reactivation to effector `rho_M` at fitness 1 (1/day).
    rho_m: "rho_M" = 0.5, NonNeg;
    /// Memory death `delta_M` (1/day).
    delta_m: "delta_M" = 0.05, NonNeg;
    /// Effector to long-lived `k_EP` (1/day).
    k_ep: "k_EP" = 0.0012, NonNeg;
    /// Long-lived decay `delta_P` (1/day).
    delta_p: "delta_P" = 0.0032, NonNeg;
    /// Exhaustion at full stimulation `k_X` (1/day).
    k_x: "k_X" = 0.1, NonNeg;
    /// Exhausted cell death `delta_X` (1/day).
    delta_x: "delta_X" = 0.5, NonNeg;
    /// CAR-T carrying capacity under standard lymphodepletion `K_C` (cells).
    k_c: "K_C" = 7e11, PosOrInf;
    /// Homeostatic boost after standard lymphodepletion `rho_LD` (1/day).
    rho_ld: "rho_LD" = 0.3, NonNeg;
    /// Decay time of that boost `tau_LD` (day).
    tau_ld: "tau_LD" = 7.0, Pos;
    /// Max killing per effector `k_kill` at fitness 1 (1/day).
    k_kill: "k_kill" = 3.5, NonNeg;
    /// Killing saturation `K_k` (cells).
    k_k: "K_k" = 1e8, Pos;
    /// CD19 killing weight `w_CD19`.
    w_cd19: "w_CD19" = 1.0, NonNeg;
    /// CD22 killing weight `w_CD22`.
    w_cd22: "w_CD22" = 0.6, NonNeg;
    /// Blast net growth rate `r_L` (1/day).
    r_l: "r_L" = 0.065, NonNeg;
    /// Blast carrying capacity `K_L` (cells).
    k_l: "K_L" = 5e12, Pos;
    /// Normal marrow nucleated cells `H` (cells).
    h: "H" = 5e11, Pos;
    /// B-cell production `s_B` (cells/day).
    s_b: "s_B" = 1e8, NonNeg;
    /// B-cell turnover `delta_B` (1/day).
    delta_b: "delta_B" = 0.1, NonNeg;
    /// IFN-gamma release `p_G` (pg/mL/day per 1e9 stimulated effectors).
    p_g: "p_G" = 10.0, NonNeg;
    /// IFN-gamma clearance `k_G` (1/day).
    k_g: "k_G" = 8.0, Pos;
    /// IFN-gamma baseline `G_0` (pg/mL).
    g_0: "G_0" = 5.0, NonNeg;
    /// IL-6 release per 1e9 kills `p_I` (pg/mL/day per 1e9 cells/day).
    p_i: "p_I" = 10.0, NonNeg;
    /// IL-6 induction by IFN-gamma `p_IG` (1/day).
    p_ig: "p_IG" = 2.5, NonNeg;
    /// IL-6 clearance `k_I` (1/day).
    k_i: "k_I" = 8.0, Pos;
    /// IL-6 baseline `I_0` (pg/mL).
    i_0: "I_0" = 5.0, NonNeg;
    /// Fraction of IL-6 signalling blocked by tocilizumab at full receptor blockade `eps_T`.
    eps_t: "eps_T" = 0.9, Unit;
    /// Rate of tocilizumab's receptor blockade coming on and wearing off `k_R` (1/day).
    k_r: "k_R" = 2.0, Pos;
    /// Fraction of IL-6 clearance blocked while tocilizumab acts `c_T`.
    c_t: "c_T" = 0.5, Unit;
    /// Steroid suppression of activation and cytokine production `eps_S`.
    eps_s: "eps_S" = 0.5, Unit;
    /// Memory fraction of the product `f_mem`.
    f_mem: "f_mem" = 0.2, Unit;
    /// Extinction level `n_ext` (cells); 0 switches extinction off.
    n_ext: "n_ext" = 1.0, NonNeg;
    /// T-cell fitness of the product `phi_T` (scales proliferation, the lymphodepletion boost
    /// and killing; 1 = typical, 0 = no expansion).
    phi_t: "phi_T" = 1.0, NonNeg;
    /// Tumour kill susceptibility `sigma_L` (scales the killing of blasts; 1 = typical).
    sigma_l: "sigma_L" = 1.0, NonNeg;
    /// CD19 density on CD19-positive blasts `a_CD19` (1 = typical, < 1 antigen-dim).
    a_cd19: "a_CD19" = 1.0, Unit;
    /// CD22 density on CD22-positive blasts `a_CD22`.
    a_cd22: "a_CD22" = 1.0, Unit;
    /// CD19 density on the CD19-dim subclone `a_dim`.
    a_dim: "a_dim" = 0.03, Unit;
    /// Day the CAR-T cells start being lost (rejection or loss of persistence) `t_loss`;
    /// infinity = never.
    t_loss: "t_loss" = f64::INFINITY, PosOrInf;
    /// Extra CAR-T clearance after `t_loss`, `k_rej` (1/day).
    k_rej: "k_rej" = 0.3, NonNeg;
    /// CRS severity relaxation `k_S` (1/day).
    k_s: "k_S" = 1.5, Pos;
    /// IL-6 signal above baseline for half-maximal CRS severity `I_S50` (pg/mL).
    i_s50: "I_S50" = 450.0, Pos;
    /// Hill exponent of CRS severity `n_S`.
    n_s: "n_S" = 2.5, Pos;
    /// Maximal CRS severity `S_max` (grade units).
    s_max: "S_max" = 5.0, Pos;
    /// ICANS relaxation `k_N` (1/day).
    k_n: "k_N" = 0.3, Pos;
    /// Serum IL-6 above baseline for half-maximal ICANS severity `I_N50` (pg/mL).
    i_n50: "I_N50" = 1500.0, Pos;
    /// Hill exponent of ICANS severity `n_N`.
    n_n: "n_N" = 2.0, Pos;
    /// Maximal ICANS severity `N_max` (grade units).
    n_max: "N_max" = 5.0, Pos;
    /// Neurotoxicity susceptibility `psi_N` (scales the ICANS target; 1 = typical).
    psi_n: "psi_N" = 1.0, NonNeg;
    /// CRS severity at which tocilizumab is given `theta_T` (grade units).
    theta_t: "theta_T" = 2.8, Pos;
    /// CRS severity that, reached after tocilizumab, starts steroids `theta_S` (grade units).
    theta_s: "theta_S" = 3.4, Pos;
    /// Tocilizumab effect duration `tau_T` (day).
    tau_t: "tau_T" = 14.0, Pos;
    /// Most reactive tocilizumab doses `n_toci`.
    n_toci: "n_toci" = 2.0, Count;
    /// Steroid course `tau_S` (day).
    tau_s: "tau_S" = 7.0, Pos;
}

impl Default for ParamsV2 {
    fn default() -> Self {
        Self::nominal()
    }
}

impl ParamsV2 {
    /// Check every domain and the cross-field rules (`theta_T < theta_S`).
    ///
    /// # Errors
    /// The first violation, naming the field and the value.
    pub fn validate(&self) -> Result<(), InputError> {
        self.check_domains()?;
        if !(self.theta_t < self.theta_s) {
            return Err(InputError::Inconsistent {
                field: "parameters.theta_S".into(),
                reason: format!("must be above theta_T = {}", self.theta_t),
            });
        }
        Ok(())
    }
}

/// The product's costimulation domain (`docs/MODEL-v2.md` section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Costim {
    /// 4-1BB (tisagenlecleucel): the typical values.
    #[default]
    #[serde(rename = "4-1BB")]
    FourOneBb,
    /// CD28 (axicabtagene, brexucabtagene): faster expansion, a higher peak, shorter
    /// persistence.
    #[serde(rename = "CD28")]
    Cd28,
}

impl Costim {
    /// Multipliers `(rho_E, k_EP, delta_P)` of the class.
    pub fn factors(self) -> (f64, f64, f64) {
        match self {
            Costim::FourOneBb => (1.0, 1.0, 1.0),
            Costim::Cd28 => (CD28_RHO_E, CD28_K_EP, CD28_DELTA_P),
        }
    }

    /// Name as in study files (`4-1BB`, `CD28`).
    pub fn name(self) -> &'static str {
        match self {
            Costim::FourOneBb => "4-1BB",
            Costim::Cd28 => "CD28",
        }
    }

    /// The class of a name (`4-1BB`, `CD28`; case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "4-1BB" | "41BB" => Some(Costim::FourOneBb),
            "CD28" => Some(Costim::Cd28),
            _ => None,
        }
    }
}

/// CD28 class: `rho_E` multiplier (faster expansion, higher peak).
pub const CD28_RHO_E: f64 = 1.3;
/// CD28 class: `k_EP` multiplier (fewer cells enter the long-lived compartment).
pub const CD28_K_EP: f64 = 0.5;
/// CD28 class: `delta_P` multiplier (shorter persistence).
pub const CD28_DELTA_P: f64 = 3.0;

/// Lymphodepletion intensity (`docs/MODEL-v2.md` section 4, after Kimmel et al. 2021).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lymphodepletion {
    /// None: no homeostatic boost; host lymphocytes take most of the space.
    None,
    /// Standard fludarabine/cyclophosphamide: the typical values.
    #[default]
    Standard,
    /// Intensified: a larger boost and more space.
    Intensified,
}

impl Lymphodepletion {
    /// Multipliers `(rho_LD, K_C)` of the intensity.
    pub fn factors(self) -> (f64, f64) {
        match self {
            Lymphodepletion::None => (0.0, LD_NONE_SPACE),
            Lymphodepletion::Standard => (1.0, 1.0),
            Lymphodepletion::Intensified => (LD_INTENSE_BOOST, LD_INTENSE_SPACE),
        }
    }

    /// Name as in study files.
    pub fn name(self) -> &'static str {
        match self {
            Lymphodepletion::None => "none",
            Lymphodepletion::Standard => "standard",
            Lymphodepletion::Intensified => "intensified",
        }
    }

    /// The intensity of a name (`none`, `standard`, `intensified`).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Lymphodepletion::None),
            "standard" => Some(Lymphodepletion::Standard),
            "intensified" => Some(Lymphodepletion::Intensified),
            _ => None,
        }
    }
}

/// Without lymphodepletion the CAR-T cells get this fraction of the space (`K_C`).
pub const LD_NONE_SPACE: f64 = 0.25;
/// Intensified lymphodepletion: `rho_LD` multiplier.
pub const LD_INTENSE_BOOST: f64 = 1.5;
/// Intensified lymphodepletion: `K_C` multiplier.
pub const LD_INTENSE_SPACE: f64 = 1.5;

/// The CRS grading scale (`docs/MODEL-v2.md` section 5): thresholds of grades 1-4 on the
/// severity state `S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrsScale {
    /// Penn (Porter et al. 2018), as in ELIANA: the default.
    #[default]
    Penn,
    /// Lee et al. 2014.
    Lee,
    /// ASTCT consensus (Lee et al. 2019).
    Astct,
}

impl CrsScale {
    /// Severity thresholds of grades 1, 2, 3, 4.
    pub fn thresholds(self) -> [f64; 4] {
        match self {
            CrsScale::Penn => [0.5, 1.5, 2.5, 3.5],
            CrsScale::Lee => [0.5, 1.7, 2.8, 3.7],
            CrsScale::Astct => [0.5, 1.9, 3.0, 3.8],
        }
    }

    /// Name as in study files and `patients.csv` (`penn`, `lee`, `astct`).
    pub fn name(self) -> &'static str {
        match self {
            CrsScale::Penn => "penn",
            CrsScale::Lee => "lee",
            CrsScale::Astct => "astct",
        }
    }

    /// The scale of a name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "penn" => Some(CrsScale::Penn),
            "lee" => Some(CrsScale::Lee),
            "astct" => Some(CrsScale::Astct),
            _ => None,
        }
    }
}

/// ICANS grade thresholds (ASTCT, grades 1-4) on the ICANS severity state `N`.
pub const ICANS_THRESHOLDS: [f64; 4] = [0.5, 1.5, 2.5, 3.5];

/// One patient of model v2: parameters (with the patient's own fitness, susceptibility,
/// antigen density, loss day and neurotoxicity susceptibility), initial state, product,
/// regimen, lymphodepletion, grading scale, endpoint definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioV2 {
    /// Parameters.
    pub params: ParamsV2,
    /// Blasts per phenotype, B cells, CAR-T and cytokines at t = 0.
    pub patient: Patient,
    /// Blasts of the CD19-dim subclone at t = 0 (cells, `>= 0`).
    pub dim_blasts: f64,
    /// The product (targets).
    pub product: Product,
    /// Its costimulation class.
    pub costim: Costim,
    /// Infusions and treatment policies (reactive tocilizumab and steroids are the model's
    /// own triggers on the CRS severity; prophylactic tocilizumab is scheduled).
    pub regimen: Regimen,
    /// Lymphodepletion intensity.
    pub lymphodepletion: Lymphodepletion,
    /// CRS grading scale.
    pub scale: CrsScale,
    /// Endpoint definitions (their CRS thresholds are the scale's).
    pub definitions: Definitions,
}

impl ScenarioV2 {
    /// Check the parameters and the consistency of the parts.
    ///
    /// # Errors
    /// The first violation.
    pub fn validate(&self) -> Result<(), InputError> {
        self.params.validate()?;
        self.definitions.validate()?;
        if self.regimen.lymphodepletion() != (self.lymphodepletion != Lymphodepletion::None) {
            return Err(InputError::Inconsistent {
                field: "regimen.lymphodepletion".into(),
                reason: format!(
                    "the regimen's lymphodepletion flag must match the intensity ({})",
                    self.lymphodepletion.name()
                ),
            });
        }
        let d = crate::error::Domain::NonNeg.checked("dim_blasts", self.dim_blasts)?;
        if d > crate::patient::MAX_CELLS {
            return Err(InputError::OutOfDomain { field: "dim_blasts".into(), value: d, domain: "<= 1e30 cells" });
        }
        if self.definitions.crs_thresholds != self.scale.thresholds() {
            return Err(InputError::Inconsistent {
                field: "endpoints.crs_thresholds".into(),
                reason: format!("model v2 grades CRS on its severity scale ({})", self.scale.name()),
            });
        }
        Ok(())
    }

    /// The model of this scenario.
    pub fn model(&self) -> ModelV2 {
        ModelV2::new(self)
    }

    /// The typical v2 patient (the counterpart of [`crate::Scenario::nominal`]): typical
    /// parameters ([`ParamsV2::nominal`]), marrow 50% blasts (5e11 cells) with a
    /// `CD19-CD22+` subclone of 1e-5 of them, 1e8 normal B cells, 1e8 cells of a 4-1BB CD19
    /// product at day 0, standard lymphodepletion, reactive tocilizumab and steroids, the
    /// Penn scale.
    pub fn typical() -> Self {
        let params = ParamsV2::nominal();
        let l = params.h; // f0 = 0.5: L = H f0 / (1 - f0) = H
        let patient = Patient::from_counts([l * (1.0 - 1e-5), l * 1e-5, 0.0, 0.0], 1e8)
            .and_then(|p| p.with_cytokines(params.g_0, params.i_0))
            .expect("valid typical patient");
        ScenarioV2 {
            params,
            patient,
            dim_blasts: 0.0,
            product: Product::cd19(),
            costim: Costim::FourOneBb,
            regimen: Regimen::single_dose(1e8).expect("valid dose"),
            lymphodepletion: Lymphodepletion::Standard,
            scale: CrsScale::Penn,
            definitions: Definitions { crs_thresholds: CrsScale::Penn.thresholds(), ..Definitions::default() },
        }
    }
}

/// The piecewise-constant switches of model v2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwitchesV2 {
    /// Tocilizumab acting by a scheduled (prophylactic) dose.
    pub toci_sched: bool,
    /// Tocilizumab acting by the model's reactive trigger.
    pub toci_react: bool,
    /// End of the reactive tocilizumab effect.
    pub toci_until: f64,
    /// Reactive doses given.
    pub n_toci: u32,
    /// Steroids acting.
    pub steroid: bool,
    /// End of the steroid course.
    pub steroid_until: f64,
    /// Steroids given (once).
    pub steroid_given: bool,
    /// Tocilizumab given (reactive or scheduled) at least once.
    pub toci_given: bool,
    /// Clone present and not extinct.
    pub active: [bool; NCLONES_V2],
    /// The AUC accumulates.
    pub auc: bool,
    /// The CAR-T cells are being lost (t >= t_loss).
    pub lost: bool,
}

impl SwitchesV2 {
    fn toci(&self) -> bool {
        self.toci_sched || self.toci_react
    }
}

static INFO: ModelInfo = ModelInfo {
    name: "v2",
    version: "2",
    states: &[
        "E",
        "M",
        "P",
        "X",
        "lnL_CD19+CD22+",
        "lnL_CD19-CD22+",
        "lnL_CD19+CD22-",
        "lnL_CD19-CD22-",
        "lnL_CD19dim",
        "B",
        "R",
        "G",
        "I",
        "S",
        "N",
        "Q",
    ],
    units: &[
        "cells",
        "cells",
        "cells",
        "cells",
        "ln cells",
        "ln cells",
        "ln cells",
        "ln cells",
        "ln cells",
        "cells",
        "",
        "pg/mL",
        "pg/mL",
        "grade",
        "grade",
        "cells day",
    ],
};

/// Name, version and state layout of model v2.
pub fn info() -> &'static ModelInfo {
    &INFO
}

/// Model v2's trajectory row (right-continuous at event times).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RowV2 {
    /// Time (day).
    pub t: f64,
    /// Effector CAR-T (cells).
    pub e: f64,
    /// Product memory CAR-T (cells).
    pub m: f64,
    /// Long-lived CAR-T (cells).
    pub p: f64,
    /// Exhausted CAR-T (cells).
    pub x: f64,
    /// Blasts per clone (cells): the four phenotypes in canonical order, then the CD19-dim
    /// subclone.
    pub l: [f64; NCLONES_V2],
    /// Normal B cells.
    pub b: f64,
    /// IFN-gamma (pg/mL).
    pub g: f64,
    /// Serum IL-6 (pg/mL).
    pub i: f64,
    /// IL-6 receptor blockade by tocilizumab (0..1).
    pub r: f64,
    /// CRS severity (grade units).
    pub s: f64,
    /// ICANS severity (grade units).
    pub n: f64,
    /// Tocilizumab acting.
    pub toci: bool,
    /// Steroids acting.
    pub steroid: bool,
}

impl RowV2 {
    /// CAR-T total `C = E + M + P + X`.
    pub fn c(&self) -> f64 {
        self.e + self.m + self.p + self.x
    }
}

/// [`ModelV2`]'s parts for the SBML export.
#[cfg(feature = "sbml")]
pub(crate) struct V2Parts {
    pub e: [f64; NCLONES_V2],
    pub e_b: f64,
    pub rho_ld: f64,
    pub k_c: f64,
    pub y0: State,
    pub present: [bool; NCLONES_V2],
    pub reactive_toci: bool,
    pub reactive_steroids: bool,
}

/// Model v2 for one scenario, with the costimulation and lymphodepletion factors applied.
#[derive(Debug, Clone)]
pub struct ModelV2 {
    p: ParamsV2,
    /// Efficacy per clone (antigen densities included).
    e: [f64; NCLONES_V2],
    e_b: f64,
    rho_ld: f64,
    k_c: f64,
    y0: State,
    present: [bool; NCLONES_V2],
    ln_ext: f64,
    auc_end: f64,
    reactive_toci: bool,
    reactive_steroids: bool,
    scale: CrsScale,
}

impl ModelV2 {
    /// The model of scenario `sc`.
    pub fn new(sc: &ScenarioV2) -> Self {
        let mut p = sc.params.clone();
        let (f_rho, f_kep, f_dp) = sc.costim.factors();
        p.rho_e *= f_rho;
        p.k_ep *= f_kep;
        p.delta_p *= f_dp;
        let (f_boost, f_space) = sc.lymphodepletion.factors();
        let targets = sc.product.targets();
        let mut e = [0.0; NCLONES_V2];
        for ph in Phenotype::ALL {
            e[ph.index()] = efficacy(targets, ph.antigens(), p.w_cd19 * p.a_cd19, p.w_cd22 * p.a_cd22);
        }
        e[DIM] = efficacy(targets, AntigenSet::BOTH, p.w_cd19 * p.a_dim, p.w_cd22 * p.a_cd22);
        let pat = &sc.patient;
        let b4 = pat.blasts();
        let b = [b4[0], b4[1], b4[2], b4[3], sc.dim_blasts];
        let present = b.map(|v| v > 0.0);
        let mut y = State::zeros();
        let [e0, m0, x0] = pat.car_t();
        let [g0, i0] = pat.cytokines();
        y[idx2::E] = e0;
        y[idx2::M] = m0;
        y[idx2::X] = x0;
        for j in 0..NCLONES_V2 {
            y[idx2::LN_L + j] = if present[j] { b[j].ln() } else { 0.0 };
        }
        y[idx2::B] = pat.b0();
        y[idx2::G] = g0;
        y[idx2::I] = i0;
        Self {
            e,
            e_b: efficacy(targets, AntigenSet::BOTH, p.w_cd19, p.w_cd22),
            rho_ld: p.rho_ld * f_boost,
            k_c: p.k_c * f_space,
            y0: y,
            present,
            ln_ext: if p.n_ext > 0.0 { p.n_ext.ln() } else { f64::NEG_INFINITY },
            auc_end: sc.definitions.assessment_day,
            reactive_toci: matches!(sc.regimen.tocilizumab(), TociPolicy::Reactive),
            reactive_steroids: matches!(sc.regimen.steroids(), SteroidPolicy::Reactive),
            scale: sc.scale,
            p,
        }
    }

    /// The parameters with the product's and the regimen's factors applied.
    pub fn params(&self) -> &ParamsV2 {
        &self.p
    }

    /// What an exporter needs beyond the parameters (the SBML export): the efficacy per clone
    /// and against B cells, the effective `rho_LD` and `K_C`, the state at t = 0 (before the
    /// day-0 events), the clones present, and whether tocilizumab and steroids are reactive.
    #[cfg(feature = "sbml")]
    pub(crate) fn export_parts(&self) -> V2Parts {
        V2Parts {
            e: self.e,
            e_b: self.e_b,
            rho_ld: self.rho_ld,
            k_c: self.k_c,
            y0: self.y0,
            present: self.present,
            reactive_toci: self.reactive_toci,
            reactive_steroids: self.reactive_steroids,
        }
    }

    fn start_switches(&self) -> SwitchesV2 {
        SwitchesV2 {
            toci_sched: false,
            toci_react: false,
            toci_until: f64::NEG_INFINITY,
            n_toci: 0,
            steroid: false,
            steroid_until: f64::NEG_INFINITY,
            steroid_given: false,
            toci_given: false,
            active: self.present,
            auc: true,
            lost: false,
        }
    }

    /// The IL-6 signal `I (1 - eps_T R)`.
    #[inline]
    fn signal(&self, r: f64, i: f64) -> f64 {
        i * (1.0 - self.p.eps_t * r)
    }

    /// `h^n / (1 + h^n)` for `h = max(0, v) / half`.
    #[inline]
    fn hill(v: f64, half: f64, n: f64) -> f64 {
        let h = v.max(0.0) / half;
        if h <= 0.0 {
            0.0
        } else {
            let hn = h.powf(n);
            hn / (1.0 + hn)
        }
    }

    /// The CRS severity target `S_max hill(I_eff - I_0; I_S50, n_S)`.
    #[inline]
    fn s_target(&self, r: f64, i: f64) -> f64 {
        let p = &self.p;
        p.s_max * Self::hill(self.signal(r, i) - p.i_0, p.i_s50, p.n_s)
    }

    /// The ICANS severity target `psi_N N_max hill(I - I_0; I_N50, n_N)` (serum IL-6, which
    /// tocilizumab does not block in the brain).
    #[inline]
    fn n_target(&self, i: f64) -> f64 {
        let p = &self.p;
        p.psi_n * p.n_max * Self::hill(i - p.i_0, p.i_n50, p.n_n)
    }

    /// The right-hand side with the switches `sw`.
    #[inline]
    pub fn eval(&self, sw: &SwitchesV2, t: f64, y: &State, dy: &mut State) {
        self.eval_with(sw, t, y, dy, true)
    }

    /// The right-hand side; without `severities`, the CRS and ICANS severities' derivatives
    /// (two Hill functions, the costliest terms) are written as 0.
    #[inline(always)]
    fn eval_with(&self, sw: &SwitchesV2, t: f64, y: &State, dy: &mut State, severities: bool) {
        let p = &self.p;
        let (e, m, pp, x, b, g, i) =
            (y[idx2::E], y[idx2::M], y[idx2::P], y[idx2::X], y[idx2::B], y[idx2::G], y[idx2::I]);
        let c = e + m + pp + x;
        let cap = if self.k_c.is_finite() { (1.0 - c / self.k_c).max(0.0) } else { 1.0 };
        let ek = e + pp; // the cells that kill
        let mut l = [0.0; NCLONES_V2];
        let mut l_tot = 0.0;
        let mut antigen = self.e_b * b;
        for j in 0..NCLONES_V2 {
            if sw.active[j] {
                l[j] = y[idx2::LN_L + j].exp();
                l_tot += l[j];
                antigen += self.e[j] * l[j];
            }
        }
        let s = antigen / (p.k_a + antigen);
        let u = if sw.steroid { 1.0 - p.eps_s } else { 1.0 };
        let h = if self.rho_ld > 0.0 { self.rho_ld * (-t / p.tau_ld).exp() } else { 0.0 };
        let growth = p.r_l * (1.0 - l_tot / p.k_l);
        let kmax = p.k_kill * p.phi_t;
        let mut kills = 0.0;
        for j in 0..NCLONES_V2 {
            if sw.active[j] {
                let rate = kmax * p.sigma_l * self.e[j] * ek / (p.k_k + ek + l[j]);
                kills += rate * l[j];
                dy[idx2::LN_L + j] = growth - rate;
            } else {
                dy[idx2::LN_L + j] = 0.0;
            }
        }
        let kill_b = kmax * self.e_b * ek * b / (p.k_k + ek + b);
        let us = u * s;
        let rej = if sw.lost { p.k_rej } else { 0.0 };
        dy[idx2::E] = (p.rho_e * p.phi_t * us + p.phi_t * h) * cap * e + p.rho_m * p.phi_t * us * m
            - (p.delta_e + p.k_em + p.k_ep + p.k_x * s + rej) * e;
        dy[idx2::M] = p.k_em * e - p.rho_m * p.phi_t * us * m - (p.delta_m + rej) * m;
        dy[idx2::P] = p.k_ep * e - (p.delta_p + rej) * pp;
        dy[idx2::X] = p.k_x * s * e - (p.delta_x + rej) * x;
        dy[idx2::B] = p.s_b - p.delta_b * b - kill_b;
        dy[idx2::G] = p.p_g * 1e-9 * us * e - p.k_g * (g - p.g_0);
        let clear = if sw.toci() { p.k_i * (1.0 - p.c_t) } else { p.k_i };
        dy[idx2::I] = u * (p.p_i * 1e-9 * (kills + kill_b) + p.p_ig * g) - clear * (i - p.i_0);
        let r = y[idx2::R];
        dy[idx2::R] = p.k_r * (if sw.toci() { 1.0 } else { 0.0 } - r);
        if severities {
            dy[idx2::S] = p.k_s * (self.s_target(r, i) - y[idx2::S]);
            dy[idx2::N] = p.k_n * (self.n_target(i) - y[idx2::N]);
        } else {
            dy[idx2::S] = 0.0;
            dy[idx2::N] = 0.0;
        }
        dy[idx2::Q] = if sw.auc { c } else { 0.0 };
    }
}

/// Model v2's own events after the four extinctions.
const EV_TOCI: usize = NCLONES_V2;
const EV_STEROID: usize = NCLONES_V2 + 1;

impl Model<NSTATE_V2> for ModelV2 {
    type Mode = SwitchesV2;
    type Row = RowV2;

    fn info(&self) -> &ModelInfo {
        &INFO
    }

    fn start(&self) -> (State, SwitchesV2) {
        (self.y0, self.start_switches())
    }

    fn atol(&self, cfg: &SolverConfig) -> State {
        let a = cfg.atol();
        let sc = cfg.atol_scales();
        let mut atol = State::zeros();
        for k in [idx2::E, idx2::M, idx2::P, idx2::X, idx2::B, idx2::Q] {
            atol[k] = a * sc.cells;
        }
        atol[idx2::R] = a * sc.cytokines / 5.0;
        for j in 0..NCLONES_V2 {
            atol[idx2::LN_L + j] = a * sc.ln_blasts;
        }
        atol[idx2::G] = a * sc.cytokines;
        atol[idx2::I] = a * sc.cytokines;
        // the severities are O(1) grade units: the cytokine scale (5) divided by 5
        atol[idx2::S] = a * sc.cytokines / 5.0;
        atol[idx2::N] = a * sc.cytokines / 5.0;
        atol
    }

    #[inline]
    fn in_error_norm(&self, sw: &SwitchesV2, i: usize) -> bool {
        !(idx2::LN_L..idx2::LN_L + NCLONES_V2).contains(&i) || sw.active[i - idx2::LN_L]
    }

    fn invariants(&self) -> Option<Invariants> {
        let y = &self.y0;
        let c0 = y[idx2::E] + y[idx2::M] + y[idx2::P] + y[idx2::X];
        let l0: f64 = (0..NCLONES_V2).filter(|&j| self.present[j]).map(|j| y[idx2::LN_L + j].exp()).sum();
        Some(Invariants { car_t: self.k_c.max(c0), tumour: self.p.k_l.max(l0) })
    }

    fn non_negative(&self) -> u64 {
        [idx2::E, idx2::M, idx2::P, idx2::X, idx2::B, idx2::R, idx2::G, idx2::I, idx2::S, idx2::N, idx2::Q]
            .iter()
            .fold(0, |m, &i| m | 1 << i)
    }

    #[inline]
    fn rhs(&self, sw: &SwitchesV2, t: f64, y: &State, dy: &mut State) {
        self.eval(sw, t, y, dy)
    }

    /// Without the severities' derivatives: S and N are coupled cascade components with
    /// direct sources ([`Model::cascade_source`]), which the stepper reads instead.
    #[inline]
    fn rhs_stage(&self, sw: &SwitchesV2, t: f64, y: &State, dy: &mut State) {
        self.eval_with(sw, t, y, dy, false)
    }

    /// `G <- core`, `I <- core + G` (affine in G: `u p_IG G`, `u` the steroid factor),
    /// `S <- core (R) + I`, `N <- I` (through Hill functions, evaluated by
    /// [`Model::cascade_source`]).
    fn cascade(&self, sw: &SwitchesV2) -> Cascade {
        let p = &self.p;
        let k_i = if sw.toci() { p.k_i * (1.0 - p.c_t) } else { p.k_i };
        let u = if sw.steroid { 1.0 - p.eps_s } else { 1.0 };
        let mut coupling = [[0.0; 4]; 4];
        coupling[1][0] = u * p.p_ig;
        Cascade {
            n: 4,
            idx: [idx2::G, idx2::I, idx2::S, idx2::N],
            rate: [p.k_g, k_i, p.k_s, p.k_n],
            base: [p.g_0, p.i_0, 0.0, 0.0],
            coupled: [false, false, true, true],
            coupling,
        }
    }

    /// The sources of the CRS and ICANS severities alone (cascade components 2 and 3):
    /// `k_S s_target(R, I)` and `k_N n_target(I)`, the same terms as in the right-hand side;
    /// IFN-gamma and IL-6 read the whole core (`None`: the stepper evaluates the right-hand
    /// side).
    #[inline]
    fn cascade_source(&self, _sw: &SwitchesV2, _t: f64, y: &State, ci: usize) -> Option<f64> {
        match ci {
            2 => Some(self.p.k_s * self.s_target(y[idx2::R], y[idx2::I])),
            3 => Some(self.p.k_n * self.n_target(y[idx2::I])),
            _ => None,
        }
    }

    #[inline]
    fn infuse(&self, _sw: &mut SwitchesV2, y: &mut State, cells: f64) {
        let f_mem = self.p.f_mem;
        y[idx2::E] += (1.0 - f_mem) * cells;
        y[idx2::M] += f_mem * cells;
    }

    /// The regimen's scheduled tocilizumab and its end (the driver's switches); steroids are
    /// the model's own (reactive) trigger.
    #[inline]
    fn set_drug(&self, sw: &mut SwitchesV2, drug: Drug, acting: bool) {
        match drug {
            Drug::Tocilizumab => {
                sw.toci_sched = acting;
                sw.toci_given |= acting;
            }
            Drug::Steroids => sw.steroid = acting,
        }
    }

    #[inline]
    fn drug_acting(&self, sw: &SwitchesV2, drug: Drug) -> bool {
        match drug {
            Drug::Tocilizumab => sw.toci(),
            Drug::Steroids => sw.steroid,
        }
    }

    fn next_break(&self, sw: &SwitchesV2, t: f64) -> f64 {
        let mut b = f64::INFINITY;
        if sw.auc {
            b = b.min(self.auc_end);
        }
        if sw.toci_react {
            b = b.min(sw.toci_until);
        }
        if sw.steroid && sw.steroid_until > t {
            b = b.min(sw.steroid_until);
        }
        if !sw.lost {
            b = b.min(self.p.t_loss);
        }
        b
    }

    fn at_break(&self, sw: &mut SwitchesV2, t: f64) {
        if t >= self.auc_end {
            sw.auc = false;
        }
        if sw.toci_react && t >= sw.toci_until {
            sw.toci_react = false;
        }
        if sw.steroid && sw.steroid_given && t >= sw.steroid_until {
            sw.steroid = false;
        }
        if !sw.lost && t >= self.p.t_loss {
            sw.lost = true;
        }
    }

    #[inline]
    fn n_events(&self) -> usize {
        NCLONES_V2 + 2
    }

    #[inline]
    fn event(&self, sw: &SwitchesV2, k: usize, y: &State, dy: &State) -> Option<(f64, f64)> {
        match k {
            0..NCLONES_V2 if sw.active[k] && self.ln_ext.is_finite() => {
                let i = idx2::LN_L + k;
                Some((self.ln_ext - y[i], -dy[i]))
            }
            EV_TOCI if self.reactive_toci && !sw.toci_react && (sw.n_toci as f64) < self.p.n_toci => {
                Some((y[idx2::S] - self.p.theta_t, dy[idx2::S]))
            }
            // steroids when CRS worsens despite tocilizumab (or, without a tocilizumab policy
            // that could have acted, when it reaches theta_S)
            EV_STEROID if self.reactive_steroids && !sw.steroid_given && (sw.toci_given || !self.reactive_toci) => {
                Some((y[idx2::S] - self.p.theta_s, dy[idx2::S]))
            }
            _ => None,
        }
    }

    fn fire(&self, sw: &mut SwitchesV2, k: usize, t: f64, _y: &mut State) -> EventKind {
        match k {
            EV_TOCI => {
                sw.toci_react = true;
                sw.toci_given = true;
                sw.toci_until = t + self.p.tau_t;
                sw.n_toci += 1;
                EventKind::TociReactive { dose: sw.n_toci }
            }
            EV_STEROID => {
                sw.steroid = true;
                sw.steroid_given = true;
                sw.steroid_until = t + self.p.tau_s;
                EventKind::SteroidStart
            }
            _ => {
                sw.active[k] = false;
                EventKind::Extinction { phenotype: self.clone_label(k) }
            }
        }
    }

    #[inline]
    fn observe(&self, sw: &SwitchesV2, obs: Observable, y: &State, dy: &State) -> Option<(f64, f64)> {
        let sum = |ks: &[usize]| (ks.iter().map(|&k| y[k]).sum::<f64>(), ks.iter().map(|&k| dy[k]).sum::<f64>());
        Some(match obs {
            Observable::CarT => sum(&[idx2::E, idx2::M, idx2::P, idx2::X]),
            Observable::CarTMemory => sum(&[idx2::M, idx2::P]),
            Observable::CarTAuc => (y[idx2::Q], dy[idx2::Q]),
            Observable::Tumour => {
                let (mut s, mut ds) = (0.0, 0.0);
                for j in 0..NCLONES_V2 {
                    if sw.active[j] {
                        let l = y[idx2::LN_L + j].exp();
                        s += l;
                        ds += l * dy[idx2::LN_L + j];
                    }
                }
                (s, ds)
            }
            Observable::LnTumour => {
                let (s, ds) = self.observe(sw, Observable::Tumour, y, dy)?;
                (s.ln(), if s > 0.0 { ds / s } else { 0.0 })
            }
            Observable::BCells => (y[idx2::B], dy[idx2::B]),
            Observable::CrsSeverity => (y[idx2::S], dy[idx2::S]),
            Observable::Icans => (y[idx2::N], dy[idx2::N]),
            Observable::Il6 => (y[idx2::I], dy[idx2::I]),
            Observable::Ifng => (y[idx2::G], dy[idx2::G]),
            // CRS is graded on its severity state; the driver's IL-6 triggers are not used
            _ => return None,
        })
    }

    /// Every observable reads its components monotonically (sums, `exp`, `ln`), all in one
    /// direction; each crossing function reads one component linearly (`ln n_ext - ln L_k`,
    /// `S - theta`), armed by the switches alone.
    #[inline]
    fn monotone(&self) -> bool {
        true
    }

    fn icans_thresholds(&self) -> Option<[f64; 4]> {
        Some(ICANS_THRESHOLDS)
    }

    fn crs_scale(&self) -> Option<&'static str> {
        Some(self.scale.name())
    }

    #[inline]
    fn marrow_cells(&self) -> Option<f64> {
        Some(self.p.h)
    }

    #[inline]
    fn n_clones(&self) -> usize {
        NCLONES_V2
    }

    /// The CD19-dim subclone is labelled `CD19+CD22+` (it carries both antigens).
    #[inline]
    fn clone_label(&self, j: usize) -> Phenotype {
        if j == DIM {
            Phenotype::DOUBLE_POS
        } else {
            Phenotype::from_index(j)
        }
    }

    #[inline]
    fn clone_present(&self, j: usize) -> bool {
        self.present[j]
    }

    #[inline]
    fn clone_ln(&self, sw: &SwitchesV2, j: usize, y: &State) -> Option<f64> {
        if sw.active[j] {
            Some(y[idx2::LN_L + j])
        } else {
            None
        }
    }

    fn row(&self, sw: &SwitchesV2, t: f64, y: &State) -> RowV2 {
        let mut l = [0.0; NCLONES_V2];
        for j in 0..NCLONES_V2 {
            if sw.active[j] {
                l[j] = y[idx2::LN_L + j].exp();
            }
        }
        RowV2 {
            t,
            e: y[idx2::E].max(0.0),
            m: y[idx2::M].max(0.0),
            p: y[idx2::P].max(0.0),
            x: y[idx2::X].max(0.0),
            l,
            b: y[idx2::B].max(0.0),
            g: y[idx2::G],
            i: y[idx2::I],
            r: y[idx2::R].clamp(0.0, 1.0),
            s: y[idx2::S].max(0.0),
            n: y[idx2::N].max(0.0),
            toci: sw.toci(),
            steroid: sw.steroid,
        }
    }
}
