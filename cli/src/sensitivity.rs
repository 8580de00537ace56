//! `cartkin sensitivity`: Sobol' first-order and total indices ([`cartkin::sensitivity`]) of a
//! built-in test function, or of a Saltelli design's outputs read from a file (what
//! `tests/sensitivity/check_salib.py` compares with SALib).

use crate::rundir::Fail;
use cartkin::sensitivity::{self, Factor, Indices, Outputs, SaltelliDesign};
use clap::{ArgGroup, Args, ValueEnum};
use std::path::{Path, PathBuf};

mod design;

/// Largest `--n` of a test function (2^20 base rows: 5 million runs of Ishigami, about
/// 100 MB).
const MAX_TEST_N: usize = 1 << 20;

/// `--n` of a test function when not given.
const DEFAULT_TEST_N: usize = 16384;

/// Largest `--resamples`.
const MAX_RESAMPLES: usize = 100_000;

/// `cartkin sensitivity`'s arguments.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("input").required(true).args(["study", "test_function", "analyze", "merge"])))]
#[command(after_long_help = "\
Estimators (docs/ANALYSIS.md): first order, Saltelli et al. (2010) Table 2 (b),
S1_i = mean(f(B) (f(A_B^i) - f(A))) / Var(Y); total, Jansen (1999),
ST_i = mean((f(A) - f(A_B^i))^2) / 2 / Var(Y); Var(Y) the population variance of f(A) and
f(B) together, after standardising all outputs as SALib does. S1_ci and ST_ci are 95%
bootstrap percentile intervals; S1_conf and ST_conf are SALib's half-widths (1.96 times the
bootstrap standard deviation).

The JSON on stdout: factors, n, S1, ST, S1_ci, ST_ci ([low, high] per factor), S1_conf,
ST_conf, var_y, resamples, seed, runs; with --test-function also test_function and the
closed-form `analytic` S1 and ST, with --analyze the file.

Exit codes: 0 success; 2 bad input (an argument, an unreadable or malformed file, a row
count that is not a multiple of K + 2), with a one-line message.")]
pub struct SensitivityArgs {
    /// A study file (or a built-in study's name) whose trial-level outcomes are analysed:
    /// with --factors F.toml (`[[factor]]` entries: `path` a study setting, `lo`, `hi`,
    /// `scale`), every row of the design a whole trial of the study with the same patients
    /// (its seed). Writes indices.json and indices.csv into --out.
    study: Option<String>,
    /// Analyse a built-in test function on a Saltelli design of --n base rows: `ishigami`
    /// (sin x1 + 7 sin^2 x2 + 0.1 x3^4 sin x1, x1..x3 uniform on [-pi, pi]).
    #[arg(long, value_enum, value_name = "NAME")]
    test_function: Option<TestFunction>,
    /// Analyse the outputs of a Saltelli design of --factors K factors in SALib's row order
    /// (`SALib.sample.sobol.sample(problem, N, calc_second_order=False)`: for each of the N
    /// base rows, A, AB_1 .. AB_K, B; N (K + 2) rows). FILE is a CSV whose column `y` holds
    /// the outputs, one row per run (other columns, e.g. the sample's inputs, are ignored),
    /// or a file of bare numbers, one per line, as numpy.savetxt writes them.
    #[arg(long, value_name = "FILE", requires = "factors")]
    analyze: Option<PathBuf>,
    /// With --analyze: the number of factors K of the design. With a study: the factors
    /// file.
    #[arg(long, value_name = "K|FILE")]
    factors: Option<String>,
    /// With a study: the summary.json keys analysed, comma-separated (nested keys with dots)
    /// [default: cr_rate, mrd_neg_rate, crs_severe_rate, toci_rate, rfs12_responders,
    /// cmax_median].
    #[arg(long, value_name = "KEYS")]
    outputs: Option<String>,
    /// With a study: patients per trial (overrides the study).
    #[arg(long)]
    patients: Option<u64>,
    /// With a study: the patients' seed, the same in every trial (overrides the study's).
    #[arg(long)]
    trial_seed: Option<u64>,
    /// With a study: the design's directory. It holds design.json (what the design is, its
    /// shard, whether it is complete), rows.csv (each trial's outputs, rewritten after every
    /// trial: a killed run loses at most the trial in flight) and, for a whole design,
    /// indices.json and indices.csv. With --merge: where the merged design goes.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With a study and --out: run shard K of N of the design's rows (N contiguous blocks),
    /// e.g. 0/4; --merge then joins the shards' directories.
    #[arg(long, value_name = "K/N", requires = "out")]
    shard: Option<String>,
    /// With a study and --out: continue the design (or shard) in --out, keeping its rows
    /// (the same design only: another is refused).
    #[arg(long, requires = "out", conflicts_with = "force")]
    resume: bool,
    /// Overwrite a directory that holds another design's or run's outputs.
    #[arg(long)]
    force: bool,
    /// Join the complete shards of one design (their --out directories) into --out and
    /// analyse them: the bytes of an unsharded run of the design.
    #[arg(long, value_name = "DIR", num_args = 1.., requires = "out")]
    merge: Vec<PathBuf>,
    /// Base rows N of the design: a power of two from 2 to 2^20 (the model, or the study's
    /// trial, runs N (K + 2) times) [default: 16384 for a test function, 32 for a study].
    #[arg(long, value_name = "N", conflicts_with = "analyze")]
    n: Option<usize>,
    /// Seed of the design's scramble and of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Bootstrap resamples (2 to 100000; SALib's default is 100).
    #[arg(long, default_value_t = 100)]
    resamples: usize,
}

/// The built-in test functions.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum TestFunction {
    /// Ishigami and Homma (1990), a = 7, b = 0.1.
    Ishigami,
}

/// The report printed on stdout.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    test_function: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    factors: Vec<String>,
    #[serde(flatten)]
    indices: &'a Indices,
    seed: u64,
    runs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    analytic: Option<Analytic>,
}

/// Closed-form indices of a test function.
#[derive(serde::Serialize)]
struct Analytic {
    #[serde(rename = "S1")]
    s1: [f64; 3],
    #[serde(rename = "ST")]
    st: [f64; 3],
}

fn input(e: sensitivity::SensitivityError) -> Fail {
    Fail::Input(e.to_string())
}

/// `cartkin sensitivity`.
pub fn run(a: &SensitivityArgs) -> Result<(), Fail> {
    if !(2..=MAX_RESAMPLES).contains(&a.resamples) {
        return Err(Fail::Input(format!("--resamples {}: must be from 2 to {MAX_RESAMPLES}", a.resamples)));
    }
    if let Some(study) = &a.study {
        return run_study(study, a);
    }
    if !a.merge.is_empty() {
        if a.factors.is_some() || a.outputs.is_some() || a.patients.is_some() || a.trial_seed.is_some() || a.n.is_some()
        {
            return Err(Fail::Input(
                "--merge takes the design from its shards: drop --factors, --outputs, --patients, --trial-seed and --n"
                    .into(),
            ));
        }
        let out = a.out.as_deref().ok_or_else(|| Fail::Input("--merge needs --out DIR".into()))?;
        return design::merge(&a.merge, out, a.force);
    }
    if a.outputs.is_some()
        || a.patients.is_some()
        || a.out.is_some()
        || a.trial_seed.is_some()
        || a.shard.is_some()
        || a.resume
        || a.force
    {
        return Err(Fail::Input(
            "--outputs, --patients, --trial-seed, --out, --shard, --resume and --force go with a study".into(),
        ));
    }
    let factors = match (&a.analyze, &a.factors) {
        (Some(_), Some(k)) => Some(k.parse::<usize>().map_err(|_| {
            Fail::Input(format!("--factors {k}: with --analyze, the number of factors K (a whole number)"))
        })?),
        (Some(_), None) => return Err(Fail::Input("--analyze needs --factors K".into())),
        (None, Some(_)) => return Err(Fail::Input("--factors goes with --analyze or a study".into())),
        (None, None) => None,
    };
    let json = match (&a.test_function, &a.analyze, factors) {
        (Some(TestFunction::Ishigami), None, _) => {
            let n = a.n.unwrap_or(DEFAULT_TEST_N);
            if n < 2 || !n.is_power_of_two() || n > MAX_TEST_N {
                return Err(Fail::Input(format!("--n {n}: must be a power of two from 2 to {MAX_TEST_N}")));
            }
            let pi = std::f64::consts::PI;
            let factors: Vec<Factor> = ["x1", "x2", "x3"]
                .iter()
                .map(|n| Factor::linear(n, -pi, pi))
                .collect::<Result<_, _>>()
                .map_err(input)?;
            let design = SaltelliDesign::new(3, n, a.seed).map_err(input)?;
            let y =
                design.evaluate(&factors, |x| sensitivity::ishigami([x[0], x[1], x[2]], 7.0, 0.1)).map_err(input)?;
            let s = y.analyze(a.resamples, a.seed).map_err(input)?;
            let (s1, st) = sensitivity::ishigami_indices(7.0, 0.1);
            let report = Report {
                test_function: Some("ishigami"),
                file: None,
                factors: factors.iter().map(|f| f.name.clone()).collect(),
                indices: &s,
                seed: a.seed,
                runs: n * 5,
                analytic: Some(Analytic { s1, st }),
            };
            to_json(&report)?
        }
        (None, Some(file), Some(k)) => {
            if k == 0 {
                return Err(Fail::Input("--factors 0: a design has at least one factor".into()));
            }
            let y = read_outputs(file)?;
            let outputs = Outputs::from_salib(&y, k).map_err(|e| Fail::Input(format!("{}: {e}", file.display())))?;
            let s =
                outputs.analyze(a.resamples, a.seed).map_err(|e| Fail::Input(format!("{}: {e}", file.display())))?;
            let report = Report {
                test_function: None,
                file: Some(file.display().to_string()),
                factors: (1..=k).map(|i| format!("x{i}")).collect(),
                indices: &s,
                seed: a.seed,
                runs: y.len(),
                analytic: None,
            };
            to_json(&report)?
        }
        // clap's group and `requires` leave no other combination
        _ => return Err(Fail::Input("give --test-function NAME, or --analyze FILE with --factors K".into())),
    };
    say!("{json}");
    Ok(())
}

/// `cartkin sensitivity STUDY --factors F.toml`.
fn run_study(arg: &str, a: &SensitivityArgs) -> Result<(), Fail> {
    use cartkin::sensitivity::study::{StudyDesign, DEFAULT_OUTPUTS};
    let mut study = cartkin::bind::load_study(arg).map_err(|e| Fail::Input(e.to_string()))?;
    if let Some(n) = a.patients {
        if n == 0 || n > 10_000_000 {
            return Err(Fail::Input(format!("--patients {n}: must be between 1 and 10,000,000")));
        }
        study.patients = n;
    }
    if let Some(s) = a.trial_seed {
        study.seed = s;
    }
    let Some(file) = &a.factors else {
        return Err(Fail::Input("a study needs --factors FILE ([[factor]] entries: path, lo, hi, scale)".into()));
    };
    let factors = cartkin::calibrate::read_factors(Path::new(file)).map_err(|e| Fail::Input(e.to_string()))?;
    let outputs: Vec<String> = match &a.outputs {
        Some(list) => list.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect(),
        None => DEFAULT_OUTPUTS.iter().map(|k| k.to_string()).collect(),
    };
    if outputs.is_empty() || outputs.len() > 100 {
        return Err(Fail::Input("--outputs: give 1 to 100 summary.json keys".into()));
    }
    let n = a.n.unwrap_or(32);
    if n < 2 || !n.is_power_of_two() || n > MAX_TEST_N {
        return Err(Fail::Input(format!("--n {n}: must be a power of two from 2 to {MAX_TEST_N}")));
    }
    let shard = match crate::parse_shard(a.shard.as_deref())? {
        Some((k, n)) => (usize::try_from(k).unwrap_or(usize::MAX), usize::try_from(n).unwrap_or(usize::MAX)),
        None => (0, 1),
    };
    let design =
        StudyDesign::new(&study, &factors, &outputs, n, a.seed, a.resamples).map_err(|e| Fail::Input(e.to_string()))?;
    if shard.1 > design.rows() {
        return Err(Fail::Input(format!(
            "--shard {}/{}: the design has {} rows, so at most {} shards",
            shard.0,
            shard.1,
            design.rows(),
            design.rows()
        )));
    }
    match &a.out {
        Some(dir) => design::run(&design, dir, shard, a.resume, a.force),
        None => {
            let started = std::time::Instant::now();
            let r = design.run_all(&mut |done, total| design::progress(done, total, started)).map_err(|e| match e {
                // a value the study refuses at a row (bad input); the analysis' errors
                cartkin::sensitivity::study::StudySensitivityError::Calibration(_) => Fail::Input(e.to_string()),
                _ => Fail::Run(e.to_string()),
            })?;
            let json = serde_json::to_string_pretty(&r).map_err(|e| Fail::Run(e.to_string()))? + "\n";
            say!("{json}");
            Ok(())
        }
    }
}

fn to_json(r: &Report) -> Result<String, Fail> {
    serde_json::to_string_pretty(r).map_err(|e| Fail::Run(format!("cannot write the report: {e}")))
}

/// The outputs in `file`: its column `y`, or one bare number per line.
fn read_outputs(file: &Path) -> Result<Vec<f64>, Fail> {
    let name = file.display();
    let text = cartkin::io::read_capped(file, cartkin::io::MAX_TABLE_BYTES)
        .map_err(|e| Fail::Input(format!("cannot read {name}: {e}")))?;
    parse_outputs(&text).map_err(|m| Fail::Input(format!("{name}: {m}")))
}

/// Parse a CSV with a header naming a column `y` (quoted or not), or bare numbers one per
/// line. Blank lines are skipped; every value must be a finite number.
fn parse_outputs(text: &str) -> Result<Vec<f64>, String> {
    let mut lines =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.trim().is_empty());
    let Some((first_no, first)) = lines.next() else {
        return Err("no outputs (the file is empty)".into());
    };
    let field = |s: &str| s.trim().trim_matches('"').trim().to_string();
    let header: Vec<String> = first.split(',').map(field).collect();
    let (column, width, mut y) = if header.len() == 1 && header[0].parse::<f64>().is_ok() {
        (0, 1, vec![number(&header[0], first_no)?])
    } else {
        let Some(c) = header.iter().position(|h| h == "y") else {
            return Err(format!(
                "line {first_no}: no column `y` in the header ({}); the outputs go in a column named y",
                header.join(", ")
            ));
        };
        (c, header.len(), vec![])
    };
    for (no, line) in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != width {
            return Err(format!("line {no}: {} fields, the header has {width}", fields.len()));
        }
        y.push(number(&field(fields[column]), no)?);
    }
    if y.is_empty() {
        return Err("no outputs (a header and no rows)".into());
    }
    Ok(y)
}

fn number(s: &str, line: usize) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("line {line}: output {v} is not a finite number")),
        Err(_) => Err(format!("line {line}: {s:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_outputs;

    #[test]
    fn outputs_from_a_column_y_or_bare_numbers() {
        assert_eq!(parse_outputs("x1,y,x2\n0.5,1.5,2\n\n0.1,-2e-3,3\n"), Ok(vec![1.5, -2e-3]));
        assert_eq!(parse_outputs("\"y\"\r\n1\r\n2\r\n"), Ok(vec![1.0, 2.0]));
        assert_eq!(parse_outputs("1.0\n2.5e+00\n"), Ok(vec![1.0, 2.5]));
        assert!(parse_outputs("").unwrap_err().contains("empty"));
        assert!(parse_outputs("a,b\n1,2\n").unwrap_err().contains("no column `y`"));
        assert!(parse_outputs("x,y\n1,2\n3\n").unwrap_err().contains("line 3: 1 fields"));
        assert!(parse_outputs("y\n1\nnan\n").unwrap_err().contains("line 3"));
        assert!(parse_outputs("y\n1\nabc\n").unwrap_err().contains("\"abc\" is not a number"));
    }
}
