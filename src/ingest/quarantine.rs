//! The quarantine file: every row that failed validation, with where and why.
//!
//! Written as CSV (`file,row,column,value,reason`) so it opens in a spreadsheet next to the
//! source. Rows are sorted by file, then row, so the file is the same bytes for the same input.

use std::io::Write;
use std::path::Path;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct QuarantinedRow {
    pub file: String,
    pub row: u64,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// Writes the rows as CSV with a header; a value is quoted when it has a comma, quote or newline.
pub fn write_csv(rows: &[QuarantinedRow], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "file,row,column,value,reason")?;
    for row in rows {
        writeln!(
            out,
            "{},{},{},{},{}",
            csv_field(&row.file),
            row.row,
            csv_field(&row.column),
            csv_field(&row.value),
            csv_field(&row.reason)
        )?;
    }
    Ok(())
}

pub fn write_file(rows: &[QuarantinedRow], path: &Path) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_csv(rows, &mut file)?;
    file.flush()
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_commas_are_quoted() {
        let rows = [QuarantinedRow {
            file: "a.csv".into(),
            row: 3,
            column: "input_tokens".into(),
            value: "1,200".into(),
            reason: "expected a non-negative whole number".into(),
        }];
        let mut out = Vec::new();
        write_csv(&rows, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "file,row,column,value,reason\na.csv,3,input_tokens,\"1,200\",expected a non-negative whole number\n"
        );
    }
}
