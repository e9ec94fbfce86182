//! Reviews: what people decided about findings, kept in a plain TOML file meant for git
//! (`tokenaudit-reviews.toml` by default).
//!
//! ```toml
//! [[review]]
//! id = "R1"
//! agent = "lena.okafor"
//! code = "TA302"                 # optional: only findings with a reason of this code
//! weeks = ["2026-09-07"]         # optional: only findings about one of these weeks
//! verdict = "planned"            # expected | unexpected | planned
//! reason = "approved research spike"
//! by = "maria@finance"
//! at = "2026-12-07"
//! expires = "2027-01-31"         # optional, inclusive
//! ```
//!
//! A review matches a finding of its agent (and code, and weeks, when it names them) until it
//! expires. `expected` and `planned` close the finding: it is shown collapsed and never counts
//! toward `--fail-on`. `unexpected` confirms it: it stays open. A review whose agent is not in
//! the audit, or whose code tokenaudit does not know, is stale: reported, never an error.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The review file read when `--reviews` is not given, if it exists.
pub const DEFAULT_FILE: &str = "tokenaudit-reviews.toml";

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("Cannot read the review file `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Cannot write the review file `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("The review file `{}` is not valid: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

/// What a reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Known and explained (a migration week): closed.
    Expected,
    /// Looked at and confirmed as waste: stays open.
    Unexpected,
    /// Approved beforehand (a research spike): closed.
    Planned,
}

impl Verdict {
    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "expected" => Some(Verdict::Expected),
            "unexpected" => Some(Verdict::Unexpected),
            "planned" => Some(Verdict::Planned),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Expected => "expected",
            Verdict::Unexpected => "unexpected",
            Verdict::Planned => "planned",
        }
    }

    /// Whether the finding it matches is closed: shown collapsed, out of `--fail-on`.
    pub fn closes(self) -> bool {
        self != Verdict::Unexpected
    }
}

/// One decision, as the file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub id: String,
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weeks: Vec<String>,
    pub verdict: Verdict,
    pub reason: String,
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "review")]
    reviews: Vec<Review>,
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Where a review stands for a finding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Match<'a> {
    Live(&'a Review),
    Expired(&'a Review),
}

impl Review {
    fn applies(&self, agent: &str, codes: &[&str], weeks: &[String]) -> bool {
        self.agent == agent
            && self
                .code
                .as_deref()
                .is_none_or(|code| codes.iter().any(|c| c.eq_ignore_ascii_case(code)))
            && (self.weeks.is_empty() || self.weeks.iter().any(|w| weeks.contains(w)))
    }

    /// Whether the review still holds on `today` (its expiry day included).
    pub fn live(&self, today: NaiveDate) -> bool {
        self.expires
            .as_deref()
            .and_then(date)
            .is_none_or(|expires| today <= expires)
    }
}

/// The first live review of a finding, else the first expired one that would have matched.
pub fn find<'a>(
    reviews: &'a [Review],
    agent: &str,
    codes: &[&str],
    weeks: &[String],
    today: NaiveDate,
) -> Option<Match<'a>> {
    let applicable: Vec<&Review> = reviews
        .iter()
        .filter(|r| r.applies(agent, codes, weeks))
        .collect();
    applicable
        .iter()
        .find(|r| r.live(today))
        .map(|r| Match::Live(r))
        .or_else(|| applicable.first().map(|r| Match::Expired(r)))
}

/// The reviews in `path`; none when the file does not exist.
pub fn load(path: &Path) -> Result<Vec<Review>, ReviewError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ReviewError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut file: File = toml::from_str(&text).map_err(|e| ReviewError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut ids = std::collections::BTreeSet::new();
    for review in &file.reviews {
        if !ids.insert(review.id.as_str()) {
            return Err(ReviewError::Invalid {
                path: path.to_path_buf(),
                message: format!("two reviews have the id {}", review.id),
            });
        }
    }
    for review in &file.reviews {
        for (what, value) in [
            ("at", Some(&review.at)),
            ("expires", review.expires.as_ref()),
        ]
        .into_iter()
        .chain(review.weeks.iter().map(|w| ("weeks", Some(w))))
        {
            if let Some(value) = value {
                if date(value).is_none() {
                    return Err(ReviewError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "review {} has {what} = \"{value}\", not a date (YYYY-MM-DD)",
                            review.id
                        ),
                    });
                }
            }
        }
    }
    // Dates are compared as text: written the one way (2026-09-07, not 2026-9-7).
    for review in &mut file.reviews {
        for week in &mut review.weeks {
            if let Some(day) = date(week) {
                *week = day.to_string();
            }
        }
        if let Some(day) = review.expires.as_deref().and_then(date) {
            review.expires = Some(day.to_string());
        }
    }
    Ok(file.reviews)
}

/// Writes `reviews` to `path`, whole or not at all.
pub fn save(path: &Path, reviews: &[Review]) -> Result<(), ReviewError> {
    let file = File {
        reviews: reviews.to_vec(),
    };
    let body = toml::to_string(&file).map_err(|e| ReviewError::Usage(e.to_string()))?;
    let text = format!(
        "# tokenaudit reviews: decisions on findings (`tokenaudit review add|list|remove`).\n\
         # expected and planned close a finding; unexpected confirms it.\n\n{body}"
    );
    crate::report::write_atomically(path, |out| out.write_all(text.as_bytes())).map_err(|source| {
        ReviewError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// A new review's fields, as `review add` takes them.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub agent: String,
    pub code: Option<String>,
    pub weeks: Vec<String>,
    pub verdict: Verdict,
    pub reason: String,
    pub by: String,
    pub expires: Option<String>,
}

/// Adds a review with the next free id; `today` is its date. Returns the id.
pub fn add(
    reviews: &mut Vec<Review>,
    new: NewReview,
    today: NaiveDate,
) -> Result<String, ReviewError> {
    if new.agent.trim().is_empty() {
        return Err(ReviewError::Usage("a review needs --agent".into()));
    }
    if new.reason.trim().is_empty() {
        return Err(ReviewError::Usage(
            "a review needs --reason: what was decided and why".into(),
        ));
    }
    if let Some(code) = &new.code {
        if crate::detect::catalog::lookup(code).is_none() {
            return Err(ReviewError::Usage(format!(
                "`{code}` is not a reason code\n\nhint: `tokenaudit explain` lists every code"
            )));
        }
    }
    for value in new.weeks.iter().chain(new.expires.as_ref()) {
        if date(value).is_none() {
            return Err(ReviewError::Usage(format!(
                "`{value}` is not a date (YYYY-MM-DD)"
            )));
        }
    }
    let next = reviews
        .iter()
        .filter_map(|r| r.id.strip_prefix('R')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let id = format!("R{next}");
    let normalized = |text: String| date(&text).map_or(text, |d| d.to_string());
    reviews.push(Review {
        id: id.clone(),
        agent: new.agent,
        code: new.code.map(|c| c.to_ascii_uppercase()),
        weeks: new.weeks.into_iter().map(normalized).collect(),
        verdict: new.verdict,
        reason: new.reason,
        by: new.by,
        at: today.to_string(),
        expires: new.expires.map(normalized),
    });
    Ok(id)
}
