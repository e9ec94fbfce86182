//! Who works at the synthetic company: agents, their teams, habits and archetypes.
//!
//! Every agent draws its parameters from its own RNG stream (seed, agent index), so adding an
//! archetype or changing one agent never changes the others.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde::Serialize;

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
}

/// Every archetype, in the order the truth file lists them.
pub const ALL: [Archetype; 15] = [
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
];

/// The teams whose agents are [`Archetype::FewArtifacts`].
pub const FEW_ARTIFACT_TEAMS: [&str; 2] = ["research", "sre"];

/// When the synthetic company's leaderboard takes its weekly snapshot: Friday 17:00 UTC,
/// the default of `[detect] snapshot`.
pub const SNAPSHOT_WEEKDAY_OFFSET_HOURS: i64 = 4 * 24 + 17;

impl Archetype {
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
    pub archetype: Archetype,
    /// Mean productive requests per active week.
    pub rate: f64,
    /// Burn multiplier for inflators (total / productive spend).
    pub burn: f64,
    /// Multiplicative skill on output (e^u).
    pub skill: f64,
    /// Hours from UTC of the agent's working day.
    pub utc_offset_hours: f64,
    /// Index into the model menu of the agent's preferred model.
    pub primary_model: usize,
    /// Multiplier on the context (input and cache reads) of every request.
    pub context: f64,
    /// Multiplier on countable output (low for research and SRE work).
    pub output_factor: f64,
    /// Weekly growth of burn (slow drifter) or of honest work (ramp-up); 1 otherwise.
    pub growth: f64,
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
) -> Vec<AgentProfile> {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plan = archetypes(agents, inflators, &mut rng);
    let teams = (agents / 12).clamp(1, TEAMS.len());
    let mut used = std::collections::BTreeSet::new();
    let (mut services, mut few_artifacts) = (0, 0);
    plan.into_iter()
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
            } else {
                unique(format!("{first}.{last}"), &mut used)
            };
            let output_name = if archetype == Archetype::Aliased {
                unique(format!("gh-{first}{}{index}", &last[..1]), &mut used)
            } else if archetype != Archetype::Service && rng.gen_bool(0.35) {
                format!("{login}@corp.example")
            } else {
                login.clone()
            };
            let spread = LogNormal::new(0.0, 0.6).expect("valid");
            let mut rate = requests_per_week * spread.sample(&mut rng);
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
                Archetype::Regular | Archetype::Vacation | Archetype::Aliased => {}
            }
            let skill = Normal::new(0.0_f64, SKILL_SIGMA)
                .expect("valid")
                .sample(&mut rng)
                .exp();
            context *= LogNormal::new(0.0, 0.25).expect("valid").sample(&mut rng);
            AgentProfile {
                index,
                team,
                archetype,
                rate: rate.max(1.0),
                burn,
                skill,
                utc_offset_hours: OFFSETS[rng.gen_range(0..OFFSETS.len())],
                primary_model: weighted_model(&mut rng, models),
                context,
                output_factor,
                growth,
                output_name,
                login,
            }
        })
        .collect()
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
