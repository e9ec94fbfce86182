//! Reason codes and lens names: the leaf every lens imports.
//!
//! A code is named once here and nowhere else as a literal; the lenses emit these constants
//! and write each code's documentation ([`CodeDoc`]) beside the code that emits it. The
//! catalog that gathers those docs (`tokenaudit explain`) is [`super::catalog`], which points
//! to the lenses; the lenses never point back.

/// Documentation of one reason code, with the fixed headings `explain` prints.
#[derive(Debug, Clone, Copy)]
pub struct CodeDoc {
    pub code: &'static str,
    pub title: &'static str,
    pub lens: &'static str,
    pub what_it_means: &'static str,
    pub why_it_matters: &'static str,
    pub benign_explanations: &'static [&'static str],
    pub example: &'static str,
}

/// The lenses, by the names findings and settings use.
pub const EFFICIENCY: &str = "efficiency";
pub const CHANGE: &str = "change";
pub const BEHAVIOR: &str = "behavior";

/// The names of every lens, in the order their findings list them.
pub const LENS_NAMES: [&str; 3] = [EFFICIENCY, CHANGE, BEHAVIOR];

/// Efficiency lens (`efficiency.rs`).
pub const EXCESS_SPEND: &str = "TA101";
pub const LOW_ELASTICITY: &str = "TA102";
pub const NO_OUTPUT: &str = "TA103";

/// Change lens (`change.rs`).
pub const STEP: &str = "TA201";
pub const DRIFT: &str = "TA202";

/// Behaviour lens (`behavior.rs`).
pub const CADENCE: &str = "TA301";
pub const REPEATED_PROMPTS: &str = "TA302";
pub const CONTEXT_STUFFING: &str = "TA303";
pub const ROUND_THE_CLOCK: &str = "TA304";
pub const PRE_SNAPSHOT: &str = "TA305";
pub const PARALLEL_SESSIONS: &str = "TA306";
pub const TRIVIAL_TURNS: &str = "TA307";

/// Fingerprint groups (`groups.rs`).
pub const SHARED_FINGERPRINT: &str = "TA308";
