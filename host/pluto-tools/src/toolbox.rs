//! One agent's tools, and the dispatch of a call to the right one.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use pluto_core::{ToolCall, ToolContext, ToolDef, ToolExecutor, ToolResult};
use serde_json::Value;

/// One tool: its definition and how to run it with checked arguments.
#[async_trait]
pub trait Tool: Send + Sync {
    /// What the model is offered.
    fn definition(&self) -> ToolDef;

    /// Runs the tool; `args` already match the definition's schema. Failures are tool errors.
    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult;
}

/// A toolbox that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolboxError {
    /// Two tools share a name.
    #[error("two tools are named `{0}`")]
    Duplicate(String),
    /// A tool's input schema is not a valid JSON Schema.
    #[error("tool `{name}` has an invalid input schema: {message}")]
    InvalidSchema {
        /// The tool.
        name: String,
        /// Why.
        message: String,
    },
}

struct Entry {
    tool: Arc<dyn Tool>,
    schema: jsonschema::Validator,
}

/// The tools of one agent; dispatches calls and checks their arguments.
#[derive(Default)]
pub struct Toolbox {
    defs: Vec<ToolDef>,
    entries: HashMap<String, Entry>,
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toolbox")
            .field(
                "tools",
                &self.defs.iter().map(|d| &d.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool`, compiling its schema once.
    pub fn add(&mut self, tool: Arc<dyn Tool>) -> Result<(), ToolboxError> {
        let def = tool.definition();
        if self.entries.contains_key(&def.name) {
            return Err(ToolboxError::Duplicate(def.name));
        }
        let schema = jsonschema::validator_for(&def.input_schema).map_err(|e| {
            ToolboxError::InvalidSchema {
                name: def.name.clone(),
                message: e.to_string(),
            }
        })?;
        self.entries
            .insert(def.name.clone(), Entry { tool, schema });
        self.defs.push(def);
        Ok(())
    }

    /// Parses and checks a call's arguments; the error is what the model is told.
    fn arguments(&self, entry: &Entry, call: &ToolCall) -> Result<Value, String> {
        let text = call.arguments.trim();
        // Some models send nothing for a tool without parameters.
        let args: Value = if text.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(text)
                .map_err(|e| format!("invalid JSON arguments for `{}`: {e}", call.name))?
        };
        let problems: Vec<String> = entry
            .schema
            .iter_errors(&args)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(format!(
                "arguments for `{}` do not match its schema: {}",
                call.name,
                problems.join("; ")
            ));
        }
        Ok(args)
    }
}

#[async_trait]
impl ToolExecutor for Toolbox {
    fn definitions(&self) -> &[ToolDef] {
        &self.defs
    }

    async fn call(&self, call: &ToolCall, ctx: &ToolContext) -> ToolResult {
        let Some(entry) = self.entries.get(&call.name) else {
            let known: Vec<&str> = self.defs.iter().map(|d| d.name.as_str()).collect();
            return ToolResult::error(format!(
                "unknown tool `{}`; the tools are: {}",
                call.name,
                known.join(", ")
            ));
        };
        let args = match self.arguments(entry, call) {
            Ok(args) => args,
            Err(message) => return ToolResult::error(message),
        };
        tokio::select! {
            result = entry.tool.call(args, ctx) => {
                if result.is_error {
                    tracing::info!(tool = %call.name, error = %result.content, "tool call failed");
                }
                result
            }
            () = ctx.cancel.cancelled() => ToolResult::error(format!("`{}` was cancelled", call.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    use super::*;

    struct Add;

    #[async_trait]
    impl Tool for Add {
        fn definition(&self) -> ToolDef {
            ToolDef {
                name: "add".into(),
                description: "Adds".into(),
                input_schema: json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                    "required": ["a", "b"], "additionalProperties": false}),
            }
        }
        async fn call(&self, args: Value, _ctx: &ToolContext) -> ToolResult {
            ToolResult::ok(
                (args["a"].as_i64().unwrap() + args["b"].as_i64().unwrap()).to_string(),
                json!({}),
            )
        }
    }

    fn ctx() -> ToolContext {
        ToolContext {
            session: None,
            workspace: ".".into(),
            cancel: CancellationToken::new(),
            deadline: Instant::now() + Duration::from_secs(5),
        }
    }

    fn call(name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    #[tokio::test]
    async fn bad_calls_are_tool_errors_for_the_model() {
        let mut tb = Toolbox::new();
        tb.add(Arc::new(Add)).unwrap();
        assert_eq!(
            tb.add(Arc::new(Add)),
            Err(ToolboxError::Duplicate("add".into()))
        );
        assert_eq!(
            tb.call(&call("add", r#"{"a":2,"b":3}"#), &ctx())
                .await
                .content,
            "5"
        );

        let unknown = tb.call(&call("sub", "{}"), &ctx()).await;
        assert!(unknown.is_error);
        assert_eq!(unknown.content, "unknown tool `sub`; the tools are: add");

        let bad_json = tb.call(&call("add", r#"{"a":2,"#), &ctx()).await;
        assert!(
            bad_json.is_error
                && bad_json
                    .content
                    .starts_with("invalid JSON arguments for `add`"),
            "{}",
            bad_json.content
        );

        let schema = tb.call(&call("add", r#"{"a":"two"}"#), &ctx()).await;
        assert!(schema.is_error);
        assert!(
            schema
                .content
                .contains("/a: \"two\" is not of type \"integer\""),
            "{}",
            schema.content
        );
        assert!(
            schema.content.contains("\"b\" is a required property"),
            "{}",
            schema.content
        );
    }
}
