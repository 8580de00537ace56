//! Typed errors, in layers: bad input ([`InputError`]), bad scenario files
//! ([`ScenarioError`]) and failed solves ([`SolveError`]), all wrapped by [`Error`].
//!
//! Every variant carries the data needed to act on it: the field path (as the scenario
//! file spells it, e.g. `parameters.k_I` or `product.schedule[1].cells`) and the bad value.

use std::fmt;

/// An input value that is not allowed. Raised by every validated constructor and by the
/// scenario loader; the message names the field and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A value that must be a finite number is NaN or infinite.
    #[error("{field} = {value}: not a finite number")]
    NonFinite {
        /// Field path, e.g. `parameters.rho_E`.
        field: String,
        /// The offending value.
        value: f64,
    },
    /// A number outside its domain (MODEL.md section 6).
    #[error("{field} = {value}: must be {domain}")]
    OutOfDomain {
        /// Field path.
        field: String,
        /// The offending value.
        value: f64,
        /// The domain in words, e.g. `> 0` or `in [0, 1]`.
        domain: &'static str,
    },
    /// Values that are each valid but do not fit together (unordered thresholds, fractions
    /// that do not sum to 1, infusions out of order, ...).
    #[error("{field}: {reason}")]
    Inconsistent {
        /// Field path.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An antigen other than CD19 and CD22.
    #[error("{field}: unknown antigen {name:?} (expected \"CD19\" or \"CD22\")")]
    UnknownAntigen {
        /// Field path.
        field: String,
        /// The name given.
        name: String,
    },
    /// A phenotype name other than the four of MODEL.md section 1.
    #[error("{field}: unknown phenotype {name:?} (expected CD19+CD22+, CD19-CD22+, CD19+CD22- or CD19-CD22-)")]
    UnknownPhenotype {
        /// Field path.
        field: String,
        /// The name given.
        name: String,
    },
    /// A parameter name that the model does not have.
    #[error("{field}: unknown parameter {name:?}")]
    UnknownParameter {
        /// Field path.
        field: String,
        /// The name given.
        name: String,
    },
}

impl InputError {
    /// The field path the error is about.
    pub fn field(&self) -> &str {
        match self {
            InputError::NonFinite { field, .. }
            | InputError::OutOfDomain { field, .. }
            | InputError::Inconsistent { field, .. }
            | InputError::UnknownAntigen { field, .. }
            | InputError::UnknownPhenotype { field, .. }
            | InputError::UnknownParameter { field, .. } => field,
        }
    }
}

/// Domain of a scalar input (MODEL.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Domain {
    /// Strictly positive, finite.
    Pos,
    /// Non-negative, finite.
    NonNeg,
    /// In [0, 1].
    Unit,
    /// In (0, 1).
    OpenUnit,
    /// In [0, 1).
    HalfOpenUnit,
    /// Strictly positive, or +infinity.
    PosOrInf,
    /// A whole number >= 0.
    Count,
}

impl Domain {
    fn words(self) -> &'static str {
        match self {
            Domain::Pos => "> 0",
            Domain::NonNeg => ">= 0",
            Domain::Unit => "in [0, 1]",
            Domain::OpenUnit => "in (0, 1)",
            Domain::HalfOpenUnit => "in [0, 1)",
            Domain::PosOrInf => "> 0 (or infinite: no capacity)",
            Domain::Count => "a whole number >= 0",
        }
    }

    /// Check `value` against the domain.
    pub(crate) fn check(self, field: impl fmt::Display, value: f64) -> Result<(), InputError> {
        if value.is_nan() || (value.is_infinite() && !(self == Domain::PosOrInf && value > 0.0)) {
            return Err(InputError::NonFinite { field: field.to_string(), value });
        }
        let ok = match self {
            Domain::Pos => value > 0.0,
            Domain::NonNeg => value >= 0.0,
            Domain::Unit => (0.0..=1.0).contains(&value),
            Domain::OpenUnit => value > 0.0 && value < 1.0,
            Domain::HalfOpenUnit => (0.0..1.0).contains(&value),
            Domain::PosOrInf => value > 0.0,
            Domain::Count => value >= 0.0 && value.fract() == 0.0 && value <= u32::MAX as f64,
        };
        if ok {
            Ok(())
        } else {
            Err(InputError::OutOfDomain { field: field.to_string(), value, domain: self.words() })
        }
    }

    /// [`Domain::check`], returning the value.
    pub(crate) fn checked(self, field: impl fmt::Display, value: f64) -> Result<f64, InputError> {
        self.check(field, value).map(|()| value)
    }
}

/// Why a solve stopped before the horizon.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SolveFailure {
    /// More steps (accepted + rejected) than `SolverConfig::max_steps`.
    #[error("step limit of {max_steps} reached")]
    StepLimit {
        /// The limit that was hit.
        max_steps: u64,
    },
    /// The step size fell below what the floating-point time can resolve.
    #[error("step size underflow (h = {h:e})")]
    StepSizeUnderflow {
        /// The last step size tried.
        h: f64,
    },
    /// The state became NaN or infinite and no smaller step cured it.
    #[error("non-finite state")]
    NonFinite,
    /// The solve finished but an endpoint is NaN or infinite (e.g. `cmax_copies` with a
    /// huge `copies_per_cell`): never reported as a result.
    #[error("endpoint {name} is not finite")]
    NonFiniteEndpoint {
        /// The endpoint's column name.
        name: &'static str,
    },
    /// The model's parameters or initial state are outside their domains (the model's
    /// `validate` names the value); nothing was integrated.
    #[error("invalid input: a parameter or the initial state is outside its domain")]
    InvalidInput,
    /// Too many events at one instant (a window of zero length re-arming a trigger at the
    /// same time): more than `max_events` integration segments started at one time. (Events
    /// at distinct times each cost at least one step and count towards the step limit.)
    #[error("more than {max_events} events at day {t}")]
    EventStorm {
        /// The instant.
        t: f64,
        /// The limit.
        max_events: u32,
    },
    /// The solution left a bound every exact solution respects ([`crate::model::Invariants`]):
    /// the tolerance is too loose for this patient (or the model's bound is wrong).
    #[error("invariant violated: {what} = {value:e} above its bound {bound:e}")]
    InvariantViolated {
        /// Which quantity (`car_t`, `tumour`).
        what: &'static str,
        /// Its value.
        value: f64,
        /// The bound, slack included.
        bound: f64,
    },
    /// The system's [`crate::ode::Cascade`] is malformed (more than 4 components, an index
    /// outside the state or listed twice, a negative or non-finite rate or baseline): a
    /// defect of the model, reported instead of a panic.
    #[error("malformed cascade (component {component})")]
    InvalidCascade {
        /// The offending component (its position in the cascade), or `n` when `n > 4`.
        component: usize,
    },
}

impl SolveFailure {
    /// A short machine-readable label (`step_limit`, `step_underflow`, `non_finite`), used in
    /// the per-patient CSV (`failed:<label>`) and in failure tallies.
    pub fn label(&self) -> &'static str {
        match self {
            SolveFailure::StepLimit { .. } => "step_limit",
            SolveFailure::StepSizeUnderflow { .. } => "step_underflow",
            SolveFailure::NonFinite => "non_finite",
            SolveFailure::NonFiniteEndpoint { .. } => "non_finite_endpoint",
            SolveFailure::EventStorm { .. } => "event_storm",
            SolveFailure::InvalidInput => "invalid_input",
            SolveFailure::InvalidCascade { .. } => "invalid_cascade",
            SolveFailure::InvariantViolated { .. } => "invariant",
        }
    }
}

/// A failed solve: which patient, when (days), and why.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("patient {patient_id}: solve failed at t = {t} day: {reason}")]
pub struct SolveError {
    /// The patient id (0 for a single scenario).
    pub patient_id: u64,
    /// Time reached when the solve failed (days).
    pub t: f64,
    /// What went wrong.
    pub reason: SolveFailure,
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON, or JSON of the wrong shape (missing, mistyped or unknown fields).
    #[error("malformed scenario (line {line}, column {column}): {message}")]
    Json {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description (names the field).
        message: String,
    },
    /// Well-formed but invalid values.
    #[error("invalid scenario: {0}")]
    Input(#[from] InputError),
}

impl From<serde_json::Error> for ScenarioError {
    fn from(e: serde_json::Error) -> Self {
        let msg = e.to_string();
        // serde_json appends " at line L column C"; keep the message itself.
        let message = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        ScenarioError::Json { line: e.line(), column: e.column(), message }
    }
}

/// Every error of the crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid input values.
    #[error(transparent)]
    Input(#[from] InputError),
    /// An unusable scenario file.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A solve that failed.
    #[error(transparent)]
    Solve(#[from] SolveError),
}

/// A message made safe to print as one line: control characters (a newline in a key or a
/// value of a bad input) escaped, and at most `max` characters kept (the rest replaced by
/// `...`), so that an error can neither forge extra lines nor flood a log.
pub fn one_line(msg: &str, max: usize) -> String {
    let mut out = String::with_capacity(msg.len().min(max) + 8);
    for (n, c) in msg.chars().enumerate() {
        if n >= max {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
