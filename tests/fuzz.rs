//! Fuzzing of every loader of user files, as a habit (reliability issue): the scenario loader
//! (JSON, and TOML the way `cartkin simulate` reads it), the study loader, and the CSV
//! readers (patient tables, generic tables). A mutation fuzzer over a corpus of real files:
//! each case takes a corpus file (or splices two) and applies 1 to 6 random mutations (byte
//! flips, inserted tokens such as `nan`, `1e308`, `"`, `[`, a newline or a NUL, deleted or
//! duplicated ranges and lines, swapped lines, numbers replaced, truncation). A case passes
//! when the loader returns (an error or a value) within 10 s without panicking; an accepted
//! study is written back out and must read back to the same text, and its trial must be
//! built; an accepted scenario or table row is also simulated, one case in 256.
//!
//! Budget: `CARTKIN_FUZZ_SECONDS` per target (default 3, so `cargo test` stays quick; CI
//! runs a longer budget) and at most `CARTKIN_FUZZ_CASES` cases per target (default
//! 1,000,000); `CARTKIN_FUZZ_SEED` picks the run (default 0: the same cases every time).
//! A failing case is written to `target/fuzz-failures/` and printed; keep it as a regression
//! file in `tests/data/fuzz/` (every file there is run through every target by
//! `regressions_never_panic`).

use cartkin::population::table::{parse_minimal_csv, parse_population_csv, NumericTable, TextTable};
use cartkin::study::Study;
use cartkin::{simulate, OutputSpec, Scenario, SolverConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(10);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The first `n` lines of a file (large tables are cut so that a case stays quick).
fn head(p: &str, n: usize) -> String {
    read(p).lines().take(n).map(|l| format!("{l}\n")).collect()
}

fn scenario_corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "S1_nominal",
        "S2_low_burden",
        "S3_high_burden_low_dose",
        "S4_dual_cd19_cd22",
        "S5_split_dosing",
        "S6_no_toci",
        "S7_prophylactic_toci",
        "S8_no_lymphodepletion",
        "MIN_nominal",
    ]
    .iter()
    .map(|s| read(&format!("tests/data/{s}.json")))
    .collect();
    // the same scenarios as TOML (what `cartkin simulate x.toml` reads)
    for j in [0, 4, 6] {
        let v: toml::Value = serde_json::from_str(&c[j]).unwrap();
        c.push(toml::to_string(&v).unwrap());
    }
    c
}

fn study_corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "studies/eliana.toml",
        "studies/adults-cd28.toml",
        "studies/dual-cd19-cd22.toml",
        "studies/stein2019.toml",
        "studies/kimmel2021.toml",
    ]
    .iter()
    .map(|p| read(p))
    .collect();
    c.push(read("cli/tests/data/adults.toml"));
    // written out in full: every section and key
    let full: Vec<String> =
        c.iter().map(|t| Study::parse(t, "corpus.toml", &root().join("tests/data")).unwrap().to_toml()).collect();
    c.extend(full);
    c.push("name = \"t\"\ntable = \"population_200.csv\"\npatients = 3\nseed = 1\n".into());
    c
}

fn table_corpus() -> Vec<String> {
    vec![
        head("tests/data/population_200.csv", 12),
        head("tests/data/population_seed42_2000.csv", 12),
        head("tests/data/population_200_endpoints.csv", 6),
        head("tests/data/reference_summaries.csv", 6),
    ]
}

const TOKENS: &[&str] = &[
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "1e309",
    "-1",
    "0",
    "-0",
    "1e-320",
    "4.9e-324",
    "18446744073709551616",
    "9007199254740993",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    ":",
    "\n",
    "\r\n",
    "\0",
    "#",
    "\\",
    "\\u0000",
    "true",
    "false",
    "null",
    "\"\"",
    "[]",
    "{}",
    "[[x]]",
    "[dose]",
    "key = 1\n",
    "\u{feff}",
    "é",
    "\u{2028}",
    "..",
    "/",
    "../../x",
    "CD19-CD22-",
    "CD19+CD22+",
    "1_000",
    "0x10",
    "+",
    "e",
    ".5",
    "5.",
    "1e",
    "99999999999999999999999999999999999999",
];

fn mutate(rng: &mut ChaCha8Rng, corpus: &[String]) -> Vec<u8> {
    let mut b = corpus[rng.random_range(0..corpus.len())].as_bytes().to_vec();
    let n = rng.random_range(1..=6);
    for _ in 0..n {
        let len = b.len();
        let at = if len == 0 { 0 } else { rng.random_range(0..=len) };
        match rng.random_range(0..10u32) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                b[i] = rng.random();
            }
            2 | 3 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                b.splice(at..at, t.iter().copied());
            }
            4 if len > 0 => {
                let end = (at + rng.random_range(1..64)).min(len);
                b.drain(at.min(end)..end);
            }
            5 if len > 0 => {
                // duplicate a range (often a whole key or line)
                let end = (at + rng.random_range(1..200)).min(len);
                let piece: Vec<u8> = b[at.min(end)..end].to_vec();
                let to = rng.random_range(0..=len);
                b.splice(to..to, piece);
            }
            6 => {
                // swap two lines
                let text = String::from_utf8_lossy(&b).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                if lines.len() > 1 {
                    let (i, j) = (rng.random_range(0..lines.len()), rng.random_range(0..lines.len()));
                    lines.swap(i, j);
                }
                b = lines.join("\n").into_bytes();
            }
            7 => {
                // replace the digits run at or after `at` with an interesting number
                if let Some(s) = b[at.min(len)..].iter().position(|c| c.is_ascii_digit()).map(|p| p + at) {
                    let e = b[s..]
                        .iter()
                        .position(|c| !(c.is_ascii_digit() || b".eE+-".contains(c)))
                        .map_or(len, |p| p + s);
                    let t = TOKENS[rng.random_range(0..12)].as_bytes();
                    b.splice(s..e, t.iter().copied());
                }
            }
            8 => {
                // splice the tail of another corpus file
                let o = corpus[rng.random_range(0..corpus.len())].as_bytes();
                let from = rng.random_range(0..=o.len());
                b.truncate(at);
                b.extend_from_slice(&o[from..]);
            }
            _ => b.truncate(at),
        }
    }
    b
}

/// One case of a target: `Ok` when the loader behaved (any error or value), `Err` with the
/// reason when a property of an accepted input failed.
type Target = fn(&str, bool) -> Result<(), String>;

fn scenario_target(text: &str, solve: bool) -> Result<(), String> {
    let json = match text.parse::<toml::Table>() {
        Ok(t) => serde_json::to_string(&t).unwrap_or_default(),
        Err(_) => text.to_string(),
    };
    for s in [text, json.as_str()] {
        if let Ok(sc) = Scenario::from_json_str(s) {
            if !(sc.horizon() >= 28.0 && sc.horizon().is_finite()) {
                return Err(format!("accepted horizon {}", sc.horizon()));
            }
            if solve {
                let _ = simulate(&sc, &SolverConfig::default(), &OutputSpec::reference());
            }
        }
    }
    Ok(())
}

fn study_target(text: &str, solve: bool) -> Result<(), String> {
    let dir = root().join("tests/data");
    let Ok(study) = Study::parse(text, "fuzz.toml", &dir) else { return Ok(()) };
    let out = study.to_toml();
    let again = Study::parse(&out, "fuzz.toml", &dir).map_err(|e| format!("written-out study refused: {e}\n{out}"))?;
    // the same study, apart from the header comments (which name the base population)
    let back = again.to_toml();
    let content = |t: &str| -> Vec<String> { t.lines().filter(|l| !l.starts_with('#')).map(String::from).collect() };
    if content(&back) != content(&out) {
        let (a, b) = (content(&out), content(&back));
        let k = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        return Err(format!(
            "written-out study reads back differently at line {}: {:?} then {:?}",
            k + 1,
            a.get(k),
            b.get(k)
        ));
    }
    let _ = study.describe();
    if let Some(t) = study.population_trial() {
        let _ = cartkin::trial::PatientSource::patient(t.source(), 1, 0);
        if solve {
            let _ = t.run_range(0..2.min(t.n_patients()), &mut |_| {}, None);
        }
    }
    if let Some(t) = study.table_trial() {
        let _ = cartkin::trial::PatientSource::patient(t.source(), 1, 0);
        if solve {
            let _ = t.run_range(0..2.min(t.n_patients()), &mut |_| {}, None);
        }
    }
    if let Some(t) = study.zoo_trial() {
        let _ = cartkin::trial::PatientSource::patient(t.source(), 1, 0);
        if solve {
            let _ = t.run_range(0..2.min(t.n_patients()), &mut |_| {}, None);
        }
    }
    Ok(())
}

fn table_target(text: &str, solve: bool) -> Result<(), String> {
    if let Ok(t) = TextTable::parse(text, "fuzz.csv") {
        for r in 0..t.len().min(8) {
            for c in 0..t.columns().len() {
                let _ = t.number(r, c);
            }
        }
    }
    if let Ok(t) = NumericTable::parse(text, "fuzz.csv") {
        for r in 0..t.len().min(8) {
            let _ = t.row(r);
            let _ = t.line(r);
            let _ = t.id(r, 0);
        }
    }
    if let Ok(ps) = parse_population_csv(text, "fuzz.csv") {
        for p in ps.iter().take(if solve { 1 } else { 0 }) {
            if let Ok(sc) = p.scenario(365.0) {
                let _ = simulate(&sc, &SolverConfig::default(), &OutputSpec::reference());
            }
        }
    }
    if let Ok(rows) = parse_minimal_csv(text, "fuzz.csv") {
        for r in rows.iter().take(4) {
            let _ = r.params();
            let _ = r.scenario();
        }
    }
    Ok(())
}

thread_local! {
    /// Whether this thread is inside a fuzz case (its panics are reported by the fuzzer, not
    /// printed by the hook).
    static IN_CASE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays quiet inside fuzz cases and prints as usual
/// elsewhere (the tests run in parallel threads).
fn quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CASE.with(|c| c.get()) {
                default(info)
            }
        }));
    });
}

/// Runs one case, catching panics; returns the failure's description.
fn run_case(target: Target, text: &str, solve: bool) -> (Option<String>, Duration) {
    quiet_hook();
    let t0 = Instant::now();
    IN_CASE.with(|c| c.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| target(text, solve)));
    IN_CASE.with(|c| c.set(false));
    let dt = t0.elapsed();
    let fail = match r {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(p) => Some(format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    };
    let fail = fail.or_else(|| (dt > HANG).then(|| format!("took {dt:?}")));
    (fail, dt)
}

/// A case that never returns cannot report itself: a watchdog thread prints the case and
/// aborts the test process when one case runs for three times the hang limit.
fn watchdog(name: &'static str) -> std::sync::Arc<std::sync::Mutex<Option<(Instant, String)>>> {
    let current: std::sync::Arc<std::sync::Mutex<Option<(Instant, String)>>> = Default::default();
    let watched = std::sync::Arc::downgrade(&current);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let Some(cur) = watched.upgrade() else { return };
        let guard = cur.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t0, text)) = guard.as_ref() {
            if t0.elapsed() > 3 * HANG {
                eprintln!("fuzz {name}: a case hangs (> {:?}); input: {text:?}", 3 * HANG);
                std::process::abort();
            }
        }
    });
    current
}

fn fuzz(name: &'static str, target: Target, corpus: &[String]) {
    let budget = Duration::from_secs(env_u64("CARTKIN_FUZZ_SECONDS", 3));
    let max = env_u64("CARTKIN_FUZZ_CASES", 1_000_000);
    let seed = env_u64("CARTKIN_FUZZ_SEED", 0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(name.bytes().map(u64::from).sum()));
    let current = watchdog(name);
    let t0 = Instant::now();
    let (mut n, mut slowest, mut failures) = (0u64, Duration::ZERO, Vec::new());
    while n < max && t0.elapsed() < budget {
        let bytes = mutate(&mut rng, corpus);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        *current.lock().unwrap() = Some((Instant::now(), text.clone()));
        let (fail, dt) = run_case(target, &text, n % 256 == 0);
        *current.lock().unwrap() = None;
        slowest = slowest.max(dt);
        if let Some(why) = fail {
            let dir = root().join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("{name}-{seed}-{n}.txt")), &text);
            let cut: String = text.chars().take(400).collect();
            failures.push(format!("case {n}: {why}\n  input: {cut:?}"));
        }
        n += 1;
    }
    eprintln!(
        "fuzz {name}: {n} cases in {:.1} s (seed {seed}), slowest {slowest:?}, {} failures",
        t0.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "fuzz {name}: {} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn fuzz_scenario_loader() {
    fuzz("scenario", scenario_target, &scenario_corpus());
}

#[test]
fn fuzz_study_loader() {
    fuzz("study", study_target, &study_corpus());
}

#[test]
fn fuzz_csv_readers() {
    fuzz("table", table_target, &table_corpus());
}

/// Every file kept in `tests/data/fuzz/` (cases the fuzzer or a reviewer found) through every
/// target, solving included.
#[test]
fn regressions_never_panic() {
    let dir = root().join("tests/data/fuzz");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regression cases in {}", dir.display());
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        for (name, target) in
            [("scenario", scenario_target as Target), ("study", study_target), ("table", table_target)]
        {
            let (fail, _) = run_case(target, &text, true);
            assert!(fail.is_none(), "{} through the {name} target: {}", show(f), fail.unwrap_or_default());
        }
    }
}

fn show(p: &Path) -> String {
    p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned())
}
