//! Git repositories as an output source, read in process with gix (no `git` subprocess).
//!
//! A directory given to `--outputs` that is a repository (a work tree with `.git`, or a bare
//! repository) is one input. Every commit reachable from `HEAD` and the local branches is read
//! once, newest first; with `--since` the walk stops at commits older than a day before it, and
//! `--until` leaves out newer ones (the audit's calendar trims the rest exactly).
//!
//! | canonical | from the commit |
//! |---|---|
//! | `ts` | committer time (when the work landed), UTC |
//! | `agent` | author email (an identity map maps it to a person) |
//! | `kind` | `commit` for a commit with one parent or none; `merge` for one with two or more; `loc_added` / `loc_removed` for the lines it changed against its first parent (merges: none, their lines were counted on the branch; binary files: none) |
//! | `amount` | 1, or the line count |
//! | `ref` | `<sha>` for commits and merges, `<sha>:loc_added` / `<sha>:loc_removed` for lines |
//! | `repo` | the repository folder's name |
//! | `co_authors` | the values of `Co-authored-by` trailers, `; `-separated (`Claude <noreply@anthropic.com>`): AI credited on the commit |
//!
//! A commit that cannot be decoded (a corrupt object) is quarantined with its sha as the line.

use std::path::Path;

use gix::bstr::ByteSlice;

use super::records::Records;
use super::{Adapter, Scan, Window};
use crate::schema::{self, Table};

pub struct GitAdapter;

const TEXT: [&str; 6] = [
    schema::TS,
    schema::AGENT,
    schema::KIND,
    schema::REF,
    schema::REPO,
    schema::CO_AUTHORS,
];
const AMOUNTS: [&str; 1] = [schema::AMOUNT];

/// Whether a directory's entries are a git repository's: `.git` (a folder, or the file of a linked
/// work tree), or the `HEAD` file and `objects` folder of a bare repository.
fn lists_repository(listing: &super::Listing) -> bool {
    listing.has(".git")
        || listing.kind("HEAD") == Some(false) && listing.kind("objects") == Some(true)
}

/// SHA-256 over the repository's references, in path order: what the audit read is named by
/// the commits its refs point at.
pub fn fingerprint(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let git_dir = if path.join(".git").is_dir() {
        path.join(".git")
    } else {
        path.to_path_buf()
    };
    let mut files = Vec::new();
    for name in ["HEAD", "packed-refs"] {
        if git_dir.join(name).is_file() {
            files.push(git_dir.join(name));
        }
    }
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
        if !dir.is_dir() {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, files)?;
            } else {
                files.push(path);
            }
        }
        Ok(())
    }
    let mut refs = Vec::new();
    walk(&git_dir.join("refs"), &mut refs)?;
    refs.sort();
    files.extend(refs);
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.strip_prefix(&git_dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file)?);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn engine(message: String) -> super::AdapterError {
    super::AdapterError::Repository(message)
}

fn iso(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Reads every commit of the repository at `path` inside `window` (seconds since the epoch).
pub fn read(path: &Path, window: Window) -> Result<Scan, super::AdapterError> {
    let repo = gix::open(path).map_err(|e| engine(format!("not a git repository: {e}")))?;
    let name = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| path.display().to_string());
    let name = name.strip_suffix(".git").unwrap_or(&name).to_string();

    let mut tips: Vec<gix::ObjectId> = Vec::new();
    if let Ok(head) = repo.head_id() {
        tips.push(head.detach());
    }
    if let Ok(platform) = repo.references() {
        if let Ok(branches) = platform.local_branches() {
            for mut branch in branches.flatten() {
                if let Ok(id) = branch.peel_to_id() {
                    tips.push(id.detach());
                }
            }
        }
    }
    tips.sort();
    tips.dedup();

    let mut records = Records::new(&TEXT, &[], &AMOUNTS);
    if tips.is_empty() {
        // An empty repository delivered nothing.
        return records.finish();
    }
    let order = gix::revision::walk::Sorting::ByCommitTimeCutoff {
        order: gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
        // A day of slack: the audit's calendar is local time, the cutoff is UTC.
        seconds: window.since.map_or(0, |s| s - 86_400),
    };
    let walk = repo
        .rev_walk(tips)
        .sorting(order)
        .all()
        .map_err(|e| engine(format!("cannot walk the history: {e}")))?;
    let mut cache = repo
        .diff_resource_cache_for_tree_diff()
        .map_err(|e| engine(format!("cannot prepare diffs: {e}")))?;
    let mut line = 0u64;
    for info in walk {
        line += 1;
        let info = info.map_err(|e| engine(format!("cannot walk the history: {e}")))?;
        let sha = info.id.to_string();
        let commit = match info.object() {
            Ok(commit) => commit,
            Err(err) => {
                records.unreadable(line, format!("cannot read commit: {err}"), sha.as_bytes());
                continue;
            }
        };
        let decoded = match commit.decode() {
            Ok(decoded) => decoded,
            Err(err) => {
                records.unreadable(line, format!("cannot decode commit: {err}"), sha.as_bytes());
                continue;
            }
        };
        let time = decoded.committer().map(|c| c.seconds()).unwrap_or(0);
        if window.until.is_some_and(|until| time > until + 86_400) {
            continue;
        }
        let author = decoded
            .author()
            .map(|a| a.email.trim().to_str_lossy().to_string())
            .unwrap_or_default();
        let co_authors: Vec<String> = decoded
            .message()
            .body()
            .map(|body| {
                body.trailers()
                    .filter(|t| t.token.eq_ignore_ascii_case(b"co-authored-by"))
                    .map(|t| t.value.to_str_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let parents: Vec<gix::ObjectId> = decoded.parents().collect();
        let push = |records: &mut Records, kind: &str, amount: f64, reference: String| {
            records.row(line);
            records.text(schema::TS, iso(time));
            records.text(schema::AGENT, author.as_str());
            records.text(schema::KIND, kind);
            records.amount(schema::AMOUNT, amount);
            records.text(schema::REF, reference);
            records.text(schema::REPO, name.as_str());
            if !co_authors.is_empty() {
                records.text(schema::CO_AUTHORS, co_authors.join("; "));
            }
        };
        if parents.len() >= 2 {
            push(&mut records, "merge", 1.0, sha.clone());
            continue;
        }
        push(&mut records, "commit", 1.0, sha.clone());
        let (added, removed) = match line_counts(&repo, &commit, parents.first(), &mut cache) {
            Ok(counts) => counts,
            Err(err) => {
                records.unreadable(line, format!("cannot diff commit: {err}"), sha.as_bytes());
                continue;
            }
        };
        if added > 0 {
            push(
                &mut records,
                "loc_added",
                added as f64,
                format!("{sha}:loc_added"),
            );
        }
        if removed > 0 {
            push(
                &mut records,
                "loc_removed",
                removed as f64,
                format!("{sha}:loc_removed"),
            );
        }
    }
    records.finish()
}

/// Lines inserted and removed by `commit` against `parent` (the empty tree for a root commit).
fn line_counts(
    repo: &gix::Repository,
    commit: &gix::Commit<'_>,
    parent: Option<&gix::ObjectId>,
    cache: &mut gix::diff::blob::Platform,
) -> Result<(u64, u64), String> {
    let tree = commit.tree().map_err(|e| e.to_string())?;
    let parent_tree = match parent {
        Some(id) => repo
            .find_commit(*id)
            .map_err(|e| e.to_string())?
            .tree()
            .map_err(|e| e.to_string())?,
        None => repo.empty_tree(),
    };
    let (mut added, mut removed) = (0u64, 0u64);
    let mut changes = parent_tree.changes().map_err(|e| e.to_string())?;
    changes.options(|o| {
        o.track_rewrites(None);
    });
    changes
        .for_each_to_obtain_tree(&tree, |change| {
            if change.entry_mode().is_blob() {
                if let Ok(mut platform) = change.diff(cache) {
                    if let Ok(Some(stats)) = platform.line_counts() {
                        added += u64::from(stats.insertions);
                        removed += u64::from(stats.removals);
                    }
                }
            }
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .map_err(|e| e.to_string())?;
    cache.clear_resource_cache_keep_allocation();
    Ok((added, removed))
}

impl Adapter for GitAdapter {
    fn name(&self) -> &'static str {
        "git"
    }

    fn names(&self) -> &'static [&'static str] {
        &["git"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &[]
    }

    fn recognition(&self) -> super::Recognition {
        super::Recognition::Directory
    }

    fn owns_directory(&self, listing: &super::Listing) -> bool {
        lists_repository(listing)
    }

    fn fingerprint_directory(&self, path: &Path) -> std::io::Result<String> {
        fingerprint(path)
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        // A repository is a directory: recognised by its entries, not by content.
        false
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Outputs]
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        read(path, Window::default())
    }

    fn scan_window(
        &self,
        path: &Path,
        _table: Table,
        window: Window,
    ) -> Result<Scan, super::AdapterError> {
        read(path, window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{col, lit};

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/git/shop.git")
    }

    fn totals(window: Window) -> std::collections::BTreeMap<String, f64> {
        let frame = read(&fixture(), window)
            .unwrap()
            .frame
            .group_by([col(schema::KIND)])
            .agg([col(schema::AMOUNT).sum()])
            .collect()
            .unwrap();
        let kinds = frame.column(schema::KIND).unwrap().str().unwrap().clone();
        let amounts = frame.column(schema::AMOUNT).unwrap().f64().unwrap().clone();
        kinds
            .iter()
            .zip(amounts.iter())
            .map(|(k, a)| (k.unwrap().to_string(), a.unwrap()))
            .collect()
    }

    #[test]
    fn the_fixture_repository_gives_its_documented_totals() {
        assert!(lists_repository(
            &super::super::Listing::read(&fixture()).unwrap()
        ));
        let all = totals(Window::default());
        // Six commits on two branches, one merge; lines as `git log --numstat` counts them,
        // the binary logo and the merge counting none.
        assert_eq!(all["commit"], 6.0);
        assert_eq!(all["merge"], 1.0);
        assert_eq!(all["loc_added"], 16.0);
        assert_eq!(all["loc_removed"], 6.0);
        // From 2026-09-10: the cart total, the README, the merge and the move (the walk keeps a
        // day of slack before the window; the calendar trims it).
        let since = chrono::NaiveDate::from_ymd_opt(2026, 9, 11)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp();
        let recent = totals(Window {
            since: Some(since),
            until: None,
        });
        assert_eq!(recent["commit"], 3.0);
        assert_eq!(recent["merge"], 1.0);
    }

    #[test]
    fn co_author_trailers_are_kept() {
        let frame = read(&fixture(), Window::default())
            .unwrap()
            .frame
            .filter(col(schema::CO_AUTHORS).is_not_null())
            .filter(col(schema::KIND).eq(lit("commit")))
            .select([col(schema::AGENT), col(schema::CO_AUTHORS)])
            .sort([schema::AGENT], Default::default())
            .collect()
            .unwrap();
        let co: Vec<&str> = frame
            .column(schema::CO_AUTHORS)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(
            co,
            [
                "Claude <noreply@anthropic.com>",
                "Cursor Agent <cursoragent@cursor.com>"
            ]
        );
    }
}
