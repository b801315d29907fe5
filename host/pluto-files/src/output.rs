//! Keeping what the model sees short: long output is cut, with a note of what was cut.

/// `text` if it fits in `limit` bytes; otherwise its head and tail with a note of what was cut
/// in between. The second value says whether anything was cut.
pub fn cap(text: &str, limit: usize) -> (String, bool) {
    if text.len() <= limit {
        return (text.to_owned(), false);
    }
    let half = limit / 2;
    let head_end = floor_char_boundary(text, half);
    let tail_start = ceil_char_boundary(text, text.len() - half);
    let cut = tail_start - head_end;
    (
        format!(
            "{}\n[... {cut} bytes cut ...]\n{}",
            &text[..head_end],
            &text[tail_start..]
        ),
        true,
    )
}

/// The first `limit` bytes of `text` (at a character boundary), and whether it was cut.
pub fn head(text: &str, limit: usize) -> (String, bool) {
    if text.len() <= limit {
        return (text.to_owned(), false);
    }
    let end = floor_char_boundary(text, limit);
    (
        format!(
            "{}\n[... {} more bytes not shown]",
            &text[..end],
            text.len() - end
        ),
        true,
    )
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_in_the_middle_at_character_boundaries() {
        assert_eq!(cap("short", 10), ("short".to_owned(), false));
        let (text, cut) = cap(&"é".repeat(100), 21);
        assert!(cut);
        assert!(text.starts_with("ééééé\n[... 180 bytes cut"), "{text}");
        assert!(text.ends_with("]\nééééé"), "{text}");
        let (text, cut) = head("abcdef", 4);
        assert_eq!(
            (text.as_str(), cut),
            ("abcd\n[... 2 more bytes not shown]", true)
        );
    }
}
