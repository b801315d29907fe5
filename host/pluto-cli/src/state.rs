//! Where state lives (`--state`, `--artifacts`, `--data`), and `pluto migrate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pluto_services::{PgStore, Services, StateConfig, redact as redacted};

/// Where sessions, memory and artifacts are kept: shared by `run`, `chat`, `serve` and
/// `migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Where sessions and memory are kept: `file://PATH`, `postgres://USER@HOST/DB[?schema=S]`
    /// or `redis://HOST[:PORT][/DB][?ttl=SECONDS]` (Redis holds sessions; memory and the
    /// artifact index stay in --data).
    #[arg(
        long,
        value_name = "URL",
        default_value = "file://.pluto",
        env = "PLUTO_STATE"
    )]
    pub state: String,

    /// Where artifact bytes are kept: `file://PATH` or
    /// `s3://BUCKET/PREFIX?endpoint=URL&region=R` (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY). Default: beside file state, or in --data.
    #[arg(long, value_name = "URL", env = "PLUTO_ARTIFACTS")]
    pub artifacts: Option<String>,

    /// The folder for what an external state backend does not hold.
    #[arg(long, value_name = "DIR", default_value = ".pluto", env = "PLUTO_DATA")]
    pub data: PathBuf,

    /// The most bytes of artifacts one tenant may keep.
    #[arg(long, value_name = "BYTES", default_value_t = pluto_services::DEFAULT_TENANT_LIMIT, env = "PLUTO_ARTIFACT_LIMIT")]
    pub artifact_limit: u64,
}

impl StateArgs {
    /// The services these flags describe, opened (migrations run).
    pub async fn open(&self) -> anyhow::Result<Services> {
        let config = StateConfig {
            state: self.state.clone(),
            artifacts: self.artifacts.clone(),
            data: self.data.clone(),
            artifact_limit: self.artifact_limit,
            ..StateConfig::default()
        };
        pluto_services::open(&config)
            .await
            .with_context(|| format!("opening the state store {}", redacted(&self.state)))
    }
}

/// Arguments of `pluto migrate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Pluto runs its migrations by itself at start; this command runs them ahead of a \
deployment (for example from a Kubernetes job) and reports what it did."
)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub state: StateArgs,
}

/// Runs `pluto migrate`.
pub async fn migrate(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let url = &args.state.state;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::connect_only(url, 1)
            .await
            .with_context(|| format!("connecting to {}", redacted(url)))?;
        let ran = store.migrate().await?;
        eprintln!("PostgreSQL: {ran} migration(s) applied; the schema is up to date");
    } else {
        args.state.open().await?;
        eprintln!("{}: nothing to migrate", redacted(url));
    }
    Ok(ExitCode::SUCCESS)
}
