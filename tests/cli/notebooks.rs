//! The notebooks run headless, top to bottom, on the Parquet output of an audit of the fixtures.
//! Python comes from `TOKENAUDIT_PYTHON` (`.ci/run` points it at a virtual environment with
//! `notebooks/requirements.txt` installed), else `python3`.

use std::path::Path;
use std::process::Command;

use crate::tokenaudit;

fn python() -> String {
    std::env::var("TOKENAUDIT_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

#[test]
fn every_notebook_runs_on_the_parquet_outputs_of_the_demo() {
    let python = python();
    let ready = Command::new(&python)
        .args([
            "-c",
            "import polars, matplotlib, nbclient, nbformat, ipykernel",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ready,
        "`{python}` lacks the notebooks' packages: run .ci/run (it installs notebooks/requirements.txt into ~/.cache/tokenaudit-venv), or set TOKENAUDIT_PYTHON"
    );
    let tmp = tempfile::tempdir().unwrap();
    let parquet = tmp.path().join("audit-out");
    // Two runs into a history store, for the notebook's across-runs section.
    let history = tmp.path().join("history");
    for _ in 0..2 {
        let output = tokenaudit()
            .args(["demo", "-q", "--format", "json"])
            .arg("--out")
            .arg(format!("parquet={}", parquet.display()))
            .arg("--history")
            .arg(&history)
            .output()
            .unwrap();
        assert!(output.status.success());
    }
    let notebooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks");
    let run = Command::new(&python)
        .arg(notebooks.join("run.py"))
        .arg("--parquet-dir")
        .arg(&parquet)
        .arg("--out")
        .arg(tmp.path().join("executed"))
        .env("TOKENAUDIT_HISTORY_DIR", &history)
        .output()
        .expect("python runs");
    assert!(
        run.status.success(),
        "a notebook failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let executed: Vec<_> = std::fs::read_dir(tmp.path().join("executed"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "ipynb"))
        .collect();
    assert!(!executed.is_empty(), "no executed notebook was written");
    let text = std::fs::read_to_string(tmp.path().join("executed/weekly_audit.ipynb")).unwrap();
    assert!(
        text.contains("6 weeks stored, 2 runs kept"),
        "the history section read the store"
    );
}
