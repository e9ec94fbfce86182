//! `tokenaudit demo`: the audit on fixtures compiled into the binary, so a first run needs no
//! files. The fixtures are written to a private temporary directory, audited, and removed;
//! the report names them `demo/…` so its bytes do not depend on where that directory was.

use std::io::Write;

use super::{audit, AuditError, AuditSettings, Exit};

/// (file name, contents) of the embedded fixtures.
const FIXTURES: [(&str, &str); 3] = [
    ("usage.csv", include_str!("../../fixtures/demo/usage.csv")),
    (
        "outputs.csv",
        include_str!("../../fixtures/demo/outputs.csv"),
    ),
    (
        "identities.csv",
        include_str!("../../fixtures/demo/identities.csv"),
    ),
];

pub fn run(mut settings: AuditSettings, stdout: &mut dyn Write) -> Result<Exit, AuditError> {
    let dir = std::env::temp_dir().join(format!("tokenaudit-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| AuditError::Write {
        path: dir.clone(),
        source,
    })?;
    let mut paths = Vec::new();
    for (name, contents) in FIXTURES {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|source| AuditError::Write {
            path: path.clone(),
            source,
        })?;
        settings
            .input
            .display_names
            .push((path.clone(), format!("demo/{name}")));
        paths.push(path);
    }
    settings.input.usage = vec![paths[0].display().to_string()];
    settings.input.outputs = vec![paths[1].display().to_string()];
    settings.input.identities = Some(paths[2].clone());
    let result = audit(&settings, stdout);
    let _ = std::fs::remove_dir_all(&dir);
    result
}
