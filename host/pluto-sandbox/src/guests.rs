//! The guest components built from `guest/` and embedded in the binary.

/// The `files` tool component (`guest/files`): the same six tools as the native `files` set.
pub const FILES: &[u8] = include_bytes!(env!("PLUTO_GUEST_FILES"));

/// The `shell` tool component (`guest/shell`): a command interpreter whose commands run inside
/// it (bashkit), over the workspace; no process is ever spawned.
pub const SHELL: &[u8] = include_bytes!(env!("PLUTO_GUEST_SHELL"));

/// The example components (`guest/examples/`), which agents name as `example:NAME` in
/// `component:` (tool components) or `wasm:` (MCP servers), with what each one is.
pub const EXAMPLES: &[(&str, &str, &[u8])] = &[
    (
        "text",
        "tool component: word_count and upper, pure compute (needs no capability)",
        include_bytes!(env!("PLUTO_GUEST_TEXT")),
    ),
    (
        "fetch",
        "tool component: get, an HTTP GET through wasi:http (needs network.allow)",
        include_bytes!(env!("PLUTO_GUEST_FETCH")),
    ),
    (
        "notes-mcp",
        "MCP server (stdio, rmcp): add_note, read_note, list_notes in /workspace/notes (needs the workspace)",
        include_bytes!(env!("PLUTO_GUEST_NOTES_MCP")),
    ),
];

/// The example component called `name`.
pub fn example(name: &str) -> Option<&'static [u8]> {
    EXAMPLES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, wasm)| *wasm)
}

/// Where the example `text` component was built (for tests that need a file).
pub const EXAMPLE_TEXT_PATH: &str = env!("PLUTO_GUEST_TEXT");

/// Where the attack guest was built (`guest/probe`, for tests).
pub const PROBE_PATH: &str = env!("PLUTO_GUEST_PROBE");

/// Where the tests' component whose `describe` traps was built (`guest/broken`).
pub const BROKEN_PATH: &str = env!("PLUTO_GUEST_BROKEN");

/// Where the tests' wasm MCP server whose `spin` tool never returns was built (`guest/broken`).
pub const SPIN_MCP_PATH: &str = env!("PLUTO_GUEST_SPIN_MCP");
