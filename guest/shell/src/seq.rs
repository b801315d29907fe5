//! `seq` without bashkit's 100,000-line cap: a sandboxed script must get the answer bash gives
//! or fail loudly, and `seq 1 200000 | wc -l` is an ordinary thing to run. Integer and decimal
//! sequences with `-s SEP` and `-w`, as GNU seq prints them; the policy's memory and time
//! limits bound it. `-f FORMAT` is refused with exit code 1 (a remaining difference, listed in
//! the README).

use bashkit::{Builtin, BuiltinContext, ExecResult, async_trait};

pub struct Seq;

/// A number as written: its value and its digits after the decimal point.
fn number(text: &str) -> Option<(f64, usize)> {
    let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite())?;
    let decimals = text.split_once('.').map_or(0, |(_, frac)| frac.trim_end_matches(|c: char| !c.is_ascii_digit()).len());
    Some((value, decimals))
}

#[async_trait]
impl Builtin for Seq {
    async fn execute(&self, ctx: BuiltinContext<'_>) -> bashkit::Result<ExecResult> {
        let mut separator = "\n".to_owned();
        let mut equal_width = false;
        let mut operands = Vec::new();
        let mut args = ctx.args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-s" => match args.next() {
                    Some(s) => separator = s.clone(),
                    None => return Ok(ExecResult::err("seq: option requires an argument -- 's'\n", 1)),
                },
                "-w" | "--equal-width" => equal_width = true,
                s if s.starts_with("-s") && s.len() > 2 => separator = s[2..].to_owned(),
                s if s.starts_with("--separator=") => separator = s["--separator=".len()..].to_owned(),
                s if s.starts_with("-f") || s.starts_with("--format") => {
                    return Ok(ExecResult::err("seq: -f is not supported by the sandboxed shell\n", 1));
                }
                _ => operands.push(arg.as_str()),
            }
        }
        let parsed: Option<Vec<(f64, usize)>> = operands.iter().map(|s| number(s)).collect();
        let (first, step, last) = match (parsed.as_deref(), operands.len()) {
            (Some([last]), 1) => ((1.0, 0), (1.0, 0), *last),
            (Some([first, last]), 2) => (*first, (1.0, 0), *last),
            (Some([first, step, last]), 3) => (*first, *step, *last),
            (_, 0) => return Ok(ExecResult::err("seq: missing operand\n", 1)),
            (_, n) if n > 3 => return Ok(ExecResult::err(format!("seq: extra operand '{}'\n", operands[3]), 1)),
            _ => {
                let bad = operands.iter().find(|s| number(s).is_none()).unwrap_or(&"");
                return Ok(ExecResult::err(format!("seq: invalid floating point argument: '{bad}'\n"), 1));
            }
        };
        if step.0 == 0.0 {
            return Ok(ExecResult::err("seq: invalid Zero increment value: '0'\n", 1));
        }
        let decimals = first.1.max(step.1);
        let render = |x: f64| format!("{x:.decimals$}");
        let width = if equal_width { render(first.0).len().max(render(last.0).len()) } else { 0 };
        let mut out = String::new();
        let mut i: u64 = 0;
        loop {
            let x = first.0 + step.0 * i as f64;
            if (step.0 > 0.0 && x > last.0 + 1e-9 * step.0.abs()) || (step.0 < 0.0 && x < last.0 - 1e-9 * step.0.abs()) {
                break;
            }
            if i > 0 {
                out.push_str(&separator);
            }
            let text = render(x);
            if text.len() < width {
                let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |d| ("-", d));
                out.push_str(sign);
                out.push_str(&"0".repeat(width - text.len()));
                out.push_str(digits);
            } else {
                out.push_str(&text);
            }
            i += 1;
        }
        if i > 0 {
            out.push('\n');
        }
        Ok(ExecResult::ok(out))
    }
}
