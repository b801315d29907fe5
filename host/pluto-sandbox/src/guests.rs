//! The guest components built from `guest/` and embedded in the binary.

/// The `files` tool component (`guest/files`): the same six tools as the native `files` set.
pub const FILES: &[u8] = include_bytes!(env!("PLUTO_GUEST_FILES"));

/// The `shell` tool component (`guest/shell`): a command interpreter whose commands run inside
/// it (bashkit), over the workspace; no process is ever spawned.
pub const SHELL: &[u8] = include_bytes!(env!("PLUTO_GUEST_SHELL"));

/// Where the example `text` component (`guest/examples/text`) was built: for tests and for
/// trying `pluto tool inspect|call` (it is not embedded).
pub const EXAMPLE_TEXT_PATH: &str = env!("PLUTO_GUEST_TEXT");
