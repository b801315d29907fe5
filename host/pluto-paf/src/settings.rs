//! `pluto.yaml`: server settings as a flat mapping of names to scalars, checked against the
//! names the caller knows (an unknown name is an error with a suggestion).

use std::collections::BTreeMap;
use std::path::Path;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::Source;

/// Reads the settings file at `path`: each key must be one of `known`; each value a string,
/// number or boolean. Returns `(key, value as text)` pairs in file order of keys' names.
pub fn load(path: &Path, known: &[&str]) -> Result<Vec<(String, String)>, Diagnostics> {
    let source = Source::read(path)?;
    let (map, index) = crate::yaml::parse::<BTreeMap<String, serde_json::Value>>(
        &source,
        &source.text,
        0,
        "a settings mapping (name: value)",
    )?;
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (key, value) in map {
        let at = index
            .key(&key)
            .unwrap_or(crate::diagnostic::Position::START);
        if !known.contains(&key.as_str()) {
            let best = crate::diagnostic::closest(&key, known.iter().copied())
                .map(|k| format!("did you mean `{k}`?"));
            problems.push(
                Diagnostic::at(path, at, format!("unknown setting `{key}`")).with_help(
                    best.unwrap_or_else(|| format!("the settings are: {}", known.join(", "))),
                ),
            );
            continue;
        }
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                let at = index.value(&key).unwrap_or(at);
                problems.push(Diagnostic::at(
                    path,
                    at,
                    format!("setting `{key}` must be a string, a number or true/false"),
                ));
                continue;
            }
        };
        out.push((key, text));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_load_and_unknown_names_are_errors_with_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pluto.yaml");
        std::fs::write(&path, "bind: 0.0.0.0:9000\nmax_runs: 4\nsandbox: true\n").unwrap();
        let got = load(&path, &["bind", "max_runs", "sandbox"]).unwrap();
        assert_eq!(
            got,
            vec![
                ("bind".into(), "0.0.0.0:9000".into()),
                ("max_runs".into(), "4".into()),
                ("sandbox".into(), "true".into())
            ]
        );
        std::fs::write(&path, "bind: x\nmax_rnus: 4\nstate: [a]\n").unwrap();
        let err = load(&path, &["bind", "max_runs", "state"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pluto.yaml:2:1: error: unknown setting `max_rnus`"),
            "{err}"
        );
        assert!(err.contains("did you mean `max_runs`?"), "{err}");
        assert!(
            err.contains("pluto.yaml:3:8: error: setting `state` must be"),
            "{err}"
        );
    }
}
