//! Streaming, mergeable summaries of per-patient trial outcomes.
//!
//! Every accumulator here uses memory fixed by its *layout* (constructor
//! parameters), never by the number of patients pushed into it.
//!
//! # Merge and determinism contract
//!
//! * State is integer counts only (`u64`); no floating-point sums are kept.
//!   Merging adds counts, so merging chunk results in any order or grouping
//!   gives a bit-identical struct (and bit-identical output) to pushing all
//!   observations into one accumulator. Counts saturate at `u64::MAX` instead
//!   of overflowing (unreachable in practice).
//! * Merging requires identical layouts (bit-identical constructor
//!   parameters); otherwise [`LayoutMismatch`] is returned and `self` is left
//!   unchanged.
//! * Non-finite or otherwise invalid inputs never panic: they are counted in a
//!   dedicated counter and excluded from the estimates.
//!
//! # Error bounds
//!
//! * [`Rate`]: exact counts; Wilson score 95% interval.
//! * [`LogHistogram`]: for a value inside `[lo, hi)` the reported quantile is
//!   the geometric midpoint of the bin holding the true sample quantile, so it
//!   is within a factor `sqrt(1 + rel_width)` of it (relative error at most
//!   `sqrt(1 + rel_width) - 1`). Values `<= 0` are exact (`0.0`); underflow
//!   and overflow buckets report `lo` and `hi`.
//! * [`LinearHistogram`]: absolute error at most `width / 2` inside `[lo, hi)`.
//! * [`KaplanMeier`]: the only approximation against an exact Kaplan–Meier
//!   estimate is that times are rounded *up* to the grid `dt`, so a censoring
//!   that lies before an event inside the same grid cell is counted after it.
//! * [`GradeCounts`] and [`Rate`] counts are exact.

use serde::Serialize;
use std::fmt;

/// Two-sided 95% standard normal quantile.
const Z95: f64 = 1.959963984540054;
/// Largest number of bins / grid points a layout may allocate.
const MAX_BINS: usize = 1 << 22;

/// Error returned when merging two accumulators with different layouts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayoutMismatch {
    /// Which accumulator kind failed to merge.
    pub what: &'static str,
}

impl fmt::Display for LayoutMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot merge {} with a different layout", self.what)
    }
}

impl std::error::Error for LayoutMismatch {}

/// Error returned by constructors given invalid parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvalidParameter {
    /// Description of the violated requirement.
    pub what: &'static str,
}

impl fmt::Display for InvalidParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid parameter: {}", self.what)
    }
}

impl std::error::Error for InvalidParameter {}

/// Accumulators that can absorb another accumulator of the same layout.
pub trait Accumulate {
    /// Adds `other`'s observations to `self`. Exact and order-independent.
    ///
    /// # Errors
    /// [`LayoutMismatch`] if the layouts differ; `self` is then unchanged.
    fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch>;
}

fn invalid(what: &'static str) -> InvalidParameter {
    InvalidParameter { what }
}

/// Snaps `x` to the nearest integer when within a relative 1e-9 of it, so
/// that e.g. `0.7 * 10.0` or `(3.0 * 0.1) / 0.1` count as exact integers.
fn snap(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * r.abs().max(1.0) {
        r
    } else {
        x
    }
}

/// Rank (1-based, in `1..=n`) of the "lower" `q`-quantile: `max(1, ceil(q n))`.
fn lower_rank(q: f64, n: u64) -> u64 {
    let r = snap(q * n as f64).ceil();
    // `as` saturates; clamp keeps the rank in range for any q in [0, 1].
    (r as u64).clamp(1, n)
}

/// Walks `(count, representative)` buckets in increasing order and returns the
/// representative of the bucket holding the `rank`-th observation.
fn walk(rank: u64, buckets: impl Iterator<Item = (u64, f64)>) -> Option<f64> {
    let mut cum = 0u64;
    for (c, v) in buckets {
        cum = cum.saturating_add(c);
        if c > 0 && cum >= rank {
            return Some(v);
        }
    }
    None
}

fn add_into(dst: &mut [u64], src: &[u64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = d.saturating_add(*s);
    }
}

/// Finds `i` in `0..m` with `edge(i) <= x < edge(i + 1)` starting from a
/// floating-point `guess`; robust against rounding at bin edges.
fn locate(guess: f64, m: usize, x: f64, edge: impl Fn(usize) -> f64) -> usize {
    let mut i = if guess.is_nan() { 0 } else { (guess.max(0.0) as usize).min(m - 1) };
    while i > 0 && x < edge(i) {
        i -= 1;
    }
    while i + 1 < m && x >= edge(i + 1) {
        i += 1;
    }
    i
}

// ---------------------------------------------------------------- Rate

/// A binomial proportion (e.g. response rate): `hits` successes out of `n`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Rate {
    hits: u64,
    n: u64,
}

/// A proportion with its Wilson score 95% confidence interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateEstimate {
    /// Number of successes.
    pub k: u64,
    /// Number of trials.
    pub n: u64,
    /// Point estimate `k / n`.
    pub p: f64,
    /// Lower Wilson 95% bound (exactly 0 when `k == 0`).
    pub ci_low: f64,
    /// Upper Wilson 95% bound (exactly 1 when `k == n`).
    pub ci_high: f64,
}

impl Rate {
    /// An empty rate (0 of 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one trial; `hit` marks a success.
    pub fn push(&mut self, hit: bool) {
        self.n = self.n.saturating_add(1);
        if hit {
            self.hits = self.hits.saturating_add(1);
        }
    }

    /// Adds the trials of `other`.
    pub fn merge(&mut self, other: &Rate) {
        self.hits = self.hits.saturating_add(other.hits);
        self.n = self.n.saturating_add(other.n);
    }

    /// Number of successes.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Number of trials.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Point estimate with Wilson score 95% interval; `None` when `n == 0`.
    pub fn estimate(&self) -> Option<RateEstimate> {
        if self.n == 0 {
            return None;
        }
        let (k, n) = (self.hits.min(self.n), self.n);
        let nf = n as f64;
        let p = k as f64 / nf;
        let z2 = Z95 * Z95;
        let denom = 1.0 + z2 / nf;
        let center = (p + z2 / (2.0 * nf)) / denom;
        let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
        let ci_low = if k == 0 { 0.0 } else { (center - half).clamp(0.0, 1.0) };
        let ci_high = if k == n { 1.0 } else { (center + half).clamp(0.0, 1.0) };
        Some(RateEstimate { k, n, p, ci_low, ci_high })
    }
}

impl Accumulate for Rate {
    fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        Rate::merge(self, other);
        Ok(())
    }
}

// ---------------------------------------------------------------- LogHistogram

/// Fixed-memory quantile sketch for positive values spanning many decades.
///
/// Bins are geometric with ratio `1 + rel_width` from `lo`; the last bin is
/// truncated at `hi`. Separate exact counters hold values `<= 0`, values in
/// `(0, lo)` (underflow), values `>= hi` (overflow) and non-finite values.
///
/// Quantile error bound: for a true sample quantile inside `[lo, hi)` the
/// result is within a factor `sqrt(1 + rel_width)` of it (relative error
/// `<= sqrt(1 + rel_width) - 1`).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct LogHistogram {
    lo: f64,
    hi: f64,
    rel_width: f64,
    ln_ratio: f64,
    zeros: u64,
    #[serde(flatten)]
    c: Counts,
}

impl LogHistogram {
    /// Creates a sketch with geometric bins of ratio `1 + rel_width` covering
    /// `[lo, hi)`.
    ///
    /// # Errors
    /// If `lo` is not finite and positive, `hi <= lo` or not finite,
    /// `rel_width` is not finite and positive, or more than 2^22 bins result.
    pub fn new(lo: f64, hi: f64, rel_width: f64) -> Result<Self, InvalidParameter> {
        if !(lo.is_finite() && lo > 0.0) {
            return Err(invalid("LogHistogram: lo must be finite and > 0"));
        }
        if !(hi.is_finite() && hi > lo) {
            return Err(invalid("LogHistogram: hi must be finite and > lo"));
        }
        if !(rel_width.is_finite() && rel_width > 0.0) {
            return Err(invalid("LogHistogram: rel_width must be finite and > 0"));
        }
        let ln_ratio = rel_width.ln_1p();
        let m = snap((hi.ln() - lo.ln()) / ln_ratio).ceil().max(1.0);
        if m.is_nan() || m > MAX_BINS as f64 {
            return Err(invalid("LogHistogram: too many bins"));
        }
        Ok(Self { lo, hi, rel_width, ln_ratio, zeros: 0, c: Counts::new(m as usize) })
    }

    /// Lower edge of bin `i`; `edge(num_bins()) == hi`.
    fn edge(&self, i: usize) -> f64 {
        if i >= self.c.bins.len() {
            self.hi
        } else {
            self.lo * (i as f64 * self.ln_ratio).exp()
        }
    }

    /// Records one value.
    pub fn push(&mut self, x: f64) {
        let slot = if !x.is_finite() {
            &mut self.c.non_finite
        } else if x <= 0.0 {
            &mut self.zeros
        } else if x < self.lo {
            &mut self.c.underflow
        } else if x >= self.hi {
            &mut self.c.overflow
        } else {
            let guess = ((x.ln() - self.lo.ln()) / self.ln_ratio).floor();
            let i = locate(guess, self.c.bins.len(), x, |j| self.edge(j));
            &mut self.c.bins[i]
        };
        *slot = slot.saturating_add(1);
    }

    /// Adds the counts of `other`.
    ///
    /// # Errors
    /// [`LayoutMismatch`] unless `lo`, `hi` and `rel_width` are identical.
    pub fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        if self.lo != other.lo
            || self.hi != other.hi
            || self.rel_width != other.rel_width
            || self.c.bins.len() != other.c.bins.len()
        {
            return Err(LayoutMismatch { what: "LogHistogram" });
        }
        self.zeros = self.zeros.saturating_add(other.zeros);
        self.c.add(&other.c);
        Ok(())
    }

    /// Number of finite values recorded (those used for quantiles).
    pub fn count(&self) -> u64 {
        self.c.finite(self.zeros)
    }

    /// Number of non-finite values recorded (ignored for quantiles).
    pub fn non_finite(&self) -> u64 {
        self.c.non_finite
    }

    /// Number of values `<= 0`.
    pub fn zeros(&self) -> u64 {
        self.zeros
    }

    /// Number of values in `(0, lo)`.
    pub fn underflow(&self) -> u64 {
        self.c.underflow
    }

    /// Number of values `>= hi`.
    pub fn overflow(&self) -> u64 {
        self.c.overflow
    }

    /// Number of geometric bins (fixed by the layout).
    pub fn num_bins(&self) -> usize {
        self.c.bins.len()
    }

    /// "Lower" `q`-quantile: the bucket holding the smallest recorded value
    /// `x` with at least `max(1, ceil(q n))` values `<= x`, reported as the
    /// bin's geometric midpoint (`0.0` for values `<= 0`, `lo` for underflow,
    /// `hi` for overflow). `None` when empty or `q` outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let mids = (0..self.c.bins.len()).map(|i| {
            let (a, b) = (self.edge(i), self.edge(i + 1));
            (self.c.bins[i], a.sqrt() * b.sqrt())
        });
        let buckets = [(self.zeros, 0.0), (self.c.underflow, self.lo)]
            .into_iter()
            .chain(mids)
            .chain(std::iter::once((self.c.overflow, self.hi)));
        walk(lower_rank(q, n), buckets)
    }
}

impl Accumulate for LogHistogram {
    fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        LogHistogram::merge(self, other)
    }
}

/// The counts both histograms share: values below and above the binned range, the bins,
/// and non-finite values (counted, never used for quantiles). Merging adds them exactly.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
struct Counts {
    underflow: u64,
    bins: Vec<u64>,
    overflow: u64,
    non_finite: u64,
}

impl Counts {
    fn new(bins: usize) -> Self {
        Self { underflow: 0, bins: vec![0; bins], overflow: 0, non_finite: 0 }
    }

    /// Adds `other` (same number of bins: the caller has checked the layout).
    fn add(&mut self, other: &Counts) {
        self.underflow = self.underflow.saturating_add(other.underflow);
        self.overflow = self.overflow.saturating_add(other.overflow);
        self.non_finite = self.non_finite.saturating_add(other.non_finite);
        add_into(&mut self.bins, &other.bins);
    }

    /// Finite values counted, plus `extra` (e.g. a zero bucket).
    fn finite(&self, extra: u64) -> u64 {
        self.bins
            .iter()
            .fold(extra, |a, &c| a.saturating_add(c))
            .saturating_add(self.underflow)
            .saturating_add(self.overflow)
    }
}

// ---------------------------------------------------------------- LinearHistogram

/// Fixed-memory quantile sketch for bounded quantities (e.g. days in
/// `[0, 365]`), with equal-width bins on `[lo, hi)`; the last bin is
/// truncated at `hi`. Values `< lo` and `>= hi` go to underflow and overflow
/// buckets; a value exactly at `lo` is in the first bin.
///
/// Quantile error bound: for a true sample quantile inside `[lo, hi)` the
/// result (bin midpoint) is within `width / 2` of it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct LinearHistogram {
    lo: f64,
    hi: f64,
    width: f64,
    #[serde(flatten)]
    c: Counts,
}

impl LinearHistogram {
    /// Creates a sketch with bins of `width` covering `[lo, hi)`.
    ///
    /// # Errors
    /// If `lo`/`hi` are not finite with `lo < hi`, `width` is not finite and
    /// positive, or more than 2^22 bins result.
    pub fn new(lo: f64, hi: f64, width: f64) -> Result<Self, InvalidParameter> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(invalid("LinearHistogram: need finite lo < hi"));
        }
        if !(width.is_finite() && width > 0.0) {
            return Err(invalid("LinearHistogram: width must be finite and > 0"));
        }
        let m = snap((hi - lo) / width).ceil().max(1.0);
        if m.is_nan() || m > MAX_BINS as f64 {
            return Err(invalid("LinearHistogram: too many bins"));
        }
        Ok(Self { lo, hi, width, c: Counts::new(m as usize) })
    }

    /// Lower edge of bin `i`; `edge(num_bins()) == hi`.
    fn edge(&self, i: usize) -> f64 {
        if i >= self.c.bins.len() {
            self.hi
        } else {
            self.lo + i as f64 * self.width
        }
    }

    /// Records one value.
    pub fn push(&mut self, x: f64) {
        let slot = if !x.is_finite() {
            &mut self.c.non_finite
        } else if x < self.lo {
            &mut self.c.underflow
        } else if x >= self.hi {
            &mut self.c.overflow
        } else {
            let guess = ((x - self.lo) / self.width).floor();
            let i = locate(guess, self.c.bins.len(), x, |j| self.edge(j));
            &mut self.c.bins[i]
        };
        *slot = slot.saturating_add(1);
    }

    /// Adds the counts of `other`.
    ///
    /// # Errors
    /// [`LayoutMismatch`] unless `lo`, `hi` and `width` are identical.
    pub fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        if self.lo != other.lo
            || self.hi != other.hi
            || self.width != other.width
            || self.c.bins.len() != other.c.bins.len()
        {
            return Err(LayoutMismatch { what: "LinearHistogram" });
        }
        self.c.add(&other.c);
        Ok(())
    }

    /// Number of finite values recorded (those used for quantiles).
    pub fn count(&self) -> u64 {
        self.c.finite(0)
    }

    /// Number of non-finite values recorded (ignored for quantiles).
    pub fn non_finite(&self) -> u64 {
        self.c.non_finite
    }

    /// Number of values `< lo`.
    pub fn underflow(&self) -> u64 {
        self.c.underflow
    }

    /// Number of values `>= hi`.
    pub fn overflow(&self) -> u64 {
        self.c.overflow
    }

    /// Number of bins (fixed by the layout).
    pub fn num_bins(&self) -> usize {
        self.c.bins.len()
    }

    /// "Lower" `q`-quantile (see [`LogHistogram::quantile`]), reported as the
    /// bin midpoint (`lo` for underflow, `hi` for overflow). `None` when
    /// empty or `q` outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let mids = (0..self.c.bins.len()).map(|i| {
            let (a, b) = (self.edge(i), self.edge(i + 1));
            (self.c.bins[i], a + (b - a) / 2.0)
        });
        let buckets =
            std::iter::once((self.c.underflow, self.lo)).chain(mids).chain(std::iter::once((self.c.overflow, self.hi)));
        walk(lower_rank(q, n), buckets)
    }
}

impl Accumulate for LinearHistogram {
    fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        LinearHistogram::merge(self, other)
    }
}

// ---------------------------------------------------------------- GradeCounts

/// Counts of an integer grade `0..=4` (e.g. CRS or ICANS grade); values
/// above 4 are counted in `invalid` and excluded from fractions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GradeCounts {
    counts: [u64; 5],
    invalid: u64,
}

impl GradeCounts {
    /// Empty counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one grade.
    pub fn push(&mut self, grade: u8) {
        let slot = match self.counts.get_mut(usize::from(grade)) {
            Some(c) => c,
            None => &mut self.invalid,
        };
        *slot = slot.saturating_add(1);
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &GradeCounts) {
        add_into(&mut self.counts, &other.counts);
        self.invalid = self.invalid.saturating_add(other.invalid);
    }

    /// Count per grade `0..=4`.
    pub fn counts(&self) -> [u64; 5] {
        self.counts
    }

    /// Number of valid grades recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |a, &c| a.saturating_add(c))
    }

    /// Number of out-of-range grades (> 4) recorded.
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    /// Fraction of valid grades at each level; `None` when no valid grade.
    pub fn fractions(&self) -> Option<[f64; 5]> {
        let n = self.total();
        (n > 0).then(|| self.counts.map(|c| c as f64 / n as f64))
    }

    /// Counts of grades `>= g` as a [`Rate`] over valid grades (e.g. `g = 3`
    /// for severe CRS).
    pub fn at_least(&self, g: u8) -> Rate {
        let hits = self.counts.iter().skip(usize::from(g)).fold(0u64, |a, &c| a.saturating_add(c));
        Rate { hits, n: self.total() }
    }
}

impl Accumulate for GradeCounts {
    fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        GradeCounts::merge(self, other);
        Ok(())
    }
}

// ---------------------------------------------------------------- KaplanMeier

/// Kaplan–Meier survival estimate on a fixed time grid `t_k = k dt`,
/// `k = 0..=ceil(horizon / dt)`, storing integer events and censorings per
/// grid point so memory is flat and merges are exact.
///
/// An observation at time `t` is placed at grid index `ceil(t / dt)` (times
/// within a relative 1e-9 of a grid point snap to it). Observations after the
/// last grid time are counted as censored there (administrative censoring at
/// the horizon), since an event after the horizon is not an event within it.
/// Negative or non-finite times are counted in `invalid` and ignored.
///
/// Approximation: the only difference from an exact Kaplan–Meier estimate is
/// that times are rounded up to the grid, so a censoring that lies before an
/// event inside the same grid cell is counted after it (within one grid time
/// events come before censorings, as in standard KM).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct KaplanMeier {
    horizon: f64,
    dt: f64,
    events: Vec<u64>,
    censored: Vec<u64>,
    n: u64,
    invalid: u64,
}

/// Kaplan–Meier estimate at one grid time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SurvivalPoint {
    /// Grid time.
    pub t: f64,
    /// Survival probability `S(t)`.
    pub s: f64,
    /// Greenwood standard error `S sqrt(sum d / (n (n - d)))` (terms with
    /// `n == d` are skipped; `S` is then 0 and so is the error).
    pub se: f64,
    /// Lower 95% bound (log-log transform; within `[0, 1]`).
    pub ci_low: f64,
    /// Upper 95% bound (log-log transform; within `[0, 1]`).
    pub ci_high: f64,
    /// Number at risk at `t` (valid observations not yet ended before `t`).
    pub at_risk: u64,
    /// Cumulative events up to and including `t`.
    pub events_so_far: u64,
}

impl KaplanMeier {
    /// Creates an empty estimator with grid step `dt` up to `horizon`.
    ///
    /// # Errors
    /// If `horizon` is not finite and `>= 0`, `dt` is not finite and
    /// positive, or the grid would exceed 2^22 points.
    pub fn new(horizon: f64, dt: f64) -> Result<Self, InvalidParameter> {
        if !(horizon.is_finite() && horizon >= 0.0) {
            return Err(invalid("KaplanMeier: horizon must be finite and >= 0"));
        }
        if !(dt.is_finite() && dt > 0.0) {
            return Err(invalid("KaplanMeier: dt must be finite and > 0"));
        }
        let last = snap(horizon / dt).ceil();
        if last.is_nan() || last >= MAX_BINS as f64 {
            return Err(invalid("KaplanMeier: grid too fine"));
        }
        let len = last as usize + 1;
        Ok(Self { horizon, dt, events: vec![0; len], censored: vec![0; len], n: 0, invalid: 0 })
    }

    /// Records one patient: `event = true` for an event at `time`, `false`
    /// for a censoring at `time`.
    pub fn push(&mut self, time: f64, event: bool) {
        if !(time.is_finite() && time >= 0.0) {
            self.invalid = self.invalid.saturating_add(1);
            return;
        }
        let last = self.events.len() - 1;
        let k = snap(time / self.dt).ceil();
        let slot = if k > last as f64 {
            &mut self.censored[last]
        } else if event {
            &mut self.events[k as usize]
        } else {
            &mut self.censored[k as usize]
        };
        *slot = slot.saturating_add(1);
        self.n = self.n.saturating_add(1);
    }

    /// Adds the observations of `other`.
    ///
    /// # Errors
    /// [`LayoutMismatch`] unless `horizon` and `dt` are identical.
    pub fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        if self.horizon != other.horizon || self.dt != other.dt || self.events.len() != other.events.len() {
            return Err(LayoutMismatch { what: "KaplanMeier" });
        }
        add_into(&mut self.events, &other.events);
        add_into(&mut self.censored, &other.censored);
        self.n = self.n.saturating_add(other.n);
        self.invalid = self.invalid.saturating_add(other.invalid);
        Ok(())
    }

    /// Number of valid observations.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Number of ignored observations (negative or non-finite times).
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    /// Number of grid points, `ceil(horizon / dt) + 1`.
    pub fn grid_len(&self) -> usize {
        self.events.len()
    }

    /// Estimate at the largest grid time `<= t` (the last grid time for `t`
    /// beyond it). `None` when there is no valid observation, or `t` is
    /// negative or NaN.
    pub fn survival_at(&self, t: f64) -> Option<SurvivalPoint> {
        if self.n == 0 || t.is_nan() || t < 0.0 {
            return None;
        }
        let k = snap(t / self.dt).floor().min((self.events.len() - 1) as f64) as usize;
        self.scan().nth(k)
    }

    /// Estimates at every grid time (computed on request; `O(grid_len)`).
    /// Empty when there is no valid observation.
    pub fn curve(&self) -> Vec<SurvivalPoint> {
        if self.n == 0 {
            return Vec::new();
        }
        self.scan().collect()
    }

    /// Iterates the product-limit recursion over the grid.
    fn scan(&self) -> impl Iterator<Item = SurvivalPoint> + '_ {
        let (mut at_risk, mut s, mut v, mut events_so_far) = (self.n, 1.0f64, 0.0f64, 0u64);
        self.events.iter().zip(&self.censored).enumerate().map(move |(k, (&d, &c))| {
            let n_k = at_risk;
            if d > 0 && n_k > 0 {
                let d = d.min(n_k);
                s *= 1.0 - d as f64 / n_k as f64;
                if n_k > d {
                    v += d as f64 / (n_k as f64 * (n_k - d) as f64);
                }
            }
            events_so_far = events_so_far.saturating_add(d);
            at_risk = at_risk.saturating_sub(d.saturating_add(c));
            let (ci_low, ci_high) = loglog_band(s, v);
            SurvivalPoint { t: k as f64 * self.dt, s, se: s * v.sqrt(), ci_low, ci_high, at_risk: n_k, events_so_far }
        })
    }
}

/// Kalbfleisch–Prentice (log-log) 95% band for `S` with Greenwood sum `v`.
fn loglog_band(s: f64, v: f64) -> (f64, f64) {
    if s >= 1.0 {
        return (1.0, 1.0);
    }
    if s <= 0.0 {
        return (0.0, 0.0);
    }
    let se = v.sqrt() / s.ln().abs();
    let lo = s.powf((Z95 * se).exp());
    let hi = s.powf((-Z95 * se).exp());
    (lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0))
}

impl Accumulate for KaplanMeier {
    fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        KaplanMeier::merge(self, other)
    }
}

// ---------------------------------------------------------------- Stratified

/// One accumulator per stratum `[edges[i], edges[i + 1])` of a covariate.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Stratified<T> {
    edges: Vec<f64>,
    bins: Vec<T>,
}

impl<T: Clone> Stratified<T> {
    /// Creates strata from strictly increasing finite `edges` (at least two),
    /// each holding a clone of `template`.
    ///
    /// # Errors
    /// If fewer than two edges are given, or they are not finite and
    /// strictly increasing.
    pub fn new(edges: Vec<f64>, template: T) -> Result<Self, InvalidParameter> {
        if edges.len() < 2 {
            return Err(invalid("Stratified: need at least two edges"));
        }
        if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("Stratified: edges must be finite and strictly increasing"));
        }
        let bins = vec![template; edges.len() - 1];
        Ok(Self { edges, bins })
    }

    /// Stratum index of `x`; `None` if `x` is NaN, below the first edge, or
    /// at/above the last edge.
    pub fn bin_of(&self, x: f64) -> Option<usize> {
        let (first, last) = (*self.edges.first()?, *self.edges.last()?);
        if !(x >= first && x < last) {
            return None;
        }
        Some(self.edges.partition_point(|&e| e <= x) - 1)
    }

    /// Accumulator of the stratum containing `x`.
    pub fn get_mut(&mut self, x: f64) -> Option<&mut T> {
        let i = self.bin_of(x)?;
        self.bins.get_mut(i)
    }

    /// Accumulator of the stratum containing `x`.
    pub fn get(&self, x: f64) -> Option<&T> {
        self.bins.get(self.bin_of(x)?)
    }

    /// Stratum edges.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// Accumulators, one per stratum.
    pub fn bins(&self) -> &[T] {
        &self.bins
    }

    /// Label of stratum `i`, e.g. `"[0, 0.2)"`.
    pub fn label(&self, i: usize) -> Option<String> {
        Some(format!("[{}, {})", self.edges.get(i)?, self.edges.get(i + 1)?))
    }

    /// Labels of all strata.
    pub fn labels(&self) -> Vec<String> {
        self.edges.windows(2).map(|w| format!("[{}, {})", w[0], w[1])).collect()
    }
}

impl<T: Clone + Accumulate> Stratified<T> {
    /// Merges stratum by stratum. All-or-nothing: on error `self` is unchanged.
    ///
    /// # Errors
    /// [`LayoutMismatch`] if the edges or any stratum's layout differ.
    pub fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        if self.edges != other.edges || self.bins.len() != other.bins.len() {
            return Err(LayoutMismatch { what: "Stratified" });
        }
        let mut merged = self.bins.clone();
        for (a, b) in merged.iter_mut().zip(&other.bins) {
            a.merge(b)?;
        }
        self.bins = merged;
        Ok(())
    }
}

impl<T: Clone + Accumulate> Accumulate for Stratified<T> {
    fn merge(&mut self, other: &Self) -> Result<(), LayoutMismatch> {
        Stratified::merge(self, other)
    }
}

// ---------------------------------------------------------------- tests

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic uniform(0, 1) stream (PCG-style LCG, top 53 bits).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_published_intervals() {
        let rate = |k: u64, n: u64| Rate { hits: k, n }.estimate().unwrap();
        // Reference: roots of (p_hat - p)^2 = z^2 p (1 - p) / n, solved
        // independently by bisection. The intervals quoted in trial reports
        // (0.706-0.882, 0.664-0.853, 0.355-0.578, 0.51-0.88) agree to 5e-3.
        for (k, n, lo, hi, tol) in [
            (61, 75, 0.71071, 0.88542, 1e-4),
            (58, 75, 0.66664, 0.85339, 1e-4),
            (35, 75, 0.35816, 0.57842, 1e-4),
            (14, 19, 0.51208, 0.88194, 1e-4),
            (61, 75, 0.706, 0.882, 5e-3),
            (58, 75, 0.664, 0.853, 5e-3),
            (35, 75, 0.355, 0.578, 5e-3),
            (14, 19, 0.51, 0.88, 1e-2),
        ] {
            let e = rate(k, n);
            assert!(close(e.ci_low, lo, tol) && close(e.ci_high, hi, tol), "{k}/{n}: {e:?}");
            assert!(e.ci_low <= e.p && e.p <= e.ci_high);
        }
        assert_eq!(rate(0, 10).ci_low, 0.0);
        assert_eq!(rate(10, 10).ci_high, 1.0);
        assert!(Rate::new().estimate().is_none());
    }

    #[test]
    fn rate_push_merge() {
        let (mut a, mut b, mut all) = (Rate::new(), Rate::new(), Rate::new());
        for i in 0..100 {
            let hit = i % 3 == 0;
            all.push(hit);
            if i < 40 {
                a.push(hit)
            } else {
                b.push(hit)
            }
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!((a.hits(), a.n()), (34, 100));
    }

    fn exact_lower(sorted: &[f64], i: u64, of: u64) -> f64 {
        // rank = max(1, ceil(i * n / of)) in exact integer arithmetic
        let n = sorted.len() as u64;
        let r = (i * n).div_ceil(of).max(1);
        sorted[(r - 1) as usize]
    }

    #[test]
    fn log_histogram_quantiles_within_bound() {
        let rel = 0.02;
        let mut h = LogHistogram::new(1.0, 1e16, rel).unwrap();
        let bins = h.num_bins();
        let mut rng = Lcg(42);
        let mut xs: Vec<f64> = (0..10_007).map(|_| 10f64.powf(rng.next() * 15.9)).collect();
        xs.push(1.0); // exactly lo: first bin
        for &x in &xs {
            h.push(x);
        }
        xs.sort_by(f64::total_cmp);
        assert_eq!(h.count(), xs.len() as u64);
        assert_eq!(h.num_bins(), bins, "memory fixed by layout");
        let bound = (1.0 + rel).sqrt() * (1.0 + 1e-12);
        for i in 0..=1000 {
            let est = h.quantile(i as f64 / 1000.0).unwrap();
            let truth = exact_lower(&xs, i, 1000);
            let ratio = est / truth;
            assert!(ratio <= bound && ratio >= 1.0 / bound, "q={i}/1000 {est} vs {truth}");
        }
        assert!(close(h.quantile(0.0).unwrap(), (1.0 + rel).sqrt(), 1e-12));
        assert!(h.quantile(1.1).is_none() && h.quantile(-0.1).is_none());
        assert!(h.quantile(f64::NAN).is_none());
    }

    #[test]
    fn log_histogram_special_buckets_and_edges() {
        let mut h = LogHistogram::new(1.0, 1e7, 0.1).unwrap();
        assert!(h.quantile(0.5).is_none());
        for x in [0.0, -3.0, 0.5, 1e8, f64::NAN, f64::INFINITY, 1e7] {
            h.push(x);
        }
        assert_eq!((h.zeros(), h.underflow(), h.overflow(), h.non_finite()), (2, 1, 2, 2));
        assert_eq!(h.count(), 5);
        assert_eq!(h.quantile(0.0), Some(0.0));
        assert_eq!(h.quantile(0.6), Some(1.0));
        assert_eq!(h.quantile(1.0), Some(1e7));
        // values at and next to every bin edge land in a valid bin
        let mut e = LogHistogram::new(1e-3, 1e3, 0.1).unwrap();
        for i in 0..=e.num_bins() {
            let edge = e.edge(i);
            for x in [edge, f64::from_bits(edge.to_bits() - 1), f64::from_bits(edge.to_bits() + 1)] {
                e.push(x);
            }
        }
        assert_eq!(e.count() + e.non_finite(), 3 * (e.num_bins() as u64 + 1));
        assert!(LogHistogram::new(0.0, 1.0, 0.1).is_err());
        assert!(LogHistogram::new(1.0, 1.0, 0.1).is_err());
        assert!(LogHistogram::new(1.0, 10.0, f64::NAN).is_err());
        assert!(LogHistogram::new(1.0, 1e300, 1e-12).is_err());
    }

    #[test]
    fn log_histogram_merge_halves_equals_whole() {
        let mk = || LogHistogram::new(1.0, 1e16, 0.05).unwrap();
        let (mut a, mut b, mut all) = (mk(), mk(), mk());
        let mut rng = Lcg(7);
        for i in 0..5000 {
            let x = 10f64.powf(rng.next() * 18.0 - 1.0) - 0.2;
            all.push(x);
            if i % 2 == 0 {
                a.push(x)
            } else {
                b.push(x)
            }
        }
        a.merge(&b).unwrap();
        assert_eq!(a, all);
        let other = LogHistogram::new(1.0, 1e16, 0.1).unwrap();
        let before = a.clone();
        let err = a.merge(&other).unwrap_err();
        assert_eq!(a, before);
        assert!(err.to_string().contains("LogHistogram"));
    }

    #[test]
    fn linear_histogram_quantiles_and_merge() {
        let width = 0.5;
        let mk = || LinearHistogram::new(0.0, 365.0, width).unwrap();
        let (mut a, mut b, mut all) = (mk(), mk(), mk());
        let mut rng = Lcg(3);
        let mut xs = vec![0.0];
        xs.extend((0..4001).map(|_| (rng.next() * 365.0 * 8.0).round() / 8.0));
        for (i, &x) in xs.iter().enumerate() {
            all.push(x);
            if i < 1234 {
                a.push(x)
            } else {
                b.push(x)
            }
        }
        a.merge(&b).unwrap();
        assert_eq!(a, all);
        assert_eq!(all.num_bins(), 730);
        xs.sort_by(f64::total_cmp);
        for i in 0..=200 {
            let est = all.quantile(i as f64 / 200.0).unwrap();
            let truth = exact_lower(&xs, i, 200);
            if truth < 365.0 {
                assert!((est - truth).abs() <= width / 2.0 + 1e-12, "{est} vs {truth}");
            }
        }
        assert_eq!(all.quantile(0.0), Some(0.25)); // exact lo is in the first bin
        let mut h = mk();
        for x in [-1.0, 365.0, f64::NAN] {
            h.push(x);
        }
        assert_eq!((h.underflow(), h.overflow(), h.non_finite(), h.count()), (1, 1, 1, 2));
        assert_eq!((h.quantile(0.5), h.quantile(1.0)), (Some(0.0), Some(365.0)));
        assert!(LinearHistogram::new(0.0, 365.0, 1.0).unwrap().merge(&all).is_err());
    }

    #[test]
    fn grade_counts() {
        let mut g = GradeCounts::new();
        assert!(g.fractions().is_none());
        for x in [0, 1, 1, 2, 3, 4, 4, 4, 7, 255] {
            g.push(x);
        }
        let mut h = GradeCounts::new();
        h.push(2);
        g.merge(&h);
        assert_eq!(g.counts(), [1, 2, 2, 1, 3]);
        assert_eq!((g.total(), g.invalid()), (9, 2));
        let f = g.fractions().unwrap();
        assert!(close(f.iter().sum::<f64>(), 1.0, 1e-12) && close(f[4], 3.0 / 9.0, 1e-15));
        assert_eq!((g.at_least(3).hits(), g.at_least(3).n()), (4, 9));
    }

    fn freireich() -> KaplanMeier {
        let mut km = KaplanMeier::new(40.0, 0.5).unwrap();
        for t in [6, 6, 6, 7, 10, 13, 16, 22, 23] {
            km.push(t as f64, true);
        }
        for t in [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35] {
            km.push(t as f64, false);
        }
        km
    }

    #[test]
    fn kaplan_meier_freireich_6mp() {
        let km = freireich();
        assert_eq!(km.count(), 21);
        let table = [
            (6.0, 0.857, 0.076, 21),
            (7.0, 0.807, 0.087, 17),
            (10.0, 0.753, 0.096, 15),
            (13.0, 0.690, 0.107, 12),
            (16.0, 0.627, 0.114, 11),
            (22.0, 0.538, 0.128, 7),
            (23.0, 0.448, 0.135, 6),
        ];
        for (t, s, se, n) in table {
            let p = km.survival_at(t).unwrap();
            assert_eq!((p.t, p.at_risk), (t, n));
            assert!(close(p.s, s, 1e-3), "S({t}) = {}", p.s);
            assert!(close(p.se, se, 2e-3), "se({t}) = {}", p.se);
            assert!(0.0 <= p.ci_low && p.ci_low < p.s && p.s < p.ci_high && p.ci_high <= 1.0);
        }
        // snapped down to the grid; flat between event times
        assert_eq!(km.survival_at(6.49).unwrap().t, 6.0);
        assert_eq!(km.survival_at(9.9).unwrap().s, km.survival_at(7.0).unwrap().s);
        let p5 = km.survival_at(5.5).unwrap();
        assert_eq!((p5.s, p5.ci_low, p5.ci_high, p5.at_risk), (1.0, 1.0, 1.0, 21));
        assert_eq!(km.survival_at(1e9).unwrap().t, 40.0);
        assert!(km.survival_at(-1.0).is_none() && km.survival_at(f64::NAN).is_none());
        let curve = km.curve();
        assert_eq!(curve.len(), km.grid_len());
        assert_eq!(curve.len(), 81);
        assert_eq!(curve.last().unwrap().events_so_far, 9);
        // log-log band at S(6) (Kalbfleisch–Prentice): about (0.620, 0.952)
        let p6 = km.survival_at(6.0).unwrap();
        assert!(close(p6.ci_low, 0.620, 2e-3) && close(p6.ci_high, 0.952, 2e-3), "{p6:?}");
    }

    #[test]
    fn kaplan_meier_grid_placement_and_invalid() {
        let mut km = KaplanMeier::new(28.0, 0.5).unwrap();
        assert_eq!(km.grid_len(), 57);
        assert!(km.survival_at(0.0).is_none() && km.curve().is_empty());
        km.push(28.0, true); // index 56, included in S(28)
        km.push(3.0 * 0.1, true); // 0.30000000000000004 -> index 1 (t = 0.5)
        km.push(100.0, true); // beyond horizon: censored at 28
        for t in [-1.0, f64::NAN, f64::INFINITY] {
            km.push(t, true);
        }
        assert_eq!((km.count(), km.invalid()), (3, 3));
        let p = km.survival_at(0.5).unwrap();
        assert!(close(p.s, 2.0 / 3.0, 1e-15));
        let end = km.survival_at(28.0).unwrap();
        assert_eq!((end.at_risk, end.events_so_far), (2, 2));
        assert!(close(end.s, 1.0 / 3.0, 1e-15));
        // everyone dies: S = 0, band collapses
        let mut all = KaplanMeier::new(5.0, 1.0).unwrap();
        all.push(2.0, true);
        let p = all.survival_at(2.0).unwrap();
        assert_eq!((p.s, p.se, p.ci_low, p.ci_high), (0.0, 0.0, 0.0, 0.0));
        assert!(KaplanMeier::new(10.0, 0.0).is_err() && KaplanMeier::new(-1.0, 1.0).is_err());
    }

    #[test]
    fn kaplan_meier_no_events_and_merge() {
        let mut km = KaplanMeier::new(10.0, 1.0).unwrap();
        for t in [1.0, 2.5, 7.0, 12.0] {
            km.push(t, false);
        }
        assert!(km.curve().iter().all(|p| p.s == 1.0 && p.ci_low == 1.0 && p.ci_high == 1.0));

        let whole = freireich();
        let mk = || KaplanMeier::new(40.0, 0.5).unwrap();
        let (mut a, mut b) = (mk(), mk());
        let obs = [(6, true), (6, false), (9, false), (10, true), (35, false), (7, true)];
        let rest = [6, 6, 13, 16, 22, 23]
            .map(|t| (t, true))
            .into_iter()
            .chain([10, 11, 17, 19, 20, 25, 32, 32, 34].map(|t| (t, false)));
        for (t, e) in obs {
            a.push(t as f64, e);
        }
        for (t, e) in rest {
            b.push(t as f64, e);
        }
        b.merge(&a).unwrap();
        assert_eq!(b, whole);
        assert_eq!(b.curve(), whole.curve());
        assert!(b.merge(&KaplanMeier::new(40.0, 1.0).unwrap()).is_err());
    }

    #[test]
    fn stratified() {
        assert!(Stratified::new(vec![0.0], Rate::new()).is_err());
        assert!(Stratified::new(vec![0.0, 0.5, 0.5], Rate::new()).is_err());
        assert!(Stratified::new(vec![0.0, f64::NAN], Rate::new()).is_err());
        let mut s = Stratified::new(vec![0.0, 0.2, 0.5, 1.0], Rate::new()).unwrap();
        assert_eq!(s.bins().len(), 3);
        let cases = [(-0.1, None), (0.0, Some(0)), (0.2, Some(1)), (0.49, Some(1)), (0.5, Some(2))];
        for (x, want) in cases {
            assert_eq!(s.bin_of(x), want, "x = {x}");
        }
        assert_eq!((s.bin_of(1.0), s.bin_of(f64::NAN)), (None, None));
        assert_eq!(s.labels(), ["[0, 0.2)", "[0.2, 0.5)", "[0.5, 1)"]);
        assert_eq!((s.label(1).as_deref(), s.label(3)), (Some("[0.2, 0.5)"), None));
        s.get_mut(0.1).unwrap().push(true);
        assert!(s.get_mut(2.0).is_none());
        let mut t = s.clone();
        t.get_mut(0.7).unwrap().push(false);
        s.merge(&t).unwrap();
        assert_eq!((s.get(0.1).unwrap().n(), s.get(0.9).unwrap().n()), (2, 1));

        // all-or-nothing merge for layout-carrying strata
        let h = LinearHistogram::new(0.0, 10.0, 1.0).unwrap();
        let mut hs = Stratified::new(vec![0.0, 1.0, 2.0], h.clone()).unwrap();
        hs.get_mut(0.5).unwrap().push(3.0);
        let mut bad = hs.clone();
        bad.bins[1] = LinearHistogram::new(0.0, 10.0, 2.0).unwrap();
        let before = hs.clone();
        assert!(Accumulate::merge(&mut hs, &bad).is_err());
        assert_eq!(hs, before);
        let other = Stratified::new(vec![0.0, 1.0, 3.0], h).unwrap();
        assert!(hs.merge(&other).is_err());
    }

    #[test]
    fn serializes_to_json() {
        let km = freireich();
        let json = serde_json::to_string(&km.survival_at(6.0)).unwrap();
        assert!(json.contains("\"at_risk\":21"));
        let s = Stratified::new(vec![0.0, 1.0], GradeCounts::new()).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"counts\":[0,0,0,0,0]"), "{json}");
        assert!(serde_json::to_string(&LogHistogram::new(1.0, 10.0, 0.5).unwrap()).is_ok());
        assert!(serde_json::to_string(&Rate::new().estimate()).unwrap() == "null");
    }
}
