//! Who works at the synthetic company: agents, their teams, habits and archetypes.
//!
//! Every agent draws its parameters from its own RNG stream (seed, agent index), so adding an
//! archetype or changing one agent never changes the others.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde::Serialize;

use super::world::{SessionSemantics, World, Worlds};

/// What an agent really does. Inflators burn tokens the work does not need; look-alikes are
/// honest agents that a naive detector would accuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Archetype {
    /// An ordinary honest agent.
    Regular,
    /// Inflator: ~10x the tokens of comparable peers from the first week, human timing, output
    /// of an ordinary peer (about 2x a light user's).
    ConstantInflater,
    /// Inflator: a fixed-cadence loop with repeated prompts that delivers nothing.
    LoopBot,
    /// Inflator: honest until mid-period, then spend ramps to ~8x with output flat.
    OnsetInflater,
    /// Look-alike: 6–10x the typical spend, with output on the population curve.
    HeavyProductive,
    /// Look-alike: a handful of requests, below the minimum-data gates.
    Tiny,
    /// Look-alike: a service account running around the clock with real output.
    Service,
    /// Inflator: the requests of a typical agent, each carrying 3–6x the context it needs.
    ContextStuffer,
    /// Inflator: a typical week's work, plus 3–6x as much burned in the hours before the
    /// weekly leaderboard snapshot.
    SnapshotSpiker,
    /// Inflator: honest in the first week, then burn compounding 25–35% a week, output flat.
    SlowDrifter,
    /// Inflator: a typical agent who also keeps 4–8 background sessions running in parallel,
    /// day and night on weekdays, delivering nothing more.
    ParallelBurner,
    /// Look-alike: spend rising 8–15% a week (2–5x over a quarter) with output rising along
    /// the curve: onboarding, or a new project.
    HonestRampUp,
    /// Look-alike: two or three consecutive weeks away, then back to normal.
    Vacation,
    /// Look-alike: a member of a research or SRE team, whose work leaves few countable
    /// artifacts (a quarter of what engineering teams record).
    FewArtifacts,
    /// Look-alike: delivers under a different handle in the output data, linked by the
    /// identity map.
    Aliased,
    /// Look-alike (world `power-users`): 3–6x a regular's requests in 3–6 worktree sessions
    /// side by side on most weekdays, every request productive, output on the curve.
    PowerUser,
    /// Look-alike (world `ci-accounts`): a CI service account sending a request every 2–10
    /// minutes, round the clock or in a nightly window, with real output on the curve.
    CiAccount,
}

/// Every archetype, in the order the truth file lists them.
pub const ALL: [Archetype; 17] = [
    Archetype::Regular,
    Archetype::ConstantInflater,
    Archetype::LoopBot,
    Archetype::OnsetInflater,
    Archetype::ContextStuffer,
    Archetype::SnapshotSpiker,
    Archetype::SlowDrifter,
    Archetype::ParallelBurner,
    Archetype::HeavyProductive,
    Archetype::Tiny,
    Archetype::Service,
    Archetype::HonestRampUp,
    Archetype::Vacation,
    Archetype::FewArtifacts,
    Archetype::Aliased,
    Archetype::PowerUser,
    Archetype::CiAccount,
];

/// The teams whose agents are [`Archetype::FewArtifacts`].
pub const FEW_ARTIFACT_TEAMS: [&str; 2] = ["research", "sre"];

/// When the synthetic company's leaderboard takes its weekly snapshot: Friday 17:00 UTC,
/// the default of `[detect] snapshot`.
pub const SNAPSHOT_WEEKDAY_OFFSET_HOURS: i64 = 4 * 24 + 17;

impl Archetype {
    /// Service accounts: `service` in the identity map, no vacations, outputs at any hour.
    pub fn is_service(self) -> bool {
        matches!(self, Archetype::Service | Archetype::CiAccount)
    }

    /// Whether a company of these worlds can have this archetype: the world archetypes only
    /// in their world, so that without it neither agents nor the truth file change.
    pub fn drawn_in(self, worlds: &Worlds) -> bool {
        match self {
            Archetype::PowerUser => worlds.contains(World::PowerUsers),
            Archetype::CiAccount => worlds.contains(World::CiAccounts),
            _ => true,
        }
    }

    pub fn is_inflator(self) -> bool {
        matches!(
            self,
            Archetype::ConstantInflater
                | Archetype::LoopBot
                | Archetype::OnsetInflater
                | Archetype::ContextStuffer
                | Archetype::SnapshotSpiker
                | Archetype::SlowDrifter
                | Archetype::ParallelBurner
        )
    }

    /// The lenses that can see this inflator in principle.
    pub fn visible_to(self) -> &'static [&'static str] {
        match self {
            Archetype::ConstantInflater => &["efficiency"],
            Archetype::LoopBot => &["efficiency", "behavior"],
            Archetype::OnsetInflater => &["change"],
            Archetype::ContextStuffer => &["efficiency", "behavior"],
            Archetype::SnapshotSpiker => &["efficiency", "behavior"],
            Archetype::SlowDrifter => &["change"],
            Archetype::ParallelBurner => &["efficiency", "behavior"],
            _ => &[],
        }
    }

    /// The lenses that can see the archetype in a company whose usage has these session
    /// semantics: where session ids are labels, absent or buckets, the parallel-sessions
    /// fingerprint is not read (its data-quality gate), and in buckets neither are cadence nor
    /// prompts, so parallel burners, and in buckets loop bots, are left to the peer comparison.
    pub fn visible_in(self, sessions: SessionSemantics) -> &'static [&'static str] {
        match (self, sessions) {
            (Archetype::ParallelBurner, SessionSemantics::Contiguous) => self.visible_to(),
            (Archetype::ParallelBurner, _) => &["efficiency"],
            (Archetype::LoopBot, SessionSemantics::Bucketed) => &["efficiency"],
            _ => self.visible_to(),
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Archetype::Regular => "honest agent: output follows spend with diminishing returns (elasticity 0.45)",
            Archetype::ConstantInflater => "a typical agent's work plus 7-11x as much burn from the first week, at human hours; delivers what its honest part earns",
            Archetype::LoopBot => "a fixed-cadence loop (every 60-120 s, repeated prompts) most of the working day; delivers nothing",
            Archetype::OnsetInflater => "honest for the first half of the period, then spend ramps to 6-10x with output flat",
            Archetype::HeavyProductive => "uses 6-10x the typical tokens and delivers on the population curve (about 2.5x the output)",
            Archetype::Tiny => "a few requests a week at most; below the minimum-data gates",
            Archetype::Service => "service account running around the clock, with real output",
            Archetype::ContextStuffer => "a typical agent's requests, each with 3-6x the context (cache reads and input) it needs",
            Archetype::SnapshotSpiker => "a typical week's work plus 3-6x as much burned in the 10 hours before the Friday 17:00 UTC leaderboard snapshot",
            Archetype::SlowDrifter => "honest in week one, then burn compounding 25-35% a week with output flat",
            Archetype::ParallelBurner => "a typical agent plus 4-8 parallel background sessions on weekdays, day and night, delivering nothing",
            Archetype::HonestRampUp => "spend rising 8-15% a week (2-5x over a quarter: onboarding, a new project) with output rising along the curve",
            Archetype::Vacation => "two or three consecutive weeks away mid-period, otherwise regular",
            Archetype::FewArtifacts => "research or SRE team member: honest work that leaves a quarter of the countable artifacts",
            Archetype::Aliased => "delivers under a different handle in the output data, linked only by the identity map",
            Archetype::PowerUser => "honest power user: 3-6x a regular's requests in 3-6 parallel worktree sessions started within minutes on most weekdays, all productive, output on the population curve",
            Archetype::CiAccount => "CI service account: a request every 2-10 minutes (low jitter) round the clock or in a nightly window, with real output on the population curve",
        }
    }
}

/// Spread of persistent skill on ln output. Together with weekly and count noise it puts honest
/// agents about ±0.3 around the production curve, which is what the efficiency lens must see
/// through: a 10x inflator then sits about 4 spreads above it.
const SKILL_SIGMA: f64 = 0.25;

/// An agent's drawn parameters.
#[derive(Debug, Clone)]
pub struct AgentProfile {
    pub index: usize,
    /// Login used in usage logs; also the canonical agent name.
    pub login: String,
    /// Name on outputs: the login, or an email alias only the identity map links.
    pub output_name: String,
    pub team: String,
    /// The team `identities.csv` names: the team, or its squad in the world `squads`.
    pub team_label: String,
    pub archetype: Archetype,
    /// Mean productive requests per active week.
    pub rate: f64,
    /// Burn multiplier for inflators (total / productive spend).
    pub burn: f64,
    /// Multiplicative skill on output (e^u).
    pub skill: f64,
    /// Hours from UTC of the agent's working day.
    pub utc_offset_hours: f64,
    /// The offset the default company draws for the agent. Working hours are drawn in it and
    /// then moved to `utc_offset_hours`, so a world that moves people round the globe takes as
    /// many random draws as the default company and leaves the rest of it as it was: the
    /// worlds are paired with the default company, seed for seed.
    pub drawn_offset_hours: f64,
    /// Index into the model menu of the agent's preferred model.
    pub primary_model: usize,
    /// Multiplier on the context (input and cache reads) of every request.
    pub context: f64,
    /// Multiplier on countable output (low for research and SRE work).
    pub output_factor: f64,
    /// Weekly growth of burn (slow drifter) or of honest work (ramp-up); 1 otherwise.
    pub growth: f64,
    /// Output elasticity of productive spend: the shared one, or the agent's own in the world
    /// `diverse-elasticity`.
    pub elasticity: f64,
    /// When a CI account sends its requests.
    pub ci: Option<CiSchedule>,
}

/// The loop of a CI account.
#[derive(Debug, Clone, Copy)]
pub struct CiSchedule {
    /// Seconds between requests (jittered by a few percent).
    pub cadence_seconds: i64,
    /// `(start hour UTC, hours)` of a nightly window, or `None` for round the clock.
    pub nightly: Option<(f64, f64)>,
}

const FIRST: [&str; 24] = [
    "maria", "james", "aiko", "omar", "lena", "diego", "priya", "noah", "fatima", "lucas", "sofia",
    "kwame", "elena", "chen", "amara", "jonas", "nadia", "arjun", "ines", "tomas", "yara", "felix",
    "hana", "mateo",
];
const LAST: [&str; 20] = [
    "chen", "okafor", "muller", "silva", "kowalski", "tanaka", "haddad", "novak", "reyes", "singh",
    "larsen", "moreau", "ivanova", "adeyemi", "rossi", "park", "schmidt", "costa", "nguyen",
    "berg",
];
pub const TEAMS: [&str; 12] = [
    "payments", "platform", "mobile", "web", "data", "infra", "search", "growth", "security",
    "billing", "identity", "checkout",
];
const SERVICE_NAMES: [&str; 6] = [
    "ci-review-bot",
    "triage-agent",
    "docs-sync-agent",
    "test-fixer-bot",
    "dependency-bot",
    "release-agent",
];
const OFFSETS: [f64; 7] = [-8.0, -5.0, 0.0, 1.0, 2.0, 5.5, 8.0];
/// UTC offsets in use round the world, whole and half hours (world `global-time-zones`).
const GLOBAL_OFFSETS: [f64; 34] = [
    -11.0, -10.0, -9.5, -9.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.5, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0,
    3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 8.0, 9.0, 9.5, 10.0, 10.5, 11.0, 12.0, 12.5, 13.0,
];
const CI_NAMES: [&str; 4] = [
    "ci-review-runner",
    "ci-test-triage",
    "ci-lint-fixer",
    "ci-flaky-test-bot",
];
/// Spread of appetite (lognormal sigma of the request rate) in the default company, and in the
/// world `diverse-elasticity`.
const APPETITE_SIGMA: f64 = 0.6;
const DIVERSE_APPETITE_SIGMA: f64 = 0.9;

/// RNG purposes of the worlds, apart from the default company's streams (0 and 1 per agent,
/// 3 for teams, 7 for loops) so that choosing a world leaves every other draw as it was.
pub mod purpose {
    /// Which regular agents become power users and CI accounts (agent `u64::MAX`).
    pub const CONVERT: u64 = 10;
    pub const TIME_ZONE: u64 = 11;
    pub const ELASTICITY: u64 = 12;
    pub const POWER_USER: u64 = 13;
    pub const CI_ACCOUNT: u64 = 14;
    /// Session label pools and each request's label (usage).
    pub const SESSION_LABELS: u64 = 15;
    /// The outputs of a world with an output mix of its own (`review-heavy`).
    pub const OUTPUT_MIX: u64 = 16;
    /// How each team is cut into squads (`squads`; agent `u64::MAX`).
    pub const SQUADS: u64 = 17;
    /// Whether and when each artifact lands (`output-lag`, `holiday-week`).
    pub const LANDING: u64 = 18;
    /// The artifacts of the work before the period (`output-lag`).
    pub const EARLIER_WORK: u64 = 19;
}

/// Squad sizes of the world `squads`.
const SQUAD_SIZES: std::ops::RangeInclusive<usize> = 2..=8;

/// World `squads`: each team's agents, shuffled, cut into squads of 2–8 named `team-1`,
/// `team-2`, … (a squad that would leave one member over gives or takes one), from a stream
/// of its own. A team of one keeps its name.
fn name_squads(profiles: &mut [AgentProfile], seed: u64) {
    let mut rng = agent_rng(seed, u64::MAX, purpose::SQUADS);
    let mut by_team: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, p) in profiles.iter().enumerate() {
        by_team.entry(p.team.clone()).or_default().push(i);
    }
    for (team, mut members) in by_team {
        rand::seq::SliceRandom::shuffle(members.as_mut_slice(), &mut rng);
        if members.len() < 2 {
            continue;
        }
        let mut squads: Vec<&[usize]> = Vec::new();
        let mut rest = members.as_slice();
        while !rest.is_empty() {
            let mut size = rng.gen_range(SQUAD_SIZES).min(rest.len());
            if rest.len() - size == 1 {
                size = if size > *SQUAD_SIZES.start() {
                    size - 1
                } else {
                    size + 1
                };
            }
            let (squad, after) = rest.split_at(size);
            squads.push(squad);
            rest = after;
        }
        for (n, squad) in squads.iter().enumerate() {
            for &i in *squad {
                profiles[i].team_label = format!("{team}-{}", n + 1);
            }
        }
    }
}

/// Turns regular agents into the archetypes of the worlds `power-users` (5%) and
/// `ci-accounts` (3%), at least one each, from a stream of its own: the other agents keep the
/// archetype they have in the default company.
fn convert_regulars(plan: &mut [Archetype], seed: u64, worlds: &Worlds) {
    let agents = plan.len();
    let mut regulars: Vec<usize> = (0..agents)
        .filter(|&i| plan[i] == Archetype::Regular)
        .collect();
    rand::seq::SliceRandom::shuffle(
        regulars.as_mut_slice(),
        &mut agent_rng(seed, u64::MAX, purpose::CONVERT),
    );
    let mut regulars = regulars.into_iter();
    let share = |fraction: f64| ((agents as f64 * fraction).round() as usize).max(1);
    for (world, archetype, fraction) in [
        (World::PowerUsers, Archetype::PowerUser, 0.05),
        (World::CiAccounts, Archetype::CiAccount, 0.03),
    ] {
        if worlds.contains(world) {
            for index in regulars.by_ref().take(share(fraction)) {
                plan[index] = archetype;
            }
        }
    }
}

/// Assigns archetypes: a fixed share of each, at least one of each inflator for populations of
/// twenty or more (none at all with `inflators` off), the rest regular. Positions are spread
/// over teams by the shuffle.
fn archetypes(agents: usize, inflators: bool, rng: &mut ChaCha8Rng) -> Vec<Archetype> {
    let share =
        |fraction: f64, floor: usize| ((agents as f64 * fraction).round() as usize).max(floor);
    let floor = usize::from(agents >= 20);
    let mut plan = Vec::with_capacity(agents);
    for archetype in ALL.iter().copied().filter(|a| a.is_inflator()) {
        if inflators {
            plan.extend(std::iter::repeat_n(archetype, share(0.02, floor)));
        }
    }
    let look_alikes = [
        (Archetype::HeavyProductive, 0.05),
        (Archetype::Tiny, 0.04),
        (Archetype::Service, 0.03),
        (Archetype::HonestRampUp, 0.03),
        (Archetype::Vacation, 0.04),
        (Archetype::Aliased, 0.04),
    ];
    for (archetype, fraction) in look_alikes {
        plan.extend(std::iter::repeat_n(archetype, share(fraction, floor)));
    }
    // A research team only where there are enough agents for it to be a cohort of its own.
    if agents >= 40 {
        plan.extend(std::iter::repeat_n(Archetype::FewArtifacts, share(0.12, 8)));
    }
    plan.truncate(agents);
    plan.resize(agents, Archetype::Regular);
    crate::detect::stats::seeded_shuffle(&mut plan, rng.gen());
    plan
}

/// Draws the whole population; `inflators` off plants none (a null population).
pub fn draw(
    agents: usize,
    requests_per_week: f64,
    seed: u64,
    models: usize,
    inflators: bool,
    worlds: &Worlds,
) -> Vec<AgentProfile> {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut plan = archetypes(agents, inflators, &mut rng);
    convert_regulars(&mut plan, seed, worlds);
    let teams = (agents / 12).clamp(1, TEAMS.len());
    let mut used = std::collections::BTreeSet::new();
    let (mut services, mut ci_accounts, mut few_artifacts) = (0, 0, 0);
    let mut profiles: Vec<AgentProfile> = plan
        .into_iter()
        .enumerate()
        .map(|(index, archetype)| {
            let mut rng = agent_rng(seed, index as u64, 0);
            let (first, last) = (
                FIRST[rng.gen_range(0..FIRST.len())],
                LAST[rng.gen_range(0..LAST.len())],
            );
            let login = if archetype == Archetype::Service {
                services += 1;
                let base = SERVICE_NAMES[(services - 1) % SERVICE_NAMES.len()];
                unique(
                    format!("{base}-{}", (services - 1) / SERVICE_NAMES.len() + 1),
                    &mut used,
                )
            } else if archetype == Archetype::CiAccount {
                ci_accounts += 1;
                let base = CI_NAMES[(ci_accounts - 1) % CI_NAMES.len()];
                unique(
                    format!("{base}-{}", (ci_accounts - 1) / CI_NAMES.len() + 1),
                    &mut used,
                )
            } else {
                unique(format!("{first}.{last}"), &mut used)
            };
            let output_name = if archetype == Archetype::Aliased {
                unique(format!("gh-{first}{}{index}", &last[..1]), &mut used)
            } else if !archetype.is_service() && rng.gen_bool(0.35) {
                format!("{login}@corp.example")
            } else {
                login.clone()
            };
            let spread = LogNormal::new(0.0, APPETITE_SIGMA).expect("valid");
            let mut appetite = spread.sample(&mut rng);
            if worlds.contains(World::DiverseElasticity) {
                // The same draw, spread wider: e^(0.6 z) becomes e^(0.9 z).
                appetite = appetite.powf(DIVERSE_APPETITE_SIGMA / APPETITE_SIGMA);
            }
            let mut rate = requests_per_week * appetite;
            let mut ci = None;
            let typical = requests_per_week * rng.gen_range(0.7..1.4);
            let (mut burn, mut growth, mut context, mut output_factor) = (1.0, 1.0, 1.0, 1.0);
            let mut team = TEAMS[index % teams].to_string();
            match archetype {
                Archetype::HeavyProductive => rate *= rng.gen_range(6.0..10.0),
                Archetype::Tiny => rate = rng.gen_range(1.0..6.0),
                Archetype::ConstantInflater => {
                    // A typical agent's work underneath, so "comparable peers" are the median.
                    rate = typical;
                    burn = rng.gen_range(8.0..12.0);
                }
                Archetype::OnsetInflater => burn = rng.gen_range(6.0..10.0),
                Archetype::LoopBot => rate *= 0.3,
                Archetype::Service => rate *= rng.gen_range(1.0..3.0),
                Archetype::ContextStuffer => {
                    rate = typical;
                    context = rng.gen_range(3.0..6.0);
                    burn = context;
                }
                Archetype::SnapshotSpiker => {
                    rate = typical;
                    burn = rng.gen_range(4.0..7.0);
                }
                Archetype::SlowDrifter => {
                    rate = typical;
                    growth = rng.gen_range(1.25..1.35);
                }
                Archetype::ParallelBurner => {
                    rate = typical;
                    burn = rng.gen_range(5.0..9.0);
                }
                Archetype::HonestRampUp => {
                    rate = typical * 0.6;
                    growth = rng.gen_range(1.08..1.15);
                }
                Archetype::FewArtifacts => {
                    output_factor = 0.25;
                    team = FEW_ARTIFACT_TEAMS[(few_artifacts / 8) % FEW_ARTIFACT_TEAMS.len()]
                        .to_string();
                    few_artifacts += 1;
                }
                Archetype::PowerUser => {
                    let mut world = agent_rng(seed, index as u64, purpose::POWER_USER);
                    rate = typical * world.gen_range(3.0..6.0);
                }
                Archetype::CiAccount => {
                    let mut world = agent_rng(seed, index as u64, purpose::CI_ACCOUNT);
                    let cadence_seconds = world.gen_range(120..=600);
                    let nightly = world
                        .gen_bool(0.5)
                        .then(|| (world.gen_range(20.0..23.0), world.gen_range(6.0..8.0)));
                    let hours_a_week = nightly.map_or(168.0, |(_, hours)| 7.0 * hours);
                    rate = hours_a_week * 3_600.0 / cadence_seconds as f64;
                    ci = Some(CiSchedule {
                        cadence_seconds,
                        nightly,
                    });
                }
                Archetype::Regular | Archetype::Vacation | Archetype::Aliased => {}
            }
            let skill = Normal::new(0.0_f64, SKILL_SIGMA)
                .expect("valid")
                .sample(&mut rng)
                .exp();
            context *= LogNormal::new(0.0, 0.25).expect("valid").sample(&mut rng);
            let drawn_offset_hours = OFFSETS[rng.gen_range(0..OFFSETS.len())];
            let mut utc_offset_hours = drawn_offset_hours;
            if worlds.contains(World::GlobalTimeZones) && !archetype.is_service() {
                let mut world = agent_rng(seed, index as u64, purpose::TIME_ZONE);
                utc_offset_hours = GLOBAL_OFFSETS[world.gen_range(0..GLOBAL_OFFSETS.len())];
            }
            let elasticity = if worlds.contains(World::DiverseElasticity) {
                agent_rng(seed, index as u64, purpose::ELASTICITY).gen_range(0.25..0.65)
            } else {
                super::usage::ELASTICITY
            };
            AgentProfile {
                index,
                team_label: team.clone(),
                team,
                archetype,
                rate: rate.max(1.0),
                burn,
                skill,
                utc_offset_hours,
                drawn_offset_hours,
                primary_model: weighted_model(&mut rng, models),
                context,
                output_factor,
                growth,
                elasticity,
                ci,
                output_name,
                login,
            }
        })
        .collect();
    if worlds.contains(World::Squads) {
        name_squads(&mut profiles, seed);
    }
    profiles
}

fn unique(name: String, used: &mut std::collections::BTreeSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{name}{n}");
        n += 1;
    }
    candidate
}

/// Model menu weights: most agents on the workhorse model, some on the premium one.
fn weighted_model(rng: &mut ChaCha8Rng, models: usize) -> usize {
    let weights = [0.5, 0.2, 0.12, 0.1, 0.08];
    let mut draw: f64 = rng.gen();
    for (i, w) in weights.iter().enumerate().take(models) {
        if draw < *w {
            return i;
        }
        draw -= w;
    }
    0
}

/// An independent RNG stream for (agent, purpose).
pub fn agent_rng(seed: u64, agent: u64, purpose: u64) -> ChaCha8Rng {
    use rand::SeedableRng;
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&agent.to_le_bytes());
    key[16..24].copy_from_slice(&purpose.to_le_bytes());
    key[24..].copy_from_slice(b"tokaudit");
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parallel_burner_without_sessions_to_read_is_left_to_the_peer_comparison() {
        let burner = Archetype::ParallelBurner;
        assert!(burner
            .visible_in(SessionSemantics::Contiguous)
            .contains(&"behavior"));
        for sessions in [
            SessionSemantics::Labels,
            SessionSemantics::Absent,
            SessionSemantics::Bucketed,
        ] {
            assert_eq!(burner.visible_in(sessions), ["efficiency"]);
        }
        assert_eq!(
            Archetype::LoopBot.visible_in(SessionSemantics::Bucketed),
            ["efficiency"]
        );
        assert!(Archetype::LoopBot
            .visible_in(SessionSemantics::Labels)
            .contains(&"behavior"));
    }

    fn worlds(names: &[&str]) -> Worlds {
        Worlds::parse(names).unwrap()
    }

    #[test]
    fn without_worlds_there_are_no_world_archetypes_and_seven_offsets() {
        let profiles = draw(200, 400.0, 5, 5, true, &Worlds::default());
        assert!(profiles
            .iter()
            .all(|p| !matches!(p.archetype, Archetype::PowerUser | Archetype::CiAccount)));
        assert!(profiles
            .iter()
            .all(|p| OFFSETS.contains(&p.utc_offset_hours)));
        assert!(profiles
            .iter()
            .all(|p| p.elasticity.to_bits() == super::super::usage::ELASTICITY.to_bits()));
    }

    #[test]
    fn global_time_zones_spread_people_round_the_world() {
        let profiles = draw(40, 400.0, 5, 5, true, &worlds(&["global-time-zones"]));
        let offsets: std::collections::BTreeSet<i64> = profiles
            .iter()
            .filter(|p| !p.archetype.is_service())
            .map(|p| (p.utc_offset_hours * 2.0) as i64)
            .collect();
        assert!(offsets.len() > 7, "{offsets:?}");
        assert!(offsets.iter().all(|&o| (-22..=26).contains(&o)));
    }

    #[test]
    fn diverse_elasticity_draws_an_elasticity_per_agent() {
        let profiles = draw(40, 400.0, 5, 5, true, &worlds(&["diverse-elasticity"]));
        let elasticities: Vec<f64> = profiles.iter().map(|p| p.elasticity).collect();
        assert!(elasticities.iter().all(|e| (0.25..0.65).contains(e)));
        let (low, high) = elasticities
            .iter()
            .fold((1.0_f64, 0.0_f64), |(l, h), &e| (l.min(e), h.max(e)));
        assert!(high - low > 0.2, "{low}..{high}");
    }

    #[test]
    fn world_archetypes_replace_regulars_only() {
        let default = draw(60, 400.0, 9, 5, true, &Worlds::default());
        let converted = draw(
            60,
            400.0,
            9,
            5,
            true,
            &worlds(&["power-users", "ci-accounts"]),
        );
        let count = |a: Archetype| converted.iter().filter(|p| p.archetype == a).count();
        assert_eq!(count(Archetype::PowerUser), 3);
        assert_eq!(count(Archetype::CiAccount), 2);
        for (before, after) in default.iter().zip(&converted) {
            if before.archetype != after.archetype {
                assert_eq!(before.archetype, Archetype::Regular);
            }
        }
        assert!(converted
            .iter()
            .filter(|p| p.archetype == Archetype::CiAccount)
            .all(|p| p.ci.is_some() && p.login.starts_with("ci-")));
    }
}
