//! End-to-end tests of `pluto validate`: they run the real `pluto` binary on the shipped agents
//! and policies and on fixture folders of broken ones, and compare its output exactly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn pluto(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pluto"))
        .args(args)
        .current_dir(dir)
        .env_remove("PLUTO_POLICIES")
        .output()
        .expect("run pluto")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

#[test]
fn shipped_agents_and_policies_are_valid() {
    let out = pluto(&repo(), &["validate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "ok: agent `assistant` (agents/assistant.md): openrouter anthropic/claude-sonnet-4.5, tools: none\n\
         ok: agent `coder` (agents/coder/agent.yaml): anthropic claude-sonnet-4-5, tools: files, shell\n\
         ok: agent `fetcher` (agents/fetcher.md): openrouter anthropic/claude-sonnet-4.5, tools: fetch, text\n\
         ok: agent `notes` (agents/notes.md): openrouter anthropic/claude-sonnet-4.5, tools: notes\n\
         ok: agent `researcher` (agents/researcher/agent.yaml): openrouter openai/gpt-4.1, tools: http_fetch, notes\n\
         ok: policy `default` (sandbox-policies/default.yaml)\n\
         ok: policy `fetch` (sandbox-policies/fetch.yaml)\n\
         ok: policy `networked` (sandbox-policies/networked.yaml)\n\
         ok: policy `readonly` (sandbox-policies/readonly.yaml)\n\
         5 agents valid, 4 policy files valid\n"
    );
}

#[test]
fn broken_agents_give_the_expected_file_line_column_lines() {
    let fixtures = repo().join("tests/fixtures");
    let out = pluto(
        &fixtures,
        &[
            "validate",
            "broken-agents",
            "--policies",
            "../../sandbox-policies",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let expected =
        std::fs::read_to_string(fixtures.join("broken-agents.expected")).expect("expected output");
    assert_eq!(stdout(&out), expected);
}

#[test]
fn broken_policies_give_the_expected_file_line_column_lines() {
    let fixtures = repo().join("tests/fixtures");
    let out = pluto(&fixtures, &["validate", "broken-policies"]);
    assert_eq!(out.status.code(), Some(1));
    let expected = std::fs::read_to_string(fixtures.join("broken-policies.expected"))
        .expect("expected output");
    assert_eq!(stdout(&out), expected);
}

#[test]
fn json_format_reports_the_same_problems() {
    let fixtures = repo().join("tests/fixtures");
    let out = pluto(
        &fixtures,
        &[
            "validate",
            "broken-agents/not-an-agent",
            "broken-agents/unknown-key",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["problems"][1],
        serde_json::json!({
            "file": "broken-agents/unknown-key/agent.yaml",
            "line": 4,
            "column": 1,
            "message": "unknown field `modle`, expected one of `paf`, `name`, `description`, `version`, `model`, `instructions`, `vars`, `tools`, `limits`, `sandbox`, `memory`, `card`",
            "help": "did you mean `model`?"
        })
    );
    // A problem with a file as a whole has no line or column.
    assert_eq!(
        report["problems"][0],
        serde_json::json!({
            "file": "broken-agents/not-an-agent",
            "message": "not an agent: the folder has no agent.yaml, and holds no agents or policies"
        })
    );

    let ok = pluto(&repo(), &["validate", "--format", "json"]);
    assert_eq!(ok.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("JSON report");
    assert_eq!(report["valid"], true);
    assert_eq!(report["agents"][1]["name"], "coder");
    assert_eq!(
        report["agents"][1]["tools"],
        serde_json::json!(["files", "shell"])
    );
    assert_eq!(report["policies"].as_array().map(Vec::len), Some(4));
}

#[test]
fn each_kind_of_path_is_accepted() {
    let out = pluto(
        &repo(),
        &[
            "validate",
            "agents/assistant.md",
            "agents/coder",
            "agents/researcher/agent.yaml",
            "sandbox-policies/readonly.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("ok: agent `assistant`") && text.contains("ok: agent `coder`"),
        "{text}"
    );
    assert!(text.contains("ok: agent `researcher`"), "{text}");
    assert!(
        text.ends_with("3 agents valid, 4 policy files valid\n"),
        "{text}"
    );
}

#[test]
fn missing_paths_and_readmes_are_reported() {
    let out = pluto(&repo(), &["validate", "no/such/agent", "agents/README.md"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "agents/README.md: error: a README.md documents a folder and is not an agent\n\
         no/such/agent: error: no such file or folder\n\
         error: 2 problems found (0 agents valid, 4 policy files valid)\n"
    );
}

#[test]
fn empty_binary_and_huge_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("empty.md"), "").unwrap();
    let mut binary = b"---\npaf: 1\n".to_vec();
    binary.extend([0x7f, b'E', b'L', b'F', 0, 0xff, 0xfe]);
    std::fs::write(dir.path().join("binary.md"), binary).unwrap();
    let huge = format!("---\npaf: 1\n---\n{}", "x".repeat(10 * 1024 * 1024));
    std::fs::write(dir.path().join("huge.md"), huge).unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    std::fs::write(dir.path().join("folder/agent.yaml"), [0u8, 159, 146, 150]).unwrap();

    let out = pluto(
        dir.path(),
        &["validate", "empty.md", "binary.md", "huge.md", "folder"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "binary.md:3:6: error: not a text file: invalid UTF-8 at byte 16\n\
         empty.md:1:1: error: empty file: expected `---`, a YAML manifest, `---`, then the instructions\n\
         folder/agent.yaml:1:2: error: not a text file: invalid UTF-8 at byte 1\n\
         huge.md:1:1: error: file is too large (10485775 bytes); declaration files are limited to 1048576 bytes (1 MiB)\n\
         error: 4 problems found (0 agents valid, 0 policy files valid)\n"
    );
}

#[test]
fn nothing_to_validate_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = pluto(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with(".: error: nothing to validate"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn help_and_version() {
    let help = pluto(&repo(), &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = stdout(&help);
    assert!(
        text.contains("validate  Check agents and sandbox policies"),
        "{text}"
    );
    let version = pluto(&repo(), &["--version"]);
    assert_eq!(
        stdout(&version),
        format!("pluto {}\n", env!("CARGO_PKG_VERSION"))
    );
    let usage = pluto(&repo(), &["validate", "--format", "yaml"]);
    assert_eq!(usage.status.code(), Some(2));
}

/// The code block of `README.md` that starts with `opening` (the fence line and its first line).
fn readme_block(opening: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find(opening)
        .unwrap_or_else(|| panic!("README has no block starting {opening:?}"));
    let body = &readme[start + opening.find('\n').expect("a fence line") + 1..];
    body[..body.find("\n```").expect("a closed block") + 1].to_owned()
}

#[test]
fn the_readme_examples_are_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agents = dir.path().join("agents");
    std::fs::create_dir_all(agents.join("researcher")).unwrap();
    std::fs::write(
        agents.join("assistant.md"),
        readme_block("```markdown\n---"),
    )
    .unwrap();
    std::fs::write(
        agents.join("researcher/agent.yaml"),
        readme_block("```yaml\npaf: 1"),
    )
    .unwrap();
    std::fs::write(
        agents.join("researcher/instructions.md"),
        "Write for {{vars.audience}}.\n",
    )
    .unwrap();
    let policies = dir.path().join("sandbox-policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("networked.yaml"),
        readme_block("```yaml\npolicy: 1"),
    )
    .unwrap();

    let out = pluto(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).ends_with("2 agents valid, 1 policy file valid\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn validate_with_sandbox_reports_native_mcp_servers_the_policy_does_not_allow() {
    let out = pluto(&repo(), &["validate", "--sandbox"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "agents/researcher/agent.yaml:13:5: error: MCP server `notes` runs as a native process, which sandbox policy \
         `networked` does not allow\n  help: add `notes` to `native_mcp.allow` in the policy, or run the server as \
         WebAssembly (`wasm:`)\nerror: 1 problem found (5 agents valid, 4 policy files valid)\n"
    );
}
