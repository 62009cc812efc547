//! `mock-server score`: a stand-in for a batch scoring worker, one shard
//! of an Indexed Job (the shard is `JOB_COMPLETION_INDEX`, which the Job
//! controller gives each pod).
//!
//! A shard scores `--records` records (ids `shard × records` up) and
//! writes them as JSON lines to `--out`, in one of two ways:
//!
//! - `per-shard` (idempotent): into a temporary file renamed to
//!   `shard-000002.jsonl` once complete. A retried shard whose file exists
//!   skips (`"outcome":"skipped"`); one that failed half-way left only the
//!   temporary file, which the retry writes again from the start.
//! - `append` (not idempotent): each record appended to `scores.jsonl` as
//!   it is scored. A shard that fails half-way and is retried appends its
//!   first records a second time.
//!
//! `--fail-shard N --fail-after K` makes shard N fail (exit 1) after K
//! records on its first try only (a marker file in `--out` remembers the
//! try), as a worker lost mid-shard would. The run's JSON summary goes to
//! `/dev/termination-log`.
//!
//! `mock-server score-check` reads every output in `--out` and reports
//! (as its termination message) how many records it found, how many
//! distinct ids, how many were written twice and how many are missing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a shard writes its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A file per shard, renamed into place when complete.
    PerShard,
    /// One shared file, appended record by record.
    Append,
}

/// What `mock-server score` is told.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mock-server score",
    about = "One shard of a batch scoring Job: score records, write them idempotently (a file per shard) or not (appended), a JSON summary as the termination message."
)]
pub struct ScoreArgs {
    /// The shard to score (an Indexed Job's pod index).
    #[arg(long, env = "JOB_COMPLETION_INDEX")]
    pub shard: u32,
    /// Records per shard.
    #[arg(long, env = "MOCK_SCORE_RECORDS", default_value_t = 100)]
    pub records: u32,
    /// Wall time per record, in milliseconds.
    #[arg(long, env = "MOCK_SCORE_RECORD_MS", default_value_t = 10)]
    pub record_ms: u64,
    /// The output folder (shared by every shard).
    #[arg(long, env = "MOCK_SCORE_OUT")]
    pub out: PathBuf,
    #[arg(
        long,
        env = "MOCK_SCORE_OUTPUT",
        value_enum,
        default_value = "per-shard"
    )]
    pub output: Output,
    /// The shard that fails on its first try.
    #[arg(long, env = "MOCK_SCORE_FAIL_SHARD")]
    pub fail_shard: Option<u32>,
    /// How many records it writes before failing.
    #[arg(long, env = "MOCK_SCORE_FAIL_AFTER", default_value_t = 0)]
    pub fail_after: u32,
    #[arg(
        long,
        env = "MOCK_SCORE_SUMMARY",
        default_value = "/dev/termination-log"
    )]
    pub summary: PathBuf,
}

/// What `mock-server score-check` is told.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mock-server score-check",
    about = "Counts a batch scoring Job's output: records, distinct ids, duplicates, missing ids; a JSON summary as the termination message."
)]
pub struct CheckArgs {
    #[arg(long, env = "MOCK_SCORE_OUT")]
    pub out: PathBuf,
    /// Shards the Job had (its completions).
    #[arg(long)]
    pub shards: u32,
    #[arg(long, env = "MOCK_SCORE_RECORDS", default_value_t = 100)]
    pub records: u32,
    #[arg(
        long,
        env = "MOCK_SCORE_SUMMARY",
        default_value = "/dev/termination-log"
    )]
    pub summary: PathBuf,
}

/// One scored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    shard: u32,
    score: f64,
}

/// A shard's termination message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardSummary {
    /// `written`, `skipped` (its output was there already) or `failed`.
    pub outcome: String,
    pub shard: u32,
    /// Records written by this run.
    pub written: u32,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `score-check`'s termination message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSummary {
    pub outcome: String,
    /// Every record line found.
    pub records: u64,
    /// Distinct ids among them.
    pub unique: u64,
    /// Lines beyond the first for an id (written twice or more).
    pub duplicates: u64,
    /// Ids no output holds.
    pub missing: u64,
    /// Ids written more than once (the first ten).
    pub duplicated_ids: Vec<u64>,
}

const APPEND_FILE: &str = "scores.jsonl";

fn shard_file(shard: u32) -> String {
    format!("shard-{shard:06}.jsonl")
}

fn score(id: u64) -> f64 {
    // A deterministic score in [0, 1): the same id always scores the same.
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    (x % 10_000) as f64 / 10_000.0
}

/// Scores one shard; writes and returns its summary. Errors are the
/// output folder's.
pub async fn run(args: &ScoreArgs) -> std::io::Result<ShardSummary> {
    std::fs::create_dir_all(&args.out)?;
    let first = u64::from(args.shard) * u64::from(args.records);
    let (file, target) = match args.output {
        Output::PerShard => (
            shard_file(args.shard),
            args.out.join(shard_file(args.shard)),
        ),
        Output::Append => (APPEND_FILE.to_string(), args.out.join(APPEND_FILE)),
    };
    let mut summary = ShardSummary {
        outcome: "written".into(),
        shard: args.shard,
        written: 0,
        file: file.clone(),
        reason: None,
    };
    if args.output == Output::PerShard && target.exists() {
        println!(
            "shard {}: {file} is there already; nothing to do",
            args.shard
        );
        summary.outcome = "skipped".into();
        crate::summary::write(&args.summary, &summary)?;
        return Ok(summary);
    }
    let marker = args
        .out
        .join(format!(".failed-once-shard-{:06}", args.shard));
    let fail_after = (args.fail_shard == Some(args.shard) && !marker.exists())
        .then(|| args.fail_after.min(args.records));
    let tmp = args.out.join(format!(".{file}.{}.tmp", std::process::id()));
    let mut w = match args.output {
        Output::PerShard => std::fs::File::create(&tmp)?,
        Output::Append => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)?,
    };
    for i in 0..args.records {
        if fail_after == Some(i) {
            std::fs::write(&marker, b"")?;
            summary.outcome = "failed".into();
            summary.reason = Some(format!(
                "shard {} failed after {i} records (--fail-shard, first try)",
                args.shard
            ));
            crate::summary::write(&args.summary, &summary)?;
            return Ok(summary);
        }
        let id = first + u64::from(i);
        let line = serde_json::to_string(&Record {
            id,
            shard: args.shard,
            score: score(id),
        })
        .map_err(std::io::Error::other)?;
        // One write per line: an appended record is whole or absent.
        w.write_all(format!("{line}\n").as_bytes())?;
        summary.written += 1;
        tokio::time::sleep(Duration::from_millis(args.record_ms)).await;
    }
    w.sync_all()?;
    drop(w);
    if args.output == Output::PerShard {
        std::fs::rename(&tmp, &target)?;
    }
    crate::summary::write(&args.summary, &summary)?;
    Ok(summary)
}

/// The exit status for a shard's summary: 1 when it failed.
pub fn exit_code(s: &ShardSummary) -> i32 {
    i32::from(s.outcome == "failed")
}

/// Counts every complete output in `--out` (temporary files of a shard
/// that failed half-way are not output).
pub fn check(args: &CheckArgs) -> std::io::Result<CheckSummary> {
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    let mut records = 0;
    for entry in std::fs::read_dir(&args.out)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(entry.path())?.lines() {
            let Ok(r) = serde_json::from_str::<Record>(line) else {
                continue;
            };
            records += 1;
            *seen.entry(r.id).or_default() += 1;
        }
    }
    let expected = u64::from(args.shards) * u64::from(args.records);
    let summary = CheckSummary {
        outcome: "checked".into(),
        records,
        unique: seen.len() as u64,
        duplicates: seen.values().map(|n| n - 1).sum(),
        missing: (0..expected).filter(|id| !seen.contains_key(id)).count() as u64,
        duplicated_ids: seen
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| *id)
            .take(10)
            .collect(),
    };
    crate::summary::write(&args.summary, &summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;

    use super::*;

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "mock-score-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn shard(dir: &Path, n: u32, output: &str) -> ScoreArgs {
        ScoreArgs::parse_from([
            "score",
            "--shard",
            &n.to_string(),
            "--records",
            "10",
            "--record-ms",
            "0",
            "--out",
            &dir.join("out").display().to_string(),
            "--output",
            output,
            "--fail-shard",
            "1",
            "--fail-after",
            "4",
            "--summary",
            &dir.join(format!("summary-{n}.json")).display().to_string(),
        ])
    }

    fn check_all(dir: &Path) -> CheckSummary {
        check(&CheckArgs::parse_from([
            "score-check",
            "--out",
            &dir.join("out").display().to_string(),
            "--shards",
            "3",
            "--records",
            "10",
            "--summary",
            &dir.join("check.json").display().to_string(),
        ]))
        .unwrap()
    }

    /// Every shard once, shard 1 retried after its failure, and shard 0
    /// run again (a pod the Job controller replaced after it finished).
    async fn job(dir: &Path, output: &str) -> Vec<ShardSummary> {
        let mut out = Vec::new();
        for n in [0, 1, 2, 1, 0] {
            out.push(run(&shard(dir, n, output)).await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_retried_shard_writes_its_records_once_per_shard() {
        let dir = tempdir();
        let runs = job(&dir, "per-shard").await;
        let outcomes: Vec<&str> = runs.iter().map(|s| s.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            ["written", "failed", "written", "written", "skipped"]
        );
        assert_eq!(exit_code(&runs[1]), 1);
        assert_eq!(runs[1].written, 4);
        let c = check_all(&dir);
        assert_eq!(
            (c.records, c.unique, c.duplicates, c.missing),
            (30, 30, 0, 0)
        );
        let written: CheckSummary =
            serde_json::from_str(&std::fs::read_to_string(dir.join("check.json")).unwrap())
                .unwrap();
        assert_eq!(written, c);
    }

    #[tokio::test]
    async fn appending_writes_a_retried_shards_first_records_twice() {
        let dir = tempdir();
        job(&dir, "append").await;
        let c = check_all(&dir);
        // Shard 1's first 4 records twice, shard 0's 10 twice.
        assert_eq!((c.unique, c.duplicates, c.missing), (30, 14, 0));
        assert_eq!(c.records, 44);
        assert_eq!(c.duplicated_ids[..4], [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn a_shard_that_never_ran_is_missing() {
        let dir = tempdir();
        run(&shard(&dir, 0, "per-shard")).await.unwrap();
        let c = check_all(&dir);
        assert_eq!((c.unique, c.missing), (10, 20));
    }
}
