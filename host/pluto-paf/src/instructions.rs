//! An agent's instructions: the system prompt, a Markdown template with `{{...}}` placeholders.
//!
//! Placeholders: `{{agent.name}}`, `{{agent.description}}`, `{{agent.version}}`, `{{date}}`
//! (today, `YYYY-MM-DD`, UTC) and `{{vars.NAME}}` for a variable declared under `vars:`. Any
//! other placeholder is an error when the agent loads, not a surprise at run time. `\{{` is a
//! literal `{{`.

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, Position, closest, did_you_mean};
use crate::manifest::Manifest;
use crate::source::Source;

const BUILTIN: [&str; 4] = ["agent.name", "agent.description", "agent.version", "date"];

/// Parsed instructions, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instructions {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    AgentName,
    AgentDescription,
    AgentVersion,
    Date,
    Var(String),
}

/// A `{{vars.NAME}}` with no value: neither given at run time nor defaulted in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "instructions use `{{{{vars.{0}}}}}` but no value was given and the manifest has no default"
)]
pub struct MissingTemplateVar(pub String);

impl Instructions {
    /// Parses `text`, which starts `line_offset` lines into `source`; `declared` are the
    /// manifest's `vars`. Reports every bad placeholder.
    pub(crate) fn parse(
        source: &Source,
        text: &str,
        line_offset: usize,
        declared: &[&str],
    ) -> Result<Instructions, Vec<Diagnostic>> {
        let mut segments = Vec::new();
        let mut problems = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut consumed = 0;
        while let Some(i) = rest.find("{{") {
            let at = consumed + i;
            if rest[..i].ends_with('\\') {
                literal.push_str(&rest[..i - 1]);
                literal.push_str("{{");
                rest = &rest[i + 2..];
                consumed = at + 2;
                continue;
            }
            literal.push_str(&rest[..i]);
            let position = Position::of_offset(text, at).down(line_offset);
            let Some(end) = rest[i + 2..].find("}}") else {
                problems.push(
                    Diagnostic::at(
                        &source.path,
                        position,
                        "unclosed `{{`: a placeholder looks like `{{agent.name}}`",
                    )
                    .with_help("write `\\{{` for a literal `{{`"),
                );
                rest = "";
                break;
            };
            let inner = rest[i + 2..i + 2 + end].trim();
            match Self::segment(inner, declared) {
                Ok(segment) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(segment);
                }
                Err((message, help)) => {
                    problems.push(Diagnostic::at(&source.path, position, message).with_help(help));
                }
            }
            consumed = at + 2 + end + 2;
            rest = &text[consumed..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        if problems.is_empty() {
            Ok(Instructions { segments })
        } else {
            Err(problems)
        }
    }

    fn segment(inner: &str, declared: &[&str]) -> Result<Segment, (String, String)> {
        match inner {
            "agent.name" => return Ok(Segment::AgentName),
            "agent.description" => return Ok(Segment::AgentDescription),
            "agent.version" => return Ok(Segment::AgentVersion),
            "date" => return Ok(Segment::Date),
            _ => {}
        }
        if let Some(var) = inner.strip_prefix("vars.") {
            if declared.contains(&var) {
                return Ok(Segment::Var(var.to_owned()));
            }
            let help = closest(var, declared.iter().copied())
                .map(|c| format!("did you mean `{{{{vars.{c}}}}}`?"))
                .unwrap_or_else(|| {
                    format!("declare it in the manifest: `vars: {{ {var}: default }}`")
                });
            return Err((
                format!("unknown variable `{{{{vars.{var}}}}}`: not declared under `vars:`"),
                help,
            ));
        }
        let known: Vec<String> = BUILTIN
            .iter()
            .map(|s| s.to_string())
            .chain(declared.iter().map(|v| format!("vars.{v}")))
            .collect();
        let help = did_you_mean(inner, known.iter().map(String::as_str)).unwrap_or_else(|| {
            "placeholders are {{agent.name}}, {{agent.description}}, {{agent.version}}, {{date}} and {{vars.NAME}}"
                .to_owned()
        });
        Err((format!("unknown placeholder `{{{{{inner}}}}}`"), help))
    }

    /// The variables the instructions use, in order of first use.
    pub fn vars(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.segments {
            if let Segment::Var(v) = s
                && !out.contains(&v.as_str())
            {
                out.push(v);
            }
        }
        out
    }

    /// The system prompt for one run: `vars` given by the caller win over the manifest's
    /// defaults; `date` is today's date.
    pub fn render(
        &self,
        manifest: &Manifest,
        vars: &BTreeMap<String, String>,
        date: &str,
    ) -> Result<String, MissingTemplateVar> {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::AgentName => out.push_str(manifest.name.as_str()),
                Segment::AgentDescription => out.push_str(manifest.description.as_str()),
                Segment::AgentVersion => out.push_str(&manifest.version.to_string()),
                Segment::Date => out.push_str(date),
                Segment::Var(v) => {
                    let default = manifest
                        .vars
                        .iter()
                        .find(|(k, _)| k.as_str() == v)
                        .and_then(|(_, d)| d.as_ref());
                    let value = vars
                        .get(v)
                        .or(default)
                        .ok_or_else(|| MissingTemplateVar(v.clone()))?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }
}

/// Today's date in UTC as `YYYY-MM-DD`, for `{{date}}`.
pub fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Source {
        Source {
            path: "i.md".into(),
            text: String::new(),
        }
    }

    #[test]
    fn finds_every_bad_placeholder_with_its_position() {
        let text =
            "Hi {{agent.name}}.\nToday {{ daet }} and {{vars.team}}\n{{vars.x}} \\{{literal}}";
        let errs = Instructions::parse(&src(), text, 2, &["x"]).unwrap_err();
        let lines: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            [
                "i.md:4:7: error: unknown placeholder `{{daet}}`\n  help: did you mean `date`?",
                "i.md:4:22: error: unknown variable `{{vars.team}}`: not declared under `vars:`\n  help: declare it in the manifest: `vars: { team: default }`",
            ]
        );
    }

    #[test]
    fn reports_an_unclosed_placeholder() {
        let errs = Instructions::parse(&src(), "a\n  {{agent.name", 0, &[]).unwrap_err();
        assert_eq!(errs[0].position, Some(Position::new(2, 3)));
    }

    #[test]
    fn today_is_an_iso_date() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert_eq!(&d[4..5], "-");
    }
}
