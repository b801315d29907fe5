//! Built only for the tests: a component of the right world whose `describe` traps, to check
//! that loading it gives a clear error rather than a crash or an empty tool list.

wit_bindgen::generate!({ path: "../../wit/sandbox", world: "tool-component" });

use exports::pluto::sandbox::tool::{Guest, ToolDefinition, ToolResult};

struct Broken;

impl Guest for Broken {
    fn describe() -> Vec<ToolDefinition> {
        panic!("describe fails on purpose")
    }

    fn call(_name: String, _arguments: String) -> ToolResult {
        panic!("call fails on purpose")
    }
}

export!(Broken);
