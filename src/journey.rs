//! The patient journey around the infusion: eligibility at screening, leukapheresis and
//! manufacturing, the wait (disease growth, bridging chemotherapy, loss before infusion),
//! monitoring visits with assays that have limits of quantification and noise, cost, and
//! summaries by intention to treat (docs/JOURNEY.md).
//!
//! A [`Journey`] is attached to a model-v2 population
//! ([`crate::population::v2::PopulationV2Builder::journey`], or `[journey]` in a study file).
//! Each sampled patient is then a *screened* patient: the trial draws their journey from their
//! own stream ([`journey_rng`]: the patient's parameters are drawn exactly as without a
//! journey), simulates only the infused ones, from the burden the wait left them with, and
//! reads their visits. The trial's top-level rates stay over infused patients; the summary
//! adds `flow`, `itt` (over enrolled patients), `measured`, `pre_infusion` and `cost`.
//!
//! ```
//! use cartkin::journey::{blasts_after, Reading, Assay};
//! // logistic growth of the blasts without CAR-T cells (model v2: r_L 0.065/day, K_L 5e12)
//! let l = blasts_after(1e11, 30.0, 0.065, 5e12);
//! assert!(l > 1e11 * (0.065f64 * 30.0 * 0.9).exp() && l < 1e11 * (0.065f64 * 30.0).exp());
//! // an assay with LOQ 1e-4 reports a true 1e-5 as below the LOQ (no noise)
//! let flow = Assay { loq: 1e-4, cv: 0.0, days: vec![28.0] };
//! assert_eq!(flow.read(1e-5, 0.0), Reading::BelowLoq);
//! ```

use crate::endpoints::{Definitions, Endpoints};
use crate::error::InputError;
use crate::population::{draw_amount, sigma_of_cv, Amount};
use crate::summary::{LayoutMismatch, LinearHistogram, LogHistogram, Rate};
use rand::{Rng, RngExt};
use rand_distr::{Distribution as _, StandardNormal};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Added to the run's seed for the journey's generator (the bytes of `"journey!"`).
pub const JOURNEY_SEED_SALT: u64 = 0x6a6f_7572_6e65_7921;

/// The generator of patient `id`'s journey in a run with `seed`: ChaCha8 seeded with
/// `seed ^ JOURNEY_SEED_SALT`, stream `id` (independent of the patient's own stream, so a
/// journey never changes the patient's parameters).
pub fn journey_rng(seed: u64, id: u64) -> rand_chacha::ChaCha8Rng {
    crate::population::patient_rng(seed ^ JOURNEY_SEED_SALT, id)
}

/// A distribution of a journey quantity (the forms of docs/STUDY.md's covariates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// Always this value.
    Fixed(f64),
    /// Uniform on `[lo, hi]`.
    Uniform {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// Uniform in log between `lo` and `hi` (`0 < lo <= hi`).
    LogUniform {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// `lo + (hi - lo) X`, `X ~ Beta(a, b)`.
    Beta {
        /// Shape a.
        a: f64,
        /// Shape b.
        b: f64,
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// Log-normal with this median and coefficient of variation, clamped into `[lo, hi]`.
    LogNormal {
        /// Median.
        median: f64,
        /// Coefficient of variation.
        cv: f64,
        /// Lower clamp.
        lo: f64,
        /// Upper clamp.
        hi: f64,
    },
}

impl Distribution {
    /// One draw. Each form uses a fixed number of draws of `rng` (0 for `Fixed`, 1 otherwise;
    /// Beta as rand_distr draws it).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { lo, hi } => {
                let u: f64 = rng.random();
                lo + (hi - lo) * u
            }
            Distribution::LogUniform { lo, hi } => draw_amount(Amount::LogUniform { lo, hi }, rng),
            Distribution::Beta { a, b, lo, hi } => {
                let x = rand_distr::Beta::new(a, b).map(|d| d.sample(rng)).unwrap_or(f64::NAN);
                let x = if x.is_finite() { x.clamp(0.0, 1.0) } else { a / (a + b) };
                (lo + (hi - lo) * x).clamp(lo, hi)
            }
            Distribution::LogNormal { median, cv, lo, hi } => {
                let z: f64 = StandardNormal.sample(rng);
                (median.ln() + sigma_of_cv(cv) * z).exp().clamp(lo, hi)
            }
        }
    }

    /// The smallest and largest value a draw can take.
    pub fn bounds(&self) -> (f64, f64) {
        match *self {
            Distribution::Fixed(v) => (v, v),
            Distribution::Uniform { lo, hi }
            | Distribution::LogUniform { lo, hi }
            | Distribution::Beta { lo, hi, .. }
            | Distribution::LogNormal { lo, hi, .. } => (lo, hi),
        }
    }

    fn check(&self, field: &str, lo: f64, hi: f64, domain: &'static str) -> Result<(), InputError> {
        let (a, b) = self.bounds();
        let ok = |v: f64| v.is_finite() && v >= lo && v <= hi;
        let shape_ok = match *self {
            Distribution::LogUniform { lo, hi } => lo > 0.0 && lo <= hi,
            Distribution::Beta { a, b, lo, hi } => a > 0.0 && b > 0.0 && lo < hi,
            Distribution::LogNormal { median, cv, lo, hi } => median > 0.0 && cv >= 0.0 && lo > 0.0 && lo < hi,
            Distribution::Uniform { lo, hi } => lo < hi,
            Distribution::Fixed(_) => true,
        };
        if !(ok(a) && ok(b) && shape_ok) {
            return Err(InputError::OutOfDomain { field: field.into(), value: if ok(a) { b } else { a }, domain });
        }
        Ok(())
    }
}

/// What is drawn at screening besides the model's own patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    /// Probability that a screened patient has relapsed or refractory disease.
    pub relapsed_refractory: f64,
    /// Overall-health score (Karnofsky / Lansky scale, 0-100).
    pub health_score: Distribution,
    /// Probability of adequate organ function.
    pub organ_function: f64,
}

impl Default for Screening {
    fn default() -> Self {
        Self { relapsed_refractory: 1.0, health_score: Distribution::Fixed(100.0), organ_function: 1.0 }
    }
}

/// Eligibility criteria, checked in this order (the first that fails is the reason).
#[derive(Debug, Clone, PartialEq)]
pub struct Eligibility {
    /// Relapsed or refractory disease required (reason `not_relapsed_refractory`).
    pub require_relapsed_refractory: bool,
    /// Adequate organ function required (reason `organ_function`).
    pub require_organ_function: bool,
    /// Minimum overall-health score (reason `health_score`).
    pub min_health_score: f64,
    /// Minimum marrow blast fraction at screening (reason `marrow_blasts`).
    pub min_marrow_blast_fraction: f64,
    /// Minimum fraction of the blasts carrying an antigen the product targets (reason
    /// `target_expression`).
    pub min_target_expression: f64,
    /// Probability that an eligible patient enrols (consents and is accepted for
    /// leukapheresis); the others are `declined`.
    pub enrol_probability: f64,
}

impl Default for Eligibility {
    fn default() -> Self {
        Self {
            require_relapsed_refractory: true,
            require_organ_function: true,
            min_health_score: 0.0,
            min_marrow_blast_fraction: 0.0,
            min_target_expression: 0.0,
            enrol_probability: 1.0,
        }
    }
}

/// Leukapheresis to infusion: the wait, manufacturing failure and the product.
#[derive(Debug, Clone, PartialEq)]
pub struct Manufacturing {
    /// Days from leukapheresis (enrolment) to infusion.
    pub days: Distribution,
    /// Probability that manufacturing fails for a patient of typical T-cell fitness.
    pub failure_probability: f64,
    /// How fitness moves it: `logit p = logit(failure_probability) - slope ln(phi_T)`.
    pub failure_fitness_slope: f64,
    /// Dose achieved as a fraction of the planned dose (0, 1].
    pub dose_achieved: Distribution,
}

impl Default for Manufacturing {
    fn default() -> Self {
        Self {
            days: Distribution::Fixed(0.0),
            failure_probability: 0.0,
            failure_fitness_slope: 0.0,
            dose_achieved: Distribution::Fixed(1.0),
        }
    }
}

/// Who gets bridging chemotherapy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BridgingPolicy {
    /// Nobody.
    None,
    /// Every enrolled patient (with `probability`).
    All,
    /// Patients whose marrow blast fraction at screening is at least this (with `probability`).
    Burden(f64),
}

/// Bridging chemotherapy during the wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Bridging {
    /// Who is eligible for it.
    pub policy: BridgingPolicy,
    /// Probability that an eligible patient gets it.
    pub probability: f64,
    /// It is given this many days before the infusion (at leukapheresis if the wait is shorter).
    pub days_before_infusion: f64,
    /// Its effect: every blast clone is divided by `10^x`.
    pub log10_reduction: Distribution,
}

impl Default for Bridging {
    fn default() -> Self {
        Self {
            policy: BridgingPolicy::None,
            probability: 1.0,
            days_before_infusion: 14.0,
            log10_reduction: Distribution::Fixed(1.0),
        }
    }
}

/// Death or withdrawal before the infusion: a hazard (per day)
/// `hazard_per_day * exp(burden_coefficient * f(t) + health_coefficient * (100 - health) / 10)`,
/// `f(t)` the marrow blast fraction during the wait.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dropout {
    /// Baseline hazard (1/day).
    pub hazard_per_day: f64,
    /// Log hazard ratio per unit of marrow blast fraction.
    pub burden_coefficient: f64,
    /// Log hazard ratio per 10 health-score points below 100.
    pub health_coefficient: f64,
}

/// An assay: limit of quantification, log-normal measurement noise, and the visit days.
#[derive(Debug, Clone, PartialEq)]
pub struct Assay {
    /// Limit of quantification: a reading below it is reported as below the LOQ.
    pub loq: f64,
    /// Coefficient of variation of the multiplicative log-normal noise (median-unbiased).
    pub cv: f64,
    /// Days after the infusion it is measured (those after the horizon are not).
    pub days: Vec<f64>,
}

/// One assay reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// Below the limit of quantification.
    BelowLoq,
    /// A quantified value.
    Value(f64),
}

impl Reading {
    /// Whether the reading is below `threshold` (a reading below the LOQ counts as below).
    pub fn below(&self, threshold: f64) -> bool {
        match *self {
            Reading::BelowLoq => true,
            Reading::Value(v) => v < threshold,
        }
    }
}

impl Assay {
    /// The reading of a true value `v` with standard-normal noise draw `z`:
    /// `v exp(sigma z)`, `sigma = sqrt(ln(1 + cv^2))`, below the LOQ reported as such.
    pub fn read(&self, v: f64, z: f64) -> Reading {
        let r = v.max(0.0) * (sigma_of_cv(self.cv) * z).exp();
        if r.is_finite() && r >= self.loq {
            Reading::Value(r)
        } else {
            Reading::BelowLoq
        }
    }
}

/// The monitoring schedule and assays.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitoring {
    /// Marrow MRD by flow cytometry (fraction of marrow cells that are blasts).
    pub mrd_flow: Assay,
    /// Marrow MRD by NGS (fraction).
    pub mrd_ngs: Assay,
    /// Peripheral CAR-T by qPCR (transgene copies per ug DNA).
    pub car_t_qpcr: Assay,
    /// B cells (cells, the model's unit).
    pub b_cells: Assay,
}

/// The assays in draw and column order.
pub const ASSAYS: [&str; 4] = ["mrd_flow", "mrd_ngs", "car_t_qpcr", "b_cells"];

impl Default for Monitoring {
    fn default() -> Self {
        let marrow = vec![28.0, 91.0, 182.0, 273.0, 365.0];
        let blood = vec![7.0, 14.0, 21.0, 28.0, 56.0, 91.0, 182.0, 273.0, 365.0];
        Self {
            mrd_flow: Assay { loq: 1e-4, cv: 0.3, days: marrow.clone() },
            mrd_ngs: Assay { loq: 1e-6, cv: 0.3, days: marrow },
            car_t_qpcr: Assay { loq: 50.0, cv: 0.3, days: blood.clone() },
            b_cells: Assay { loq: 1e6, cv: 0.2, days: blood },
        }
    }
}

impl Monitoring {
    /// The assays in [`ASSAYS`] order.
    pub fn assays(&self) -> [&Assay; 4] {
        [&self.mrd_flow, &self.mrd_ngs, &self.car_t_qpcr, &self.b_cells]
    }

    /// Every visit day (any assay), sorted, without repeats.
    pub fn visit_days(&self) -> Vec<f64> {
        let mut d: Vec<f64> = self.assays().iter().flat_map(|a| a.days.iter().copied()).collect();
        d.sort_by(f64::total_cmp);
        d.dedup();
        d
    }
}

/// Unit costs (in `currency`; every value >= 0). Which patients incur which part: see
/// [`CostParts`].
#[derive(Debug, Clone, PartialEq)]
pub struct Costs {
    /// Currency label (e.g. `"USD"`).
    pub currency: String,
    /// Per screened patient.
    pub screening: f64,
    /// Per enrolled patient.
    pub leukapheresis: f64,
    /// Per enrolled patient (the manufacturing attempt).
    pub manufacturing: f64,
    /// Per infused patient (the product's price).
    pub product: f64,
    /// Per bridged patient.
    pub bridging: f64,
    /// Per infused patient.
    pub lymphodepletion: f64,
    /// Per monitoring visit attended.
    pub visit: f64,
    /// Per tocilizumab dose.
    pub tocilizumab_dose: f64,
    /// Per steroid course.
    pub steroid_course: f64,
    /// Per hospital day.
    pub hospital_day: f64,
    /// Per ICU day.
    pub icu_day: f64,
    /// Hospital days of every infusion.
    pub infusion_stay_days: f64,
    /// Extra hospital days by maximum CRS grade 0-4.
    pub hospital_days_by_crs_grade: [f64; 5],
    /// ICU days by maximum CRS grade 0-4.
    pub icu_days_by_crs_grade: [f64; 5],
    /// Extra hospital days by maximum ICANS grade 0-4.
    pub hospital_days_by_icans_grade: [f64; 5],
    /// ICU days by maximum ICANS grade 0-4.
    pub icu_days_by_icans_grade: [f64; 5],
}

impl Default for Costs {
    /// Every unit cost 0.
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            screening: 0.0,
            leukapheresis: 0.0,
            manufacturing: 0.0,
            product: 0.0,
            bridging: 0.0,
            lymphodepletion: 0.0,
            visit: 0.0,
            tocilizumab_dose: 0.0,
            steroid_course: 0.0,
            hospital_day: 0.0,
            icu_day: 0.0,
            infusion_stay_days: 0.0,
            hospital_days_by_crs_grade: [0.0; 5],
            icu_days_by_crs_grade: [0.0; 5],
            hospital_days_by_icans_grade: [0.0; 5],
            icu_days_by_icans_grade: [0.0; 5],
        }
    }
}

/// The whole journey.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Journey {
    /// Draws at screening.
    pub screening: Screening,
    /// Eligibility criteria.
    pub eligibility: Eligibility,
    /// Manufacturing and the wait.
    pub manufacturing: Manufacturing,
    /// Bridging chemotherapy.
    pub bridging: Bridging,
    /// Loss before infusion.
    pub dropout: Dropout,
    /// Monitoring visits and assays.
    pub monitoring: Monitoring,
    /// Unit costs (`None`: no costs).
    pub costs: Option<Costs>,
}

/// Largest unit cost accepted (1e9 per unit) and largest day count (1e4).
const MAX_UNIT_COST: f64 = 1e9;

impl Journey {
    /// Check every value, naming the first invalid one by its study-file key.
    ///
    /// # Errors
    /// [`InputError::OutOfDomain`] naming `journey.<section>.<key>`.
    pub fn validate(&self) -> Result<(), InputError> {
        let prob = |field: &str, p: f64| -> Result<(), InputError> {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(InputError::OutOfDomain { field: field.into(), value: p, domain: "a probability in [0, 1]" })
            }
        };
        let range = |field: &str, v: f64, lo: f64, hi: f64, domain: &'static str| -> Result<(), InputError> {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(InputError::OutOfDomain { field: field.into(), value: v, domain })
            }
        };
        let s = &self.screening;
        prob("journey.screening.relapsed_refractory", s.relapsed_refractory)?;
        prob("journey.screening.organ_function", s.organ_function)?;
        s.health_score.check("journey.screening.health_score", 0.0, 100.0, "a score in [0, 100]")?;
        let e = &self.eligibility;
        range("journey.eligibility.min_health_score", e.min_health_score, 0.0, 100.0, "a score in [0, 100]")?;
        prob("journey.eligibility.min_marrow_blast_fraction", e.min_marrow_blast_fraction)?;
        prob("journey.eligibility.min_target_expression", e.min_target_expression)?;
        prob("journey.eligibility.enrol_probability", e.enrol_probability)?;
        let m = &self.manufacturing;
        m.days.check("journey.manufacturing.days", 0.0, 1000.0, "days in [0, 1000]")?;
        prob("journey.manufacturing.failure_probability", m.failure_probability)?;
        range("journey.manufacturing.failure_fitness_slope", m.failure_fitness_slope, -100.0, 100.0, "in [-100, 100]")?;
        m.dose_achieved.check("journey.manufacturing.dose_achieved", 1e-6, 1.0, "a fraction in (0, 1]")?;
        let b = &self.bridging;
        if let BridgingPolicy::Burden(f) = b.policy {
            prob("journey.bridging.min_marrow_blast_fraction", f)?;
        }
        prob("journey.bridging.probability", b.probability)?;
        range("journey.bridging.days_before_infusion", b.days_before_infusion, 0.0, 1000.0, "days in [0, 1000]")?;
        b.log10_reduction.check("journey.bridging.log10_reduction", 0.0, 10.0, "logs in [0, 10]")?;
        let d = &self.dropout;
        range("journey.dropout.hazard_per_day", d.hazard_per_day, 0.0, 10.0, "a hazard in [0, 10] per day")?;
        range("journey.dropout.burden_coefficient", d.burden_coefficient, -50.0, 50.0, "in [-50, 50]")?;
        range("journey.dropout.health_coefficient", d.health_coefficient, -50.0, 50.0, "in [-50, 50]")?;
        for (name, a) in ASSAYS.iter().zip(self.monitoring.assays()) {
            range(&format!("journey.monitoring.{name}.loq"), a.loq, f64::MIN_POSITIVE, 1e15, "> 0")?;
            range(&format!("journey.monitoring.{name}.cv"), a.cv, 0.0, 10.0, "a CV in [0, 10]")?;
            if a.days.len() > 1000 {
                return Err(InputError::Inconsistent {
                    field: format!("journey.monitoring.{name}.days"),
                    reason: format!("{} visit days: at most 1000", a.days.len()),
                });
            }
            for (k, &t) in a.days.iter().enumerate() {
                range(
                    &format!("journey.monitoring.{name}.days[{k}]"),
                    t,
                    0.0,
                    crate::solve::MAX_HORIZON_DAYS,
                    "days >= 0",
                )?;
            }
            if a.days.windows(2).any(|w| !(w[0] < w[1])) {
                return Err(InputError::Inconsistent {
                    field: format!("journey.monitoring.{name}.days"),
                    reason: "visit days must increase strictly".into(),
                });
            }
        }
        if let Some(c) = &self.costs {
            if c.currency.is_empty()
                || c.currency.len() > 16
                || !c.currency.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                return Err(InputError::Inconsistent {
                    field: "journey.costs.currency".into(),
                    reason: format!("{:?}: 1 to 16 letters or digits", c.currency),
                });
            }
            let unit = [
                ("screening", c.screening),
                ("leukapheresis", c.leukapheresis),
                ("manufacturing", c.manufacturing),
                ("product", c.product),
                ("bridging", c.bridging),
                ("lymphodepletion", c.lymphodepletion),
                ("visit", c.visit),
                ("tocilizumab_dose", c.tocilizumab_dose),
                ("steroid_course", c.steroid_course),
                ("hospital_day", c.hospital_day),
                ("icu_day", c.icu_day),
            ];
            for (k, v) in unit {
                range(&format!("journey.costs.{k}"), v, 0.0, MAX_UNIT_COST, "a cost in [0, 1e9]")?;
            }
            range("journey.costs.infusion_stay_days", c.infusion_stay_days, 0.0, 1e4, "days in [0, 10000]")?;
            for (k, a) in [
                ("hospital_days_by_crs_grade", c.hospital_days_by_crs_grade),
                ("icu_days_by_crs_grade", c.icu_days_by_crs_grade),
                ("hospital_days_by_icans_grade", c.hospital_days_by_icans_grade),
                ("icu_days_by_icans_grade", c.icu_days_by_icans_grade),
            ] {
                for (g, v) in a.iter().enumerate() {
                    range(&format!("journey.costs.{k}[{g}]"), *v, 0.0, 1e4, "days in [0, 10000]")?;
                }
            }
        }
        Ok(())
    }
}

/// The blasts `t` days after a count `l0` without CAR-T cells: the model's
/// `dlnL/dt = r_L (1 - L_tot / K_L)` in closed form (logistic),
/// `L(t) = l0 K_L / (l0 + (K_L - l0) exp(-r_L t))`.
pub fn blasts_after(l0: f64, t: f64, r_l: f64, k_l: f64) -> f64 {
    if l0 <= 0.0 || t <= 0.0 {
        return l0.max(0.0);
    }
    let e = (-r_l * t).exp();
    l0 * k_l / (l0 + (k_l - l0) * e)
}

/// What the model says about a patient at screening (leukapheresis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disease {
    /// Total blasts (cells).
    pub l_tot: f64,
    /// Normal marrow cells `H` (the blast fraction is `L / (L + H)`).
    pub h: f64,
    /// Blast growth rate (1/day).
    pub r_l: f64,
    /// Blast carrying capacity (cells).
    pub k_l: f64,
    /// Fraction of the blasts carrying an antigen the product targets.
    pub target_expression: f64,
    /// T-cell fitness `phi_T` of the patient's cells (typical 1).
    pub fitness: f64,
}

impl Disease {
    fn fraction(&self, l: f64) -> f64 {
        if l <= 0.0 {
            0.0
        } else {
            l / (l + self.h)
        }
    }
}

/// Where a screened patient's journey ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not eligible, for this reason (`not_relapsed_refractory`, `organ_function`,
    /// `health_score`, `marrow_blasts`, `target_expression`).
    ScreenFail(&'static str),
    /// Eligible, did not enrol.
    Declined,
    /// Enrolled, the product could not be made.
    ManufacturingFailure,
    /// Enrolled, product made, died or withdrew before the infusion.
    LostBeforeInfusion,
    /// Infused.
    Infused,
}

impl Stage {
    /// Whether the patient enrolled (leukapheresis): every stage but a screen failure and
    /// a declined enrolment.
    pub fn enrolled(&self) -> bool {
        !matches!(self, Stage::ScreenFail(_) | Stage::Declined)
    }

    /// The `status` of `patients.csv` for a patient who was not infused
    /// (`screen_fail:<reason>`, `declined`, `not_infused:manufacturing_failure`,
    /// `not_infused:died_or_withdrew`), `None` for an infused one.
    pub fn label(&self) -> Option<&'static str> {
        Some(match self {
            Stage::ScreenFail("not_relapsed_refractory") => "screen_fail:not_relapsed_refractory",
            Stage::ScreenFail("organ_function") => "screen_fail:organ_function",
            Stage::ScreenFail("health_score") => "screen_fail:health_score",
            Stage::ScreenFail("marrow_blasts") => "screen_fail:marrow_blasts",
            Stage::ScreenFail("target_expression") => "screen_fail:target_expression",
            Stage::ScreenFail(_) => "screen_fail",
            Stage::Declined => "declined",
            Stage::ManufacturingFailure => "not_infused:manufacturing_failure",
            Stage::LostBeforeInfusion => "not_infused:died_or_withdrew",
            Stage::Infused => return None,
        })
    }
}

/// A patient's journey up to the infusion.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Where it ended.
    pub stage: Stage,
    /// Relapsed or refractory disease.
    pub relapsed_refractory: bool,
    /// Overall-health score.
    pub health_score: f64,
    /// Adequate organ function.
    pub organ_function: bool,
    /// Fraction of the blasts carrying a targeted antigen.
    pub target_expression: f64,
    /// Marrow blast fraction at screening.
    pub f0_screening: f64,
    /// Days from leukapheresis to infusion (drawn for every enrolled patient).
    pub wait_days: f64,
    /// Probability of manufacturing failure for this patient.
    pub failure_probability: f64,
    /// Bridging chemotherapy given (before any loss).
    pub bridged: bool,
    /// Its log10 reduction (0 without bridging).
    pub bridging_log10: f64,
    /// Day after leukapheresis of death or withdrawal (lost patients).
    pub loss_day: Option<f64>,
    /// Blasts at infusion over blasts at screening (every clone alike).
    pub blast_factor: f64,
    /// Marrow blast fraction at infusion (infused patients; at screening otherwise).
    pub f0_infusion: f64,
    /// Dose achieved as a fraction of the planned dose.
    pub dose_achieved: f64,
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Draw a patient's journey up to the infusion (draw order: relapsed/refractory, health
/// score, organ function, enrolment, wait, manufacturing failure, dose achieved, bridging
/// uptake, bridging effect, the loss threshold; every draw is made for every patient).
pub fn plan<R: Rng + ?Sized>(j: &Journey, d: &Disease, rng: &mut R) -> Plan {
    let u_rr: f64 = rng.random();
    let health = j.screening.health_score.sample(rng);
    let u_organ: f64 = rng.random();
    let u_enrol: f64 = rng.random();
    let wait = j.manufacturing.days.sample(rng).max(0.0);
    let u_fail: f64 = rng.random();
    let achieved = j.manufacturing.dose_achieved.sample(rng);
    let u_bridge: f64 = rng.random();
    let reduction = j.bridging.log10_reduction.sample(rng);
    let u_loss: f64 = rng.random();
    let threshold = -(1.0 - u_loss).ln(); // Exp(1): lost when the cumulative hazard reaches it

    let f0 = d.fraction(d.l_tot);
    let rr = u_rr < j.screening.relapsed_refractory;
    let organ = u_organ < j.screening.organ_function;
    let e = &j.eligibility;
    let mut plan = Plan {
        stage: Stage::Infused,
        relapsed_refractory: rr,
        health_score: health,
        organ_function: organ,
        target_expression: d.target_expression,
        f0_screening: f0,
        wait_days: wait,
        failure_probability: 0.0,
        bridged: false,
        bridging_log10: 0.0,
        loss_day: None,
        blast_factor: 1.0,
        f0_infusion: f0,
        dose_achieved: achieved,
    };
    let fail = if e.require_relapsed_refractory && !rr {
        Some("not_relapsed_refractory")
    } else if e.require_organ_function && !organ {
        Some("organ_function")
    } else if health < e.min_health_score {
        Some("health_score")
    } else if f0 < e.min_marrow_blast_fraction {
        Some("marrow_blasts")
    } else if d.target_expression < e.min_target_expression {
        Some("target_expression")
    } else {
        None
    };
    if let Some(reason) = fail {
        plan.stage = Stage::ScreenFail(reason);
        return plan;
    }
    if u_enrol >= e.enrol_probability {
        plan.stage = Stage::Declined;
        return plan;
    }
    // manufacturing failure, tied to fitness
    let m = &j.manufacturing;
    let p = match m.failure_probability {
        p if p <= 0.0 || p >= 1.0 || m.failure_fitness_slope == 0.0 => p,
        p => {
            let x = logit(p) - m.failure_fitness_slope * d.fitness.max(1e-12).ln();
            1.0 / (1.0 + (-x).exp())
        }
    };
    plan.failure_probability = p;
    // bridging
    let b = &j.bridging;
    let wants = match b.policy {
        BridgingPolicy::None => false,
        BridgingPolicy::All => true,
        BridgingPolicy::Burden(min) => f0 >= min,
    };
    let bridged = wants && u_bridge < b.probability;
    let t_bridge = (wait - b.days_before_infusion).max(0.0);
    let factor = if bridged { 10f64.powf(-reduction) } else { 1.0 };
    // the burden during the wait
    let burden = |t: f64| -> f64 {
        if !bridged || t < t_bridge {
            blasts_after(d.l_tot, t, d.r_l, d.k_l)
        } else {
            blasts_after(blasts_after(d.l_tot, t_bridge, d.r_l, d.k_l) * factor, t - t_bridge, d.r_l, d.k_l)
        }
    };
    // loss before infusion: the first time the cumulative hazard reaches the threshold
    // (trapezoid rule on steps of at most 0.25 day, linear within a step)
    let dr = &j.dropout;
    let mut loss = None;
    if dr.hazard_per_day > 0.0 && wait > 0.0 {
        let health_term = dr.health_coefficient * (100.0 - health) / 10.0;
        let hazard = |t: f64| dr.hazard_per_day * (dr.burden_coefficient * d.fraction(burden(t)) + health_term).exp();
        let n = (wait / 0.25).ceil().max(1.0) as usize;
        let dt = wait / n as f64;
        let mut cum = 0.0;
        let mut h0 = hazard(0.0);
        for k in 0..n {
            let t0 = k as f64 * dt;
            // right-continuous at the bridging day: the step ending there uses the pre-bridging value
            let h1 = hazard(t0 + dt);
            let step = 0.5 * (h0 + h1) * dt;
            if cum + step >= threshold {
                let frac = if step > 0.0 { (threshold - cum) / step } else { 0.0 };
                loss = Some(t0 + frac * dt);
                break;
            }
            cum += step;
            h0 = h1;
        }
    }
    plan.bridged = bridged && loss.is_none_or(|t| t >= t_bridge);
    plan.bridging_log10 = if plan.bridged { reduction } else { 0.0 };
    if u_fail < p {
        plan.stage = Stage::ManufacturingFailure;
        // a failed product is known at release; the patient's loss is not followed
        plan.bridged = bridged;
        plan.bridging_log10 = if bridged { reduction } else { 0.0 };
        return plan;
    }
    if let Some(t) = loss {
        plan.stage = Stage::LostBeforeInfusion;
        plan.loss_day = Some(t);
        return plan;
    }
    let l_inf = burden(wait);
    plan.blast_factor = if d.l_tot > 0.0 { l_inf / d.l_tot } else { 1.0 };
    plan.f0_infusion = d.fraction(l_inf);
    plan
}

/// What a model's trajectory row shows at a visit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Day after the infusion.
    pub t: f64,
    /// Marrow blast fraction.
    pub marrow_blast_fraction: f64,
    /// CAR-T transgene copies per ug DNA.
    pub car_t_copies: f64,
    /// B cells.
    pub b_cells: f64,
}

/// The visits of an infused patient, as a clinic reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// `(assay index in ASSAYS, day, reading)` of every visit within the horizon.
    pub readings: Vec<(usize, f64, Reading)>,
    /// The exact day the marrow blast fraction first falls below the CR threshold (located
    /// to 0.001 day on the solver's dense output).
    pub remission_day: Option<f64>,
    /// CR read at the response visit (the first flow visit on or after the assessment day).
    pub cr_visit: Option<bool>,
    /// First flow visit whose reading is below the CR threshold.
    pub cr_day_visit: Option<f64>,
    /// MRD-negative by flow (below its LOQ) at the response visit.
    pub mrd_neg_visit: Option<bool>,
    /// MRD-negative by NGS (below its LOQ) at the first NGS visit on or after the assessment day.
    pub mrd_neg_ngs_visit: Option<bool>,
    /// For a visit-read CR: the first later flow visit at or above the CR threshold.
    pub relapse_day_visit: Option<f64>,
    /// Last qPCR visit with CAR-T above its LOQ.
    pub car_t_last_detected_day: Option<f64>,
    /// Visits attended (distinct days, up to the visit that detects relapse).
    pub visits: u32,
}

/// Read the visits: `obs` are the rows at the visit days in [`Monitoring::visit_days`]
/// order (those within the horizon), `z[a][k]` the noise draw of assay `a` at its `k`-th day.
pub fn read_visits(
    m: &Monitoring,
    defs: &Definitions,
    obs: &[Observation],
    z: &[Vec<f64>; 4],
    remission_day: Option<f64>,
) -> Measured {
    let at = |t: f64| obs.iter().find(|o| o.t == t);
    let mut readings = Vec::new();
    for (a, assay) in m.assays().iter().enumerate() {
        for (k, &t) in assay.days.iter().enumerate() {
            if let Some(o) = at(t) {
                let v = match a {
                    0 | 1 => o.marrow_blast_fraction,
                    2 => o.car_t_copies,
                    _ => o.b_cells,
                };
                readings.push((a, t, assay.read(v, z[a][k])));
            }
        }
    }
    let of = |a: usize| readings.iter().filter(move |r| r.0 == a).map(|r| (r.1, r.2));
    let last_detected = readings.iter().rev().find(|r| r.0 == 2 && r.2 != Reading::BelowLoq).map(|r| r.1);
    let response = of(0).find(|(t, _)| *t >= defs.assessment_day);
    let cr_visit = response.map(|(_, r)| r.below(defs.cr_fraction));
    let mrd_neg_visit = response.map(|(_, r)| r == Reading::BelowLoq);
    let mrd_neg_ngs_visit = of(1).find(|(t, _)| *t >= defs.assessment_day).map(|(_, r)| r == Reading::BelowLoq);
    let cr_day_visit = of(0).find(|(_, r)| r.below(defs.cr_fraction)).map(|(t, _)| t);
    let relapse_day_visit = match (cr_visit, response) {
        (Some(true), Some((t_resp, _))) => {
            of(0).find(|(t, r)| *t > t_resp && !r.below(defs.cr_fraction)).map(|(t, _)| t)
        }
        _ => None,
    };
    let car_t_last_detected_day = last_detected;
    let end = relapse_day_visit.unwrap_or(f64::INFINITY);
    let visits = m.visit_days().iter().filter(|&&t| t <= end && at(t).is_some()).count() as u32;
    Measured {
        readings,
        remission_day,
        cr_visit,
        cr_day_visit,
        mrd_neg_visit,
        mrd_neg_ngs_visit,
        relapse_day_visit,
        car_t_last_detected_day,
        visits,
    }
}

/// The noise draws of the monitoring, per assay and day (drawn for every patient, in
/// [`ASSAYS`] order, day by day).
pub fn noise_draws<R: Rng + ?Sized>(m: &Monitoring, rng: &mut R) -> [Vec<f64>; 4] {
    let mut z: [Vec<f64>; 4] = Default::default();
    for (a, assay) in m.assays().iter().enumerate() {
        z[a] = assay.days.iter().map(|_| StandardNormal.sample(rng)).collect();
    }
    z
}

/// One patient's costs by part, in cents of the currency (whole cents, so that sums over
/// patients are exact and do not depend on the order or the shard split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostParts {
    /// Screening (every screened patient).
    pub screening: u64,
    /// Leukapheresis (enrolled).
    pub leukapheresis: u64,
    /// Manufacturing attempt (enrolled).
    pub manufacturing: u64,
    /// Bridging chemotherapy (bridged).
    pub bridging: u64,
    /// The product (infused).
    pub product: u64,
    /// Lymphodepletion (infused).
    pub lymphodepletion: u64,
    /// Hospital days: infusion stay plus the larger of the CRS and ICANS extra days.
    pub hospital: u64,
    /// ICU days: the larger of the CRS and ICANS ICU days.
    pub icu: u64,
    /// Tocilizumab doses.
    pub tocilizumab: u64,
    /// Steroid courses.
    pub steroids: u64,
    /// Monitoring visits attended.
    pub monitoring: u64,
}

/// Names of the cost parts (columns `cost_<name>`), in [`CostParts::parts`] order.
pub const COST_PARTS: [&str; 11] = [
    "screening",
    "leukapheresis",
    "manufacturing",
    "bridging",
    "product",
    "lymphodepletion",
    "hospital",
    "icu",
    "tocilizumab",
    "steroids",
    "monitoring",
];

fn cents(x: f64) -> u64 {
    (x * 100.0).round().max(0.0) as u64
}

impl CostParts {
    /// The parts in [`COST_PARTS`] order (cents).
    pub fn parts(&self) -> [u64; 11] {
        [
            self.screening,
            self.leukapheresis,
            self.manufacturing,
            self.bridging,
            self.product,
            self.lymphodepletion,
            self.hospital,
            self.icu,
            self.tocilizumab,
            self.steroids,
            self.monitoring,
        ]
    }

    /// The total (cents).
    pub fn total(&self) -> u64 {
        self.parts().iter().sum()
    }

    /// The costs of a patient: `plan`, and for an infused patient the endpoints (`None`
    /// for a failed solve: only the product and lymphodepletion are counted after the
    /// infusion) and the visits attended.
    pub fn of(c: &Costs, plan: &Plan, endpoints: Option<&Endpoints>, visits: u32) -> Self {
        let mut p = CostParts { screening: cents(c.screening), ..Default::default() };
        if !plan.stage.enrolled() {
            return p;
        }
        p.leukapheresis = cents(c.leukapheresis);
        p.manufacturing = cents(c.manufacturing);
        if plan.bridged {
            p.bridging = cents(c.bridging);
        }
        if plan.stage != Stage::Infused {
            return p;
        }
        p.product = cents(c.product);
        p.lymphodepletion = cents(c.lymphodepletion);
        if let Some(e) = endpoints {
            let g = (e.crs_grade.min(4)) as usize;
            let n = (e.icans_grade.min(4)) as usize;
            let hospital_days =
                c.infusion_stay_days + c.hospital_days_by_crs_grade[g].max(c.hospital_days_by_icans_grade[n]);
            let icu_days = c.icu_days_by_crs_grade[g].max(c.icu_days_by_icans_grade[n]);
            p.hospital = cents(hospital_days * c.hospital_day);
            p.icu = cents(icu_days * c.icu_day);
            p.tocilizumab = cents(e.toci_days.len() as f64 * c.tocilizumab_dose);
            p.steroids = cents(if e.steroid_day.is_some() { c.steroid_course } else { 0.0 });
            p.monitoring = cents(visits as f64 * c.visit);
        }
        p
    }
}

/// A screened patient's whole journey.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyRecord {
    /// Up to the infusion.
    pub plan: Plan,
    /// The visits (infused patients whose solve succeeded).
    pub measured: Option<Measured>,
    /// Costs (when the journey has costs).
    pub cost: Option<CostParts>,
    /// In remission at 12 months ([`remission_12m`]; infused patients whose solve succeeded
    /// and a horizon of at least 365 days).
    pub remission_12m: Option<bool>,
}

/// In remission at 12 months: CR at the assessment day and no relapse by day 365 (`None`
/// when the horizon is shorter than 365 days).
pub fn remission_12m(e: &Endpoints, horizon: f64) -> Option<bool> {
    (horizon >= 365.0).then(|| e.cr_day28 && e.relapse_day.is_none_or(|d| d > 365.0))
}

/// The rates reported by intention to treat (`itt.<key>`), over enrolled patients.
pub const ITT_KEYS: [&str; 11] = [
    "cr_rate",
    "mrd_neg_rate",
    "mrd_neg_ngs_rate",
    "cured_rate",
    "crs_any_rate",
    "crs_severe_rate",
    "toci_rate",
    "steroid_rate",
    "icans_any_rate",
    "icans_severe_rate",
    "remission_12m_rate",
];

/// A patient's hit for each of [`ITT_KEYS`] (as the top-level rates count them; `None`:
/// the patient does not count, e.g. a model without ICANS).
fn itt_hits(e: &Endpoints, ngs: f64, horizon: f64) -> [Option<bool>; 11] {
    let ob = e.observed;
    let t = |b: bool, v: bool| b.then_some(v);
    [
        t(ob.tumour, e.cr_day28),
        t(ob.tumour, e.mrd_neg_day28),
        t(ob.tumour, e.f_day28 < ngs),
        t(ob.extinction, e.cured),
        t(ob.il6_signal, e.crs_grade >= 1),
        t(ob.il6_signal, e.crs_grade >= 3),
        Some(!e.toci_days.is_empty()),
        Some(e.steroid_day.is_some()),
        t(ob.icans, e.icans_grade >= 1),
        t(ob.icans, e.icans_grade >= 3),
        if ob.tumour { remission_12m(e, horizon) } else { None },
    ]
}

/// Cost sums (cents).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct CostSummary {
    currency: String,
    /// Per part, over every screened patient.
    parts: Vec<u64>,
    all: u64,
    enrolled: u64,
    infused: u64,
    /// Per infused evaluable patient's total.
    per_infused: LogHistogram,
}

/// The journey's part of a trial summary: integer counts only (merging is exact).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JourneySummary {
    horizon: f64,
    mrd_ngs_threshold: f64,
    screened: u64,
    eligible: u64,
    enrolled: u64,
    manufactured: u64,
    infused: u64,
    evaluable: u64,
    screen_failures: BTreeMap<String, u64>,
    not_infused: BTreeMap<String, u64>,
    itt: Vec<Rate>,
    remission_12m: Rate,
    responders: u64,
    in_remission_12m: u64,
    bridged: Rate,
    wait_days: LinearHistogram,
    f0_screening: LinearHistogram,
    f0_infusion: LinearHistogram,
    measured_cr: Rate,
    measured_mrd_neg: Rate,
    measured_mrd_neg_ngs: Rate,
    measured_relapse_in_cr: Rate,
    exact_relapse_in_cr: Rate,
    cr_delay: LinearHistogram,
    relapse_delay: LinearHistogram,
    cost: Option<CostSummary>,
}

impl JourneySummary {
    /// An empty summary for `journey` over `horizon` (days).
    pub fn new(journey: &Journey, horizon: f64, mrd_ngs_threshold: f64) -> Self {
        let days = |hi: f64| LinearHistogram::new(0.0, hi + 0.05, 0.05).expect("layout");
        let frac = || LinearHistogram::new(0.0, 1.0 + 1e-3, 1e-3).expect("layout");
        Self {
            horizon,
            mrd_ngs_threshold,
            screened: 0,
            eligible: 0,
            enrolled: 0,
            manufactured: 0,
            infused: 0,
            evaluable: 0,
            screen_failures: BTreeMap::new(),
            not_infused: BTreeMap::new(),
            itt: vec![Rate::new(); ITT_KEYS.len()],
            remission_12m: Rate::new(),
            responders: 0,
            in_remission_12m: 0,
            bridged: Rate::new(),
            wait_days: days(1000.0),
            f0_screening: frac(),
            f0_infusion: frac(),
            measured_cr: Rate::new(),
            measured_mrd_neg: Rate::new(),
            measured_mrd_neg_ngs: Rate::new(),
            measured_relapse_in_cr: Rate::new(),
            exact_relapse_in_cr: Rate::new(),
            cr_delay: days(horizon),
            relapse_delay: days(horizon),
            cost: journey.costs.as_ref().map(|c| CostSummary {
                currency: c.currency.clone(),
                parts: vec![0; COST_PARTS.len()],
                all: 0,
                enrolled: 0,
                infused: 0,
                per_infused: LogHistogram::new(1.0, 1e13, 0.01).expect("layout"),
            }),
        }
    }

    /// Add one screened patient: their journey and, for an infused one, the endpoints
    /// (`None`: the solve failed).
    pub fn push(&mut self, r: &JourneyRecord, endpoints: Option<&Endpoints>) {
        let p = &r.plan;
        self.screened += 1;
        self.f0_screening.push(p.f0_screening);
        if let (Some(c), Some(parts)) = (&mut self.cost, &r.cost) {
            for (s, v) in c.parts.iter_mut().zip(parts.parts()) {
                *s += v;
            }
            c.all += parts.total();
            if p.stage.enrolled() {
                c.enrolled += parts.total();
            }
            if p.stage == Stage::Infused {
                c.infused += parts.total();
                if endpoints.is_some() {
                    c.per_infused.push(parts.total() as f64 / 100.0);
                }
            }
        }
        match p.stage {
            Stage::ScreenFail(reason) => {
                *self.screen_failures.entry(reason.to_string()).or_insert(0) += 1;
                return;
            }
            Stage::Declined => {
                self.eligible += 1;
                return;
            }
            _ => {}
        }
        self.eligible += 1;
        self.enrolled += 1;
        self.bridged.push(p.bridged);
        self.wait_days.push(p.wait_days);
        let not_infused = |s: &mut Self, reason: &str| {
            *s.not_infused.entry(reason.to_string()).or_insert(0) += 1;
            for rate in &mut s.itt {
                rate.push(false);
            }
        };
        match p.stage {
            Stage::ManufacturingFailure => return not_infused(self, "manufacturing_failure"),
            Stage::LostBeforeInfusion => {
                self.manufactured += 1;
                return not_infused(self, "died_or_withdrew");
            }
            _ => {}
        }
        self.manufactured += 1;
        self.infused += 1;
        self.f0_infusion.push(p.f0_infusion);
        let Some(e) = endpoints else { return };
        self.evaluable += 1;
        for (rate, hit) in self.itt.iter_mut().zip(itt_hits(e, self.mrd_ngs_threshold, self.horizon)) {
            if let Some(h) = hit {
                rate.push(h);
            }
        }
        if let Some(r12) = remission_12m(e, self.horizon) {
            self.remission_12m.push(r12);
            self.in_remission_12m += r12 as u64;
        }
        self.responders += e.cr_day28 as u64;
        if let Some(m) = &r.measured {
            if let Some(cr) = m.cr_visit {
                self.measured_cr.push(cr);
                if cr {
                    self.measured_relapse_in_cr.push(m.relapse_day_visit.is_some());
                }
            }
            if let Some(v) = m.mrd_neg_visit {
                self.measured_mrd_neg.push(v);
            }
            if let Some(v) = m.mrd_neg_ngs_visit {
                self.measured_mrd_neg_ngs.push(v);
            }
            if let (Some(a), Some(b)) = (m.remission_day, m.cr_day_visit) {
                self.cr_delay.push((b - a).max(0.0));
            }
            if let (Some(a), Some(b)) = (e.relapse_day, m.relapse_day_visit) {
                self.relapse_delay.push((b - a).max(0.0));
            }
        }
        if e.cr_day28 {
            self.exact_relapse_in_cr.push(e.relapse_day.is_some());
        }
    }

    /// Merge another shard's summary of the same layout.
    ///
    /// # Errors
    /// Different horizons, histogram layouts or currencies.
    pub fn merge(&mut self, o: &Self) -> Result<(), LayoutMismatch> {
        if self.horizon != o.horizon || self.itt.len() != o.itt.len() {
            return Err(LayoutMismatch { what: "journey" });
        }
        let mut m = self.clone();
        for (a, b) in [
            (&mut m.wait_days, &o.wait_days),
            (&mut m.f0_screening, &o.f0_screening),
            (&mut m.f0_infusion, &o.f0_infusion),
            (&mut m.cr_delay, &o.cr_delay),
            (&mut m.relapse_delay, &o.relapse_delay),
        ] {
            a.merge(b)?;
        }
        match (&mut m.cost, &o.cost) {
            (Some(a), Some(b)) if a.currency == b.currency && a.parts.len() == b.parts.len() => {
                a.per_infused.merge(&b.per_infused)?;
                for (x, y) in a.parts.iter_mut().zip(&b.parts) {
                    *x += y;
                }
                a.all += b.all;
                a.enrolled += b.enrolled;
                a.infused += b.infused;
            }
            (None, None) => {}
            _ => return Err(LayoutMismatch { what: "journey costs" }),
        }
        for (a, b) in [
            (&mut m.screened, o.screened),
            (&mut m.eligible, o.eligible),
            (&mut m.enrolled, o.enrolled),
            (&mut m.manufactured, o.manufactured),
            (&mut m.infused, o.infused),
            (&mut m.evaluable, o.evaluable),
            (&mut m.responders, o.responders),
            (&mut m.in_remission_12m, o.in_remission_12m),
        ] {
            *a += b;
        }
        for (k, v) in &o.screen_failures {
            *m.screen_failures.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &o.not_infused {
            *m.not_infused.entry(k.clone()).or_insert(0) += v;
        }
        for (a, b) in m.itt.iter_mut().zip(&o.itt) {
            a.merge(b);
        }
        for (a, b) in [
            (&mut m.remission_12m, &o.remission_12m),
            (&mut m.bridged, &o.bridged),
            (&mut m.measured_cr, &o.measured_cr),
            (&mut m.measured_mrd_neg, &o.measured_mrd_neg),
            (&mut m.measured_mrd_neg_ngs, &o.measured_mrd_neg_ngs),
            (&mut m.measured_relapse_in_cr, &o.measured_relapse_in_cr),
            (&mut m.exact_relapse_in_cr, &o.exact_relapse_in_cr),
        ] {
            a.merge(b);
        }
        *self = m;
        Ok(())
    }

    /// Counts of the flow: screened, eligible, enrolled, manufactured, infused, evaluable.
    pub fn flow(&self) -> [u64; 6] {
        [self.screened, self.eligible, self.enrolled, self.manufactured, self.infused, self.evaluable]
    }

    /// Screen failures by reason.
    pub fn screen_failures(&self) -> &BTreeMap<String, u64> {
        &self.screen_failures
    }

    /// Enrolled patients not infused, by reason.
    pub fn not_infused(&self) -> &BTreeMap<String, u64> {
        &self.not_infused
    }

    /// The rate `key` of [`ITT_KEYS`] over enrolled patients.
    pub fn itt(&self, key: &str) -> Option<&Rate> {
        ITT_KEYS.iter().position(|k| *k == key).map(|i| &self.itt[i])
    }

    /// Add the journey's keys to a summary's JSON.
    pub(crate) fn to_json(&self, m: &mut Map<String, Value>) {
        use crate::trial::put_rate;
        let [screened, eligible, enrolled, manufactured, infused, evaluable] = self.flow();
        m.insert(
            "flow".into(),
            json!({"screened": screened, "eligible": eligible, "enrolled": enrolled,
                   "manufactured": manufactured, "infused": infused, "evaluable": evaluable}),
        );
        m.insert("screen_failures_by_reason".into(), json!(self.screen_failures));
        m.insert("not_infused_by_reason".into(), json!(self.not_infused));
        m.insert("declined".into(), json!(eligible - enrolled));
        let mut itt = Map::new();
        for (k, r) in ITT_KEYS.iter().zip(&self.itt) {
            put_rate(&mut itt, k, r);
        }
        let frac = |a: u64, b: u64| if b > 0 { json!(a as f64 / b as f64) } else { Value::Null };
        itt.insert("infused_fraction".into(), frac(infused, enrolled));
        m.insert("itt".into(), Value::Object(itt));
        put_rate(m, "remission_12m_rate", &self.remission_12m);
        let opt = |v: Option<f64>| v.map_or(Value::Null, |x| json!(x));
        let mut pre = Map::new();
        put_rate(&mut pre, "bridged_rate", &self.bridged);
        pre.insert("wait_days_median".into(), opt(self.wait_days.quantile(0.5)));
        pre.insert("wait_days_min".into(), opt(self.wait_days.quantile(0.0)));
        pre.insert("wait_days_max".into(), opt(self.wait_days.quantile(1.0)));
        pre.insert("f0_screening_median".into(), opt(self.f0_screening.quantile(0.5)));
        pre.insert("f0_infusion_median".into(), opt(self.f0_infusion.quantile(0.5)));
        m.insert("pre_infusion".into(), Value::Object(pre));
        let mut me = Map::new();
        put_rate(&mut me, "cr_rate", &self.measured_cr);
        put_rate(&mut me, "mrd_neg_rate", &self.measured_mrd_neg);
        put_rate(&mut me, "mrd_neg_ngs_rate", &self.measured_mrd_neg_ngs);
        put_rate(&mut me, "relapse_rate_in_cr", &self.measured_relapse_in_cr);
        put_rate(&mut me, "exact_relapse_rate_in_cr", &self.exact_relapse_in_cr);
        me.insert("cr_delay_days_median".into(), opt(self.cr_delay.quantile(0.5)));
        me.insert("relapse_delay_days_median".into(), opt(self.relapse_delay.quantile(0.5)));
        m.insert("measured".into(), Value::Object(me));
        if let Some(c) = &self.cost {
            let money = |cents: u64| json!(cents as f64 / 100.0);
            let per = |cents: u64, n: u64| if n > 0 { json!(cents as f64 / 100.0 / n as f64) } else { Value::Null };
            let mut parts = Map::new();
            for (k, v) in COST_PARTS.iter().zip(&c.parts) {
                parts.insert((*k).into(), money(*v));
            }
            m.insert(
                "cost".into(),
                json!({
                    "currency": c.currency,
                    "total": money(c.all),
                    "total_enrolled": money(c.enrolled),
                    "total_infused": money(c.infused),
                    "parts": parts,
                    "per_screened": per(c.all, screened),
                    "per_enrolled": per(c.enrolled, enrolled),
                    "per_infused": per(c.infused, infused),
                    "per_infused_median": opt(c.per_infused.quantile(0.5)),
                    "per_responder": per(c.infused, self.responders),
                    "per_responder_itt": per(c.enrolled, self.responders),
                    "per_remission_12m": per(c.infused, self.in_remission_12m),
                    "per_remission_12m_itt": per(c.enrolled, self.in_remission_12m),
                    "responders": self.responders,
                    "in_remission_12m": self.in_remission_12m,
                }),
            );
        }
    }
}
