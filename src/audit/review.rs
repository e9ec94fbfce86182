//! `tokenaudit review add|list|remove`, and the reviews applied to an audit's findings.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use chrono::NaiveDate;

use super::{AuditError, Exit};
use crate::report::{AuditReport, FindingState, ReviewEntry, ReviewsEntry, StaleReview};
use crate::reviews::{self, Match, NewReview, Review, ReviewError};

impl From<ReviewError> for AuditError {
    fn from(e: ReviewError) -> Self {
        AuditError::Review(e)
    }
}

/// Which review file an audit reads.
#[derive(Debug, Clone)]
pub struct ReviewSource {
    pub path: PathBuf,
    /// Named with `--reviews`: a missing file is an error, not "no reviews".
    pub explicit: bool,
}

impl Default for ReviewSource {
    fn default() -> Self {
        ReviewSource {
            path: PathBuf::from(reviews::DEFAULT_FILE),
            explicit: false,
        }
    }
}

/// The reviews of an audit, or `None` when there is no review file.
pub fn load(source: &ReviewSource) -> Result<Option<Vec<Review>>, AuditError> {
    if !source.path.exists() {
        if source.explicit {
            return Err(ReviewError::Read {
                path: source.path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            }
            .into());
        }
        return Ok(None);
    }
    Ok(Some(reviews::load(&source.path)?))
}

/// Marks each finding a live review matches, and says which reviews expired or went stale.
pub fn apply(report: &mut AuditReport, reviews: &[Review], today: NaiveDate) {
    let mut expired: Vec<ReviewEntry> = Vec::new();
    let mut matched = 0;
    for finding in &mut report.findings {
        let codes: Vec<&str> = finding.reasons.iter().map(|r| r.code).collect();
        let mut weeks: Vec<String> = finding.weeks.iter().map(|w| w.week.clone()).collect();
        weeks.extend(finding.week.clone());
        match reviews::find(reviews, &finding.agent, &codes, &weeks, today) {
            Some(Match::Live(review)) => {
                matched += 1;
                // A confirmation keeps the finding open, and new or ongoing as it was, so
                // that `--new-only` still counts it when it is new.
                if review.verdict.closes() {
                    finding.state = Some(FindingState::Reviewed);
                }
                finding.review = Some(review.into());
            }
            Some(Match::Expired(review)) if !expired.iter().any(|e| e.id == review.id) => {
                expired.push(review.into());
            }
            Some(Match::Expired(_)) | None => {}
        }
    }
    let agents: BTreeSet<&str> = report.agents.iter().map(|a| a.agent.as_str()).collect();
    let stale = reviews
        .iter()
        .filter_map(|r| {
            let why = if !agents.contains(r.agent.as_str()) {
                "the agent is not in this audit".to_string()
            } else if let Some(code) = r
                .code
                .as_deref()
                .filter(|c| crate::detect::catalog::lookup(c).is_none())
            {
                format!("tokenaudit has no reason code {code}")
            } else {
                return None;
            };
            Some(StaleReview {
                id: r.id.clone(),
                agent: r.agent.clone(),
                why,
            })
        })
        .collect();
    report.reviews = Some(ReviewsEntry {
        reviews: reviews.len(),
        matched,
        expired,
        stale,
    });
}

/// What `review` does.
#[derive(Debug, Clone)]
pub enum ReviewCommand {
    Add { file: PathBuf, review: NewReview },
    List { file: PathBuf, json: bool },
    Remove { file: PathBuf, id: String },
}

pub fn run(command: ReviewCommand, stdout: &mut dyn Write) -> Result<Exit, AuditError> {
    let write_err = |source| AuditError::Write {
        path: PathBuf::from("<stdout>"),
        source,
    };
    let today = chrono::Utc::now().date_naive();
    match command {
        ReviewCommand::Add { file, review } => {
            let mut all = reviews::load(&file)?;
            let id = reviews::add(&mut all, review, today)?;
            reviews::save(&file, &all)?;
            writeln!(stdout, "added review {id} to {}", file.display()).map_err(write_err)?;
        }
        ReviewCommand::Remove { file, id } => {
            let mut all = reviews::load(&file)?;
            let before = all.len();
            all.retain(|r| r.id != id);
            if all.len() == before {
                return Err(ReviewError::Usage(format!(
                    "{} has no review {id}\n\nhint: `tokenaudit review list` shows the ids",
                    file.display()
                ))
                .into());
            }
            reviews::save(&file, &all)?;
            writeln!(stdout, "removed review {id} from {}", file.display()).map_err(write_err)?;
        }
        ReviewCommand::List { file, json } => {
            let all = reviews::load(&file)?;
            if json {
                let entries: Vec<ReviewEntry> = all.iter().map(ReviewEntry::from).collect();
                serde_json::to_writer_pretty(&mut *stdout, &entries)
                    .map_err(|e| write_err(e.into()))?;
                writeln!(stdout).map_err(write_err)?;
            } else if all.is_empty() {
                writeln!(stdout, "no reviews in {}", file.display()).map_err(write_err)?;
            } else {
                for r in &all {
                    let live = if r.live(today) { "" } else { " (expired)" };
                    writeln!(
                        stdout,
                        "{}  {}  {}{}  {}  by {} on {}{}{}: {}",
                        r.id,
                        r.agent,
                        r.code.as_deref().unwrap_or("any code"),
                        if r.weeks.is_empty() {
                            String::new()
                        } else {
                            format!(" weeks {}", r.weeks.join(","))
                        },
                        r.verdict.name(),
                        r.by,
                        r.at,
                        r.expires
                            .as_deref()
                            .map_or_else(String::new, |e| format!(", until {e}")),
                        live,
                        r.reason
                    )
                    .map_err(write_err)?;
                }
            }
        }
    }
    Ok(Exit::Clean)
}
