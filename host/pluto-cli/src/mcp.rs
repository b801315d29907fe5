//! `pluto mcp list AGENT`: each of the agent's MCP servers, started, with the tools the model
//! would see (after the agent's include/exclude) and their input schemas.

use std::process::ExitCode;

use crate::compose::{SandboxArgs, load_agent, mcp_servers};

/// `pluto mcp …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start the agent's MCP servers and print their tools with their input schemas.
    List(ListArgs),
    /// Serve the agent's tools to an MCP client over stdio.
    Serve(ServeArgs),
}

/// Arguments of `pluto mcp list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The agent: a name in the agents folder, or a path to an agent folder or `.md` file.
    pub agent: String,

    /// The folder of agents the name is looked up in.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "agents",
        env = "PLUTO_AGENTS"
    )]
    pub agents: std::path::PathBuf,

    /// The folder the servers start in (default: the current folder).
    #[arg(long, value_name = "DIR", env = "PLUTO_WORKSPACE")]
    pub workspace: Option<std::path::PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Runs `pluto mcp …`.
pub async fn run(command: &Command) -> anyhow::Result<ExitCode> {
    let args = match command {
        Command::List(args) => args,
        Command::Serve(args) => return serve(args).await,
    };
    let policies = args.sandbox.policy_set();
    let agent = load_agent(&args.agent, &args.agents, &policies)?;
    let workspace = match &args.workspace {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let servers = mcp_servers(&agent, &policies, &workspace).await?;
    if servers.is_empty() {
        eprintln!(
            "agent `{}` has no MCP servers",
            agent.manifest.name.as_str()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let listed = pluto_mcp::describe(&servers).await;
    for server in &servers {
        server.stop().await;
    }
    let mut failed = false;
    if args.json {
        let out: serde_json::Map<String, serde_json::Value> = listed
            .iter()
            .map(|(name, r)| {
                let v = match r {
                    Ok(tools) => {
                        serde_json::json!({"tools": tools.iter().map(|t| serde_json::json!({
                        "name": format!("{name}__{}", t.name), "description": t.description,
                        "input_schema": t.input_schema})).collect::<Vec<_>>()})
                    }
                    Err(e) => {
                        failed = true;
                        serde_json::json!({"error": e.to_string()})
                    }
                };
                (name.clone(), v)
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (name, r) in &listed {
            match r {
                Ok(tools) => {
                    println!("{name}: {} tool(s)", tools.len());
                    for t in tools {
                        println!(
                            "  {name}__{}: {}",
                            t.name,
                            t.description.lines().next().unwrap_or("")
                        );
                        println!("    input: {}", t.input_schema);
                    }
                }
                Err(e) => {
                    failed = true;
                    println!("{name}: error: {}", e.message);
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Arguments of `pluto mcp serve`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Speaks MCP on stdin/stdout (logs go to stderr) until stdin closes. With --sandbox, the \
built-in tools run in the WebAssembly sandbox under the agent's policy."
)]
pub struct ServeArgs {
    /// The agent whose tools to serve.
    #[arg(long)]
    pub agent: String,

    /// The largest JSON-RPC message accepted, in bytes; a larger request is answered with a
    /// JSON-RPC error naming this limit, and serving goes on.
    #[arg(long, value_name = "BYTES", default_value_t = pluto_mcp::frame::DEFAULT_MAX_MESSAGE, env = "PLUTO_MCP_MAX_MESSAGE")]
    pub max_message: usize,

    #[command(flatten)]
    pub common: crate::compose::AgentArgs,
}

/// Runs `pluto mcp serve`.
pub async fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    use rmcp::ServiceExt;
    let services = args.common.state.open().await?;
    let policies = args.common.sandbox.policy_set();
    let agent = load_agent(&args.agent, &args.common.agents, &policies)?;
    let workspace = args.common.workspace_dir()?;
    // Serving tools needs no model: a missing provider key is not an error here.
    let prepared = crate::compose::build(
        agent,
        &policies,
        &args.common,
        services,
        pluto_services::Tenant::default_tenant(),
        workspace,
        true,
    )
    .await?;
    for warning in &prepared.skipped {
        eprintln!("warning: {warning}");
    }
    let name = prepared.agent.manifest.name.as_str().to_owned();
    let workspace = prepared.workspace.clone();
    let tools: std::sync::Arc<dyn pluto_core::ToolExecutor> = std::sync::Arc::new(prepared.tools);
    let server = pluto_mcp::server::ToolServer::new(&name, tools, workspace);
    let stdio =
        pluto_mcp::frame::bounded(tokio::io::stdin(), tokio::io::stdout(), args.max_message);
    let running = match server.serve((stdio.read, stdio.write)).await {
        Ok(running) => running,
        // The client went away before the handshake: nothing to serve, not a failure.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => anyhow::bail!("starting the MCP session: {e}"),
    };
    let _ = running.waiting().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), stdio.flushed).await;
    Ok(ExitCode::SUCCESS)
}
