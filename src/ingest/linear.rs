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

use super::records::{closed_tickets, TicketColumns};
use super::{Adapter, Scan};
use crate::schema::Table;

pub struct LinearAdapter;

const COLUMNS: TicketColumns = TicketColumns {
    key: "ID",
    assignee: "Assignee",
    closed_at: "Completed",
    project: &["Team"],
    open_skip: "issues not completed",
    unassigned_skip: "completed issues with no assignee",
};

impl Adapter for LinearAdapter {
    fn name(&self) -> &'static str {
        "linear-csv"
    }

    fn names(&self) -> &'static [&'static str] {
        &["linear-csv", "linear"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::fields::csv_head_has(head, &["ID", "Team", "Title", "Completed"])
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
