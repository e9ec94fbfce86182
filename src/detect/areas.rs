//! Areas: the teams that deliver to the same repositories, compared as one cohort.
//!
//! The peer comparison ([`super::efficiency`]) judges each agent against its team, and a team
//! too small to be a cohort (fewer than `min_cohort_agents` agents) against the pooled small
//! teams of its kind, at a level drawn towards its own. A squad of two says next to nothing of
//! its own level, so it is judged near the pooled one, which is other teams' work: a research
//! pair judged at the level of product squads that ship many small commits looks several times
//! too costly. Identity maps of companies organised in squads name the squad (`research-2`),
//! not the area it belongs to, but the outputs say where the work went: squads of one area
//! deliver to that area's repositories, where their output is counted the same way. So the
//! teams whose output is mostly in the same repositories are one area, and an area is what the
//! peer comparison takes for a team: a cohort of its own when it is large enough, one level
//! among the pooled small ones when not.
//!
//! Two teams are linked when the overlap of their output shares by repository (the histogram
//! intersection, Σ min(pₐ(r), p_b(r)), 1 for the same mix and 0 for disjoint ones; Swain &
//! Ballard 1991, IJCV 7:11) is at least `[detect] area_overlap` (0.5: most of the work of each
//! is where the other works); an area is a connected set of linked
//! teams. A repository that three quarters of the teams deliver to, of four or more (a
//! monorepo, a shared configuration repository), says nothing of who works together, as a
//! word every document holds says nothing of a document's topic (inverse document frequency,
//! Spärck Jones 1972, J Doc 28:11): its share counts in no overlap. Only judged agents of named
//! teams count. Where nothing links, an area is its team and
//! the level is what it was; a company whose teams all work in one monorepo keeps a level per
//! team.

use std::collections::{BTreeMap, BTreeSet};

use super::population::AgentSummary;
use crate::features::Repositories;
use crate::normalize::identities::AgentKind;

/// Share of a team's output in a repository from which the team counts as delivering there
/// (for finding the repositories most teams deliver to): a stray commit is no habit.
const MIN_SHARE: f64 = 0.1;

/// Share of the teams with output that deliver to a repository from which it is common to the
/// company (a monorepo) and links no one. Three quarters, not a half: a department cut into
/// many squads may be more than half of a company's teams, and its repository is its own.
const COMMON_SHARE: f64 = 0.75;

/// Teams with output below which no repository is common: two or three teams that share one
/// are what an area is.
const MIN_TEAMS_FOR_COMMON: usize = 4;

/// The area of each (kind, team): its team name where nothing links it, or the names of the
/// linked teams joined by ", " in order.
pub fn areas(
    agents: &[AgentSummary],
    repositories: &Repositories,
    min_overlap: f64,
) -> BTreeMap<(AgentKind, String), String> {
    // Judged agents only: a team of people too new to judge, or the agents no map names,
    // should not link two teams the cohort then labels with a name no one in it has.
    let mut profiles: BTreeMap<(AgentKind, &str), BTreeMap<&str, f64>> = BTreeMap::new();
    for agent in agents
        .iter()
        .filter(|a| a.eligible && a.team != crate::features::UNASSIGNED_TEAM)
    {
        let profile = profiles.entry((agent.kind, &agent.team)).or_default();
        for (repo, amount) in repositories.get(&agent.agent).into_iter().flatten() {
            if *amount > 0.0 {
                *profile.entry(repo.as_str()).or_default() += amount;
            }
        }
    }
    let mut areas = BTreeMap::new();
    let kinds: BTreeSet<AgentKind> = profiles.keys().map(|(kind, _)| *kind).collect();
    for kind in kinds {
        let teams: Vec<(&str, BTreeMap<&str, f64>)> = profiles
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, team), profile)| (*team, shares(profile)))
            .collect();
        let common = common_repositories(&teams);
        let teams: Vec<(&str, BTreeMap<&str, f64>)> = teams
            .into_iter()
            .map(|(team, profile)| {
                // Shares of the whole output: work in the common repositories links no one,
                // and it still counts as work that is not shared.
                let kept = profile
                    .into_iter()
                    .filter(|(repo, _)| !common.contains(repo))
                    .collect();
                (team, kept)
            })
            .collect();
        for (team, area) in linked(&teams, min_overlap) {
            areas.insert((kind, team.to_string()), area);
        }
    }
    areas
}

/// Share of an agent's output in one repository (common ones left out of the count but not
/// of the total) from which an agent no map gives a team is judged among the others who work
/// there: most of its work.
const MIN_HOME_SHARE: f64 = 0.5;

/// How the area of agents without a team begins: "repository payments-service".
pub const BY_REPOSITORY: &str = "repository ";

/// The area of each judged agent no map gives a team, by agent: the repository most of its
/// work is in (at least [`MIN_HOME_SHARE`] of its output, not counting repositories common to
/// the company), named [`BY_REPOSITORY`] and the repository. Without a map every agent is in
/// one pseudo-team, and a whole company is one cohort whose teams differ in how many artifacts
/// a dollar buys; the repositories say where each agent's work is, as they say which squads
/// are one area. Agents, not teams, are the units here, and they are not chained: an agent
/// whose work is split between two repositories would link both, and a company of such
/// people would be one cohort again. So an agent joins the area of its main repository or
/// none, and stays with the other agents without a team when it has no main one, or when it
/// keeps automation's rhythm (`automation`, [`super::behavior::like_automation`]: a fixed
/// cadence, or work at all hours), as services and CI jobs do. Without a map's `kind`, they
/// are judged among people, and among the few people of one repository an honest service
/// that answers reviews at all hours looked as costly as a burner (flagged high in seed 304
/// of most worlds; a CI runner on a fixed cadence, in 2 of 20 seeds of `ci-accounts`). Days a
/// week do not tell them apart: heavy users and burners work every day of the week too.
pub fn repository_areas(
    agents: &[AgentSummary],
    repositories: &Repositories,
    automation: &BTreeSet<&str>,
) -> BTreeMap<String, String> {
    let mut homes = BTreeMap::new();
    let kinds: BTreeSet<AgentKind> = agents.iter().map(|a| a.kind).collect();
    for kind in kinds {
        let units: Vec<(&str, BTreeMap<&str, f64>)> = agents
            .iter()
            .filter(|a| {
                a.kind == kind
                    && a.eligible
                    && a.team == crate::features::UNASSIGNED_TEAM
                    && !automation.contains(a.agent.as_str())
            })
            .map(|agent| {
                let profile: BTreeMap<&str, f64> = repositories
                    .get(&agent.agent)
                    .into_iter()
                    .flatten()
                    .filter(|(_, amount)| **amount > 0.0)
                    .map(|(repo, amount)| (repo.as_str(), *amount))
                    .collect();
                (agent.agent.as_str(), shares(&profile))
            })
            .collect();
        let common = common_repositories(&units);
        for (agent, profile) in &units {
            let home = profile
                .iter()
                .filter(|(repo, _)| !common.contains(*repo))
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)));
            if let Some((repo, share)) = home {
                if *share >= MIN_HOME_SHARE {
                    homes.insert(agent.to_string(), format!("{BY_REPOSITORY}{repo}"));
                }
            }
        }
    }
    homes
}

/// Whether `area` is one [`repository_areas`] gave agents without a team.
pub fn by_repository(area: &str) -> Option<&str> {
    area.strip_prefix(BY_REPOSITORY)
}

/// A profile as shares of its total.
fn shares<'a>(profile: &BTreeMap<&'a str, f64>) -> BTreeMap<&'a str, f64> {
    let total: f64 = profile.values().sum();
    if total <= 0.0 {
        return BTreeMap::new();
    }
    profile
        .iter()
        .map(|(repo, amount)| (*repo, amount / total))
        .collect()
}

/// The repositories at least [`COMMON_SHARE`] of the teams with output deliver to, where
/// there are [`MIN_TEAMS_FOR_COMMON`] such teams or more.
fn common_repositories<'a>(teams: &[(&str, BTreeMap<&'a str, f64>)]) -> BTreeSet<&'a str> {
    let with_output = teams.iter().filter(|(_, p)| !p.is_empty()).count();
    if with_output < MIN_TEAMS_FOR_COMMON {
        return BTreeSet::new();
    }
    let mut users: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, profile) in teams {
        for (repo, share) in profile {
            if *share >= MIN_SHARE {
                *users.entry(repo).or_default() += 1;
            }
        }
    }
    users
        .into_iter()
        .filter(|(_, n)| *n as f64 >= COMMON_SHARE * with_output as f64)
        .map(|(repo, _)| repo)
        .collect()
}

/// Histogram intersection of two share profiles.
fn overlap(a: &BTreeMap<&str, f64>, b: &BTreeMap<&str, f64>) -> f64 {
    a.iter()
        .filter_map(|(repo, share)| Some(share.min(*b.get(repo)?)))
        .sum()
}

/// Each team's area: the connected sets of teams whose overlap is at least `min_overlap`.
fn linked<'a>(
    teams: &[(&'a str, BTreeMap<&str, f64>)],
    min_overlap: f64,
) -> Vec<(&'a str, String)> {
    let mut root: Vec<usize> = (0..teams.len()).collect();
    fn find(root: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while root[i] != i {
            root[i] = root[root[i]];
            i = root[i];
        }
        i
    }
    for i in 0..teams.len() {
        for j in i + 1..teams.len() {
            if overlap(&teams[i].1, &teams[j].1) >= min_overlap {
                let (a, b) = (find(&mut root, i), find(&mut root, j));
                root[a.max(b)] = a.min(b);
            }
        }
    }
    let roots: Vec<usize> = (0..teams.len()).map(|i| find(&mut root, i)).collect();
    let mut members: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for ((team, _), r) in teams.iter().zip(&roots) {
        members.entry(*r).or_default().push(team);
    }
    teams
        .iter()
        .zip(&roots)
        .map(|((team, _), r)| (*team, members[r].join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Agent, team, and its output by repository.
    type Work<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

    fn agent(name: &str, team: &str) -> AgentSummary {
        AgentSummary {
            agent: name.into(),
            team: team.into(),
            kind: AgentKind::Human,
            tokens: Default::default(),
            requests: 0,
            cost_usd: 0.0,
            output_index: 0.0,
            weeks_active: 0,
            active_days: 0,
            eligible: true,
            primary_model: None,
            trivial_requests: 0,
            trivial_cost_usd: 0.0,
            active_output: 0.0,
            active_output_squares: 0.0,
            area: team.into(),
            judged_cost_usd: 0.0,
        }
    }

    fn company(work: &[Work]) -> BTreeMap<(AgentKind, String), String> {
        let agents: Vec<AgentSummary> = work.iter().map(|(a, t, _)| agent(a, t)).collect();
        let repositories: Repositories = work
            .iter()
            .map(|(a, _, repos)| {
                let repos = repos.iter().map(|(r, x)| (r.to_string(), *x)).collect();
                (a.to_string(), repos)
            })
            .collect();
        areas(&agents, &repositories, 0.5)
    }

    fn area_of(areas: &BTreeMap<(AgentKind, String), String>, team: &str) -> String {
        areas[&(AgentKind::Human, team.to_string())].clone()
    }

    #[test]
    fn squads_of_one_area_share_it_and_other_teams_keep_their_own() {
        let areas = company(&[
            ("ana", "research-1", &[("models", 8.0), ("notebooks", 2.0)]),
            ("ben", "research-2", &[("models", 3.0), ("notebooks", 1.0)]),
            ("cy", "research-2", &[("notebooks", 2.0)]),
            ("dee", "payments-1", &[("payments", 10.0), ("models", 0.5)]),
            ("eve", "payments-2", &[("payments", 4.0)]),
            ("fay", "web", &[("site", 5.0), ("payments", 0.3)]),
            ("gus", "infra", &[]),
        ]);
        assert_eq!(area_of(&areas, "research-1"), "research-1, research-2");
        assert_eq!(area_of(&areas, "research-2"), "research-1, research-2");
        assert_eq!(area_of(&areas, "payments-1"), "payments-1, payments-2");
        // A little of its work in payments' repository: not payments' area.
        assert_eq!(area_of(&areas, "web"), "web");
        // No output, no area but its team.
        assert_eq!(area_of(&areas, "infra"), "infra");
    }

    #[test]
    fn a_few_teams_or_a_department_of_many_squads_still_form_areas() {
        // Three teams: a repository two of them share is not the company's.
        let areas = company(&[
            ("ana", "research-1", &[("models", 5.0)]),
            ("ben", "research-2", &[("models", 5.0)]),
            ("cy", "web", &[("site", 5.0)]),
        ]);
        assert_eq!(area_of(&areas, "research-2"), "research-1, research-2");
        assert_eq!(area_of(&areas, "web"), "web");
        // Platform cut into six squads, four other teams: platform's repository is six teams'
        // of ten, and its own.
        let names: Vec<(String, String)> = (1..=6)
            .map(|i| (format!("p{i}"), format!("platform-{i}")))
            .chain(
                ["api", "data", "web", "mobile"]
                    .map(|team| (format!("{team}-person"), team.to_string())),
            )
            .collect();
        let work: Vec<Work> = names
            .iter()
            .map(|(a, t)| {
                let repo: &[(&str, f64)] = if t.starts_with("platform") {
                    &[("platform", 4.0)]
                } else {
                    &[("other", 4.0)]
                };
                (a.as_str(), t.as_str(), repo)
            })
            .collect();
        let areas = company(&work);
        assert!(area_of(&areas, "platform-3").starts_with("platform-1, platform-2"));
        // `other` is four teams of ten: not common, and the four are one area.
        assert_eq!(area_of(&areas, "web"), "api, data, mobile, web");
    }

    #[test]
    fn only_judged_agents_of_named_teams_link_teams() {
        let mut agents = vec![
            agent("ana", "a"),
            agent("ben", "b"),
            agent("new", "c"),
            agent("ghost", crate::features::UNASSIGNED_TEAM),
        ];
        agents[2].eligible = false;
        // c, too new to judge, and the unassigned agents would bridge a and b.
        let repositories: Repositories = [
            ("ana", vec![("x", 1.0)]),
            ("ben", vec![("y", 1.0)]),
            ("new", vec![("x", 1.0), ("y", 1.0)]),
            ("ghost", vec![("x", 1.0), ("y", 1.0)]),
        ]
        .into_iter()
        .map(|(a, r)| {
            (
                a.to_string(),
                r.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            )
        })
        .collect();
        let areas = areas(&agents, &repositories, 0.5);
        assert_eq!(areas[&(AgentKind::Human, "a".to_string())], "a");
        assert_eq!(areas[&(AgentKind::Human, "b".to_string())], "b");
        assert!(!areas.contains_key(&(AgentKind::Human, "c".to_string())));
    }

    #[test]
    fn a_monorepo_every_team_delivers_to_links_no_one() {
        // Everyone in one repository, two teams mostly in one of their own and a third in it
        // for a little of its work: only the two are one area.
        let areas = company(&[
            ("ana", "a", &[("mono", 10.0)]),
            ("ben", "b", &[("mono", 10.0)]),
            ("cy", "c", &[("mono", 2.0), ("tools", 8.0)]),
            ("dee", "d", &[("mono", 2.0), ("tools", 10.0)]),
            ("eve", "e", &[("mono", 10.0), ("tools", 0.5)]),
        ]);
        assert_eq!(area_of(&areas, "a"), "a");
        assert_eq!(area_of(&areas, "b"), "b");
        assert_eq!(area_of(&areas, "c"), "c, d");
        assert_eq!(area_of(&areas, "d"), "c, d");
        assert_eq!(area_of(&areas, "e"), "e");
    }

    #[test]
    fn agents_without_a_team_are_placed_by_the_repository_most_of_their_work_is_in() {
        let none = crate::features::UNASSIGNED_TEAM;
        let work: &[Work] = &[
            ("ana", none, &[("payments", 8.0), ("mono", 2.0)]),
            ("ben", none, &[("payments", 3.0), ("mono", 1.0)]),
            // Split three ways: no main repository, no area of its own.
            (
                "cy",
                none,
                &[("payments", 4.0), ("site", 3.0), ("mono", 3.0)],
            ),
            // Most of its work in the monorepo everyone delivers to: that links no one, and
            // the rest is under half.
            ("dee", none, &[("mono", 7.0), ("site", 3.0)]),
            ("eve", none, &[("site", 6.0), ("mono", 4.0)]),
            // A team from the map: its area is its team's, not a repository's.
            ("fay", "web", &[("site", 5.0)]),
            ("gus", none, &[]),
            // A service, at all hours or on a fixed cadence.
            ("zed", none, &[("payments", 9.0)]),
        ];
        let mut agents: Vec<AgentSummary> = work.iter().map(|(a, t, _)| agent(a, t)).collect();
        agents.push(agent("new", none));
        agents.last_mut().unwrap().eligible = false;
        let mut repositories: Repositories = work
            .iter()
            .map(|(a, _, repos)| {
                let repos = repos.iter().map(|(r, x)| (r.to_string(), *x)).collect();
                (a.to_string(), repos)
            })
            .collect();
        repositories.insert("new".into(), [("payments".to_string(), 9.0)].into());
        let homes = repository_areas(&agents, &repositories, &BTreeSet::from(["zed"]));
        let home = |agent: &str| homes.get(agent).map(String::as_str);
        assert_eq!(home("ana"), Some("repository payments"));
        assert_eq!(home("ben"), Some("repository payments"));
        assert_eq!(home("eve"), Some("repository site"));
        assert_eq!(by_repository(home("eve").unwrap()), Some("site"));
        for nowhere in ["cy", "dee", "fay", "gus", "new", "zed"] {
            assert_eq!(home(nowhere), None, "{nowhere}");
        }
    }
}
