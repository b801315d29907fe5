//! The typed PAF v1 manifest: what `agent.yaml` (or a single-file agent's front matter) declares.
//!
//! Every struct denies unknown keys, so a typo is an error with a suggestion rather than a
//! setting silently ignored.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::policy::PolicyRef;
use crate::scalar::{
    AgentName, Duration, EnvString, FormatVersion, RelPath, SemVer, Temperature, Text, VarName,
};
use crate::tool::ToolSpec;

/// An agent manifest (PAF v1).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The format version; must be 1.
    pub paf: FormatVersion,
    /// The agent's name, unique within a tenant; used in URLs and Agent Cards.
    pub name: AgentName,
    /// One sentence on what the agent does; shown in listings and Agent Cards.
    pub description: Text,
    /// The agent's own version (semver), default `0.1.0`.
    #[serde(default)]
    pub version: SemVer,
    /// Which LLM answers, and how.
    pub model: ModelSpec,
    /// The instructions file, relative to the agent's folder (folder form only); default
    /// `instructions.md`. In the single-file form the Markdown body is the instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<RelPath>,
    /// Variables the instructions may use as `{{vars.NAME}}`, with their default values
    /// (`null`: the caller must supply one at run time).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<VarName, Option<String>>,
    /// The tools the model may call, in the order they are offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Bounds on one run.
    #[serde(default)]
    pub limits: RunLimits,
    /// Which sandbox policy applies, and whether the sandbox is required.
    #[serde(default)]
    pub sandbox: SandboxSpec,
    /// Long-term memory.
    #[serde(default)]
    pub memory: MemorySpec,
    /// Extra A2A Agent Card fields.
    #[serde(default)]
    pub card: CardSpec,
}

/// The model an agent talks to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The provider's wire format and default endpoint; default `openrouter`.
    #[serde(default)]
    pub provider: ProviderKind,
    /// The model's name at that provider (for example `anthropic/claude-sonnet-4.5`).
    pub name: Text,
    /// Overrides the provider's endpoint (any OpenAI-compatible server with provider `openai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<EnvString>,
    /// Sampling temperature, 0 to 2; the provider's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Temperature>,
    /// The most tokens one answer may have; the provider's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<NonZeroU32>,
}

/// The LLM providers Pluto speaks to, each in its own wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenRouter (OpenAI-style chat completions); the default.
    #[default]
    Openrouter,
    /// OpenAI chat completions, or any compatible server via `base_url`.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Ollama `/api/chat`.
    Ollama,
}

impl ProviderKind {
    /// The name as written in a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openrouter => "openrouter",
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
        }
    }
}

/// Bounds on one run of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunLimits {
    /// The most model turns in one run (default 25).
    pub max_turns: NonZeroU32,
    /// The longest a run may take, tool calls included (default 300s).
    pub timeout: Duration,
    /// The most tool calls run at once within a turn (default 8).
    pub max_parallel_tools: NonZeroU32,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_turns: NonZeroU32::new(25).expect("25 is not zero"),
            timeout: Duration::from_secs(300),
            max_parallel_tools: NonZeroU32::new(8).expect("8 is not zero"),
        }
    }
}

/// The agent's sandbox settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSpec {
    /// The policy applied when the agent's tools run sandboxed: a name in `sandbox-policies/`
    /// or an inline policy; default `default`.
    pub policy: PolicyRef,
    /// Whether the host decides (`inherit`, default) or the agent is always sandboxed (`required`).
    pub mode: SandboxMode,
}

/// Whether an agent's tools run in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// `pluto serve --sandbox` decides (the default).
    #[default]
    Inherit,
    /// Always sandboxed, whatever the host's mode.
    Required,
}

/// Long-term memory settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemorySpec {
    /// Whether the agent has memory (its `remember`/`recall` tools); default off.
    pub enabled: bool,
    /// Who the memories are shared by; default `user`.
    pub scope: MemoryScope,
}

/// Who shares an agent's memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryScope {
    /// One memory per user of the agent (the default).
    #[default]
    User,
    /// One memory for the agent, shared by all its users.
    Agent,
    /// One memory per session, forgotten with it.
    Session,
}

/// Extra fields for the agent's A2A Agent Card.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSpec {
    /// What the agent can do, as A2A skills.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<Skill>,
    /// A page documenting the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    /// An icon for the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    /// Who provides the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<CardProvider>,
}

/// An A2A skill: one thing the agent can do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    /// A stable identifier.
    pub id: Text,
    /// A short name.
    pub name: Text,
    /// What the skill does.
    pub description: Text,
    /// Keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Example requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// The organization behind an agent, for its Agent Card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CardProvider {
    /// The organization's name.
    pub organization: Text,
    /// The organization's site.
    pub url: String,
}
