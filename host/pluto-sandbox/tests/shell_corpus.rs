//! The sandboxed shell against GNU bash: every command line of `shell-corpus/commands.txt` (the
//! kinds coding agents run) is run by `bash -c` natively and by the `shell` guest in the
//! sandbox, each on its own copy of `shell-corpus/fixture/`. Standard output, the exit code,
//! whether anything went to standard error, and the workspace afterwards (every file's path and
//! bytes) must be the same. Error messages' wording is not compared.
//!
//! A case whose difference is known and accepted says so with `# known: REASON`; the README
//! lists those. A known difference that goes away fails the test too, so that the list stays
//! true.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pluto_paf::Policy;
use pluto_paf::scalar::{ByteSize, Duration, Scalar};
use pluto_sandbox::{Sandbox, SandboxConfig, guests};

const CORPUS: &str = include_str!("shell-corpus/commands.txt");

struct Case {
    name: String,
    known: Option<String>,
    script: String,
}

fn cases() -> Vec<Case> {
    CORPUS
        .split("\n---\n")
        .map(|block| {
            let mut name = String::new();
            let mut known = None;
            let mut script = Vec::new();
            for line in block.lines() {
                if script.is_empty() && name.is_empty() && line.starts_with("# ") {
                    name = line[2..].to_owned();
                } else if script.is_empty() && line.starts_with("# known: ") {
                    known = Some(line["# known: ".len()..].to_owned());
                } else {
                    script.push(line);
                }
            }
            Case {
                name,
                known,
                script: script.join("\n"),
            }
        })
        .collect()
}

/// What a run left: stdout, exit code, whether stderr was written, and the workspace's files.
#[derive(Debug, PartialEq)]
struct Outcome {
    stdout: String,
    exit_code: i64,
    stderr_written: bool,
    files: BTreeMap<String, Vec<u8>>,
}

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shell-corpus/fixture");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                pending.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

fn native(script: &str, dir: &Path) -> Outcome {
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("HOME", dir)
        .output()
        .unwrap();
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        exit_code: i64::from(out.status.code().unwrap_or(-1)),
        stderr_written: !out.stderr.is_empty(),
        files: files(dir),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandboxed_shell_answers_like_gnu_bash() {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache");
    let sandbox = Sandbox::new(&SandboxConfig {
        cache_dir: Some(cache),
        ..SandboxConfig::default()
    })
    .unwrap();
    let shell = sandbox.load("shell", guests::SHELL).await.unwrap();
    let mut policy = Policy::builtin_default();
    policy.limits.timeout = Duration::parse("60s").unwrap();
    policy.limits.memory = ByteSize::parse("512MiB").unwrap();
    let env = |_: &str| None;
    let cases = cases();
    assert!(cases.len() >= 150, "the corpus has {} cases", cases.len());
    let (mut unexpected, mut gone, mut known) = (Vec::new(), Vec::new(), 0);
    for case in &cases {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        copy_fixture(a.path());
        copy_fixture(b.path());
        let bash = native(&case.script, a.path());
        let args = serde_json::json!({ "command": case.script }).to_string();
        let result = sandbox
            .call(&shell, &policy, b.path(), &env, "shell", &args)
            .await;
        let details = &result.details;
        let sandboxed = Outcome {
            stdout: details["stdout"].as_str().unwrap_or_default().to_owned(),
            exit_code: details["exit_code"].as_i64().unwrap_or(-1),
            stderr_written: !details["stderr"].as_str().unwrap_or_default().is_empty(),
            files: files(b.path()),
        };
        match (bash == sandboxed, &case.known) {
            (true, None) => {}
            (false, Some(_)) => known += 1,
            (true, Some(reason)) => gone.push(format!("{} (known: {reason})", case.name)),
            (false, None) => unexpected.push(format!(
                "## {}\n{}\nbash:    {:?}\nsandbox: {:?}\n{}",
                case.name,
                case.script,
                brief(&bash),
                brief(&sandboxed),
                if result.is_error { &result.content } else { "" }
            )),
        }
    }
    eprintln!(
        "shell corpus: {} cases, {} same as bash, {known} known differences",
        cases.len(),
        cases.len() - known - unexpected.len()
    );
    assert!(
        unexpected.is_empty() && gone.is_empty(),
        "{} unexpected differences:\n{}\n\nknown differences that are gone (remove `# known:`): {gone:?}",
        unexpected.len(),
        unexpected.join("\n\n")
    );
}

/// An outcome in one line: stdout, exit code, stderr written, and the files that differ from
/// the fixture's.
fn brief(o: &Outcome) -> String {
    let fixture = {
        let d = tempfile::tempdir().unwrap();
        copy_fixture(d.path());
        files(d.path())
    };
    let changed: Vec<String> = o
        .files
        .iter()
        .filter(|(k, v)| fixture.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={:?}", String::from_utf8_lossy(v)))
        .chain(
            fixture
                .keys()
                .filter(|k| !o.files.contains_key(*k))
                .map(|k| format!("-{k}")),
        )
        .collect();
    format!(
        "stdout={:?} exit={} stderr={} files={changed:?}",
        o.stdout, o.exit_code, o.stderr_written
    )
}
