//! Virtual populations of model v2 (`docs/MODEL-v2.md` section 7): typical [`ParamsV2`]
//! with independent log-normal between-patient variability (the patient's T-cell fitness,
//! tumour kill susceptibility and neurotoxicity susceptibility among them), the marrow
//! burden, antigen-negative escape subclones of both kinds, antigen-dim disease, loss of CAR-T
//! persistence, the dose, the product (targets, costimulation), the regimen (lymphodepletion
//! intensity, policies) and the CRS grading scale.
//!
//! **Draw order** (patient `id` of seed `s` uses [`patient_rng`]`(s, id)` alone, so its
//! values depend only on `(s, id)`, never on the horizon or on other patients): one standard
//! normal per varied parameter, in the order of the variability list; `f0`; the CD19-negative subclone
//! (a uniform, then its fraction); the CD22-negative subclone (the same); the CD19-dim
//! subclone (a uniform, its fraction, its density); an unfit product (a uniform, then the
//! factor); loss of persistence (a uniform, then a standard normal);
//! the dose (as [`super::Population`]).

use super::{
    beta_of, draw_amount, draw_dose, draw_fraction, patient_rng, sigma_of_cv, Amount, BodyWeight, Covariates, Dose,
    EscapeSubclone, Fraction, RegimenTemplate, F0_MAX,
};
use crate::endpoints::Definitions;
use crate::error::{Domain, InputError};
use crate::journey::{
    journey_rng, read_visits, CostParts, Disease, Journey, JourneyRecord, Measured, Observation, Plan, Stage,
};
use crate::model::v2::{Costim, CrsScale, Lymphodepletion, ModelV2, ParamsV2, RowV2, ScenarioV2, NSTATE_V2};
use crate::model::{ModelInfo, Phenotype};
use crate::patient::Patient;
use crate::regimen::Product;
use crate::solve::{run_model, Solution, SolverConfig};
use crate::trial::{Failure, PatientSource, Subject};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

/// A CD19-dim subclone: present with `probability`, as `fraction` of the blasts, with CD19
/// density `a_dim` drawn from `density`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DimSubclone {
    /// Probability that a patient carries it, in [0, 1].
    pub probability: f64,
    /// Its fraction of the blasts, in (0, 1].
    pub fraction: Amount,
    /// Its CD19 density relative to typical blasts, in (0, 1].
    pub density: Amount,
}

/// Unfit products (Fraietta et al. 2018: non-responders' products are enriched for
/// exhausted, effector-differentiated T cells): with `probability` the patient's fitness
/// `phi_T` is multiplied by a factor drawn from `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnfitProduct {
    /// Probability, in [0, 1].
    pub probability: f64,
    /// The factor on `phi_T`, in (0, 1].
    pub factor: Amount,
}

/// Loss of CAR-T persistence: with `probability` a patient's CAR-T cells start being lost
/// (`t_loss`) at a log-normal day (median, CV), clamped into `[min_day, max_day]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersistenceLoss {
    /// Probability, in [0, 1].
    pub probability: f64,
    /// Median day.
    pub median_day: f64,
    /// CV of the day.
    pub cv: f64,
    /// Earliest day.
    pub min_day: f64,
    /// Latest day.
    pub max_day: f64,
}

/// A population of model v2 (build with [`PopulationV2::builder`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationV2 {
    typical: ParamsV2,
    varied: Arc<[&'static str]>,
    varied_index: Vec<usize>,
    cv: Vec<f64>,
    ln_typical: Vec<f64>,
    sigma: Vec<f64>,
    f0: Fraction,
    f0_beta: Option<rand_distr::Beta<f64>>,
    escape19: Option<EscapeSubclone>,
    escape22: Option<EscapeSubclone>,
    dim: Option<DimSubclone>,
    unfit: Option<UnfitProduct>,
    loss: Option<PersistenceLoss>,
    dose: Dose,
    product: Product,
    costim: Costim,
    regimen: RegimenTemplate,
    lymphodepletion: Lymphodepletion,
    scale: CrsScale,
    definitions: Definitions,
    b0: f64,
    journey: Option<Arc<Journey>>,
}

/// Builder of a [`PopulationV2`]; checked by [`PopulationV2Builder::build`].
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationV2Builder {
    /// Typical parameters.
    pub typical: ParamsV2,
    /// `(name, CV)` of the log-normally varied parameters, in draw order.
    pub variability: Vec<(String, f64)>,
    /// Marrow blast fraction at t = 0.
    pub f0: Fraction,
    /// CD19-negative (`CD19-CD22+`) escape subclone.
    pub escape19: Option<EscapeSubclone>,
    /// CD22-negative (`CD19+CD22-`) escape subclone.
    pub escape22: Option<EscapeSubclone>,
    /// CD19-dim subclone.
    pub dim: Option<DimSubclone>,
    /// Unfit products.
    pub unfit: Option<UnfitProduct>,
    /// Loss of persistence.
    pub loss: Option<PersistenceLoss>,
    /// The dose.
    pub dose: Dose,
    /// The product.
    pub product: Product,
    /// Its costimulation class.
    pub costim: Costim,
    /// The regimen template (schedule and policies; its `lymphodepletion` flag follows
    /// `lymphodepletion`).
    pub regimen: RegimenTemplate,
    /// Lymphodepletion intensity.
    pub lymphodepletion: Lymphodepletion,
    /// CRS grading scale.
    pub scale: CrsScale,
    /// Endpoint definitions (the CRS thresholds are replaced by the scale's).
    pub definitions: Definitions,
    /// Normal B cells at t = 0 (cells).
    pub b0: f64,
    /// The patient journey around the infusion (`None`: every patient starts at the
    /// infusion, as without it; docs/JOURNEY.md).
    pub journey: Option<Journey>,
}

impl PopulationV2 {
    /// A builder starting from `typical` with no variability, `f0` 0.5, no subclones, a
    /// 1e8-cell dose of a 4-1BB CD19 product, the default regimen and the Penn scale.
    pub fn builder(typical: ParamsV2) -> PopulationV2Builder {
        PopulationV2Builder {
            typical,
            variability: Vec::new(),
            f0: Fraction::Fixed(0.5),
            escape19: None,
            escape22: None,
            dim: None,
            unfit: None,
            loss: None,
            dose: Dose::Flat(1e8),
            product: Product::cd19(),
            costim: Costim::FourOneBb,
            regimen: RegimenTemplate::default(),
            lymphodepletion: Lymphodepletion::Standard,
            scale: CrsScale::Penn,
            definitions: Definitions::default(),
            b0: 1e8,
            journey: None,
        }
    }

    /// The builder this population was built from (to change a part and build again).
    pub fn to_builder(&self) -> PopulationV2Builder {
        PopulationV2Builder {
            typical: self.typical.clone(),
            variability: self.varied.iter().zip(&self.cv).map(|(n, c)| (n.to_string(), *c)).collect(),
            f0: self.f0,
            escape19: self.escape19,
            escape22: self.escape22,
            dim: self.dim,
            unfit: self.unfit,
            loss: self.loss,
            dose: self.dose,
            product: self.product,
            costim: self.costim,
            regimen: self.regimen.clone(),
            lymphodepletion: self.lymphodepletion,
            scale: self.scale,
            definitions: self.definitions,
            b0: self.b0,
            journey: self.journey.as_deref().cloned(),
        }
    }

    /// The patient journey, if any.
    pub fn journey(&self) -> Option<&Journey> {
        self.journey.as_deref()
    }

    /// Typical parameters.
    pub fn typical(&self) -> &ParamsV2 {
        &self.typical
    }

    /// Names of the varied parameters, in draw order.
    pub fn varied_names(&self) -> &[&'static str] {
        &self.varied
    }

    /// Endpoint definitions.
    pub fn definitions(&self) -> &Definitions {
        &self.definitions
    }

    /// Patient `id` of a run with `seed` (depends only on `(seed, id)`).
    ///
    /// # Errors
    /// A draw outside the patient's domains (only the tails of very wide distributions).
    pub fn try_sample_patient(&self, seed: u64, id: u64) -> Result<PatientV2, InputError> {
        let mut rng = patient_rng(seed, id);
        let mut p = self.draw(&mut rng, id)?;
        if let Some(j) = &self.journey {
            self.journey_of(&mut p, j, seed, id)?;
        }
        Ok(p)
    }

    /// Draw patient `p`'s journey from its own stream and, for an infused patient, set the
    /// burden at infusion (every clone times the wait's growth and bridging) and the dose
    /// achieved; the covariates `f0` and `dose_cells` become those at the infusion.
    fn journey_of(&self, p: &mut PatientV2, j: &Arc<Journey>, seed: u64, id: u64) -> Result<(), InputError> {
        let mut rng = journey_rng(seed, id);
        let sc = &p.scenario;
        let blasts = sc.patient.blasts();
        let targets = sc.product.targets();
        let carries = |a: crate::model::AntigenSet| a.names().iter().any(|n| targets.names().contains(n));
        let mut l_tot = sc.dim_blasts;
        let mut expressing = if carries(crate::model::AntigenSet::BOTH) { sc.dim_blasts } else { 0.0 };
        for ph in Phenotype::ALL {
            let l = blasts[ph.index()];
            l_tot += l;
            if carries(ph.antigens()) {
                expressing += l;
            }
        }
        let disease = Disease {
            l_tot,
            h: sc.params.h,
            r_l: sc.params.r_l,
            k_l: sc.params.k_l,
            target_expression: if l_tot > 0.0 { expressing / l_tot } else { 0.0 },
            fitness: sc.params.phi_t,
        };
        let plan = crate::journey::plan(j, &disease, &mut rng);
        let noise = crate::journey::noise_draws(&j.monitoring, &mut rng);
        if plan.stage == Stage::Infused {
            let f = plan.blast_factor;
            let mut scaled = blasts;
            for b in &mut scaled {
                *b *= f;
            }
            let old = &p.scenario.patient;
            let [g0, i0] = old.cytokines();
            let mut patient = Patient::from_counts(scaled, old.b0())?.with_cytokines(g0, i0)?;
            if let Some(kg) = old.weight_kg() {
                patient = patient.with_weight(kg)?;
            }
            p.scenario.patient = patient;
            p.scenario.dim_blasts *= f;
            let dose = p.covariates.dose_cells * plan.dose_achieved;
            p.scenario.regimen = self.regimen.regimen(dose)?;
            p.covariates.dose_cells = dose;
            p.covariates.f0 = plan.f0_infusion;
        }
        p.journey = Some(Box::new(PatientJourney { journey: Arc::clone(j), plan, noise }));
        Ok(())
    }

    fn draw<R: Rng + ?Sized>(&self, rng: &mut R, id: u64) -> Result<PatientV2, InputError> {
        let mut params = self.typical.clone();
        for i in 0..self.varied_index.len() {
            let z: f64 = StandardNormal.sample(rng);
            let v = (self.ln_typical[i] + self.sigma[i] * z).exp();
            let name = self.varied[i];
            // fractions (densities) stay in (0, 1]; the rest positive and finite
            let v = if matches!(name, "a_CD19" | "a_CD22" | "a_dim" | "f_mem" | "eps_T" | "c_T" | "eps_S") {
                v.clamp(f64::MIN_POSITIVE, 1.0)
            } else {
                v.clamp(f64::MIN_POSITIVE, f64::MAX)
            };
            params.set_index(self.varied_index[i], v)?;
        }
        let f0 = draw_fraction(self.f0, self.f0_beta.as_ref(), rng).clamp(0.0, F0_MAX);
        let draw_escape = |e: &Option<EscapeSubclone>, rng: &mut R| -> f64 {
            match e {
                Some(e) => {
                    let u: f64 = rng.random();
                    let frac = draw_amount(e.fraction, rng).clamp(0.0, 1.0);
                    if u < e.probability {
                        frac
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            }
        };
        let frac19 = draw_escape(&self.escape19, rng);
        let frac22 = draw_escape(&self.escape22, rng);
        let mut frac_dim = 0.0;
        if let Some(d) = &self.dim {
            let u: f64 = rng.random();
            let frac = draw_amount(d.fraction, rng).clamp(0.0, 1.0);
            let a = draw_amount(d.density, rng).clamp(f64::MIN_POSITIVE, 1.0);
            if u < d.probability {
                frac_dim = frac;
                params.a_dim = a;
            }
        }
        if let Some(f) = &self.unfit {
            let u: f64 = rng.random();
            let factor = draw_amount(f.factor, rng).clamp(0.0, 1.0);
            if u < f.probability {
                params.phi_t *= factor;
            }
        }
        if let Some(l) = &self.loss {
            let u: f64 = rng.random();
            let z: f64 = StandardNormal.sample(rng);
            let day = (l.median_day.ln() + sigma_of_cv(l.cv) * z).exp().clamp(l.min_day, l.max_day);
            if u < l.probability {
                params.t_loss = day;
            }
        }
        let (dose_cells, weight_kg) = draw_dose(self.dose, rng);
        params.validate()?;

        let l_tot = (params.h * f0 / (1.0 - f0)).min(f64::MAX);
        let sub = frac19 + frac22 + frac_dim;
        let scale = if sub > 1.0 { 1.0 / sub } else { 1.0 };
        let (f19, f22, fdim) = (frac19 * scale, frac22 * scale, frac_dim * scale);
        let mut blasts = [0.0; 4];
        blasts[Phenotype::CD19_NEG.index()] = f19 * l_tot;
        blasts[Phenotype::CD22_NEG.index()] = f22 * l_tot;
        blasts[Phenotype::DOUBLE_POS.index()] = (1.0 - f19 - f22 - fdim).max(0.0) * l_tot;
        let patient = Patient::from_counts(blasts, self.b0)?.with_cytokines(params.g_0, params.i_0)?;
        let patient = match weight_kg {
            Some(kg) => patient.with_weight(kg)?,
            None => patient,
        };
        let regimen = self.regimen.regimen(dose_cells)?;
        let f_mem = params.f_mem;
        let scenario = ScenarioV2 {
            params,
            patient,
            dim_blasts: fdim * l_tot,
            product: self.product,
            costim: self.costim,
            regimen,
            lymphodepletion: self.lymphodepletion,
            scale: self.scale,
            definitions: self.definitions,
        };
        Ok(PatientV2 {
            id,
            scenario,
            covariates: Covariates { f0, frac_cd19neg: f19, dose_cells, weight_kg, f_mem },
            frac_cd22neg: f22,
            frac_dim: fdim,
            varied: Arc::clone(&self.varied),
            journey: None,
        })
    }

    /// The ELIANA-like population of model v2 (tisagenlecleucel in children and young adults
    /// with r/r B-ALL), calibrated in `CALIBRATION.md` (section "Model v2").
    pub fn eliana() -> Self {
        Self::eliana_builder().build().expect("the ELIANA-like v2 population is valid")
    }

    /// The builder of [`PopulationV2::eliana`] (to change a part of it).
    pub fn eliana_builder() -> PopulationV2Builder {
        let cv = |n: &str, c: f64| (n.to_string(), c);
        PopulationV2Builder {
            variability: vec![
                cv("phi_T", 0.3),
                cv("sigma_L", 0.4),
                cv("psi_N", 0.8),
                cv("rho_E", 0.25),
                cv("delta_E", 0.3),
                cv("k_EP", 0.6),
                cv("r_L", 0.4),
                cv("delta_P", 0.3),
                cv("p_I", 0.5),
            ],
            f0: Fraction::Beta { a: 1.3, b: 1.0, lo: 0.05, hi: 0.97 },
            escape19: Some(EscapeSubclone {
                phenotype: Phenotype::CD19_NEG,
                probability: 0.35,
                fraction: Amount::LogUniform { lo: 1e-9, hi: 1e-6 },
            }),
            escape22: Some(EscapeSubclone {
                phenotype: Phenotype::CD22_NEG,
                probability: 0.3,
                fraction: Amount::LogUniform { lo: 1e-9, hi: 1e-6 },
            }),
            dim: Some(DimSubclone {
                probability: 0.3,
                fraction: Amount::LogUniform { lo: 1e-7, hi: 1e-6 },
                density: Amount::LogUniform { lo: 0.005, hi: 0.05 },
            }),
            unfit: Some(UnfitProduct { probability: 0.3, factor: Amount::LogUniform { lo: 0.3, hi: 0.55 } }),
            loss: Some(PersistenceLoss { probability: 0.35, median_day: 60.0, cv: 1.0, min_day: 14.0, max_day: 1e4 }),
            dose: Dose::PerKg {
                cells_per_kg: Amount::LogUniform { lo: 1.8e6, hi: 5.0e6 },
                weight: BodyWeight { median_kg: 35.0, cv: 0.5, min_kg: 10.0, max_kg: 120.0 },
                flat_above_kg: Some((50.0, Amount::LogUniform { lo: 0.6e8, hi: 2.5e8 })),
            },
            ..Self::builder(ParamsV2::nominal())
        }
    }
}

impl Default for PopulationV2 {
    /// [`PopulationV2::eliana`]: the crate's default virtual trial.
    fn default() -> Self {
        Self::eliana()
    }
}

impl PopulationV2Builder {
    /// Check everything and build.
    ///
    /// # Errors
    /// The first invalid value, naming its field.
    pub fn build(self) -> Result<PopulationV2, InputError> {
        self.typical.validate()?;
        let mut varied = Vec::new();
        let mut varied_index = Vec::new();
        let (mut cv, mut ln_typical, mut sigma) = (Vec::new(), Vec::new(), Vec::new());
        for (name, c) in &self.variability {
            let field = format!("population.variability.{name}");
            let Some(i) = ParamsV2::index_of(name) else {
                return Err(InputError::UnknownParameter {
                    field: "population.variability".into(),
                    name: name.clone(),
                });
            };
            if varied.contains(&ParamsV2::NAMES[i]) {
                return Err(InputError::Inconsistent { field, reason: format!("{name} is given twice") });
            }
            let c = Domain::NonNeg.checked(&field, *c)?;
            let typ = self.typical.get_index(i);
            if !(typ > 0.0 && typ.is_finite()) {
                return Err(InputError::Inconsistent {
                    field,
                    reason: format!("a varied parameter needs a positive finite typical value (it is {typ})"),
                });
            }
            varied.push(ParamsV2::NAMES[i]);
            varied_index.push(i);
            cv.push(c);
            ln_typical.push(typ.ln());
            sigma.push(sigma_of_cv(c));
        }
        super::check_fraction("population.f0", self.f0, true)?;
        for (field, e) in [("population.escape_cd19neg", &self.escape19), ("population.escape_cd22neg", &self.escape22)]
        {
            if let Some(e) = e {
                Domain::Unit.check(format!("{field}.probability"), e.probability)?;
                super::check_amount(&format!("{field}.fraction"), e.fraction, Some(1.0))?;
            }
        }
        if let Some(d) = &self.dim {
            Domain::Unit.check("population.dim_subclone.probability", d.probability)?;
            super::check_amount("population.dim_subclone.fraction", d.fraction, Some(1.0))?;
            super::check_amount("population.dim_subclone.density", d.density, Some(1.0))?;
        }
        if let Some(f) = &self.unfit {
            Domain::Unit.check("population.unfit_product.probability", f.probability)?;
            super::check_amount("population.unfit_product.factor", f.factor, Some(1.0))?;
        }
        if let Some(l) = &self.loss {
            Domain::Unit.check("population.persistence_loss.probability", l.probability)?;
            Domain::Pos.check("population.persistence_loss.median_day", l.median_day)?;
            Domain::NonNeg.check("population.persistence_loss.cv", l.cv)?;
            Domain::Pos.check("population.persistence_loss.min_day", l.min_day)?;
            Domain::Pos.check("population.persistence_loss.max_day", l.max_day)?;
            if l.min_day > l.max_day {
                return Err(InputError::Inconsistent {
                    field: "population.persistence_loss".into(),
                    reason: "min_day must not exceed max_day".into(),
                });
            }
        }
        super::check_dose(self.dose)?;
        let b0 = Domain::Pos.checked("population.b0", self.b0)?;
        if b0 > crate::patient::MAX_CELLS {
            return Err(InputError::OutOfDomain { field: "population.b0".into(), value: b0, domain: "<= 1e30 cells" });
        }
        let mut regimen = self.regimen;
        regimen.lymphodepletion = self.lymphodepletion != Lymphodepletion::None;
        super::check_regimen(&regimen)?;
        let mut definitions = self.definitions;
        definitions.crs_thresholds = self.scale.thresholds();
        definitions.validate()?;
        Ok(PopulationV2 {
            typical: self.typical,
            varied: varied.into(),
            varied_index,
            cv,
            ln_typical,
            sigma,
            f0: self.f0,
            f0_beta: beta_of(self.f0),
            escape19: self.escape19,
            escape22: self.escape22,
            dim: self.dim,
            unfit: self.unfit,
            loss: self.loss,
            dose: self.dose,
            product: self.product,
            costim: self.costim,
            regimen,
            lymphodepletion: self.lymphodepletion,
            scale: self.scale,
            definitions,
            b0,
            journey: match self.journey {
                Some(j) => {
                    j.validate()?;
                    Some(Arc::new(j))
                }
                None => None,
            },
        })
    }
}

/// One patient of a model-v2 population.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientV2 {
    /// Patient id.
    pub id: u64,
    /// The patient's scenario.
    pub scenario: ScenarioV2,
    /// The covariates shared with the reference model's patients.
    pub covariates: Covariates,
    /// Fraction of the blasts that are CD22-negative (`CD19+CD22-`).
    pub frac_cd22neg: f64,
    /// Fraction of the blasts in the CD19-dim subclone.
    pub frac_dim: f64,
    varied: Arc<[&'static str]>,
    /// The journey (populations with one).
    pub journey: Option<Box<PatientJourney>>,
}

/// A model-v2 patient's journey: the journey it was drawn from, its plan up to the
/// infusion and the noise draws of its visits.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientJourney {
    /// The population's journey.
    pub journey: Arc<Journey>,
    /// Up to the infusion.
    pub plan: Plan,
    /// Noise draws per assay and visit day.
    pub noise: [Vec<f64>; 4],
}

/// The per-patient columns of model v2 besides the varied parameters.
const EXTRA: [&str; 4] = ["t_loss", "frac_cd22neg", "frac_dim", "a_dim"];

impl Subject for PatientV2 {
    type Row = RowV2;

    fn covariates(&self) -> Option<Covariates> {
        Some(self.covariates)
    }

    fn parameters(&self) -> Vec<(&'static str, f64)> {
        let p = &self.scenario.params;
        let mut v: Vec<(&'static str, f64)> = self.varied.iter().map(|&n| (n, p.get(n).unwrap_or(f64::NAN))).collect();
        if p.t_loss.is_finite() {
            v.push(("t_loss", p.t_loss)); // empty: never lost
        }
        v.push(("frac_cd22neg", self.frac_cd22neg));
        v.push(("frac_dim", self.frac_dim));
        if self.frac_dim > 0.0 {
            v.push(("a_dim", p.a_dim)); // empty: no dim subclone
        }
        v
    }

    fn simulate(&self, solver: &SolverConfig, horizon: f64, grid: &[f64], id: u64) -> Result<Solution<RowV2>, Failure> {
        if let Some(j) = &self.journey {
            if j.plan.stage != Stage::Infused {
                return Err(Failure::NotInfused(j.plan.stage));
            }
        }
        simulate_v2(&self.scenario, solver, horizon, grid, id)
    }

    fn simulate_journey(
        &self,
        solver: &SolverConfig,
        horizon: f64,
        grid: &[f64],
        id: u64,
    ) -> crate::trial::JourneyRun<RowV2> {
        let Some(pj) = &self.journey else {
            return (self.simulate(solver, horizon, grid, id), None);
        };
        let j = &pj.journey;
        let plan = &pj.plan;
        let record = |measured: Option<Measured>, e: Option<&crate::endpoints::Endpoints>| {
            let visits = measured.as_ref().map_or(0, |m| m.visits);
            let cost = j.costs.as_ref().map(|c| CostParts::of(c, plan, e, visits));
            let remission_12m = e.and_then(|e| crate::journey::remission_12m(e, horizon));
            Some(Box::new(JourneyRecord { plan: plan.clone(), measured, cost, remission_12m }))
        };
        if plan.stage != Stage::Infused {
            return (Err(Failure::NotInfused(plan.stage)), record(None, None));
        }
        // one solve gives the trajectory grid, the visits and a daily scan for the day of
        // remission; a second solve locates that day to 0.001 day inside its bracket
        let visits: Vec<f64> = j.monitoring.visit_days().into_iter().filter(|&t| t <= horizon).collect();
        let mut all: Vec<f64> = grid.iter().copied().chain(visits.iter().copied()).collect();
        let days = horizon.floor() as usize;
        all.extend((0..=days).map(|d| d as f64));
        all.sort_by(f64::total_cmp);
        all.dedup();
        let sol = match simulate_v2(&self.scenario, solver, horizon, &all, id) {
            Ok(s) => s,
            Err(e) => return (Err(e), record(None, None)),
        };
        let sc = &self.scenario;
        let observe = |r: &RowV2| Observation {
            t: r.t,
            marrow_blast_fraction: {
                let l: f64 = r.l.iter().sum();
                if l > 0.0 {
                    l / (l + sc.params.h)
                } else {
                    0.0
                }
            },
            car_t_copies: (r.e + r.m + r.p + r.x) * sc.definitions.copies_per_cell,
            b_cells: r.b,
        };
        let cr = sc.definitions.cr_fraction;
        let first = sol.rows.iter().position(|r| observe(r).marrow_blast_fraction < cr);
        let mut stats = sol.stats;
        let remission_day = match first {
            None => None,
            Some(0) => Some(sol.rows[0].t),
            Some(k) => {
                let (a, b) = (sol.rows[k - 1].t, sol.rows[k].t);
                let fine: Vec<f64> = (1..=1000).map(|i| a + (b - a) * i as f64 / 1000.0).collect();
                match simulate_v2(&self.scenario, solver, horizon, &fine, id) {
                    Ok(s2) => {
                        stats.add(&s2.stats);
                        s2.rows.iter().find(|r| observe(r).marrow_blast_fraction < cr).map(|r| r.t).or(Some(b))
                    }
                    Err(_) => Some(b),
                }
            }
        };
        let obs: Vec<Observation> =
            sol.rows.iter().filter(|r| visits.binary_search_by(|v| v.total_cmp(&r.t)).is_ok()).map(observe).collect();
        let measured = read_visits(&j.monitoring, &sc.definitions, &obs, &pj.noise, remission_day);
        let rec = record(Some(measured), Some(&sol.endpoints));
        let rows: Vec<RowV2> =
            sol.rows.into_iter().filter(|r| grid.binary_search_by(|v| v.total_cmp(&r.t)).is_ok()).collect();
        (Ok(Solution { endpoints: sol.endpoints, events: sol.events, rows, stats }), rec)
    }
}

impl ScenarioV2 {
    /// Simulate over `[0, horizon]` with trajectory rows at the times of `grid` (see
    /// [`crate::solve::grid_times`] for a daily grid).
    ///
    /// # Errors
    /// An invalid scenario or a failed solve.
    pub fn simulate(&self, solver: &SolverConfig, horizon: f64, grid: &[f64]) -> Result<Solution<RowV2>, Failure> {
        simulate_v2(self, solver, horizon, grid, 0)
    }
}

/// Simulate one model-v2 scenario over `[0, horizon]` with rows at `grid`.
///
/// # Errors
/// An invalid scenario or a failed solve.
pub fn simulate_v2(
    sc: &ScenarioV2,
    solver: &SolverConfig,
    horizon: f64,
    grid: &[f64],
    id: u64,
) -> Result<Solution<RowV2>, Failure> {
    sc.validate().map_err(Failure::Input)?;
    check_horizon(sc, horizon).map_err(Failure::Input)?;
    let model = ModelV2::new(sc);
    run_model::<NSTATE_V2, _>(&model, &sc.regimen, &sc.definitions, solver, horizon, grid, false)
        .map_err(|(t, reason)| Failure::Solve(crate::error::SolveError { patient_id: id, t, reason }))
}

/// The horizon rules of [`crate::Scenario::new`]: `28 <= horizon <= 36525` and every
/// scheduled time within it.
fn check_horizon(sc: &ScenarioV2, horizon: f64) -> Result<(), InputError> {
    Domain::Pos.check("horizon", horizon)?;
    if !(sc.definitions.assessment_day..=crate::solve::MAX_HORIZON_DAYS).contains(&horizon) {
        return Err(InputError::OutOfDomain {
            field: "horizon".into(),
            value: horizon,
            domain: ">= the assessment day and <= 36525 (100 years)",
        });
    }
    if let Some((field, t)) = sc.regimen.last_scheduled() {
        if t > horizon {
            return Err(InputError::Inconsistent {
                field,
                reason: format!("time {t} is beyond the horizon {horizon}"),
            });
        }
    }
    Ok(())
}

impl PatientSource for PopulationV2 {
    type Patient = PatientV2;

    fn patient(&self, seed: u64, id: u64) -> Result<PatientV2, InputError> {
        self.try_sample_patient(seed, id)
    }

    fn parameter_names(&self) -> Vec<&'static str> {
        let mut v = self.varied.to_vec();
        v.extend(EXTRA);
        v
    }

    fn model(&self) -> &'static ModelInfo {
        crate::model::v2::info()
    }

    fn definitions(&self) -> Definitions {
        self.definitions
    }

    fn journey(&self) -> Option<&Journey> {
        self.journey.as_deref()
    }

    fn describe(&self) -> String {
        format!("{self:?}")
    }
}
