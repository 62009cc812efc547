//! Exclusive file locks on cache entries, so that two processes (the
//! cluster bring-up, a test, `check`) asking for the same tool or image on
//! a cold machine build it once: the second waits, saying so, and then
//! finds it built.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Holds an exclusive lock on `path` (created if missing) until the file is
/// dropped; while another process holds it, prints that it waits for
/// `what` and blocks.
pub fn exclusive(path: &Path, what: &str) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(TryLockError::WouldBlock) => eprintln!(
            "inferbench: waiting for another process building {what} ({})",
            path.display()
        ),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    file.lock()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::exclusive;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested").join("x.lock");
        let first = exclusive(&path, "x").expect("first lock");
        let second = std::fs::File::open(&path).expect("open");
        assert!(
            matches!(
                second.try_lock_shared(),
                Err(std::fs::TryLockError::WouldBlock)
            ),
            "the lock is held"
        );
        drop(first);
        assert!(second.try_lock_shared().is_ok(), "released on drop");
    }
}
