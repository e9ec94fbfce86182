//! Linear's CSV export of issues (Settings → Import / Export → Export CSV): completed issues
//! as delivered output.
//!
//! | canonical | Linear column |
//! |---|---|
//! | `ts` | `Completed` (ISO 8601 or JavaScript's `Mon Sep 21 2026 16:13:00 GMT+0000 (…)`) |
//! | `agent` | `Assignee` |
//! | `kind` | `ticket_closed` |
//! | `amount` | 1 |
//! | `ref` | `ID` (`ENG-123`) |
//! | `repo` | `Team` |
//!
//! Issues not completed (canceled ones included) and completed ones with no assignee are
//! skipped and counted. A `Completed` value no format reads is quarantined with its row.

use std::path::Path;

use polars::prelude::*;

use super::jira::TEXT;
use super::records::{read_csv, text_column, tracker_time, Records};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct LinearAdapter;

impl Adapter for LinearAdapter {
    fn name(&self) -> &'static str {
        "linear-csv"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let header = head.split(|b| *b == b'\n').next().unwrap_or(head);
        let header = String::from_utf8_lossy(header);
        let columns: Vec<&str> = header
            .trim_start_matches('\u{feff}')
            .split(',')
            .map(|c| c.trim_matches('"'))
            .collect();
        columns.starts_with(&["ID", "Team", "Title"]) && columns.contains(&"Completed")
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Outputs]
    }

    fn scan(&self, path: &Path, _table: Table) -> PolarsResult<Scan> {
        let frame = read_csv(path)?;
        let id = text_column(&frame, "ID");
        let team = text_column(&frame, "Team");
        let assignee = text_column(&frame, "Assignee");
        let completed = text_column(&frame, "Completed");
        let mut records = Records::new(&TEXT, &[], &[schema::AMOUNT]);
        for i in 0..frame.height() {
            let line = i as u64 + 1;
            let Some(completed) = &completed[i] else {
                records.skip("issues not completed");
                continue;
            };
            let Some(agent) = &assignee[i] else {
                records.skip("completed issues with no assignee");
                continue;
            };
            let Some(ts) = tracker_time(completed) else {
                records.unreadable(
                    line,
                    format!("`Completed` is not a date: `{completed}`"),
                    id[i].as_deref().unwrap_or("").as_bytes(),
                );
                continue;
            };
            records.row(line);
            records.text(schema::TS, ts);
            records.text(schema::AGENT, agent.as_str());
            records.text(schema::KIND, "ticket_closed");
            records.amount(schema::AMOUNT, 1.0);
            if let Some(id) = &id[i] {
                records.text(schema::REF, id.as_str());
            }
            if let Some(team) = &team[i] {
                records.text(schema::REPO, team.as_str());
            }
        }
        records.finish()
    }
}
