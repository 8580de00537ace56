//! Every TOML example of docs/STUDY.md reads as a valid study (fragments of one section are
//! read on top of `population = "eliana"`), runs, and `study show` of it reads back to the
//! same study.

use cartkin::study::Study;
use std::path::Path;

#[test]
fn every_example_of_the_study_docs_is_a_valid_study() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/STUDY.md")).unwrap();
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        match (&mut cur, line.trim_start().starts_with("```")) {
            (None, true) if line.trim() == "```toml" => cur = Some(String::new()),
            (Some(b), true) => {
                blocks.push(std::mem::take(b));
                cur = None;
            }
            (Some(b), false) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    assert!(blocks.len() >= 10, "{} toml examples", blocks.len());
    for b in &blocks {
        let full = if b.trim_start().starts_with('[') {
            format!("population = \"eliana\"\npatients = 20\n{b}")
        } else if !b.contains("patients") {
            // a one-patient file for `cartkin simulate` (which supplies `patients`)
            format!("patients = 1\n{b}")
        } else {
            b.clone()
        };
        let s =
            Study::parse(&full, "STUDY.md example", &root.join("tests/data")).unwrap_or_else(|e| panic!("{e}\n{full}"));
        let again = Study::parse(&s.to_toml(), "shown", &root.join("tests/data")).unwrap();
        assert_eq!(again.source, s.source, "{full}");
        assert_eq!((again.solver, &again.f0_strata, &again.dose_strata), (s.solver, &s.f0_strata, &s.dose_strata));
        let summary = match (s.v2_trial(), s.population_trial(), s.table_trial(), s.zoo_trial()) {
            (Some(t), _, _, _) => t.chunk(8).run(&mut |_| {}, None),
            (_, Some(t), _, _) => t.chunk(8).run(&mut |_| {}, None),
            (_, _, Some(t), _) => t.chunk(8).run(&mut |_| {}, None),
            (_, _, _, Some(t)) => t.chunk(8).run(&mut |_| {}, None),
            _ => unreachable!(),
        };
        assert!(summary.n_patients() > 0 && summary.n_failed() == 0, "{full}");
    }
}

#[test]
fn endpoint_definitions_of_a_study_reach_the_endpoints_and_the_summary() {
    let run = |extra: &str| {
        let text = format!("population = \"eliana\"\npatients = 300\nseed = 4\n{extra}");
        let s = Study::parse(&text, "e.toml", Path::new(".")).unwrap();
        s.population_trial().unwrap().run(&mut |_| {}, None).to_json()
    };
    let base = run("");
    // NGS at the flow threshold: the two MRD rates agree
    let same = run("[endpoints]\nmrd_ngs_threshold = 1e-4\n");
    assert_eq!(same["mrd_neg_ngs_rate"], same["mrd_neg_rate"]);
    assert_ne!(base["mrd_neg_ngs_rate"], base["mrd_neg_rate"]);
    assert_eq!(same["cr_rate"], base["cr_rate"]);
    // a lower grade-3 threshold makes severe CRS no rarer
    let low = run("[endpoints]\ncrs_thresholds = [50, 200, 500, 5000]\n");
    assert!(low["crs_severe_rate"].as_f64() >= base["crs_severe_rate"].as_f64());
    assert_ne!(low["crs_severe_rate"], base["crs_severe_rate"]);
    // invalid definitions name the key
    let e =
        Study::parse("patients = 1\n[endpoints]\ncrs_thresholds = [50, 20, 1000, 5000]\n", "e.toml", Path::new("."))
            .unwrap_err();
    assert!(e.to_string().contains("crs_thresholds"), "{e}");
}
