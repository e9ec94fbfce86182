//! The identity map: every alias a source uses (email, git author, login, API key name) mapped
//! to one canonical agent, its team, and whether it is a human or a service account.
//!
//! Matching is case-insensitive and ignores surrounding whitespace. Each canonical agent name is
//! also an alias of itself. An alias mapped to two agents is an error naming both, because a
//! silent pick would move one person's spend onto another.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::NormalizeError;
use crate::schema;

/// Whether an agent is a person or an automated principal; the two are audited apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    Human,
    Service,
}

impl AgentKind {
    pub fn parse(text: &str) -> Option<AgentKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "human" | "" => Some(AgentKind::Human),
            "service" | "bot" | "service_account" => Some(AgentKind::Service),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Human => "human",
            AgentKind::Service => "service",
        }
    }
}

/// Who an alias belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub agent: String,
    pub team: Option<String>,
    pub kind: AgentKind,
}

/// Aliases (lowercased, trimmed) to identities.
#[derive(Debug, Clone, Default)]
pub struct IdentityMap {
    by_alias: BTreeMap<String, Identity>,
    /// Rows read from the file.
    rows: usize,
}

const ALIAS_KEY: &str = "_alias_key";
const ID_AGENT: &str = "_id_agent";
const ID_TEAM: &str = "_id_team";
const ID_KIND: &str = "_id_kind";
/// Column added by [`apply`]: `human` or `service`.
pub const KIND: &str = "agent_kind";

fn alias_key(text: &str) -> String {
    text.trim().to_lowercase()
}

impl IdentityMap {
    /// Reads an identities CSV (`alias,agent[,team][,kind]`).
    pub fn load(path: &Path) -> Result<IdentityMap, NormalizeError> {
        let read_err = |err: PolarsError| NormalizeError::Read {
            path: path.to_path_buf(),
            message: err.to_string(),
        };
        let frame = LazyCsvReader::new(PlRefPath::try_from_path(path).map_err(read_err)?)
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .finish()
            .and_then(LazyFrame::collect)
            .map_err(read_err)?;
        let text_column = |name: &'static str, required: bool| match frame.column(name) {
            Ok(column) => Ok(Some(
                column
                    .str()
                    .map_err(read_err)?
                    .iter()
                    .map(|v| v.map(str::trim).filter(|v| !v.is_empty()).map(String::from))
                    .collect::<Vec<_>>(),
            )),
            Err(_) if !required => Ok(None),
            Err(_) => Err(NormalizeError::MissingColumn {
                path: path.to_path_buf(),
                column: name,
                found: frame
                    .get_column_names()
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        };
        let aliases = text_column(schema::ALIAS, true)?.unwrap_or_default();
        let agents = text_column(schema::AGENT, true)?.unwrap_or_default();
        let teams = text_column(schema::TEAM, false)?;
        let kinds = text_column(schema::KIND, false)?;

        let mut rows = Vec::with_capacity(aliases.len());
        for (i, (alias, agent)) in aliases.into_iter().zip(agents).enumerate() {
            let row = i + 1;
            let bad = |column: &'static str, message: &str| NormalizeError::BadValue {
                path: path.to_path_buf(),
                row,
                column,
                message: message.to_string(),
            };
            let alias = alias.ok_or_else(|| bad(schema::ALIAS, "empty alias"))?;
            let agent = agent.ok_or_else(|| bad(schema::AGENT, "empty agent"))?;
            let team = teams.as_ref().and_then(|t| t[i].clone());
            let kind_text = kinds
                .as_ref()
                .and_then(|k| k[i].clone())
                .unwrap_or_default();
            let kind = AgentKind::parse(&kind_text).ok_or_else(|| {
                bad(
                    schema::KIND,
                    &format!("`{kind_text}` is not a kind; expected `human` or `service`"),
                )
            })?;
            rows.push((row, alias, Identity { agent, team, kind }));
        }
        let count = rows.len();
        let mut map = IdentityMap::from_rows(path, rows)?;
        map.rows = count;
        Ok(map)
    }

    /// Rows the identity file had.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn from_rows(
        path: &Path,
        rows: Vec<(usize, String, Identity)>,
    ) -> Result<IdentityMap, NormalizeError> {
        let mut map = IdentityMap::default();
        for (row, alias, identity) in &rows {
            map.insert(path, *row, alias, identity)?;
        }
        // Canonical names are aliases of themselves, unless some row says otherwise.
        for (row, _, identity) in &rows {
            let key = alias_key(&identity.agent);
            if !map.by_alias.contains_key(&key) {
                map.insert(path, *row, &identity.agent, identity)?;
            }
        }
        Ok(map)
    }

    fn insert(
        &mut self,
        path: &Path,
        row: usize,
        alias: &str,
        identity: &Identity,
    ) -> Result<(), NormalizeError> {
        let key = alias_key(alias);
        match self.by_alias.get(&key) {
            Some(existing) if existing.agent != identity.agent => {
                Err(NormalizeError::ConflictingAlias {
                    path: path.to_path_buf(),
                    row,
                    alias: alias.to_string(),
                    first: existing.agent.clone(),
                    second: identity.agent.clone(),
                })
            }
            Some(existing) => {
                // The same agent listed twice: a team or kind given once fills the other row.
                let merged = Identity {
                    agent: existing.agent.clone(),
                    team: existing.team.clone().or_else(|| identity.team.clone()),
                    kind: existing.kind.max(identity.kind),
                };
                self.by_alias.insert(key, merged);
                Ok(())
            }
            None => {
                self.by_alias.insert(key, identity.clone());
                Ok(())
            }
        }
    }

    pub fn resolve(&self, name: &str) -> Option<&Identity> {
        self.by_alias.get(&alias_key(name))
    }

    /// The agent a name belongs to: the mapped agent, or the name itself, lowercased, as
    /// [`apply`] names it. (Names reach both trimmed: the checks strip every text column.)
    pub fn canonical(&self, name: &str) -> String {
        self.resolve(name)
            .map_or_else(|| alias_key(name), |identity| identity.agent.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.by_alias.is_empty()
    }

    /// Every alias (trimmed, lowercased) with its identity, in alias order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Identity)> {
        self.by_alias.iter().map(|(alias, i)| (alias.as_str(), i))
    }

    /// A map of (alias, agent) pairs, for tests elsewhere in the crate.
    #[cfg(test)]
    pub(crate) fn for_tests(pairs: &[(&str, &str)]) -> IdentityMap {
        let rows = pairs
            .iter()
            .enumerate()
            .map(|(row, (alias, agent))| {
                (
                    row + 1,
                    alias.to_string(),
                    Identity {
                        agent: agent.to_string(),
                        team: None,
                        kind: AgentKind::Human,
                    },
                )
            })
            .collect();
        IdentityMap::from_rows(Path::new("identities.csv"), rows).expect("no conflicts")
    }

    fn frame(&self) -> LazyFrame {
        let keys: Vec<&str> = self.by_alias.keys().map(String::as_str).collect();
        let agents: Vec<&str> = self.by_alias.values().map(|i| i.agent.as_str()).collect();
        let teams: Vec<Option<&str>> = self.by_alias.values().map(|i| i.team.as_deref()).collect();
        let kinds: Vec<&str> = self.by_alias.values().map(|i| i.kind.name()).collect();
        df![
            ALIAS_KEY => keys,
            ID_AGENT => agents,
            ID_TEAM => teams,
            ID_KIND => kinds,
        ]
        .expect("columns of equal length")
        .lazy()
    }
}

/// Replaces `agent` with the canonical agent, fills `team` from the map (the map wins) and adds
/// [`KIND`]. Agents the map does not know keep their name, trimmed and lowercased, and the team
/// their rows gave.
pub fn apply(frame: LazyFrame, map: &IdentityMap) -> LazyFrame {
    let frame = frame.with_column(col(schema::AGENT).str().to_lowercase().alias(ALIAS_KEY));
    if map.is_empty() {
        return frame.with_columns([
            col(ALIAS_KEY).alias(schema::AGENT),
            lit(AgentKind::Human.name()).alias(KIND),
        ]);
    }
    let joined = frame.join(
        map.frame(),
        [col(ALIAS_KEY)],
        [col(ALIAS_KEY)],
        JoinArgs::new(JoinType::Left),
    );
    let team = if has_team(&joined) {
        coalesce(&[col(ID_TEAM), col(schema::TEAM)])
    } else {
        col(ID_TEAM)
    };
    joined.with_columns([
        // Unmapped names are lowercased too, so `Dana@Corp.Example` and `dana@corp.example`
        // are one agent even without an identity map.
        coalesce(&[col(ID_AGENT), col(ALIAS_KEY)]).alias(schema::AGENT),
        team.alias(schema::TEAM),
        col(ID_KIND)
            .fill_null(lit(AgentKind::Human.name()))
            .alias(KIND),
    ])
}

fn has_team(frame: &LazyFrame) -> bool {
    frame
        .clone()
        .collect_schema()
        .map(|schema| schema.contains(schema::TEAM))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identities.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn aliases_match_case_insensitively_and_names_map_to_themselves() {
        let (_dir, path) = write(
            "alias,agent,team,kind\nJane.Doe@corp.example ,jane,payments,human\nci-bot,release-bot,infra,service\n",
        );
        let map = IdentityMap::load(&path).unwrap();
        assert_eq!(map.resolve("jane.doe@CORP.example").unwrap().agent, "jane");
        assert_eq!(
            map.resolve(" Jane ").unwrap().team.as_deref(),
            Some("payments")
        );
        assert_eq!(map.resolve("release-bot").unwrap().kind, AgentKind::Service);
        assert!(map.resolve("someone-else").is_none());
    }

    #[test]
    fn canonical_names_agents_as_the_plan_does() {
        // The behaviour fold maps names with `canonical`, the usage plan with `apply`: an
        // agent must come out of both under one name, or its fingerprints go unread.
        let (_dir, path) =
            write("alias,agent\nJane.Doe@corp.example,jane\nDana@Corp.Example,dana\n");
        let map = IdentityMap::load(&path).unwrap();
        let names = [
            "JANE.DOE@corp.example",
            "dana@corp.example",
            "Ünal.Kaya",
            "jane",
        ];
        let frame = df![schema::AGENT => names, "raw" => names].unwrap().lazy();
        let applied = apply(frame, &map).collect().unwrap();
        let column = |name: &str| -> Vec<String> {
            let values = applied.column(name).unwrap().str().unwrap();
            values.iter().map(|v| v.unwrap().to_string()).collect()
        };
        let mut applied: Vec<(String, String)> = column("raw")
            .into_iter()
            .zip(column(schema::AGENT))
            .collect();
        applied.sort();
        let mut canonical: Vec<(String, String)> = names
            .iter()
            .map(|n| (n.to_string(), map.canonical(n)))
            .collect();
        canonical.sort();
        assert_eq!(applied, canonical);
        let canonical: Vec<String> = names.iter().map(|n| map.canonical(n)).collect();
        assert_eq!(canonical, ["jane", "dana", "ünal.kaya", "jane"]);
    }

    #[test]
    fn an_alias_mapped_to_two_agents_names_both() {
        let (_dir, path) = write("alias,agent\njd,jane\nJD,john\n");
        let err = IdentityMap::load(&path).unwrap_err().to_string();
        assert!(err.contains("`jane`") && err.contains("`john`"), "{err}");
        assert!(err.contains("row 2"), "{err}");
    }

    #[test]
    fn a_missing_agent_column_is_named() {
        let (_dir, path) = write("alias,name\njd,jane\n");
        let err = IdentityMap::load(&path).unwrap_err().to_string();
        assert!(err.contains("`agent`"), "{err}");
    }
}
