//! Spend for chargeback: cost per (day, team, agent, model, tier) from the priced day-grain
//! rows, each agent under the team the agent-week table settled on, so a roll-up by team adds
//! up to the same dollars as the audit.
//!
//! Sums are kept in micro-dollars (integers) until the end, so roll-ups in any order give the
//! same cents.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{AgentWeek, PricedDay, UNASSIGNED_TEAM};
use crate::normalize::calendar::{from_day_number, WeekStart};
use crate::normalize::identities::AgentKind;
use crate::normalize::pricing::Tokens;

/// One agent's use of one model on one local day, in one tier.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendRow {
    pub day: NaiveDate,
    pub week: NaiveDate,
    pub team: String,
    pub agent: String,
    pub kind: AgentKind,
    pub model: String,
    /// The model's vendor per the price table; `None` when the table does not know the model.
    pub provider: Option<String>,
    /// `billed` (the vendor's own figure) or `estimated` (list price applied to local logs).
    pub tier: String,
    pub tokens: Tokens,
    pub requests: u64,
    pub cost_micro: i64,
    /// List-price cost of every token of the row; `None` for an unpriced model.
    pub list_micro: Option<i64>,
    /// Tokens no price covered (not in `cost_micro`).
    pub unpriced_tokens: u64,
}

impl SpendRow {
    pub fn cost_usd(&self) -> f64 {
        self.cost_micro as f64 / 1e6
    }
}

/// The day-grain spend rows, sorted by day, team, agent, model and tier.
pub fn spend_rows(days: &[PricedDay], weeks: &[AgentWeek], week_start: WeekStart) -> Vec<SpendRow> {
    let teams: BTreeMap<&str, (&str, AgentKind)> = weeks
        .iter()
        .map(|w| (w.agent.as_str(), (w.team.as_str(), w.kind)))
        .collect();
    let mut rows: Vec<SpendRow> = days
        .iter()
        .map(|d| {
            let usage = &d.usage;
            let day = from_day_number(usage.day);
            let (team, kind) = teams
                .get(usage.agent.as_str())
                .copied()
                .unwrap_or((UNASSIGNED_TEAM, usage.kind));
            SpendRow {
                day,
                week: week_start.week_of(day),
                team: team.to_string(),
                agent: usage.agent.clone(),
                kind,
                model: usage.model.clone(),
                provider: d.provider.clone(),
                tier: usage.tier.clone(),
                tokens: usage.tokens,
                requests: usage.requests,
                cost_micro: d.cost_micro,
                list_micro: d.list_micro,
                unpriced_tokens: d.unpriced.map_or(0, |t| t.total()),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.day, &a.team, &a.agent, &a.model, &a.tier)
            .cmp(&(b.day, &b.team, &b.agent, &b.model, &b.tier))
    });
    rows
}

/// A dimension spend can be rolled up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpendDim {
    Team,
    Agent,
    Model,
    Week,
}

impl SpendDim {
    pub const NAMES: &'static str = "team, agent, model, week";

    pub fn parse(name: &str) -> Option<SpendDim> {
        match name.trim().to_ascii_lowercase().as_str() {
            "team" => Some(SpendDim::Team),
            "agent" => Some(SpendDim::Agent),
            "model" => Some(SpendDim::Model),
            "week" => Some(SpendDim::Week),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SpendDim::Team => "team",
            SpendDim::Agent => "agent",
            SpendDim::Model => "model",
            SpendDim::Week => "week",
        }
    }

    fn key(self, row: &SpendRow) -> String {
        match self {
            SpendDim::Team => row.team.clone(),
            SpendDim::Agent => row.agent.clone(),
            SpendDim::Model => row.model.clone(),
            SpendDim::Week => row.week.to_string(),
        }
    }
}

/// Spend of one group, the billed and estimated tiers apart.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SpendGroup {
    /// The group's value of each roll-up dimension, in the order asked for.
    pub keys: Vec<String>,
    pub tokens: u64,
    pub requests: u64,
    pub billed_cost_usd: f64,
    pub estimated_cost_usd: f64,
    pub cost_usd: f64,
    /// Tokens of models without a price: in no cost column.
    pub unpriced_tokens: u64,
}

/// Sums rows into one group per distinct key of `by`, sorted by key. With no dimension, one
/// group holds everything.
pub fn roll_up(rows: &[SpendRow], by: &[SpendDim]) -> Vec<SpendGroup> {
    #[derive(Default)]
    struct Acc {
        tokens: u64,
        requests: u64,
        billed: i64,
        estimated: i64,
        unpriced: u64,
    }
    let mut groups: BTreeMap<Vec<String>, Acc> = BTreeMap::new();
    for row in rows {
        let key: Vec<String> = by.iter().map(|d| d.key(row)).collect();
        let acc = groups.entry(key).or_default();
        acc.tokens += row.tokens.total();
        acc.requests += row.requests;
        if row.tier == "billed" {
            acc.billed += row.cost_micro;
        } else {
            acc.estimated += row.cost_micro;
        }
        acc.unpriced += row.unpriced_tokens;
    }
    groups
        .into_iter()
        .map(|(keys, acc)| SpendGroup {
            keys,
            tokens: acc.tokens,
            requests: acc.requests,
            billed_cost_usd: acc.billed as f64 / 1e6,
            estimated_cost_usd: acc.estimated as f64 / 1e6,
            cost_usd: (acc.billed + acc.estimated) as f64 / 1e6,
            unpriced_tokens: acc.unpriced,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(team: &str, agent: &str, model: &str, tier: &str, day: u32, micro: i64) -> SpendRow {
        let day = NaiveDate::from_ymd_opt(2026, 9, day).unwrap();
        SpendRow {
            day,
            week: WeekStart::Monday.week_of(day),
            team: team.into(),
            agent: agent.into(),
            kind: AgentKind::Human,
            model: model.into(),
            provider: Some("anthropic".into()),
            tier: tier.into(),
            tokens: Tokens {
                input: 10,
                ..Tokens::default()
            },
            requests: 1,
            cost_micro: micro,
            list_micro: Some(micro),
            unpriced_tokens: 0,
        }
    }

    #[test]
    fn roll_ups_keep_tiers_apart_and_add_up() {
        let rows = vec![
            row("core", "ana", "m1", "billed", 7, 1_500_000),
            row("core", "ana", "m2", "estimated", 8, 250_000),
            row("core", "bo", "m1", "estimated", 15, 1_000_000),
            row("web", "cy", "m1", "billed", 15, 2_000_000),
        ];
        let by_team = roll_up(&rows, &[SpendDim::Team]);
        assert_eq!(by_team.len(), 2);
        assert_eq!(by_team[0].keys, vec!["core"]);
        assert_eq!(by_team[0].billed_cost_usd, 1.5);
        assert_eq!(by_team[0].estimated_cost_usd, 1.25);
        assert_eq!(by_team[0].cost_usd, 2.75);
        assert_eq!(by_team[0].tokens, 30);
        let by_week_model = roll_up(&rows, &[SpendDim::Week, SpendDim::Model]);
        assert_eq!(
            by_week_model
                .iter()
                .map(|g| g.keys.join("/"))
                .collect::<Vec<_>>(),
            vec!["2026-09-07/m1", "2026-09-07/m2", "2026-09-14/m1"]
        );
        let total = roll_up(&rows, &[]);
        assert_eq!(total.len(), 1);
        assert_eq!(total[0].cost_usd, 4.75);
    }
}
