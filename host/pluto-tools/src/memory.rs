//! The `remember` and `recall` tools of agents with `memory.enabled`: notes kept in the memory
//! service, per tenant, in the scope the manifest names (user, agent or session).

use std::sync::Arc;

use async_trait::async_trait;
use pluto_core::{ToolContext, ToolDef, ToolResult};
use pluto_paf::manifest::MemoryScope;
use pluto_services::{MemoryStore, Scope, Tenant};
use serde_json::{Value, json};

use crate::toolbox::Tool;

/// Whose memory the tools use.
#[derive(Clone)]
pub struct MemoryAccess {
    /// The store.
    pub store: Arc<dyn MemoryStore>,
    /// The tenant.
    pub tenant: Tenant,
    /// The manifest's scope kind.
    pub scope: MemoryScope,
    /// The user (for `user` scope).
    pub user: String,
    /// The agent (for `agent` scope).
    pub agent: String,
}

impl MemoryAccess {
    /// The scope of a call: the session's, for `session` scope.
    pub fn scope(&self, session: Option<&str>) -> Result<Scope, String> {
        let made = match self.scope {
            MemoryScope::User => Scope::new("user", &self.user),
            MemoryScope::Agent => Scope::new("agent", &self.agent),
            MemoryScope::Session => match session {
                Some(id) => Scope::new("session", id),
                None => return Err("session memory needs a session".into()),
            },
        };
        made.map_err(|e| e.to_string())
    }
}

/// The most hits `recall` returns.
const MAX_RECALL: u64 = 20;

/// `remember` and `recall` over `access`.
pub fn tools(access: MemoryAccess) -> Vec<Arc<dyn Tool>> {
    let access = Arc::new(access);
    vec![Arc::new(Remember(access.clone())), Arc::new(Recall(access))]
}

struct Remember(Arc<MemoryAccess>);
struct Recall(Arc<MemoryAccess>);

#[async_trait]
impl Tool for Remember {
    fn definition(&self) -> ToolDef {
        ToolDef {
            name: "remember".into(),
            description: "Keep a short note for later conversations: a fact, a preference, a \
                          decision. One self-contained statement per call."
                .into(),
            input_schema: json!({"type": "object", "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": pluto_services::MAX_TEXT,
                         "description": "The note, written so that it makes sense on its own"}},
                "required": ["text"], "additionalProperties": false}),
        }
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        let text = args["text"].as_str().unwrap_or_default();
        let scope = match self.0.scope(ctx.session.as_deref()) {
            Ok(s) => s,
            Err(e) => return ToolResult::error(e),
        };
        match self
            .0
            .store
            .add(
                &self.0.tenant,
                &scope,
                text,
                json!({"session": ctx.session}),
            )
            .await
        {
            Ok(entry) => {
                ToolResult::ok("Remembered.", json!({"id": entry.id, "scope": entry.scope}))
            }
            Err(e) => ToolResult::error(format!("could not remember: {e}")),
        }
    }
}

#[async_trait]
impl Tool for Recall {
    fn definition(&self) -> ToolDef {
        ToolDef {
            name: "recall".into(),
            description: "Search the notes kept with `remember` for words of the query; the best \
                          matches come first."
                .into(),
            input_schema: json!({"type": "object", "properties": {
                "query": {"type": "string", "minLength": 1, "description": "Words to look for"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RECALL,
                          "description": "The most notes to return (default 5)"}},
                "required": ["query"], "additionalProperties": false}),
        }
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        let query = args["query"].as_str().unwrap_or_default();
        let limit = args["limit"].as_u64().unwrap_or(5).min(MAX_RECALL) as usize;
        let scope = match self.0.scope(ctx.session.as_deref()) {
            Ok(s) => s,
            Err(e) => return ToolResult::error(e),
        };
        match self
            .0
            .store
            .search(&self.0.tenant, &scope, query, limit)
            .await
        {
            Ok(hits) if hits.is_empty() => ToolResult::ok("No notes match.", json!({"hits": []})),
            Ok(hits) => {
                let content: Vec<String> =
                    hits.iter().map(|h| format!("- {}", h.entry.text)).collect();
                ToolResult::ok(content.join("\n"), json!({"hits": hits}))
            }
            Err(e) => ToolResult::error(format!("could not recall: {e}")),
        }
    }
}
