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

/// A model with CAR-T cells only (`dC/dt = -k C`, one infusion of 1e8 at day 0): the trial
/// writes its kinetics and leaves every endpoint it cannot have empty, and counts none of them.
mod cart_only {
    use cartkin::endpoints::Definitions;
    use cartkin::model::{ModelInfo, Observable};
    use cartkin::regimen::{Infusion, Regimen, SteroidPolicy, TociPolicy};
    use cartkin::solve::{run_model, Solution, SolverConfig};
    use cartkin::trial::{Failure, PatientSource, Subject};
    use cartkin::{InputError, Model, SolveError};
    use nalgebra::SVector;

    pub static INFO: ModelInfo = ModelInfo { name: "decay", version: "1", states: &["C"], units: &["cells"] };

    #[derive(Debug, Clone, Copy)]
    pub struct Decay(pub f64);

    impl Model<1> for Decay {
        type Mode = ();
        type Row = f64;
        fn info(&self) -> &ModelInfo {
            &INFO
        }
        fn start(&self) -> (SVector<f64, 1>, ()) {
            (SVector::from([0.0]), ())
        }
        fn atol(&self, cfg: &SolverConfig) -> SVector<f64, 1> {
            SVector::from([cfg.atol() * cfg.atol_scales().cells])
        }
        fn rhs(&self, _: &(), _t: f64, y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>) {
            dy[0] = -self.0 * y[0];
        }
        fn infuse(&self, _: &mut (), y: &mut SVector<f64, 1>, cells: f64) {
            y[0] += cells;
        }
        fn observe(&self, _: &(), o: Observable, y: &SVector<f64, 1>, dy: &SVector<f64, 1>) -> Option<(f64, f64)> {
            (o == Observable::CarT).then_some((y[0], dy[0]))
        }
        fn row(&self, _: &(), _t: f64, y: &SVector<f64, 1>) -> f64 {
            y[0]
        }
    }

    impl Subject for Decay {
        type Row = f64;
        fn covariates(&self) -> Option<cartkin::population::Covariates> {
            None
        }
        fn parameters(&self) -> Vec<(&'static str, f64)> {
            vec![("k", self.0)]
        }
        fn simulate(&self, cfg: &SolverConfig, horizon: f64, grid: &[f64], id: u64) -> Result<Solution<f64>, Failure> {
            let reg = Regimen::new(vec![Infusion { t: 0.0, cells: 1e8 }], false, TociPolicy::None, SteroidPolicy::None)
                .map_err(Failure::Input)?;
            run_model(self, &reg, &Definitions::default(), cfg, horizon, grid, false)
                .map_err(|(t, reason)| Failure::Solve(SolveError { patient_id: id, t, reason }))
        }
    }

    /// k = 0.1 (1 + id / 10) per day.
    pub struct Source;
    impl PatientSource for Source {
        type Patient = Decay;
        fn patient(&self, _seed: u64, id: u64) -> Result<Decay, InputError> {
            Ok(Decay(0.1 * (1.0 + id as f64 / 10.0)))
        }
        fn parameter_names(&self) -> Vec<&'static str> {
            vec!["k"]
        }
        fn model(&self) -> &'static ModelInfo {
            &INFO
        }
        fn describe(&self) -> String {
            "k = 0.1 (1 + id / 10)".into()
        }
    }
}

#[test]
fn a_model_without_tumour_or_cytokines_gets_empty_columns_and_uncounted_endpoints() {
    let trial = Trial::new(cart_only::Source, 10, 1).horizon(60.0).unwrap();
    let (summary, csv) = run_with_threads(&trial, 2);
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    for (id, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), header.len());
        assert_eq!(f[col("status")], "ok");
        for empty in ["f0", "cr_day28", "relapse_day", "peak_il6", "crs_grade", "B_day28", "M_end", "Ltot_end"] {
            assert_eq!(f[col(empty)], "", "patient {id} column {empty}");
        }
        // Cmax is the infused 1e8 at day 0; C at day 60 is the closed form within the default
        // tolerance (rtol 1e-6, atol 1e-6 x 1e8 = 100 cells)
        assert_eq!(f[col("cmax")].parse::<f64>().unwrap(), 1e8);
        let k = 0.1 * (1.0 + id as f64 / 10.0);
        let c_end: f64 = f[col("C_end")].parse().unwrap();
        let exact = 1e8 * (-k * 60.0f64).exp();
        assert!((c_end - exact).abs() < 1e-5 * exact + 100.0, "patient {id}: C_end {c_end} vs {exact}");
        assert_eq!(f[col("k")].parse::<f64>().unwrap(), k);
    }
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["n_patients"], 10);
    assert_eq!(s["n_failed"], 0);
    assert_eq!(
        (&s["cr_rate"], &s["cr_rate_n"]),
        (&serde_json::Value::Null, &serde_json::json!(0)),
        "no response counted"
    );
    assert_eq!(s["crs_any_rate_n"], 0);
    assert_eq!(s["b_recovery_rate_n"], 0);
    assert_eq!(s["crs_grade_counts"], serde_json::json!([0, 0, 0, 0, 0]));
    assert_eq!(s["cmax_median"].as_f64().map(|c| (c / 1e8 - 1.0).abs() < 0.01), Some(true));
}
