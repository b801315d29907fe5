//! Showing a run's events in a terminal: the answer on stdout as it streams, tool calls on
//! stderr; or every event as a JSON line.

use std::io::Write;

use pluto_core::Event;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The answer on stdout, tool activity on stderr.
    Human,
    /// One JSON object per event on stdout.
    JsonLines,
}

/// Shows one event.
pub fn show(style: Style, event: &Event) {
    let mut out = std::io::stdout().lock();
    match style {
        Style::JsonLines => {
            let line = serde_json::to_string(event).expect("events serialize");
            let _ = writeln!(out, "{line}");
        }
        Style::Human => match event {
            Event::MessageDelta { text, .. } => {
                let _ = write!(out, "{text}");
            }
            Event::MessageCompleted {
                text, tool_calls, ..
            } if !text.is_empty() && !tool_calls.is_empty() => {
                let _ = writeln!(out);
            }
            Event::ToolStarted {
                name, arguments, ..
            } => {
                eprintln!("  → {name} {}", one_line(arguments, 160));
            }
            Event::ToolCompleted {
                name,
                content,
                is_error,
                duration_ms,
                ..
            } => {
                let mark = if *is_error { "✗" } else { "✓" };
                eprintln!(
                    "  {mark} {name} ({duration_ms} ms) {}",
                    one_line(content, 160)
                );
            }
            Event::RunCompleted { output, .. } if !output.is_empty() && !output.ends_with('\n') => {
                let _ = writeln!(out);
            }
            Event::RunFailed { message, .. } => {
                let _ = writeln!(out);
                eprintln!("error: {message}");
            }
            Event::RunCancelled { .. } => {
                let _ = writeln!(out);
                eprintln!("(cancelled)");
            }
            _ => {}
        },
    }
    let _ = out.flush();
}

/// `text` on one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}
