//! An example tool component: text utilities that need no capability at all (`echo` is the
//! trivial tool the sandbox's per-call overhead is measured with). It shows the
//! smallest useful component of the `tool-component` world (`wit/sandbox`): `describe` lists the
//! tools with their JSON Schemas, `call` runs one.
//!
//! Use it from an agent with `tools: - component: text.wasm`, or try it with
//! `pluto tool inspect text.wasm` and `pluto tool call text.wasm word_count '{"text": "a b"}'`.

use serde_json::{Value, json};

wit_bindgen::generate!({ path: "../../../wit/sandbox", world: "tool-component" });

use exports::pluto::sandbox::tool::{ContentPart, Guest, ToolDefinition, ToolResult};

struct Text;

fn text_arg(arguments: &str) -> Result<String, String> {
    let args: Value = serde_json::from_str(arguments).map_err(|e| format!("invalid JSON arguments: {e}"))?;
    args["text"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "`text` must be a string".to_owned())
}

fn result(content: String, details: Value, is_error: bool) -> ToolResult {
    ToolResult { content: vec![ContentPart::Text(content)], details: details.to_string(), is_error }
}

impl Guest for Text {
    fn describe() -> Vec<ToolDefinition> {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}},
                            "required": ["text"], "additionalProperties": false})
        .to_string();
        vec![
            ToolDefinition {
                name: "word_count".into(),
                description: "Count the words, lines and characters of a text.".into(),
                input_schema: schema.clone(),
            },
            ToolDefinition {
                name: "upper".into(),
                description: "Return the text in upper case.".into(),
                input_schema: schema.clone(),
            },
            ToolDefinition {
                name: "echo".into(),
                description: "Return the text unchanged.".into(),
                input_schema: schema,
            },
        ]
    }

    fn call(name: String, arguments: String) -> ToolResult {
        let text = match text_arg(&arguments) {
            Ok(t) => t,
            Err(e) => return result(e, Value::Null, true),
        };
        match name.as_str() {
            "word_count" => {
                let (words, lines, chars) =
                    (text.split_whitespace().count(), text.lines().count(), text.chars().count());
                result(
                    format!("{words} words, {lines} lines, {chars} characters"),
                    json!({"words": words, "lines": lines, "characters": chars}),
                    false,
                )
            }
            "upper" => result(text.to_uppercase(), Value::Null, false),
            "echo" => result(text, Value::Null, false),
            other => result(format!("no tool named `{other}`"), Value::Null, true),
        }
    }
}

export!(Text);
