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

use super::records::{closed_tickets, TicketColumns};
use super::{Adapter, Scan};
use crate::schema::Table;

pub struct JiraAdapter;

const COLUMNS: TicketColumns = TicketColumns {
    key: "Issue key",
    assignee: "Assignee",
    closed_at: "Resolved",
    project: &["Project key", "Project name"],
    open_skip: "unresolved issues",
    unassigned_skip: "resolved issues with no assignee",
};

impl Adapter for JiraAdapter {
    fn name(&self) -> &'static str {
        "jira-csv"
    }

    fn names(&self) -> &'static [&'static str] {
        &["jira-csv", "jira"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::fields::csv_head_has(head, &["Issue key", "Resolved"])
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Outputs]
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        closed_tickets(path, &COLUMNS)
    }
}
