//! Finds the key path (`route[1].upstream`) at a byte offset of a TOML file.
//!
//! The toml crate's errors carry a span but not the key, so we read it back
//! from the text: the nearest `[table]` / `[[array]]` header above the offset,
//! then the key on the offending line. This covers the files people write
//! (one `key = value` per line); anything more exotic just gets a shorter path.

use std::ops::Range;

/// The dotted key path of whatever sits at `span`; `message` is the toml
/// error, used to name unknown and missing keys precisely.
pub(crate) fn key_path_at(source: &str, span: Range<usize>, message: &str) -> String {
    let unknown = quoted_name(message, "unknown field `");
    let missing = quoted_name(message, "missing field `");
    if let (Some(name), true) = (missing, span.is_empty()) {
        // An empty span is toml's way of pointing at the document itself.
        return name.to_string();
    }
    let offset = span.start.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    let line = source[line_start..line_end].trim();

    let header_is_this_line = line.starts_with('[');
    let header_end = if header_is_this_line {
        line_end
    } else {
        line_start
    };
    let table = enclosing_table(&source[..header_end]);

    let mut parts: Vec<&str> = Vec::new();
    if !table.is_empty() {
        parts.push(&table);
    }
    if !header_is_this_line {
        // `key = value`, where key may be dotted; inline tables add a level.
        let line_key = line.split_once('=').map_or("", |(k, _)| k.trim());
        if !line_key.is_empty() {
            parts.push(line_key);
        }
        if let Some(name) = unknown {
            if line_key != name {
                parts.push(name);
            }
        }
    } else if unknown.is_some() {
        // An unknown `[[name]]` has no meaningful index.
        let name = table.strip_suffix(']').and_then(|t| t.rsplit_once('['));
        return name.map_or(table.clone(), |(name, _)| name.to_string());
    }
    if let Some(name) = missing {
        parts.push(name);
    }
    parts.join(".")
}

/// The name of the last table header in `text`, arrays indexed from 0:
/// `route[2]` is the third `[[route]]`.
fn enclosing_table(text: &str) -> String {
    let mut current = String::new();
    let mut array_counts: Vec<(String, usize)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("[[") {
            let name = normalize_key(rest.split("]]").next().unwrap_or(""));
            let index = match array_counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    array_counts.push((name.clone(), 1));
                    0
                }
            };
            current = format!("{name}[{index}]");
        } else if let Some(rest) = line.strip_prefix('[') {
            current = normalize_key(rest.split(']').next().unwrap_or(""));
        }
    }
    current
}

/// `a . b` → `a.b`, as the key path is written in errors.
fn normalize_key(key: &str) -> String {
    key.split('.').map(str::trim).collect::<Vec<_>>().join(".")
}

fn quoted_name<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::key_path_at;

    fn path_at(source: &str, needle: &str, message: &str) -> String {
        let start = source.find(needle).expect("needle in source");
        key_path_at(source, start..start + needle.len(), message)
    }

    #[test]
    fn names_keys_in_tables() {
        let src = "[listen]\nhttps = 5\n[timeouts]\nconnect = 3\n";
        assert_eq!(path_at(src, "5", "invalid type"), "listen.https");
        assert_eq!(path_at(src, "3", "invalid type"), "timeouts.connect");
    }

    #[test]
    fn indexes_arrays_of_tables() {
        let src = "[[route]]\npath = \"/\"\n[[route]]\nzzz = 1\n";
        let msg = "unknown field `zzz`, expected `path`";
        assert_eq!(path_at(src, "zzz", msg), "route[1].zzz");
    }

    #[test]
    fn names_unknown_tables_and_inline_keys() {
        let src = "[bar]\nx = 1\nlisten = { https = \"x\", q = 1 }\n";
        assert_eq!(path_at(src, "bar", "unknown field `bar`, expected"), "bar");
        let msg = "unknown field `q`, expected `https`";
        assert_eq!(path_at(src, "q =", msg), "bar.listen.q");
    }

    #[test]
    fn names_missing_keys() {
        let src = "[[route]]\npath = \"/\"\n";
        assert_eq!(
            path_at(src, "[[route]]", "missing field `upstream`"),
            "route[0].upstream"
        );
        assert_eq!(key_path_at(src, 0..0, "missing field `listen`"), "listen");
        let src = "[[rout]]\n";
        let msg = "unknown field `rout`, expected `route`";
        assert_eq!(path_at(src, "rout", msg), "rout");
    }
}
