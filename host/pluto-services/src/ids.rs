//! The names stores accept: tenants, sessions, agents, memory scopes, artifacts.
//!
//! Every one is checked before it reaches a backend, so none can escape a tenant's folder or key
//! prefix: only ASCII letters, digits, `_`, `-` and `.` (never leading), at most 128 bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

const MAX_ID: usize = 128;

/// Checks that `value` is a safe identifier; `what` names it in the error.
pub fn check_id(what: &str, value: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if value.is_empty() {
        return Err(StoreError::Invalid(format!("{what} is empty")));
    }
    if value.len() > MAX_ID {
        return Err(StoreError::Invalid(format!(
            "{what} is longer than {MAX_ID} bytes"
        )));
    }
    if value.starts_with('.') || !value.chars().all(ok_char) {
        return Err(StoreError::Invalid(format!(
            "{what} `{}` may use only letters, digits, `_`, `-` and `.` (not first)",
            value.escape_default()
        )));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self> {
                let value = value.into();
                check_id($what, &value)?;
                Ok($name(value))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = StoreError;
            fn try_from(value: String) -> Result<Self> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(value: &str) -> Result<Self> {
                $name::new(value)
            }
        }
    };
}

id_type!(
    /// A tenant: everything stored belongs to exactly one.
    Tenant,
    "tenant id"
);
id_type!(
    /// A session's id (new ones are UUID v7, so they sort by creation time).
    SessionId,
    "session id"
);

impl Tenant {
    /// The implicit tenant of a single-user installation.
    pub fn default_tenant() -> Tenant {
        Tenant("default".to_owned())
    }
}

impl SessionId {
    /// A new, time-ordered id.
    pub fn generate() -> SessionId {
        SessionId(uuid::Uuid::now_v7().to_string())
    }
}

/// A new time-ordered id for a memory entry or an artifact blob.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
