//! Sensitivity of a study's trial-level outcomes (cartkin::sensitivity::study;
//! docs/ANALYSIS.md): common random numbers make a factor the outputs do not depend on get
//! indices of exactly 0, and an influential factor positive ones.

use cartkin::calibrate::Knob;
use cartkin::sensitivity::study::study_sensitivity;
use cartkin::study::Study;
use std::path::Path;

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds: cargo test --release")]
fn a_factor_the_outputs_ignore_gets_zero_and_fitness_does_not() {
    let study = Study::parse(
        "model = \"v2\"\npopulation = \"eliana\"\npatients = 120\nseed = 3\nhorizon_days = 60\n",
        "s.toml",
        Path::new("."),
    )
    .unwrap();
    // N_max scales only the ICANS severity, which feeds back on nothing the outputs read
    // (docs/MODEL-v2.md 3.4): with the same patients in every trial, f(A) = f(A_B) for it
    let factors = vec![
        Knob { path: "typical.N_max".into(), lo: 4.0, hi: 6.0, log: false, start: None },
        Knob { path: "typical.phi_T".into(), lo: 0.5, hi: 1.5, log: false, start: None },
    ];
    let outputs = vec!["cr_rate".to_string(), "cmax_median".to_string(), "icans_any_rate".to_string()];
    let mut calls = 0;
    let r = study_sensitivity(&study, &factors, &outputs, 8, 1, 50, &mut |_, _| calls += 1).unwrap();
    assert_eq!((r.trials, calls, r.patients), (32, 32, 120));
    for o in &r.outputs[..2] {
        let ix = o.indices.as_ref().unwrap();
        assert_eq!(ix.st[0], 0.0, "{}: N_max moves nothing", o.output);
        assert_eq!(ix.s1[0], 0.0, "{}", o.output);
        assert!(ix.st[1] > 0.5, "{}: phi_T drives it: {:?}", o.output, ix.st);
    }
    // ICANS does depend on N_max
    let icans = r.outputs[2].indices.as_ref().unwrap();
    assert!(icans.st[0] > 0.0, "{:?}", icans.st);
    // the CSV has one row per output and factor
    assert_eq!(r.csv().lines().count(), 1 + 3 * 2);
    // an unknown setting is refused before any trial runs
    let bad = vec![Knob { path: "typical.nope".into(), lo: 0.0, hi: 1.0, log: false, start: None }];
    assert!(study_sensitivity(&study, &bad, &outputs, 2, 1, 10, &mut |_, _| {}).is_err());
}

/// Rows run in any order and split into shards ([`shard_rows`]) give the indices of the
/// whole design run in order: a row's outputs depend on the row alone.
#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds: cargo test --release")]
fn rows_in_any_order_and_shards_give_the_same_indices() {
    use cartkin::sensitivity::study::{shard_rows, StudyDesign};
    let study = Study::parse(
        "model = \"v2\"\npopulation = \"eliana\"\npatients = 60\nseed = 5\nhorizon_days = 90\n",
        "s.toml",
        Path::new("."),
    )
    .unwrap();
    let factors = vec![
        Knob { path: "typical.phi_T".into(), lo: 0.6, hi: 1.4, log: false, start: None },
        Knob { path: "typical.I_S50".into(), lo: 300.0, hi: 700.0, log: true, start: None },
    ];
    let outputs = vec!["cr_rate".to_string(), "crs_severe_rate".to_string()];
    let whole = study_sensitivity(&study, &factors, &outputs, 4, 7, 40, &mut |_, _| {}).unwrap();
    let design = StudyDesign::new(&study, &factors, &outputs, 4, 7, 40).unwrap();
    assert_eq!(design.rows(), 16);
    let mut y = vec![Vec::new(); 16];
    for k in (0..3).rev() {
        let r = shard_rows(16, k, 3);
        assert_eq!(r.len(), if k == 2 { 6 } else { 5 });
        for row in r.rev() {
            y[row] = design.run_row(row).unwrap();
        }
    }
    assert_eq!(StudyDesign::analyze_rows(design.header(), &y).unwrap(), whole);
    // the header says what decides the rows: another seed is another fingerprint
    let other = StudyDesign::new(&study, &factors, &outputs, 4, 8, 40).unwrap();
    assert_ne!(other.header().fingerprint, design.header().fingerprint);
    assert!(StudyDesign::analyze_rows(design.header(), &y[..15]).is_err());
    assert!(design.run_row(16).is_err());
}
