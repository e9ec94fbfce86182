//! Reason codes and their documentation.
//!
//! Each lens defines the docs of the codes it emits next to the code that emits them; this
//! module only gathers them so `tokenaudit explain CODE` and the reports can look one up.

use std::fmt::Write as _;

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

/// Every code, in code order.
pub fn all() -> Vec<&'static CodeDoc> {
    let mut docs: Vec<&'static CodeDoc> = super::efficiency::CODES
        .iter()
        .chain(super::change::CODES.iter())
        .chain(super::behavior::CODES.iter())
        .collect();
    docs.sort_by_key(|d| d.code);
    docs
}

pub fn lookup(code: &str) -> Option<&'static CodeDoc> {
    all()
        .into_iter()
        .find(|d| d.code.eq_ignore_ascii_case(code.trim()))
}

/// The doc as Markdown.
pub fn render(doc: &CodeDoc) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "# {} — {}\n", doc.code, doc.title);
    let _ = writeln!(text, "Lens: {}\n", doc.lens);
    let _ = writeln!(text, "## What it means\n\n{}\n", doc.what_it_means);
    let _ = writeln!(text, "## Why it matters\n\n{}\n", doc.why_it_matters);
    let _ = writeln!(text, "## Benign explanations\n");
    for item in doc.benign_explanations {
        let _ = writeln!(text, "- {item}");
    }
    let _ = writeln!(text, "\n## Example\n\n{}", doc.example);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_and_fully_documented() {
        let docs = all();
        assert!(!docs.is_empty());
        for pair in docs.windows(2) {
            assert_ne!(pair[0].code, pair[1].code);
        }
        for doc in docs {
            assert!(
                doc.code.starts_with("TA") && doc.code.len() == 5,
                "{}",
                doc.code
            );
            assert!(!doc.what_it_means.is_empty() && !doc.why_it_matters.is_empty());
            assert!(!doc.benign_explanations.is_empty() && !doc.example.is_empty());
            let text = render(doc);
            for heading in [
                "## What it means",
                "## Why it matters",
                "## Benign explanations",
                "## Example",
            ] {
                assert!(text.contains(heading), "{} lacks {heading}", doc.code);
            }
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup("ta101").unwrap().code, "TA101");
        assert!(lookup("TA999").is_none());
    }
}
