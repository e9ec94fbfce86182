//! The HTML report: one self-contained page, every input string escaped, rendered by a real
//! browser (Debian's chromium, which `.ci/run` installs) with its charts and table present and
//! nothing on the console.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{fixture, json, tokenaudit};

/// The demo audited under the hostile identity map: agent and team names carrying markup.
fn hostile_report(dir: &Path) -> (PathBuf, serde_json::Value) {
    let html = dir.join("report.html");
    let out = format!("html={}", html.display());
    let output = tokenaudit()
        .args([
            "audit",
            "-q",
            "--usage",
            &fixture("demo/usage.csv"),
            "--outputs",
            &fixture("demo/outputs.csv"),
            "--identities",
            &fixture("hostile/identities.csv"),
            "--format",
            "json",
            "--out",
            &out,
        ])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (html, json(&output))
}

#[test]
fn every_name_from_input_is_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, report) = hostile_report(tmp.path());
    let html = std::fs::read_to_string(path).unwrap();
    // The hostile names are flagged, so they reach the table, the cards and the charts.
    let flagged: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["agent"].as_str().unwrap())
        .collect();
    assert!(
        flagged.iter().any(|a| a.contains("<script>")),
        "{flagged:?}"
    );
    assert!(flagged.iter().any(|a| a.contains("<img")), "{flagged:?}");
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b onmouseover"));
    assert!(!html.contains("</svg><img"));
    assert!(html.contains("&lt;script&gt;alert(&quot;agent&quot;)&lt;/script&gt;jonas"));
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own script"
    );
}

#[test]
fn the_page_is_self_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = hostile_report(tmp.path());
    let html = std::fs::read_to_string(path).unwrap();
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    for external in ["src=\"", "href=\"http", "<link", "@import", "url("] {
        assert!(!html.contains(external), "found `{external}`");
    }
    assert!(html.matches("<svg").count() >= 8);
}

/// Each flagged agent's timeline shades the weeks its finding is about, and only those.
#[test]
fn timelines_shade_the_weeks_each_finding_is_about() {
    let tmp = tempfile::tempdir().unwrap();
    let json_path = tmp.path().join("report.json");
    let output = tokenaudit()
        .args(["demo", "-q", "--format", "html", "--out"])
        .arg(format!("json={}", json_path.display()))
        .output()
        .unwrap();
    assert!(output.status.success());
    let html = String::from_utf8(output.stdout).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let named: usize = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["weeks"].as_array().unwrap().len())
        .sum();
    assert!(named > 0);
    assert_eq!(html.matches("fill=\"#FAE4E4\"").count(), named);
    assert!(html.contains("weeks the finding is about"));
}

fn chromium() -> PathBuf {
    let candidates = [
        std::env::var_os("TOKENAUDIT_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("chromium is not installed: `.ci/run` installs Debian's chromium (apt-get install chromium), or set TOKENAUDIT_CHROMIUM")
}

/// Runs headless chromium on `page` with `args`; returns stdout and the console lines.
fn browse(page: &Path, profile: &Path, args: &[&str]) -> (String, Vec<String>) {
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    (String::from_utf8_lossy(&output.stdout).to_string(), console)
}

/// Width and height from a PNG's header.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn a_browser_renders_the_charts_and_the_table_without_console_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (page, report) = hostile_report(tmp.path());
    let findings = report["findings"].as_array().unwrap().len();
    assert!(findings >= 2);

    // The DOM after the page's script ran: it counts what it found.
    let (dom, console) = browse(&page, &tmp.path().join("profile-dom"), &["--dump-dom"]);
    assert!(console.is_empty(), "console: {console:#?}");
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "the page's script did not finish"
    );
    let attribute = |name: &str| -> usize {
        let start = dom
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name}"))
            + name.len()
            + 2;
        dom[start..dom[start..].find('"').unwrap() + start]
            .parse()
            .unwrap()
    };
    // Three cohort curves, one timeline per flagged agent, spend by team and by model, Lorenz.
    let expected_charts = 3 + findings + 2 + 1;
    assert!(
        attribute("data-charts") >= expected_charts,
        "{}",
        attribute("data-charts")
    );
    assert_eq!(attribute("data-finding-rows"), findings);
    // Hostile names stayed text: no element was injected.
    assert!(!dom.contains("<img"));
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(!dom.contains("<b onmouseover"));

    // A screenshot of the whole report: a real picture, not a blank page.
    let shot = tmp.path().join("report.png");
    let (_, console) = browse(
        &page,
        &tmp.path().join("profile-shot"),
        &[
            "--window-size=1400,6000",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(console.is_empty(), "console: {console:#?}");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(png_size(&png), (1400, 6000));
    // A blank page of this size compresses to a few kilobytes; charts and text do not.
    assert!(png.len() > 150_000, "screenshot is {} bytes", png.len());
    if let Some(dir) = std::env::var_os("TOKENAUDIT_SCREENSHOT_DIR") {
        std::fs::copy(&shot, Path::new(&dir).join("report.png")).unwrap();
    }
}
