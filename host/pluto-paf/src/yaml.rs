//! The YAML boundary: the only module that uses a YAML library.
//!
//! Two libraries, each for what it does well: `serde_yaml` deserializes into the typed manifest
//! and reports its own errors with a position; `yaml-rust2`'s marked events give the position of
//! every key and value, which the checks after deserialization need (a missing instructions file,
//! an unknown policy, a duplicate name) and which serde cannot carry. The marked pass also finds
//! duplicate keys, which serde_yaml reports without a useful position.
//!
//! `serde_yaml` is archived upstream; swapping it for a maintained fork touches only this file.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::diagnostic::{Diagnostic, Diagnostics, Position, did_you_mean};
use crate::source::Source;

/// Where each key and value of a YAML document stands, by path (`model.provider`, `tools[1].mcp`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Option<Position>,
    value: Position,
}

impl Index {
    /// The position of the value at `path`, if the document has it.
    pub fn value(&self, path: &str) -> Option<Position> {
        self.entries.get(path).map(|e| e.value)
    }

    /// The position of the key of the mapping entry at `path`, if the document has it.
    pub fn key(&self, path: &str) -> Option<Position> {
        self.entries.get(path).and_then(|e| e.key)
    }

    /// The value's position, else the start of the document.
    pub fn value_or_start(&self, path: &str) -> Position {
        self.value(path).unwrap_or(Position::START)
    }
}

/// Parses `source` (whose YAML starts `line_offset` lines into the file) as a `T`.
///
/// `what` names the expected document for errors, such as "a PAF manifest".
pub(crate) fn parse<T: DeserializeOwned>(
    source: &Source,
    yaml: &str,
    line_offset: usize,
    what: &str,
) -> Result<(T, Index), Diagnostics> {
    let index = index(source, yaml, line_offset, what)?;
    match serde_yaml::from_str::<T>(yaml) {
        Ok(value) => Ok((value, index)),
        Err(e) => Err(serde_error(source, line_offset, &e).into()),
    }
}

fn serde_error(source: &Source, line_offset: usize, e: &serde_yaml::Error) -> Diagnostic {
    let mut message = e.to_string();
    let position = match e.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
            Position::new(loc.line(), loc.column()).down(line_offset)
        }
        None => Position::START.down(line_offset),
    };
    let help = unknown_name_help(&message);
    Diagnostic::at(&source.path, position, message).with_help_opt(help)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or variant): the closest name.
fn unknown_name_help(message: &str) -> Option<String> {
    let start = message
        .find("unknown field `")
        .or_else(|| message.find("unknown variant `"))?;
    let rest = &message[start..];
    let name_start = rest.find('`')? + 1;
    let name_len = rest[name_start..].find('`')?;
    let wrong = &rest[name_start..name_start + name_len];
    let expected = &rest[rest.find("expected")?..];
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    did_you_mean(wrong, candidates)
}

/// Builds the position index; reports syntax errors, duplicate keys and a wrong document shape.
fn index(
    source: &Source,
    yaml: &str,
    line_offset: usize,
    what: &str,
) -> Result<Index, Diagnostics> {
    let mut events = Events::default();
    let mut parser = Parser::new_from_str(yaml);
    if let Err(e) = parser.load(&mut events, false) {
        let at = to_position(e.marker(), line_offset);
        return Err(Diagnostic::at(&source.path, at, format!("invalid YAML: {}", e.info())).into());
    }
    let mut walker = Walker {
        events: &events.0,
        next: 0,
        line_offset,
        index: Index::default(),
        problems: Vec::new(),
        file: source,
    };
    while matches!(
        walker.peek(),
        Some(Event::StreamStart | Event::DocumentStart)
    ) {
        walker.next += 1;
    }
    let at = walker.position();
    match walker.peek() {
        None | Some(Event::StreamEnd | Event::DocumentEnd) => {
            return Err(Diagnostic::at(
                &source.path,
                Position::START.down(line_offset),
                format!("empty file: expected {what}"),
            )
            .into());
        }
        Some(Event::Scalar(s, ..)) if s.is_empty() || s == "~" || s == "null" => {
            return Err(Diagnostic::at(
                &source.path,
                at,
                format!("empty document: expected {what}"),
            )
            .into());
        }
        Some(Event::MappingStart(..)) => {}
        Some(other) => {
            let found = match other {
                Event::SequenceStart(..) => "a list",
                _ => "a single value",
            };
            return Err(Diagnostic::at(
                &source.path,
                at,
                format!("expected {what} as a mapping of `key: value` lines, found {found}"),
            )
            .into());
        }
    }
    walker.node(String::new(), None);
    if walker.problems.is_empty() {
        Ok(walker.index)
    } else {
        Err(Diagnostics(walker.problems))
    }
}

fn to_position(mark: &Marker, line_offset: usize) -> Position {
    Position::new(mark.line(), mark.col() + 1).down(line_offset)
}

#[derive(Default)]
struct Events(Vec<(Event, Marker)>);

impl MarkedEventReceiver for Events {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.0.push((ev, mark));
    }
}

struct Walker<'a> {
    events: &'a [(Event, Marker)],
    next: usize,
    line_offset: usize,
    index: Index,
    problems: Vec<Diagnostic>,
    file: &'a Source,
}

impl Walker<'_> {
    fn peek(&self) -> Option<&Event> {
        self.events.get(self.next).map(|(e, _)| e)
    }

    fn position(&self) -> Position {
        self.events
            .get(self.next)
            .map_or(Position::START, |(_, m)| to_position(m, self.line_offset))
    }

    /// Records the node at the cursor under `path` and moves past it.
    fn node(&mut self, path: String, key: Option<Position>) {
        let value = self.position();
        let event = self.peek().cloned();
        self.next += 1;
        match event {
            Some(Event::SequenceStart(..)) => {
                self.index
                    .entries
                    .insert(path.clone(), Entry { key, value });
                let mut i = 0;
                while !matches!(self.peek(), Some(Event::SequenceEnd) | None) {
                    self.node(format!("{path}[{i}]"), None);
                    i += 1;
                }
                self.next += 1;
            }
            Some(Event::MappingStart(..)) => {
                // A block mapping's own mark is unreliable; its first key is where it starts.
                let value = match self.peek() {
                    Some(Event::Scalar(..)) => self.position(),
                    _ => value,
                };
                self.index
                    .entries
                    .insert(path.clone(), Entry { key, value });
                self.mapping_entries(&path);
                self.next += 1;
            }
            _ => {
                self.index.entries.insert(path, Entry { key, value });
            }
        }
    }

    fn mapping_entries(&mut self, path: &str) {
        let mut seen: HashSet<String> = HashSet::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        while !matches!(self.peek(), Some(Event::MappingEnd) | None) {
            let key_at = self.position();
            match self.peek().cloned() {
                Some(Event::Scalar(name, ..)) => {
                    self.next += 1;
                    let child = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    if !seen.insert(name.clone()) {
                        let first = first_line.get(&name).copied().unwrap_or(1);
                        self.problems.push(Diagnostic::at(
                            &self.file.path,
                            key_at,
                            format!("duplicate key `{name}` (first set on line {first})"),
                        ));
                        // Keep the first occurrence's positions; walk the duplicate's value.
                        self.node(format!("{child}#dup"), Some(key_at));
                    } else {
                        first_line.insert(name, key_at.line);
                        self.node(child, Some(key_at));
                    }
                }
                _ => {
                    // A complex key (a list or mapping used as a key): walk it, index nothing.
                    self.node(format!("{path}.?"), None);
                    self.node(format!("{path}.?"), Some(key_at));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            path: "t.yaml".into(),
            text: text.to_owned(),
        }
    }

    fn idx(text: &str) -> Result<Index, Diagnostics> {
        index(&src(text), text, 0, "a test document")
    }

    #[test]
    fn indexes_keys_and_values_by_path() {
        let i = idx("a: 1\nsandbox: { policy: x }\nb:\n  - c: d\n    'e': \"f\"\n").unwrap();
        assert_eq!(i.value("a"), Some(Position::new(1, 4)));
        assert_eq!(i.value("sandbox.policy"), Some(Position::new(2, 20)));
        assert_eq!(i.key("sandbox.policy"), Some(Position::new(2, 12)));
        assert_eq!(i.value("b[0].e"), Some(Position::new(5, 10)));
        assert_eq!(i.value("b[0]"), Some(Position::new(4, 5)));
    }

    #[test]
    fn reports_duplicate_keys_where_they_repeat() {
        let err = idx("name: a\nx: 1\nname: b\n").unwrap_err();
        assert_eq!(err.0[0].position, Some(Position::new(3, 1)));
        assert_eq!(
            err.0[0].message,
            "duplicate key `name` (first set on line 1)"
        );
    }

    #[test]
    fn reports_wrong_document_shapes() {
        assert!(idx("").unwrap_err().0[0].message.starts_with("empty file"));
        assert!(
            idx("# only a comment\n").unwrap_err().0[0]
                .message
                .starts_with("empty file")
        );
        assert!(
            idx("- a\n").unwrap_err().0[0]
                .message
                .contains("found a list")
        );
        let syntax = idx("a: [1\n").unwrap_err();
        assert!(
            syntax.0[0].message.starts_with("invalid YAML"),
            "{}",
            syntax
        );
    }

    #[test]
    fn suggests_the_closest_known_name() {
        let m = "unknown field `modle`, expected one of `paf`, `name`, `model`";
        assert_eq!(
            unknown_name_help(m).as_deref(),
            Some("did you mean `model`?")
        );
        let m = "model.provider: unknown variant `openroute`, expected `openrouter` or `openai`";
        assert_eq!(
            unknown_name_help(m).as_deref(),
            Some("did you mean `openrouter`?")
        );
        assert_eq!(unknown_name_help("missing field `name`"), None);
    }
}
