//! Sandbox capability policies (`sandbox-policies/*.yaml`).
//!
//! A policy grants a sandboxed tool what it may touch. Everything is denied by default: a policy
//! that grants nothing gives a tool no files, no network, no environment variables, and the
//! default limits.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::network::NetRule;
use crate::scalar::{
    ByteSize, Duration, FormatVersion, PolicyName, Scalar, ServerName, VarName, deserialize_scalar,
};
use crate::source::Source;
use crate::yaml::{self, Index};

/// What a policy file is expected to hold, for errors.
const WHAT: &str = "a sandbox policy (policy: 1, name, filesystem, network, env, limits)";

/// A sandbox capability policy.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The format version (`policy: 1`); required in a policy file, optional inline.
    #[serde(rename = "policy", default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FormatVersion>,
    /// The policy's name; required in a policy file (and equal to its file stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<PolicyName>,
    /// Folders the tool may open. Default: none.
    #[serde(default)]
    pub filesystem: Vec<FsGrant>,
    /// Whether a sandboxed tool may open a regular file that has more than one hard link.
    /// Default: no, since such a file may be the same inode as a file outside the granted
    /// folders; the check is made on each opened file, not by scanning the folders.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_hard_links: bool,
    /// Hosts the tool may reach. Default: none.
    #[serde(default)]
    pub network: NetworkPolicy,
    /// Environment variables the tool may read. Default: none.
    #[serde(default)]
    pub env: EnvPolicy,
    /// Resource limits.
    #[serde(default)]
    pub limits: SandboxLimits,
    /// Native (unsandboxed) MCP servers allowed by name. Default: none.
    #[serde(default)]
    pub native_mcp: NativeMcpPolicy,
}

impl Policy {
    /// The built-in `default` policy: the tenant's workspace read-write, `TZ`, default limits.
    /// `sandbox-policies/default.yaml` spells out the same policy.
    pub fn builtin_default() -> Policy {
        Policy {
            format: Some(FormatVersion),
            name: Some(PolicyName::parse("default").expect("a valid name")),
            filesystem: vec![FsGrant {
                path: FsPath::parse("{workspace}").expect("a valid path"),
                access: vec![Access::Read, Access::Write],
            }],
            env: EnvPolicy {
                allow: vec![VarName::parse("TZ").expect("a valid name")],
            },
            ..Policy::default()
        }
    }

    /// Reads and checks one policy file; its `name` must equal the file stem.
    pub fn load_file(path: &Path) -> Result<Policy, Diagnostics> {
        let source = Source::read(path)?;
        let (policy, index): (Policy, Index) = yaml::parse(&source, &source.text, 0, WHAT)?;
        let mut problems = policy.check(&source.path, &index, "");
        if policy.format.is_none() {
            problems.push(Diagnostic::at(
                path,
                index.value_or_start(""),
                "missing field `policy` (write `policy: 1`)",
            ));
        }
        match &policy.name {
            None => problems.push(Diagnostic::at(
                path,
                index.value_or_start(""),
                "missing field `name`",
            )),
            Some(name) => {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                if name.as_str() != stem {
                    problems.push(
                        Diagnostic::at(
                            path,
                            index.value_or_start("name"),
                            format!("policy `{name}` is in `{}`: a policy file is named after its policy", file_name(path)),
                        )
                        .with_help(format!("set `name: {stem}` or rename the file to `{name}.yaml`")),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// Checks what types alone cannot; `prefix` is the policy's path in the document.
    pub(crate) fn check(&self, file: &Path, index: &Index, prefix: &str) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        for (i, grant) in self.filesystem.iter().enumerate() {
            if grant.access.is_empty() {
                let at = index.value_or_start(&format!("{prefix}filesystem[{i}].access"));
                problems.push(
                    Diagnostic::at(
                        file,
                        at,
                        format!("`access` for `{}` grants nothing", grant.path),
                    )
                    .with_help("use [read] or [read, write], or remove the entry"),
                );
            }
        }
        problems
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A folder a sandboxed tool may open, and how.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FsGrant {
    /// The folder: `{workspace}` (the tenant's or session's own folder), a subfolder of it, or
    /// an absolute path on the host.
    pub path: FsPath,
    /// What the tool may do there.
    pub access: Vec<Access>,
}

/// A kind of file access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Open, list and read.
    Read,
    /// Create, write, rename and remove.
    Write,
}

/// A folder path in a policy: `{workspace}`, `{workspace}/sub`, or an absolute path; never `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FsPath(String);

impl FsPath {
    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host folder this grants, with `{workspace}` standing for `workspace`.
    pub fn resolve(&self, workspace: &Path) -> PathBuf {
        match self.0.strip_prefix("{workspace}") {
            Some(rest) => workspace.join(rest.trim_start_matches('/')),
            None => PathBuf::from(&self.0),
        }
    }
}

impl fmt::Display for FsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Scalar for FsPath {
    const EXPECTING: &'static str = "a folder such as {workspace} or /data";
    fn parse(text: &str) -> Result<Self, String> {
        let rest = match text.strip_prefix("{workspace}") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            Some(_) => {
                return Err(format!(
                    "invalid path `{text}`: write `{{workspace}}` or `{{workspace}}/sub`"
                ));
            }
            None if text.starts_with('/') => text,
            None if text.contains('{') => {
                return Err(format!(
                    "invalid path `{text}`: the only placeholder is `{{workspace}}`"
                ));
            }
            None => {
                return Err(format!(
                    "invalid path `{text}`: use `{{workspace}}/...` or an absolute path (a relative path is ambiguous)"
                ));
            }
        };
        if rest.contains('{') || rest.split('/').any(|part| part == "..") || rest.contains('\0') {
            return Err(format!(
                "invalid path `{text}`: no `..` and no placeholder after the start"
            ));
        }
        Ok(FsPath(text.to_owned()))
    }
}

impl Serialize for FsPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_scalar(d)
    }
}

/// Hosts a sandboxed tool may reach; a host matching `deny` is refused even if `allow` matches.
/// Private, loopback and link-local addresses are refused unless an `allow` rule names them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkPolicy {
    /// Allowed hosts. Default: none.
    pub allow: Vec<NetRule>,
    /// Refused hosts; deny wins over allow.
    pub deny: Vec<NetRule>,
}

/// Environment variables a sandboxed tool may read, copied from the host. Default: none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvPolicy {
    /// Names of variables passed through.
    pub allow: Vec<VarName>,
}

/// Resource limits of one sandboxed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxLimits {
    /// The total of all the guest's linear memories (default 128MiB).
    pub memory: ByteSize,
    /// Wall-clock budget of one call (default 10s).
    pub timeout: Duration,
    /// The most output one call may return (default 1MiB).
    pub output: ByteSize,
    /// What the writable folders may hold in all (default: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskLimit>,
}

/// A disk quota over a policy's writable folders: bytes of file contents, and entries (files,
/// folders, links). Either may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiskLimit {
    /// The most bytes of file contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<ByteSize>,
    /// The most entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
}

impl fmt::Display for DiskLimit {
    /// As messages name the quota: `1MiB and 3 files`, `1MiB`, `3 files`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.bytes, self.files) {
            (Some(b), Some(n)) => write!(f, "{b} and {n} files"),
            (Some(b), None) => write!(f, "{b}"),
            (None, Some(n)) => write!(f, "{n} files"),
            (None, None) => f.write_str("no limit"),
        }
    }
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory: ByteSize(128 << 20),
            timeout: Duration::from_secs(10),
            output: ByteSize(1 << 20),
            disk: None,
        }
    }
}

/// Native MCP servers a sandboxed agent may still run as ordinary processes. Default: none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeMcpPolicy {
    /// Server names (as in the agent's `tools: - mcp: NAME`).
    pub allow: Vec<ServerName>,
}

/// An agent's choice of policy: a name from `sandbox-policies/`, or a policy written inline.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyRef {
    /// A policy by name.
    Named(PolicyName),
    /// A policy written in the manifest.
    Inline(Box<Policy>),
}

impl Default for PolicyRef {
    fn default() -> Self {
        PolicyRef::Named(PolicyName::parse("default").expect("a valid name"))
    }
}

impl Serialize for PolicyRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PolicyRef::Named(name) => name.serialize(s),
            PolicyRef::Inline(policy) => policy.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PolicyRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RefVisitor;
        impl<'de> Visitor<'de> for RefVisitor {
            type Value = PolicyRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a policy name or an inline policy mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PolicyRef, E> {
                PolicyName::parse(v)
                    .map(PolicyRef::Named)
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PolicyRef, A::Error> {
                let policy = Policy::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PolicyRef::Inline(Box::new(policy)))
            }
        }
        d.deserialize_any(RefVisitor)
    }
}

/// The policies an agent may name: the built-in `default`, overridden or extended by files.
#[derive(Debug, Clone)]
pub struct PolicySet {
    policies: BTreeMap<PolicyName, (Policy, Option<PathBuf>)>,
}

impl Default for PolicySet {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PolicySet {
    /// Only the built-in `default` policy.
    pub fn builtin() -> Self {
        let default = Policy::builtin_default();
        let name = default
            .name
            .clone()
            .expect("the built-in policy has a name");
        PolicySet {
            policies: BTreeMap::from([(name, (default, None))]),
        }
    }

    /// Adds a policy loaded from `path`. A second file with the same policy name is an error;
    /// a file named like the built-in `default` replaces it.
    pub fn insert(&mut self, policy: Policy, path: &Path) -> Result<(), Diagnostic> {
        let Some(name) = policy.name.clone() else {
            return Err(Diagnostic::file(path, "a policy in a set needs a name"));
        };
        if let Some((_, Some(first))) = self.policies.get(&name)
            && first != path
        {
            return Err(Diagnostic::file(
                path,
                format!(
                    "duplicate policy `{name}`: also defined in {}",
                    first.display()
                ),
            ));
        }
        self.policies
            .insert(name, (policy, Some(path.to_path_buf())));
        Ok(())
    }

    /// Loads every `*.yaml`/`*.yml` file of `dir` (in name order) into the set; returns the
    /// problems found. A `README.md` and other files are documentation, not policies.
    pub fn load_dir(&mut self, dir: &Path) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        let entries = match crate::catalog::sorted_entries(dir) {
            Ok(entries) => entries,
            Err(d) => return vec![d],
        };
        for path in entries {
            if !is_yaml(&path) || !path.is_file() {
                continue;
            }
            match Policy::load_file(&path) {
                Ok(policy) => problems.extend(self.insert(policy, &path).err()),
                Err(Diagnostics(ds)) => problems.extend(ds),
            }
        }
        problems
    }

    /// The policy called `name`.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, (p, _))| p)
    }

    /// The names of every policy in the set.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.policies.keys().map(PolicyName::as_str)
    }

    /// Every policy loaded from a file, with its path.
    pub fn files(&self) -> impl Iterator<Item = (&Policy, &Path)> {
        self.policies
            .values()
            .filter_map(|(p, path)| path.as_deref().map(|path| (p, path)))
    }

    /// An error naming `name` and the known policies, if the set has no such policy.
    pub(crate) fn check_ref(
        &self,
        name: &PolicyName,
        file: &Path,
        index: &Index,
        at: &str,
    ) -> Option<Diagnostic> {
        if self.get(name.as_str()).is_some() {
            return None;
        }
        let known: Vec<&str> = self.names().collect();
        let help = did_you_mean(name.as_str(), known.iter().copied())
            .unwrap_or_else(|| format!("known policies: {}", known.join(", ")));
        Some(
            Diagnostic::at(
                file,
                index.value_or_start(at),
                format!("unknown sandbox policy `{name}`"),
            )
            .with_help(help),
        )
    }
}

/// Whether `path` names a YAML file.
pub(crate) fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_resolve_and_cannot_escape() {
        let ws = Path::new("/data/t1");
        assert_eq!(
            FsPath::parse("{workspace}").unwrap().resolve(ws),
            PathBuf::from("/data/t1")
        );
        assert_eq!(
            FsPath::parse("{workspace}/cache").unwrap().resolve(ws),
            PathBuf::from("/data/t1/cache")
        );
        assert_eq!(
            FsPath::parse("/srv/shared").unwrap().resolve(ws),
            PathBuf::from("/srv/shared")
        );
        for bad in [
            "{workspace}/../x",
            "relative",
            "{tenant}",
            "{workspace}x",
            "/a/{workspace}",
        ] {
            assert!(FsPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_policy_grants_nothing() {
        let p = Policy::default();
        assert!(p.filesystem.is_empty() && p.network.allow.is_empty() && p.env.allow.is_empty());
        assert!(p.native_mcp.allow.is_empty());
        assert_eq!(p.limits, SandboxLimits::default());
    }
}
