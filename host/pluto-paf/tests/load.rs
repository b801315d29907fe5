//! The public API of pluto-paf against real files: the shipped agents and policies, the
//! fixture folders, and agents written into temporary folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pluto_paf::manifest::{MemoryScope, ProviderKind, SandboxMode};
use pluto_paf::policy::{Access, PolicyRef};
use pluto_paf::scalar::WasmSource;
use pluto_paf::tool::{Builtin, McpTransport, ToolFilter, ToolSpec};
use pluto_paf::{Agent, AgentForm, Catalog, Policy, PolicySet, Position};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped_policies() -> PolicySet {
    let mut set = PolicySet::builtin();
    let problems = set.load_dir(&repo().join("sandbox-policies"));
    assert!(problems.is_empty(), "{problems:?}");
    set
}

const MANIFEST: &str = "paf: 1\nname: twin\ndescription: Same agent, two forms\nmodel: { provider: ollama, name: llama3.2 }\nvars: { tone: calm }\ntools:\n  - builtin: files\n";
const BODY: &str = "You are {{agent.name}}, {{vars.tone}}, on {{date}}.\n";

#[test]
fn both_forms_load_into_the_same_agent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("twin")).unwrap();
    std::fs::write(dir.path().join("twin/agent.yaml"), MANIFEST).unwrap();
    std::fs::write(dir.path().join("twin/instructions.md"), BODY).unwrap();
    std::fs::write(
        dir.path().join("single.md"),
        format!("---\n{MANIFEST}---\n{BODY}"),
    )
    .unwrap();

    let policies = PolicySet::builtin();
    let folder = Agent::load(&dir.path().join("twin"), &policies).unwrap();
    let file = Agent::load(&dir.path().join("single.md"), &policies).unwrap();
    assert_eq!(folder.manifest, file.manifest);
    assert_eq!(folder.instructions, file.instructions);
    assert_eq!(
        folder.form,
        AgentForm::Folder {
            dir: dir.path().join("twin")
        }
    );
    assert_eq!(file.name_position, Position::new(3, 7));
    assert_eq!(folder.name_position, Position::new(2, 7));

    let m = &file.manifest;
    assert_eq!(m.model.provider, ProviderKind::Ollama);
    assert_eq!(m.version.to_string(), "0.1.0");
    assert_eq!(m.limits.max_turns.get(), 25);
    assert_eq!(m.sandbox.mode, SandboxMode::Inherit);
    assert_eq!(m.tools, [ToolSpec::Builtin(Builtin::Files)]);

    let vars = BTreeMap::from([("tone".to_owned(), "brisk".to_owned())]);
    assert_eq!(
        file.instructions.render(m, &vars, "2026-11-24").unwrap(),
        "You are twin, brisk, on 2026-11-24.\n"
    );
    assert_eq!(
        file.instructions.render(m, &BTreeMap::new(), "d").unwrap(),
        "You are twin, calm, on d.\n"
    );
}

#[test]
fn a_variable_without_default_must_be_given_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let text = "---\npaf: 1\nname: v\ndescription: d\nmodel: { name: m }\nvars: { who: null }\n---\nHi {{vars.who}}\n";
    std::fs::write(dir.path().join("v.md"), text).unwrap();
    let agent = Agent::load(&dir.path().join("v.md"), &PolicySet::builtin()).unwrap();
    let err = agent
        .instructions
        .render(&agent.manifest, &BTreeMap::new(), "d")
        .unwrap_err();
    assert_eq!(err.0, "who");
    assert_eq!(agent.instructions.vars(), ["who"]);
}

#[test]
fn shipped_agents_load_with_their_declared_tools() {
    let (catalog, problems) = Catalog::load_dir(&repo().join("agents"), &shipped_policies());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        catalog
            .iter()
            .map(|a| a.manifest.name.as_str())
            .collect::<Vec<_>>(),
        ["assistant", "coder", "fetcher", "notes", "researcher"]
    );

    let fetcher = catalog.get("fetcher").unwrap();
    let ToolSpec::Component(fetch) = &fetcher.manifest.tools[0] else {
        panic!("a tool component")
    };
    assert_eq!(fetch.name.as_str(), "fetch");
    assert_eq!(fetch.source, WasmSource::Example("fetch".into()));
    let notes = catalog.get("notes").unwrap();
    let ToolSpec::Mcp(server) = &notes.manifest.tools[0] else {
        panic!("an MCP server")
    };
    assert!(matches!(
        &server.transport,
        McpTransport::Wasm { source: WasmSource::Example(name), digest: None, .. } if name == "notes-mcp"
    ));

    let researcher = catalog.get("researcher").unwrap();
    assert_eq!(researcher.manifest.memory.scope, MemoryScope::User);
    assert_eq!(
        researcher.manifest.sandbox.policy,
        PolicyRef::Named("networked".parse().unwrap())
    );
    let ToolSpec::Mcp(notes) = &researcher.manifest.tools[1] else {
        panic!("an MCP server")
    };
    assert!(notes.filter.allows("search_nodes") && !notes.filter.allows("delete_entities"));
    let McpTransport::Stdio { command, args, env } = &notes.transport else {
        panic!("stdio")
    };
    assert_eq!(command.template(), "npx");
    assert_eq!(args[1].template(), "@modelcontextprotocol/server-memory");
    // `${VAR}` stays unresolved until run time.
    let path = env.values().next().unwrap();
    assert_eq!(path.template(), "${HOME}/.pluto/researcher-notes.jsonl");
    assert_eq!(
        path.resolve(|v| (v == "HOME").then(|| "/home/p".into()))
            .unwrap(),
        "/home/p/.pluto/researcher-notes.jsonl"
    );
    assert!(path.resolve(|_| None).is_err());

    let assistant = catalog.get("assistant").unwrap();
    assert_eq!(assistant.manifest.card.skills[0].id.as_str(), "answer");
    assert!(matches!(assistant.form, AgentForm::File { .. }));
}

#[test]
fn the_builtin_default_policy_is_the_shipped_default_yaml() {
    let shipped = Policy::load_file(&repo().join("sandbox-policies/default.yaml")).unwrap();
    assert_eq!(shipped, Policy::builtin_default());
    let readonly = Policy::load_file(&repo().join("sandbox-policies/readonly.yaml")).unwrap();
    assert_eq!(readonly.filesystem[0].access, [Access::Read]);
    assert!(readonly.network.allow.is_empty());
}

#[test]
fn a_folder_of_broken_agents_reports_every_one_and_keeps_the_good() {
    let dir = repo().join("tests/fixtures/broken-agents");
    let (catalog, problems) = Catalog::load_dir(&dir, &shipped_policies());
    // `twin-a.md` is the one valid agent; its namesake `twin-b.md` is a duplicate.
    assert_eq!(
        catalog
            .iter()
            .map(|a| a.manifest.name.as_str())
            .collect::<Vec<_>>(),
        ["twin"]
    );
    let files: std::collections::BTreeSet<_> = problems.iter().map(|d| d.file.clone()).collect();
    assert_eq!((problems.len(), files.len()), (25, 24), "{problems:#?}");
    assert!(problems.iter().all(|d| d.file.starts_with(&dir)));
    assert!(!files.iter().any(|f| f.ends_with("README.md")));
}

#[test]
fn instructions_cannot_be_read_through_a_link_out_of_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("sneaky");
    std::fs::create_dir(&agent).unwrap();
    std::fs::write(dir.path().join("secret.md"), "the secret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.md"), agent.join("instructions.md"))
        .unwrap();
    std::fs::write(
        agent.join("agent.yaml"),
        "paf: 1\nname: sneaky\ndescription: d\nmodel: { name: m }\n",
    )
    .unwrap();
    let err = Agent::load(&agent, &PolicySet::builtin()).unwrap_err();
    assert_eq!(
        err.0[0].message,
        "instructions file `instructions.md` leads outside the agent's folder"
    );
}

#[test]
fn inline_policies_and_tool_policies_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "---\npaf: 1\nname: inline\ndescription: d\nmodel: { name: m }\nsandbox:\n  mode: required\n  policy:\n    filesystem: [{ path: \"{workspace}/out\", access: [write] }]\n    network: { allow: [\"*.example.com:443\"] }\n---\n";
    std::fs::write(dir.path().join("inline.md"), ok).unwrap();
    let agent = Agent::load(&dir.path().join("inline.md"), &PolicySet::builtin()).unwrap();
    let PolicyRef::Inline(policy) = &agent.manifest.sandbox.policy else {
        panic!("inline")
    };
    assert_eq!(
        policy.filesystem[0].path.resolve(Path::new("/w")),
        Path::new("/w/out")
    );

    let bad = "---\npaf: 1\nname: bad\ndescription: d\nmodel: { name: m }\ntools:\n  - component: tools/weather.wasm\n    policy: nope\n  - mcp: notes\n    wasm: notes.wasm\n    policy: readonly\n    exclude: [delete]\n---\n";
    std::fs::write(dir.path().join("bad.md"), bad).unwrap();
    let err = Agent::load(&dir.path().join("bad.md"), &shipped_policies()).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].position, Some(Position::new(8, 13)));
    assert_eq!(err.0[0].message, "unknown sandbox policy `nope`");
    assert_eq!(
        err.0[0].help.as_deref(),
        Some("known policies: default, fetch, networked, readonly")
    );
}

#[test]
fn wasm_sources_are_files_or_examples_and_digests_are_checked_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let pin = "sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
    let ok = format!(
        "---\npaf: 1\nname: ok\ndescription: d\nmodel: {{ name: m }}\ntools:\n  - component: tools/weather.wasm\n    digest: {pin}\n  - component: example:text\n  - mcp: notes\n    wasm: example:notes-mcp\n    digest: {pin}\n---\n"
    );
    std::fs::write(dir.path().join("ok.md"), ok).unwrap();
    let agent = Agent::load(&dir.path().join("ok.md"), &PolicySet::builtin()).unwrap();
    let ToolSpec::Component(weather) = &agent.manifest.tools[0] else {
        panic!("a component")
    };
    assert_eq!(weather.name.as_str(), "weather");
    let digest = weather.digest.as_ref().unwrap();
    assert_eq!(
        digest.sha256_hex(),
        pin[7..].to_ascii_lowercase(),
        "kept in lowercase"
    );
    let ToolSpec::Component(text) = &agent.manifest.tools[1] else {
        panic!("a component")
    };
    assert_eq!((text.name.as_str(), text.digest.is_none()), ("text", true));
    let json = serde_json::to_value(&agent.manifest.tools).unwrap();
    assert_eq!(json[1], serde_json::json!({"component": "example:text"}));
    assert_eq!(json[2]["wasm"], "example:notes-mcp");
    assert_eq!(json[2]["digest"], pin.to_ascii_lowercase());

    for (entry, message) in [
        (
            "  - component: https://example.com/t.wasm\n",
            "components are loaded from files",
        ),
        (
            "  - component: example:Not_Ok\n",
            "invalid example component name",
        ),
        (
            "  - component: t.wasm\n    digest: md5:abc\n",
            "invalid digest `md5:abc`: write `sha256:`",
        ),
        (
            "  - component: t.wasm\n    digest: sha256:abc\n",
            "must be followed by 64 hex digits",
        ),
        (
            "  - builtin: files\n    digest: sha256:abc\n",
            "must be followed by 64 hex digits",
        ),
        (
            "  - mcp: x\n    command: y\n    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
            "`digest` does not apply to MCP server `x` over stdio",
        ),
    ] {
        let text = format!(
            "---\npaf: 1\nname: bad\ndescription: d\nmodel: {{ name: m }}\ntools:\n{entry}---\n"
        );
        std::fs::write(dir.path().join("bad.md"), text).unwrap();
        let err = Agent::load(&dir.path().join("bad.md"), &PolicySet::builtin()).unwrap_err();
        assert!(err.to_string().contains(message), "{entry}: {err}");
    }
}

#[test]
fn tool_entries_serialize_as_written() {
    let (catalog, _) = Catalog::load_dir(&repo().join("agents"), &shipped_policies());
    let json = serde_json::to_value(&catalog.get("researcher").unwrap().manifest.tools).unwrap();
    assert_eq!(json[0], serde_json::json!({"builtin": "http_fetch"}));
    assert_eq!(json[1]["mcp"], "notes");
    assert_eq!(
        json[1]["env"]["MEMORY_FILE_PATH"],
        "${HOME}/.pluto/researcher-notes.jsonl"
    );
    assert_eq!(json[1]["include"][0], "create_entities");
    let filter = ToolFilter::Exclude(vec!["x".into()]);
    assert!(!filter.allows("x") && filter.allows("y"));
}
