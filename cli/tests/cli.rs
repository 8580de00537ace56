//! The `cartkin` binary as a user runs it: studies, shards and merges, bad studies, resume
//! after a kill, signals, output directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cartkin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartkin")).args(args).output().expect("run cartkin")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn study(name: &str) -> String {
    root().join("studies").join(name).display().to_string()
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cartkin-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn same_outputs(a: &Path, b: &Path) {
    for f in ["summary.json", "patients.csv"] {
        assert!(read(&a.join(f)) == read(&b.join(f)), "{f} differs between {} and {}", a.display(), b.display());
    }
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout {}\nstderr {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn models_lists_every_builtin_model_once() {
    let out = cartkin(&["models"]);
    ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> =
        text.lines().filter(|l| l.starts_with("model ")).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(
        names,
        [
            "reference",
            "minimal",
            "v2",
            "stein2019",
            "kimmel2021",
            "leon_triana2021",
            "leon_triana2021_progenitors",
            "hanson2016"
        ],
        "{text}"
    );
    assert!(text.contains("11 states: E, M, X"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("population eliana")), "{text}");
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = cartkin(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}

/// What `virtual_trial --patients N --seed S --out DIR` writes, through the same library
/// calls (the example is a thin user of them): the default population, patients.csv
/// streamed, summary.json pretty-printed.
fn library_trial(n: u64, seed: u64) -> (Vec<u8>, Vec<u8>) {
    use cartkin::io::PatientCsv;
    use cartkin::population::v2::PopulationV2;
    use cartkin::trial::Trial;
    // the default trial (studies/eliana.toml, `cartkin trial eliana`) runs model v2
    let trial = Trial::new(PopulationV2::default(), n, seed);
    let mut csv = PatientCsv::for_source(Vec::new(), trial.source()).unwrap();
    let summary = trial.run(&mut |o| csv.write(o).unwrap(), None);
    let s = serde_json::to_string_pretty(&summary.to_json()).unwrap() + "\n";
    (s.into_bytes(), csv.finish().unwrap())
}

#[test]
fn the_eliana_study_writes_the_default_trial_byte_for_byte() {
    let d = scratch("eliana");
    let out = d.join("A");
    ok(&cartkin(&[
        "trial",
        &study("eliana.toml"),
        "--patients",
        "1500",
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]));
    let (summary, csv) = library_trial(1500, 5);
    assert!(read(&out.join("summary.json")) == summary, "summary.json");
    assert!(read(&out.join("patients.csv")) == csv, "patients.csv");
    // run.json: today's keys and the added ones
    let run: serde_json::Value = serde_json::from_slice(&read(&out.join("run.json"))).unwrap();
    for k in ["threads", "seed", "n_patients", "wall_s", "study", "manifest", "reused_patients", "computed_patients"] {
        assert!(run.get(k).is_some(), "run.json has no {k}");
    }
    assert_eq!(
        (run["seed"].as_u64(), run["n_patients"].as_u64(), run["computed_patients"].as_u64()),
        (Some(5), Some(1500), Some(1500))
    );
    // the built-in study by name is the same study
    let by_name = d.join("B");
    ok(&cartkin(&[
        "trial",
        "eliana",
        "--patients",
        "1500",
        "--seed",
        "5",
        "--out",
        by_name.to_str().unwrap(),
        "--quiet",
        "--threads",
        "1",
    ]));
    same_outputs(&out, &by_name);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn study_show_runs_to_the_same_result() {
    let d = scratch("show");
    for name in ["eliana.toml", "adults-cd28.toml", "dual-cd19-cd22.toml", "stein2019.toml", "kimmel2021.toml"] {
        let shown = cartkin(&["study", "show", &study(name)]);
        ok(&shown);
        let f = d.join(format!("shown-{name}"));
        std::fs::write(&f, &shown.stdout).unwrap();
        let (a, b) = (d.join(format!("a-{name}")), d.join(format!("b-{name}")));
        ok(&cartkin(&["trial", &study(name), "--patients", "300", "--out", a.to_str().unwrap(), "--quiet"]));
        ok(&cartkin(&["trial", f.to_str().unwrap(), "--patients", "300", "--out", b.to_str().unwrap(), "--quiet"]));
        same_outputs(&a, &b);
        // the same run: its manifest (and so its shards) agree too
        let m = |p: &Path| {
            serde_json::from_slice::<serde_json::Value>(&read(&p.join("run.json"))).unwrap()["manifest"].clone()
        };
        assert_eq!(m(&a), m(&b), "{name}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn three_shards_merge_to_the_one_process_bytes_and_bad_sets_are_refused() {
    let d = scratch("shards");
    let s = |x: &str| d.join(x).display().to_string();
    let base = ["trial", "eliana", "--patients", "1200", "--seed", "9", "--quiet"];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        cartkin(&a)
    };
    ok(&run(&["--out", &s("full")]));
    for k in 0..3 {
        ok(&run(&[
            "--shard",
            &format!("{k}/3"),
            "--out",
            &s(&format!("s{k}")),
            "--threads",
            if k == 1 { "1" } else { "2" },
        ]));
    }
    ok(&cartkin(&["merge", "--out", &s("merged"), &s("s2"), &s("s0"), &s("s1")]));
    same_outputs(&d.join("full"), &d.join("merged"));
    // a duplicate shard
    let dup = cartkin(&["merge", "--out", &s("m2"), &s("s0"), &s("s0"), &s("s1"), &s("s2")]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("shard 0"), "{}", String::from_utf8_lossy(&dup.stderr));
    // an incomplete set names what is missing
    let part = cartkin(&["merge", "--out", &s("m3"), &s("s0"), &s("s2")]);
    assert_eq!(part.status.code(), Some(2));
    let err = String::from_utf8_lossy(&part.stderr);
    assert!(err.contains("missing") && err.contains("missing shards 1 of 3"), "{err}");
    // a shard of another seed
    ok(&cartkin(&[
        "trial",
        "eliana",
        "--patients",
        "1200",
        "--seed",
        "10",
        "--quiet",
        "--shard",
        "1/3",
        "--out",
        &s("other"),
    ]));
    let other = cartkin(&["merge", "--out", &s("m4"), &s("s0"), &s("other"), &s("s2")]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("seed"), "{}", String::from_utf8_lossy(&other.stderr));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn every_bad_study_exits_2_with_one_line_and_no_output_directory() {
    let d = scratch("bad");
    let good = std::fs::read_to_string(root().join("cli/tests/data/adults.toml")).unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("unknown_key", "[typical]", "[typical]\nnot_a_parameter = 1.0", "typical.not_a_parameter"),
        ("wrong_type", "horizon_days = 365", "horizon_days = \"long\"", "horizon_days"),
        ("negative_cv", "delta_E = 0.5", "delta_E = -1.0", "variability.delta_E"),
        ("beta_shape", "beta = [2.0, 1.0]", "beta = [0.0, 1.0]", "covariates.marrow_blast_fraction.beta"),
        ("range_order", "range = [40, 150]", "range = [150, 40]", "covariates.weight_kg.range"),
        ("unknown_model", "model = \"reference\"", "model = \"no_such_model\"", "no_such_model"),
        ("syntax", "seed = 303", "seed = = 303", "bad_syntax.toml:7:8:"),
        ("fractions", "infusions = [[0, 1.0]]", "infusions = [[0, 0.5], [1, 0.3]]", "regimen.infusions"),
        ("phenotype", "CD19-CD22+", "CD99-", "CD99-"),
        ("unknown_population", "population = \"eliana\"", "population = \"adults\"", "population"),
        ("unknown_antigen", "targets = [\"CD19\"]", "targets = [\"CD20\"]", "product.targets"),
        ("both_doses", "cells_per_kg = 1e6", "cells_per_kg = 1e6\ncells = 1e8", "dose.cells"),
    ];
    for (name, from, to, names) in cases {
        assert!(good.contains(from), "{name}: the base study has no {from:?}");
        let f = d.join(format!("bad_{name}.toml"));
        std::fs::write(&f, good.replacen(from, to, 1)).unwrap();
        let out_dir = d.join(format!("out_{name}"));
        let o =
            cartkin(&["trial", f.to_str().unwrap(), "--patients", "10", "--out", out_dir.to_str().unwrap(), "--quiet"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{name}: {err}");
        assert!(err.contains(names), "{name}: {err:?} does not name {names:?}");
        assert!(
            err.contains(f.file_name().unwrap().to_str().unwrap()) || *name == "syntax",
            "{name}: no file in {err}"
        );
        assert!(!out_dir.exists(), "{name}: created its output directory");
    }
    // the good study itself runs
    ok(&cartkin(&[
        "trial",
        root().join("cli/tests/data/adults.toml").to_str().unwrap(),
        "--patients",
        "50",
        "--quiet",
    ]));
    std::fs::remove_dir_all(&d).ok();
}

/// Start a run in the background and kill it with `signal` once `progress.json` shows it is
/// part-way; returns the exit status.
fn interrupt(args: &[&str], dir: &Path, signal: &str) -> std::process::ExitStatus {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cartkin"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // the first checkpoint (progress.json exists from the start; its `next_id` comes with
    // the first chunk)
    let checkpointed = || std::fs::read_to_string(dir.join("progress.json")).is_ok_and(|p| p.contains("next_id"));
    while !checkpointed() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    child.wait().unwrap()
}

#[test]
fn a_killed_run_resumes_to_the_uninterrupted_bytes() {
    let d = scratch("resume");
    let s = |x: &str| d.join(x).display().to_string();
    let args = |out: &str| -> Vec<String> {
        ["trial", "eliana", "--patients", "20000", "--seed", "11", "--threads", "2", "--quiet", "--out", out]
            .iter()
            .map(|x| x.to_string())
            .collect()
    };
    let full = args(&s("U"));
    ok(&cartkin(&full.iter().map(String::as_str).collect::<Vec<_>>()));
    let killed = args(&s("R"));
    let killed: Vec<&str> = killed.iter().map(String::as_str).collect();
    let st = interrupt(&killed, &d.join("R"), "-KILL");
    assert_eq!(st.code(), None, "killed by a signal, not finished");
    assert!(
        !d.join("R/run.json").exists() && !d.join("R/summary.json").exists(),
        "an interrupted run looks incomplete"
    );
    let mut resume = killed.clone();
    resume.push("--resume");
    ok(&cartkin(&resume));
    same_outputs(&d.join("U"), &d.join("R"));
    let run: serde_json::Value = serde_json::from_slice(&read(&d.join("R/run.json"))).unwrap();
    let (reused, computed) = (run["reused_patients"].as_u64().unwrap(), run["computed_patients"].as_u64().unwrap());
    assert!(reused > 0 && reused + computed == 20000, "reused {reused}, computed {computed}");
    assert!(!d.join("R/progress.json").exists() && !d.join("R/patients.csv.partial").exists());
    // --resume on a complete run does nothing and succeeds
    let again = cartkin(&resume);
    ok(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already complete"));
    same_outputs(&d.join("U"), &d.join("R"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn sigterm_stops_at_a_chunk_boundary_with_exit_143_and_resumes() {
    let d = scratch("term");
    let out = d.join("T").display().to_string();
    let base = ["trial", "eliana", "--patients", "12000", "--seed", "3", "--threads", "1", "--quiet", "--out", &out];
    let st = interrupt(&base, &d.join("T"), "-TERM");
    assert_eq!(st.code(), Some(143));
    assert!(d.join("T/progress.json").exists() && !d.join("T/run.json").exists());
    let mut resume = base.to_vec();
    resume.push("--resume");
    ok(&cartkin(&resume));
    let (summary, csv) = library_trial(12000, 3);
    assert!(read(&d.join("T/summary.json")) == summary && read(&d.join("T/patients.csv")) == csv);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn another_runs_directory_is_refused_unless_forced_and_never_resumed() {
    let d = scratch("refuse");
    let out = d.join("O").display().to_string();
    ok(&cartkin(&["trial", "eliana", "--patients", "100", "--seed", "1", "--quiet", "--out", &out]));
    let before = read(&d.join("O/summary.json"));
    // another seed into the same directory
    let other = cartkin(&["trial", "eliana", "--patients", "100", "--seed", "2", "--quiet", "--out", &out]);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("another run"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    assert!(read(&d.join("O/summary.json")) == before, "the refused run changed nothing");
    let resumed = cartkin(&[
        "trial",
        "eliana",
        "--patients",
        "100",
        "--seed",
        "2",
        "--quiet",
        "--out",
        &out,
        "--resume",
        "--force",
    ]);
    assert_eq!(resumed.status.code(), Some(1));
    // --force overwrites
    ok(&cartkin(&["trial", "eliana", "--patients", "100", "--seed", "2", "--quiet", "--out", &out, "--force"]));
    assert!(read(&d.join("O/summary.json")) != before);
    // --resume on a missing directory starts a fresh run
    ok(&cartkin(&[
        "trial",
        "eliana",
        "--patients",
        "50",
        "--quiet",
        "--out",
        &d.join("new").display().to_string(),
        "--resume",
    ]));
    assert!(d.join("new/summary.json").exists());
    // an output directory that is a symlink is refused
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(d.join("O"), d.join("link")).unwrap();
        let l = cartkin(&[
            "trial",
            "eliana",
            "--patients",
            "10",
            "--quiet",
            "--out",
            &d.join("link").display().to_string(),
            "--force",
        ]);
        assert_eq!(l.status.code(), Some(1), "{}", String::from_utf8_lossy(&l.stderr));
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn simulate_reads_json_and_toml_scenarios_alike() {
    let d = scratch("simulate");
    let json_path = root().join("tests/data/S1_nominal.json");
    let json = cartkin(&["simulate", json_path.to_str().unwrap()]);
    ok(&json);
    // the same content as TOML
    let v: serde_json::Value = serde_json::from_slice(&read(&json_path)).unwrap();
    let toml_text = toml::to_string(&v).unwrap();
    let tp = d.join("S1.toml");
    std::fs::write(&tp, toml_text).unwrap();
    let toml_out = cartkin(&["simulate", tp.to_str().unwrap()]);
    ok(&toml_out);
    assert_eq!(json.stdout, toml_out.stdout);
    // --out writes the reference files
    ok(&cartkin(&["simulate", json_path.to_str().unwrap(), "--out", d.join("o").to_str().unwrap()]));
    let name = v["name"].as_str().unwrap();
    assert!(read(&d.join(format!("o/{name}_endpoints.json"))) == json.stdout);
    assert!(d.join(format!("o/{name}_trajectory.csv")).exists());
    let bad = cartkin(&["simulate", json_path.to_str().unwrap(), "--model", "minimal"]);
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_dir_all(&d).ok();
}

/// `simulate` on a study file: patient `--patient` of the study, every endpoint column of
/// its model, the same values as that patient's row of the study's trial.
#[test]
fn simulate_runs_one_patient_of_a_study_of_any_model() {
    let d = scratch("simulate-study");
    let eliana = study("eliana.toml");
    let o = cartkin(&["simulate", &eliana, "--patient", "3", "--out", d.join("s").to_str().unwrap()]);
    ok(&o);
    let doc: serde_json::Value = serde_json::from_slice(&read(&d.join("s/eliana_patient3_endpoints.json"))).unwrap();
    assert_eq!((doc["model"].as_str(), doc["patient"].as_u64()), (Some("v2"), Some(3)));
    let traj = String::from_utf8(read(&d.join("s/eliana_patient3_trajectory.csv"))).unwrap();
    assert_eq!(traj.lines().count(), 1 + 366, "a header and days 0..=365");
    // the same patient in the trial: every column of patients.csv row 3 (parsed) equals the
    // JSON value
    ok(&cartkin(&["trial", &eliana, "--patients", "5", "--quiet", "--out", d.join("t").to_str().unwrap()]));
    let csv = String::from_utf8(read(&d.join("t/patients.csv"))).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.nth(3).unwrap().split(',').collect();
    let ends = doc["endpoints"].as_object().unwrap();
    let mut compared = 0;
    for (k, v) in ends {
        let i = header.iter().position(|h| h == k).unwrap_or_else(|| panic!("{k} is not a patients.csv column"));
        let cell = row[i];
        let same = match v {
            serde_json::Value::Null => cell.is_empty(),
            serde_json::Value::Bool(b) => cell == if *b { "1" } else { "0" },
            serde_json::Value::Number(x) => cell.parse::<f64>().ok() == x.as_f64(),
            serde_json::Value::String(t) => cell == t,
            _ => false,
        };
        assert!(same, "{k}: simulate {v}, trial {cell:?}");
        compared += 1;
    }
    assert!(compared >= 45, "{compared} endpoints compared");
    // ICANS and B-cell aplasia are v2 endpoints the reference endpoints format has no key for
    assert!(ends.contains_key("icans_grade") && ends.contains_key("b_aplasia_6m"));

    // a v2 patient without a population: model = "v2" alone means the typical v2 patient
    let v2 = d.join("typical.toml");
    std::fs::write(&v2, "model = \"v2\"\nname = \"typical\"\n[typical]\nk_kill = 2.0\n").unwrap();
    let a = cartkin(&["simulate", v2.to_str().unwrap()]);
    ok(&a);
    // --model v2 reads any TOML file as a v2 study, so the key may be left out
    let nokey = d.join("nokey.toml");
    std::fs::write(&nokey, "name = \"typical\"\n[typical]\nk_kill = 2.0\n").unwrap();
    let b = cartkin(&["simulate", nokey.to_str().unwrap(), "--model", "v2"]);
    ok(&b);
    // the key and the flag say the same thing: the same output
    let strip = |o: &Output| String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(strip(&a), strip(&b));
    // a reference-model study through its model key
    let r = d.join("ref.toml");
    std::fs::write(&r, "model = \"reference\"\nname = \"ref\"\npopulation = \"eliana\"\npatients = 10\n").unwrap();
    let rr = cartkin(&["simulate", r.to_str().unwrap(), "--patient", "9"]);
    ok(&rr);
    let rdoc: serde_json::Value = serde_json::from_slice(&rr.stdout).unwrap();
    assert_eq!(rdoc["model"], "reference");
    assert!(rdoc["endpoints"].get("icans_grade").is_none(), "no ICANS in the reference model");
    // bad: the model disagrees with the file, a JSON file as v2, a patient beyond the study,
    // an id for a scenario file
    for (args, want) in [
        (vec!["simulate", v2.to_str().unwrap(), "--model", "reference"], "model v2"),
        (vec!["simulate", r.to_str().unwrap(), "--patient", "10"], "has 10 patients"),
        (vec!["simulate", root().join("tests/data/S1_nominal.json").to_str().unwrap(), "--model", "v2"], "study file"),
        (
            vec!["simulate", root().join("tests/data/S1_nominal.json").to_str().unwrap(), "--patient", "1"],
            "one patient",
        ),
    ] {
        let o = cartkin(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want) && err.lines().count() == 1, "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn limits_on_threads_and_output_names_are_bad_input() {
    let d = scratch("limits");
    let t = cartkin(&["trial", "eliana", "--patients", "10", "--threads", "100000", "--quiet"]);
    assert_eq!(t.status.code(), Some(2), "{}", String::from_utf8_lossy(&t.stderr));
    // a scenario whose name would leave --out
    let json = std::fs::read_to_string(root().join("tests/data/S1_nominal.json")).unwrap();
    let bad = json.replace("\"name\": \"S1_nominal\"", "\"name\": \"../../escaped\"");
    assert_ne!(bad, json, "the scenario file changed: adapt the test");
    let f = d.join("bad.json");
    std::fs::write(&f, bad).unwrap();
    let out = d.join("sub/out");
    let o = cartkin(&["simulate", f.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!d.join("escaped_endpoints.json").exists() && !out.exists());
    // an error line echoing a key with a newline stays one line
    let study = d.join("nl.toml");
    std::fs::write(&study, "patients = 1\n[typical]\n\"a\\nerror: forged\" = 1.0\n").unwrap();
    let o = cartkin(&["trial", study.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1, "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&d).ok();
}

/// `trial --mpi` in a cartkin built without the `mpi` feature (the default build): bad
/// input, one line saying how to build it, and no output directory.
#[cfg(not(feature = "mpi"))]
#[test]
fn trial_mpi_without_the_feature_says_how_to_build_it() {
    let d = scratch("nompi");
    let out = d.join("M");
    let o = cartkin(&["trial", "eliana", "--patients", "10", "--mpi", "--quiet", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim_end(),
        "error: this cartkin was built without MPI; build it with `cargo install --path cli --features mpi`"
    );
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(!out.exists(), "an output directory was made");
    std::fs::remove_dir_all(&d).ok();
}

/// With the `mpi` feature, `trial --mpi` outside mpirun is a one-rank MPI job (a singleton):
/// the bytes of a plain run; `--shard` and `--resume` are bad input (tests/cluster/mpi.sh
/// runs it under mpirun with several ranks).
#[cfg(feature = "mpi")]
#[test]
fn trial_mpi_as_a_singleton_writes_the_one_process_bytes() {
    let d = scratch("mpi1");
    let (a, b) = (d.join("A"), d.join("B"));
    let base = ["trial", "eliana", "--patients", "30", "--seed", "4", "--quiet", "--out"];
    ok(&cartkin(&[&base[..], &[a.to_str().unwrap()]].concat()));
    ok(&cartkin(&[&base[..], &[b.to_str().unwrap(), "--mpi"]].concat()));
    same_outputs(&a, &b);
    for (extra, says) in [(&["--shard", "0/2"][..], "--mpi with --shard"), (&["--resume"][..], "--mpi with --resume")] {
        let o = cartkin(&[&base[..], &[d.join("C").to_str().unwrap(), "--mpi"], extra].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.starts_with(&format!("error: {says}")) && err.lines().count() == 1, "{err}");
    }
    assert!(!d.join("C").exists(), "a refused run made its output directory");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_closed_stdout_ends_the_output_without_a_panic() {
    use std::io::Read as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cartkin"))
        .args(["trial", "eliana", "--patients", "200", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader went away, as `| head -1` does
    let st = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(st.success(), "exit {:?}: {err}", st.code());
}

/// A full disk (reliability issue, finding 2): the run stops at the first write that fails,
/// with exit 1 and one error line naming the file, and leaves a directory that no reader
/// takes for a complete run (no run.json, no summary.json, no state.json for `merge`);
/// `--resume` with room again finishes it to the bytes of an uninterrupted run. The disk is
/// made "full" with a file-size limit (`ulimit -f`, SIGXFSZ ignored: writes past 64 KiB
/// fail with EFBIG, through the same error path as ENOSPC), which needs no privileges.
#[test]
fn a_full_disk_stops_the_run_with_an_error_and_leaves_it_incomplete() {
    let d = scratch("fulldisk");
    let out = d.join("F").display().to_string();
    let args = ["trial", "eliana", "--patients", "3000", "--seed", "12", "--threads", "2", "--quiet", "--out", &out];
    let limited = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 128; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_cartkin"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&limited.stderr);
    assert_eq!(limited.status.code(), Some(1), "stderr {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    assert!(lines[0].contains("patients.csv") && lines[0].contains("too large"), "{err}");
    for f in ["run.json", "summary.json", "state.json", "patients.csv"] {
        assert!(!d.join("F").join(f).exists(), "{f} written by a failed run");
    }
    let merged = cartkin(&["merge", "--out", &d.join("M").display().to_string(), &out]);
    assert_ne!(merged.status.code(), Some(0), "merge took a failed run");
    let mut resume = args.to_vec();
    resume.push("--resume");
    ok(&cartkin(&resume));
    let u = d.join("U").display().to_string();
    let mut fresh = args.to_vec();
    *fresh.last_mut().unwrap() = &u;
    ok(&cartkin(&fresh));
    same_outputs(&d.join("U"), &d.join("F"));
    std::fs::remove_dir_all(&d).ok();
}

/// Every zoo model runs as one patient (`simulate --model NAME`, and a study file with
/// `model = "NAME"` with a varied parameter) and as a trial; studies/stein2019.toml's summary
/// carries the population medians the issue names (`tmax_median`, `cmax_copies_median`).
#[test]
fn every_zoo_model_runs_as_a_patient_and_in_a_trial() {
    let d = scratch("zoo");
    // (model, a positive rate parameter to vary)
    let zoo = [
        ("stein2019", "alpha"),
        ("kimmel2021", "r_N"),
        ("leon_triana2021", "tau_C"),
        ("leon_triana2021_progenitors", "tau_C"),
        ("hanson2016", "d_3"),
    ];
    for (m, p) in zoo {
        let one = cartkin(&["simulate", "--model", m]);
        ok(&one);
        let j: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
        assert_eq!(j["model"], m);
        let cmax = j["endpoints"]["cmax"].as_f64().unwrap();
        assert!(cmax.is_finite() && cmax > 0.0, "{m}: cmax {cmax}");
        let out = d.join(format!("one-{m}"));
        ok(&cartkin(&["simulate", "--model", m, "--out", out.to_str().unwrap()]));
        let csv = String::from_utf8(read(&out.join(format!("{m}_patient0_trajectory.csv")))).unwrap();
        assert!(csv.starts_with("t,"), "{m}: {}", &csv[..40.min(csv.len())]);
        // a study file of the model with between-patient variability of one parameter
        let f = d.join(format!("{m}.toml"));
        std::fs::write(
            &f,
            format!("model = \"{m}\"\npatients = 40\nseed = 3\nhorizon_days = 60\n[variability]\n{p} = 0.3\n"),
        )
        .unwrap();
        let t = d.join(format!("trial-{m}"));
        ok(&cartkin(&["trial", f.to_str().unwrap(), "--out", t.to_str().unwrap(), "--quiet"]));
        let s: serde_json::Value = serde_json::from_slice(&read(&t.join("summary.json"))).unwrap();
        assert_eq!(s["n_patients"], 40, "{m}");
        assert_eq!(s["n_failed"], 0, "{m}: {s}");
        let rows = String::from_utf8(read(&t.join("patients.csv"))).unwrap();
        let header = rows.lines().next().unwrap();
        assert!(header.split(',').any(|c| c == p), "{m}: the varied {p} is a column: {header}");
        // patient 3 of the study file: the same values as its trial row
        let p3 = cartkin(&["simulate", f.to_str().unwrap(), "--patient", "3"]);
        ok(&p3);
        let j: serde_json::Value = serde_json::from_slice(&p3.stdout).unwrap();
        let cmax3 = j["endpoints"]["cmax"].as_f64().unwrap();
        let row3 = rows.lines().find(|l| l.starts_with("3,")).unwrap();
        let col = header.split(',').position(|c| c == "cmax").unwrap();
        let v: f64 = row3.split(',').nth(col).unwrap().parse().unwrap();
        assert_eq!(v, cmax3, "{m}: patient 3 alone and in the trial");
    }
    let st = d.join("stein");
    ok(&cartkin(&[
        "trial",
        &study("stein2019.toml"),
        "--patients",
        "10000",
        "--seed",
        "1",
        "--out",
        st.to_str().unwrap(),
        "--quiet",
    ]));
    let s: serde_json::Value = serde_json::from_slice(&read(&st.join("summary.json"))).unwrap();
    let (tmax, cmax) = (s["tmax_median"].as_f64().unwrap(), s["cmax_copies_median"].as_f64().unwrap());
    // Stein 2019 Table 1: Tmax 9.3 days, Cmax 24,000 copies/ug (medians of a log-normal)
    assert!((tmax / 9.3 - 1.0).abs() < 0.03 && (cmax / 24000.0 - 1.0).abs() < 0.03, "{tmax} {cmax}");
    // a zoo study with a key the model does not have is bad input
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "model = \"stein2019\"\npatients = 3\n[typical]\nrho_E = 1.0\n").unwrap();
    let o = cartkin(&["trial", bad.to_str().unwrap(), "--out", d.join("bad").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rho_E"));
    std::fs::remove_dir_all(&d).ok();
}

/// `export sbml`: a scenario's SBML file written atomically; bad input is exit 2 with one
/// line and no file (another model, a missing scenario, a bad scenario); a symbolic link
/// is never written through.
#[test]
fn export_sbml_writes_a_file_and_refuses_bad_input() {
    let d = scratch("sbml");
    let s1 = root().join("tests/data/S1_nominal.json");
    let out = d.join("S1.xml");
    ok(&cartkin(&["export", "sbml", s1.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let xml = String::from_utf8(read(&out)).unwrap();
    assert!(xml.contains("<sbml xmlns=\"http://www.sbml.org/sbml/level3/version2/core\""));
    assert!(xml.contains("<rateRule variable=\"E\">"));
    for (args, want) in [
        (vec!["export", "sbml", s1.to_str().unwrap(), "--model", "v2", "--out"], "TOML"),
        (vec!["export", "sbml", s1.to_str().unwrap(), "--model", "minimal", "--out"], "no SBML export"),
        (vec!["export", "sbml", "no/such/file.json", "--out"], "no/such/file.json"),
    ] {
        let target = d.join("bad.xml");
        let mut a = args.clone();
        a.push(target.to_str().unwrap());
        let o = cartkin(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want) && err.lines().count() == 1, "{err}");
        assert!(!target.exists());
    }
    // a zoo model: its typical patient, and patient 2 of a study of it
    let k = d.join("k.xml");
    ok(&cartkin(&["export", "sbml", "--model", "kimmel2021", "--out", k.to_str().unwrap()]));
    assert!(!String::from_utf8(read(&k)).unwrap().contains("V_star"), "the typical patient is deterministic");
    let k2 = d.join("k2.xml");
    ok(&cartkin(&[
        "export",
        "sbml",
        &study("kimmel2021.toml"),
        "--model",
        "kimmel2021",
        "--patient",
        "2",
        "--out",
        k2.to_str().unwrap(),
    ]));
    assert!(String::from_utf8(read(&k2)).unwrap().contains("V_star_1"), "a study patient has its uniforms");
    let o =
        cartkin(&["export", "sbml", &study("kimmel2021.toml"), "--model", "stein2019", "--out", k2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // a model-v2 patient of a study
    let v = d.join("v2.xml");
    ok(&cartkin(&[
        "export",
        "sbml",
        &study("eliana.toml"),
        "--model",
        "v2",
        "--patient",
        "4",
        "--out",
        v.to_str().unwrap(),
    ]));
    assert!(String::from_utf8(read(&v)).unwrap().contains("<rateRule variable=\"S\">"));
    #[cfg(unix)]
    {
        let real = d.join("real");
        std::fs::create_dir_all(&real).unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let o = cartkin(&["export", "sbml", s1.to_str().unwrap(), "--out", link.join("x.xml").to_str().unwrap()]);
        assert_ne!(o.status.code(), Some(0));
        assert!(!real.join("x.xml").exists(), "written through a symbolic link");
    }
    std::fs::remove_dir_all(&d).ok();
}

/// `cartkin` with a PATH that holds no Slurm command (the machine running the tests may have
/// one: these tests must not submit anything).
fn cartkin_without_slurm(args: &[&str], empty: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartkin")).args(args).env("PATH", empty).output().expect("run cartkin")
}

/// One array task of a prepared Slurm run, run by hand as Slurm would (bash, the task id in
/// the environment).
fn run_task(dir: &Path, k: u64) -> Output {
    Command::new("bash")
        .arg(dir.join("slurm").join("shard.sh"))
        .env("SLURM_ARRAY_TASK_ID", k.to_string())
        .env("SLURM_ARRAY_JOB_ID", "1")
        .output()
        .expect("run shard.sh")
}

#[test]
fn slurm_scripts_run_by_hand_merge_to_the_one_process_bytes() {
    let d = scratch("slurm");
    let empty = d.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let s = |x: &str| d.join(x).display().to_string();
    let base = ["--patients", "900", "--seed", "4", "--trajectories", "2"];
    let mut full = vec!["trial", "eliana", "--quiet", "--out"];
    let full_dir = s("full");
    full.push(&full_dir);
    full.extend_from_slice(&base);
    ok(&cartkin(&full));

    let run = s("run");
    let mut prep = vec!["slurm", "eliana", "--shards", "3", "--out", &run, "--time", "1:00:00", "--mem", "500M"];
    prep.extend_from_slice(&base);
    let o = cartkin_without_slurm(&prep, &empty);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("slurm/submit.sh"), "{}", String::from_utf8_lossy(&o.stdout));
    let script = String::from_utf8(read(&d.join("run/slurm/shard.sh"))).unwrap();
    for want in
        ["#SBATCH --array=0-2\n", "#SBATCH --time=1:00:00\n", "#SBATCH --mem=500M\n", "--shard \"$K/3\"", "--resume"]
    {
        assert!(script.contains(want), "shard.sh lacks {want:?}:\n{script}");
    }
    let merge = String::from_utf8(read(&d.join("run/slurm/merge.sh"))).unwrap();
    assert!(merge.contains("--kill-on-invalid-dep=yes") && merge.contains("slurm --merge"), "{merge}");

    // two of three tasks: the merge refuses and names the missing shard
    ok(&run_task(&d.join("run"), 0));
    ok(&run_task(&d.join("run"), 2));
    let m = cartkin(&["slurm", "--merge", &run]);
    assert_eq!(m.status.code(), Some(1));
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(err.contains("shard 1 of 3 is missing"), "{err}");
    assert!(!d.join("run/summary.json").exists());
    // --status without a scheduler: reads the shards' directories
    let st = cartkin_without_slurm(&["slurm", "--status", &run], &empty);
    ok(&st);
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(text.contains("shards complete: 2 of 3") && text.contains("shard 1: not submitted"), "{text}");
    // --submit / --resubmit without sbatch: a clear error, the scripts stay
    let sub = cartkin_without_slurm(&["slurm", "--resubmit", &run], &empty);
    assert_eq!(sub.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&sub.stderr).contains("sbatch"), "{}", String::from_utf8_lossy(&sub.stderr));

    // the last task, then the merge job's command: the 1-process bytes in DIR itself
    ok(&run_task(&d.join("run"), 1));
    ok(&cartkin(&["slurm", "--merge", &run]));
    same_outputs(&d.join("full"), &d.join("run"));
    for p in ["patient_0.csv", "patient_1.csv"] {
        assert!(read(&d.join("full/trajectories").join(p)) == read(&d.join("run/trajectories").join(p)), "{p}");
    }
    // a task run again (a requeue) leaves its complete shard as it is
    let before = read(&d.join("run/shards/1/run.json"));
    ok(&run_task(&d.join("run"), 1));
    assert!(read(&d.join("run/shards/1/run.json")) == before);

    // preparing again into the same directory is refused, unless --force
    let again = cartkin_without_slurm(&prep, &empty);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--resubmit"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(d.join("run/summary.json").exists(), "a refused prepare removed outputs");
    let mut forced = prep.clone();
    forced.push("--force");
    ok(&cartkin_without_slurm(&forced, &empty));
    assert!(!d.join("run/summary.json").exists(), "--force kept the merged outputs");
    assert_eq!(std::fs::read_dir(d.join("run/shards")).unwrap().count(), 0, "--force kept shards");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn slurm_refuses_bad_options_with_exit_2() {
    let d = scratch("slurm-bad");
    let empty = d.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let out = d.join("x").display().to_string();
    let spaced = d.join("a b").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["slurm", "eliana", "--shards", "0", "--out", &out], "--shards 0"),
        (vec!["slurm", "eliana", "--shards", "20", "--patients", "10", "--out", &out], "--shards 20"),
        (vec!["slurm", "eliana", "--shards", "2", "--out", &out, "--time", "1 day"], "--time"),
        (vec!["slurm", "eliana", "--shards", "2", "--out", &out, "--partition", "a\n#SBATCH --x"], "--partition"),
        (vec!["slurm", "eliana", "--shards", "2", "--out", &out, "--cpus-per-task", "0"], "--cpus-per-task"),
        (vec!["slurm", "eliana", "--shards", "2", "--out", &spaced], "blank"),
        (vec!["slurm", "eliana", "--out", &out], "--shards"),
        (vec!["slurm", "--status", &out], "job.json"),
        (vec!["slurm", "nosuchstudy", "--shards", "2", "--out", &out], "nosuchstudy"),
    ];
    for (args, want) in cases {
        let o = cartkin_without_slurm(&args, &empty);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!d.join("x/slurm/job.json").exists(), "{args:?} prepared a run");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn the_binding_layer_gives_the_command_lines_bytes() {
    // cartkin::bind is what the Python and R packages call: the same summary.json and
    // patients.csv bytes as `cartkin trial`, and the same document as `cartkin simulate`
    let d = scratch("bind");
    let out = d.join("cli").display().to_string();
    ok(&cartkin(&["trial", "eliana", "--patients", "700", "--seed", "12", "--threads", "2", "--quiet", "--out", &out]));
    for threads in [1, 2] {
        let opts = cartkin::bind::TrialOptions {
            patients: Some(700),
            seed: Some(12),
            threads: Some(threads),
            ..Default::default()
        };
        let r = cartkin::bind::run_trial("eliana", &opts, &std::sync::atomic::AtomicBool::new(false)).unwrap();
        assert!(r.summary_json.as_bytes() == read(&d.join("cli/summary.json")), "summary.json, {threads} threads");
        assert!(r.patients_csv.as_bytes() == read(&d.join("cli/patients.csv")), "patients.csv, {threads} threads");
    }
    let s1 = root().join("tests/data/S1_nominal.json").display().to_string();
    let cli = cartkin(&["simulate", &s1]);
    ok(&cli);
    assert_eq!(cartkin::bind::simulate(&s1, 0, None).unwrap().document.as_bytes(), &cli.stdout[..]);
    let cli = cartkin(&["simulate", "eliana", "--patient", "3"]);
    ok(&cli);
    assert_eq!(cartkin::bind::simulate("eliana", 3, None).unwrap().document.as_bytes(), &cli.stdout[..]);
    std::fs::remove_dir_all(&d).ok();
}
