//! The mergeable summary state of a trial: a [`TrialSummary`] with the [`Manifest`] of the
//! run it belongs to and the shards it covers, written and read back without loss (serde
//! JSON), so that shards run in different processes or on different machines merge into
//! exactly the full run's summary.
//!
//! **The manifest** names the model and its version, the crate version, the seed, the number
//! of patients and a hash (`run_hash`, FNV-1a 64 over a canonical text) of the fully resolved
//! run: the model name and version, the patient source's complete description (typical
//! values, variability and correlation, covariate distributions, product, regimen template
//! with its policy numbers), the solver settings (method, rtol, atol factor and scales, step
//! limit, largest step), the horizon, the endpoint definitions, the summary strata edges, the
//! seed and the number of patients. Chunk size, thread count and trajectories do not change
//! results and are not in it.
//!
//! **Merging** ([`SummaryState::merge`]) refuses, with a typed [`MergeError`] naming what
//! differs: states of another crate version, of another run (any manifest field), of a
//! different shard split, and duplicate or overlapping shards. A merged state says which
//! shards it holds; [`SummaryState::complete`] refuses an incomplete set and names the missing
//! shards.
//!
//! ```
//! use cartkin::population::Population;
//! use cartkin::state::SummaryState;
//! use cartkin::trial::Trial;
//! let trial = Trial::new(Population::reference_200(), 12, 7);
//! let shards: Vec<SummaryState> =
//!     (0..3).map(|k| trial.run_shard_state(k, 3, &mut |_| {}, None).unwrap()).collect();
//! let text: Vec<String> = shards.iter().map(|s| s.to_json()).collect();
//! let back: Vec<SummaryState> = text.iter().map(|t| SummaryState::from_json(t).unwrap()).collect();
//! let merged = SummaryState::merge(&back).unwrap().complete().unwrap();
//! assert_eq!(merged.summary.to_json(), trial.run(&mut |_| {}, None).to_json());
//! assert!(SummaryState::merge(&[back[0].clone(), back[0].clone()]).is_err());
//! ```

use crate::trial::TrialSummary;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the state file layout.
pub const STATE_FORMAT: u32 = 1;

/// Identity of a run: what must agree for two summary states to be parts of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Layout version of the state file ([`STATE_FORMAT`]).
    pub format: u32,
    /// Version of the crate that wrote the state.
    pub crate_version: String,
    /// Model name (`reference`, ...).
    pub model: String,
    /// Model version.
    pub model_version: String,
    /// Identity of the patient source: FNV-1a 64 (hex) of its complete description.
    pub population: String,
    /// The seed.
    pub seed: u64,
    /// Patients in the whole run (all shards).
    pub n_patients: u64,
    /// FNV-1a 64 (hex) of the fully resolved run (module docs list what goes in).
    pub run_hash: String,
}

/// The shards a state covers: indices out of `n_shards`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shards {
    /// The split: the run's ids in `n_shards` contiguous ranges.
    pub n_shards: u64,
    /// The shard indices held, increasing.
    pub held: Vec<u64>,
}

/// A trial summary with its manifest and shards: what a shard writes and a merge reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryState {
    /// The run.
    pub manifest: Manifest,
    /// The shards held.
    pub shards: Shards,
    /// The counts.
    pub summary: TrialSummary,
}

/// Why summary states cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeError {
    /// Nothing to merge.
    Empty,
    /// States written by different crate versions.
    CrateVersion {
        /// One version.
        a: String,
        /// The other.
        b: String,
    },
    /// States of different runs: the first manifest field that differs.
    Manifest {
        /// The field (`seed`, `run_hash`, ...).
        field: &'static str,
        /// One value.
        a: String,
        /// The other.
        b: String,
    },
    /// Different shard splits.
    Split {
        /// One split.
        a: u64,
        /// The other.
        b: u64,
    },
    /// The same shard in more than one state.
    Duplicate {
        /// The shard index.
        shard: u64,
    },
    /// A shard index outside the split.
    OutOfRange {
        /// The index.
        shard: u64,
        /// The split.
        n_shards: u64,
    },
    /// An incomplete set where a complete one was required.
    Missing {
        /// The missing shard indices.
        shards: Vec<u64>,
        /// The split.
        n_shards: u64,
    },
    /// The summaries' layouts differ (a broken state file).
    Layout(String),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Empty => write!(f, "no summary states to merge"),
            MergeError::CrateVersion { a, b } => {
                write!(f, "summary states of different cartkin versions ({a} and {b}) cannot be merged")
            }
            MergeError::Manifest { field, a, b } => {
                write!(f, "summary states of different runs: manifest field {field} is {a} in one and {b} in another")
            }
            MergeError::Split { a, b } => write!(f, "different shard splits: {a} and {b} shards"),
            MergeError::Duplicate { shard } => {
                write!(f, "shard {shard} is given more than once (duplicate or overlapping)")
            }
            MergeError::OutOfRange { shard, n_shards } => write!(f, "shard {shard} is outside the split of {n_shards}"),
            MergeError::Missing { shards, n_shards } => {
                let list: Vec<String> = shards.iter().map(|k| k.to_string()).collect();
                write!(f, "incomplete set: missing shards {} of {n_shards}", list.join(", "))
            }
            MergeError::Layout(what) => write!(f, "summary layouts differ: {what}"),
        }
    }
}

impl std::error::Error for MergeError {}

impl SummaryState {
    /// The state as JSON text (one line per value, deterministic).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Read a state back.
    ///
    /// # Errors
    /// Malformed JSON, a missing or unknown field (the message names it).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Merge states of one run (any subset of its shards, in any order).
    ///
    /// # Errors
    /// [`MergeError`]: nothing given, another crate version or run, another split, a shard
    /// given twice or out of range.
    pub fn merge(states: &[SummaryState]) -> Result<SummaryState, MergeError> {
        let first = states.first().ok_or(MergeError::Empty)?;
        let mut held: Vec<u64> = Vec::new();
        let mut ordered: Vec<&SummaryState> = states.iter().collect();
        ordered.sort_by_key(|s| s.shards.held.first().copied().unwrap_or(u64::MAX));
        let mut out: Option<TrialSummary> = None;
        for s in ordered {
            check_manifest(&first.manifest, &s.manifest)?;
            if s.shards.n_shards != first.shards.n_shards {
                return Err(MergeError::Split { a: first.shards.n_shards, b: s.shards.n_shards });
            }
            for &k in &s.shards.held {
                if k >= s.shards.n_shards {
                    return Err(MergeError::OutOfRange { shard: k, n_shards: s.shards.n_shards });
                }
                if held.contains(&k) {
                    return Err(MergeError::Duplicate { shard: k });
                }
                held.push(k);
            }
            match &mut out {
                None => out = Some(s.summary.clone()),
                Some(m) => m.merge(&s.summary).map_err(|e| MergeError::Layout(e.to_string()))?,
            }
        }
        held.sort_unstable();
        Ok(SummaryState {
            manifest: first.manifest.clone(),
            shards: Shards { n_shards: first.shards.n_shards, held },
            summary: out.unwrap_or_else(|| first.summary.clone()),
        })
    }

    /// The shards of the split that this state does not hold.
    pub fn missing(&self) -> Vec<u64> {
        (0..self.shards.n_shards).filter(|k| !self.shards.held.contains(k)).collect()
    }

    /// This state if it holds every shard of its split.
    ///
    /// # Errors
    /// [`MergeError::Missing`] naming the missing shards.
    pub fn complete(self) -> Result<SummaryState, MergeError> {
        let missing = self.missing();
        if missing.is_empty() {
            Ok(self)
        } else {
            Err(MergeError::Missing { shards: missing, n_shards: self.shards.n_shards })
        }
    }
}

fn check_manifest(a: &Manifest, b: &Manifest) -> Result<(), MergeError> {
    if a.crate_version != b.crate_version {
        return Err(MergeError::CrateVersion { a: a.crate_version.clone(), b: b.crate_version.clone() });
    }
    let fields: [(&'static str, String, String); 7] = [
        ("format", a.format.to_string(), b.format.to_string()),
        ("model", a.model.clone(), b.model.clone()),
        ("model_version", a.model_version.clone(), b.model_version.clone()),
        ("population", a.population.clone(), b.population.clone()),
        ("seed", a.seed.to_string(), b.seed.to_string()),
        ("n_patients", a.n_patients.to_string(), b.n_patients.to_string()),
        ("run_hash", a.run_hash.clone(), b.run_hash.clone()),
    ];
    for (field, x, y) in fields {
        if x != y {
            return Err(MergeError::Manifest { field, a: x, b: y });
        }
    }
    Ok(())
}

/// FNV-1a, 64 bits, as 16 hex digits: a stable identity hash (not a cryptographic one).
pub fn fnv1a64(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
