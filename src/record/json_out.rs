//! Small helpers that write JSON tokens straight into a byte buffer, so a row is built in one
//! pass with no intermediate tree.

/// Writes `s` as a quoted JSON string, escaping what JSON requires and nothing else (non-ASCII
/// stays UTF-8, so Unicode names and values are kept as they are).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most strings need no escape at all; this check has no early exit, so it vectorises.
    let needs_escape = bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !needs_escape {
        write_json_str_unescaped(out, s);
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `s` quoted as it is. Only for text known to need no escape, such as a string that
/// serde_json read from valid JSON without any escape in it (it rejects raw control characters,
/// and a raw `"` or `\\` would have ended or escaped the string).
pub fn write_json_str_unescaped(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_serde_json_and_round_trips() {
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "lines\n\r\t\u{8}\u{c} and \u{0}\u{1f}\u{7f}",
            "Zürich 数据 🦀",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap());
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }
}
