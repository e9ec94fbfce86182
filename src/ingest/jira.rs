//! Jira's CSV export of issues (Filters → Export → CSV): resolved issues as delivered output.
//!
//! | canonical | Jira column |
//! |---|---|
//! | `ts` | `Resolved` (Jira's `21/Sep/26 4:13 PM`, ISO 8601 and `2026-09-21 16:13` are read; UTC) |
//! | `agent` | `Assignee` (a display name: map it with the identity map) |
//! | `kind` | `ticket_closed` |
//! | `amount` | 1 |
//! | `ref` | `Issue key` |
//! | `repo` | `Project key`, else `Project name` |
//!
//! Unresolved issues (empty `Resolved`) and resolved ones nobody was assigned are skipped and
//! counted. A `Resolved` value no format reads is quarantined with its row.

use std::path::Path;

use memchr::memmem;
use polars::prelude::*;

use super::records::{read_csv, text_column, tracker_time, Records};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct JiraAdapter;

pub(super) const TEXT: [&str; 5] = [
    schema::TS,
    schema::AGENT,
    schema::KIND,
    schema::REF,
    schema::REPO,
];

impl Adapter for JiraAdapter {
    fn name(&self) -> &'static str {
        "jira-csv"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let header = head.split(|b| *b == b'\n').next().unwrap_or(head);
        memmem::find(header, b"Issue key").is_some() && memmem::find(header, b"Resolved").is_some()
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Outputs]
    }

    fn scan(&self, path: &Path, _table: Table) -> PolarsResult<Scan> {
        let frame = read_csv(path)?;
        let key = text_column(&frame, "Issue key");
        let assignee = text_column(&frame, "Assignee");
        let resolved = text_column(&frame, "Resolved");
        let project_key = text_column(&frame, "Project key");
        let project_name = text_column(&frame, "Project name");
        let mut records = Records::new(&TEXT, &[], &[schema::AMOUNT]);
        for i in 0..frame.height() {
            let line = i as u64 + 1;
            let Some(resolved) = &resolved[i] else {
                records.skip("unresolved issues");
                continue;
            };
            let Some(agent) = &assignee[i] else {
                records.skip("resolved issues with no assignee");
                continue;
            };
            let Some(ts) = tracker_time(resolved) else {
                records.unreadable(
                    line,
                    format!("`Resolved` is not a date: `{resolved}`"),
                    key[i].as_deref().unwrap_or("").as_bytes(),
                );
                continue;
            };
            records.row(line);
            records.text(schema::TS, ts);
            records.text(schema::AGENT, agent.as_str());
            records.text(schema::KIND, "ticket_closed");
            records.amount(schema::AMOUNT, 1.0);
            if let Some(key) = &key[i] {
                records.text(schema::REF, key.as_str());
            }
            if let Some(project) = project_key[i].as_ref().or(project_name[i].as_ref()) {
                records.text(schema::REPO, project.as_str());
            }
        }
        records.finish()
    }
}
