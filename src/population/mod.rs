//! Virtual populations: between-patient variability of the model parameters, patient
//! covariates, and reproducible sampling of [`VirtualPatient`]s (one named generator per patient; draws in a documented order).
//!
//! A [`Population`] is a [`rand::distr::Distribution<VirtualPatient>`]: it owns no
//! generator, so it composes with `sample_iter` and any `Rng`. The generators themselves are
//! built in one place, [`patient_rng`], and [`Population::sample_patient`] gives patient `id`
//! of a run with seed `seed` from its own stream: a patient depends only on `(seed, id)`.
//!
//! ```
//! use cartkin::population::Population;
//! let pop = Population::reference_200();
//! let p = pop.sample_patient(42, 7);
//! assert_eq!(p.id, 7);
//! assert_eq!(p, pop.sample_patient(42, 7)); // same (seed, id), same patient
//! let scenario = p.scenario(365.0)?;          // ready to simulate
//! for (name, value) in p.sampled_parameters() { println!("{name} = {value}"); }
//! # Ok::<(), cartkin::InputError>(())
//! ```
//!
//! # What varies
//!
//! - **Parameters**: any MODEL.md parameter whose domain contains every positive number may
//!   be log-normal: `value = typical x exp(sigma z)` with `sigma = sqrt(ln(1 + cv^2))`, so the
//!   median is the typical value and `cv` the coefficient of variation. The standard normals
//!   `z` are independent, or correlated through a lower-triangular Cholesky factor `L` of
//!   their correlation matrix (`z = L w`, `w` independent).
//! - **Covariates** ([`Covariates`]): the marrow blast fraction `f0` ([`Fraction`]), an
//!   antigen-negative escape subclone present with some probability ([`EscapeSubclone`]),
//!   the dose ([`Dose`]: flat, log-uniform or per kg of a log-normal body weight) and the
//!   memory fraction of the product `f_mem` ([`Fraction`]).
//! - Fixed for the population: the product ([`Product`]), the regimen template
//!   ([`RegimenTemplate`]: dose split, lymphodepletion, policies) and `B_0`.
//!
//! # Draw order (fixed; part of the value-stability contract)
//!
//! For each patient, [`Population`] draws from the generator in this order:
//!
//! 1. `n` standard normals `w_1..w_n` (rand_distr `StandardNormal`), one per varied
//!    parameter in the order the variability was declared; then `z = L w` (or `z = w`).
//! 2. `f0`: nothing (`Fixed`), one uniform (`Uniform`) or one Beta variate (`Beta`).
//! 3. The escape subclone, when configured: one uniform `u` (present when
//!    `u < probability`), then its fraction (one uniform for `LogUniform`, nothing for
//!    `Fixed`), **drawn whether the subclone is present or not** so that the layout of the
//!    stream does not depend on the outcome.
//! 4. The dose: nothing (`Flat`); one uniform (`LogUniform`); for `PerKg`, one standard
//!    normal for the weight, then the per-kg amount, then (when `flat_above_kg` is given) the
//!    flat amount, again drawn whatever the weight.
//! 5. `f_mem`: as `f0`.
//!
//! Uniforms are rand's `StandardUniform` `f64` in `[0, 1)`; `Uniform { lo, hi }` is
//! `lo + (hi - lo) u` and `LogUniform { lo, hi }` is `lo exp(u ln(hi / lo))`.
//!
//! # Domains are kept by construction
//!
//! [`PopulationBuilder::build`] validates everything once; sampling then cannot produce an
//! invalid patient:
//! - only parameters whose domain contains every positive number may vary (checked by
//!   setting `f64::MIN_POSITIVE` and `f64::MAX` on a copy of the typical values and
//!   validating it). So the fractions `eps_T`, `c_T`, `eps_S` cannot vary (policy numbers and
//!   endpoint definitions are not model parameters); `f_mem` varies as a covariate.
//!   A sampled value is clamped into `[f64::MIN_POSITIVE, f64::MAX]` (only reachable with
//!   absurd CVs);
//! - `f0` is clamped into `[0, 1 - 1e-9]` (`L_tot(0) = H f0 / (1 - f0)` stays finite; the
//!   result is capped at `f64::MAX`), `f_mem` into `[0, 1]`;
//! - log-uniform and weight draws are clamped into their `[lo, hi]` / `[min, max]` ranges
//!   (rounding of `exp` could otherwise step just outside), and doses into
//!   `[f64::MIN_POSITIVE, f64::MAX]`.

mod eliana;
pub mod rng;
pub mod table;
pub mod v2;

pub use rng::patient_rng;
pub use table::{
    parse_minimal_csv, parse_population_csv, read_minimal_csv, read_population_csv, MinimalRow, NumericTable,
    TableError, TextTable,
};

use crate::endpoints::Definitions;
use crate::error::{Domain, InputError};
use crate::model::{Params, Phenotype};
use crate::patient::Patient;
use crate::regimen::{Infusion, PolicyRules, Product, Regimen, SteroidPolicy, TociPolicy};
use crate::scenario::Scenario;
use rand::distr::Distribution;
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use std::sync::Arc;

/// Largest marrow blast fraction a sampled `f0` can take (`1 - 1e-9`): `f0` is clamped
/// below it so that `L_tot(0) = H f0 / (1 - f0)` stays finite.
pub const F0_MAX: f64 = 1.0 - 1e-9;

/// Tolerance on the unit diagonal of `L L^T` for a Cholesky factor of a correlation matrix.
const UNIT_ROW_TOL: f64 = 1e-6;

// ------------------------------------------------------------------------------------------
// Sampled patients
// ------------------------------------------------------------------------------------------

/// The sampled covariates of one virtual patient.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Covariates {
    /// Marrow blast fraction at t = 0, in `[0, 1)`.
    pub f0: f64,
    /// Fraction of the blasts in the escape phenotype (`CD19-CD22+` unless configured
    /// otherwise, hence the name); 0 when the subclone is absent.
    pub frac_cd19neg: f64,
    /// Total CAR-T dose (cells), split over the infusions of the regimen template.
    pub dose_cells: f64,
    /// Body weight (kg) for per-kg dosing; `None` otherwise.
    pub weight_kg: Option<f64>,
    /// Memory fraction of the product (also written into `params.f_mem`).
    pub f_mem: f64,
}

/// One sampled (or tabulated) patient: parameters, initial state, product, regimen and the
/// covariates that produced them. Turn it into a [`Scenario`] with
/// [`VirtualPatient::scenario`].
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualPatient {
    /// Patient id (0 from [`Distribution::sample`]; the stream id from
    /// [`Population::sample_patient`]; the `id` column of a table).
    pub id: u64,
    /// Parameters: typical values with the sampled ones replaced, `f_mem` from the covariate.
    pub params: Params,
    /// Initial state (blasts from `f0`, the escape fraction and `H`).
    pub patient: Patient,
    /// The CAR-T product.
    pub product: Product,
    /// The regimen (the template with the sampled dose).
    pub regimen: Regimen,
    /// The covariates.
    pub covariates: Covariates,
    /// The endpoint definitions its endpoints are read with.
    pub definitions: Definitions,
    /// Names of the parameters that vary in the population (MODEL.md spelling, in
    /// declaration order), shared between patients.
    varied: Arc<[&'static str]>,
}

impl VirtualPatient {
    /// The scenario of this patient over `[0, horizon]` days, named `patient_<id>`.
    ///
    /// # Errors
    /// As [`Scenario::new`]: a horizon that is not finite or is below 28 days, or a
    /// scheduled time (a split infusion, a prophylactic dose) beyond the horizon.
    pub fn scenario(&self, horizon: f64) -> Result<Scenario, InputError> {
        Scenario::new(
            format!("patient_{}", self.id),
            self.params.clone(),
            self.patient.clone(),
            self.product,
            self.regimen.clone(),
            horizon,
        )?
        .with_definitions(self.definitions)
    }

    /// The varied parameters as `(MODEL.md name, value)` pairs, in the population's
    /// declaration order (stable: use it for CSV columns).
    pub fn sampled_parameters(&self) -> Vec<(&'static str, f64)> {
        self.varied.iter().map(|&n| (n, self.params.get(n).unwrap_or(f64::NAN))).collect()
    }

    /// Names of the varied parameters, in declaration order.
    pub fn varied_names(&self) -> &[&'static str] {
        &self.varied
    }

    pub(crate) fn from_parts(
        id: u64,
        params: Params,
        patient: Patient,
        product: Product,
        regimen: Regimen,
        covariates: Covariates,
        varied: Arc<[&'static str]>,
    ) -> Self {
        Self { id, params, patient, product, regimen, covariates, definitions: Definitions::default(), varied }
    }
}

// ------------------------------------------------------------------------------------------
// Covariate distributions
// ------------------------------------------------------------------------------------------

/// Distribution of a fraction in `[0, 1]` (the marrow blast fraction `f0`, the memory
/// fraction `f_mem`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Fraction {
    /// Always this value.
    Fixed(f64),
    /// Uniform on `[lo, hi]`, `0 <= lo < hi <= 1`.
    Uniform {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// `lo + (hi - lo) X` with `X ~ Beta(a, b)`, `a, b > 0`, `0 <= lo < hi <= 1`.
    Beta {
        /// First shape parameter (> 0).
        a: f64,
        /// Second shape parameter (> 0).
        b: f64,
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
}

/// A positive amount (a dose, a dose per kg, a fraction of blasts): fixed or log-uniform.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Amount {
    /// Always this value (> 0, finite).
    Fixed(f64),
    /// `lo exp(u ln(hi / lo))`, `u ~ U[0, 1)`: uniform in `log10` between `lo` and `hi`,
    /// `0 < lo <= hi < infinity`.
    LogUniform {
        /// Lower end (> 0).
        lo: f64,
        /// Upper end (>= lo).
        hi: f64,
    },
}

/// Log-normal body weight (kg), clamped into `[min_kg, max_kg]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyWeight {
    /// Median weight (kg, > 0).
    pub median_kg: f64,
    /// Coefficient of variation (>= 0); `sigma = sqrt(ln(1 + cv^2))`.
    pub cv: f64,
    /// Smallest weight (kg, > 0).
    pub min_kg: f64,
    /// Largest weight (kg, >= min_kg).
    pub max_kg: f64,
}

/// Distribution of the total CAR-T dose (cells).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Dose {
    /// The same number of cells for everyone.
    Flat(f64),
    /// Log-uniform between `lo` and `hi` cells (`0 < lo <= hi`).
    LogUniform {
        /// Lower end (cells).
        lo: f64,
        /// Upper end (cells).
        hi: f64,
    },
    /// Weight-based dosing: `cells_per_kg x weight`, or a flat dose for patients heavier
    /// than a limit (as on the tisagenlecleucel label: 0.2-5e6 cells/kg up to 50 kg,
    /// 0.1-2.5e8 cells above).
    PerKg {
        /// Cells per kg.
        cells_per_kg: Amount,
        /// Body weight.
        weight: BodyWeight,
        /// `(limit_kg, flat)`: patients with weight `> limit_kg` get the flat dose instead.
        flat_above_kg: Option<(f64, Amount)>,
    },
}

/// An antigen-negative escape subclone: present in a patient with `probability`
/// (independently per patient), as `fraction` of the blasts; the rest are `CD19+CD22+`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EscapeSubclone {
    /// The escape phenotype (not `CD19+CD22+`); `CD19-CD22+` in the reference population.
    pub phenotype: Phenotype,
    /// Probability that a patient carries it, in `[0, 1]`.
    pub probability: f64,
    /// Its fraction of the blasts when present, in `(0, 1]`.
    pub fraction: Amount,
}

/// The regimen of every patient except the dose: how the sampled dose is split over
/// infusions, lymphodepletion and the CRS-management policies.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimenTemplate {
    /// `(day, fraction of the dose)` per infusion: days non-decreasing from 0, fractions
    /// > 0 summing to 1 (within 1e-9). `[(0.0, 1.0)]` is a single dose at day 0.
    pub schedule: Vec<(f64, f64)>,
    /// Lymphodepletion before the infusion (`h(t)` on).
    pub lymphodepletion: bool,
    /// Tocilizumab policy.
    pub tocilizumab: TociPolicy,
    /// Steroid policy.
    pub steroids: SteroidPolicy,
    /// The policy numbers (trigger thresholds, windows, dose counts; REF-1 by default).
    pub rules: PolicyRules,
}

impl Default for RegimenTemplate {
    /// The S1 regimen: one infusion at day 0, lymphodepletion, reactive tocilizumab and
    /// steroids.
    fn default() -> Self {
        Self {
            schedule: vec![(0.0, 1.0)],
            lymphodepletion: true,
            tocilizumab: TociPolicy::Reactive,
            steroids: SteroidPolicy::Reactive,
            rules: PolicyRules::default(),
        }
    }
}

impl RegimenTemplate {
    /// The regimen for a total dose of `cells`.
    fn regimen(&self, cells: f64) -> Result<Regimen, InputError> {
        let infusions = self
            .schedule
            .iter()
            .map(|&(t, f)| Infusion { t, cells: (cells * f).clamp(f64::MIN_POSITIVE, f64::MAX) })
            .collect();
        Regimen::new(infusions, self.lymphodepletion, self.tocilizumab.clone(), self.steroids)?.with_rules(self.rules)
    }
}

// ------------------------------------------------------------------------------------------
// The population
// ------------------------------------------------------------------------------------------

/// A virtual population: typical parameters with log-normal between-patient variability
/// (optionally correlated), covariate distributions, a product and a regimen template.
/// Build it with [`Population::builder`]; the module docs give the draw order and how
/// sampled values are kept inside their domains.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    typical: Params,
    varied: Arc<[&'static str]>,
    /// Index of each varied parameter in [`Params::NAMES`] (names resolved once, at build).
    varied_index: Vec<usize>,
    cv: Vec<f64>,
    /// ln(typical value) per varied parameter.
    ln_typical: Vec<f64>,
    sigma: Vec<f64>,
    /// Lower-triangular factor, row-major n x n.
    cholesky: Option<Vec<f64>>,
    f0: Fraction,
    f0_beta: Option<rand_distr::Beta<f64>>,
    escape: Option<EscapeSubclone>,
    dose: Dose,
    f_mem: Fraction,
    f_mem_beta: Option<rand_distr::Beta<f64>>,
    product: Product,
    regimen: RegimenTemplate,
    b0: f64,
    definitions: Definitions,
}

impl Population {
    /// Start building a population around `typical` parameters. Without further settings
    /// it samples the S1 patient every time: f0 = 0.5 with `CD19-CD22+` at 1e-5 of the
    /// blasts, 1e8 cells of a CD19 product at day 0, `f_mem` from `typical`, the S1 regimen,
    /// `B_0 = 1e8`, no variability.
    pub fn builder(typical: Params) -> PopulationBuilder {
        PopulationBuilder {
            typical,
            variability: Vec::new(),
            correlation: Correlation::None,
            f0: Fraction::Fixed(0.5),
            escape: Some(EscapeSubclone {
                phenotype: Phenotype::CD19_NEG,
                probability: 1.0,
                fraction: Amount::Fixed(1e-5),
            }),
            dose: Dose::Flat(1e8),
            f_mem: None,
            product: Product::cd19(),
            regimen: RegimenTemplate::default(),
            b0: 1e8,
            definitions: Definitions::default(),
        }
    }

    /// The distribution that `reference/population_200.csv` was drawn from
    /// (`reference/README.md`, "Population"): `rho_E`, `k_kill`, `r_L`, `delta_E`, `p_I`
    /// log-normal with CV 40% around REF-1 (independent); `f0 ~ U(0.01, 0.95)`; a
    /// `CD19-CD22+` subclone present with probability 1/2, independently per patient (the
    /// reference picked exactly 100 of 200), as `10^U(-7, -3)` of the blasts; a dose
    /// log-uniform on `[2e7, 5e8]` cells; a CD19 product with `f_mem = 0.2`; one infusion at
    /// day 0 after lymphodepletion; reactive tocilizumab and steroids; `B_0 = 1e8`.
    ///
    /// The numbers differ from the file's (another generator); the distribution is the same.
    pub fn reference_200() -> Self {
        let mut b = Population::builder(Params::nominal());
        for name in REFERENCE_VARIED {
            b = b.variability(name, 0.4);
        }
        b.f0(Fraction::Uniform { lo: 0.01, hi: 0.95 })
            .escape(Some(EscapeSubclone {
                phenotype: Phenotype::CD19_NEG,
                probability: 0.5,
                fraction: Amount::LogUniform { lo: 1e-7, hi: 1e-3 },
            }))
            .dose(Dose::LogUniform { lo: 2e7, hi: 5e8 })
            .f_mem(Fraction::Fixed(0.2))
            .product(Product::cd19())
            .regimen(RegimenTemplate::default())
            .b0(1e8)
            .build()
            .expect("the reference population is valid")
    }

    /// Patient `id` of a run with seed `seed`: [`Distribution::sample`] on
    /// [`patient_rng`]`(seed, id)`, with the id set. Depends only on `(seed, id)`.
    ///
    /// # Panics
    /// When the draw is not a valid patient (see [`Population::try_sample_patient`], which
    /// the trial uses).
    pub fn sample_patient(&self, seed: u64, id: u64) -> VirtualPatient {
        self.try_sample_patient(seed, id).unwrap_or_else(|e| panic!("patient {id} of seed {seed}: {e}"))
    }

    /// Patient `id` of a run with seed `seed`, or why the draw is not a valid patient. A
    /// population that [`PopulationBuilder::build`] accepted draws valid patients except in
    /// the tails of very wide distributions (e.g. a varied `H` whose draw puts the initial
    /// blasts above [`crate::patient::MAX_CELLS`]); a trial records such a patient as an
    /// input failure (`failed:invalid_input`) instead of stopping. The same draws as
    /// [`Population::sample_patient`].
    ///
    /// # Errors
    /// [`InputError`] naming the value that left its domain.
    pub fn try_sample_patient(&self, seed: u64, id: u64) -> Result<VirtualPatient, InputError> {
        let mut rng = patient_rng(seed, id);
        let mut p = self.try_sample(&mut rng)?;
        p.id = id;
        Ok(p)
    }

    /// Patients `0, 1, 2, ...` of a run with seed `seed` (each from its own stream, as
    /// [`Population::sample_patient`]).
    pub fn patients(&self, seed: u64) -> impl Iterator<Item = VirtualPatient> + '_ {
        (0..).map(move |id| self.sample_patient(seed, id))
    }

    /// Typical (median) parameter values.
    pub fn typical(&self) -> &Params {
        &self.typical
    }

    /// The varied parameters and their CVs, in declaration (= draw) order.
    pub fn variability(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.varied.iter().copied().zip(self.cv.iter().copied())
    }

    /// Names of the varied parameters, in declaration order.
    pub fn varied_names(&self) -> &[&'static str] {
        &self.varied
    }

    /// Log-scale standard deviation `sigma = sqrt(ln(1 + cv^2))` of each varied parameter.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigma
    }

    /// The Cholesky factor of the correlation of the log-normal draws (row-major `n x n`,
    /// lower-triangular), if any.
    pub fn correlation_cholesky(&self) -> Option<&[f64]> {
        self.cholesky.as_deref()
    }

    /// Distribution of the marrow blast fraction.
    pub fn f0(&self) -> Fraction {
        self.f0
    }

    /// The escape subclone, if any.
    pub fn escape(&self) -> Option<EscapeSubclone> {
        self.escape
    }

    /// Distribution of the dose.
    pub fn dose(&self) -> Dose {
        self.dose
    }

    /// Distribution of the memory fraction.
    pub fn f_mem(&self) -> Fraction {
        self.f_mem
    }

    /// The product.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The regimen template.
    pub fn regimen(&self) -> &RegimenTemplate {
        &self.regimen
    }

    /// Initial normal B cells `B_0` (cells).
    pub fn b0(&self) -> f64 {
        self.b0
    }

    /// The endpoint definitions every patient's endpoints are read with.
    pub fn definitions(&self) -> &Definitions {
        &self.definitions
    }

    /// The same population with another product. The product is not drawn, so patient
    /// `(seed, id)` keeps its parameters, covariates and regimen: two populations that
    /// differ only in the product give paired arms of a trial.
    ///
    /// ```
    /// use cartkin::population::Population;
    /// use cartkin::{AntigenSet, Product};
    /// let cd19 = Population::default();
    /// let dual = cd19.clone().with_product(Product::new(AntigenSet::BOTH)?);
    /// let (a, b) = (cd19.sample_patient(7, 3), dual.sample_patient(7, 3));
    /// assert_eq!((a.params, a.covariates), (b.params, b.covariates));
    /// assert_eq!(b.product.targets(), AntigenSet::BOTH);
    /// # Ok::<(), cartkin::InputError>(())
    /// ```
    pub fn with_product(mut self, product: Product) -> Self {
        self.product = product;
        self
    }

    /// The same population with another regimen template (dose split, lymphodepletion,
    /// policies), validated as by [`PopulationBuilder::build`]. The template is not drawn,
    /// so patient `(seed, id)` keeps its parameters and covariates: paired arms.
    ///
    /// # Errors
    /// As [`PopulationBuilder::build`] for the template (field `population.regimen...`).
    ///
    /// ```
    /// use cartkin::population::{Population, RegimenTemplate};
    /// use cartkin::TociPolicy;
    /// let pop = Population::default();
    /// let split = RegimenTemplate { schedule: vec![(0.0, 0.1), (1.0, 0.3), (2.0, 0.6)], ..RegimenTemplate::default() };
    /// let split_pop = pop.clone().with_regimen(split)?;
    /// let (a, b) = (pop.sample_patient(7, 3), split_pop.sample_patient(7, 3));
    /// assert_eq!(a.covariates, b.covariates);
    /// assert_eq!(b.regimen.infusions().len(), 3);
    /// let no_toci = RegimenTemplate { tocilizumab: TociPolicy::None, ..RegimenTemplate::default() };
    /// assert!(pop.clone().with_regimen(no_toci).is_ok());
    /// let bad = RegimenTemplate { schedule: vec![(0.0, 0.5)], ..RegimenTemplate::default() };
    /// assert_eq!(pop.with_regimen(bad).unwrap_err().field(), "population.regimen.schedule");
    /// # Ok::<(), cartkin::InputError>(())
    /// ```
    pub fn with_regimen(mut self, regimen: RegimenTemplate) -> Result<Self, InputError> {
        check_regimen(&regimen)?;
        self.regimen = regimen;
        Ok(self)
    }

    /// The same population with another dose distribution, validated as by
    /// [`PopulationBuilder::build`]. Parameters, `f0` and the escape subclone are drawn
    /// before the dose, so patient `(seed, id)` keeps them; what is drawn after the dose
    /// (`f_mem`, when it is random) follows the new dose's draws (module docs, draw order).
    ///
    /// # Errors
    /// As [`PopulationBuilder::build`] for the dose (field `population.dose...`).
    ///
    /// ```
    /// use cartkin::population::{Dose, Population};
    /// let pop = Population::default();
    /// let flat = pop.clone().with_dose(Dose::Flat(2e8))?;
    /// let (a, b) = (pop.sample_patient(7, 3), flat.sample_patient(7, 3));
    /// assert_eq!((a.params.k_kill, a.covariates.f0), (b.params.k_kill, b.covariates.f0));
    /// assert_eq!(b.regimen.total_cells(), 2e8);
    /// assert_eq!(pop.with_dose(Dose::Flat(0.0)).unwrap_err().field(), "population.dose.cells");
    /// # Ok::<(), cartkin::InputError>(())
    /// ```
    pub fn with_dose(mut self, dose: Dose) -> Result<Self, InputError> {
        check_dose(dose)?;
        self.dose = dose;
        Ok(self)
    }

    /// Draw one patient (id 0) in the documented order.
    fn try_sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<VirtualPatient, InputError> {
        // 1. parameters
        let n = self.varied.len();
        let mut params = self.typical.clone();
        if n > 0 {
            let mut w = [0.0f64; 16];
            let mut w_heap = Vec::new();
            let w: &mut [f64] = if n <= w.len() {
                &mut w[..n]
            } else {
                w_heap.resize(n, 0.0);
                &mut w_heap
            };
            for wi in w.iter_mut() {
                *wi = StandardNormal.sample(rng);
            }
            for i in 0..n {
                let z = match &self.cholesky {
                    Some(l) => (0..=i).map(|j| l[i * n + j] * w[j]).sum::<f64>(),
                    None => w[i],
                };
                let v = (self.ln_typical[i] + self.sigma[i] * z).exp();
                params.set_index(self.varied_index[i], clamp_positive(v))?;
            }
        }

        // 2. f0
        let f0 = draw_fraction(self.f0, self.f0_beta.as_ref(), rng).clamp(0.0, F0_MAX);

        // 3. escape subclone
        let mut escape = None;
        if let Some(e) = &self.escape {
            let u: f64 = rng.random();
            let frac = draw_amount(e.fraction, rng).clamp(0.0, 1.0);
            if u < e.probability {
                escape = Some((e.phenotype, frac));
            }
        }

        // 4. dose
        let (dose_cells, weight_kg) = draw_dose(self.dose, rng);

        // 5. memory fraction
        let f_mem = draw_fraction(self.f_mem, self.f_mem_beta.as_ref(), rng).clamp(0.0, 1.0);
        params.set("f_mem", f_mem)?;

        // assemble
        let l_tot = (params.h * f0 / (1.0 - f0)).min(f64::MAX);
        let mut blasts = [0.0; 4];
        let frac = match escape {
            Some((ph, frac)) => {
                blasts[ph.index()] = frac * l_tot;
                frac
            }
            None => 0.0,
        };
        blasts[Phenotype::DOUBLE_POS.index()] = (1.0 - frac) * l_tot;
        let mut patient = Patient::from_counts(blasts, self.b0)?.with_cytokines(params.g_0, params.i_0)?;
        if let Some(kg) = weight_kg {
            patient = patient.with_weight(kg)?;
        }
        let regimen = self.regimen.regimen(dose_cells)?;
        params.validate()?;
        Ok(VirtualPatient {
            id: 0,
            params,
            patient,
            product: self.product,
            regimen,
            covariates: Covariates { f0, frac_cd19neg: frac, dose_cells, weight_kg, f_mem },
            definitions: self.definitions,
            varied: Arc::clone(&self.varied),
        })
    }
}

impl Default for Population {
    /// [`Population::eliana_like`]: the ELIANA-calibrated population (tisagenlecleucel in
    /// children and young adults with r/r B-ALL; `CALIBRATION.md`), which the README's
    /// default virtual trial runs.
    fn default() -> Self {
        Self::eliana_like()
    }
}

impl Distribution<VirtualPatient> for Population {
    /// One patient with id 0, drawn in the documented order (module docs). Use
    /// [`Population::sample_patient`] for patient `id` of a seeded run.
    ///
    /// # Panics
    /// When the draw is not a valid patient, which only the tails of very wide distributions
    /// reach (see [`Population::try_sample_patient`], the fallible form).
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> VirtualPatient {
        match self.try_sample(rng) {
            Ok(p) => p,
            Err(e) => panic!("the population drew an invalid patient: {e}"),
        }
    }
}

/// The parameters that vary in the reference population, in its draw order.
const REFERENCE_VARIED: [&str; 5] = ["rho_E", "k_kill", "r_L", "delta_E", "p_I"];

pub(crate) fn sigma_of_cv(cv: f64) -> f64 {
    (cv * cv).ln_1p().sqrt()
}

fn clamp_positive(v: f64) -> f64 {
    if v.is_nan() {
        f64::MIN_POSITIVE
    } else {
        v.clamp(f64::MIN_POSITIVE, f64::MAX)
    }
}

pub(crate) fn draw_amount<R: Rng + ?Sized>(a: Amount, rng: &mut R) -> f64 {
    match a {
        Amount::Fixed(v) => v,
        Amount::LogUniform { lo, hi } => {
            let u: f64 = rng.random();
            (lo * (u * (hi / lo).ln()).exp()).clamp(lo, hi)
        }
    }
}

/// The total dose (cells, kept positive and finite) and the body weight it was computed
/// from, in the documented draw order.
fn draw_dose<R: Rng + ?Sized>(dose: Dose, rng: &mut R) -> (f64, Option<f64>) {
    let (cells, kg) = match dose {
        Dose::Flat(c) => (c, None),
        Dose::LogUniform { lo, hi } => (draw_amount(Amount::LogUniform { lo, hi }, rng), None),
        Dose::PerKg { cells_per_kg, weight, flat_above_kg } => {
            let z: f64 = StandardNormal.sample(rng);
            let s = sigma_of_cv(weight.cv);
            let kg = (weight.median_kg.ln() + s * z).exp().clamp(weight.min_kg, weight.max_kg);
            let per_kg = draw_amount(cells_per_kg, rng);
            let flat = flat_above_kg.map(|(limit, a)| (limit, draw_amount(a, rng)));
            let cells = match flat {
                Some((limit, flat)) if kg > limit => flat,
                _ => per_kg * kg,
            };
            (cells, Some(kg))
        }
    };
    (clamp_positive(cells), kg)
}

fn draw_fraction<R: Rng + ?Sized>(f: Fraction, beta: Option<&rand_distr::Beta<f64>>, rng: &mut R) -> f64 {
    match f {
        Fraction::Fixed(v) => v,
        Fraction::Uniform { lo, hi } => {
            let u: f64 = rng.random();
            lo + (hi - lo) * u
        }
        Fraction::Beta { a, b, lo, hi } => {
            let x = match beta {
                Some(d) => d.sample(rng),
                None => f64::NAN,
            };
            // A non-finite variate (conceivable only for extreme shapes) becomes the mean.
            let x = if x.is_finite() { x.clamp(0.0, 1.0) } else { a / (a + b) };
            (lo + (hi - lo) * x).clamp(lo, hi)
        }
    }
}

// ------------------------------------------------------------------------------------------
// Builder and validation
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Correlation {
    None,
    Cholesky(Vec<Vec<f64>>),
    Matrix(Vec<Vec<f64>>),
}

/// Builder of a [`Population`]; nothing is checked until [`PopulationBuilder::build`].
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationBuilder {
    typical: Params,
    variability: Vec<(String, f64)>,
    correlation: Correlation,
    f0: Fraction,
    escape: Option<EscapeSubclone>,
    dose: Dose,
    f_mem: Option<Fraction>,
    product: Product,
    regimen: RegimenTemplate,
    b0: f64,
    definitions: Definitions,
}

impl PopulationBuilder {
    /// Let parameter `name` (MODEL.md spelling) vary log-normally around its typical value
    /// with coefficient of variation `cv` (e.g. 0.4 for 40%). Declaration order is draw
    /// order.
    pub fn variability(mut self, name: &str, cv: f64) -> Self {
        self.variability.push((name.to_string(), cv));
        self
    }

    /// Correlate the log-normal draws by the lower-triangular Cholesky factor `l` (rows, `n x
    /// n` for `n` varied parameters in declaration order) of their correlation matrix:
    /// `z = L w`. `L L^T` must have a unit diagonal (each row of unit length within 1e-6)
    /// so that every parameter keeps its CV. Replaces an earlier correlation setting.
    pub fn correlation_cholesky(mut self, l: Vec<Vec<f64>>) -> Self {
        self.correlation = Correlation::Cholesky(l);
        self
    }

    /// Correlate the log-normal draws by their correlation matrix (symmetric, unit
    /// diagonal, positive definite; `n x n` in declaration order); its Cholesky factor is
    /// computed by `build`. Replaces an earlier correlation setting.
    pub fn correlation(mut self, matrix: Vec<Vec<f64>>) -> Self {
        self.correlation = Correlation::Matrix(matrix);
        self
    }

    /// Distribution of the marrow blast fraction `f0`.
    pub fn f0(mut self, f0: Fraction) -> Self {
        self.f0 = f0;
        self
    }

    /// The escape subclone (`None`: every patient has `CD19+CD22+` blasts only).
    pub fn escape(mut self, escape: Option<EscapeSubclone>) -> Self {
        self.escape = escape;
        self
    }

    /// Distribution of the dose.
    pub fn dose(mut self, dose: Dose) -> Self {
        self.dose = dose;
        self
    }

    /// Distribution of the memory fraction `f_mem` (default: `Fixed(typical.f_mem)`).
    pub fn f_mem(mut self, f_mem: Fraction) -> Self {
        self.f_mem = Some(f_mem);
        self
    }

    /// The product.
    pub fn product(mut self, product: Product) -> Self {
        self.product = product;
        self
    }

    /// The regimen template.
    pub fn regimen(mut self, regimen: RegimenTemplate) -> Self {
        self.regimen = regimen;
        self
    }

    /// Initial normal B cells `B_0` (cells, default 1e8).
    pub fn b0(mut self, b0: f64) -> Self {
        self.b0 = b0;
        self
    }

    /// The endpoint definitions (default: MODEL.md's).
    pub fn definitions(mut self, definitions: Definitions) -> Self {
        self.definitions = definitions;
        self
    }

    /// Validate everything and build the population.
    ///
    /// # Errors
    /// The first problem found, with a field path under `population.` (or `parameters.`):
    /// - invalid typical parameters ([`Params::validate`]);
    /// - an unknown parameter name ([`InputError::UnknownParameter`]), a name given twice,
    ///   `f_mem` (a covariate: use [`PopulationBuilder::f_mem`]), or a parameter whose domain
    ///   does not contain every positive number (`eps_T`, `c_T`, `eps_S`)
    ///   ([`InputError::Inconsistent`]);
    /// - a typical value of a varied parameter that is not finite and > 0, a CV that is not
    ///   finite and >= 0;
    /// - a correlation of the wrong size, not lower-triangular (Cholesky factor), with a
    ///   non-positive diagonal or a non-finite entry, rows not of unit length; or a
    ///   correlation matrix that is not symmetric, not unit-diagonal or not positive
    ///   definite;
    /// - a covariate distribution with a bound outside its domain or unordered bounds;
    /// - a regimen template with bad times, fractions that are not > 0 or do not sum to 1,
    ///   or bad prophylactic times; `B_0` not finite and >= 0.
    pub fn build(self) -> Result<Population, InputError> {
        self.typical.validate()?;
        // fixed quantities that become cell counts: within the patient's domain
        let field = "population.b0";
        let b0 = Domain::Pos.checked(field, self.b0)?;
        if !(b0 <= crate::patient::MAX_CELLS) {
            return Err(InputError::OutOfDomain { field: field.into(), value: b0, domain: "<= 1e30 cells" });
        }

        // variability
        let n = self.variability.len();
        let mut varied: Vec<&'static str> = Vec::with_capacity(n);
        let mut cv = Vec::with_capacity(n);
        let mut ln_typical = Vec::with_capacity(n);
        let mut sigma = Vec::with_capacity(n);
        for (name, c) in &self.variability {
            let field = format!("population.variability.{name}");
            let Some(&stat) = Params::NAMES.iter().find(|&&s| s == name.as_str()) else {
                return Err(InputError::UnknownParameter {
                    field: "population.variability".into(),
                    name: name.clone(),
                });
            };
            if varied.contains(&stat) {
                return Err(inconsistent(field, format!("{name} is given twice")));
            }
            if stat == "f_mem" {
                return Err(inconsistent(field, "f_mem is a covariate: set its distribution with f_mem(..)".into()));
            }
            let typ = self.typical.get(stat).unwrap_or(f64::NAN);
            if !(typ.is_finite() && typ > 0.0) {
                return Err(InputError::OutOfDomain {
                    field: format!("parameters.{stat}"),
                    value: typ,
                    domain: "finite and > 0 (the median of a log-normal)",
                });
            }
            for probe in [f64::MIN_POSITIVE, f64::MAX] {
                let mut p = self.typical.clone();
                if let Err(e) = p.set(stat, probe).and_then(|()| p.validate()) {
                    return Err(inconsistent(
                        field,
                        format!("log-normal variability needs a parameter whose domain contains every positive number; {name} does not ({e})"),
                    ));
                }
            }
            check_nonneg(&format!("{field}.cv"), *c)?;
            varied.push(stat);
            cv.push(*c);
            ln_typical.push(typ.ln());
            sigma.push(sigma_of_cv(*c));
        }

        let cholesky = match &self.correlation {
            Correlation::None => None,
            Correlation::Cholesky(l) => Some(check_cholesky(l, n)?),
            Correlation::Matrix(m) => Some(cholesky_of(m, n)?),
        };

        // covariates
        check_fraction("population.f0", self.f0, true)?;
        let f0_beta = beta_of(self.f0);
        if let Some(e) = &self.escape {
            if e.phenotype == Phenotype::DOUBLE_POS {
                return Err(inconsistent(
                    "population.escape.phenotype".into(),
                    "the escape phenotype must differ from CD19+CD22+ (the dominant clone)".into(),
                ));
            }
            check_unit("population.escape.probability", e.probability)?;
            check_amount("population.escape.fraction", e.fraction, Some(1.0))?;
        }
        check_dose(self.dose)?;
        let f_mem = self.f_mem.unwrap_or(Fraction::Fixed(self.typical.f_mem));
        check_fraction("population.f_mem", f_mem, false)?;
        let f_mem_beta = beta_of(f_mem);

        check_regimen(&self.regimen)?;
        check_nonneg("population.b0", self.b0)?;
        self.definitions.validate()?;

        let varied_index = varied.iter().map(|n| Params::index_of(n).unwrap_or(usize::MAX)).collect();
        Ok(Population {
            typical: self.typical,
            varied: varied.into(),
            varied_index,
            cv,
            ln_typical,
            sigma,
            cholesky,
            f0: self.f0,
            f0_beta,
            escape: self.escape,
            dose: self.dose,
            f_mem,
            f_mem_beta,
            product: self.product,
            regimen: self.regimen,
            b0: self.b0,
            definitions: self.definitions,
        })
    }
}

fn inconsistent(field: String, reason: String) -> InputError {
    InputError::Inconsistent { field, reason }
}

/// The dose distribution's bounds (used by `build` and [`Population::with_dose`]).
fn check_dose(dose: Dose) -> Result<(), InputError> {
    match dose {
        Dose::Flat(c) => check_pos("population.dose.cells", c)?,
        Dose::LogUniform { lo, hi } => check_amount("population.dose", Amount::LogUniform { lo, hi }, None)?,
        Dose::PerKg { cells_per_kg, weight, flat_above_kg } => {
            check_amount("population.dose.cells_per_kg", cells_per_kg, None)?;
            check_pos("population.dose.weight.median_kg", weight.median_kg)?;
            check_nonneg("population.dose.weight.cv", weight.cv)?;
            check_pos("population.dose.weight.min_kg", weight.min_kg)?;
            check_pos("population.dose.weight.max_kg", weight.max_kg)?;
            check_order("population.dose.weight.max_kg", weight.min_kg, weight.max_kg, false)?;
            if let Some((limit, flat)) = flat_above_kg {
                check_pos("population.dose.flat_above_kg.limit_kg", limit)?;
                check_amount("population.dose.flat_above_kg.dose", flat, None)?;
            }
        }
    }
    Ok(())
}

/// The regimen template: at least one infusion, fractions > 0 summing to 1, valid times
/// and policies (used by `build` and [`Population::with_regimen`]).
fn check_regimen(regimen: &RegimenTemplate) -> Result<(), InputError> {
    if regimen.schedule.is_empty() {
        return Err(inconsistent("population.regimen.schedule".into(), "at least one infusion is needed".into()));
    }
    let mut sum = 0.0;
    for (k, &(_, f)) in regimen.schedule.iter().enumerate() {
        check_pos(&format!("population.regimen.schedule[{k}].fraction"), f)?;
        sum += f;
    }
    if (sum - 1.0).abs() > 1e-9 {
        return Err(inconsistent(
            "population.regimen.schedule".into(),
            format!("dose fractions must sum to 1, not {sum}"),
        ));
    }
    regimen.regimen(1.0)?; // times and policies
    Ok(())
}

fn check_finite(field: &str, v: f64) -> Result<(), InputError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(InputError::NonFinite { field: field.into(), value: v })
    }
}

fn check_pos(field: &str, v: f64) -> Result<(), InputError> {
    check_finite(field, v)?;
    if v > 0.0 {
        Ok(())
    } else {
        Err(InputError::OutOfDomain { field: field.into(), value: v, domain: "> 0" })
    }
}

fn check_nonneg(field: &str, v: f64) -> Result<(), InputError> {
    check_finite(field, v)?;
    if v >= 0.0 {
        Ok(())
    } else {
        Err(InputError::OutOfDomain { field: field.into(), value: v, domain: ">= 0" })
    }
}

fn check_unit(field: &str, v: f64) -> Result<(), InputError> {
    check_finite(field, v)?;
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(InputError::OutOfDomain { field: field.into(), value: v, domain: "in [0, 1]" })
    }
}

/// `lo < hi` (strict) or `lo <= hi`; the error names `field` (the upper end).
fn check_order(field: &str, lo: f64, hi: f64, strict: bool) -> Result<(), InputError> {
    if hi > lo || (!strict && hi == lo) {
        Ok(())
    } else {
        Err(inconsistent(
            field.into(),
            format!("upper end {hi} must be {} the lower end {lo}", if strict { "above" } else { "at least" }),
        ))
    }
}

fn check_amount(field: &str, a: Amount, max: Option<f64>) -> Result<(), InputError> {
    let le_max = |f: &str, v: f64| -> Result<(), InputError> {
        match max {
            Some(m) if v > m => Err(InputError::OutOfDomain { field: f.into(), value: v, domain: "in (0, 1]" }),
            _ => Ok(()),
        }
    };
    match a {
        Amount::Fixed(v) => {
            let f = format!("{field}.value");
            check_pos(&f, v)?;
            le_max(&f, v)
        }
        Amount::LogUniform { lo, hi } => {
            let (flo, fhi) = (format!("{field}.lo"), format!("{field}.hi"));
            check_pos(&flo, lo)?;
            check_pos(&fhi, hi)?;
            le_max(&flo, lo)?;
            le_max(&fhi, hi)?;
            check_order(&fhi, lo, hi, false)
        }
    }
}

/// `f0` (`half_open`: a fixed value must be < 1) or `f_mem`.
fn check_fraction(field: &str, f: Fraction, half_open: bool) -> Result<(), InputError> {
    let range = |lo: f64, hi: f64| -> Result<(), InputError> {
        let (flo, fhi) = (format!("{field}.lo"), format!("{field}.hi"));
        check_unit(&flo, lo)?;
        check_unit(&fhi, hi)?;
        check_order(&fhi, lo, hi, true)
    };
    match f {
        Fraction::Fixed(v) => {
            let fv = format!("{field}.value");
            check_unit(&fv, v)?;
            if half_open && v >= 1.0 {
                return Err(InputError::OutOfDomain { field: fv, value: v, domain: "in [0, 1)" });
            }
            Ok(())
        }
        Fraction::Uniform { lo, hi } => range(lo, hi),
        Fraction::Beta { a, b, lo, hi } => {
            check_pos(&format!("{field}.a"), a)?;
            check_pos(&format!("{field}.b"), b)?;
            range(lo, hi)
        }
    }
}

fn beta_of(f: Fraction) -> Option<rand_distr::Beta<f64>> {
    match f {
        Fraction::Beta { a, b, .. } => rand_distr::Beta::new(a, b).ok(),
        _ => None,
    }
}

fn check_square(field: &str, m: &[Vec<f64>], n: usize) -> Result<(), InputError> {
    if m.len() != n {
        return Err(inconsistent(
            field.into(),
            format!("has {} rows, but {n} parameters vary (it must be {n} x {n})", m.len()),
        ));
    }
    for (i, row) in m.iter().enumerate() {
        if row.len() != n {
            return Err(inconsistent(
                format!("{field}[{i}]"),
                format!("row {i} has {} entries; the matrix must be square ({n} x {n})", row.len()),
            ));
        }
        for (j, &v) in row.iter().enumerate() {
            check_finite(&format!("{field}[{i}][{j}]"), v)?;
        }
    }
    Ok(())
}

fn check_cholesky(l: &[Vec<f64>], n: usize) -> Result<Vec<f64>, InputError> {
    let field = "population.correlation_cholesky";
    check_square(field, l, n)?;
    let mut flat = vec![0.0; n * n];
    for (i, row) in l.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if j > i && v != 0.0 {
                return Err(inconsistent(
                    format!("{field}[{i}][{j}]"),
                    format!("a Cholesky factor is lower-triangular: entry above the diagonal is {v}, not 0"),
                ));
            }
            flat[i * n + j] = v;
        }
        if row[i] <= 0.0 {
            // (entries are finite: checked by check_square)
            return Err(InputError::OutOfDomain { field: format!("{field}[{i}][{i}]"), value: row[i], domain: "> 0" });
        }
        let norm2: f64 = row.iter().map(|v| v * v).sum();
        if (norm2 - 1.0).abs() > UNIT_ROW_TOL {
            return Err(inconsistent(
                format!("{field}[{i}]"),
                format!(
                    "row {i} has squared length {norm2}; L L^T must have a unit diagonal (a correlation matrix) so that each parameter keeps its CV"
                ),
            ));
        }
    }
    Ok(flat)
}

fn cholesky_of(m: &[Vec<f64>], n: usize) -> Result<Vec<f64>, InputError> {
    let field = "population.correlation";
    check_square(field, m, n)?;
    for (i, row) in m.iter().enumerate() {
        if (row[i] - 1.0).abs() > 1e-12 {
            return Err(inconsistent(
                format!("{field}[{i}][{i}]"),
                format!("a correlation matrix has 1 on the diagonal, not {}", row[i]),
            ));
        }
        for (j, &v) in row.iter().enumerate().take(i) {
            if (v - m[j][i]).abs() > 1e-12 {
                return Err(inconsistent(
                    format!("{field}[{i}][{j}]"),
                    format!("not symmetric: {v} against {} at [{j}][{i}]", m[j][i]),
                ));
            }
        }
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = m[i][i] - s;
                if d <= 1e-12 {
                    return Err(inconsistent(field.into(), format!("not positive definite (pivot {i} is {d})")));
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (m[i][j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<Population, InputError>) -> String {
        r.unwrap_err().field().to_string()
    }

    #[test]
    fn default_builder_samples_the_s1_patient() {
        let pop = Population::builder(Params::nominal()).build().unwrap();
        let p = pop.sample_patient(1, 2);
        let s1 = Scenario::nominal();
        assert_eq!(&p.params, s1.params());
        assert_eq!(p.regimen, *s1.regimen());
        assert_eq!(p.product, *s1.product());
        let (a, b) = (p.patient.blasts(), s1.patient().blasts());
        for k in 0..4 {
            assert!((a[k] - b[k]).abs() <= 1e-12 * b[k].max(1.0), "{a:?} vs {b:?}");
        }
        assert!(p.sampled_parameters().is_empty());
        assert!(p.scenario(365.0).is_ok());
        assert!(p.scenario(10.0).is_err());
    }

    #[test]
    fn bad_variability_is_a_typed_error() {
        let b = || Population::builder(Params::nominal());
        assert!(matches!(b().variability("rho_X", 0.3).build(), Err(InputError::UnknownParameter { .. })));
        assert_eq!(field_of(b().variability("rho_E", -0.1).build()), "population.variability.rho_E.cv");
        assert_eq!(field_of(b().variability("rho_E", f64::NAN).build()), "population.variability.rho_E.cv");
        assert_eq!(
            field_of(b().variability("rho_E", 0.1).variability("rho_E", 0.2).build()),
            "population.variability.rho_E"
        );
        for bounded in ["f_mem", "eps_T", "c_T", "eps_S"] {
            let e = b().variability(bounded, 0.1).build().unwrap_err();
            assert_eq!(e.field(), format!("population.variability.{bounded}"), "{e}");
        }
        // a typical value of 0 or infinity is not the median of a log-normal
        let mut p = Params::nominal();
        p.k_x = 0.0;
        assert_eq!(field_of(Population::builder(p).variability("k_X", 0.1).build()), "parameters.k_X");
        let mut p = Params::nominal();
        p.k_c = f64::INFINITY;
        assert_eq!(field_of(Population::builder(p).variability("K_C", 0.1).build()), "parameters.K_C");
        // policy numbers and endpoint definitions are not parameters of the model
        for moved in ["theta_toci", "n_toci", "mrd_threshold", "theta_1", "tau_T"] {
            assert!(b().variability(moved, 0.1).build().is_err(), "{moved}");
        }
        // K_C (finite), H may vary
        assert!(b().variability("K_C", 0.3).variability("H", 0.2).build().is_ok());
    }

    #[test]
    fn bad_correlation_is_a_typed_error() {
        let b = || Population::builder(Params::nominal()).variability("rho_E", 0.4).variability("k_kill", 0.4);
        let good = vec![vec![1.0, 0.0], vec![0.8, 0.6]];
        assert!(b().correlation_cholesky(good.clone()).build().is_ok());
        assert_eq!(field_of(b().correlation_cholesky(vec![vec![1.0, 0.0]]).build()), "population.correlation_cholesky");
        assert_eq!(
            field_of(b().correlation_cholesky(vec![vec![1.0], vec![0.8, 0.6]]).build()),
            "population.correlation_cholesky[0]"
        );
        assert_eq!(
            field_of(b().correlation_cholesky(vec![vec![1.0, 0.0], vec![0.8, f64::NAN]]).build()),
            "population.correlation_cholesky[1][1]"
        );
        assert_eq!(
            field_of(b().correlation_cholesky(vec![vec![1.0, 0.0], vec![0.8, -0.6]]).build()),
            "population.correlation_cholesky[1][1]"
        );
        assert_eq!(
            field_of(b().correlation_cholesky(vec![vec![0.6, 0.8], vec![0.8, 0.6]]).build()),
            "population.correlation_cholesky[0][1]"
        );
        assert_eq!(
            field_of(b().correlation_cholesky(vec![vec![1.0, 0.0], vec![0.8, 0.8]]).build()),
            "population.correlation_cholesky[1]"
        );
        // the matrix form gives the same factor
        let pop = b().correlation(vec![vec![1.0, 0.8], vec![0.8, 1.0]]).build().unwrap();
        let l = pop.correlation_cholesky().unwrap();
        assert_eq!(l[0], 1.0);
        assert_eq!(l[1], 0.0);
        assert!((l[2] - 0.8).abs() < 1e-15 && (l[3] - 0.6).abs() < 1e-15, "{l:?}");
        assert!(b().correlation(vec![vec![1.0, 1.0], vec![1.0, 1.0]]).build().is_err());
        assert!(b().correlation(vec![vec![1.0, 0.5], vec![0.4, 1.0]]).build().is_err());
        assert!(b().correlation(vec![vec![2.0, 0.0], vec![0.0, 1.0]]).build().is_err());
    }

    #[test]
    fn bad_covariates_are_typed_errors() {
        let b = || Population::builder(Params::nominal());
        assert_eq!(field_of(b().f0(Fraction::Fixed(1.0)).build()), "population.f0.value");
        assert_eq!(field_of(b().f0(Fraction::Uniform { lo: 0.5, hi: 0.5 }).build()), "population.f0.hi");
        assert_eq!(field_of(b().f0(Fraction::Uniform { lo: -0.1, hi: 0.5 }).build()), "population.f0.lo");
        assert_eq!(field_of(b().f0(Fraction::Beta { a: 0.0, b: 1.0, lo: 0.0, hi: 1.0 }).build()), "population.f0.a");
        assert!(b().f0(Fraction::Uniform { lo: 0.0, hi: 1.0 }).build().is_ok());
        assert_eq!(field_of(b().f_mem(Fraction::Fixed(1.5)).build()), "population.f_mem.value");
        assert!(b().f_mem(Fraction::Fixed(1.0)).build().is_ok());
        let esc =
            |probability, fraction| Some(EscapeSubclone { phenotype: Phenotype::CD19_NEG, probability, fraction });
        assert_eq!(field_of(b().escape(esc(1.5, Amount::Fixed(0.1))).build()), "population.escape.probability");
        assert_eq!(field_of(b().escape(esc(0.5, Amount::Fixed(1.5))).build()), "population.escape.fraction.value");
        assert_eq!(
            field_of(b().escape(esc(0.5, Amount::LogUniform { lo: 1e-3, hi: 1e-7 })).build()),
            "population.escape.fraction.hi"
        );
        assert_eq!(
            field_of(
                b().escape(Some(EscapeSubclone {
                    phenotype: Phenotype::DOUBLE_POS,
                    probability: 0.5,
                    fraction: Amount::Fixed(0.1)
                }))
                .build()
            ),
            "population.escape.phenotype"
        );
        assert_eq!(field_of(b().dose(Dose::Flat(0.0)).build()), "population.dose.cells");
        assert_eq!(field_of(b().dose(Dose::LogUniform { lo: 0.0, hi: 1e8 }).build()), "population.dose.lo");
        let w = BodyWeight { median_kg: 30.0, cv: 0.5, min_kg: 10.0, max_kg: 5.0 };
        assert_eq!(
            field_of(
                b().dose(Dose::PerKg { cells_per_kg: Amount::Fixed(1e6), weight: w, flat_above_kg: None }).build()
            ),
            "population.dose.weight.max_kg"
        );
        assert_eq!(field_of(b().b0(f64::INFINITY).build()), "population.b0");
        let bad_split = RegimenTemplate { schedule: vec![(0.0, 0.5), (1.0, 0.4)], ..RegimenTemplate::default() };
        assert_eq!(field_of(b().regimen(bad_split).build()), "population.regimen.schedule");
        let unordered = RegimenTemplate { schedule: vec![(1.0, 0.5), (0.0, 0.5)], ..RegimenTemplate::default() };
        assert!(b().regimen(unordered).build().is_err());
    }

    #[test]
    fn per_kg_dosing_with_a_flat_dose_above_50_kg() {
        let pop = Population::builder(Params::nominal())
            .dose(Dose::PerKg {
                cells_per_kg: Amount::LogUniform { lo: 2e5, hi: 5e6 },
                weight: BodyWeight { median_kg: 40.0, cv: 0.6, min_kg: 8.0, max_kg: 120.0 },
                flat_above_kg: Some((50.0, Amount::LogUniform { lo: 1e7, hi: 2.5e8 })),
            })
            .build()
            .unwrap();
        let (mut light, mut heavy) = (0, 0);
        for p in pop.patients(3).take(2000) {
            let kg = p.covariates.weight_kg.unwrap();
            assert_eq!(p.patient.weight_kg(), Some(kg));
            assert!((8.0..=120.0).contains(&kg));
            let d = p.covariates.dose_cells;
            assert_eq!(p.regimen.total_cells(), d);
            if kg > 50.0 {
                heavy += 1;
                assert!((1e7..=2.5e8).contains(&d));
            } else {
                light += 1;
                assert!(d >= 2e5 * kg * (1.0 - 1e-12) && d <= 5e6 * kg * (1.0 + 1e-12));
            }
        }
        assert!(light > 500 && heavy > 500, "{light} {heavy}");
    }

    #[test]
    fn split_template_splits_the_sampled_dose() {
        let t = RegimenTemplate { schedule: vec![(0.0, 0.1), (1.0, 0.3), (2.0, 0.6)], ..RegimenTemplate::default() };
        let pop = Population::reference_200().clone();
        let pop = Population { regimen: t, ..pop };
        let p = pop.sample_patient(9, 9);
        let inf = p.regimen.infusions();
        assert_eq!(inf.len(), 3);
        assert_eq!(inf[2].t, 2.0);
        assert!((p.regimen.total_cells() - p.covariates.dose_cells).abs() <= 1e-9 * p.covariates.dose_cells);
    }
}
