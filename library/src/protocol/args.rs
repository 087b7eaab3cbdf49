//! From the args file to typed parameters, with Ansible's own error wording:
//! unknown options, missing required ones, bad types, bad choices.

use super::coerce::{coerce, python_type};
use super::internal::Internal;
use super::schema::{options, Kind, OptionSpec};
use crate::error::Failure;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The args file, read and split: the module's own options and the internal keys.
#[derive(Debug)]
pub struct RawArgs {
    pub params: Map<String, Value>,
    pub internal: Internal,
}

/// Read and parse the args file Ansible names in argv[1].
pub fn read_args_file(path: &std::path::Path) -> Result<RawArgs, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::new("read arguments", format!("cannot read the arguments file {}: {e}", path.display()))
            .hint("run this program from Ansible, which passes the path of a JSON arguments file")
    })?;
    parse_args(&bytes)
}

/// Parse args-file bytes (a JSON object).
pub fn parse_args(bytes: &[u8]) -> Result<RawArgs, Failure> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Failure::new("read arguments", format!("the arguments file is not UTF-8 ({e})"))
            .hint("pass module arguments through Ansible, which writes them as UTF-8 JSON")
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Failure::new("read arguments", format!("the arguments file is not valid JSON ({e})"))
            .hint("pass module arguments through Ansible (playbook task or `ansible -m ... -a`)")
    })?;
    let Value::Object(mut params) = value else {
        return Err(Failure::new("read arguments", format!("the arguments file holds a JSON {}, not an object", json_kind(&value)))
            .hint("the arguments must be a JSON object of option names to values"));
    };
    let internal = Internal::split_from(&mut params);
    Ok(RawArgs { params, internal })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Validate `params` against the schema and deserialize them.
pub fn validate<P: DeserializeOwned>(
    root: &Value,
    mut params: Map<String, Value>,
    internal: &Internal,
    module_name: &str,
) -> Result<P, Failure> {
    let specs = options(root);
    let step = "validate arguments";

    // Unknown options, unless an action plugin asked us to ignore them.
    let unknown: Vec<String> = params.keys().filter(|k| !specs.iter().any(|s| &s.name == *k)).cloned().collect();
    if !unknown.is_empty() {
        if internal.ignore_unknown_opts {
            for k in &unknown {
                params.remove(k);
            }
        } else {
            let mut unknown = unknown;
            unknown.sort();
            let supported: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(Failure::new(
                step,
                format!(
                    "Unsupported parameters for ({module_name}) module: {}. Supported parameters include: {}.",
                    unknown.join(", "),
                    supported.join(", ")
                ),
            )
            .hint("check the option names against `ansible-doc` for this module"));
        }
    }

    // None means "not given", as in Ansible.
    params.retain(|_, v| !v.is_null());

    let mut missing: Vec<&str> = specs.iter().filter(|s| s.required && !params.contains_key(&s.name)).map(|s| s.name.as_str()).collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(
            Failure::new(step, format!("missing required arguments: {}", missing.join(", "))).hint("add the missing options to the task")
        );
    }

    let mut errors = Vec::new();
    for spec in &specs {
        if let Some(value) = params.remove(&spec.name) {
            match check_option(spec, value) {
                Ok(v) => {
                    params.insert(spec.name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
    }
    if !errors.is_empty() {
        return Err(Failure::new(step, errors.join("; ")).hint("fix the option values in the task"));
    }

    serde_json::from_value(Value::Object(params))
        .map_err(|e| Failure::new(step, format!("invalid arguments: {e}")).hint("fix the option values in the task"))
}

/// Coerce one option's value and check its choices and bounds.
fn check_option(spec: &OptionSpec, value: Value) -> Result<Value, String> {
    let name = &spec.name;
    let original_type = python_type(&value);
    let mut v = coerce(value, spec.kind).map_err(|why| {
        format!("argument '{name}' is of type {original_type} and we were unable to convert to {}: {why}", spec.kind.ansible_name())
    })?;
    if let (Kind::List, Some(el), Value::Array(items)) = (spec.kind, spec.elements, &mut v) {
        for item in items.iter_mut() {
            let it = std::mem::take(item);
            *item = coerce(it, el).map_err(|why| format!("Elements value for option '{name}' is invalid: {why}"))?;
        }
    }
    // A dict of scalars (`BTreeMap<String, String>`): check (and coerce) each
    // value here, so a bad one is reported with the option's name, not as a
    // nameless serde error.
    if let (Kind::Dict, Some(el), Value::Object(map)) = (spec.kind, dict_values_kind(&spec.schema), &mut v) {
        for (key, item) in map.iter_mut() {
            let it = std::mem::take(item);
            *item = coerce(it, el).map_err(|why| format!("Value of key '{key}' of option '{name}' is invalid: {why}"))?;
        }
    }
    if !spec.choices.is_empty() {
        if let Some(s) = v.as_str() {
            if !spec.choices.iter().any(|c| c == s) {
                return Err(format!("value of {name} must be one of: {}, got: {s}", spec.choices.join(", ")));
            }
        }
    }
    if let Some(x) = v.as_f64() {
        if let Some(min) = spec.minimum {
            if x < min {
                return Err(format!("argument '{name}' must be at least {min}, got {v}"));
            }
        }
        if let Some(max) = spec.maximum {
            if x > max {
                return Err(format!("argument '{name}' must be at most {max}, got {v}"));
            }
        }
    }
    // A blank value ("   ") is as empty as "" for names, paths and addresses.
    if let (Some(min), Some(s)) = (spec.min_length, v.as_str()) {
        if (s.trim().chars().count() as u64) < min {
            return Err(if min <= 1 {
                format!("argument '{name}' must not be empty")
            } else {
                format!("argument '{name}' must be at least {min} characters")
            });
        }
    }
    Ok(v)
}

/// The kind of every value of a dict option whose values are plain scalars
/// (`additionalProperties: {type: string|integer|number|boolean}`), if so.
fn dict_values_kind(schema: &Value) -> Option<Kind> {
    match schema.get("additionalProperties")?.get("type")?.as_str()? {
        "string" => Some(Kind::Str),
        "integer" => Some(Kind::Int),
        "number" => Some(Kind::Float),
        "boolean" => Some(Kind::Bool),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::schema::root_schema;
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Pinned {
        #[serde(default)]
        pins: BTreeMap<String, String>,
    }

    fn check(v: Value) -> Result<Pinned, Failure> {
        let Value::Object(m) = v else { panic!("not an object") };
        validate::<Pinned>(&root_schema::<Pinned>(), m, &Internal::default(), "t")
    }

    #[test]
    fn dict_values_are_checked_with_the_option_name() {
        let e = check(json!({"pins": {"a:443": {"x": 1}}})).unwrap_err();
        assert!(e.msg.contains("Value of key 'a:443' of option 'pins' is invalid"), "{}", e.msg);
        assert_eq!(check(json!({"pins": {"a:443": 5}})).unwrap().pins["a:443"], "5");
        assert!(check(json!({"pins": {}})).unwrap().pins.is_empty());
    }
}
