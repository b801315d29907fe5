//! A catalog of agents: every agent of a folder, by name.
//!
//! A folder of agents holds single-file agents (`NAME.md`) and agent folders (`NAME/agent.yaml`).
//! A `README.md` documents the folder and is not an agent; hidden entries are skipped. Loading
//! reports every broken agent, not just the first, and keeps the good ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::agent::Agent;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::policy::{PolicySet, is_yaml};
use crate::scalar::AgentName;
use crate::source::io_reason;

/// Agents by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    agents: BTreeMap<AgentName, Agent>,
}

impl Catalog {
    /// Loads every agent in `dir`; returns the good ones and a diagnostic for each problem.
    pub fn load_dir(dir: &Path, policies: &PolicySet) -> (Catalog, Vec<Diagnostic>) {
        let mut catalog = Catalog::default();
        let problems = catalog.add_dir(dir, policies);
        (catalog, problems)
    }

    /// Adds every agent in `dir`; returns the problems found.
    pub fn add_dir(&mut self, dir: &Path, policies: &PolicySet) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        let entries = match sorted_entries(dir) {
            Ok(entries) => entries,
            Err(d) => return vec![d],
        };
        for path in entries {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if name.eq_ignore_ascii_case("README.md") {
                continue;
            }
            if path.is_dir() || name.ends_with(".md") {
                problems.extend(self.add(&path, policies));
            } else if is_yaml(&path) {
                let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
                problems.push(
                    Diagnostic::file(&path, "not an agent: a folder of agents holds `NAME.md` files and `NAME/` folders")
                        .with_help(format!("move it to {}", dir.join(stem).join("agent.yaml").display())),
                );
            }
        }
        problems
    }

    /// Loads the agent at `path` (folder or `.md` file) and adds it; returns its problems.
    pub fn add(&mut self, path: &Path, policies: &PolicySet) -> Vec<Diagnostic> {
        match Agent::load(path, policies) {
            Ok(agent) => self.insert(agent).err().into_iter().collect(),
            Err(Diagnostics(ds)) => ds,
        }
    }

    /// Adds a loaded agent; a second agent with the same name is an error.
    pub fn insert(&mut self, agent: Agent) -> Result<(), Diagnostic> {
        if let Some(first) = self.agents.get(&agent.manifest.name) {
            let first_at = first.name_position;
            return Err(Diagnostic::at(
                agent.manifest_path(),
                agent.name_position,
                format!(
                    "duplicate agent name `{}`: already defined at {}:{}:{}",
                    agent.manifest.name,
                    first.manifest_path().display(),
                    first_at.line,
                    first_at.column
                ),
            )
            .with_help("agent names are unique; rename one of them"));
        }
        self.agents.insert(agent.manifest.name.clone(), agent);
        Ok(())
    }

    /// The agent called `name`.
    pub fn get(&self, name: &str) -> Option<&Agent> {
        self.agents
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, a)| a)
    }

    /// Every agent, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    /// How many agents there are.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

/// The entries of `dir` in name order, hidden ones (`.name`) left out.
pub fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::file(dir, format!("cannot read folder: {}", io_reason(&e))))?;
    let mut paths: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    paths.sort();
    Ok(paths)
}
