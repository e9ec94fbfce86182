//! The agent-week table: everything the detectors read, one row per agent and week.
//!
//! Built in plain Rust from the collected aggregates, after pricing. Weeks in which an agent
//! delivered output but used no tokens are kept (with zero cost) so period totals of output
//! are complete; agents who never used tokens are not audited.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{DayUsage, WeekOutputs, WeekPart, WeekSessions, OTHER_SESSIONS, SESSION_DIMENSION};
use crate::normalize::calendar::{from_day_number, WeekStart};
use crate::normalize::identities::AgentKind;
use crate::normalize::pricing::{PriceTable, Tokens};

/// One day-grain usage row with its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedDay {
    pub usage: DayUsage,
    /// Billed cost plus list-price cost of the unbilled tokens, micro-dollars.
    pub cost_micro: i64,
    /// Unbilled tokens of a model the price table does not know (costed at nothing).
    pub unpriced: Option<Tokens>,
    /// List-price cost of all the row's tokens, billed or not; `None` for an unknown model.
    pub list_micro: Option<i64>,
    /// The model's vendor, as the price table names it.
    pub provider: Option<String>,
    /// List-price cost of the row's trivial turns, micro-dollars (0 for an unknown model).
    pub trivial_micro: i64,
}

/// Tokens of one model that could not be priced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnpricedModel {
    pub model: String,
    pub tokens: u64,
    pub requests: u64,
    pub agents: usize,
}

/// Prices the week parts: tool and repository parts as days are (their model's prices or their
/// billed cost), session parts at their agent-week's cost per token (a session's model mix is
/// not kept), from the priced days of the same run; each agent-week with named sessions gains
/// a part [`OTHER_SESSIONS`] for the rest of its cost.
pub fn price_parts(
    parts: Vec<WeekPart>,
    days: &[PricedDay],
    prices: &PriceTable,
    week_start: WeekStart,
) -> Vec<(WeekPart, i64)> {
    let (sessions, others): (Vec<WeekPart>, Vec<WeekPart>) = parts
        .into_iter()
        .partition(|p| p.dimension == SESSION_DIMENSION);
    let (priced, _) = price_days(others.iter().map(WeekPart::as_day).collect(), prices);
    let mut weeks: BTreeMap<(&str, i32), (i64, u64)> = BTreeMap::new();
    for day in days {
        let week = weeks
            .entry((
                day.usage.agent.as_str(),
                week_start.week_of_day(day.usage.day),
            ))
            .or_default();
        week.0 += day.cost_micro;
        week.1 += day.usage.tokens.total();
    }
    let mut priced_sessions = Vec::with_capacity(sessions.len());
    // What each agent-week spent outside its named sessions: one more part, the remainder.
    let mut rest: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for part in sessions {
        let key = (part.agent.as_str(), part.week);
        let (cost, tokens) = weeks.get(&key).copied().unwrap_or_default();
        let session_cost = if tokens == 0 {
            0
        } else {
            (cost as i128 * part.tokens.total().min(tokens) as i128 / tokens as i128) as i64
        };
        *rest.entry((part.agent.clone(), part.week)).or_insert(cost) -= session_cost;
        priced_sessions.push((part, session_cost));
    }
    let remainders = rest.into_iter().map(|((agent, week), cost)| {
        let part = WeekPart {
            agent,
            week,
            dimension: SESSION_DIMENSION.to_string(),
            value: OTHER_SESSIONS.to_string(),
            model: String::new(),
            tier: String::new(),
            tokens: Tokens::default(),
            unbilled: Tokens::default(),
            billed_micro: 0,
            requests: 0,
        };
        (part, cost.max(0))
    });
    others
        .into_iter()
        .zip(priced.iter().map(|p| p.cost_micro))
        .chain(priced_sessions)
        .chain(remainders)
        .collect()
}

/// Prices every day-grain row and lists the models the table does not know.
pub fn price_days(
    days: Vec<DayUsage>,
    prices: &PriceTable,
) -> (Vec<PricedDay>, Vec<UnpricedModel>) {
    let mut unpriced: BTreeMap<String, (u64, u64, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    let priced = days
        .into_iter()
        .map(|usage| {
            let date = from_day_number(usage.day);
            match prices.resolve(&usage.model, date) {
                Some(price) => PricedDay {
                    cost_micro: usage.billed_micro + price.rates.cost_micro(&usage.unbilled),
                    unpriced: None,
                    list_micro: Some(price.rates.cost_micro(&usage.tokens)),
                    provider: Some(price.provider.clone()),
                    trivial_micro: price.rates.cost_micro(&usage.trivial),
                    usage,
                },
                None => {
                    let missing = usage.unbilled;
                    if missing.total() > 0 {
                        let entry = unpriced.entry(usage.model.clone()).or_default();
                        entry.0 += missing.total();
                        entry.1 += usage.requests;
                        entry.2.insert(usage.agent.clone());
                    }
                    PricedDay {
                        cost_micro: usage.billed_micro,
                        unpriced: (missing.total() > 0).then_some(missing),
                        list_micro: None,
                        provider: None,
                        trivial_micro: 0,
                        usage,
                    }
                }
            }
        })
        .collect();
    let unpriced = unpriced
        .into_iter()
        .map(|(model, (tokens, requests, agents))| UnpricedModel {
            model,
            tokens,
            requests,
            agents: agents.len(),
        })
        .collect();
    (priced, unpriced)
}

/// Weights that turn delivered artifacts into one output index.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutputWeights {
    pub weights: BTreeMap<String, f64>,
    /// Weight of a kind not listed.
    pub default: f64,
}

impl Default for OutputWeights {
    /// A merged PR or a closed ticket is a unit of delivered work, a commit a step towards one.
    /// Lines of code weigh nothing by default: they are the cheapest output to inflate. Nor does
    /// a merge commit (the branch's own commits already count), nor an edit decision (Claude
    /// Code Analytics): an accepted edit is as cheap as a line, and a rejected one delivered
    /// nothing.
    fn default() -> Self {
        let weights = [
            ("commit", 1.0),
            ("merge", 0.0),
            ("pr_merged", 4.0),
            ("ticket_closed", 3.0),
            ("review", 1.0),
            ("loc_added", 0.0),
            ("loc_removed", 0.0),
            ("edit_accepted", 0.0),
            ("edit_rejected", 0.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        OutputWeights {
            weights,
            default: 1.0,
        }
    }
}

impl OutputWeights {
    pub fn weight(&self, kind: &str) -> f64 {
        self.weights.get(kind).copied().unwrap_or(self.default)
    }

    pub fn index(&self, outputs: &BTreeMap<String, f64>) -> f64 {
        outputs
            .iter()
            .map(|(kind, amount)| self.weight(kind) * amount)
            .sum()
    }
}

/// Each agent's output index by repository over the period: the repositories named by its
/// outputs (outputs that name none are left out), weighted as the output index weighs them.
pub type Repositories = BTreeMap<String, BTreeMap<String, f64>>;

/// [`Repositories`] from the output aggregate.
pub fn output_by_repository(outputs: &[WeekOutputs], weights: &OutputWeights) -> Repositories {
    let mut repositories = Repositories::new();
    for row in outputs.iter().filter(|row| !row.repo.is_empty()) {
        *repositories
            .entry(row.agent.clone())
            .or_default()
            .entry(row.repo.clone())
            .or_default() += weights.weight(&row.kind) * row.amount_micro as f64 / 1e6;
    }
    repositories
}

/// One agent in one week.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentWeek {
    pub agent: String,
    pub team: String,
    pub kind: AgentKind,
    pub week: NaiveDate,
    pub tokens: Tokens,
    pub requests: u64,
    pub sessions: u64,
    pub active_days: u32,
    /// Total cost, dollars (billed where the vendor said, list price otherwise).
    pub cost_usd: f64,
    /// The part of `cost_usd` from rows with tier `billed`.
    pub billed_cost_usd: f64,
    /// Unbilled tokens of models without a price (not in `cost_usd`).
    pub unpriced_tokens: u64,
    /// Delivered artifacts by kind (`amount` summed).
    pub outputs: BTreeMap<String, f64>,
    pub output_index: f64,
    /// Trivial turns (output of at most `TRIVIAL_OUTPUT_TOKENS` tokens) and their list-price
    /// cost, dollars.
    pub trivial_requests: u64,
    pub trivial_cost_usd: f64,
}

/// Credits the output of an email address with no usage to the agent of the same local part
/// (`dana@corp.example` to `dana` or to `dana@corp.com`, ignoring case; GitHub's
/// `12345+dana@users.noreply.github.com` counts as `dana`), where exactly one agent with usage
/// answers to it: usage is often named by a login, a home folder or a work email and commits
/// by another email, and output credited to no one makes its owner look as if they delivered
/// nothing. Names the identity map gives (`mapped`, its agents: its aliases are already
/// mapped to them) are the map's decision and never linked. Returns the links made, as (output
/// name, agent), by output name; `outputs` stays sorted by (agent, week, kind, repo), rows that meet
/// summed.
pub fn link_emails(
    outputs: &mut Vec<WeekOutputs>,
    usage_agents: &std::collections::BTreeSet<&str>,
    mapped: &std::collections::BTreeSet<&str>,
) -> Vec<(String, String)> {
    let mut by_local: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for agent in usage_agents {
        by_local.entry(local_part(agent)).or_default().push(agent);
    }
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    for row in outputs.iter() {
        if usage_agents.contains(row.agent.as_str())
            || mapped.contains(row.agent.as_str())
            || links.contains_key(&row.agent)
            || !row.agent.contains('@')
            || local_part(&row.agent).is_empty()
        {
            continue;
        }
        if let Some([agent]) = by_local.get(&local_part(&row.agent)).map(Vec::as_slice) {
            links.insert(row.agent.clone(), agent.to_string());
        }
    }
    if links.is_empty() {
        return Vec::new();
    }
    for row in outputs.iter_mut() {
        if let Some(agent) = links.get(&row.agent) {
            row.agent.clone_from(agent);
        }
    }
    outputs.sort_by(|a, b| {
        (&a.agent, a.week, &a.kind, &a.repo).cmp(&(&b.agent, b.week, &b.kind, &b.repo))
    });
    outputs.dedup_by(|next, kept| {
        let same = (&next.agent, next.week, &next.kind, &next.repo)
            == (&kept.agent, kept.week, &kept.kind, &kept.repo);
        if same {
            kept.amount_micro += next.amount_micro;
        }
        same
    });
    links.into_iter().collect()
}

/// A name's part before the `@`, lowercased, without the `12345+` that GitHub puts before
/// the login in its no-reply addresses; the whole name where there is no `@`.
fn local_part(name: &str) -> String {
    let local = name.split_once('@').map_or(name, |(local, _)| local);
    let local = match local.split_once('+') {
        Some((id, login)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => login,
        _ => local,
    };
    local.to_lowercase()
}

/// The team an agent is audited with when nothing names one.
pub const UNASSIGNED_TEAM: &str = "unassigned";

#[derive(Default)]
struct WeekAccumulator {
    tokens: Tokens,
    requests: u64,
    days: std::collections::BTreeSet<i32>,
    cost_micro: i64,
    billed_micro: i64,
    unpriced: u64,
    sessions: u64,
    outputs_micro: BTreeMap<String, i64>,
    trivial_requests: u64,
    trivial_micro: i64,
}

/// Joins priced usage, sessions and outputs into agent-weeks sorted by agent, then week.
pub fn build_agent_weeks(
    days: &[PricedDay],
    sessions: &[WeekSessions],
    outputs: &[WeekOutputs],
    weights: &OutputWeights,
    week_start: WeekStart,
) -> Vec<AgentWeek> {
    let mut weeks: BTreeMap<(String, NaiveDate), WeekAccumulator> = BTreeMap::new();
    // team votes by rows, so an agent whose rows name two teams lands in the one named most.
    let mut team_votes: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut kinds: BTreeMap<String, AgentKind> = BTreeMap::new();
    for day in days {
        let usage = &day.usage;
        let week = week_start.week_of(from_day_number(usage.day));
        let acc = weeks.entry((usage.agent.clone(), week)).or_default();
        acc.tokens.add(&usage.tokens);
        acc.requests += usage.requests;
        acc.days.insert(usage.day);
        acc.cost_micro += day.cost_micro;
        acc.trivial_requests += usage.trivial_requests;
        acc.trivial_micro += day.trivial_micro;
        if usage.tier == "billed" {
            acc.billed_micro += day.cost_micro;
        }
        acc.unpriced += day.unpriced.map(|t| t.total()).unwrap_or(0);
        if let Some(team) = &usage.team {
            *team_votes
                .entry(usage.agent.clone())
                .or_default()
                .entry(team.clone())
                .or_default() += usage.requests.max(1);
        }
        let kind = kinds.entry(usage.agent.clone()).or_insert(usage.kind);
        *kind = (*kind).max(usage.kind);
    }
    for row in sessions {
        let week = from_day_number(row.week);
        if let Some(acc) = weeks.get_mut(&(row.agent.clone(), week)) {
            acc.sessions += row.sessions;
        }
    }
    for row in outputs {
        if !kinds.contains_key(&row.agent) {
            continue;
        }
        let week = from_day_number(row.week);
        let acc = weeks.entry((row.agent.clone(), week)).or_default();
        *acc.outputs_micro.entry(row.kind.clone()).or_default() += row.amount_micro;
    }

    weeks
        .into_iter()
        .map(|((agent, week), acc)| {
            let team = team_votes
                .get(&agent)
                .and_then(|votes| {
                    votes
                        .iter()
                        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                        .map(|(team, _)| team.clone())
                })
                .unwrap_or_else(|| UNASSIGNED_TEAM.to_string());
            let outputs: BTreeMap<String, f64> = acc
                .outputs_micro
                .into_iter()
                .map(|(kind, micro)| (kind, micro as f64 / 1e6))
                .collect();
            AgentWeek {
                kind: kinds.get(&agent).copied().unwrap_or(AgentKind::Human),
                team,
                week,
                tokens: acc.tokens,
                requests: acc.requests,
                sessions: acc.sessions,
                active_days: acc.days.len() as u32,
                cost_usd: acc.cost_micro as f64 / 1e6,
                billed_cost_usd: acc.billed_micro as f64 / 1e6,
                unpriced_tokens: acc.unpriced,
                output_index: weights.index(&outputs),
                outputs,
                trivial_requests: acc.trivial_requests,
                trivial_cost_usd: acc.trivial_micro as f64 / 1e6,
                agent,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::calendar::to_day_number;

    fn day_usage(agent: &str, date: &str, model: &str, input: u64) -> DayUsage {
        let day = to_day_number(NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap());
        let tokens = Tokens {
            input,
            ..Tokens::default()
        };
        DayUsage {
            agent: agent.into(),
            team: Some("payments".into()),
            kind: AgentKind::Human,
            day,
            model: model.into(),
            tier: "estimated".into(),
            tokens,
            unbilled: tokens,
            billed_micro: 0,
            requests: 1,
            trivial: Tokens::default(),
            trivial_requests: 0,
        }
    }

    #[test]
    fn an_unknown_model_is_listed_not_costed_silently() {
        let table = PriceTable::parse(
            "model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok\nknown,2026-01-01,2,0,0,0\n",
            std::path::Path::new("p.csv"),
        )
        .unwrap();
        let days = vec![
            day_usage("a", "2026-09-07", "known", 1_000_000),
            day_usage("a", "2026-09-08", "mystery-model", 500),
        ];
        let (priced, unpriced) = price_days(days, &table);
        assert_eq!(priced[0].cost_micro, 2_000_000);
        assert_eq!(priced[1].cost_micro, 0);
        assert_eq!(unpriced.len(), 1);
        assert_eq!(unpriced[0].model, "mystery-model");
        assert_eq!(unpriced[0].tokens, 500);
    }

    #[test]
    fn days_fold_into_weeks_with_outputs_and_index() {
        let table = PriceTable::parse(
            "model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok\nm,2026-01-01,1,0,0,0\n",
            std::path::Path::new("p.csv"),
        )
        .unwrap();
        let days = vec![
            day_usage("a", "2026-09-07", "m", 1_000_000),
            day_usage("a", "2026-09-09", "m", 1_000_000),
            day_usage("a", "2026-09-14", "m", 1_000_000),
        ];
        let (priced, _) = price_days(days, &table);
        let week1 = to_day_number(NaiveDate::from_ymd_opt(2026, 9, 7).unwrap());
        let outputs = vec![
            WeekOutputs {
                agent: "a".into(),
                week: week1,
                kind: "pr_merged".into(),
                repo: "r".into(),
                amount_micro: 2_000_000,
            },
            WeekOutputs {
                agent: "nobody".into(),
                week: week1,
                kind: "commit".into(),
                repo: String::new(),
                amount_micro: 1_000_000,
            },
        ];
        let table = build_agent_weeks(
            &priced,
            &[],
            &outputs,
            &OutputWeights::default(),
            WeekStart::Monday,
        );
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].active_days, 2);
        assert_eq!(table[0].cost_usd, 2.0);
        assert_eq!(table[0].output_index, 8.0);
        assert_eq!(table[0].team, "payments");
        assert_eq!(table[1].output_index, 0.0);
    }

    fn output(agent: &str, week: i32, kind: &str, amount: i64) -> WeekOutputs {
        WeekOutputs {
            agent: agent.into(),
            week,
            kind: kind.into(),
            repo: String::new(),
            amount_micro: amount,
        }
    }

    #[test]
    fn emails_are_credited_to_the_one_agent_named_before_the_at() {
        let usage: std::collections::BTreeSet<&str> = [
            "dana",
            "Eli",
            "fay",
            "fay@corp.example",
            "gus",
            "GUS",
            "ivy@corp.example",
            "jo",
            "@",
        ]
        .into();
        let mut outputs = vec![
            output("dana", 7, "commit", 1_000_000),
            output("dana@corp.example", 7, "commit", 2_000_000),
            output("dana@corp.example", 8, "pr_merged", 1_000_000),
            // Case is ignored.
            output("eli@corp.example", 7, "commit", 1_000_000),
            // An email with usage of its own is an agent: left alone.
            output("fay@corp.example", 7, "commit", 1_000_000),
            // Two agents answer to `gus`: no guess.
            output("gus@corp.example", 7, "commit", 1_000_000),
            // Not an email, no agent: credited to no one.
            output("gh-hal", 7, "commit", 1_000_000),
            // Usage under a work email, commits under GitHub's no-reply address.
            output("4242+ivy@users.noreply.github.com", 7, "commit", 1_000_000),
            // The identity map names jo@corp.example as an agent of its own: its decision.
            output("jo@corp.example", 7, "commit", 1_000_000),
            // No name before the @.
            output("@corp.example", 7, "commit", 1_000_000),
        ];
        let links = link_emails(&mut outputs, &usage, &["jo@corp.example"].into());
        assert_eq!(
            links,
            vec![
                (
                    "4242+ivy@users.noreply.github.com".to_string(),
                    "ivy@corp.example".to_string()
                ),
                ("dana@corp.example".to_string(), "dana".to_string()),
                ("eli@corp.example".to_string(), "Eli".to_string()),
            ]
        );
        // Sorted by (agent, week, kind), the rows that meet summed.
        assert_eq!(
            outputs,
            vec![
                output("@corp.example", 7, "commit", 1_000_000),
                output("Eli", 7, "commit", 1_000_000),
                output("dana", 7, "commit", 3_000_000),
                output("dana", 8, "pr_merged", 1_000_000),
                output("fay@corp.example", 7, "commit", 1_000_000),
                output("gh-hal", 7, "commit", 1_000_000),
                output("gus@corp.example", 7, "commit", 1_000_000),
                output("ivy@corp.example", 7, "commit", 1_000_000),
                output("jo@corp.example", 7, "commit", 1_000_000),
            ]
        );
        assert_eq!(local_part("4242+Ivy@users.noreply.github.com"), "ivy");
        assert_eq!(local_part("a+b@corp.example"), "a+b");
        assert_eq!(local_part("dana"), "dana");
    }

    #[test]
    fn linked_outputs_keep_their_repositories_apart() {
        // dana's commits under two names, in two repositories: the rows of one repository
        // meet and are summed, the other's stay their own, and the repositories add up to the
        // index per repository the peer comparison reads.
        let in_repo = |agent: &str, repo: &str, amount: i64| WeekOutputs {
            repo: repo.into(),
            ..output(agent, 7, "commit", amount)
        };
        let mut outputs = vec![
            in_repo("dana", "api", 1_000_000),
            in_repo("dana@corp.example", "api", 2_000_000),
            in_repo("dana@corp.example", "web", 4_000_000),
        ];
        link_emails(&mut outputs, &["dana"].into(), &Default::default());
        assert_eq!(
            outputs,
            vec![
                in_repo("dana", "api", 3_000_000),
                in_repo("dana", "web", 4_000_000),
            ]
        );
        let repositories = output_by_repository(&outputs, &OutputWeights::default());
        let weight = OutputWeights::default().weight("commit");
        assert_eq!(
            repositories["dana"],
            BTreeMap::from([
                ("api".to_string(), 3.0 * weight),
                ("web".to_string(), 4.0 * weight)
            ])
        );
    }
}
