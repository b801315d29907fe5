//! The composition root for running an agent: from a name on the command line to a provider,
//! a toolbox and a run spec. The only place that reads the environment for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pluto_core::Provider;
use pluto_paf::manifest::SandboxMode;
use pluto_paf::scalar::{Digest, WasmSource};
use pluto_paf::tool::{Builtin, McpTransport, ToolSpec};
use pluto_paf::{Agent, Catalog, PolicySet};
use pluto_provider::{Endpoint, HttpClient};
use pluto_runtime::{Limits, RunSpec, SessionContext};
use pluto_sandbox::{Sandbox, SandboxConfig, guests};
use pluto_services::{NewSession, Services, SessionId, Tenant};
use pluto_tools::Toolbox;
use pluto_tools::memory::MemoryAccess;

use crate::state::StateArgs;

/// Where agents come from and where their tools work: flags shared by `run` and `chat`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The folder of agents the AGENT name is looked up in.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "agents",
        env = "PLUTO_AGENTS"
    )]
    pub agents: PathBuf,

    /// The folder the agent's tools work in (files, shell). Default: the current folder.
    #[arg(long, value_name = "DIR", env = "PLUTO_WORKSPACE")]
    pub workspace: Option<PathBuf>,

    /// A value for the instructions' `{{vars.NAME}}`, as NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,

    /// Who is talking, for memory kept per user (`memory.scope: user`).
    #[arg(long, value_name = "NAME", default_value = "local", env = "PLUTO_USER")]
    pub user: String,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    #[command(flatten)]
    pub state: StateArgs,
}

/// Where sandbox policies come from and whether tools run sandboxed: shared by `run`, `chat`
/// and `validate`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// The folder of sandbox policies the agents may name (`sandbox.policy`).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "sandbox-policies",
        env = "PLUTO_POLICIES"
    )]
    pub policies: PathBuf,

    /// Run tools in the WebAssembly sandbox under the agent's policy (for `validate`: check that
    /// every agent can; agents with `sandbox: { mode: required }` always are).
    #[arg(long, env = "PLUTO_SANDBOX", value_parser = clap::builder::BoolishValueParser::new())]
    pub sandbox: bool,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

/// Everything a run of one agent needs, built once and reused for every prompt of a chat.
pub struct Prepared {
    /// The agent.
    pub agent: Agent,
    /// Its rendered instructions.
    pub system: String,
    /// The `--var` values the instructions were rendered with.
    pub vars: BTreeMap<String, String>,
    /// Its provider.
    pub provider: Arc<dyn Provider>,
    /// Its tools.
    pub tools: Toolbox,
    /// Where its tools work.
    pub workspace: PathBuf,
    /// Tool entries not available yet, with the reason (reported once, as warnings).
    pub skipped: Vec<String>,
    /// Whether the tools run in the sandbox.
    pub sandboxed: bool,
    /// Sessions, memory and artifacts.
    pub services: Services,
    /// The tenant runs belong to (the implicit one on the command line).
    pub tenant: Tenant,
    /// The agent's memory, when it has `memory.enabled`.
    pub memory: Option<MemoryAccess>,
}

impl Prepared {
    /// The spec of one run.
    pub fn spec(&self) -> RunSpec<'_> {
        let m = &self.agent.manifest;
        RunSpec {
            run_id: uuid::Uuid::now_v7().to_string(),
            agent: m.name.as_str(),
            model: m.model.name.as_str(),
            system: &self.system,
            temperature: m.model.temperature.map(|t| t.0),
            max_tokens: m.model.max_tokens.map(|n| n.get()),
            limits: Limits {
                max_turns: m.limits.max_turns.get(),
                timeout: m.limits.timeout.0,
                max_parallel_tools: m.limits.max_parallel_tools.get() as usize,
            },
            workspace: self.workspace.clone(),
            session: None,
        }
    }

    /// The names of the agent's tools.
    pub fn tools_names(&self) -> Vec<&str> {
        use pluto_core::ToolExecutor;
        self.tools
            .definitions()
            .iter()
            .map(|d| d.name.as_str())
            .collect()
    }

    /// The instructions rendered with `extra` values on top of the `--var` ones.
    pub fn system_with(&self, extra: &BTreeMap<String, String>) -> anyhow::Result<String> {
        if extra.is_empty() {
            return Ok(self.system.clone());
        }
        let mut vars = self.vars.clone();
        vars.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.agent
            .instructions
            .render(
                &self.agent.manifest,
                &vars,
                &pluto_paf::instructions::today(),
            )
            .map_err(|e| anyhow::anyhow!("{e}: pass it in `vars`"))
    }

    /// Where a run in `session` is kept, and the memory it searches.
    pub fn session(&self, session: SessionId) -> anyhow::Result<SessionContext> {
        let memory = match &self.memory {
            Some(access) => Some((
                access.store.clone(),
                access
                    .scope(Some(session.as_str()))
                    .map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        Ok(SessionContext {
            sessions: self.services.sessions.clone(),
            tenant: self.tenant.clone(),
            session,
            memory,
        })
    }

    /// Continues the stored session `id` (which must belong to this agent), or starts a new one.
    pub async fn open_session(&self, id: Option<&str>) -> anyhow::Result<(SessionId, bool)> {
        let agent = self.agent.manifest.name.as_str();
        if let Some(id) = id {
            let id = SessionId::new(id)?;
            let session = self
                .services
                .sessions
                .get(&self.tenant, &id)
                .await
                .with_context(|| format!("in {}", self.services.describe))?;
            if session.agent != agent {
                bail!(
                    "session {id} belongs to agent `{}`, not `{agent}`",
                    session.agent
                );
            }
            return Ok((id, false));
        }
        let session = self
            .services
            .sessions
            .create(
                &self.tenant,
                NewSession {
                    agent: agent.to_owned(),
                    ..NewSession::default()
                },
            )
            .await?;
        Ok((session.id, true))
    }
}

/// Loads `name` (an agent in `--agents`, or a path to an agent folder or `.md` file) and builds
/// what running it needs.
pub async fn prepare(name: &str, args: &AgentArgs, services: Services) -> anyhow::Result<Prepared> {
    let policies = args.sandbox.policy_set();
    let agent = load_agent(name, &args.agents, &policies)?;
    let workspace = args.workspace_dir()?;
    build(
        agent,
        &policies,
        args,
        services,
        Tenant::default_tenant(),
        workspace,
        false,
    )
    .await
}

/// The one HTTP client of the process: its connection pool and TLS roots are shared by every
/// agent (one per agent would cost ~100 KiB each, which thousands of tenants feel).
fn shared_http() -> HttpClient {
    static SHARED: std::sync::OnceLock<HttpClient> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| HttpClient::new().with_idle_timeout(Duration::from_secs(300)))
        .clone()
}

/// A provider that cannot be reached as configured (a missing key): every turn fails with why.
/// The server uses it so that an agent without its key still has a card and a clear run error.
struct Unconfigured(pluto_core::ProviderError);

#[async_trait::async_trait]
impl Provider for Unconfigured {
    async fn complete(
        &self,
        _request: &pluto_core::ChatRequest<'_>,
        _on_text: &mut pluto_core::OnText<'_>,
    ) -> Result<pluto_core::Turn, pluto_core::ProviderError> {
        Err(self.0.clone())
    }
}

impl SandboxArgs {
    /// The built-in policies and those in `--policies` (problems are logged).
    pub fn policy_set(&self) -> PolicySet {
        let mut policies = PolicySet::builtin();
        if self.policies.is_dir() {
            for problem in policies.load_dir(&self.policies) {
                tracing::warn!("{problem}");
            }
        }
        policies
    }
}

impl AgentArgs {
    /// `--workspace`, or the current folder; it must be a folder.
    pub fn workspace_dir(&self) -> anyhow::Result<PathBuf> {
        let workspace = match &self.workspace {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("reading the current folder")?,
        };
        if !workspace.is_dir() {
            bail!("the workspace {} is not a folder", workspace.display());
        }
        Ok(workspace)
    }
}

/// Builds what running `agent` needs, for `tenant`, with its tools working in `workspace`. With
/// `defer_missing_key`, a missing provider key fails each run instead of the build.
pub async fn build(
    agent: Agent,
    policies: &PolicySet,
    args: &AgentArgs,
    services: Services,
    tenant: Tenant,
    workspace: PathBuf,
    defer_missing_key: bool,
) -> anyhow::Result<Prepared> {
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    let system = agent
        .instructions
        .render(&agent.manifest, &vars, &pluto_paf::instructions::today())
        .map_err(|e| anyhow::anyhow!("{e}; pass it with --var {}=VALUE", e.0))?;

    let model = &agent.manifest.model;
    let env = |k: &str| std::env::var(k).ok();
    let base_url = match &model.base_url {
        Some(url) => Some(url.resolve(env).context("resolving model.base_url")?),
        None => None,
    };
    let endpoint = Endpoint::resolve(model.provider, base_url.as_deref(), env);
    if let (false, Err(e)) = (defer_missing_key, &endpoint) {
        return Err(e.clone().into());
    }
    let http = shared_http();
    let sandboxed = args.sandbox.sandbox || agent.manifest.sandbox.mode == SandboxMode::Required;
    let (tools, skipped) = toolbox(&agent, policies, &workspace, &http, sandboxed).await?;
    let provider: Arc<dyn Provider> = match endpoint {
        Ok(endpoint) => pluto_provider::provider(model.provider, endpoint, http),
        Err(missing) => Arc::new(Unconfigured(missing)),
    };
    let memory = agent.manifest.memory.enabled.then(|| MemoryAccess {
        store: services.memory.clone(),
        tenant: tenant.clone(),
        scope: agent.manifest.memory.scope,
        user: args.user.clone(),
        agent: agent.manifest.name.as_str().to_owned(),
    });
    let mut tools = tools;
    if let Some(access) = &memory {
        access
            .scope(Some("check"))
            .map_err(|e| anyhow::anyhow!("--user: {e}"))?;
        for tool in pluto_tools::memory::tools(access.clone()) {
            tools.add(tool)?;
        }
    }
    Ok(Prepared {
        agent,
        system,
        vars,
        provider,
        tools,
        workspace,
        skipped,
        sandboxed,
        services,
        tenant,
        memory,
    })
}

/// Where compiled components are cached: `$XDG_CACHE_HOME/pluto/wasm` or `~/.cache/pluto/wasm`.
fn wasm_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let dir = base.join("pluto/wasm");
    std::fs::create_dir_all(&dir).ok().map(|()| dir)
}

/// Adds the tools of an MCP server or tool component entry — the same in both modes (a
/// component and a wasm MCP server always run in the sandbox).
async fn add_external(
    tools: &mut Toolbox,
    skipped: &mut Vec<String>,
    spec: &ToolSpec,
    agent: &Agent,
    policies: &PolicySet,
    workspace: &Path,
) -> anyhow::Result<()> {
    match spec {
        ToolSpec::Mcp(server) => add_mcp(tools, skipped, server, agent, policies, workspace).await,
        ToolSpec::Component(c) => add_component(tools, c, agent, policies).await,
        ToolSpec::Builtin(_) => Ok(()),
    }
}

/// A tool offered under another name (a component's tools are `COMPONENT__TOOL`).
struct Prefixed {
    inner: Arc<dyn pluto_tools::Tool>,
    name: String,
}

#[async_trait::async_trait]
impl pluto_tools::Tool for Prefixed {
    fn definition(&self) -> pluto_core::ToolDef {
        pluto_core::ToolDef {
            name: self.name.clone(),
            ..self.inner.definition()
        }
    }

    async fn call(
        &self,
        args: serde_json::Value,
        ctx: &pluto_core::ToolContext,
    ) -> pluto_core::ToolResult {
        self.inner.call(args, ctx).await
    }
}

/// A tool component: always sandboxed, under its own policy (or the agent's), its tools named
/// `COMPONENT__TOOL`. A component that is not one (not wasm, another world, a trap in
/// `describe`) fails the agent with the reason.
async fn add_component(
    tools: &mut Toolbox,
    spec: &pluto_paf::tool::Component,
    agent: &Agent,
    policies: &PolicySet,
) -> anyhow::Result<()> {
    let what = format!("tool component `{}` ({})", spec.name, spec.source);
    let wasm = read_wasm(&spec.source, spec.digest.as_ref(), agent).context(what.clone())?;
    let policy = Arc::new(policy_for(spec.policy.as_ref(), agent, policies).context(what.clone())?);
    let sandbox = process_sandbox()?;
    let component = sandbox
        .load(spec.name.as_str(), &wasm)
        .await
        .context(what.clone())?;
    refuse_ungranted(component.imports(), &policy).context(what)?;
    let env: pluto_tools::sandboxed::Env = Arc::new(|k: &str| std::env::var(k).ok());
    for tool in pluto_tools::sandboxed::tools(&sandbox, &component, &policy, &env) {
        let inner_name = tool.definition().name;
        if spec.filter.allows(&inner_name) {
            tools.add(Arc::new(Prefixed {
                name: format!("{}__{inner_name}", spec.name),
                inner: tool,
            }))?;
        }
    }
    Ok(())
}

/// The bytes of a component or wasm program: the file (relative to the agent's folder) or the
/// built-in example, checked against its pinned digest when it has one.
pub fn read_wasm(
    source: &WasmSource,
    digest: Option<&Digest>,
    agent: &Agent,
) -> anyhow::Result<std::borrow::Cow<'static, [u8]>> {
    let wasm = match source {
        WasmSource::Path(path) => {
            let path = agent.base_dir().join(path.as_path());
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            std::borrow::Cow::Owned(bytes)
        }
        WasmSource::Example(name) => std::borrow::Cow::Borrowed(example(name)?),
    };
    if let Some(pinned) = digest {
        check_digest(&wasm, pinned)?;
    }
    Ok(wasm)
}

/// The example component `name`, or an error listing the examples.
pub fn example(name: &str) -> anyhow::Result<&'static [u8]> {
    guests::example(name).with_context(|| {
        let names: Vec<&str> = guests::EXAMPLES.iter().map(|(n, _, _)| *n).collect();
        format!(
            "there is no example component `{name}`; the examples are {}",
            names.join(", ")
        )
    })
}

/// Refuses `wasm` unless its SHA-256 is `pinned`.
pub fn check_digest(wasm: &[u8], pinned: &Digest) -> anyhow::Result<()> {
    use sha2::Digest as _;
    let actual = hex(&sha2::Sha256::digest(wasm));
    if actual != pinned.sha256_hex() {
        bail!(
            "its digest is sha256:{actual}, but the manifest pins {pinned}: the file is not the one that was reviewed"
        );
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The policy an entry names, or else the agent's.
fn policy_for(
    name: Option<&pluto_paf::scalar::PolicyName>,
    agent: &Agent,
    policies: &PolicySet,
) -> anyhow::Result<pluto_paf::Policy> {
    match name {
        Some(name) => policies
            .get(name.as_str())
            .cloned()
            .with_context(|| format!("no sandbox policy `{}`", name.as_str())),
        None => agent
            .policy(policies)
            .cloned()
            .context("the agent's sandbox policy"),
    }
}

/// The process's one sandbox — one engine, instance pool and epoch ticker for every agent and
/// tenant — created on first use.
pub fn process_sandbox() -> anyhow::Result<Arc<Sandbox>> {
    static SANDBOX: std::sync::Mutex<Option<Arc<Sandbox>>> = std::sync::Mutex::new(None);
    let mut process = SANDBOX
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sandbox) = process.as_ref() {
        return Ok(sandbox.clone());
    }
    let mut config = SandboxConfig {
        cache_dir: wasm_cache_dir(),
        ..SandboxConfig::default()
    };
    if let Ok(n) = std::env::var("PLUTO_SANDBOX_INSTANCES") {
        config.max_instances = n
            .parse()
            .ok()
            .filter(|n| (2..=10_000).contains(n))
            .with_context(|| {
                format!("PLUTO_SANDBOX_INSTANCES is `{n}`: expected a number from 2 to 10000")
            })?;
    }
    Ok(process.insert(Arc::new(Sandbox::new(&config)?)).clone())
}

/// Refuses a component whose imports its policy grants nothing for, naming what to add.
fn refuse_ungranted(imports: &[String], policy: &pluto_paf::Policy) -> anyhow::Result<()> {
    let missing = pluto_sandbox::ungranted(imports, policy);
    if !missing.is_empty() {
        bail!("it cannot run under its policy: {}", missing.join("; "));
    }
    Ok(())
}

/// Starts a wasm MCP server in the sandbox, one instance per start.
struct SandboxLauncher {
    sandbox: Arc<Sandbox>,
    program: Arc<pluto_sandbox::Program>,
    policy: pluto_paf::Policy,
    workspace: PathBuf,
}

#[async_trait::async_trait]
impl pluto_mcp::WasmLauncher for SandboxLauncher {
    async fn launch(&self) -> Result<pluto_mcp::WasmStdio, String> {
        let env = |k: &str| std::env::var(k).ok();
        let process = self
            .sandbox
            .start(&self.program, &self.policy, &self.workspace, &env)
            .await?;
        Ok((Box::new(process.stdout), Box::new(process.stdin)))
    }
}

pub fn load_agent(name: &str, agents: &Path, policies: &PolicySet) -> anyhow::Result<Agent> {
    let as_path = Path::new(name);
    if name.contains('/') || name.ends_with(".md") {
        return Agent::load(as_path, policies).map_err(|ds| anyhow::anyhow!("{ds}"));
    }
    if !agents.is_dir() {
        bail!(
            "no agents folder at {} (use --agents DIR, or give a path to the agent)",
            agents.display()
        );
    }
    let (catalog, problems) = Catalog::load_dir(agents, policies);
    if let Some(agent) = catalog.get(name) {
        return Ok(agent.clone());
    }
    let mut message = format!("no agent named `{name}` in {}", agents.display());
    let names: Vec<&str> = catalog.iter().map(|a| a.manifest.name.as_str()).collect();
    if !names.is_empty() {
        message.push_str(&format!("; the agents are: {}", names.join(", ")));
    }
    if !problems.is_empty() {
        message.push_str("\nthese agents failed to load:");
        for p in problems {
            message.push_str(&format!("\n{p}"));
        }
    }
    bail!(message)
}

/// The agent's tools: built-ins native, or — `sandboxed` — in the sandbox under the agent's
/// policy; MCP servers and tool components the same in both modes.
async fn toolbox(
    agent: &Agent,
    policies: &PolicySet,
    workspace: &Path,
    http: &HttpClient,
    sandboxed: bool,
) -> anyhow::Result<(Toolbox, Vec<String>)> {
    let policy = if sandboxed {
        let problems = agent.sandbox_problems(policies);
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            bail!("the agent cannot run sandboxed:\n{}", lines.join("\n"));
        }
        let policy = agent
            .policy(policies)
            .context("the agent's sandbox policy")?;
        Some(Arc::new(policy.clone()))
    } else {
        None
    };
    let mut tools = Toolbox::new();
    let mut skipped = Vec::new();
    for spec in &agent.manifest.tools {
        match (spec, &policy) {
            (ToolSpec::Builtin(set), None) => {
                // A quota the agent's policy sets is kept by the native files tools too.
                let disk = agent.policy(policies).and_then(|p| p.limits.disk);
                for tool in pluto_tools::builtin(*set, http.reqwest(), disk) {
                    tools.add(tool)?;
                }
            }
            // http_fetch does no work the sandbox could contain: it runs on the host, and every
            // request is checked against the policy's network rules.
            (ToolSpec::Builtin(Builtin::HttpFetch), Some(policy)) => {
                tools.add(Arc::new(pluto_tools::http_fetch::HttpFetch::sandboxed(
                    policy.network.clone(),
                )))?;
            }
            (ToolSpec::Builtin(set), Some(policy)) => {
                let sandbox = process_sandbox()?;
                let component = builtin_component(&sandbox, *set).await?;
                let env: pluto_tools::sandboxed::Env = Arc::new(|k: &str| std::env::var(k).ok());
                for tool in pluto_tools::sandboxed::tools(&sandbox, &component, policy, &env) {
                    tools.add(tool)?;
                }
            }
            // Native MCP servers (under a policy only those in `native_mcp.allow`, checked
            // above) and HTTP ones run alike in both modes; wasm ones always in the sandbox.
            (external, _) => {
                add_external(
                    &mut tools,
                    &mut skipped,
                    external,
                    agent,
                    policies,
                    workspace,
                )
                .await?
            }
        }
    }
    Ok((tools, skipped))
}

/// The sandboxed `files` or `shell` component, loaded once per process.
async fn builtin_component(
    sandbox: &Sandbox,
    set: Builtin,
) -> anyhow::Result<Arc<pluto_sandbox::Component>> {
    static FILES: tokio::sync::OnceCell<Arc<pluto_sandbox::Component>> =
        tokio::sync::OnceCell::const_new();
    static SHELL: tokio::sync::OnceCell<Arc<pluto_sandbox::Component>> =
        tokio::sync::OnceCell::const_new();
    let (cell, wasm) = match set {
        Builtin::Shell => (&SHELL, guests::SHELL),
        _ => (&FILES, guests::FILES),
    };
    let component = cell
        .get_or_try_init(|| sandbox.load(set.as_str(), wasm))
        .await?;
    Ok(component.clone())
}

/// An MCP server of an agent, its `${VAR}`s read from the environment, its processes started in
/// the workspace; a `wasm:` one loaded into the sandbox (refused if its policy does not grant
/// what it imports).
async fn mcp_server(
    spec: &pluto_paf::tool::McpServer,
    agent: &Agent,
    policies: &PolicySet,
    workspace: &Path,
) -> anyhow::Result<Arc<pluto_mcp::McpServer>> {
    let env: pluto_mcp::Env = Arc::new(|k: &str| std::env::var(k).ok());
    let mut limits = mcp_limits();
    let launcher: Option<Arc<dyn pluto_mcp::WasmLauncher>> = match &spec.transport {
        McpTransport::Wasm {
            source,
            digest,
            policy,
        } => {
            let what = format!("wasm MCP server `{}` ({source})", spec.name);
            let wasm = read_wasm(source, digest.as_ref(), agent).context(what.clone())?;
            let policy = policy_for(policy.as_ref(), agent, policies).context(what.clone())?;
            let sandbox = process_sandbox()?;
            let program = sandbox
                .load_program(spec.name.as_str(), &wasm)
                .context(what.clone())?;
            refuse_ungranted(program.imports(), &policy).context(what)?;
            // The policy's time limit bounds each call (a call past it stops the server).
            limits.call = limits.call.min(policy.limits.timeout.0);
            Some(Arc::new(SandboxLauncher {
                sandbox,
                program,
                policy,
                workspace: workspace.to_path_buf(),
            }))
        }
        _ => None,
    };
    Ok(pluto_mcp::McpServer::with_launcher(
        spec.clone(),
        env,
        workspace.to_path_buf(),
        limits,
        launcher,
    ))
}

/// MCP timeouts: the defaults, or `PLUTO_MCP_TIMEOUT` (for example `30s`) for one tool call.
fn mcp_limits() -> pluto_mcp::Limits {
    let mut limits = pluto_mcp::Limits::default();
    if let Some(call) = std::env::var("PLUTO_MCP_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
    {
        limits.call = call;
    }
    limits
}

/// The agent's MCP servers.
pub async fn mcp_servers(
    agent: &Agent,
    policies: &PolicySet,
    workspace: &Path,
) -> anyhow::Result<Vec<Arc<pluto_mcp::McpServer>>> {
    let mut servers = Vec::new();
    for spec in &agent.manifest.tools {
        if let ToolSpec::Mcp(server) = spec {
            servers.push(mcp_server(server, agent, policies, workspace).await?);
        }
    }
    Ok(servers)
}

/// Lists an MCP server's tools into the toolbox; a server that cannot start is reported (the
/// agent runs without its tools) rather than failing the run.
async fn add_mcp(
    tools: &mut Toolbox,
    skipped: &mut Vec<String>,
    spec: &pluto_paf::tool::McpServer,
    agent: &Agent,
    policies: &PolicySet,
    workspace: &Path,
) -> anyhow::Result<()> {
    let server = mcp_server(spec, agent, policies, workspace).await?;
    match pluto_mcp::tools(&server).await {
        Ok(list) => {
            for tool in list {
                tools.add(tool)?;
            }
        }
        Err(e) => skipped.push(format!("{e}; its tools are not available")),
    }
    Ok(())
}
