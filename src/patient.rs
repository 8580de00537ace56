//! A patient: the state at t = 0 before the day-0 infusion (MODEL.md section 6).

use crate::error::{Domain, InputError};
use crate::model::Phenotype;
use serde::Serialize;

/// Initial state of one patient, before the day-0 infusion.
///
/// Blasts are given per phenotype (cells; 0 = absent), either directly
/// ([`Patient::from_counts`]) or from the marrow blast fraction `f0`
/// ([`Patient::from_marrow`]: `L_tot(0) = H f0 / (1 - f0)`, split by phenotype fractions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patient {
    /// Blasts per phenotype in canonical order (cells).
    blasts: [f64; 4],
    /// Normal B cells `B_0` (cells).
    b0: f64,
    /// CAR-T cells present before the day-0 infusion: effector, memory, exhausted (cells).
    car_t: [f64; 3],
    /// IFN-gamma and IL-6 at t = 0 (pg/mL).
    cytokines: [f64; 2],
    /// Body weight (kg), for per-kg dosing; informational for the model.
    weight_kg: Option<f64>,
}

/// The largest cell count a patient may start with (1e30 cells): far above any body (about
/// 3e13 cells), it keeps sums and logarithms of counts finite.
pub const MAX_CELLS: f64 = 1e30;

fn at_most_max_cells(field: impl std::fmt::Display, v: f64) -> Result<(), InputError> {
    if v <= MAX_CELLS {
        Ok(())
    } else {
        Err(InputError::OutOfDomain { field: field.to_string(), value: v, domain: "<= 1e30 cells" })
    }
}

impl Patient {
    /// A patient with blasts given per phenotype (cells), B cells `b0`, no CAR-T cells yet and
    /// cytokines at the REF-1 baselines (5 pg/mL).
    ///
    /// # Errors
    /// A negative, non-finite or larger than [`MAX_CELLS`] count (`initial_state.L.<phenotype>`,
    /// `initial_state.B`).
    pub fn from_counts(blasts: [f64; 4], b0: f64) -> Result<Self, InputError> {
        for p in Phenotype::ALL {
            Domain::NonNeg.check(format_args!("initial_state.L.{}", p.name()), blasts[p.index()])?;
            at_most_max_cells(format_args!("initial_state.L.{}", p.name()), blasts[p.index()])?;
        }
        Domain::NonNeg.check("initial_state.B", b0)?;
        at_most_max_cells("initial_state.B", b0)?;
        Ok(Self { blasts, b0, car_t: [0.0; 3], cytokines: [5.0, 5.0], weight_kg: None })
    }

    /// A patient from the marrow blast fraction `f0` in [0, 1): `L_tot(0) = h f0 / (1 - f0)`
    /// (`h` = normal marrow cells, REF-1 5e11), split over phenotypes by `fractions`
    /// (each in [0, 1], summing to 1 within 1e-9).
    ///
    /// # Errors
    /// `f0` outside [0, 1), a bad fraction, fractions not summing to 1, `h` or `b0` invalid.
    pub fn from_marrow(f0: f64, fractions: &[(Phenotype, f64)], h: f64, b0: f64) -> Result<Self, InputError> {
        Domain::HalfOpenUnit.check("patient.f0", f0)?;
        Domain::Pos.check("parameters.H", h)?;
        let mut sum = 0.0;
        let mut blasts = [0.0; 4];
        let l_tot = h * f0 / (1.0 - f0);
        for &(p, f) in fractions {
            Domain::Unit.check(format!("patient.phenotype_fractions.{}", p.name()), f)?;
            sum += f;
            blasts[p.index()] += f * l_tot;
        }
        if (sum - 1.0).abs() > 1e-9 {
            return Err(InputError::Inconsistent {
                field: "patient.phenotype_fractions".into(),
                reason: format!("fractions must sum to 1, not {sum}"),
            });
        }
        Self::from_counts(blasts, b0)
    }

    /// The S1 patient: f0 = 0.5, CD19+CD22+ (1 - 1e-5) and CD19-CD22+ (1e-5), B0 = 1e8.
    pub fn nominal() -> Self {
        Self::from_marrow(0.5, &[(Phenotype::DOUBLE_POS, 1.0 - 1e-5), (Phenotype::CD19_NEG, 1e-5)], 5e11, 1e8)
            .expect("nominal patient is valid")
    }

    /// Set the CAR-T cells present before the day-0 infusion (effector, memory, exhausted).
    ///
    /// # Errors
    /// A negative or non-finite count.
    pub fn with_car_t(mut self, e: f64, m: f64, x: f64) -> Result<Self, InputError> {
        for (n, v) in [("initial_state.E", e), ("initial_state.M", m), ("initial_state.X", x)] {
            Domain::NonNeg.check(n, v)?;
        }
        self.car_t = [e, m, x];
        Ok(self)
    }

    /// Set IFN-gamma and IL-6 at t = 0 (pg/mL).
    ///
    /// # Errors
    /// A negative or non-finite value.
    pub fn with_cytokines(mut self, g: f64, i: f64) -> Result<Self, InputError> {
        Domain::NonNeg.check("initial_state.G", g)?;
        Domain::NonNeg.check("initial_state.I", i)?;
        self.cytokines = [g, i];
        Ok(self)
    }

    /// Set the body weight (kg).
    ///
    /// # Errors
    /// A weight that is not finite and > 0.
    pub fn with_weight(mut self, kg: f64) -> Result<Self, InputError> {
        Domain::Pos.check("patient.weight_kg", kg)?;
        self.weight_kg = Some(kg);
        Ok(self)
    }

    /// Blasts per phenotype at t = 0 (cells).
    pub fn blasts(&self) -> [f64; 4] {
        self.blasts
    }

    /// Total blasts at t = 0.
    pub fn l_tot(&self) -> f64 {
        self.blasts.iter().sum()
    }

    /// B cells at t = 0.
    pub fn b0(&self) -> f64 {
        self.b0
    }

    /// CAR-T cells before the day-0 infusion `[E, M, X]`.
    pub fn car_t(&self) -> [f64; 3] {
        self.car_t
    }

    /// `[G, I]` at t = 0 (pg/mL).
    pub fn cytokines(&self) -> [f64; 2] {
        self.cytokines
    }

    /// Body weight, if given.
    pub fn weight_kg(&self) -> Option<f64> {
        self.weight_kg
    }

    /// Marrow blast fraction at t = 0 for normal marrow `h`.
    pub fn f0(&self, h: f64) -> f64 {
        let l = self.l_tot();
        l / (l + h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marrow_fraction_gives_blast_counts() {
        let p = Patient::nominal();
        assert!((p.l_tot() - 5e11).abs() <= 1e-3, "f0 = 0.5 and H = 5e11 give L_tot = 5e11");
        assert!((p.blasts()[1] - 5e6).abs() < 1e-6);
        assert!((p.f0(5e11) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn bad_patients_are_typed_errors() {
        let one = [(Phenotype::DOUBLE_POS, 1.0)];
        assert_eq!(Patient::from_marrow(1.0, &one, 5e11, 1e8).unwrap_err().field(), "patient.f0");
        assert!(Patient::from_marrow(-0.1, &one, 5e11, 1e8).is_err());
        assert!(Patient::from_marrow(f64::NAN, &one, 5e11, 1e8).is_err());
        assert_eq!(
            Patient::from_marrow(0.5, &[(Phenotype::DOUBLE_POS, 0.5)], 5e11, 1e8).unwrap_err().field(),
            "patient.phenotype_fractions"
        );
        assert!(Patient::from_counts([-1.0, 0.0, 0.0, 0.0], 1e8).is_err());
        assert!(Patient::from_counts([0.0; 4], -1.0).is_err());
        // no blasts at all is a valid patient
        assert!(Patient::from_counts([0.0; 4], 1e8).is_ok());
    }
}
