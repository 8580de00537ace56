//! A complete single-patient problem ([`Scenario`]) and the solver settings
//! ([`SolverConfig`]).

use crate::error::{Domain, InputError};
use crate::model::{Params, Phenotype};
use crate::ode::Method;
use crate::patient::Patient;
use crate::regimen::{Infusion, Product, Regimen, SteroidPolicy, TociPolicy};
use serde::Serialize;

/// Everything needed to simulate one patient: parameters, patient, product, regimen and
/// horizon, validated together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    name: String,
    params: Params,
    patient: Patient,
    product: Product,
    regimen: Regimen,
    horizon: f64,
}

impl Scenario {
    /// Validate and build a scenario.
    ///
    /// # Errors
    /// Any parameter outside its domain (MODEL.md section 6), unordered CRS thresholds, a
    /// horizon that is not finite or is shorter than the day-28 endpoint day, or a scheduled
    /// time (infusion, prophylactic dose) beyond the horizon.
    pub fn new(
        name: impl Into<String>,
        params: Params,
        patient: Patient,
        product: Product,
        regimen: Regimen,
        horizon: f64,
    ) -> Result<Self, InputError> {
        params.validate()?;
        Domain::Pos.check("horizon", horizon)?;
        if horizon < 28.0 {
            return Err(InputError::OutOfDomain {
                field: "horizon".into(),
                value: horizon,
                domain: ">= 28 (endpoints are read at day 28)",
            });
        }
        if let Some((field, t)) = regimen.last_scheduled() {
            if t > horizon {
                return Err(InputError::Inconsistent {
                    field,
                    reason: format!("time {t} is beyond the horizon {horizon}"),
                });
            }
        }
        Ok(Self { name: name.into(), params, patient, product, regimen, horizon })
    }

    /// The nominal scenario S1: REF-1, the nominal patient (f0 = 0.5), a CD19 product of 1e8
    /// cells at day 0, lymphodepletion, reactive tocilizumab and steroids, 365 days.
    pub fn nominal() -> Self {
        Self::new(
            "S1_nominal",
            Params::nominal(),
            Patient::nominal(),
            Product::cd19(),
            Regimen::single_dose(1e8).expect("valid"),
            365.0,
        )
        .expect("the nominal scenario is valid")
    }

    /// The minimal model of MODEL.md section 7 as a scenario of the reference model:
    /// L = 1e11 CD19+ (`CD19+CD22-`) and 1e4 CD19- (`CD19-CD22-`) blasts, E = 1e8 at day 0,
    /// no lymphodepletion, policies `none`.
    pub fn minimal() -> Self {
        let mut l = [0.0; 4];
        l[Phenotype::CD22_NEG.index()] = 1e11;
        l[Phenotype::DOUBLE_NEG.index()] = 1e4;
        Self::new(
            "MIN_nominal",
            Params::minimal(),
            Patient::from_counts(l, 1e8).expect("valid"),
            Product::cd19(),
            Regimen::new(vec![Infusion { t: 0.0, cells: 1e8 }], false, TociPolicy::None, SteroidPolicy::None)
                .expect("valid"),
            365.0,
        )
        .expect("the minimal scenario is valid")
    }

    /// Scenario name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Patient.
    pub fn patient(&self) -> &Patient {
        &self.patient
    }
    /// Product.
    pub fn product(&self) -> &Product {
        &self.product
    }
    /// Regimen.
    pub fn regimen(&self) -> &Regimen {
        &self.regimen
    }
    /// Horizon (days).
    pub fn horizon(&self) -> f64 {
        self.horizon
    }

    /// The same scenario with another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same scenario with other parameters (validated).
    ///
    /// # Errors
    /// As [`Scenario::new`].
    pub fn with_params(self, params: Params) -> Result<Self, InputError> {
        Self::new(self.name, params, self.patient, self.product, self.regimen, self.horizon)
    }

    /// The same scenario with another patient.
    pub fn with_patient(mut self, patient: Patient) -> Self {
        self.patient = patient;
        self
    }

    /// The same scenario with another product.
    pub fn with_product(mut self, product: Product) -> Self {
        self.product = product;
        self
    }

    /// The same scenario with another regimen (validated against the horizon).
    ///
    /// # Errors
    /// As [`Scenario::new`].
    pub fn with_regimen(self, regimen: Regimen) -> Result<Self, InputError> {
        Self::new(self.name, self.params, self.patient, self.product, regimen, self.horizon)
    }

    /// The same scenario with another horizon (validated).
    ///
    /// # Errors
    /// As [`Scenario::new`].
    pub fn with_horizon(self, horizon: f64) -> Result<Self, InputError> {
        Self::new(self.name, self.params, self.patient, self.product, self.regimen, horizon)
    }
}

/// Scales of the absolute tolerance: `atol_i = atol_factor x scale_i` (MODEL.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtolScales {
    /// Cell states E, M, X, B and the AUC (default 1e8 cells).
    pub cells: f64,
    /// `ln L_j` (default 1: relative accuracy on blasts).
    pub ln_blasts: f64,
    /// G and I (default 5 pg/mL, the baseline).
    pub cytokines: f64,
}

impl Default for AtolScales {
    fn default() -> Self {
        Self { cells: 1e8, ln_blasts: 1.0, cytokines: 5.0 }
    }
}

/// Solver settings. The default is MODEL.md's default tolerance: rtol 1e-6 and
/// `atol_i = 1e-6 x scale_i`. Setting rtol alone ([`SolverConfig::with_rtol`]) scales atol
/// with it, so "rtol 1e-9" means both.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SolverConfig {
    rtol: f64,
    atol_factor: Option<f64>,
    scales: AtolScales,
    max_steps: u64,
    h_max: f64,
    method: Method,
}

impl Default for SolverConfig {
    fn default() -> Self {
        Self {
            rtol: 1e-6,
            atol_factor: None,
            scales: AtolScales::default(),
            max_steps: 1_000_000,
            h_max: f64::INFINITY,
            method: Method::Dopri5Exp,
        }
    }
}

impl SolverConfig {
    /// Default settings with relative tolerance `rtol` (and atol scaled with it).
    ///
    /// # Errors
    /// `rtol` not in (0, 1).
    pub fn with_rtol(rtol: f64) -> Result<Self, InputError> {
        Domain::OpenUnit.check("solver.rtol", rtol)?;
        Ok(Self { rtol, ..Self::default() })
    }

    /// Set the atol factor separately from rtol (`atol_i = factor x scale_i`).
    ///
    /// # Errors
    /// `factor` not in (0, 1).
    pub fn atol_factor(mut self, factor: f64) -> Result<Self, InputError> {
        Domain::OpenUnit.check("solver.atol", factor)?;
        self.atol_factor = Some(factor);
        Ok(self)
    }

    /// Set the atol scales.
    ///
    /// # Errors
    /// A scale that is not finite and > 0.
    pub fn scales(mut self, scales: AtolScales) -> Result<Self, InputError> {
        Domain::Pos.check("solver.scales.cells", scales.cells)?;
        Domain::Pos.check("solver.scales.ln_blasts", scales.ln_blasts)?;
        Domain::Pos.check("solver.scales.cytokines", scales.cytokines)?;
        self.scales = scales;
        Ok(self)
    }

    /// Set the step limit per solve (accepted + rejected steps).
    ///
    /// # Errors
    /// Zero.
    pub fn max_steps(mut self, n: u64) -> Result<Self, InputError> {
        if n == 0 {
            return Err(InputError::OutOfDomain { field: "solver.max_steps".into(), value: 0.0, domain: ">= 1" });
        }
        self.max_steps = n;
        Ok(self)
    }

    /// Set the largest step (days).
    ///
    /// # Errors
    /// Not > 0.
    pub fn h_max(mut self, h: f64) -> Result<Self, InputError> {
        if !(h > 0.0) {
            return Err(InputError::OutOfDomain { field: "solver.h_max".into(), value: h, domain: "> 0" });
        }
        self.h_max = h;
        Ok(self)
    }

    /// Set the method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Relative tolerance.
    pub fn rtol(&self) -> f64 {
        self.rtol
    }
    /// The atol factor (`rtol` unless set).
    pub fn atol(&self) -> f64 {
        self.atol_factor.unwrap_or(self.rtol)
    }
    /// The atol scales.
    pub fn atol_scales(&self) -> AtolScales {
        self.scales
    }
    /// Step limit.
    pub fn step_limit(&self) -> u64 {
        self.max_steps
    }
    /// Largest step.
    pub fn max_step(&self) -> f64 {
        self.h_max
    }
    /// Method.
    pub fn method_used(&self) -> Method {
        self.method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_validation() {
        let s = Scenario::nominal();
        assert!(s.clone().with_horizon(0.0).is_err());
        assert!(s.clone().with_horizon(f64::NAN).is_err());
        assert!(s.clone().with_horizon(-5.0).is_err());
        let late = Regimen::new(
            vec![Infusion { t: 0.0, cells: 1e8 }, Infusion { t: 400.0, cells: 1e7 }],
            true,
            TociPolicy::Reactive,
            SteroidPolicy::Reactive,
        )
        .unwrap();
        assert_eq!(s.clone().with_regimen(late).unwrap_err().field(), "product.schedule[1].t");
        let mut p = Params::nominal();
        p.theta_2 = 20.0;
        assert_eq!(s.clone().with_params(p).unwrap_err().field(), "parameters.theta_2");
        let mut p = Params::nominal();
        p.k_i = 0.0;
        assert_eq!(s.with_params(p).unwrap_err().field(), "parameters.k_I");
    }

    #[test]
    fn params_domains() {
        let mut p = Params::nominal();
        assert!(p.validate().is_ok());
        assert!(Params::minimal().validate().is_ok());
        for (name, bad) in [
            ("rho_E", -1.0),
            ("rho_E", f64::NAN),
            ("K_A", 0.0),
            ("K_C", 0.0),
            ("K_C", f64::NEG_INFINITY),
            ("f_mem", 1.5),
            ("eps_T", -0.1),
            ("mrd_threshold", 1.0),
            ("tau_T", -3.0),
            ("k_I", 0.0),
            ("n_toci", 1.5),
            ("theta_1", f64::INFINITY),
        ] {
            let e = p.set(name, bad).unwrap_err();
            assert_eq!(e.field(), format!("parameters.{name}"), "{name} = {bad}");
        }
        assert!(p.set("K_C", f64::INFINITY).is_ok(), "no capacity is valid");
        assert!(p.set("k_X", 0.0).is_ok(), "zero switches parts off");
        assert!(p.set("bogus", 1.0).is_err());
        assert!(SolverConfig::with_rtol(0.0).is_err());
        assert!(SolverConfig::with_rtol(1.0).is_err());
        assert!(SolverConfig::with_rtol(f64::NAN).is_err());
        let c = SolverConfig::with_rtol(1e-9).unwrap();
        assert_eq!(c.atol(), 1e-9, "rtol alone scales atol");
    }
}
