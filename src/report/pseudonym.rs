//! `--pseudonymize`: agent names replaced by stable keyed hashes, so an audit can be shared
//! beyond finance without naming people.
//!
//! The pseudonym is `agent-` and the first 12 hex digits of HMAC-SHA256(key, name): the same
//! name and key give the same pseudonym every week, so findings can be followed over time; without
//! the key a name cannot be confirmed by hashing guesses. The key comes from the
//! `TOKENAUDIT_PSEUDONYM_KEY` environment variable and is never written anywhere. Teams, models
//! and numbers are kept; reason messages that quote a name get the pseudonym too.

use sha2::{Digest, Sha256};

use super::AuditReport;

pub const KEY_VARIABLE: &str = "TOKENAUDIT_PSEUDONYM_KEY";

/// Shortest key accepted: a short key could be guessed, and then every name with it.
pub const MIN_KEY_BYTES: usize = 16;

#[derive(Clone, PartialEq, Eq)]
pub struct Pseudonymizer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer { key: <hidden> }")
    }
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| -> Vec<u8> { block.iter().map(|b| b ^ byte).collect() };
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

impl Pseudonymizer {
    pub fn new(key: &[u8]) -> Result<Pseudonymizer, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "{KEY_VARIABLE} is {} bytes; --pseudonymize needs a key of at least {MIN_KEY_BYTES}\n\nhint: generate one with `openssl rand -hex 32` and keep it out of the report's reach",
                key.len()
            ));
        }
        Ok(Pseudonymizer { key: key.to_vec() })
    }

    /// Reads the key from [`KEY_VARIABLE`].
    pub fn from_env() -> Result<Pseudonymizer, String> {
        match std::env::var_os(KEY_VARIABLE) {
            Some(key) => Pseudonymizer::new(key.as_encoded_bytes()),
            None => Err(format!(
                "--pseudonymize needs a key in the environment variable {KEY_VARIABLE}\n\nhint: export {KEY_VARIABLE}=$(openssl rand -hex 32); the same key gives the same pseudonyms every week"
            )),
        }
    }

    pub fn name(&self, agent: &str) -> String {
        let mac = hmac_sha256(&self.key, agent.as_bytes());
        let hex: String = mac[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("agent-{hex}")
    }

    /// Replaces every agent name in the report, the chart data included.
    pub fn apply(&self, report: &mut AuditReport) {
        // The agents, and the output names without usage that reasons quote.
        let unmatched = report
            .data_quality
            .unmatched_outputs
            .iter()
            .flat_map(|u| u.examples.iter());
        let mut names: Vec<(String, String)> = report
            .agents
            .iter()
            .map(|a| &a.agent)
            .chain(unmatched)
            .map(|name| (name.clone(), self.name(name)))
            .collect();
        names.sort();
        names.dedup();
        // Longest first, so a name that contains another is replaced whole.
        names.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let map: std::collections::BTreeMap<String, String> = names.iter().cloned().collect();
        let rename = |name: &mut String| {
            if let Some(p) = map.get(name.as_str()) {
                *name = p.clone();
            } else {
                *name = self.name(name);
            }
        };
        for agent in &mut report.agents {
            rename(&mut agent.agent);
        }
        for finding in &mut report.findings {
            rename(&mut finding.agent);
            for reason in &mut finding.reasons {
                reason.message = replace_names(&reason.message, &names);
            }
            for cause in &mut finding.root_causes {
                cause.value = if cause.dimension == crate::features::SESSION_DIMENSION {
                    // A session id may hold a login; it names nothing a reader needs.
                    match cause.value.as_str() {
                        crate::features::OTHER_SESSIONS => cause.value.clone(),
                        id => self.name(id).replacen("agent-", "session-", 1),
                    }
                } else {
                    replace_names(&without_home(&cause.value), &names)
                };
            }
            if let Some(review) = &mut finding.review {
                rename(&mut review.agent);
            }
            // The id is a plain hash of the name: recomputed from the pseudonym, it stays
            // stable from week to week under one key and confirms no guess.
            finding.id = super::finding_id(&finding.agent, finding.detector);
        }
        if let Some(unmatched) = &mut report.data_quality.unmatched_outputs {
            unmatched.examples.iter_mut().for_each(rename);
        }
        for (name, agent) in &mut report.data_quality.linked_by_email {
            rename(name);
            rename(agent);
        }
        if let Some(reviews) = &mut report.reviews {
            for review in &mut reviews.expired {
                rename(&mut review.agent);
            }
            for review in &mut reviews.stale {
                rename(&mut review.agent);
            }
        }
        if let Some(history) = &mut report.history {
            for resolved in &mut history.resolved {
                rename(&mut resolved.agent);
                resolved.id = super::finding_id(&resolved.agent, &resolved.detector);
            }
        }
        for week in &mut report.detail.weeks {
            rename(&mut week.agent);
        }
        for row in &mut report.detail.spend {
            rename(&mut row.agent);
        }
        report.detail.weekly_q = std::mem::take(&mut report.detail.weekly_q)
            .into_iter()
            .map(|(mut agent, weeks)| {
                rename(&mut agent);
                (agent, weeks)
            })
            .collect();
        for curve in &mut report.detail.curves {
            curve.agents.iter_mut().for_each(rename);
        }
        // Sorted by agent name before; the pseudonyms would otherwise keep the real names' order.
        report.agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        report
            .detail
            .weeks
            .sort_by(|a, b| (&a.agent, a.week).cmp(&(&b.agent, b.week)));
    }
}

/// `text` with each of `names` (longest first) replaced by its pseudonym where it stands as a
/// whole name: not inside a longer word, so that `ed` never turns "delivered" into a clue.
fn replace_names(text: &str, names: &[(String, String)]) -> String {
    let part_of_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | '+');
    let mut text = text.to_string();
    for (name, pseudonym) in names.iter().filter(|(n, _)| !n.is_empty()) {
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find(name.as_str()) {
            let before = rest[..at].chars().next_back();
            let after_text = &rest[at + name.len()..];
            let mut after = after_text.chars();
            let next = after.next();
            // A full stop ends a sentence unless a name goes on after it (`dana.reyes`).
            let next_is_name = next.is_some_and(|c| {
                part_of_name(c) || (c == '.' && after.next().is_some_and(char::is_alphanumeric))
            });
            let whole = !before.is_some_and(|c| part_of_name(c) || c == '.') && !next_is_name;
            out.push_str(&rest[..at]);
            out.push_str(if whole { pseudonym } else { name });
            rest = after_text;
        }
        out.push_str(rest);
        text = out;
    }
    text
}

/// A path with its home folder (`/home/dana/`, `/Users/dana/`, `C:\Users\dana\`) as `~/`: a
/// repository named by its working directory names the person whose home it is.
fn without_home(path: &str) -> String {
    for prefix in ["/home/", "/Users/", "C:\\Users\\"] {
        if let Some(at) = path.find(prefix) {
            let start = at + prefix.len();
            let end = path[start..]
                .find(['/', '\\'])
                .map_or(path.len(), |i| start + i + 1);
            return format!("{}~/{}", &path[..at], &path[end..]);
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_replaced_whole_and_homes_are_hidden() {
        let names = vec![
            ("dana.reyes".to_string(), "agent-1".to_string()),
            ("ed".to_string(), "agent-2".to_string()),
        ];
        assert_eq!(
            replace_names("no delivered output; ed, dana.reyes and ed.", &names),
            "no delivered output; agent-2, agent-1 and agent-2."
        );
        // Not inside another name either.
        assert_eq!(
            replace_names("ed.smith gh-ed ed", &names),
            "ed.smith gh-ed agent-2"
        );
        assert_eq!(without_home("/home/dana/src/api@main"), "~/src/api@main");
        assert_eq!(without_home("/Users/eli/work"), "~/work");
        assert_eq!(without_home("C:\\Users\\fay\\repo"), "~/repo");
        assert_eq!(without_home("payments-service"), "payments-service");
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_distinct() {
        let a = Pseudonymizer::new(b"0123456789abcdef-key-one").unwrap();
        let b = Pseudonymizer::new(b"0123456789abcdef-key-two").unwrap();
        assert_eq!(a.name("dana@corp.com"), a.name("dana@corp.com"));
        assert_ne!(a.name("dana@corp.com"), a.name("eli@corp.com"));
        assert_ne!(a.name("dana@corp.com"), b.name("dana@corp.com"));
        assert!(a.name("dana@corp.com").starts_with("agent-"));
        assert_eq!(a.name("x").len(), "agent-".len() + 12);
        assert!(Pseudonymizer::new(b"short").is_err());
    }
}
