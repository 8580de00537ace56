//! Bounded work and honest results for every input: limits with typed errors, no panics,
//! no non-finite results reported as results, outputs that never escape their directory.

use cartkin::error::{one_line, SolveFailure};
use cartkin::io::{file_stem, read_capped, write_atomic, MAX_INPUT_BYTES};
use cartkin::model::MinimalModel;
use cartkin::solve::{grid_times, MAX_HORIZON_DAYS};
use cartkin::{
    simulate, Definitions, Error, Grid, MinimalInit, MinimalParams, MinimalSolver, OutputSpec, Patient, PolicyRules,
    Regimen, Scenario, SolverConfig,
};

#[test]
fn horizons_beyond_100_years_are_typed_errors_not_panics() {
    let sc = Scenario::nominal();
    for h in [1e308, 1e9, 1e7, MAX_HORIZON_DAYS + 1.0, f64::INFINITY, f64::NAN] {
        assert!(sc.clone().with_horizon(h).is_err(), "horizon {h}");
        assert!(grid_times(&Grid::Daily, h).is_err(), "grid for {h}");
    }
    assert!(grid_times(&Grid::Daily, 1e20).is_err());
    assert_eq!(grid_times(&Grid::Daily, MAX_HORIZON_DAYS).unwrap().len(), 36_526);
    let json = std::fs::read_to_string("tests/data/S1_nominal.json")
        .unwrap()
        .replace("\"horizon\": 365.0", "\"horizon\": 1e308");
    assert!(json.contains("\"horizon\": 1e308,"), "the scenario file changed: adapt the test");
    assert!(Scenario::from_json_str(&json).is_err());
}

#[test]
fn a_zero_length_tocilizumab_window_with_many_doses_fails_at_one_instant_instead_of_looping() {
    let rules = PolicyRules { toci_window_days: 1e-300, toci_max_reactive_doses: 1_000_000, ..PolicyRules::default() };
    let regimen = Regimen::single_dose(1e8).unwrap().with_rules(rules).unwrap();
    let sc = Scenario::nominal().with_regimen(regimen).unwrap();
    match simulate(&sc, &SolverConfig::default(), &OutputSpec::endpoints_only()) {
        Err(Error::Solve(e)) => assert!(matches!(e.reason, SolveFailure::EventStorm { .. }), "{e}"),
        Err(e) => panic!("expected an event storm, got {e}"),
        Ok(sol) => assert!(sol.endpoints.toci_days.len() < 1000, "{} doses", sol.endpoints.toci_days.len()),
    }
}

#[test]
fn a_non_finite_endpoint_is_a_failed_solve() {
    let defs = Definitions { copies_per_cell: 1e308, ..Definitions::default() };
    let sc = Scenario::nominal().with_definitions(defs).unwrap();
    match simulate(&sc, &SolverConfig::default(), &OutputSpec::endpoints_only()) {
        Err(Error::Solve(e)) => {
            assert_eq!(e.reason, SolveFailure::NonFiniteEndpoint { name: "cmax_copies" });
            assert_eq!(e.reason.label(), "non_finite_endpoint");
        }
        other => panic!("expected a failed solve, got {other:?}"),
    }
}

#[test]
fn loose_tolerances_are_refused() {
    for r in [0.5, 0.011, 1.0, 0.0, f64::NAN] {
        assert!(SolverConfig::with_rtol(r).is_err(), "rtol {r}");
    }
    assert!(SolverConfig::with_rtol(1e-2).is_ok());
}

#[test]
fn duplicate_keys_in_scenario_maps_are_refused() {
    let json = std::fs::read_to_string("tests/data/S1_nominal.json").unwrap();
    assert!(Scenario::from_json_str(&json).is_ok());
    for (open, dup) in [("\"L\": {", "\"CD19+CD22+\": 1.0,"), ("\"parameters\": {", "\"rho_E\": 2.0,")] {
        assert_eq!(json.matches(open).count(), 1, "{open}");
        let bad = json.replacen(open, &format!("{open} {dup}"), 1);
        let e = Scenario::from_json_str(&bad).unwrap_err();
        assert!(e.to_string().contains("duplicate key"), "{e}");
    }
}

#[test]
fn the_minimal_solver_refuses_invalid_parameters() {
    let bad =
        MinimalModel { params: MinimalParams { k_a: 0.0, ..MinimalParams::nominal() }, init: MinimalInit::default() };
    let good = MinimalModel { params: MinimalParams::nominal(), init: MinimalInit::default() };
    let mut s = MinimalSolver::new(&SolverConfig::default());
    let mut out = vec![[0.0; 6]; 31];
    assert_eq!(s.solve(&bad, &mut out).unwrap_err(), (0.0, SolveFailure::InvalidInput));
    let mut seen = Vec::new();
    s.solve_batch(&[good, bad, good, good, good], 30, |j, r, rows| seen.push((j, r.is_ok(), rows.len())));
    seen.sort_by_key(|x| x.0);
    assert_eq!(seen, vec![(0, true, 31), (1, false, 0), (2, true, 31), (3, true, 31), (4, true, 31)]);
}

#[test]
fn absurd_cell_counts_are_refused() {
    assert!(Patient::from_counts([1e308; 4], 1e8).is_err());
    assert!(Patient::from_counts([1e12, 0.0, 0.0, 0.0], 1e308).is_err());
    assert!(Patient::from_counts([1e12, 0.0, 0.0, 0.0], 1e8).is_ok());
}

#[test]
fn output_names_never_leave_their_directory_and_links_are_not_followed() {
    for bad in ["../../x", "/etc/passwd", "a\nb", "", ".hidden", "a/b", "a\\b", &"x".repeat(129)] {
        assert!(file_stem(bad).is_err(), "{bad:?}");
    }
    assert_eq!(file_stem("S1_nominal").unwrap(), "S1_nominal");
    let d = std::env::temp_dir().join(format!("cartkin-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "keep").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&victim, d.join("out.csv")).unwrap();
        write_atomic(&d, "out.csv", b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep", "the link's target is untouched");
        assert_eq!(std::fs::read_to_string(d.join("out.csv")).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(d.join("out.csv")).unwrap().file_type().is_symlink());
        std::os::unix::fs::symlink(&d, d.join("dirlink")).unwrap();
        assert!(write_atomic(&d.join("dirlink"), "x.csv", b"1").is_err(), "a linked directory is refused");
    }
    assert!(write_atomic(&d, "../escape.csv", b"1").is_err());
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn input_files_are_capped_and_errors_are_one_escaped_line() {
    #[cfg(unix)]
    {
        let e = read_capped(std::path::Path::new("/dev/zero"), MAX_INPUT_BYTES).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(Scenario::from_path("/dev/zero").is_err());
    }
    let msg = one_line("bad key \"a\nerror: forged\"", 1000);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("\\n"));
    assert_eq!(one_line(&"x".repeat(10_000_000), 2000).len(), 2003);
}

#[test]
fn trial_settings_are_checked_and_a_bad_grid_is_a_recorded_failure() {
    use cartkin::population::Population;
    use cartkin::trial::{Failure, Trial, TrialSummary};
    assert!(TrialSummary::new(f64::NAN, &[0.0, 1.0], &[0.0, 1.0]).is_err());
    assert!(TrialSummary::new(365.0, &[0.5, 0.2], &[0.0, 1.0]).is_err());
    assert!(TrialSummary::new(365.0, &[0.0, 1.0], &[f64::NAN, 1.0]).is_err());
    assert!(TrialSummary::new(365.0, &[0.0, 0.5, 1.0], &[0.0, 1e8, 1e12]).is_ok());
    assert!(Trial::new(Population::reference_200(), 2, 1).f0_strata(vec![0.3]).is_err());
    assert!(Trial::new(Population::reference_200(), 2, 1).dose_strata(vec![2.0, 1.0]).is_err());
    // output times beyond the horizon: the patients with trajectories fail with the reason
    let trial = Trial::new(Population::reference_200(), 3, 1).trajectories(2, Grid::Times(vec![0.0, 400.0]));
    let mut seen = Vec::new();
    let summary = trial.run(&mut |o| seen.push((o.id, matches!(o.result, Err(Failure::Input(_))))), None);
    assert_eq!(seen, vec![(0, true), (1, true), (2, false)]);
    assert_eq!(summary.n_failed(), 2);
}
