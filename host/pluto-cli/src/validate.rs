//! `pluto validate`: load agents and policies the way the server will, and report problems.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::compose::SandboxArgs;
use pluto_paf::catalog::sorted_entries;
use pluto_paf::manifest::SandboxMode;
use pluto_paf::{Catalog, Diagnostic, Diagnostics, Policy, PolicySet};
use serde::Serialize;

/// Arguments of `pluto validate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when everything is valid, 1 when there are problems, 2 on usage errors."
)]
pub struct Args {
    /// What to check: an agent folder, an agent `.md` file, a folder of agents, a policy file, or
    /// a folder of policies. Default: ./agents and ./sandbox-policies.
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Output format: `text` (FILE:LINE:COL lines) or `json` (for tools).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per problem (`FILE:LINE:COL: error: MESSAGE`) or per valid agent and policy.
    Text,
    /// One JSON document.
    Json,
}

/// What a path given on the command line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Agent,
    AgentDir,
    Policy,
    PolicyDir,
}

#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    agents: Vec<AgentLine>,
    policies: Vec<PolicyLine>,
    problems: Vec<Diagnostic>,
}

#[derive(Debug, Serialize)]
struct AgentLine {
    name: String,
    file: PathBuf,
    provider: &'static str,
    model: String,
    tools: Vec<String>,
}

#[derive(Debug, Serialize)]
struct PolicyLine {
    name: String,
    file: PathBuf,
}

/// Runs the command; `Ok` carries the exit code (0 valid, 1 problems).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let report = check(args);
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report).context("writing the report")?;
            writeln!(out)?;
        }
        Format::Text => print_text(&mut out, &report)?,
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check(args: &Args) -> Report {
    let mut problems = Vec::new();
    let paths = if args.paths.is_empty() {
        let defaults: Vec<PathBuf> = ["agents", "sandbox-policies"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect();
        if defaults.is_empty() {
            problems.push(
                Diagnostic::file(
                    ".",
                    "nothing to validate: no ./agents or ./sandbox-policies folder here",
                )
                .with_help("pass the agents or policies to check: pluto validate PATH..."),
            );
        }
        defaults
    } else {
        args.paths.clone()
    };
    let mut targets = Vec::new();
    for path in paths {
        match classify(&path) {
            // The manifest stands for its agent folder.
            Ok(Target::Agent) if path.ends_with("agent.yaml") => {
                let dir = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                targets.push((dir.to_path_buf(), Target::Agent));
            }
            Ok(kind) => targets.push((path, kind)),
            Err(d) => problems.push(d),
        }
    }

    // Policies first: agents name them.
    let mut policies = PolicySet::builtin();
    let lookup_dir_is_target = targets
        .iter()
        .any(|(p, k)| *k == Target::PolicyDir && same_file(p, &args.sandbox.policies));
    if args.sandbox.policies.is_dir() && !lookup_dir_is_target {
        problems.extend(policies.load_dir(&args.sandbox.policies));
    }
    for (path, kind) in &targets {
        match kind {
            Target::PolicyDir => problems.extend(policies.load_dir(path)),
            Target::Policy => match Policy::load_file(path) {
                Ok(policy) => problems.extend(policies.insert(policy, path).err()),
                Err(Diagnostics(ds)) => problems.extend(ds),
            },
            Target::Agent | Target::AgentDir => {}
        }
    }

    let mut agents = Catalog::default();
    for (path, kind) in &targets {
        match kind {
            Target::AgentDir => problems.extend(agents.add_dir(path, &policies)),
            Target::Agent => problems.extend(agents.add(path, &policies)),
            Target::Policy | Target::PolicyDir => {}
        }
    }

    for agent in agents.iter() {
        if args.sandbox.sandbox || agent.manifest.sandbox.mode == SandboxMode::Required {
            problems.extend(agent.sandbox_problems(&policies));
        }
    }

    // Grouped by file, in reading order, whichever phase found them.
    problems.sort_by(|a, b| (&a.file, a.position).cmp(&(&b.file, b.position)));
    Report {
        valid: problems.is_empty(),
        agents: agents
            .iter()
            .map(|a| AgentLine {
                name: a.manifest.name.to_string(),
                file: a.manifest_path(),
                provider: a.manifest.model.provider.as_str(),
                model: a.manifest.model.name.to_string(),
                tools: a
                    .manifest
                    .tools
                    .iter()
                    .map(|t| t.name().to_owned())
                    .collect(),
            })
            .collect(),
        policies: policies
            .files()
            .map(|(p, path)| PolicyLine {
                name: p.name.as_ref().map(ToString::to_string).unwrap_or_default(),
                file: path.to_path_buf(),
            })
            .collect(),
        problems,
    }
}

/// Decides what `path` is, by its shape on disk.
fn classify(path: &Path) -> Result<Target, Diagnostic> {
    let meta =
        std::fs::metadata(path).map_err(|_| Diagnostic::file(path, "no such file or folder"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if meta.is_file() {
        return if name == "agent.yaml" {
            Ok(Target::Agent)
        } else if name.ends_with(".md") {
            if name.eq_ignore_ascii_case("README.md") {
                Err(Diagnostic::file(
                    path,
                    "a README.md documents a folder and is not an agent",
                ))
            } else {
                Ok(Target::Agent)
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            Ok(Target::Policy)
        } else {
            Err(Diagnostic::file(
                path,
                "not an agent or a policy: expected a `.md` agent, an agent folder or a `.yaml` policy",
            ))
        };
    }
    if path.join("agent.yaml").is_file() || path.join("agent.yml").is_file() {
        return Ok(Target::Agent);
    }
    // A folder of policies holds YAML files and no agents; anything else is a folder of agents.
    let entries = sorted_entries(path)?;
    let is_agent = |p: &PathBuf| {
        p.is_dir() || p.extension().is_some_and(|e| e == "md") && !p.ends_with("README.md")
    };
    let has_yaml = entries
        .iter()
        .any(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    match (has_yaml, entries.iter().any(is_agent)) {
        (true, false) => Ok(Target::PolicyDir),
        (_, true) => Ok(Target::AgentDir),
        (false, false) => Err(Diagnostic::file(
            path,
            "not an agent: the folder has no agent.yaml, and holds no agents or policies",
        )),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn print_text(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    for d in &report.problems {
        writeln!(out, "{d}")?;
    }
    if report.valid {
        for a in &report.agents {
            let tools = if a.tools.is_empty() {
                "none".to_owned()
            } else {
                a.tools.join(", ")
            };
            writeln!(
                out,
                "ok: agent `{}` ({}): {} {}, tools: {tools}",
                a.name,
                a.file.display(),
                a.provider,
                a.model
            )?;
        }
        for p in &report.policies {
            writeln!(out, "ok: policy `{}` ({})", p.name, p.file.display())?;
        }
    }
    let summary = format!(
        "{} valid, {} valid",
        plural(report.agents.len(), "agent"),
        plural(report.policies.len(), "policy file")
    );
    if report.valid {
        writeln!(out, "{summary}")
    } else {
        writeln!(
            out,
            "error: {} found ({summary})",
            plural(report.problems.len(), "problem")
        )
    }
}

fn plural(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "policy file") => format!("{n} policy files"),
        _ => format!("{n} {noun}s"),
    }
}
