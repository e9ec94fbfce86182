//! Temporary folders for what a run writes to disk past its memory budgets: spilled keys, held
//! rows, the days of `ingest --to`.
//!
//! Each folder is `tokenaudit-<what>-<random>` in the system's temporary folder (`TMPDIR`) and
//! holds a lock file that its process keeps locked for as long as the folder is in use. A
//! process that ends normally removes its folders; one that is killed first (`SIGKILL`, a CI
//! job's timeout, Ctrl-C) cannot, but the kernel releases its locks. So the first folder a run
//! makes is preceded by a sweep that removes every `tokenaudit-*` folder whose lock nobody
//! holds: what a killed run left is gone by the next run that writes to disk, and the folders of
//! runs still going, in this process or another, are left alone. A folder is made under a
//! hidden name (`.tokenaudit-…`) and takes its own name only once its lock is held, so a run
//! killed while making one never leaves a `tokenaudit-*` folder without a lock; the sweep
//! removes hidden ones whose lock nobody holds too.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// What every folder is named from.
const PREFIX: &str = "tokenaudit-";
/// The lock file in each folder. Created under another name and renamed once locked, so that a
/// sweep never finds it unlocked while its folder is being made.
const LOCK: &str = ".owner.lock";
const LOCKING: &str = ".owner.lock.new";

/// Where a folder is made before it takes its name.
const STAGING: &str = ".tokenaudit-";

/// One temporary folder, removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    /// Released (and its file closed) before the folder goes.
    lock: Option<File>,
    dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        drop(self.lock.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Scratch {
    /// A new folder `tokenaudit-<what>-…` in the system's temporary folder, after the first
    /// sweep of this process.
    pub fn new(what: &str) -> io::Result<Scratch> {
        static SWEEP: Once = Once::new();
        let root = std::env::temp_dir();
        SWEEP.call_once(|| {
            sweep(&root);
        });
        Scratch::in_folder(&root, what)
    }

    fn in_folder(root: &Path, what: &str) -> io::Result<Scratch> {
        let staging = tempfile::Builder::new()
            .prefix(&format!("{STAGING}{what}-"))
            .tempdir_in(root)?;
        let locking = staging.path().join(LOCKING);
        let lock = File::create(&locking)?;
        lock.lock()?;
        std::fs::rename(&locking, staging.path().join(LOCK))?;
        // The same random name without the dot, in one rename: the folder appears under its
        // name with its lock held. Where that name is taken by a folder with files in it
        // (another run's, by a one-in-10¹⁰ chance) the rename fails and this one keeps its
        // hidden name.
        let name = staging
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix('.'))
            .map(str::to_string)
            .unwrap_or_default();
        let staging = staging.keep();
        let dir = root.join(name);
        let dir = match std::fs::rename(&staging, &dir) {
            Ok(()) => dir,
            Err(_) => staging,
        };
        Ok(Scratch {
            lock: Some(lock),
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// A write to a temporary folder that failed (a full or missing disk), carried inside the
/// engine's errors as an `io::Error`, so that a run that fails on it says so at once, rather
/// than reading every input again for one that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("Cannot write temporary files in `{}`: {source}", dir.display())]
pub struct WriteFailed {
    pub dir: PathBuf,
    pub source: io::Error,
}

/// The system's temporary folder, if it is a folder a file can be made in. A run past its
/// memory budgets writes there, and polars' scans initialise a folder there and panic when
/// they cannot (which named the input being scanned, not the folder).
pub fn usable() -> Result<PathBuf, WriteFailed> {
    let dir = std::env::temp_dir();
    match tempfile::tempfile_in(&dir) {
        Ok(_) => Ok(dir),
        Err(source) => Err(WriteFailed { dir, source }),
    }
}

/// Turns an error of writing in `dir` into one that [`write_failure`] finds.
pub fn failed_in(dir: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |source| {
        io::Error::new(
            source.kind(),
            WriteFailed {
                dir: dir.to_path_buf(),
                source,
            },
        )
    }
}

/// The same for an engine error of writing in `dir` (an Arrow file's writer).
pub fn polars_failed_in(dir: &Path) -> impl Fn(polars::error::PolarsError) -> io::Error + '_ {
    move |err| {
        let source = match err {
            polars::error::PolarsError::IO { error, .. } => {
                io::Error::new(error.kind(), error.to_string())
            }
            other => io::Error::other(other.to_string()),
        };
        failed_in(dir)(source)
    }
}

/// The failed write to a temporary folder somewhere in `err`'s chain of causes, if any.
pub fn write_failure<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a WriteFailed> {
    let mut at = Some(err);
    while let Some(err) = at {
        if let Some(failed) = err.downcast_ref::<WriteFailed>() {
            return Some(failed);
        }
        let inner = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref);
        if let Some(failed) = inner.and_then(|inner| inner.downcast_ref::<WriteFailed>()) {
            return Some(failed);
        }
        at = err.source();
    }
    None
}

/// Removes the `tokenaudit-*` folders in `root`, and the hidden `.tokenaudit-*` ones being
/// made, whose lock nobody holds (their process is gone); the folders removed. Folders without
/// a lock file (made by an older version, or by `demo`, or by a run killed before its lock) are
/// not touched, and nothing here fails a run: a folder that cannot be read or removed is left.
pub fn sweep(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PREFIX) || n.starts_with(STAGING));
        if !is_ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        let Ok(lock) = File::open(dir.join(LOCK)) else {
            continue;
        };
        // Held by a live process (this one included: a second open file is locked apart).
        if lock.try_lock().is_err() {
            continue;
        }
        drop(lock);
        if std::fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_removes_the_folders_of_dead_runs_and_keeps_live_ones() {
        let root = tempfile::tempdir().unwrap();
        // A run still going, and one whose process is gone: its lock file is there, unlocked.
        let live = Scratch::in_folder(root.path(), "rows").unwrap();
        std::fs::write(live.path().join("00000.arrow"), b"rows").unwrap();
        let mut dead = Scratch::in_folder(root.path(), "days").unwrap();
        let dead_path = dead.path().to_path_buf();
        assert!(dead_path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("tokenaudit-days-"));
        // Its process gone: the lock released, the folder left.
        drop(dead.lock.take());
        dead.dir = root.path().join("gone");
        drop(dead);
        std::fs::write(dead_path.join("1.arrow"), b"rows").unwrap();
        // A run killed while making its folder: hidden, its lock file unlocked.
        let staged = root.path().join(".tokenaudit-keys-Ab12Cd");
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join(LOCK), b"").unwrap();
        // Not ours to judge: no lock file, or not named like ours.
        let older = root.path().join("tokenaudit-keys-old");
        std::fs::create_dir(&older).unwrap();
        let other = root.path().join("someone-else");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(LOCK), b"").unwrap();

        let mut removed = sweep(root.path());
        removed.sort();
        assert_eq!(removed, vec![staged.clone(), dead_path.clone()]);
        assert!(!dead_path.exists() && !staged.exists());
        assert!(live.path().join("00000.arrow").exists());
        assert!(older.exists() && other.exists());
        let live_path = live.path().to_path_buf();
        drop(live);
        assert!(!live_path.exists(), "a scratch folder goes when dropped");
    }
}
