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
}

impl Archetype {
    pub fn is_inflator(self) -> bool {
        matches!(
            self,
            Archetype::ConstantInflater | Archetype::LoopBot | Archetype::OnsetInflater
        )
    }

    /// The lenses that can see this inflator in principle.
    pub fn visible_to(self) -> &'static [&'static str] {
        match self {
            Archetype::ConstantInflater => &["efficiency"],
            Archetype::LoopBot => &["efficiency", "behavior"],
            Archetype::OnsetInflater => &["change"],
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
/// twenty or more, the rest regular. Positions are spread over teams by the shuffle.
fn archetypes(agents: usize, rng: &mut ChaCha8Rng) -> Vec<Archetype> {
    let share =
        |fraction: f64, floor: usize| ((agents as f64 * fraction).round() as usize).max(floor);
    let floor = usize::from(agents >= 20);
    let mut plan = Vec::with_capacity(agents);
    plan.extend(std::iter::repeat_n(
        Archetype::ConstantInflater,
        share(0.03, floor),
    ));
    plan.extend(std::iter::repeat_n(Archetype::LoopBot, share(0.02, floor)));
    plan.extend(std::iter::repeat_n(
        Archetype::OnsetInflater,
        share(0.02, floor),
    ));
    plan.extend(std::iter::repeat_n(
        Archetype::HeavyProductive,
        share(0.05, floor),
    ));
    plan.extend(std::iter::repeat_n(Archetype::Tiny, share(0.04, floor)));
    plan.extend(std::iter::repeat_n(Archetype::Service, share(0.03, 0)));
    plan.truncate(agents);
    plan.resize(agents, Archetype::Regular);
    crate::detect::stats::seeded_shuffle(&mut plan, rng.gen());
    plan
}

/// Draws the whole population.
pub fn draw(agents: usize, requests_per_week: f64, seed: u64, models: usize) -> Vec<AgentProfile> {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plan = archetypes(agents, &mut rng);
    let teams = (agents / 12).clamp(1, TEAMS.len());
    let mut used = std::collections::BTreeSet::new();
    let mut services = 0;
    plan.into_iter()
        .enumerate()
        .map(|(index, archetype)| {
            let mut rng = agent_rng(seed, index as u64, 0);
            let login = if archetype == Archetype::Service {
                services += 1;
                let base = SERVICE_NAMES[(services - 1) % SERVICE_NAMES.len()];
                unique(
                    format!("{base}-{}", (services - 1) / SERVICE_NAMES.len() + 1),
                    &mut used,
                )
            } else {
                let first = FIRST[rng.gen_range(0..FIRST.len())];
                let last = LAST[rng.gen_range(0..LAST.len())];
                unique(format!("{first}.{last}"), &mut used)
            };
            let output_name = if archetype != Archetype::Service && rng.gen_bool(0.35) {
                format!("{login}@corp.example")
            } else {
                login.clone()
            };
            let spread = LogNormal::new(0.0, 0.6).expect("valid");
            let mut rate = requests_per_week * spread.sample(&mut rng);
            let mut burn = 1.0;
            match archetype {
                Archetype::HeavyProductive => rate *= rng.gen_range(6.0..10.0),
                Archetype::Tiny => rate = rng.gen_range(1.0..6.0),
                Archetype::ConstantInflater => {
                    // A typical agent's work underneath, so "comparable peers" are the median.
                    rate = requests_per_week * rng.gen_range(0.7..1.4);
                    burn = rng.gen_range(8.0..12.0);
                }
                Archetype::OnsetInflater => burn = rng.gen_range(6.0..10.0),
                Archetype::LoopBot => rate *= 0.3,
                Archetype::Service => rate *= rng.gen_range(1.0..3.0),
                Archetype::Regular => {}
            }
            let skill = Normal::new(0.0_f64, SKILL_SIGMA)
                .expect("valid")
                .sample(&mut rng)
                .exp();
            AgentProfile {
                index,
                team: TEAMS[index % teams].to_string(),
                archetype,
                rate: rate.max(1.0),
                burn,
                skill,
                utc_offset_hours: OFFSETS[rng.gen_range(0..OFFSETS.len())],
                primary_model: weighted_model(&mut rng, models),
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
