//! Detection on data it was not tuned on: the worlds of `generate --world`, each reshaping the
//! synthetic company the way real sources differ (session ids that are labels or absent,
//! hourly buckets, time zones round the world, per-person elasticities, honest power users
//! running sessions side by side, CI accounts on a fixed cadence, a review-heavy output mix),
//! and all of them at once. Per world, an honest company must get a medium or high finding
//! against at most 1% of its agents in at least 19 of 20 seeds, and planted companies must
//! keep precision ≥ 0.9 and recall ≥ 0.85 pooled over their seeds: the targets. A world draws
//! the default company seed for seed wherever it can (the same people, requests and output,
//! only reshaped), so a difference from the default company is the world's doing and not a
//! new draw. README, "What the detector can and cannot see", has the figures, over these seeds
//! and over 40; `benches/worlds.sh` reproduces them.

use tokenaudit::audit::eval::{evaluate, Evaluation};
use tokenaudit::audit::{AuditSettings, Verbosity};
use tokenaudit::generate::{self, GenerateSettings, Worlds};

fn audit(
    world: &str,
    seed: u64,
    weeks: u32,
    requests_per_week: f64,
    inflators: bool,
) -> Evaluation {
    audit_with(world, seed, weeks, requests_per_week, inflators, true)
}

/// [`audit`], with or without the company's identity map.
fn audit_with(
    world: &str,
    seed: u64,
    weeks: u32,
    requests_per_week: f64,
    inflators: bool,
    identities: bool,
) -> Evaluation {
    let dir = tempfile::tempdir().unwrap();
    // `default` is the company no world reshapes; `a,b` is worlds a and b at once.
    let names: Vec<&str> = world.split(',').filter(|w| *w != "default").collect();
    generate::write(&GenerateSettings {
        agents: 60,
        weeks,
        seed,
        requests_per_week,
        inflators,
        worlds: Worlds::parse(&names).unwrap(),
        out: dir.path().to_path_buf(),
        verbosity: Verbosity::Quiet,
        ..GenerateSettings::default()
    })
    .unwrap();
    if !identities {
        std::fs::remove_file(dir.path().join("identities.csv")).unwrap();
    }
    let audit = AuditSettings {
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    };
    evaluate(dir.path(), audit).unwrap()
}

/// The honest seeds: eight weeks at half the default request rate, as the null test of
/// `detection.rs` (seeds of their own, 301–320).
const NULL_SEEDS: std::ops::RangeInclusive<u64> = 301..=320;
/// The planted seeds: a quarter at the default rate, as the planted test of `detection.rs`.
const PLANTED_SEEDS: std::ops::RangeInclusive<u64> = 1..=6;

const PRECISION: f64 = 0.9;
const RECALL: f64 = 0.85;

fn holds_in(world: &str) {
    holds_at(world, 19, PRECISION, RECALL);
}

/// [`holds_in`] at floors of a world's own, where it falls short of the targets.
fn holds_at(world: &str, clean_floor: usize, precision_floor: f64, recall_floor: f64) {
    // Honest companies: medium or high findings against at most 1% of the 60 agents (none).
    let mut clean = 0;
    let mut accused = Vec::new();
    for seed in NULL_SEEDS {
        let evaluation = audit(world, seed, 8, 200.0, false);
        let serious = evaluation.severities.iter().filter(|s| *s != "low").count();
        accused.push(serious);
        if serious as f64 <= 0.01 * 60.0 {
            clean += 1;
        }
    }
    // Planted companies, pooled.
    let (mut flagged, mut found, mut inflators) = (0, 0, 0);
    for seed in PLANTED_SEEDS {
        let evaluation = audit(world, seed, 12, 400.0, true);
        flagged += evaluation.flagged;
        found += evaluation.true_positives;
        inflators += evaluation.inflators;
    }
    let precision = found as f64 / flagged.max(1) as f64;
    let recall = found as f64 / inflators as f64;
    eprintln!(
        "world {world}: honest seeds without a medium or high finding {clean}/20 (agents accused per seed {accused:?}); planted precision {precision:.2} ({found}/{flagged}), recall {recall:.2} ({found}/{inflators})"
    );
    assert!(
        clean >= clean_floor,
        "{world}: {clean}/20 honest seeds clean, {accused:?}"
    );
    assert!(
        precision >= precision_floor,
        "{world}: precision {precision:.2} ({found}/{flagged})"
    );
    assert!(
        recall >= recall_floor,
        "{world}: recall {recall:.2} ({found}/{inflators})"
    );
}

#[test]
fn detection_holds_when_session_ids_are_labels() {
    holds_in("session-labels");
}

#[test]
fn detection_holds_without_session_ids() {
    holds_in("no-sessions");
}

#[test]
fn detection_holds_on_hourly_buckets() {
    // One inflator fewer than the default company (37 of 42): without request times, prompts
    // or sessions a loop bot is left to the peer comparison.
    holds_in("hourly");
}

#[test]
fn detection_holds_with_time_zones_round_the_world() {
    holds_in("global-time-zones");
}

#[test]
fn detection_holds_with_elasticities_per_person() {
    holds_in("diverse-elasticity");
}

#[test]
fn detection_holds_with_honest_power_users() {
    holds_in("power-users");
}

#[test]
fn detection_holds_with_ci_accounts() {
    holds_in("ci-accounts");
}

#[test]
fn detection_holds_with_a_review_heavy_output_mix() {
    holds_in("review-heavy");
}

#[test]
fn detection_holds_with_squads_instead_of_teams() {
    // Most squads are too small to be cohorts, and a squad of two or three says little of its
    // level. The squads of one team deliver to its repositories, so the peer comparison reads
    // them as one area and one cohort (`detect/areas.rs`). Before: 18 of 20 honest seeds clean
    // (a research pair judged near the company's level, 39 times what it expected, high);
    // precision 0.97 (36/37), recall 0.86 (36/42). Now: 19 of 20 (an honest heavy user,
    // medium), precision 0.93 (39/42), recall 0.93 (39/42); over seeds 1-40, 0.97 and 0.89,
    // and 59 of 60 honest seeds 301-360.
    holds_in("squads");
}

#[test]
fn detection_holds_when_teams_share_repositories_without_sharing_a_level() {
    // What would break the areas: research and platform, whose output per dollar differs most,
    // in one repository, and a third of every team's commits in a monorepo. The monorepo links
    // no one; research and platform are one cohort, each team drawn to its own level within it
    // and the slope fitted within teams. Before the slope was (research's level read as
    // elasticity, 0.79 where the default company's is 0.42 on seed 6): precision 0.88 (38/43).
    // Measured: 20 of 20 honest seeds clean, precision 0.93 (38/41), recall 0.90 (38/42).
    holds_in("shared-repos");
}

#[test]
fn detection_holds_with_squads_of_teams_that_share_repositories() {
    // Both at once: the squads of research and platform are one area. Measured: 19 of 20
    // honest seeds clean (a research pair at a level drawn towards its own, medium), precision
    // 0.95 (39/41), recall 0.93 (39/42).
    holds_in("squads,shared-repos");
}

#[test]
fn detection_holds_when_a_dearer_model_costs_more_for_the_same_work() {
    // Tokens, not dollars, buy the work: the people on Opus pay five times a Sonnet user for
    // the same output. Read in dollars they widened the peers' spread (and were accused): 18 of
    // 20 honest seeds clean, precision 0.87 (26/30), recall 0.62 (26/42). Peers now agree more
    // on tokens than on dollars, so the comparison reads tokens: 19 of 20, 0.95 (38/40), 0.90
    // (38/42).
    holds_in("model-prices");
}

#[test]
fn detection_holds_when_the_company_moves_to_a_dearer_model() {
    // Where tokens buy the work, everyone on Opus from the middle week. Measured: 20 of 20
    // honest seeds clean, precision 0.93 (37/40), recall 0.88 (37/42).
    holds_in("model-prices,model-migration");
}

#[test]
fn a_move_to_a_dearer_model_in_a_company_where_dollars_bought_the_work_costs_recall() {
    // Short of the target, and held at its measure so that it gets no worse: until the move
    // dollars bought the work, after it tokens do, so each person's spend rises by the ratio
    // of Opus to its old model and neither reading fits the period. Measured: 20 of 20 honest
    // seeds clean, precision 0.94 (32/34), recall 0.76 (32/42); over seeds 1-40, 0.95 and
    // 0.84 (234/280).
    holds_at("model-migration", 19, PRECISION, 0.75);
}

#[test]
fn detection_holds_when_artifacts_land_days_after_the_work() {
    // Pull requests merge and tickets close one to nine days after the work: a week's output
    // is mostly the week before's work, the first week holds work from before the period, and
    // the last week's work is not in the export. Measured: 20 of 20 honest seeds clean,
    // precision 0.95 (39/41), recall 0.93 (39/42); read week by week, before the history lens
    // read the lag, 0.95 (36/38) and 0.86 (36/42).
    holds_in("output-lag");
}

#[test]
fn detection_holds_through_a_holiday_week_when_artifacts_land_days_after_the_work() {
    // Both at once: the freeze's held-back merges land over the following fortnight.
    // Measured: 20 of 20 honest seeds clean, precision 0.90 (36/40), recall 0.86 (36/42);
    // before the history lens read the lag, 0.90 (35/39) and 0.83 (35/42).
    holds_in("holiday-week,output-lag");
}

#[test]
fn detection_holds_through_a_holiday_week_under_a_change_freeze() {
    // People work two days of the week, and nothing merges until the Monday after: a week in
    // which everyone delivered a fraction of what their spend buys on the curve. Measured: 20
    // of 20 honest seeds clean, precision 0.90 (38/42), recall 0.90 (38/42); read as an
    // ordinary week by the history lens (before its week effect), 0.90 (37/41) and 0.88
    // (37/42). One honest Opus user (seed 4) is accused, medium: in the peer comparison's
    // recent window the holiday makes every agent's weekly output noisier and the spread
    // between agents narrower (README, "What it cannot see").
    holds_in("holiday-week");
}

#[test]
fn detection_holds_in_every_world_at_once() {
    // Measured: 19 of 20 honest seeds clean, precision 0.90 (37/41), recall 0.88 (37/42). Before
    // small teams were judged near their own level and the history lens's trend asked for
    // spend that grew, 0.897 and 0.83.
    holds_in("all");
}

/// `world` audited without its identity map: at most 1% of an honest company's agents (none
/// of 60) with a medium or high finding in 19 of 20 seeds, precision ≥ 0.9 at medium or high on
/// the planted seeds, and recall ≥ 0.65 at any severity (without teams the peer comparison is
/// a lead only; the request logs and each agent's own history still see most inflators).
fn holds_without_a_map(world: &str, recall_floor: f64) {
    let mut clean = 0;
    for seed in NULL_SEEDS {
        let evaluation = audit_with(world, seed, 8, 200.0, false, false);
        clean += usize::from(evaluation.severities.iter().all(|s| s == "low"));
    }
    let (mut serious, mut found, mut inflators, mut all_found) = (0, 0, 0, 0);
    for seed in PLANTED_SEEDS {
        let evaluation = audit_with(world, seed, 12, 400.0, true, false);
        serious += evaluation.serious_flagged;
        found += evaluation.serious_true_positives;
        all_found += evaluation.true_positives;
        inflators += evaluation.inflators;
    }
    eprintln!(
        "{world}, no identity map: honest seeds clean {clean}/20; planted medium or high {found} of {serious} inflators, {all_found} of {inflators} inflators flagged at any severity"
    );
    assert!(clean >= 19, "{world}: {clean}/20 honest seeds clean");
    assert!(
        found as f64 >= PRECISION * serious as f64,
        "{world}: medium or high: {found} inflators of {serious}"
    );
    assert!(
        all_found as f64 >= recall_floor * inflators as f64,
        "{world}: recall {all_found}/{inflators}"
    );
}

#[test]
fn detection_without_an_identity_map_accuses_no_team_for_its_work() {
    // A new user's first run: usage and outputs, no identity map. Nothing names teams, kinds or
    // the handles people commit under (emails for logins, `gh-…` names). Emails are now
    // credited to the agent named before the @, and the peer comparison's findings are leads
    // (low) where no team is known, or where they rest on "no output" while output names match
    // no agent (README, "What the detector can and cannot see"). Before: 15 of 20 honest seeds
    // clean (15 agents accused: research and SRE people judged against the whole company,
    // people whose commits were under their email, service accounts); planted seeds 1-6, 22
    // inflators among 27 medium or high findings, 24 of 42 inflators flagged at all. Then: 20
    // of 20 (19 until a service's rhythm stopped counting as a person's, the next test); 24
    // of 24, and 29 of 42 (no constant inflater: the peer comparison alone sees them, and
    // without teams it was against the whole company, research and SRE people included).
    // Now each agent is compared with the others whose work is mostly in the same repository
    // (`detect::areas::repository_areas`), still as a lead: 20 of 20; 26 of 26; 37 of 42.
    holds_without_a_map("default", RECALL);
}

#[test]
fn without_an_identity_map_ci_accounts_are_not_read_as_loops() {
    // The `all` world has CI accounts on a fixed cadence, round the clock or nightly, with real
    // output, and services at all hours. Without a map's `kind` they are judged among people:
    // before, their cadence read as a loop (TA301, high) and their hours as a person's
    // (TA304), and 1 of 20 honest seeds was clean (31 agents accused). A fixed cadence, and
    // all hours on every day of the week, now count only where the peer comparison finds
    // spend beyond output at the fingerprints' own level (p ≤ 0.01): 20 of 20. The planted
    // loops still count (their peer p is at most 2e-5, and they repeat their prompts): on
    // seeds 1-6, 26 of 26 medium or high findings are inflators (26 of 37 before), 30 of 42
    // inflators were flagged at any severity, as before. Compared by repository (the test
    // above), with services and CI accounts left out of the repositories' cohorts: 20 of 20;
    // 30 of 30; 35 of 42, short of the target (37 of 42 with the map).
    holds_without_a_map("all", 0.8);
}
