//! Ansible's type conversions. Ad-hoc `-a k=v` delivers every value as a
//! string, so "yes"/"on"/"1" must become booleans and "5" an integer.

use super::schema::Kind;
use serde_json::{Map, Number, Value};

/// Ansible's BOOLEANS_TRUE / BOOLEANS_FALSE (module_utils/parsing/convert_bool.py).
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The Python type name Ansible would print for this value.
pub fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Convert `v` to `kind`, or say why not (Ansible's wording follows in args.rs).
pub fn coerce(v: Value, kind: Kind) -> Result<Value, String> {
    match kind {
        Kind::Raw => Ok(v),
        Kind::Bool => to_bool(&v).map(Value::Bool).ok_or_else(|| format!("{} cannot be converted to a bool", show(&v))),
        Kind::Int => to_int(&v).ok_or_else(|| format!("{} cannot be converted to an int", show(&v))),
        Kind::Float => to_float(&v).ok_or_else(|| format!("{} cannot be converted to a float", show(&v))),
        Kind::Str => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(if b { "True" } else { "False" }.into())),
            other => Err(format!("{} cannot be converted to a str", show(&other))),
        },
        Kind::List => match v {
            Value::Array(_) => Ok(v),
            // Ansible splits a comma-separated string into a list.
            Value::String(s) => {
                Ok(Value::Array(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(|p| Value::String(p.into())).collect()))
            }
            Value::Number(_) | Value::Bool(_) => Ok(Value::Array(vec![v])),
            other => Err(format!("{} cannot be converted to a list", show(&other))),
        },
        Kind::Dict => match v {
            Value::Object(_) => Ok(v),
            Value::String(s) => string_to_dict(&s),
            other => Err(format!("{} cannot be converted to a dict", show(&other))),
        },
    }
}

/// The value as a message shows it: quoted, and cut after 200 characters so a
/// huge value (a megabyte list given for an int) does not flood the message.
fn show(v: &Value) -> String {
    const MAX_CHARS: usize = 200;
    let s = match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    };
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}... ({} characters)", &s[..cut], s.chars().count()),
        None => s,
    }
}

fn to_int(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(v.clone()),
        Value::Number(n) => n.as_f64().filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15).map(|x| Value::from(x as i64)),
        Value::String(s) => {
            let t = s.trim();
            t.parse::<i64>().ok().map(Value::from).or_else(|| t.parse::<u64>().ok().map(Value::from))
        }
        _ => None,
    }
}

fn to_float(v: &Value) -> Option<Value> {
    match v {
        Value::Number(_) => Some(v.clone()),
        Value::String(s) => s.trim().parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number),
        _ => None,
    }
}

/// `'{"a": 1}'` (JSON) or `'a=1 b=2'` / `'a=1, b=2'`, as Ansible's check_type_dict.
fn string_to_dict(s: &str) -> Result<Value, String> {
    let t = s.trim();
    if t.starts_with('{') {
        return serde_json::from_str::<Value>(t).ok().filter(Value::is_object).ok_or_else(|| format!("'{s}' is not valid JSON for a dict"));
    }
    let mut map = Map::new();
    for pair in t.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
        let (k, val) = pair.split_once('=').ok_or_else(|| format!("'{s}' cannot be converted to a dict"))?;
        map.insert(k.trim().to_string(), Value::String(val.trim().to_string()));
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_follow_ansible() {
        for t in ["yes", "Yes", "on", "1", "true", "TRUE", "t", "y"] {
            assert_eq!(to_bool(&json!(t)), Some(true), "{t}");
        }
        for f in ["no", "off", "0", "false", "f", "n"] {
            assert_eq!(to_bool(&json!(f)), Some(false), "{f}");
        }
        assert_eq!(to_bool(&json!(1)), Some(true));
        assert_eq!(to_bool(&json!("maybe")), None);
        assert_eq!(to_bool(&json!(2)), None);
    }

    #[test]
    fn ints_from_strings_and_whole_floats() {
        assert_eq!(coerce(json!("5"), Kind::Int), Ok(json!(5)));
        assert_eq!(coerce(json!(" -3 "), Kind::Int), Ok(json!(-3)));
        assert_eq!(coerce(json!(7.0), Kind::Int), Ok(json!(7)));
        assert!(coerce(json!("5s"), Kind::Int).is_err());
        assert!(coerce(json!(7.5), Kind::Int).is_err());
    }

    #[test]
    fn lists_and_dicts_from_strings() {
        assert_eq!(coerce(json!("a, b,c"), Kind::List), Ok(json!(["a", "b", "c"])));
        assert_eq!(coerce(json!("a=1 b=2"), Kind::Dict), Ok(json!({"a": "1", "b": "2"})));
        assert_eq!(coerce(json!("{\"a\": 1}"), Kind::Dict), Ok(json!({"a": 1})));
        assert!(coerce(json!("nonsense"), Kind::Dict).is_err());
    }

    #[test]
    fn huge_values_are_cut_in_messages() {
        let err = coerce(json!(vec!["22"; 100_000]), Kind::Int).unwrap_err();
        assert!(err.len() < 300 && err.contains("... (500001 characters)"), "{err}");
        assert_eq!(coerce(json!("x"), Kind::Int).unwrap_err(), "'x' cannot be converted to an int");
    }

    #[test]
    fn strings_from_scalars() {
        assert_eq!(coerce(json!(22), Kind::Str), Ok(json!("22")));
        assert!(coerce(json!([1]), Kind::Str).is_err());
    }
}
