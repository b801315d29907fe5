//! The `tools:` entries of a manifest: built-in tool sets, MCP servers and tool components.

use std::collections::BTreeMap;

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::scalar::{Digest, EnvString, PolicyName, ServerName, VarName, WasmSource};

/// One entry of `tools:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "RawTool")]
pub enum ToolSpec {
    /// A tool set that ships with Pluto.
    Builtin(Builtin),
    /// An MCP server whose tools the model sees as `SERVER__TOOL`.
    Mcp(McpServer),
    /// A WIT tool component, always run in the sandbox.
    Component(Component),
}

impl ToolSpec {
    /// The name the entry's tools are grouped under: the tool set, server or component name.
    pub fn name(&self) -> &str {
        match self {
            ToolSpec::Builtin(b) => b.as_str(),
            ToolSpec::Mcp(m) => m.name.as_str(),
            ToolSpec::Component(c) => c.name.as_str(),
        }
    }
}

impl<'de> Deserialize<'de> for ToolSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than `try_from`: the check then runs inside the entry's own
        // deserialization, so its error carries the entry's position, not the list's.
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = ToolSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tool entry such as `builtin: files` or `mcp: NAME`")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ToolSpec, A::Error> {
                let raw = RawTool::deserialize(de::value::MapAccessDeserializer::new(map))?;
                ToolSpec::try_from(raw).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(EntryVisitor)
    }
}

/// The built-in tool sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// `read_file`, `write_file`, `edit_file`, `list_dir`, `glob`, `grep` over the workspace.
    Files,
    /// Run a command line in the workspace.
    Shell,
    /// GET a URL (in the sandbox: only hosts the policy allows).
    HttpFetch,
}

impl Builtin {
    /// The name as written in a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::Files => "files",
            Builtin::Shell => "shell",
            Builtin::HttpFetch => "http_fetch",
        }
    }
}

/// An MCP server an agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    /// The server's name: the prefix of its tools' names.
    pub name: ServerName,
    /// How Pluto reaches the server.
    pub transport: McpTransport,
    /// Which of its tools the model sees.
    pub filter: ToolFilter,
}

/// How Pluto talks to an MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        /// The program to run.
        command: EnvString,
        /// Its arguments.
        args: Vec<EnvString>,
        /// Extra environment variables (`${VAR}` resolved at run time).
        env: BTreeMap<VarName, EnvString>,
    },
    /// A server speaking MCP's streamable HTTP transport.
    Http {
        /// The endpoint.
        url: EnvString,
        /// Extra request headers, for authentication (`${VAR}` resolved at run time).
        headers: BTreeMap<String, EnvString>,
    },
    /// A wasm32-wasip2 program speaking MCP over stdio, run under wasmtime.
    Wasm {
        /// The program: a file relative to the agent's folder, or an example.
        source: WasmSource,
        /// The digest the file must have, when pinned.
        digest: Option<Digest>,
        /// The sandbox policy it runs under (default: the agent's policy).
        policy: Option<PolicyName>,
    },
}

/// A WIT tool component an agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The prefix of its tools' names: the file stem of `source` (or the example's name).
    pub name: ServerName,
    /// The component: a file relative to the agent's folder, or an example.
    pub source: WasmSource,
    /// The digest the file must have, when pinned.
    pub digest: Option<Digest>,
    /// The sandbox policy it runs under (default: the agent's policy).
    pub policy: Option<PolicyName>,
    /// Which of its tools the model sees.
    pub filter: ToolFilter,
}

/// Which of a server's tools the model sees.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolFilter {
    /// All of them (the default).
    #[default]
    All,
    /// Only these.
    Include(Vec<String>),
    /// All but these.
    Exclude(Vec<String>),
}

impl ToolFilter {
    /// Whether the model sees the tool called `tool`.
    pub fn allows(&self, tool: &str) -> bool {
        match self {
            ToolFilter::All => true,
            ToolFilter::Include(names) => names.iter().any(|n| n == tool),
            ToolFilter::Exclude(names) => !names.iter().any(|n| n == tool),
        }
    }
}

/// The entry as written: every key any kind of entry takes. [`ToolSpec`] checks the combination.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    #[serde(skip_serializing_if = "Option::is_none")]
    builtin: Option<Builtin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp: Option<ServerName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<WasmSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<EnvString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Vec<EnvString>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<BTreeMap<VarName, EnvString>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<EnvString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, EnvString>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wasm: Option<WasmSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    include: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exclude: Option<Vec<String>>,
}

impl RawTool {
    /// The keys that are set, by name, in manifest order.
    fn set_keys(&self) -> Vec<&'static str> {
        let flags = [
            ("builtin", self.builtin.is_some()),
            ("mcp", self.mcp.is_some()),
            ("component", self.component.is_some()),
            ("command", self.command.is_some()),
            ("args", self.args.is_some()),
            ("env", self.env.is_some()),
            ("url", self.url.is_some()),
            ("headers", self.headers.is_some()),
            ("wasm", self.wasm.is_some()),
            ("digest", self.digest.is_some()),
            ("policy", self.policy.is_some()),
            ("include", self.include.is_some()),
            ("exclude", self.exclude.is_some()),
        ];
        flags
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| k)
            .collect()
    }

    /// An error if any key outside `allowed` is set.
    fn only(&self, what: &str, allowed: &[&str]) -> Result<(), String> {
        match self.set_keys().into_iter().find(|k| !allowed.contains(k)) {
            Some(k) => Err(format!("`{k}` does not apply to {what}")),
            None => Ok(()),
        }
    }

    fn filter(&mut self) -> Result<ToolFilter, String> {
        match (self.include.take(), self.exclude.take()) {
            (Some(_), Some(_)) => Err("set `include` or `exclude`, not both".to_owned()),
            (Some(names), None) => Ok(ToolFilter::Include(names)),
            (None, Some(names)) => Ok(ToolFilter::Exclude(names)),
            (None, None) => Ok(ToolFilter::All),
        }
    }
}

impl TryFrom<RawTool> for ToolSpec {
    type Error = String;

    fn try_from(mut raw: RawTool) -> Result<Self, String> {
        let kinds: Vec<&str> = raw
            .set_keys()
            .into_iter()
            .filter(|k| ["builtin", "mcp", "component"].contains(k))
            .collect();
        match kinds.as_slice() {
            [] => {
                return Err("a tool entry needs one of `builtin`, `mcp` or `component`".to_owned());
            }
            [_] => {}
            [a, b, ..] => {
                return Err(format!(
                    "a tool entry is one of `builtin`, `mcp` or `component`; this one sets `{a}` and `{b}`"
                ));
            }
        }
        if let Some(builtin) = raw.builtin {
            raw.only(&format!("`builtin: {}`", builtin.as_str()), &["builtin"])?;
            return Ok(ToolSpec::Builtin(builtin));
        }
        if let Some(source) = raw.component.take() {
            let what = format!("`component: {source}`");
            raw.only(
                &what,
                &["component", "digest", "policy", "include", "exclude"],
            )?;
            let name = source
                .stem()
                .parse::<ServerName>()
                .map_err(|e| format!("the component's file name names its tools: {e}"))?;
            let filter = raw.filter()?;
            return Ok(ToolSpec::Component(Component {
                name,
                source,
                digest: raw.digest,
                policy: raw.policy,
                filter,
            }));
        }
        let name = raw
            .mcp
            .take()
            .expect("one kind is set and it is not builtin or component");
        let what = format!("MCP server `{name}`");
        let transport = match (raw.command.is_some(), raw.url.is_some(), raw.wasm.is_some()) {
            (true, false, false) => {
                raw.only(
                    &format!("{what} over stdio"),
                    &["command", "args", "env", "include", "exclude"],
                )?;
                McpTransport::Stdio {
                    command: raw.command.take().expect("checked above"),
                    args: raw.args.take().unwrap_or_default(),
                    env: raw.env.take().unwrap_or_default(),
                }
            }
            (false, true, false) => {
                raw.only(
                    &format!("{what} over HTTP (`url`)"),
                    &["url", "headers", "include", "exclude"],
                )?;
                McpTransport::Http {
                    url: raw.url.take().expect("checked above"),
                    headers: raw.headers.take().unwrap_or_default(),
                }
            }
            (false, false, true) => {
                raw.only(
                    &format!("{what} in wasm"),
                    &["wasm", "digest", "policy", "include", "exclude"],
                )?;
                McpTransport::Wasm {
                    source: raw.wasm.take().expect("checked above"),
                    digest: raw.digest.take(),
                    policy: raw.policy.take(),
                }
            }
            (false, false, false) => {
                return Err(format!(
                    "{what} needs `command` (a local process), `url` (streamable HTTP) or `wasm` (sandboxed)"
                ));
            }
            _ => {
                return Err(format!(
                    "{what} takes only one of `command`, `url` and `wasm`"
                ));
            }
        };
        let filter = raw.filter()?;
        Ok(ToolSpec::Mcp(McpServer {
            name,
            transport,
            filter,
        }))
    }
}

impl From<ToolSpec> for RawTool {
    fn from(spec: ToolSpec) -> Self {
        let mut raw = RawTool::default();
        let filter = match spec {
            ToolSpec::Builtin(b) => {
                raw.builtin = Some(b);
                ToolFilter::All
            }
            ToolSpec::Component(c) => {
                raw.component = Some(c.source);
                raw.digest = c.digest;
                raw.policy = c.policy;
                c.filter
            }
            ToolSpec::Mcp(m) => {
                raw.mcp = Some(m.name);
                match m.transport {
                    McpTransport::Stdio { command, args, env } => {
                        raw.command = Some(command);
                        raw.args = (!args.is_empty()).then_some(args);
                        raw.env = (!env.is_empty()).then_some(env);
                    }
                    McpTransport::Http { url, headers } => {
                        raw.url = Some(url);
                        raw.headers = (!headers.is_empty()).then_some(headers);
                    }
                    McpTransport::Wasm {
                        source,
                        digest,
                        policy,
                    } => {
                        raw.wasm = Some(source);
                        raw.digest = digest;
                        raw.policy = policy;
                    }
                }
                m.filter
            }
        };
        match filter {
            ToolFilter::All => {}
            ToolFilter::Include(names) => raw.include = Some(names),
            ToolFilter::Exclude(names) => raw.exclude = Some(names),
        }
        raw
    }
}
