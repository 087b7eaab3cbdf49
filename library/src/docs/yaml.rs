//! A small YAML writer for documentation values. Strings that would be
//! ambiguous as plain scalars are written double-quoted with JSON escapes
//! (valid YAML); multi-line strings as literal blocks.

use serde_json::Value;

pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize) -> String {
    " ".repeat(n)
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, ind: usize) {
    for (k, v) in m {
        out.push_str(&indent(ind));
        out.push_str(&key(k));
        out.push(':');
        write_value(out, v, ind);
    }
}

/// Write what follows `key:` (or `- `), then a newline.
fn write_value(out: &mut String, v: &Value, ind: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, ind + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            for item in a {
                out.push_str(&indent(ind + 2));
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // first key on the dash line, the rest aligned under it
                        let mut inner = String::new();
                        write_map(&mut inner, m, ind + 4);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    other => write_value(out, other, ind + 2),
                }
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, ind + 2));
            out.push('\n');
        }
    }
}

fn key(k: &str) -> String {
    if is_plain(k) {
        k.to_string()
    } else {
        quoted(k)
    }
}

fn scalar(v: &Value, ind: usize) -> String {
    match v {
        Value::String(s) if s.contains('\n') && !s.contains('\t') && s.lines().all(|l| l.trim_end() == l) => {
            let mut out = String::from(if s.ends_with('\n') { "|" } else { "|-" });
            for line in s.trim_end_matches('\n').split('\n') {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&indent(ind));
                    out.push_str(line);
                }
            }
            out
        }
        Value::String(s) if s.len() > WRAP && !s.contains('\n') => wrapped(s, ind),
        Value::String(s) if is_plain(s) => s.clone(),
        Value::String(s) => quoted(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

/// Longer strings are folded over several lines (linters and ansible-test
/// limit line length; YAML folds a line break in a double-quoted scalar into
/// one space, and drops the next line's leading indentation).
const WRAP: usize = 100;

fn wrapped(s: &str, ind: usize) -> String {
    let q = quoted(s);
    let inner = &q[1..q.len() - 1];
    let mut out = String::from("\"");
    let mut line_len = 0;
    for (i, word) in inner.split(' ').enumerate() {
        if i > 0 {
            // An empty word (two spaces in a row) or a word after which we'd
            // overflow: only break before a non-empty word, never inside an escape.
            if line_len + word.len() + 1 > WRAP && !word.is_empty() && line_len > 0 {
                out.push('\n');
                out.push_str(&indent(ind));
                line_len = 0;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len += word.len();
    }
    out.push('"');
    out
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Safe as a plain scalar: no YAML indicators, not a bool/null/number.
fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let specials = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"];
    first.is_ascii_alphabetic()
        && !specials.contains(&s.to_ascii_lowercase().as_str())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || " _-./(),'`<>=+@".contains(c))
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
}

#[cfg(test)]
mod tests {
    use super::to_yaml;
    use serde_json::json;

    #[test]
    fn writes_nested_maps_lists_and_blocks() {
        let v = json!({"a": {"b": ["x", "yes", "k: v"], "c": 3, "d": {}}, "E": "line1\nline2\n"});
        assert_eq!(to_yaml(&v), "E: |\n  line1\n  line2\na:\n  b:\n    - x\n    - \"yes\"\n    - \"k: v\"\n  c: 3\n  d: {}\n");
    }

    #[test]
    fn long_strings_fold_into_lines_yaml_joins_again() {
        let long = "word ".repeat(60).trim_end().to_string() + " \"quoted\" end";
        let text = to_yaml(&json!({ "k": long }));
        assert!(text.lines().all(|l| l.len() <= 110), "{text}");
        assert!(text.lines().count() > 2);
        assert!(text.starts_with("k: \"word word"));
    }

    #[test]
    fn list_of_maps() {
        let v = json!({"l": [{"a": 1, "b": "two"}]});
        assert_eq!(to_yaml(&v), "l:\n  - a: 1\n    b: two\n");
    }
}
