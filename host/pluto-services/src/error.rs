//! What a store can say went wrong.

/// An error from a store. `NotFound` and `Conflict` are answers a caller acts on; the rest are
/// reported.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist (or belongs to another tenant: the two are not told apart).
    #[error("{what} not found")]
    NotFound {
        /// What was asked for, e.g. `session 0192…`.
        what: String,
    },
    /// An append named a sequence number that is no longer the session's last.
    #[error("conflict: expected the session's last event to be {expected}, it is {actual}")]
    Conflict {
        /// The sequence number the caller expected.
        expected: u64,
        /// The session's actual last sequence number.
        actual: u64,
    },
    /// The input is not acceptable (a bad id, an empty name, …).
    #[error("{0}")]
    Invalid(String),
    /// Saving this would exceed the tenant's artifact storage limit.
    #[error("artifact storage limit of {limit} bytes reached for this tenant")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The backend failed (I/O, database, network).
    #[error("{context}: {message}")]
    Backend {
        /// What the store was doing.
        context: String,
        /// The backend's error.
        message: String,
    },
}

impl StoreError {
    /// A `NotFound` for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    /// A backend failure while doing `context`.
    pub fn backend(context: impl Into<String>, error: impl std::fmt::Display) -> Self {
        StoreError::Backend {
            context: context.into(),
            message: error.to_string(),
        }
    }
}

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Adds what the store was doing to a backend error.
pub(crate) trait Context<T> {
    /// Maps the error to [`StoreError::Backend`] with `context`.
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| StoreError::backend(context(), e))
    }
}
