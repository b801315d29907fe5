//! Validated scalar values.
//!
//! Each type checks its value while it is deserialized, so a bad value is reported at its own
//! line and column (a check after deserialization would only know the enclosing mapping).

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A value parsed from one YAML scalar with a check.
pub trait Scalar: Sized {
    /// What a valid value looks like, for "invalid type" errors.
    const EXPECTING: &'static str;
    /// Parses and checks the scalar's text; the error says what is wrong.
    fn parse(text: &str) -> Result<Self, String>;
}

struct ScalarVisitor<T>(PhantomData<T>);

impl<T: Scalar> Visitor<'_> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
}

/// Deserializes a [`Scalar`] (for types outside this module, which cannot use the macro).
pub(crate) fn deserialize_scalar<'de, D: Deserializer<'de>, T: Scalar>(
    d: D,
) -> Result<T, D::Error> {
    d.deserialize_str(ScalarVisitor::<T>(PhantomData))
}

/// Implements `Deserialize` through [`Scalar`] and `Serialize` through `Display`.
macro_rules! scalar_serde {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(ScalarVisitor::<$t>(PhantomData))
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <$t as Scalar>::parse(s)
            }
        }
    )*};
}

scalar_serde!(
    AgentName,
    PolicyName,
    ServerName,
    VarName,
    EnvString,
    RelPath,
    WasmSource,
    Digest,
    Duration,
    ByteSize,
    SemVer,
    Text,
    FormatVersion,
    Temperature,
);

/// Checks a lowercase slug: `[a-z0-9-]{1,64}`; `extra` lists further allowed characters.
fn check_slug(kind: &str, s: &str, extra: &str) -> Result<(), String> {
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || extra.contains(c);
    if s.is_empty() || s.len() > 64 || !s.chars().all(allowed) {
        let chars = if extra.is_empty() { "" } else { ", `_`" };
        return Err(format!(
            "invalid {kind} `{s}`: use 1 to 64 lowercase letters, digits, `-`{chars} (for example `{}`)",
            slugify(s)
        ));
    }
    Ok(())
}

/// A valid slug close to `s`: lowercase, other characters turned into `-`.
fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(64).collect();
    if out.is_empty() {
        "my-agent".to_owned()
    } else {
        out
    }
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $t:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $t(String);

        impl $t {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// An agent's name: `[a-z0-9-]{1,64}`, unique within a tenant; used in URLs and cards.
    AgentName
);

impl Scalar for AgentName {
    const EXPECTING: &'static str = "an agent name ([a-z0-9-]{1,64})";
    fn parse(s: &str) -> Result<Self, String> {
        check_slug("agent name", s, "")?;
        Ok(AgentName(s.to_owned()))
    }
}

string_newtype!(
    /// A sandbox policy's name: `[a-z0-9-]{1,64}`, the file stem in `sandbox-policies/`.
    PolicyName
);

impl Scalar for PolicyName {
    const EXPECTING: &'static str = "a policy name ([a-z0-9-]{1,64})";
    fn parse(s: &str) -> Result<Self, String> {
        check_slug("policy name", s, "")?;
        Ok(PolicyName(s.to_owned()))
    }
}

string_newtype!(
    /// An MCP server's or tool component's name: `[a-z0-9_-]{1,64}` without `__`, because the
    /// model sees its tools as `SERVER__TOOL`.
    ServerName
);

impl Scalar for ServerName {
    const EXPECTING: &'static str = "a server name ([a-z0-9_-]{1,64})";
    fn parse(s: &str) -> Result<Self, String> {
        check_slug("server name", s, "_")?;
        if s.contains("__") {
            return Err(format!(
                "invalid server name `{s}`: `__` separates the server from the tool in tool names"
            ));
        }
        Ok(ServerName(s.to_owned()))
    }
}

string_newtype!(
    /// An environment or template variable name: `[A-Za-z_][A-Za-z0-9_]*`.
    VarName
);

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Scalar for VarName {
    const EXPECTING: &'static str = "a variable name";
    fn parse(s: &str) -> Result<Self, String> {
        if !is_var_name(s) {
            return Err(format!(
                "invalid variable name `{s}`: use letters, digits and `_`, not starting with a digit"
            ));
        }
        Ok(VarName(s.to_owned()))
    }
}

string_newtype!(
    /// Non-empty text (a description, a model name); surrounding white space is removed.
    Text
);

impl Scalar for Text {
    const EXPECTING: &'static str = "text";
    fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(Text(t.to_owned()))
    }
}

/// A string that may hold `${VAR}` references, resolved from the environment at run time.
///
/// Secrets never live in a manifest: `GITHUB_TOKEN: "${GITHUB_TOKEN}"` is kept as written until
/// the tool starts. `$$` stands for a literal `$`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EnvString {
    template: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Literal(String),
    Var(String),
}

/// A `${VAR}` reference whose variable is not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable `{0}` is not set")]
pub struct MissingVar(pub String);

impl EnvString {
    /// The text as written, references unresolved.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The names of the variables it references, in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Substitutes every reference with `lookup(name)`; the first unset variable is an error.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, MissingVar> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var(v) => out.push_str(&lookup(v).ok_or_else(|| MissingVar(v.clone()))?),
            }
        }
        Ok(out)
    }
}

impl fmt::Debug for EnvString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The template only: resolved values may be secrets.
        write!(f, "{:?}", self.template)
    }
}

impl fmt::Display for EnvString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

impl Scalar for EnvString {
    const EXPECTING: &'static str = "a string (with optional ${VAR} references)";
    fn parse(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                literal.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in `{s}`: write `${{NAME}}`"))?;
                let name = &body[..end];
                if !is_var_name(name) {
                    return Err(format!(
                        "invalid reference `${{{name}}}` in `{s}`: a variable name is letters, digits and `_`"
                    ));
                }
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(name.to_owned()));
                rest = &body[end + 1..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(EnvString {
            template: s.to_owned(),
            parts,
        })
    }
}

string_newtype!(
    /// A relative path that stays inside the folder it is relative to: no `..`, not absolute.
    RelPath
);

impl RelPath {
    /// The path as a `std::path::Path`.
    pub fn as_path(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl Scalar for RelPath {
    const EXPECTING: &'static str = "a relative path";
    fn parse(s: &str) -> Result<Self, String> {
        use std::path::Component;
        if s.trim().is_empty() {
            return Err("path must not be empty".to_owned());
        }
        let path = std::path::Path::new(s);
        let escapes = s.starts_with('\\')
            || s.contains('\0')
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(format!(
                "path `{s}` must be relative and stay inside the agent's folder (no `..`, no leading `/`)"
            ));
        }
        Ok(RelPath(s.to_owned()))
    }
}

/// Where a tool component or wasm MCP server comes from: a path relative to the agent's folder,
/// or `example:NAME`, one of the example components built into the `pluto` binary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WasmSource {
    /// A `.wasm` file relative to the agent's folder.
    Path(RelPath),
    /// An example component shipped inside the binary (`example:fetch`).
    Example(String),
}

impl WasmSource {
    /// The name the source gives its tools: the file stem, or the example's name.
    pub fn stem(&self) -> &str {
        match self {
            WasmSource::Path(p) => p
                .as_path()
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default(),
            WasmSource::Example(name) => name,
        }
    }
}

impl fmt::Display for WasmSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WasmSource::Path(p) => p.fmt(f),
            WasmSource::Example(name) => write!(f, "example:{name}"),
        }
    }
}

impl Scalar for WasmSource {
    const EXPECTING: &'static str = "a relative path to a .wasm file, or `example:NAME`";
    fn parse(s: &str) -> Result<Self, String> {
        if let Some(name) = s.strip_prefix("example:") {
            check_slug("example component name", name, "")?;
            return Ok(WasmSource::Example(name.to_owned()));
        }
        if s.contains("://") {
            return Err(format!(
                "`{s}`: components are loaded from files (a path relative to the agent's folder) or `example:NAME`; download it and pin it with `digest:`"
            ));
        }
        RelPath::parse(s).map(WasmSource::Path)
    }
}

/// A content digest that pins a component: `sha256:` and 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest(String);

impl Digest {
    /// The 64 hex digits of the SHA-256.
    pub fn sha256_hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Scalar for Digest {
    const EXPECTING: &'static str = "a digest such as `sha256:` followed by 64 hex digits";
    fn parse(s: &str) -> Result<Self, String> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| {
            format!("invalid digest `{s}`: write `sha256:` and the file's 64-digit SHA-256 (`sha256sum FILE`)")
        })?;
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "invalid digest `{s}`: `sha256:` must be followed by 64 hex digits"
            ));
        }
        Ok(Digest(format!("sha256:{}", hex.to_ascii_lowercase())))
    }
}

/// A length of time: `300s`, `5m`, `1h 30m`, `250ms`, or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// From whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Scalar for Duration {
    const EXPECTING: &'static str = "a duration such as 30s or 5m";
    fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let d = match t.parse::<u64>() {
            Ok(secs) => std::time::Duration::from_secs(secs),
            Err(_) => humantime::parse_duration(t).map_err(|e| {
                format!("invalid duration `{s}`: {e} (write for example `30s`, `5m`, `1h`)")
            })?,
        };
        if d.is_zero() {
            return Err(format!("invalid duration `{s}`: must be longer than zero"));
        }
        Ok(Duration(d))
    }
}

/// A number of bytes: `128MiB`, `1 MiB`, `512KiB`, `2GB`, or a bare number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const UNITS: [(&str, u64); 10] = [
    ("b", 1),
    ("kb", 1000),
    ("kib", 1 << 10),
    ("k", 1 << 10),
    ("mb", 1000 * 1000),
    ("mib", 1 << 20),
    ("m", 1 << 20),
    ("gb", 1000 * 1000 * 1000),
    ("gib", 1 << 30),
    ("g", 1 << 30),
];

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Scalar for ByteSize {
    const EXPECTING: &'static str = "a size such as 64MiB";
    fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let bad = || {
            format!(
                "invalid size `{s}`: write a whole number with a unit such as `64MiB`, `512KiB`, `1GiB`"
            )
        };
        let number: u64 = number.parse().map_err(|_| bad())?;
        let factor = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, f)| *f)
                .ok_or_else(bad)?
        };
        let bytes = number
            .checked_mul(factor)
            .ok_or_else(|| format!("size `{s}` is too large"))?;
        if bytes == 0 {
            return Err(format!("invalid size `{s}`: must be larger than zero"));
        }
        Ok(ByteSize(bytes))
    }
}

/// A semantic version (`0.1.0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SemVer(pub semver::Version);

impl Default for SemVer {
    fn default() -> Self {
        SemVer(semver::Version::new(0, 1, 0))
    }
}

impl fmt::Display for SemVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Scalar for SemVer {
    const EXPECTING: &'static str = "a version such as 1.2.0";
    fn parse(s: &str) -> Result<Self, String> {
        semver::Version::parse(s.trim()).map(SemVer).map_err(|_| {
            format!("invalid version `{s}`: expected a semantic version such as `1.2.0`")
        })
    }
}

/// The format version of a PAF manifest (`paf: 1`) or policy file (`policy: 1`): only 1 exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FormatVersion;

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("1")
    }
}

impl Scalar for FormatVersion {
    const EXPECTING: &'static str = "the format version 1";
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "1" => Ok(FormatVersion),
            other => Err(format!(
                "unsupported format version `{other}`: this Pluto reads version 1"
            )),
        }
    }
}

/// A sampling temperature between 0 and 2.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Temperature(pub f32);

impl fmt::Display for Temperature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Scalar for Temperature {
    const EXPECTING: &'static str = "a number between 0 and 2";
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().parse::<f32>() {
            Ok(t) if (0.0..=2.0).contains(&t) => Ok(Temperature(t)),
            _ => Err(format!(
                "invalid temperature `{s}`: expected a number between 0 and 2"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_are_slugs() {
        assert!(AgentName::parse("code-reviewer-2").is_ok());
        let err = AgentName::parse("My Agent").unwrap_err();
        assert!(err.contains("(for example `my-agent`)"), "{err}");
        assert!(AgentName::parse(&"a".repeat(65)).is_err());
        assert!(ServerName::parse("git_hub").is_ok());
        assert!(ServerName::parse("git__hub").is_err());
    }

    #[test]
    fn env_strings_keep_references_until_resolved() {
        let s = EnvString::parse("Bearer ${TOKEN} costs $$5 ${X}").unwrap();
        assert_eq!(s.vars().collect::<Vec<_>>(), ["TOKEN", "X"]);
        let env = |k: &str| (k == "TOKEN").then(|| "t0k".to_owned());
        assert_eq!(s.resolve(env), Err(MissingVar("X".into())));
        let all = |k: &str| Some(k.to_lowercase());
        assert_eq!(s.resolve(all).unwrap(), "Bearer token costs $5 x");
        assert_eq!(format!("{s:?}"), "\"Bearer ${TOKEN} costs $$5 ${X}\"");
        assert!(EnvString::parse("${UNCLOSED").is_err());
        assert!(EnvString::parse("${1BAD}").is_err());
        assert_eq!(
            EnvString::parse("cost: $5")
                .unwrap()
                .resolve(|_| None)
                .unwrap(),
            "cost: $5"
        );
    }

    #[test]
    fn relative_paths_cannot_escape() {
        assert!(RelPath::parse("tools/notes.wasm").is_ok());
        assert!(RelPath::parse("./instructions.md").is_ok());
        for bad in ["../secret", "/etc/passwd", "a/../../b", "", "\\\\server\\x"] {
            assert!(RelPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(Duration::parse("300s").unwrap(), Duration::from_secs(300));
        assert_eq!(Duration::parse("90").unwrap(), Duration::from_secs(90));
        assert_eq!(
            Duration::parse("1h 30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert!(Duration::parse("soon").is_err());
        assert!(Duration::parse("0s").is_err());
        assert_eq!(ByteSize::parse("128MiB").unwrap(), ByteSize(128 << 20));
        assert_eq!(ByteSize::parse("1 MiB").unwrap(), ByteSize(1 << 20));
        assert_eq!(ByteSize::parse("2GB").unwrap(), ByteSize(2_000_000_000));
        assert_eq!(ByteSize::parse("4096").unwrap(), ByteSize(4096));
        assert!(ByteSize::parse("lots").is_err());
        assert!(ByteSize::parse("99999999999GiB").is_err());
        assert_eq!(ByteSize(128 << 20).to_string(), "128MiB");
    }
}
