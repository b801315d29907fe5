//! `pluto export` and `pluto import`: agents as `.tar.gz` bundles with a manifest of digests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::bundle;
use crate::compose::{SandboxArgs, load_agent};
use crate::serve::agents::materialize;

/// Arguments of `pluto export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The agent: a name in the agents folder, or a path to an agent folder or `.md` file.
    pub agent: String,

    /// Where to write the bundle (default: `AGENT.tar.gz` in the current folder).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The folder of agents the name is looked up in.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "agents",
        env = "PLUTO_AGENTS"
    )]
    pub agents: PathBuf,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Arguments of `pluto import`.
#[derive(Debug, clap::Args)]
#[command(after_help = "With --server, the admin key comes from PLUTO_ADMIN_KEY.")]
pub struct ImportArgs {
    /// The bundle (`.tar.gz`, as `pluto export` writes).
    pub bundle: PathBuf,

    /// Install into this agents folder.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "agents",
        env = "PLUTO_AGENTS"
    )]
    pub agents: PathBuf,

    /// Install through the admin API of this server instead (for example http://127.0.0.1:8080).
    #[arg(long, value_name = "URL", requires = "tenant")]
    pub server: Option<String>,

    /// The tenant to install the agent for (with --server).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,

    /// Replace an agent of the same name in the agents folder.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Writes `bytes` to `path` atomically.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Runs `pluto export`.
pub fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let agent = load_agent(&args.agent, &args.agents, &args.sandbox.policy_set())?;
    let manifest = agent.manifest_path();
    let source = if manifest.file_name().is_some_and(|n| n == "agent.yaml") {
        agent.base_dir().to_path_buf()
    } else {
        manifest
    };
    let files = bundle::read_agent(&source)?;
    let name = agent.manifest.name.as_str();
    let bytes = bundle::pack(name, &files)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.tar.gz")));
    write_atomic(&output, &bytes)?;
    eprintln!(
        "exported agent `{name}` ({} file(s), {} bytes) to {}",
        files.len(),
        bytes.len(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `pluto import`.
pub async fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.bundle)
        .with_context(|| format!("reading {}", args.bundle.display()))?;
    let (name, files) = bundle::unpack(&bytes)
        .with_context(|| format!("{} is not a valid bundle", args.bundle.display()))?;
    let policies = args.sandbox.policy_set();
    let scratch = tempfile::tempdir()?;
    let agent = materialize(&files, &scratch.path().join(&name), &policies)
        .map_err(|e| anyhow::anyhow!("the bundled agent is not valid:\n{e}"))?;
    if agent.manifest.name.as_str() != name {
        bail!(
            "the bundle says agent `{name}`, its manifest `{}`",
            agent.manifest.name.as_str()
        );
    }
    if let (Some(server), Some(tenant)) = (&args.server, &args.tenant) {
        let url = format!(
            "{}/admin/v1/tenants/{tenant}/agents/{name}",
            server.trim_end_matches('/')
        );
        let mut request = reqwest::Client::new()
            .put(&url)
            .header("content-type", "application/gzip")
            .body(bytes);
        if let Ok(key) = std::env::var("PLUTO_ADMIN_KEY") {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.with_context(|| format!("PUT {url}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("the server refused the agent ({status}): {body}");
        }
        eprintln!("imported agent `{name}` for tenant `{tenant}` on {server}");
        return Ok(ExitCode::SUCCESS);
    }
    let folder_form = files.contains_key("agent.yaml");
    let target = if folder_form {
        args.agents.join(&name)
    } else {
        args.agents
            .join(files.keys().next().expect("one file at least"))
    };
    if target.exists() && !args.force {
        bail!("{} exists; pass --force to replace it", target.display());
    }
    std::fs::create_dir_all(&args.agents)
        .with_context(|| format!("creating {}", args.agents.display()))?;
    let installed = scratch.path().join(&name);
    let from = if folder_form {
        installed
    } else {
        installed.join(target.file_name().expect("a file name"))
    };
    if target.is_dir() {
        std::fs::remove_dir_all(&target)?;
    } else if target.exists() {
        std::fs::remove_file(&target)?;
    }
    if std::fs::rename(&from, &target).is_err() {
        // Another file system: copy instead.
        copy_tree(&from, &target)?;
    }
    eprintln!("imported agent `{name}` into {}", target.display());
    Ok(ExitCode::SUCCESS)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    if from.is_file() {
        std::fs::copy(from, to)?;
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}
