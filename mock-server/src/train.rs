//! `mock-server train`: a stand-in for a GPU training process, for Jobs.
//!
//! It trains for a number of epochs (each some CPU work, then a pause), a
//! model state that changes every epoch, and memory that grows per epoch
//! like a data loader's. After every epoch it writes a checkpoint
//! (`epoch-000003.json`, written to a temporary name and renamed, so a
//! kill never leaves half a checkpoint) and at start it resumes from the
//! newest one it finds. When it ends (done, failed on request, or stopped
//! by SIGTERM) it writes a JSON summary to `/dev/termination-log`, which
//! Kubernetes shows as the container's termination message:
//!
//! ```json
//! {"outcome":"completed","startEpoch":3,"lastEpoch":6,"epochs":6,"checkpoint":"epoch-000006.json"}
//! ```
//!
//! `mock-server train-ready --min-epoch N` is its readiness probe: ready
//! once a checkpoint of epoch N or later exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What `mock-server train` is told.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mock-server train",
    about = "A training process for Jobs: epochs of CPU work, a checkpoint per epoch, resume from the newest, a JSON summary as the termination message."
)]
pub struct TrainArgs {
    /// Epochs to train in all (a resumed run trains the rest).
    #[arg(long, env = "MOCK_TRAIN_EPOCHS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub epochs: u32,
    /// Wall time of one epoch, in milliseconds.
    #[arg(long, env = "MOCK_TRAIN_EPOCH_MS", default_value_t = 1000)]
    pub epoch_ms: u64,
    /// CPU work in each epoch, in milliseconds of one core (the rest of
    /// the epoch is a pause, like waiting on a GPU).
    #[arg(long, env = "MOCK_TRAIN_EPOCH_CPU_MS", default_value_t = 50)]
    pub epoch_cpu_ms: u64,
    /// Where a checkpoint is written after each epoch and looked for at
    /// start. Without it nothing is saved and every run starts at epoch 0.
    #[arg(long, env = "MOCK_TRAIN_CHECKPOINT_DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Memory held (and touched) per epoch trained in this run, in bytes.
    #[arg(long, env = "MOCK_TRAIN_MEMORY_PER_EPOCH_BYTES", default_value_t = 0)]
    pub memory_per_epoch_bytes: u64,
    /// Fail (exit status 1) on reaching this epoch, before training it (0: never).
    #[arg(long, env = "MOCK_TRAIN_FAIL_AT_EPOCH")]
    pub fail_at_epoch: Option<u32>,
    /// Where the JSON summary goes when the run ends.
    #[arg(
        long,
        env = "MOCK_TRAIN_SUMMARY",
        default_value = "/dev/termination-log"
    )]
    pub summary: PathBuf,
}

/// `mock-server train-ready`: exit status 0 once the newest checkpoint in
/// `--checkpoint-dir` is of epoch `--min-epoch` or later.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mock-server train-ready",
    about = "Readiness of `mock-server train`: succeeds once a checkpoint of --min-epoch or later exists."
)]
pub struct ReadyArgs {
    #[arg(long, env = "MOCK_TRAIN_CHECKPOINT_DIR")]
    pub checkpoint_dir: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub min_epoch: u32,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Completed,
    Failed,
    Interrupted,
}

/// The termination message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub outcome: Outcome,
    /// The epoch the run started after (0: from scratch).
    pub start_epoch: u32,
    /// The last epoch finished (and checkpointed).
    pub last_epoch: u32,
    pub epochs: u32,
    /// The newest checkpoint's file name, if any was written or read.
    pub checkpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One checkpoint file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    epoch: u32,
    /// The model state after this epoch.
    weights: u64,
}

fn checkpoint_name(epoch: u32) -> String {
    format!("epoch-{epoch:06}.json")
}

/// The newest readable checkpoint in `dir` (unreadable or foreign files
/// are skipped), with its file name.
fn newest(dir: &Path) -> Option<(Checkpoint, String)> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("epoch-") && name.ends_with(".json")) {
                return None;
            }
            let text = std::fs::read_to_string(e.path()).ok()?;
            let c: Checkpoint = serde_json::from_str(&text).ok()?;
            Some((c, name))
        })
        .max_by_key(|(c, _)| c.epoch)
}

/// The readiness check: `Ok` with the newest epoch, or why not yet.
pub fn ready(args: &ReadyArgs) -> Result<u32, String> {
    match newest(&args.checkpoint_dir) {
        Some((c, _)) if c.epoch >= args.min_epoch => Ok(c.epoch),
        Some((c, name)) => Err(format!(
            "newest checkpoint {name} is of epoch {}, waiting for {}",
            c.epoch, args.min_epoch
        )),
        None => Err(format!(
            "no checkpoint in {} yet",
            args.checkpoint_dir.display()
        )),
    }
}

fn step(weights: u64, epoch: u32) -> u64 {
    // A few rounds of a 64-bit mix: the state depends on every epoch.
    let mut x = weights ^ (u64::from(epoch).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x
}

/// The epoch's CPU work; the model state it returns depends only on the
/// state before and the epoch, however long the work ran.
fn burn(cpu: Duration, weights: u64, epoch: u32) -> u64 {
    let until = Instant::now() + cpu;
    let mut scratch = weights;
    while Instant::now() < until {
        for i in 0..10_000u32 {
            scratch = step(scratch, i);
        }
    }
    std::hint::black_box(scratch);
    step(weights, epoch)
}

fn write_checkpoint(dir: &Path, c: &Checkpoint) -> std::io::Result<String> {
    let name = checkpoint_name(c.epoch);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(c).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, dir.join(&name))?;
    Ok(name)
}

/// Trains until done, failed, or `stop` resolves (SIGTERM); writes the
/// summary and returns it. Errors are the checkpoint folder's.
pub async fn train(
    args: &TrainArgs,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<Summary> {
    let resumed = args.checkpoint_dir.as_deref().and_then(newest);
    let (mut weights, start) = match &resumed {
        Some((c, name)) => {
            println!(
                "resuming from checkpoint {name} (epoch {} of {})",
                c.epoch, args.epochs
            );
            (c.weights, c.epoch)
        }
        None => {
            match &args.checkpoint_dir {
                Some(d) => println!("no checkpoint in {}: starting from epoch 0", d.display()),
                None => println!("no --checkpoint-dir: starting from epoch 0, saving nothing"),
            }
            (0, 0)
        }
    };
    if let Some(d) = &args.checkpoint_dir {
        std::fs::create_dir_all(d)?;
    }
    let mut summary = Summary {
        outcome: Outcome::Completed,
        start_epoch: start,
        last_epoch: start,
        epochs: args.epochs,
        checkpoint: resumed.map(|(_, name)| name),
        reason: None,
    };
    let mut held: Vec<Vec<u8>> = Vec::new();
    tokio::pin!(stop);
    for epoch in start + 1..=args.epochs {
        if args.fail_at_epoch == Some(epoch) {
            summary.outcome = Outcome::Failed;
            summary.reason = Some(format!("failed at epoch {epoch} (--fail-at-epoch)"));
            break;
        }
        let cpu = Duration::from_millis(args.epoch_cpu_ms.min(args.epoch_ms));
        let work = tokio::task::spawn_blocking(move || burn(cpu, weights, epoch));
        let pause = tokio::time::sleep(Duration::from_millis(args.epoch_ms));
        let finished = tokio::select! {
            r = async { let w = work.await; pause.await; w } => Some(r.map_err(std::io::Error::other)?),
            () = &mut stop => None,
        };
        let Some(w) = finished else {
            summary.outcome = Outcome::Interrupted;
            summary.reason = Some(format!("stopped by SIGTERM during epoch {epoch}"));
            break;
        };
        weights = w;
        if args.memory_per_epoch_bytes > 0 {
            let n = usize::try_from(args.memory_per_epoch_bytes).unwrap_or(usize::MAX);
            held.push(vec![0xA5; n]);
        }
        if let Some(d) = &args.checkpoint_dir {
            summary.checkpoint = Some(write_checkpoint(d, &Checkpoint { epoch, weights })?);
        }
        summary.last_epoch = epoch;
        println!(
            "epoch {epoch}/{} done (state {weights:016x}, holding {} bytes)",
            args.epochs,
            held.iter().map(Vec::len).sum::<usize>()
        );
    }
    crate::summary::write(&args.summary, &summary)?;
    Ok(summary)
}

/// The process exit status for a summary: 0 done, 1 failed, 143 stopped.
pub fn exit_code(s: &Summary) -> i32 {
    match s.outcome {
        Outcome::Completed => 0,
        Outcome::Failed => 1,
        Outcome::Interrupted => 143,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(dir: &Path, extra: &[&str]) -> TrainArgs {
        let mut argv = vec![
            "train".to_string(),
            "--epochs".into(),
            "4".into(),
            "--epoch-ms".into(),
            "5".into(),
            "--epoch-cpu-ms".into(),
            "1".into(),
            "--checkpoint-dir".into(),
            dir.join("ckpt").display().to_string(),
            "--summary".into(),
            dir.join("summary.json").display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        TrainArgs::parse_from(argv)
    }

    fn never() -> impl std::future::Future<Output = ()> {
        std::future::pending()
    }

    #[tokio::test]
    async fn a_run_resumes_from_the_newest_checkpoint() {
        let dir = tempdir();
        let failing = args(&dir, &["--fail-at-epoch", "3"]);
        let first = train(&failing, never()).await.unwrap();
        assert_eq!(first.outcome, Outcome::Failed);
        assert_eq!((first.start_epoch, first.last_epoch), (0, 2));
        assert_eq!(exit_code(&first), 1);
        let ready_args = |min_epoch| ReadyArgs {
            checkpoint_dir: dir.join("ckpt"),
            min_epoch,
        };
        assert_eq!(ready(&ready_args(2)), Ok(2));
        assert!(
            ready(&ready_args(3))
                .unwrap_err()
                .contains("epoch 2, waiting for 3")
        );
        let second = train(&args(&dir, &[]), never()).await.unwrap();
        assert_eq!(second.outcome, Outcome::Completed);
        assert_eq!((second.start_epoch, second.last_epoch), (2, 4));
        assert_eq!(second.checkpoint.as_deref(), Some("epoch-000004.json"));
        let written: Summary =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(written, second);
        // The same model state as a run that was never interrupted.
        let other = tempdir();
        train(&args(&other, &[]), never()).await.unwrap();
        let state = |d: &Path| std::fs::read_to_string(d.join("ckpt/epoch-000004.json")).unwrap();
        assert_eq!(state(&dir), state(&other));
    }

    #[tokio::test]
    async fn without_a_checkpoint_folder_every_run_starts_at_zero() {
        let dir = tempdir();
        let mut a = args(&dir, &[]);
        a.checkpoint_dir = None;
        let s = train(&a, never()).await.unwrap();
        assert_eq!((s.start_epoch, s.last_epoch, s.checkpoint), (0, 4, None));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(json["outcome"], "completed");
        assert_eq!(json["startEpoch"], 0);
    }

    #[tokio::test]
    async fn a_stop_ends_the_run_as_interrupted() {
        let dir = tempdir();
        let mut a = args(&dir, &[]);
        a.epoch_ms = 60_000;
        let s = train(&a, async {}).await.unwrap();
        assert_eq!(s.outcome, Outcome::Interrupted);
        assert_eq!(s.last_epoch, 0);
        assert_eq!(exit_code(&s), 143);
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "mock-train-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
