//! GitHub pull requests as exported by `gh pr list --state merged --json
//! number,url,author,mergedAt,state,reviews` or by the REST API (`GET /repos/{owner}/{repo}/pulls`,
//! `gh api --paginate`): merged pull requests, and the reviews on them, as delivered output.
//!
//! | canonical | `gh` field | REST field |
//! |---|---|---|
//! | `ts` | `mergedAt` | `merged_at` |
//! | `agent` | `author.login` | `user.login` |
//! | `kind` | `pr_merged` | `pr_merged` |
//! | `ref` | `url` | `html_url` |
//! | `repo` | `owner/name` from the URL | `base.repo.full_name` |
//!
//! Each review in `reviews` (approved, changes requested or commented, by someone other than the
//! author) is a `review` by its `author.login` at `submittedAt`, ref `<url>#review-<n>`.
//!
//! The file may hold one JSON array, an object, several arrays one after another (what
//! `gh api --paginate` prints) or one pull request per line (`--jq '.[]'`); it is read by the
//! page reader every JSON export shares (`vendor_json`), so a line that is not JSON is
//! quarantined and the rest read. Pull requests not merged are skipped and counted. A pull
//! request whose fields have the wrong type is quarantined; its "line" is its position in the
//! file (1-based, across pages).

use std::path::Path;

use memchr::memmem;
use serde::Deserialize;

use super::records::Records;
use super::vendor_json::{self, Document};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct GithubPrsAdapter;

#[derive(Deserialize)]
struct Login {
    login: Option<String>,
}

#[derive(Deserialize)]
struct Review {
    author: Option<Login>,
    state: Option<String>,
    #[serde(rename = "submittedAt")]
    submitted_at: Option<String>,
}

#[derive(Deserialize)]
struct BaseRepo {
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct Base {
    repo: Option<BaseRepo>,
}

#[derive(Deserialize)]
struct PullRequest {
    number: Option<u64>,
    url: Option<String>,
    html_url: Option<String>,
    author: Option<Login>,
    user: Option<Login>,
    #[serde(rename = "mergedAt")]
    merged_at_gh: Option<String>,
    merged_at: Option<String>,
    base: Option<Base>,
    #[serde(default)]
    reviews: Vec<Review>,
}

/// `owner/name` from `https://github.com/owner/name/pull/12`.
fn repo_of(url: &str) -> Option<String> {
    let path = url
        .split("://")
        .nth(1)?
        .split('/')
        .skip(1)
        .take(2)
        .collect::<Vec<_>>();
    (path.len() == 2).then(|| path.join("/"))
}

fn add(records: &mut Records, index: u64, value: serde_json::Value) {
    let raw = value.to_string();
    let pr: PullRequest = match serde_json::from_value(value) {
        Ok(pr) => pr,
        Err(err) => {
            records.unreadable(index, format!("not a pull request: {err}"), raw.as_bytes());
            return;
        }
    };
    let Some(merged) = pr.merged_at_gh.or(pr.merged_at) else {
        records.skip("pull requests not merged");
        return;
    };
    let url = pr
        .html_url
        .or(pr.url)
        .unwrap_or_else(|| format!("#{}", pr.number.unwrap_or(index)));
    let repo = pr
        .base
        .and_then(|b| b.repo)
        .and_then(|r| r.full_name)
        .or_else(|| repo_of(&url));
    let author = pr.author.or(pr.user).and_then(|l| l.login);
    let Some(author) = author else {
        records.skip("merged pull requests with no author");
        return;
    };
    let mut push = |ts: &str, agent: &str, kind: &str, reference: String| {
        records.row(index);
        records.text(schema::TS, ts);
        records.text(schema::AGENT, agent);
        records.text(schema::KIND, kind);
        records.amount(schema::AMOUNT, 1.0);
        records.text(schema::REF, reference);
        if let Some(repo) = &repo {
            records.text(schema::REPO, repo.as_str());
        }
    };
    push(&merged, &author, "pr_merged", url.clone());
    for (n, review) in pr.reviews.iter().enumerate() {
        let counts = matches!(
            review.state.as_deref(),
            Some("APPROVED" | "CHANGES_REQUESTED" | "COMMENTED")
        );
        let reviewer = review.author.as_ref().and_then(|a| a.login.as_deref());
        if let (true, Some(reviewer), Some(at)) = (counts, reviewer, &review.submitted_at) {
            if reviewer != author {
                push(at, reviewer, "review", format!("{url}#review-{}", n + 1));
            }
        }
    }
}

impl Adapter for GithubPrsAdapter {
    fn name(&self) -> &'static str {
        "github-prs"
    }

    fn names(&self) -> &'static [&'static str] {
        &["github-prs", "github", "gh"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let has = |key: &[u8]| memmem::find(head, key).is_some();
        has(b"\"number\"") && (has(b"\"mergedAt\"") || has(b"\"merged_at\""))
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Outputs]
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        let bytes = std::fs::read(path)?;
        let mut records = Records::new(
            &[
                schema::TS,
                schema::AGENT,
                schema::KIND,
                schema::REF,
                schema::REPO,
            ],
            &[],
            &[schema::AMOUNT],
        );
        // Pull requests are numbered across the file: `--paginate` writes one array per page,
        // `--jq '.[]'` one object per line (a line that is not JSON is quarantined).
        let mut index = 0u64;
        vendor_json::each_document(&bytes, "JSON pull requests", |_, document| {
            let items = match document {
                Document::Read(serde_json::Value::Array(items)) => items,
                Document::Read(other) => vec![other],
                Document::Unreadable { reason, raw } => {
                    index += 1;
                    records.unreadable(index, reason, &raw);
                    return;
                }
            };
            for item in items {
                index += 1;
                add(&mut records, index, item);
            }
        })?;
        records.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::repo_of;

    #[test]
    fn repositories_come_from_pull_request_urls() {
        assert_eq!(
            repo_of("https://github.com/acme/shop/pull/12").as_deref(),
            Some("acme/shop")
        );
        assert_eq!(repo_of("#12"), None);
    }
}
