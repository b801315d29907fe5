//! Newline-delimited JSON-RPC over stdio with a size limit that answers.
//!
//! rmcp drops an incoming line over its limit with a log line, so a client that sent a large
//! request (a `write_file` of 20 MiB) waits forever. [`bounded`] sits between the process's
//! stdio and rmcp: lines within the limit pass through untouched; a longer one is never
//! buffered (only its top-level `"id"` is picked out while it streams past) and is answered at
//! once with a JSON-RPC error naming the limit, written between two of rmcp's own messages.
//! Then serving goes on.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;

/// The default limit on one incoming message.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;
/// The JSON-RPC error code of a request refused for its size ("Invalid Request").
pub const INVALID_REQUEST: i64 = -32600;

/// The pipes rmcp is given in place of stdio.
pub struct Bounded {
    /// What rmcp reads: the messages within the limit.
    pub read: DuplexStream,
    /// What rmcp writes; copied to the output line by line.
    pub write: DuplexStream,
    /// Ends when everything rmcp wrote is out (await it before exiting).
    pub flushed: tokio::task::JoinHandle<()>,
}

/// Pipes for rmcp in front of `input` and `output`, refusing messages over `limit` bytes with
/// an error answer. The pumps stop when either side closes.
pub fn bounded<R, W>(input: R, output: W, limit: usize) -> Bounded
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (mut to_rmcp, rmcp_reads) = tokio::io::duplex(1 << 16);
    let (rmcp_writes, from_rmcp) = tokio::io::duplex(1 << 16);
    let (refusals, mut refused) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut input = BufReader::with_capacity(1 << 16, input);
        loop {
            match read_bounded(&mut input, limit).await {
                Ok(Line::Whole(line)) => {
                    if to_rmcp.write_all(&line).await.is_err() {
                        return;
                    }
                }
                Ok(Line::Oversized { size, id }) => {
                    tracing::warn!(size, limit, "MCP message over the size limit refused");
                    // A notification (no id) gets no answer, as JSON-RPC says.
                    if let Some(id) = id {
                        let _ = refusals.send(refusal(&id, size, limit));
                    }
                }
                Ok(Line::End) | Err(_) => return,
            }
        }
    });
    let flushed = tokio::spawn(async move {
        let mut output = output;
        let mut from_rmcp = BufReader::new(from_rmcp);
        let mut line = Vec::new();
        loop {
            tokio::select! {
                read = from_rmcp.read_until(b'\n', &mut line) => {
                    match read {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                                return;
                            }
                            line.clear();
                        }
                    }
                }
                Some(answer) = refused.recv() => {
                    // `line` holds a partial message of rmcp's only until read_until returns,
                    // and read_until is cancel-safe: the answer goes out between whole lines.
                    if output.write_all(answer.as_bytes()).await.is_err() || output.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = output.write_all(&line).await;
        let _ = output.flush().await;
    });
    Bounded {
        read: rmcp_reads,
        write: rmcp_writes,
        flushed,
    }
}

/// The error answer to request `id` (its JSON text) of `size` bytes.
fn refusal(id: &str, size: usize, limit: usize) -> String {
    let message = format!(
        "the request is {size} bytes, over this server's limit of {limit} bytes ({} MiB) for one message",
        limit >> 20
    );
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{INVALID_REQUEST},\"message\":{}}}}}\n",
        serde_json::Value::String(message)
    )
}

/// One incoming line.
enum Line {
    /// A line within the limit, with its newline.
    Whole(Vec<u8>),
    /// A line over the limit: its size and its top-level `"id"` (as JSON text), if it has one.
    Oversized { size: usize, id: Option<String> },
    /// The input ended.
    End,
}

async fn read_bounded<R: AsyncRead + Unpin>(
    input: &mut BufReader<R>,
    limit: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut scan: Option<IdScanner> = None;
    let mut size = 0usize;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(match scan {
                Some(s) => Line::Oversized { size, id: s.id() },
                None if line.is_empty() => Line::End,
                None => Line::Whole(line),
            });
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        let chunk = &available[..take];
        size += take;
        match &mut scan {
            Some(s) => s.feed(chunk),
            None if line.len() + take > limit => {
                let mut s = IdScanner::default();
                s.feed(&line);
                s.feed(chunk);
                line = Vec::new();
                scan = Some(s);
            }
            None => line.extend_from_slice(chunk),
        }
        input.consume(take);
        if newline.is_some() {
            return Ok(match scan {
                Some(s) => Line::Oversized { size, id: s.id() },
                None => Line::Whole(line),
            });
        }
    }
}

/// Finds the value of a JSON object's top-level `"id"` in a stream of bytes, keeping only the
/// last key and the value (ids are short: a longer value is ignored).
#[derive(Default)]
struct IdScanner {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The string just read at depth 1 (a key candidate).
    text: Vec<u8>,
    /// The last depth-1 key seen and whether its value is being read.
    key_is_id: bool,
    reading_value: bool,
    value: Vec<u8>,
    found: Option<String>,
}

/// The longest id kept.
const MAX_ID: usize = 256;

impl IdScanner {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.reading_value && self.depth == 1 && self.value.len() <= MAX_ID {
            self.value.push(b);
        }
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            } else if self.depth == 1 && !self.reading_value && self.text.len() <= 8 {
                self.text.push(b);
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && !self.reading_value {
                    self.text.clear();
                }
            }
            b':' if self.depth == 1 && !self.reading_value => {
                self.key_is_id = self.text == b"id";
                self.reading_value = true;
                self.value.clear();
            }
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                if self.depth == 1 {
                    self.end_value();
                }
                self.depth = self.depth.saturating_sub(1);
            }
            b',' if self.depth == 1 => self.end_value(),
            _ => {}
        }
    }

    /// A depth-1 value ended (at `,`, or at the object's `}`).
    fn end_value(&mut self) {
        if self.reading_value && self.key_is_id && self.found.is_none() {
            let mut value = std::mem::take(&mut self.value);
            value.pop(); // the `,` or `}` that ended it
            let text = String::from_utf8_lossy(&value).trim().to_owned();
            let valid = serde_json::from_str::<serde_json::Value>(&text)
                .is_ok_and(|v| v.is_string() || v.is_number());
            if valid && text.len() <= MAX_ID {
                self.found = Some(text);
            }
        }
        self.reading_value = false;
        self.key_is_id = false;
    }

    fn id(&self) -> Option<String> {
        self.found.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(text: &str) -> Option<String> {
        let mut s = IdScanner::default();
        s.feed(text.as_bytes());
        s.id()
    }

    #[test]
    fn finds_the_top_level_id_wherever_it_is() {
        assert_eq!(
            id_of(r#"{"jsonrpc":"2.0","id":7,"method":"x"}"#).as_deref(),
            Some("7")
        );
        assert_eq!(
            id_of(r#"{"method":"tools/call","params":{"id":1,"content":"a\"b,}"},"id":"req-9"}"#)
                .as_deref(),
            Some("\"req-9\"")
        );
        assert_eq!(
            id_of(r#"{"params":{"arguments":{"id":3}},"method":"n"}"#),
            None
        );
        assert_eq!(
            id_of(r#"{ "id" : 42 , "x": [1,{"id":2}]}"#).as_deref(),
            Some("42")
        );
        assert_eq!(id_of(r#"{"id":{"nested":1}}"#), None, "an object is no id");
    }

    #[tokio::test]
    async fn an_oversized_request_is_answered_and_serving_goes_on() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{{\"content\":\"{}\"}},\"id\":5}}\n",
            "x".repeat(3000)
        );
        let small = "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}\n";
        let note = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":\"{}\"}}\n",
            "y".repeat(3000)
        );
        let input = format!("{big}{note}{small}");
        let (out_write, mut out_read) = tokio::io::duplex(1 << 20);
        let Bounded {
            read: mut rmcp_reads,
            write: mut rmcp_writes,
            flushed,
        } = bounded(std::io::Cursor::new(input.into_bytes()), out_write, 1024);
        let mut passed = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut rmcp_reads, &mut passed)
            .await
            .unwrap();
        assert_eq!(
            passed, small,
            "only the message within the limit reaches rmcp"
        );
        rmcp_writes
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{}}\n")
            .await
            .unwrap();
        drop(rmcp_writes);
        flushed.await.unwrap();
        let mut written = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut out_read, &mut written)
            .await
            .unwrap();
        let answers: Vec<serde_json::Value> = written
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(answers.len(), 2, "{written}");
        let refusal = answers.iter().find(|a| a["id"] == 5).unwrap();
        assert_eq!(refusal["error"]["code"], INVALID_REQUEST);
        assert!(
            refusal["error"]["message"]
                .as_str()
                .unwrap()
                .contains("limit of 1024 bytes")
        );
        assert!(
            answers
                .iter()
                .any(|a| a["id"] == 6 && a["result"].is_object())
        );
    }
}
