//! Virtual-trial reproducibility: the same seed gives the same bits for any thread count and
//! any shard split; failed patients are recorded, not lost, and do not break determinism.

use cartkin::io::PatientCsv;
use cartkin::population::Population;
use cartkin::trial::{PatientOutcome, PatientSource, Trial, TrialSummary};
use cartkin::SolverConfig;

const N: u64 = 48;
const SEED: u64 = 11;

fn run_with_threads<S: PatientSource>(trial: &Trial<S>, threads: usize) -> (String, Vec<u8>) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let mut csv = PatientCsv::new(Vec::new(), trial.source().parameter_names()).unwrap();
    let summary = pool.install(|| trial.run(&mut |o| csv.write(o).unwrap(), None));
    (serde_json::to_string_pretty(&summary.to_json()).unwrap(), csv.finish().unwrap())
}

#[test]
fn summary_and_patient_table_are_identical_for_1_2_and_4_threads() {
    // small chunks so that several chunks run, each spread over the threads
    let trial = Trial::new(Population::reference_200(), N, SEED).chunk(10);
    let (s1, c1) = run_with_threads(&trial, 1);
    for t in [2, 4] {
        let (s, c) = run_with_threads(&trial, t);
        assert_eq!(s, s1, "summary.json differs with {t} threads");
        assert_eq!(c, c1, "patients.csv differs with {t} threads");
    }
    let rows = String::from_utf8(c1).unwrap();
    assert_eq!(rows.lines().count() as u64, N + 1, "header + one row per patient");
    // rows come in id order
    for (k, line) in rows.lines().skip(1).enumerate() {
        assert!(line.starts_with(&format!("{k},ok,")), "row {k}: {line:.40}");
    }
}

#[test]
fn shards_merge_to_the_full_run_exactly() {
    let trial = Trial::new(Population::reference_200(), N, SEED).chunk(7);
    let full = trial.run(&mut |_| {}, None);
    for shards in [1u64, 3, 7] {
        let mut merged: Option<TrialSummary> = None;
        let mut ids = Vec::new();
        for k in 0..shards {
            let part = trial.run_shard(k, shards, &mut |o| ids.push(o.id), None).unwrap();
            match merged.as_mut() {
                None => merged = Some(part),
                Some(m) => m.merge(&part).unwrap(),
            }
        }
        assert_eq!(ids, (0..N).collect::<Vec<_>>(), "{shards} shards cover every id once, in order");
        let merged = merged.unwrap();
        assert_eq!(merged, full, "{shards} shards");
        assert_eq!(merged.to_json(), full.to_json());
    }
    assert!(trial.run_shard(3, 3, &mut |_| {}, None).is_err());
}

#[test]
fn a_patient_depends_only_on_seed_and_id() {
    let a = Trial::new(Population::reference_200(), 20, SEED);
    let b = Trial::new(Population::reference_200(), 5, SEED);
    assert_eq!(a.simulate_patient(3), b.simulate_patient(3));
    let c = Trial::new(Population::reference_200(), 20, SEED + 1);
    assert_ne!(a.simulate_patient(3).covariates, c.simulate_patient(3).covariates);
}

#[test]
fn forced_failures_are_recorded_and_the_trial_completes_deterministically() {
    // a step limit of 10 fails every patient: each is recorded with its id, time and reason
    let cfg = SolverConfig::default().max_steps(10).unwrap();
    let trial = Trial::new(Population::reference_200(), 12, SEED).solver(cfg).chunk(5);
    let mut outcomes: Vec<PatientOutcome> = Vec::new();
    let summary = trial.run(&mut |o| outcomes.push(o.clone()), None);
    assert_eq!(summary.n_patients(), 12);
    assert_eq!(summary.n_failed(), 12);
    assert_eq!(summary.failures().get("step_limit"), Some(&12));
    for (k, o) in outcomes.iter().enumerate() {
        assert_eq!(o.id, k as u64);
        let f = o.result.as_ref().unwrap_err();
        assert_eq!(f.label(), "step_limit");
        assert!(o.covariates.is_some(), "the failed row keeps its covariates");
    }
    let j = summary.to_json();
    assert!(j["cr_rate"].is_null(), "a rate with no completed patient is absent, not NaN");
    assert_eq!(j["cr_rate_n"], 0);
    let (s1, c1) = run_with_threads(&trial, 1);
    let (s2, c2) = run_with_threads(&trial, 3);
    assert_eq!((s1, c1.clone()), (s2, c2));
    let text = String::from_utf8(c1).unwrap();
    assert!(text.lines().nth(1).unwrap().starts_with("0,failed:step_limit,"));
}

#[test]
fn a_mix_of_failed_and_completed_patients_is_deterministic() {
    // a limit that only long solves exceed
    let cfg = SolverConfig::default().max_steps(260).unwrap();
    let trial = Trial::new(Population::reference_200(), 40, SEED).solver(cfg).chunk(9);
    let s = trial.run(&mut |_| {}, None);
    let failed = s.n_failed();
    assert!(failed > 0 && failed < 40, "expected a mix, got {failed} failures of 40");
    let (a, _) = run_with_threads(&trial, 1);
    let (b, _) = run_with_threads(&trial, 4);
    assert_eq!(a, b);
}

#[test]
fn progress_reports_every_chunk() {
    let trial = Trial::new(Population::reference_200(), 10, SEED).chunk(4);
    let seen = std::sync::Mutex::new(Vec::new());
    let p = |d: u64, t: u64| seen.lock().unwrap().push((d, t));
    trial.run(&mut |_| {}, Some(&p));
    assert_eq!(*seen.lock().unwrap(), vec![(4, 10), (8, 10), (10, 10)]);
}

#[test]
fn shard_states_written_to_files_merge_to_the_one_process_summary() {
    use cartkin::state::{MergeError, SummaryState};
    let dir = std::env::temp_dir().join(format!("cartkin-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trial = Trial::new(Population::default(), 60, SEED).chunk(8);
    let full = serde_json::to_string_pretty(&trial.run(&mut |_| {}, None).to_json()).unwrap();
    // three shards, each written to its own file as a separate process would
    for k in 0..3 {
        let st = trial.run_shard_state(k, 3, &mut |_| {}, None).unwrap();
        std::fs::write(dir.join(format!("shard{k}.json")), st.to_json()).unwrap();
    }
    let read = |k: u64| {
        SummaryState::from_json(&std::fs::read_to_string(dir.join(format!("shard{k}.json"))).unwrap()).unwrap()
    };
    let states: Vec<SummaryState> = [2, 0, 1].iter().map(|&k| read(k)).collect();
    let merged = SummaryState::merge(&states).unwrap().complete().unwrap();
    assert_eq!(serde_json::to_string_pretty(&merged.summary.to_json()).unwrap(), full, "summary.json bytes");
    // the same shard twice
    let dup = SummaryState::merge(&[read(0), read(0), read(1), read(2)]).unwrap_err();
    assert_eq!(dup, MergeError::Duplicate { shard: 0 });
    // an incomplete set names what is missing
    let part = SummaryState::merge(&[read(0), read(2)]).unwrap().complete().unwrap_err();
    assert_eq!(part, MergeError::Missing { shards: vec![1], n_shards: 3 });
    assert!(part.to_string().contains("missing shards 1"));
    // a shard of another seed
    let other = Trial::new(Population::default(), 60, SEED + 1).run_shard_state(1, 3, &mut |_| {}, None).unwrap();
    match SummaryState::merge(&[read(0), other]).unwrap_err() {
        MergeError::Manifest { field, .. } => assert_eq!(field, "seed"),
        e => panic!("expected a manifest mismatch, got {e}"),
    }
    // another crate version
    let mut old = read(1);
    old.manifest.crate_version = "0.0.1".into();
    assert!(matches!(SummaryState::merge(&[read(0), old]).unwrap_err(), MergeError::CrateVersion { .. }));
    // another resolved run with the same seed (another horizon)
    let longer = Trial::new(Population::default(), 60, SEED).horizon(400.0).unwrap();
    let l1 = longer.run_shard_state(1, 3, &mut |_| {}, None).unwrap();
    assert!(matches!(SummaryState::merge(&[read(0), l1]).unwrap_err(), MergeError::Manifest { field: "run_hash", .. }));
    std::fs::remove_dir_all(&dir).ok();
}
