//! A small YAML writer for the manifests `framewut k8s job` prints.
//!
//! A manifest is JSON-shaped data (maps, lists, strings, numbers, booleans),
//! and that is all this writes: block maps and lists, two spaces a level.
//! A string is written bare only when YAML cannot read it as anything else
//! (a number, a boolean, null, a date, or syntax); every other string is
//! double-quoted with JSON's escapes, which YAML's double quotes read the
//! same way. A whole YAML library would be a heavy dependency for this.

use serde_json::Value;

/// The value as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_list(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(key));
        out.push(':');
        write_child(out, value, indent);
    }
}

fn write_list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            // A map in a list starts on the dash's line: `- name: agent`.
            Value::Object(map) if !map.is_empty() => {
                let mut nested = String::new();
                write_map(&mut nested, map, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            _ => write_child(out, item, indent),
        }
    }
}

/// What follows a key's colon or a list's dash: a scalar on the same line,
/// or a nested block on the next lines.
fn write_child(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_list(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

/// A scalar, or an empty map or list, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string bare when that is unambiguous, quoted otherwise.
fn string(s: &str) -> String {
    if is_plain(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string always serializes")
    }
}

/// Whether a string reads back as itself when written bare: it starts with a
/// letter, holds only letters, digits and `-_./`, and is none of the words
/// YAML 1.1 reads as a boolean or null (Kubernetes' parser follows 1.1).
fn is_plain(s: &str) -> bool {
    const WORDS: &[&str] = &["y", "yes", "n", "no", "true", "false", "on", "off", "null"];
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_yaml;

    #[test]
    fn writes_block_maps_and_lists() {
        let value = json!({
            "kind": "Job",
            "spec": {"completions": 3, "ready": true, "empty": {}},
            "args": ["load", "-c", "64", "$(JOB_COMPLETION_INDEX)/3"],
            "containers": [{"name": "agent", "env": [{"name": "A", "value": "1"}]}],
        });
        // serde_json keeps a map's keys in order, so the YAML has them sorted.
        assert_eq!(
            to_yaml(&value),
            "args:\n  - load\n  - \"-c\"\n  - \"64\"\n  - \"$(JOB_COMPLETION_INDEX)/3\"\n\
             containers:\n  - env:\n      - name: A\n        value: \"1\"\n    name: agent\n\
             kind: Job\n\
             spec:\n  completions: 3\n  empty: {}\n  ready: true\n"
        );
    }

    #[test]
    fn quotes_what_yaml_would_read_as_something_else() {
        for (text, written) in [
            ("no", "\"no\""),
            ("On", "\"On\""),
            ("null", "\"null\""),
            ("1h", "\"1h\""),
            ("2026-11-29T12:00:00Z", "\"2026-11-29T12:00:00Z\""),
            ("a: b", "\"a: b\""),
            ("", "\"\""),
            ("say \"hi\"\n", "\"say \\\"hi\\\"\\n\""),
            ("batch/v1", "batch/v1"),
            ("kubernetes.io/hostname", "kubernetes.io/hostname"),
        ] {
            assert_eq!(to_yaml(&json!(text)), format!("{written}\n"), "{text:?}");
        }
    }
}
