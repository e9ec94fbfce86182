//! Worlds: the ways real data differ from the default synthetic company, chosen with
//! `tokenaudit generate --world NAME[,NAME…]` so detection can be tested on each.
//!
//! A world is an overlay on the default company of the same seed: it changes its own dimension
//! (session ids, time zones, elasticities, a few converted agents, the output mix) and draws
//! whatever it needs from RNG streams of its own, so every other draw, and with no world every
//! byte, is what the default company has. This file only names and combines worlds; the
//! population and usage code apply them.

use std::collections::BTreeSet;

use super::GenerateError;

/// One way the generated data differ from the default company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum World {
    /// `session_id` is a label, not a contiguous run: each agent has a pool of 3–12 labels and
    /// every request draws one at random, as gateways that tag requests do.
    SessionLabels,
    /// `session_id` is null on every row, as exports without sessions have it.
    NoSessions,
    /// Usage in hourly buckets per (agent, hour, model), without request, session or prompt
    /// ids (the same as `--hourly`).
    Hourly,
    /// People spread over real UTC offsets from −11 to +13 (whole and half hours) instead of
    /// seven offsets; service accounts unchanged.
    GlobalTimeZones,
    /// Output elasticity drawn per agent from 0.25..0.65 (around the shared 0.45), and a wider
    /// spread of appetite (lognormal sigma 0.9 instead of 0.6 on the request rate).
    DiverseElasticity,
    /// About 5% of agents are honest power users running 3–6 worktree sessions side by side,
    /// with 3–6x a regular's requests, all productive.
    PowerUsers,
    /// About 3% of agents are CI service accounts: a fixed cadence of requests, round the clock
    /// or in a nightly window, with real output on the curve.
    CiAccounts,
    /// An output mix of few tickets, fewer PRs and many reviews; the same weighted index.
    ReviewHeavy,
    /// The identity map names squads of 2–8 people rather than teams (`payments-1`,
    /// `payments-2`, …), as companies organised in small squads have it: most are too small
    /// to be a cohort of their own. A squad keeps its team's output level, repositories and
    /// tickets.
    Squads,
    /// Research and platform, the teams whose output per dollar differs most, deliver to one
    /// repository, and about a third of every team's commits go to a monorepo: teams that
    /// share repositories without sharing a level.
    SharedRepos,
    /// Tokens, not dollars, buy work: output follows what a week's requests would have cost on
    /// the workhorse model, so an agent whose preferred model is Opus pays about five times a
    /// Sonnet user's dollars for the same output, and one on Haiku a third.
    ModelPrices,
    /// From the middle week on, every request is logged (and priced) as Opus, in Claude Code: a
    /// company moving its people to a dearer model. The work, and so the output, is what it was.
    ModelMigration,
    /// One week, two thirds of the way through, in which people work Monday and Tuesday only
    /// (their usage and the artifacts of their work on the other days are not there) under a
    /// change freeze: no pull request merges and no ticket closes until the Monday after, when
    /// what was held back lands. Service accounts run as ever.
    HolidayWeek,
    /// Artifacts land 1–9 days after the work that made them (a pull request merges after
    /// review, a ticket closes after deploy): those that land after the export's last day are
    /// not in it, and the first days hold artifacts of work done before the period.
    OutputLag,
}

/// What `all` stands for: every world except `hourly` and `no-sessions`, which rule out
/// `session-labels` (hourly buckets and sessionless exports carry no session ids to label),
/// and the worlds added after it (`squads`, `shared-repos`, `model-prices`,
/// `model-migration`, `holiday-week`, `output-lag`), which are measured beside it so that its
/// figures keep their companies.
pub const ALL_WORLDS: [World; 6] = [
    World::SessionLabels,
    World::GlobalTimeZones,
    World::DiverseElasticity,
    World::PowerUsers,
    World::CiAccounts,
    World::ReviewHeavy,
];

/// Every world, in the order `truth.json` lists them.
pub const WORLDS: [World; 14] = [
    World::SessionLabels,
    World::NoSessions,
    World::Hourly,
    World::GlobalTimeZones,
    World::DiverseElasticity,
    World::PowerUsers,
    World::CiAccounts,
    World::ReviewHeavy,
    World::Squads,
    World::SharedRepos,
    World::ModelPrices,
    World::ModelMigration,
    World::HolidayWeek,
    World::OutputLag,
];

/// The names `--world` accepts: every world, and `all`.
pub const WORLD_NAMES: [&str; 15] = [
    "session-labels",
    "no-sessions",
    "hourly",
    "global-time-zones",
    "diverse-elasticity",
    "power-users",
    "ci-accounts",
    "review-heavy",
    "squads",
    "shared-repos",
    "model-prices",
    "model-migration",
    "holiday-week",
    "output-lag",
    "all",
];

/// Worlds that cannot be combined, and why.
const EXCLUSIVE: [(World, World, &str); 3] = [
    (
        World::Hourly,
        World::SessionLabels,
        "hourly buckets carry no session ids to label",
    ),
    (
        World::Hourly,
        World::NoSessions,
        "hourly buckets carry no session ids already",
    ),
    (
        World::SessionLabels,
        World::NoSessions,
        "session ids cannot be labels and absent at once",
    ),
];

impl World {
    pub fn name(self) -> &'static str {
        match self {
            World::SessionLabels => "session-labels",
            World::NoSessions => "no-sessions",
            World::Hourly => "hourly",
            World::GlobalTimeZones => "global-time-zones",
            World::DiverseElasticity => "diverse-elasticity",
            World::PowerUsers => "power-users",
            World::CiAccounts => "ci-accounts",
            World::ReviewHeavy => "review-heavy",
            World::Squads => "squads",
            World::SharedRepos => "shared-repos",
            World::ModelPrices => "model-prices",
            World::ModelMigration => "model-migration",
            World::HolidayWeek => "holiday-week",
            World::OutputLag => "output-lag",
        }
    }

    /// One sentence on how the world reshapes the data, for `truth.json`.
    pub fn note(self) -> &'static str {
        match self {
            World::SessionLabels => "session_id is a label, not a run: each agent has 3-12 labels and every request draws one at random, so one id recurs over many hours and days, interleaved with the others",
            World::NoSessions => "session_id is null on every usage row",
            World::Hourly => "usage is bucketed per agent, hour and model, without session, request or prompt ids",
            World::GlobalTimeZones => "people work in UTC offsets drawn from -11 to +13 in whole and half hours instead of seven offsets; service accounts are unchanged",
            World::DiverseElasticity => "each agent's output elasticity is drawn from 0.25-0.65 (pivoting at $30 a week, so a typical agent's output is unchanged) and appetite spreads with lognormal sigma 0.9 instead of 0.6",
            World::PowerUsers => "about 5% of agents are honest power users: 3-6x a regular's requests in 3-6 parallel worktree sessions started within minutes on most weekdays, all productive, output on the curve",
            World::CiAccounts => "about 3% of agents are CI service accounts sending a request every 2-10 minutes, round the clock or in a nightly window, with real output on the curve",
            World::ReviewHeavy => "outputs are mostly reviews (57% of the index), few PRs (15%) and rare closed tickets (3%); the weighted index per week is unchanged",
            World::Squads => "identities.csv names squads of 2-8 people (payments-1, payments-2, ...) instead of teams; a squad keeps its team's output level, repositories and tickets, and the usage and outputs are unchanged",
            World::SharedRepos => "research and platform deliver to one repository (shared-service) instead of one each, and every team's commits whose hash starts with 0-4 go to monorepo; the artifacts and their amounts are unchanged",
            World::ModelPrices => "output follows what the work's tokens would cost on the workhorse model (Sonnet), not the dollars paid: an agent on Opus pays about 5x a Sonnet user for the same output, one on Haiku about a third",
            World::ModelMigration => "from the middle week on every request is logged and priced as Opus (claude-opus-4-1, tool claude-code); the tokens and the output are what they were",
            World::HolidayWeek => "in the week two thirds of the way through (0-based week weeks*2/3) people work Monday and Tuesday (UTC) only: their requests of the other days are dropped, and the artifacts of work on those days; a change freeze holds every merged PR and closed ticket of that week (service accounts' too) to the Monday after, 08:00-18:00 UTC (dropped when that is after the period); every other week is the default company's",
            World::OutputLag => "every artifact lands 1-9 days after the work (uniform, to the second); artifacts landing after the period's end are not in outputs.csv, and the first days hold artifacts of the week before the period, drawn at each agent's first-week level",
        }
    }

    fn from_name(name: &str) -> Option<World> {
        WORLDS.into_iter().find(|w| w.name() == name)
    }
}

/// What `session_id` means in generated usage, for `truth.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSemantics {
    /// A contiguous run of requests (the default).
    Contiguous,
    /// A label reused across hours and days.
    Labels,
    /// Null on every row.
    Absent,
    /// Hourly buckets: no per-request ids at all.
    Bucketed,
}

impl SessionSemantics {
    pub fn name(self) -> &'static str {
        match self {
            SessionSemantics::Contiguous => "contiguous",
            SessionSemantics::Labels => "labels",
            SessionSemantics::Absent => "absent",
            SessionSemantics::Bucketed => "bucketed",
        }
    }
}

/// A compatible set of worlds; empty is the default company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Worlds(BTreeSet<World>);

impl Worlds {
    /// The worlds named on the command line (`all` expands to [`ALL_WORLDS`]).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Worlds, GenerateError> {
        let mut worlds = BTreeSet::new();
        for name in names {
            let name = name.as_ref().trim();
            if name == "all" {
                worlds.extend(ALL_WORLDS);
            } else if let Some(world) = World::from_name(name) {
                worlds.insert(world);
            } else {
                return Err(GenerateError::Invalid(format!(
                    "Unknown world `{name}`; expected one of {}",
                    WORLD_NAMES.join(", ")
                )));
            }
        }
        Worlds::new(worlds)
    }

    /// Checks that no two of `worlds` exclude each other.
    pub fn new(worlds: impl IntoIterator<Item = World>) -> Result<Worlds, GenerateError> {
        let worlds: BTreeSet<World> = worlds.into_iter().collect();
        for (a, b, why) in EXCLUSIVE {
            if worlds.contains(&a) && worlds.contains(&b) {
                return Err(GenerateError::Invalid(format!(
                    "The worlds `{}` and `{}` cannot be combined: {why}\n\nhint: drop one of them (`all` includes `session-labels`; `--hourly` is the world `hourly`)",
                    a.name(),
                    b.name()
                )));
            }
        }
        Ok(Worlds(worlds))
    }

    /// These worlds and one more, checked again.
    pub fn with(&self, world: World) -> Result<Worlds, GenerateError> {
        Worlds::new(self.0.iter().copied().chain([world]))
    }

    pub fn contains(&self, world: World) -> bool {
        self.0.contains(&world)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = World> + '_ {
        self.0.iter().copied()
    }

    pub fn session_semantics(&self) -> SessionSemantics {
        if self.contains(World::Hourly) {
            SessionSemantics::Bucketed
        } else if self.contains(World::NoSessions) {
            SessionSemantics::Absent
        } else if self.contains(World::SessionLabels) {
            SessionSemantics::Labels
        } else {
            SessionSemantics::Contiguous
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_world_has_a_name_that_parses_back() {
        for world in WORLDS {
            assert!(WORLD_NAMES.contains(&world.name()));
            assert_eq!(World::from_name(world.name()), Some(world));
        }
        assert_eq!(WORLD_NAMES.len(), WORLDS.len() + 1);
    }

    #[test]
    fn all_is_every_world_but_the_session_exclusive_ones() {
        let all = Worlds::parse(&["all"]).unwrap();
        assert_eq!(all.iter().collect::<Vec<_>>(), ALL_WORLDS.to_vec());
        assert_eq!(all.session_semantics(), SessionSemantics::Labels);
    }

    #[test]
    fn hourly_with_session_labels_is_refused_naming_both() {
        let err = Worlds::parse(&["hourly", "session-labels"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`hourly`") && err.contains("`session-labels`"),
            "{err}"
        );
        assert!(Worlds::parse(&["all", "hourly"]).is_err());
        assert!(Worlds::parse(&["no-sessions", "session-labels"]).is_err());
    }

    #[test]
    fn an_unknown_world_is_refused() {
        let err = Worlds::parse(&["moon"]).unwrap_err().to_string();
        assert!(err.contains("`moon`"), "{err}");
    }
}
