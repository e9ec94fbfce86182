//! The one integration test binary: every command, format and exit code of `tokenaudit`, run as
//! a user runs it, with stdout, stderr and the exit code snapshotted.

mod adapters;
mod calibration;
mod commands;
mod detection;
mod errors;
mod formats;
mod fuzz;
mod history;
mod html;
mod notebooks;
mod outputs;
mod properties;
mod quarantine;
mod reviews;
mod sql;
mod stats;
mod vendors;
mod vendors_anthropic;
mod vendors_openai;
mod worlds;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn fixture(path: &str) -> String {
    fixtures().join(path).display().to_string()
}

pub fn tokenaudit() -> Command {
    let mut command = Command::cargo_bin("tokenaudit").expect("binary builds");
    command.current_dir(fixtures());
    command
}

/// Exit code, stdout and stderr in one text, with machine-specific paths replaced.
pub fn transcript(output: &Output, tmp: Option<&Path>) -> String {
    let mut text = format!(
        "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if let Some(tmp) = tmp {
        text = text.replace(&tmp.display().to_string(), "[TMP]");
    }
    text.replace(&fixtures().display().to_string(), "[FIXTURES]")
        .replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

/// A company from `tokenaudit generate` of `agents` agents over `weeks` weeks at 200 requests a
/// week, written to `dir`, with extra arguments (`--usage-format csv`, a world).
pub fn generate(dir: &Path, agents: u32, weeks: u32, seed: u64, extra: &[&str]) {
    tokenaudit()
        .args(["generate", "-q", "--requests-per-week", "200"])
        .args([
            "--agents",
            &agents.to_string(),
            "--weeks",
            &weeks.to_string(),
        ])
        .args(["--seed", &seed.to_string()])
        .args(extra)
        .arg("--out")
        .arg(dir)
        .assert()
        .success();
}

/// The JSON report of a run, parsed.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The report without the `inputs` list, which names files and so differs between runs
/// over the same data laid out differently.
pub fn without_inputs(mut report: serde_json::Value) -> serde_json::Value {
    report.as_object_mut().expect("object").remove("inputs");
    report
}

/// Runs the demo fixtures through `audit` with extra arguments.
pub fn audit_demo(extra: &[&str]) -> Output {
    let mut args = vec![
        "audit",
        "--usage",
        "demo/usage.csv",
        "--outputs",
        "demo/outputs.csv",
        "--identities",
        "demo/identities.csv",
    ];
    args.extend_from_slice(extra);
    tokenaudit().args(&args).output().expect("runs")
}
