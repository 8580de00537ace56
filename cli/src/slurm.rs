//! `cartkin slurm`: a trial as a Slurm job array of shard tasks and a merge job.
//!
//! **Layout of DIR.** `cartkin slurm STUDY --shards N --out DIR` writes
//!
//! - `DIR/slurm/study.toml`: the study with every default filled in and the command line's
//!   overrides applied (`cartkin study show`), so every shard runs the same study even if
//!   the original file changes while the job waits in the queue;
//! - `DIR/slurm/shard.sh`: the array job (`--array=0-(N-1)`, the task id is the shard
//!   index) running `cartkin trial DIR/slurm/study.toml --shard K/N --out DIR/shards/K
//!   --resume`; a resubmitted or requeued task continues from its checkpoint and a complete
//!   shard is not computed again;
//! - `DIR/slurm/merge.sh`: the merge job (`cartkin slurm --merge DIR`), submitted with
//!   `--dependency=afterok:<array>` and `--kill-on-invalid-dep=yes`, so it is cancelled when
//!   a shard fails instead of waiting forever;
//! - `DIR/slurm/submit.sh`: the two `sbatch` calls, for sites that wrap sbatch;
//! - `DIR/slurm/job.json`: what was prepared and every submission (job ids, shards);
//! - `DIR/slurm/logs/shard-K.log`, `merge.log`: one log per shard (appended to by every
//!   attempt, each attempt under a `== cartkin shard` header line).
//!
//! The merge writes the trial's outputs (`patients.csv`, `summary.json`, `state.json`,
//! `run.json`, `trajectories/`) into DIR itself, byte-identical to a 1-process run of the
//! same study (`summary.json`, `patients.csv` and the trajectories; `run.json` and
//! `state.json` record the split).
//!
//! The shard count is written into the script (`--shard K/N`), not taken from
//! `$SLURM_ARRAY_TASK_COUNT`: a resubmission of shards 2 and 5 is an array of 2 tasks, and
//! its tasks must still be shards 2 and 5 of N.

use crate::rundir::{self, Fail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The job file's layout version.
const JOB_FORMAT: u32 = 1;

/// `#SBATCH` options of the shard and merge jobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sbatch {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` of a shard task (and of the merge job).
    pub time: Option<String>,
    /// `--cpus-per-task`: the shard's worker threads.
    pub cpus_per_task: u32,
    /// `--mem` of a shard task.
    pub mem: Option<String>,
    /// `--account`.
    pub account: Option<String>,
}

/// One submission: the array job of some shards and its merge job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    /// The array job's id (none when every shard was already complete).
    pub array_job: Option<String>,
    /// The shards submitted.
    pub shards: Vec<u64>,
    /// The merge job's id.
    pub merge_job: String,
    /// Seconds since the Unix epoch.
    pub submitted_unix: u64,
}

/// `DIR/slurm/job.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// [`JOB_FORMAT`].
    pub format: u32,
    /// The cartkin binary the jobs run.
    pub cartkin: String,
    /// Its version.
    pub version: String,
    /// The study as given on the command line.
    pub study: String,
    /// The study's name.
    pub study_name: String,
    /// Shards in the array.
    pub n_shards: u64,
    /// Patients in the whole trial.
    pub n_patients: u64,
    /// The seed.
    pub seed: u64,
    /// The run's hash (its manifest): every shard must hold this run.
    pub run_hash: String,
    /// `--trajectories K` of the shards.
    pub trajectories: u64,
    /// The sbatch options.
    pub sbatch: Sbatch,
    /// Every submission, oldest first.
    pub submissions: Vec<Submission>,
}

/// What `cartkin slurm STUDY` prepares.
pub struct Prepare<'a> {
    /// The study as given (file or built-in name).
    pub study_arg: &'a str,
    /// The study with the overrides applied.
    pub study: &'a cartkin::study::Study,
    /// Its manifest.
    pub manifest: &'a cartkin::state::Manifest,
    /// Shards.
    pub n_shards: u64,
    /// The output directory.
    pub out: &'a Path,
    /// `--trajectories K`.
    pub trajectories: u64,
    /// sbatch options.
    pub sbatch: Sbatch,
    /// The cartkin binary for the jobs (default: this one).
    pub cartkin: Option<&'a Path>,
    /// Start over in a directory that holds another Slurm run.
    pub force: bool,
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Single-quote `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A value that goes into an `#SBATCH` line: no blanks, quotes or `%` (Slurm would read
/// them as separators or filename patterns).
fn sbatch_value(what: &str, v: &str) -> Result<(), Fail> {
    let ok =
        !v.is_empty() && v.len() <= 200 && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:,=+/@[]".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Fail::Input(format!(
            "--{what} {v:?}: expected letters, digits and _-.:,=+/@[] only (it goes into an #SBATCH line)"
        )))
    }
}

/// A directory that goes into `#SBATCH --output` lines: an absolute path without blanks,
/// quotes or `%`.
fn sbatch_path(p: &Path) -> Result<String, Fail> {
    let s = p
        .to_str()
        .ok_or_else(|| Fail::Input(format!("{}: not valid UTF-8 (it goes into #SBATCH lines)", p.display())))?;
    if s.chars().any(|c| c.is_whitespace() || c.is_control() || "%'\"\\$`".contains(c)) {
        return Err(Fail::Input(format!(
            "{s}: a blank, quote, backslash, $, ` or % in the path of the output directory (Slurm's #SBATCH \
             --output lines cannot hold it); choose another --out"
        )));
    }
    Ok(s.to_string())
}

impl Sbatch {
    /// Refuse values that cannot go into an `#SBATCH` line or a sbatch argument.
    pub fn validate(&self) -> Result<(), Fail> {
        for (what, v) in
            [("partition", &self.partition), ("time", &self.time), ("mem", &self.mem), ("account", &self.account)]
        {
            if let Some(v) = v {
                sbatch_value(what, v)?;
            }
        }
        if self.cpus_per_task == 0 || self.cpus_per_task > 4096 {
            return Err(Fail::Input(format!("--cpus-per-task {}: must be between 1 and 4096", self.cpus_per_task)));
        }
        Ok(())
    }

    /// The `#SBATCH` lines shared by both jobs.
    fn common_lines(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.partition {
            s.push_str(&format!("#SBATCH --partition={p}\n"));
        }
        if let Some(t) = &self.time {
            s.push_str(&format!("#SBATCH --time={t}\n"));
        }
        if let Some(a) = &self.account {
            s.push_str(&format!("#SBATCH --account={a}\n"));
        }
        s
    }
}

fn job_path(dir: &Path) -> PathBuf {
    dir.join("slurm").join("job.json")
}

/// Read `DIR/slurm/job.json`.
pub fn load(dir: &Path) -> Result<Job, Fail> {
    let p = job_path(dir);
    let text = cartkin::io::read_capped(&p, cartkin::io::MAX_INPUT_BYTES).map_err(|e| {
        Fail::Input(format!("{}: {e} (not a directory prepared by `cartkin slurm STUDY --out DIR`)", p.display()))
    })?;
    let job: Job = serde_json::from_str(&text).map_err(|e| Fail::Input(format!("{}: {e}", p.display())))?;
    if job.format != JOB_FORMAT {
        return Err(Fail::Input(format!(
            "{}: job format {} (this cartkin reads {JOB_FORMAT})",
            p.display(),
            job.format
        )));
    }
    if job.n_shards == 0 || job.n_shards > job.n_patients.max(1) {
        return Err(Fail::Input(format!("{}: {} shards of {} patients", p.display(), job.n_shards, job.n_patients)));
    }
    Ok(job)
}

fn save(dir: &Path, job: &Job) -> Result<(), Fail> {
    let text = serde_json::to_string_pretty(job).map_err(|e| Fail::Run(e.to_string()))? + "\n";
    rundir::write_atomic(&dir.join("slurm"), "job.json", text.as_bytes())
}

/// The shard's output directory.
pub fn shard_dir(dir: &Path, k: u64) -> PathBuf {
    dir.join("shards").join(k.to_string())
}

fn log_path(dir: &Path, k: u64) -> PathBuf {
    dir.join("slurm").join("logs").join(format!("shard-{k}.log"))
}

/// Write the scripts, the frozen study and the job file into `p.out`.
pub fn prepare(p: &Prepare) -> Result<(PathBuf, Job), Fail> {
    if p.n_shards == 0 || p.n_shards > p.study.patients {
        return Err(Fail::Input(format!(
            "--shards {}: must be between 1 and the study's {} patients",
            p.n_shards, p.study.patients
        )));
    }
    if p.n_shards > 100_000 {
        return Err(Fail::Input(format!(
            "--shards {}: at most 100000 (Slurm's MaxArraySize is far lower)",
            p.n_shards
        )));
    }
    p.sbatch.validate()?;
    // the path goes into #SBATCH lines: refuse it before anything is created
    let cwd = std::env::current_dir().map_err(|e| Fail::Run(format!("the current directory: {e}")))?;
    sbatch_path(&cwd.join(p.out))?;
    rundir::ensure_dir(p.out)?;
    let dir = std::fs::canonicalize(p.out).map_err(|e| Fail::Run(format!("{}: {e}", p.out.display())))?;
    let dir_s = sbatch_path(&dir)?;
    let exe = match p.cartkin {
        Some(c) => std::fs::canonicalize(c).map_err(|e| Fail::Input(format!("--cartkin {}: {e}", c.display())))?,
        None => std::env::current_exe().map_err(|e| Fail::Run(format!("cannot find this cartkin binary: {e}")))?,
    };
    let exe_s = exe
        .to_str()
        .ok_or_else(|| Fail::Input(format!("{}: the cartkin path is not valid UTF-8", exe.display())))?
        .to_string();

    if job_path(&dir).exists() {
        if !p.force {
            return Err(Fail::Run(format!(
                "{}: holds a prepared Slurm run already; `cartkin slurm --resubmit {0}` continues it, \
                 `cartkin slurm --status {0}` shows it, --force starts over (its shards and outputs are removed)",
                dir.display()
            )));
        }
        for sub in ["slurm", "shards"] {
            let d = dir.join(sub);
            if std::fs::symlink_metadata(&d).is_ok() {
                let r = if d.is_dir() && !std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_symlink()) {
                    std::fs::remove_dir_all(&d)
                } else {
                    std::fs::remove_file(&d)
                };
                r.map_err(|e| Fail::Run(format!("{}: {e}", d.display())))?;
            }
        }
        rundir::remove_outputs(&dir)?;
    } else if dir.join("run.json").exists() || dir.join("progress.json").exists() {
        if !p.force {
            return Err(Fail::Run(format!(
                "{}: holds a trial's outputs; use another --out, or --force to overwrite them",
                dir.display()
            )));
        }
        rundir::remove_outputs(&dir)?;
    }

    let n = p.n_shards;
    let name = &p.study.name;
    let job_name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(40)
        .collect();
    let logs = dir.join("slurm").join("logs");
    rundir::ensure_dir(&logs)?;
    // the shard tasks create their own directories in it (never through a symbolic link)
    rundir::ensure_dir(&dir.join("shards"))?;
    let slurm = dir.join("slurm");
    rundir::write_atomic(&slurm, "study.toml", p.study.to_toml().as_bytes())?;
    let study_s = sbatch_path(&slurm.join("study.toml"))?;
    let traj = if p.trajectories > 0 { format!(" --trajectories {}", p.trajectories) } else { String::new() };
    let mut shard = format!(
        "#!/bin/bash\n\
         # Shard task of the cartkin study {name:?}: {n} shards of {patients} patients (seed {seed}).\n\
         # Written by `cartkin slurm`; the array task id is the shard index. Submit with\n\
         # DIR/slurm/submit.sh or `cartkin slurm --resubmit DIR`. The shard count N is fixed\n\
         # here (not $SLURM_ARRAY_TASK_COUNT), so a resubmitted subset keeps its shard indices.\n\
         #SBATCH --job-name=cartkin-{job_name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --output={dir_s}/slurm/logs/shard-%a.log\n\
         #SBATCH --open-mode=append\n",
        patients = p.study.patients,
        seed = p.study.seed,
        last = n - 1,
        cpus = p.sbatch.cpus_per_task,
    );
    shard.push_str(&p.sbatch.common_lines());
    if let Some(m) = &p.sbatch.mem {
        shard.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    shard.push_str(&format!(
        "set -euo pipefail\n\
         K=${{SLURM_ARRAY_TASK_ID:?not a Slurm array task}}\n\
         echo \"== cartkin shard $K/{n}: job ${{SLURM_ARRAY_JOB_ID:-?}}_$K on $(hostname) at $(date -u +%FT%TZ)\"\n\
         # --resume: a requeued or resubmitted task continues from its last checkpoint, and a\n\
         # complete shard is left as it is. SIGTERM (pre-emption, the time limit) stops it at\n\
         # the next chunk boundary with a checkpoint.\n\
         exec {exe} trial {study} --shard \"$K/{n}\" --out {out}/shards/\"$K\" --resume --quiet \\\n    \
         --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"{traj}\n",
        exe = sh_quote(&exe_s),
        study = sh_quote(&study_s),
        out = sh_quote(&dir_s),
    ));
    let mut merge = format!(
        "#!/bin/bash\n\
         # Merge job of the cartkin study {name:?}: runs once every shard task has succeeded\n\
         # (submitted with --dependency=afterok:<array job>) and writes the trial's outputs\n\
         # into {dir_s}.\n\
         #SBATCH --job-name=cartkin-{job_name}-merge\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --cpus-per-task=1\n\
         #SBATCH --output={dir_s}/slurm/logs/merge.log\n\
         #SBATCH --open-mode=append\n\
         #SBATCH --kill-on-invalid-dep=yes\n"
    );
    merge.push_str(&p.sbatch.common_lines());
    merge.push_str(&format!(
        "set -euo pipefail\n\
         echo \"== cartkin merge: job ${{SLURM_JOB_ID:-?}} on $(hostname) at $(date -u +%FT%TZ)\"\n\
         exec {exe} slurm --merge {out}\n",
        exe = sh_quote(&exe_s),
        out = sh_quote(&dir_s),
    ));
    let submit = format!(
        "#!/bin/bash\n\
         # Submit the shards and the merge job by hand (what `cartkin slurm --submit` does):\n\
         # the merge runs when every shard task has succeeded and is cancelled if one fails.\n\
         # Job ids are not recorded in job.json this way: `cartkin slurm --status` then reads\n\
         # the shards' directories and logs only.\n\
         set -euo pipefail\n\
         array=$(sbatch --parsable {dir}/slurm/shard.sh)\n\
         array=${{array%%;*}}\n\
         merge=$(sbatch --parsable --dependency=afterok:$array --kill-on-invalid-dep=yes {dir}/slurm/merge.sh)\n\
         echo \"shards: array job $array; merge: job ${{merge%%;*}}\"\n",
        dir = sh_quote(&dir_s),
    );
    for (file, text) in [("shard.sh", &shard), ("merge.sh", &merge), ("submit.sh", &submit)] {
        rundir::write_atomic(&slurm, file, text.as_bytes())?;
        set_executable(&slurm.join(file))?;
    }
    let job = Job {
        format: JOB_FORMAT,
        cartkin: exe_s,
        version: env!("CARGO_PKG_VERSION").to_string(),
        study: p.study_arg.to_string(),
        study_name: name.clone(),
        n_shards: n,
        n_patients: p.study.patients,
        seed: p.study.seed,
        run_hash: p.manifest.run_hash.clone(),
        trajectories: p.trajectories,
        sbatch: p.sbatch.clone(),
        submissions: Vec::new(),
    };
    save(&dir, &job)?;
    Ok((dir, job))
}

#[cfg(unix)]
fn set_executable(p: &Path) -> Result<(), Fail> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Fail::Run(format!("{}: {e}", p.display())))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<(), Fail> {
    Ok(())
}

/// Run a Slurm command; its stdout, or a clear error (not installed, refused).
fn slurm_cmd(prog: &str, args: &[String]) -> Result<String, Fail> {
    let out = Command::new(prog).args(args).output().map_err(|e| {
        Fail::Run(format!(
            "{prog}: {e} (is this a Slurm login node? The job scripts are ready; submit them with DIR/slurm/submit.sh \
             where sbatch works)"
        ))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Fail::Run(format!("{prog} {}: {}", args.join(" "), err.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `sbatch --parsable` prints `jobid[;cluster]`.
fn job_id(parsable: &str) -> Result<String, Fail> {
    let id = parsable.lines().last().unwrap_or("").split(';').next().unwrap_or("").trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Fail::Run(format!("sbatch printed {parsable:?}, not a job id")));
    }
    Ok(id.to_string())
}

/// Shard indices as an sbatch `--array` list: `0-3,7,9-10`.
pub fn array_list(shards: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < shards.len() {
        let mut j = i;
        while j + 1 < shards.len() && shards[j + 1] == shards[j] + 1 {
            j += 1;
        }
        parts.push(if j == i { shards[i].to_string() } else { format!("{}-{}", shards[i], shards[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// Submit `shards` (the array) and a merge job depending on it; record the submission.
pub fn submit(dir: &Path, job: &mut Job, shards: &[u64], over: &Sbatch) -> Result<Submission, Fail> {
    let slurm = dir.join("slurm");
    let mut extra = Vec::new();
    if let Some(p) = &over.partition {
        extra.push(format!("--partition={p}"));
    }
    if let Some(t) = &over.time {
        extra.push(format!("--time={t}"));
    }
    if let Some(a) = &over.account {
        extra.push(format!("--account={a}"));
    }
    let array_job = if shards.is_empty() {
        None
    } else {
        let mut args = vec!["--parsable".to_string(), format!("--array={}", array_list(shards))];
        args.extend(extra.iter().cloned());
        if let Some(m) = &over.mem {
            args.push(format!("--mem={m}"));
        }
        args.push(slurm.join("shard.sh").display().to_string());
        Some(job_id(&slurm_cmd("sbatch", &args)?)?)
    };
    let mut args = vec!["--parsable".to_string()];
    if let Some(a) = &array_job {
        args.push(format!("--dependency=afterok:{a}"));
        args.push("--kill-on-invalid-dep=yes".into());
    }
    args.extend(extra);
    args.push(slurm.join("merge.sh").display().to_string());
    let merge_job = match slurm_cmd("sbatch", &args).and_then(|s| job_id(&s)) {
        Ok(m) => m,
        Err(e) => {
            // the shards are queued: record them so that --status and --resubmit know them
            if let Some(a) = &array_job {
                job.submissions.push(Submission {
                    array_job: Some(a.clone()),
                    shards: shards.to_vec(),
                    merge_job: String::new(),
                    submitted_unix: now_unix(),
                });
                save(dir, job)?;
            }
            return Err(e);
        }
    };
    let sub = Submission { array_job, shards: shards.to_vec(), merge_job, submitted_unix: now_unix() };
    job.submissions.push(sub.clone());
    save(dir, job)?;
    Ok(sub)
}

/// Where a shard is.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardState {
    /// Its outputs are complete and of this run.
    Complete,
    /// Stopped at a checkpoint: `done` of `total` patients.
    Partial { done: u64, total: u64 },
    /// Its directory holds something that is not this run's shard.
    Foreign(String),
    /// Nothing yet.
    NotStarted,
}

fn read_json(p: &Path) -> Option<serde_json::Value> {
    let text = cartkin::io::read_capped(p, cartkin::io::MAX_INPUT_BYTES).ok()?;
    serde_json::from_str(&text).ok()
}

/// The state of shard `k` of `job` in `dir`.
pub fn shard_state(dir: &Path, job: &Job, k: u64) -> ShardState {
    let d = shard_dir(dir, k);
    if let Ok(m) = std::fs::symlink_metadata(&d) {
        if !m.is_dir() {
            return ShardState::Foreign(format!("{} is not a directory", d.display()));
        }
    }
    let ours = |v: &serde_json::Value| {
        v["manifest"]["run_hash"].as_str() == Some(job.run_hash.as_str())
            && v["shard_index"].as_u64() == Some(k)
            && v["n_shards"].as_u64() == Some(job.n_shards)
    };
    if let Some(r) = read_json(&d.join("run.json")) {
        if r["complete"] == serde_json::Value::Bool(true) {
            return if ours(&r) && d.join("state.json").is_file() && d.join("patients.csv").is_file() {
                ShardState::Complete
            } else {
                ShardState::Foreign(format!("{} holds another run's outputs", d.display()))
            };
        }
    }
    if let Some(p) = read_json(&d.join("progress.json")) {
        if !ours(&p) {
            return ShardState::Foreign(format!("{} holds another run's checkpoint", d.display()));
        }
        let r = cartkin::trial::shard_range(job.n_patients, k, job.n_shards);
        let (a, b) = (r.start, r.end);
        let next = p["next_id"].as_u64().unwrap_or(a).clamp(a, b);
        return ShardState::Partial { done: next - a, total: b - a };
    }
    ShardState::NotStarted
}

/// The shards not complete.
pub fn incomplete(dir: &Path, job: &Job) -> Vec<u64> {
    (0..job.n_shards).filter(|k| shard_state(dir, job, *k) != ShardState::Complete).collect()
}

/// `cartkin slurm --merge DIR`: the shards' outputs merged into DIR, or a refusal naming
/// the missing shards.
pub fn merge(dir: &Path) -> Result<Vec<PathBuf>, Fail> {
    let job = load(dir)?;
    let missing = incomplete(dir, &job);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|k| k.to_string()).collect();
        let (what, are) = if missing.len() == 1 { ("shard", "is") } else { ("shards", "are") };
        return Err(Fail::Run(format!(
            "{}: incomplete set: {what} {} of {} {are} missing or incomplete (logs: {0}/slurm/logs/shard-K.log; \
             `cartkin slurm --status {0}` says why, `cartkin slurm --resubmit {0}` runs them)",
            dir.display(),
            list.join(", "),
            job.n_shards,
        )));
    }
    Ok((0..job.n_shards).map(|k| shard_dir(dir, k)).collect())
}

/// What the scheduler says about jobs: `(job id or id_task, state, reason)` of queued and
/// running jobs; `None` when squeue cannot be run.
fn queue(ids: &[&str]) -> Option<Vec<(String, String, String)>> {
    if ids.is_empty() {
        return Some(Vec::new());
    }
    let out = Command::new("squeue").args(["-h", "-r", "-o", "%i|%T|%r", "-j", &ids.join(",")]).output().ok()?;
    // squeue fails on ids it no longer knows (all finished): nothing queued
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter_map(|l| {
                let mut f = l.split('|');
                Some((f.next()?.trim().to_string(), f.next()?.trim().to_string(), f.next()?.trim().to_string()))
            })
            .collect(),
    )
}

/// A finished job's state and reason from `scontrol show job` (kept for MinJobAge, 5 min by
/// default).
fn finished_job(id: &str) -> Option<(String, String)> {
    let out = Command::new("scontrol").args(["show", "job", "-o", id]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| text.split_whitespace().find_map(|w| w.strip_prefix(&format!("{k}=")).map(str::to_string));
    Some((field("JobState")?, field("Reason").unwrap_or_default()))
}

/// The last attempt's last lines of a log (after its last `== cartkin` header).
fn last_attempt(log: &Path) -> Option<(String, String)> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&text[text.len().saturating_sub(64 << 10)..]).to_string();
    let start = text.rfind("== cartkin")?;
    let attempt = &text[start..];
    let header = attempt.lines().next().unwrap_or("").to_string();
    let last = attempt.lines().skip(1).filter(|l| !l.trim().is_empty()).last().unwrap_or("").to_string();
    Some((header, last))
}

/// The jobs of the last submission still queued or running.
pub fn still_queued(job: &Job) -> Option<Vec<(String, String, String)>> {
    let Some(sub) = job.submissions.last() else { return Some(Vec::new()) };
    let mut ids: Vec<&str> = Vec::new();
    if let Some(a) = &sub.array_job {
        ids.push(a);
    }
    if !sub.merge_job.is_empty() {
        ids.push(&sub.merge_job);
    }
    queue(&ids)
}

/// `cartkin slurm --status DIR` as text; `true` when the merged outputs are complete.
pub fn status(dir: &Path) -> Result<(String, bool), Fail> {
    let job = load(dir)?;
    let mut s = format!(
        "cartkin slurm: study {:?}, {} patients (seed {}) in {} shards, run {}\n  directory {}\n",
        job.study_name,
        job.n_patients,
        job.seed,
        job.n_shards,
        job.run_hash,
        dir.display()
    );
    for (i, sub) in job.submissions.iter().enumerate() {
        s.push_str(&format!(
            "  submission {}: shards {} as array job {}, merge job {}\n",
            i + 1,
            if sub.shards.is_empty() { "none".into() } else { array_list(&sub.shards) },
            sub.array_job.as_deref().unwrap_or("-"),
            if sub.merge_job.is_empty() { "(not submitted)" } else { &sub.merge_job },
        ));
    }
    if job.submissions.is_empty() {
        s.push_str("  not submitted by cartkin (DIR/slurm/submit.sh or `cartkin slurm --resubmit DIR` submits it)\n");
    }
    let queued = still_queued(&job);
    let last = job.submissions.last();
    let task_state = |k: u64| -> Option<String> {
        let a = last?.array_job.as_ref()?;
        let q = queued.as_ref()?;
        q.iter().find(|(id, _, _)| *id == format!("{a}_{k}")).map(|(_, st, r)| {
            if r.is_empty() || r == "None" {
                st.to_lowercase()
            } else {
                format!("{} ({r})", st.to_lowercase())
            }
        })
    };
    let (mut n_complete, mut failed) = (0u64, Vec::new());
    for k in 0..job.n_shards {
        let st = shard_state(dir, &job, k);
        let log = log_path(dir, k);
        let what = match (&st, task_state(k)) {
            (ShardState::Complete, _) => {
                n_complete += 1;
                continue;
            }
            (_, Some(q)) => format!("{q}{}", partial_note(&st)),
            (ShardState::Foreign(why), None) => match last_attempt(&log) {
                Some((_, line)) if !line.is_empty() => format!("failed: {why}; its log: {line}"),
                _ => format!("failed: {why}"),
            },
            (_, None) => {
                let attempt = last_attempt(&log);
                let tried = last.is_some_and(|l| l.shards.contains(&k));
                match (attempt, tried) {
                    (Some((_, line)), true) if !line.is_empty() => format!("failed{}: {line}", partial_note(&st)),
                    (Some(_), true) => format!("stopped{} (no message in its log)", partial_note(&st)),
                    (None, true) => format!("not run{} (no log yet: cancelled before it started?)", partial_note(&st)),
                    (_, false) => format!("not submitted{}", partial_note(&st)),
                }
            }
        };
        failed.push(k);
        s.push_str(&format!("  shard {k}: {what}  [log {}]\n", log.display()));
    }
    s.push_str(&format!("  shards complete: {n_complete} of {}\n", job.n_shards));
    let merged = read_json(&dir.join("run.json")).is_some_and(|r| {
        r["complete"] == serde_json::Value::Bool(true)
            && r["manifest"]["run_hash"].as_str() == Some(job.run_hash.as_str())
    });
    let merge_line = if merged {
        format!("complete: {}/summary.json, patients.csv", dir.display())
    } else if let Some(sub) = last.filter(|l| !l.merge_job.is_empty()) {
        let q = queued.as_ref().and_then(|q| q.iter().find(|(id, _, _)| *id == sub.merge_job).cloned());
        match q {
            Some((_, st, r)) => format!("job {} {} ({r})", sub.merge_job, st.to_lowercase()),
            None => match finished_job(&sub.merge_job) {
                Some((st, r)) if st == "CANCELLED" && r.contains("Dependency") => format!(
                    "job {} cancelled: a shard task failed ({r}); fix the cause (the shard's log), then `cartkin \
                     slurm --resubmit {}`",
                    sub.merge_job,
                    dir.display()
                ),
                Some((st, r)) => {
                    let log = last_attempt(&dir.join("slurm").join("logs").join("merge.log")).map(|(_, l)| l);
                    format!(
                        "job {} {} ({r}){}",
                        sub.merge_job,
                        st.to_lowercase(),
                        log.map_or(String::new(), |l| format!(": {l}"))
                    )
                }
                None if !failed.is_empty() => format!(
                    "job {} gone from the queue without outputs (cancelled: a shard failed); `cartkin slurm \
                     --resubmit {}` runs the missing shards and a new merge",
                    sub.merge_job,
                    dir.display()
                ),
                None => format!("job {} gone from the queue without outputs (see slurm/logs/merge.log)", sub.merge_job),
            },
        }
    } else {
        "not submitted".into()
    };
    s.push_str(&format!("  merge: {merge_line}\n"));
    Ok((s, merged))
}

fn partial_note(st: &ShardState) -> String {
    match st {
        ShardState::Partial { done, total } => format!(", checkpoint at {done}/{total} patients"),
        _ => String::new(),
    }
}

/// Poll the queue until the last submission's jobs have left it (`timeout` None: no limit).
pub fn wait(dir: &Path, timeout: Option<Duration>) -> Result<(), Fail> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        let job = load(dir)?;
        match still_queued(&job) {
            None => return Err(Fail::Run("squeue cannot be run: cannot --wait".into())),
            Some(q) if q.is_empty() => return Ok(()),
            Some(_) => {}
        }
        if timeout.is_some_and(|t| start.elapsed() > t) {
            return Err(Fail::Run(format!("--wait: jobs still queued after {} s", start.elapsed().as_secs())));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_compress_runs() {
        assert_eq!(array_list(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_list(&[2]), "2");
        assert_eq!(array_list(&[0, 2, 3, 7, 9, 10]), "0,2-3,7,9-10");
        assert_eq!(array_list(&[]), "");
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn sbatch_values_refuse_separators() {
        assert!(sbatch_value("time", "1-00:00:00").is_ok());
        assert!(sbatch_value("partition", "gpu,cpu").is_ok());
        for bad in ["a b", "x\n#SBATCH --foo", "50%", "", "a'b"] {
            assert!(sbatch_value("partition", bad).is_err(), "{bad:?}");
        }
        assert!(sbatch_path(Path::new("/scratch/run 1")).is_err());
        assert!(sbatch_path(Path::new("/scratch/run%1")).is_err());
        assert!(sbatch_path(Path::new("/scratch/run-1")).is_ok());
    }

    #[test]
    fn job_ids_come_from_parsable_output() {
        assert_eq!(job_id("123").ok(), Some("123".into()));
        assert_eq!(job_id("123;cluster").ok(), Some("123".into()));
        assert!(job_id("Submitted batch job 1").is_err());
    }
}
