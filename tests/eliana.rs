//! The reference model's (v1) ELIANA-like population (`population = "eliana"` of model
//! `reference`) against the ELIANA calibration targets (CALIBRATION.md, v1 section). The
//! default trial is model v2's since the Model v2 issue: `tests/eliana_v2.rs`. Slow in debug
//! builds: run with `cargo test --release --test eliana -- --ignored` (CI does).

use cartkin::population::Population;
use cartkin::trial::Trial;

/// `(summary.json key, low, high, published source)`. Rates: Wilson 95% intervals of the
/// published counts (n = 75 infused); kinetics: the published medians +-30%.
const TARGETS: [(&str, f64, f64, &str); 7] = [
    ("cr_rate", 0.706, 0.882, "overall remission 61/75 = 81%, Maude 2018 NEJM 378:439"),
    ("crs_any_rate", 0.664, 0.853, "CRS any grade 58/75 = 77%, Maude 2018; label 79%"),
    ("crs_severe_rate", 0.355, 0.578, "CRS grade 3-4 (Penn) 35/75 = 46%, Maude 2018"),
    ("rfs12_responders", 0.42, 0.73, "relapse-free at 12 months 59% (42-73), Maude 2018"),
    ("cd19neg_relapse_share", 0.51, 0.88, "CD19-negative relapses 14/19, ELIANA follow-up"),
    ("tmax_median", 6.5, 12.1, "CAR-T Tmax median ~9.3 d, Stein 2019 CPT:PSP 8:285"),
    ("cmax_fold_median", 2730.0, 5070.0, "expansion ~3,900-fold, Stein 2019 CPT:PSP 8:285"),
];

#[test]
#[ignore = "slow (10,000 patients): run with --release -- --ignored"]
fn default_trial_lands_in_the_eliana_intervals() {
    assert_eq!(Population::default(), Population::eliana_like());
    let s = Trial::new(Population::default(), 10_000, 2018).run(&mut |_| {}, None).to_json();
    let mut bad = Vec::new();
    for (k, lo, hi, src) in TARGETS {
        let v = s[k].as_f64().unwrap_or(f64::NAN);
        if !(lo..=hi).contains(&v) {
            bad.push(format!("{k} = {v:.4} not in [{lo}, {hi}] ({src})"));
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
