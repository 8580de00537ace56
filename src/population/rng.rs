//! The one place where patients' random number generators are built (one named, portable generator per patient).
//!
//! # Reproducibility contract
//!
//! Every random draw of a patient comes from a generator returned by [`patient_rng`] (the
//! patient journey's from [`crate::journey::journey_rng`], which is `patient_rng` of a salted
//! seed; the sensitivity designs' scrambles and bootstraps from ChaCha8 seeded with the
//! design seed, `cartkin::sensitivity`). The
//! generator of patient `id` in a run with seed `seed` is ChaCha8 (a *named*, portable
//! generator with a documented output: the same bits on every platform and in every
//! execution mode) seeded with `seed` and switched to stream `id`. Hence:
//!
//! - a virtual patient depends only on `(seed, id)` and on the population definition: not
//!   on the thread count, the shard, the order in which patients are drawn, or which other
//!   ids were drawn in the same run;
//! - streams of different ids are independent (ChaCha's 64-bit stream number is part of
//!   the block input, so streams never overlap);
//! - the same `(seed, id)` gives the same numbers across runs and machines. Across versions
//!   of `rand_chacha` the output is stable by that crate's value-stability promise; the
//!   value-stability test (`tests/population_sampling.rs`) pins sampled numbers so that any
//!   change shows.
//!
//! Library code never uses `StdRng`, `SmallRng`, `rand::rng()` (thread-local) or OS
//! seeding.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random number generator of patient `patient_id` in a run with seed `seed`:
/// `ChaCha8Rng::seed_from_u64(seed)` switched to stream `patient_id` (`set_stream`).
///
/// Two calls with the same arguments return generators that produce identical sequences;
/// generators for different `patient_id`s (same seed) produce independent streams.
///
/// ```
/// use cartkin::population::patient_rng;
/// use rand::RngExt;
/// let a: u64 = patient_rng(42, 7).random();
/// let b: u64 = patient_rng(42, 7).random();
/// let c: u64 = patient_rng(42, 8).random();
/// assert_eq!(a, b);
/// assert_ne!(a, c);
/// ```
pub fn patient_rng(seed: u64, patient_id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(patient_id);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn same_seed_and_id_same_stream_other_id_other_stream() {
        let mut a = patient_rng(1, 2);
        let mut b = patient_rng(1, 2);
        let xa: Vec<u64> = (0..8).map(|_| a.random()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.random()).collect();
        assert_eq!(xa, xb);
        let mut c = patient_rng(1, 3);
        let xc: Vec<u64> = (0..8).map(|_| c.random()).collect();
        assert_ne!(xa, xc);
        let mut d = patient_rng(2, 2);
        let xd: Vec<u64> = (0..8).map(|_| d.random()).collect();
        assert_ne!(xa, xd);
        assert_eq!(patient_rng(1, 3).get_stream(), 3);
    }
}
