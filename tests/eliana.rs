//! The reference model's (v1) ELIANA-like population (`population = "eliana"` of model
//! `reference`) against the ELIANA calibration targets (CALIBRATION.md, v1 section). The
//! default trial is model v2's since the Model v2 issue: `tests/eliana_v2.rs`. Slow in debug
//! builds: run with `cargo test --release --test eliana -- --ignored` (CI does).

use cartkin::population::Population;
use cartkin::trial::Trial;

/// ELIANA's targets: `studies/targets/eliana.toml`, the one table the calibrations read
/// (rates: Wilson 95% intervals of the published counts, n = 75 infused; kinetics: the
/// published medians +-30%; each entry names its source).
fn targets() -> Vec<cartkin::calibrate::Target> {
    let t = cartkin::calibrate::read_targets(std::path::Path::new("studies/targets/eliana.toml")).unwrap();
    assert_eq!(t.len(), 7, "the seven ELIANA targets besides the MRD ratio");
    t
}

#[test]
#[ignore = "slow (10,000 patients): run with --release -- --ignored"]
fn default_trial_lands_in_the_eliana_intervals() {
    assert_eq!(Population::default(), Population::eliana_like());
    let s = Trial::new(Population::default(), 10_000, 2018).run(&mut |_| {}, None).to_json();
    let mut bad = Vec::new();
    for t in targets() {
        let v = s[t.key.as_str()].as_f64().unwrap_or(f64::NAN);
        if !(t.low..=t.high).contains(&v) {
            bad.push(format!("{} = {v:.4} not in [{}, {}] ({})", t.key, t.low, t.high, t.source));
        }
    }
    // all responders MRD-negative (flow, 1e-4) at day 28, Maude 2018
    let ratio = s["mrd_neg_rate"].as_f64().unwrap_or(0.0) / s["cr_rate"].as_f64().unwrap_or(f64::NAN);
    if ratio.is_nan() || ratio < 0.95 {
        bad.push(format!("mrd_neg_rate / cr_rate = {ratio:.4} < 0.95 (all responders MRD-negative, Maude 2018)"));
    }
    assert!(s["n_failed"].as_u64().unwrap_or(u64::MAX) <= 10, "failed solves: {}", s["failures_by_reason"]);
    // the invariant check flags no patient of the default population at the default tolerance
    assert!(s["failures_by_reason"].get("invariant").is_none(), "flagged: {}", s["failures_by_reason"]);
    assert!(bad.is_empty(), "outside the ELIANA intervals:\n  {}", bad.join("\n  "));
}
