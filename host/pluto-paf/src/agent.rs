//! Loading one agent, in either PAF form.
//!
//! - Folder form: `NAME/agent.yaml` (the manifest) and `NAME/instructions.md`.
//! - Single-file form: `NAME.md`, whose YAML front matter (between `---` lines) is the manifest
//!   and whose Markdown body is the instructions.
//!
//! Both load into the same [`Agent`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics, Position};
use crate::instructions::Instructions;
use crate::manifest::Manifest;
use crate::policy::{Policy, PolicyRef, PolicySet};
use crate::source::Source;
use crate::tool::{McpTransport, ToolSpec};
use crate::yaml::{self, Index};

/// What a manifest is expected to hold, for errors.
const WHAT: &str = "a PAF manifest (paf: 1, name, description, model, ...)";

/// The default instructions file of a folder-form agent.
pub const DEFAULT_INSTRUCTIONS: &str = "instructions.md";

/// A loaded, checked agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// The manifest.
    pub manifest: Manifest,
    /// The instructions template.
    pub instructions: Instructions,
    /// Which form it was written in, and where.
    pub form: AgentForm,
    /// Where `name:` is written, for errors that concern the agent as a whole.
    pub name_position: Position,
    /// Where each `tools:` entry is written, in order.
    pub tool_positions: Vec<Position>,
}

/// The form an agent is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentForm {
    /// A folder holding `agent.yaml` and the instructions file.
    Folder {
        /// The agent's folder.
        dir: PathBuf,
    },
    /// A single Markdown file with YAML front matter.
    File {
        /// The `.md` file.
        path: PathBuf,
    },
}

impl Agent {
    /// Loads the agent at `path` (a folder with `agent.yaml`, or a `.md` file) and checks it,
    /// including that every policy it names is in `policies`. Reports every problem found.
    pub fn load(path: &Path, policies: &PolicySet) -> Result<Agent, Diagnostics> {
        if path.is_dir() {
            return Self::load_folder(path, policies);
        }
        if path.extension().is_some_and(|e| e == "md") {
            return Self::load_file(path, policies);
        }
        Err(Diagnostic::file(
            path,
            "not an agent: expected a folder with agent.yaml or a `.md` file",
        )
        .into())
    }

    /// The sandbox policy that applies to this agent's tools: its inline policy, or the named
    /// one from `policies` (load checked that it exists).
    pub fn policy<'a>(&'a self, policies: &'a PolicySet) -> Option<&'a Policy> {
        match &self.manifest.sandbox.policy {
            PolicyRef::Inline(policy) => Some(policy),
            PolicyRef::Named(name) => policies.get(name.as_str()),
        }
    }

    /// What keeps this agent from running sandboxed: each native (stdio) MCP server that its
    /// policy's `native_mcp.allow` does not name.
    pub fn sandbox_problems(&self, policies: &PolicySet) -> Vec<Diagnostic> {
        let Some(policy) = self.policy(policies) else {
            return Vec::new();
        };
        let policy_name = match &self.manifest.sandbox.policy {
            PolicyRef::Named(name) => format!("`{name}`"),
            PolicyRef::Inline(_) => "(inline)".to_owned(),
        };
        let mut problems = Vec::new();
        for (i, tool) in self.manifest.tools.iter().enumerate() {
            let ToolSpec::Mcp(server) = tool else {
                continue;
            };
            if !matches!(server.transport, McpTransport::Stdio { .. })
                || policy.native_mcp.allow.contains(&server.name)
            {
                continue;
            }
            let at = self
                .tool_positions
                .get(i)
                .copied()
                .unwrap_or(Position::START);
            problems.push(
                Diagnostic::at(
                    self.manifest_path(),
                    at,
                    format!(
                        "MCP server `{}` runs as a native process, which sandbox policy {policy_name} does not allow",
                        server.name
                    ),
                )
                .with_help(format!(
                    "add `{}` to `native_mcp.allow` in the policy, or run the server as WebAssembly (`wasm:`)",
                    server.name
                )),
            );
        }
        problems
    }

    /// The file holding the manifest: `agent.yaml` or the `.md` file.
    pub fn manifest_path(&self) -> PathBuf {
        match &self.form {
            AgentForm::Folder { dir } => dir.join("agent.yaml"),
            AgentForm::File { path } => path.clone(),
        }
    }

    /// The folder relative paths in the manifest (tool components, wasm servers) start from.
    pub fn base_dir(&self) -> &Path {
        match &self.form {
            AgentForm::Folder { dir } => dir,
            AgentForm::File { path } => path.parent().unwrap_or(Path::new(".")),
        }
    }

    fn load_folder(dir: &Path, policies: &PolicySet) -> Result<Agent, Diagnostics> {
        let manifest_path = dir.join("agent.yaml");
        if !manifest_path.is_file() {
            let yml = dir.join("agent.yml");
            let d = if yml.is_file() {
                Diagnostic::file(&yml, "a PAF manifest is named `agent.yaml`")
                    .with_help("rename it to agent.yaml")
            } else {
                Diagnostic::file(dir, "not an agent: the folder has no agent.yaml")
            };
            return Err(d.into());
        }
        let source = Source::read(&manifest_path)?;
        let (manifest, index): (Manifest, Index) = yaml::parse(&source, &source.text, 0, WHAT)?;
        let mut problems = check_manifest(&manifest, &source.path, &index, policies);

        let rel = manifest
            .instructions
            .as_ref()
            .map_or(Path::new(DEFAULT_INSTRUCTIONS), |p| p.as_path());
        let at = index.value_or_start("instructions");
        let instructions = match read_inside(dir, rel) {
            Err(why) => {
                let d = Diagnostic::at(
                    &source.path,
                    at,
                    format!("instructions file `{}` {why}", rel.display()),
                );
                let d = if manifest.instructions.is_none() {
                    d.with_help(format!(
                        "create {} or set `instructions:`",
                        dir.join(rel).display()
                    ))
                } else {
                    d
                };
                problems.push(d);
                None
            }
            Ok(path) => match Source::read(&path) {
                Err(d) => {
                    problems.push(d);
                    None
                }
                Ok(text) => parse_instructions(&manifest, &text, &text.text, 0, &mut problems),
            },
        };
        finish(
            manifest,
            instructions,
            AgentForm::Folder {
                dir: dir.to_path_buf(),
            },
            &index,
            problems,
        )
    }

    fn load_file(path: &Path, policies: &PolicySet) -> Result<Agent, Diagnostics> {
        let source = Source::read(path)?;
        let Some(front) = FrontMatter::split(&source.text) else {
            let message = if source.text.trim().is_empty() {
                "empty file: expected `---`, a YAML manifest, `---`, then the instructions"
            } else if source.text.starts_with("---") {
                "front matter is not closed: add a `---` line after the manifest"
            } else {
                "missing front matter: a single-file agent starts with a `---` line, its YAML manifest, and another `---` line"
            };
            return Err(Diagnostic::at(path, Position::START, message).into());
        };
        let (manifest, index): (Manifest, Index) = yaml::parse(&source, front.yaml, 1, WHAT)?;
        let mut problems = check_manifest(&manifest, path, &index, policies);
        if manifest.instructions.is_some() {
            let at = index.key("instructions").unwrap_or(Position::START);
            problems.push(Diagnostic::at(
                path,
                at,
                "`instructions` does not apply to a single-file agent: the Markdown body after the front matter is the instructions",
            ));
        }
        let instructions = parse_instructions(
            &manifest,
            &source,
            front.body,
            front.body_line,
            &mut problems,
        );
        finish(
            manifest,
            instructions,
            AgentForm::File {
                path: path.to_path_buf(),
            },
            &index,
            problems,
        )
    }
}

fn parse_instructions(
    manifest: &Manifest,
    source: &Source,
    text: &str,
    line_offset: usize,
    problems: &mut Vec<Diagnostic>,
) -> Option<Instructions> {
    let declared: Vec<&str> = manifest.vars.keys().map(|v| v.as_str()).collect();
    match Instructions::parse(source, text, line_offset, &declared) {
        Ok(i) => Some(i),
        Err(ds) => {
            problems.extend(ds);
            None
        }
    }
}

fn finish(
    manifest: Manifest,
    instructions: Option<Instructions>,
    form: AgentForm,
    index: &Index,
    problems: Vec<Diagnostic>,
) -> Result<Agent, Diagnostics> {
    match instructions {
        Some(instructions) if problems.is_empty() => Ok(Agent {
            tool_positions: (0..manifest.tools.len())
                .map(|i| index.value_or_start(&format!("tools[{i}]")))
                .collect(),
            manifest,
            instructions,
            form,
            name_position: index.value_or_start("name"),
        }),
        _ => Err(Diagnostics(problems)),
    }
}

/// Checks what types alone cannot: policy references and tool names.
fn check_manifest(
    manifest: &Manifest,
    file: &Path,
    index: &Index,
    policies: &PolicySet,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    match &manifest.sandbox.policy {
        PolicyRef::Named(name) => {
            problems.extend(policies.check_ref(name, file, index, "sandbox.policy"))
        }
        PolicyRef::Inline(policy) => problems.extend(policy.check(file, index, "sandbox.policy.")),
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, tool) in manifest.tools.iter().enumerate() {
        let (key, policy) = match tool {
            ToolSpec::Builtin(_) => ("builtin", None),
            ToolSpec::Component(c) => ("component", c.policy.as_ref()),
            ToolSpec::Mcp(m) => match &m.transport {
                McpTransport::Wasm { policy, .. } => ("mcp", policy.as_ref()),
                _ => ("mcp", None),
            },
        };
        if let Some(policy) = policy {
            problems.extend(policies.check_ref(policy, file, index, &format!("tools[{i}].policy")));
        }
        if let Some(first) = seen.insert(tool.name(), i) {
            let at = index.value_or_start(&format!("tools[{i}].{key}"));
            let first_line = index.value_or_start(&format!("tools[{first}]")).line;
            problems.push(Diagnostic::at(
                file,
                at,
                format!(
                    "duplicate tool entry `{}` (first listed on line {first_line})",
                    tool.name()
                ),
            ));
        }
    }
    problems
}

/// `rel` inside `dir`, if it exists there and does not lead outside it (through a symbolic link).
fn read_inside(dir: &Path, rel: &Path) -> Result<PathBuf, &'static str> {
    let path = dir.join(rel);
    let (Ok(real_dir), Ok(real)) = (dir.canonicalize(), path.canonicalize()) else {
        return Err("not found");
    };
    if !real.starts_with(&real_dir) {
        return Err("leads outside the agent's folder");
    }
    if !real.is_file() {
        return Err("is not a file");
    }
    Ok(path)
}

/// A single-file agent split at its front matter.
struct FrontMatter<'a> {
    yaml: &'a str,
    body: &'a str,
    /// How many lines precede the body.
    body_line: usize,
}

impl<'a> FrontMatter<'a> {
    /// Splits `---\nYAML\n---\nBODY`; `None` if the text does not open and close front matter.
    fn split(text: &'a str) -> Option<Self> {
        let is_fence = |line: &str| line.trim_end() == "---";
        let first_end = text.find('\n')?;
        if !is_fence(&text[..first_end]) {
            return None;
        }
        let yaml_start = first_end + 1;
        let mut offset = yaml_start;
        // The opening fence is line 1, so the first YAML line is line 2.
        for (line_no, line) in (2..).zip(text[yaml_start..].split_inclusive('\n')) {
            let content = line.trim_end_matches('\n');
            if is_fence(content) || content.trim_end() == "..." {
                return Some(FrontMatter {
                    yaml: &text[yaml_start..offset],
                    body: &text[offset + line.len()..],
                    body_line: line_no,
                });
            }
            offset += line.len();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_front_matter() {
        let f = FrontMatter::split("---\na: 1\nb: 2\n---\nBody\n").unwrap();
        assert_eq!((f.yaml, f.body, f.body_line), ("a: 1\nb: 2\n", "Body\n", 4));
        let crlf = FrontMatter::split("---\r\na: 1\r\n---\r\nx").unwrap();
        assert_eq!(crlf.body, "x");
        assert!(FrontMatter::split("no front matter").is_none());
        assert!(FrontMatter::split("---\na: 1\n").is_none());
    }
}
