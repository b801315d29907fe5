//! `pluto.yaml` for `pluto serve`: settings for the flags not given. The order is flags, then
//! `PLUTO_*` environment variables, then the file, then the defaults.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;

/// The settings a file may hold: name, flag, environment variable, whether the flag takes no value.
const SETTINGS: &[(&str, &str, &str, bool)] = &[
    ("bind", "--bind", "PLUTO_BIND", false),
    ("agents", "--agents", "PLUTO_AGENTS", false),
    ("workspace", "--workspace", "PLUTO_WORKSPACE", false),
    ("policies", "--policies", "PLUTO_POLICIES", false),
    ("sandbox", "--sandbox", "PLUTO_SANDBOX", true),
    ("state", "--state", "PLUTO_STATE", false),
    ("artifacts", "--artifacts", "PLUTO_ARTIFACTS", false),
    (
        "artifact_limit",
        "--artifact-limit",
        "PLUTO_ARTIFACT_LIMIT",
        false,
    ),
    ("data", "--data", "PLUTO_DATA", false),
    ("user", "--user", "PLUTO_USER", false),
    ("admin_key", "--admin-key", "PLUTO_ADMIN_KEY", false),
    (
        "insecure_no_auth",
        "--insecure-no-auth",
        "PLUTO_INSECURE_NO_AUTH",
        true,
    ),
    ("max_body", "--max-body", "PLUTO_MAX_BODY", false),
    ("max_runs", "--max-runs", "PLUTO_MAX_RUNS", false),
    ("agent_cache", "--agent-cache", "PLUTO_AGENT_CACHE", false),
    ("grace", "--grace", "PLUTO_GRACE", false),
    ("metrics_key", "--metrics-key", "PLUTO_METRICS_KEY", false),
    (
        "metrics_labels",
        "--metrics-labels",
        "PLUTO_METRICS_LABELS",
        true,
    ),
    (
        "max_connections",
        "--max-connections",
        "PLUTO_MAX_CONNECTIONS",
        false,
    ),
    (
        "header_timeout",
        "--header-timeout",
        "PLUTO_HEADER_TIMEOUT",
        false,
    ),
    (
        "idle_timeout",
        "--idle-timeout",
        "PLUTO_IDLE_TIMEOUT",
        false,
    ),
    ("log_format", "--log-format", "PLUTO_LOG_FORMAT", false),
];

/// The settings file for `argv`: `--config FILE`, else `PLUTO_CONFIG`, else `./pluto.yaml` if
/// there is one; only for `pluto serve`.
fn config_file(argv: &[OsString]) -> Option<(PathBuf, bool)> {
    if argv.get(1).and_then(|a| a.to_str()) != Some("serve") {
        return None;
    }
    let mut args = argv.iter().filter_map(|a| a.to_str());
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(|p| (PathBuf::from(p), true));
        }
        if let Some(p) = arg.strip_prefix("--config=") {
            return Some((PathBuf::from(p), true));
        }
    }
    if let Some(p) = std::env::var_os("PLUTO_CONFIG") {
        return Some((PathBuf::from(p), true));
    }
    let default = PathBuf::from("pluto.yaml");
    default.is_file().then_some((default, false))
}

/// `argv` with the settings file's values added for the flags it does not give.
pub fn apply(argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some((path, named)) = config_file(&argv) else {
        return Ok(argv);
    };
    if named && !path.is_file() {
        bail!("the settings file {} does not exist", path.display());
    }
    let names: Vec<&str> = SETTINGS.iter().map(|s| s.0).collect();
    let settings = pluto_paf::settings::load(&path, &names).map_err(|d| anyhow::anyhow!("{d}"))?;
    let given = |flag: &str| {
        argv.iter().filter_map(|a| a.to_str()).any(|a| {
            a == flag
                || a.strip_prefix(flag)
                    .is_some_and(|rest| rest.starts_with('='))
        })
    };
    let mut out = argv.clone();
    for (name, value) in settings {
        let (_, flag, env, switch) = SETTINGS
            .iter()
            .find(|s| s.0 == name)
            .expect("load checked the names");
        if given(flag) || std::env::var_os(env).is_some() {
            continue;
        }
        if *switch {
            match value.as_str() {
                "true" => out.push(OsString::from(*flag)),
                "false" => {}
                other => bail!(
                    "{}: setting `{name}` must be true or false, not `{other}`",
                    path.display()
                ),
            }
        } else {
            out.push(OsString::from(*flag));
            out.push(OsString::from(value));
        }
    }
    Ok(out)
}
