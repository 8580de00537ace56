//! A complete single-patient problem of the reference model ([`Scenario`]).

use crate::endpoints::Definitions;
use crate::error::{Domain, InputError};
use crate::model::{Params, Phenotype};
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
    definitions: Definitions,
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
        if !(28.0..=crate::solve::MAX_HORIZON_DAYS).contains(&horizon) {
            return Err(InputError::OutOfDomain {
                field: "horizon".into(),
                value: horizon,
                domain: ">= 28 (endpoints are read at day 28) and <= 36525 (100 years)",
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
        Ok(Self { name: name.into(), params, patient, product, regimen, horizon, definitions: Definitions::default() })
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
    /// Endpoint definitions.
    pub fn definitions(&self) -> &Definitions {
        &self.definitions
    }

    /// The same scenario with other endpoint definitions (validated; the assessment day must
    /// lie within the horizon).
    ///
    /// # Errors
    /// As [`Definitions::validate`], or an assessment day beyond the horizon.
    pub fn with_definitions(mut self, definitions: Definitions) -> Result<Self, InputError> {
        definitions.validate()?;
        if definitions.assessment_day > self.horizon {
            return Err(InputError::Inconsistent {
                field: "endpoints.assessment_day".into(),
                reason: format!("day {} is beyond the horizon {}", definitions.assessment_day, self.horizon),
            });
        }
        self.definitions = definitions;
        Ok(self)
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
        let mut d = Definitions::default();
        d.crs_thresholds[1] = 20.0;
        assert_eq!(s.clone().with_definitions(d).unwrap_err().field(), "endpoints.crs_thresholds[1]");
        let rules = crate::PolicyRules { toci_window_days: -3.0, ..Default::default() };
        assert_eq!(s.regimen().clone().with_rules(rules).unwrap_err().field(), "parameters.tau_T");
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
            ("k_I", 0.0),
        ] {
            let e = p.set(name, bad).unwrap_err();
            assert_eq!(e.field(), format!("parameters.{name}"), "{name} = {bad}");
        }
        assert!(p.set("K_C", f64::INFINITY).is_ok(), "no capacity is valid");
        assert!(p.set("k_X", 0.0).is_ok(), "zero switches parts off");
        assert!(p.set("bogus", 1.0).is_err());
        // policy numbers and endpoint definitions are not model parameters
        assert!(p.set("theta_toci", 100.0).is_err());
        assert!(p.set("mrd_threshold", 1e-4).is_err());
        use crate::solve::SolverConfig;
        assert!(SolverConfig::with_rtol(0.0).is_err());
        assert!(SolverConfig::with_rtol(1.0).is_err());
        assert!(SolverConfig::with_rtol(f64::NAN).is_err());
        let c = SolverConfig::with_rtol(1e-9).unwrap();
        assert_eq!(c.atol(), 1e-9, "rtol alone scales atol");
    }
}
