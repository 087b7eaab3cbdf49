//! no_log for binary modules. The controller masks nothing for us (see
//! docs/ansible-protocol.md, "no_log"), so, as AnsibleModule does in Python: no_log
//! option values become VALUE_SPECIFIED_IN_NO_LOG_PARAMETER in `invocation`,
//! and every occurrence of a secret in any output string becomes `********`.
//! The registry is process-wide so the panic hook can scrub too.

use super::schema::OptionSpec;
use once_cell::sync::Lazy;
use serde_json::{Map, Value};
use std::sync::Mutex;

pub const MASK_INVOCATION: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";
pub const MASK: &str = "********";

static SECRETS: Lazy<Mutex<Vec<String>>> = Lazy::new(|| Mutex::new(Vec::new()));

/// Remember a secret value for scrubbing.
pub fn register(value: &str) {
    if value.is_empty() {
        return;
    }
    if let Ok(mut s) = SECRETS.lock() {
        if !s.iter().any(|x| x == value) {
            s.push(value.to_string());
            // Longest first, so a secret containing another is masked whole.
            s.sort_by_key(|x| std::cmp::Reverse(x.len()));
        }
    }
}

/// Every secret registered so far (no_log option values and run-time ones),
/// for `_ansible_new_secrets`.
pub fn registered() -> Vec<String> {
    SECRETS.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Register the values of every no_log option found in `params` (strings,
/// numbers, and strings inside lists/dicts).
pub fn register_params(specs: &[OptionSpec], params: &Map<String, Value>) {
    for spec in specs.iter().filter(|s| s.no_log) {
        if let Some(v) = params.get(&spec.name) {
            register_value(v);
        }
    }
}

fn register_value(v: &Value) {
    match v {
        Value::String(s) => register(s),
        Value::Number(n) => register(&n.to_string()),
        Value::Array(a) => a.iter().for_each(register_value),
        Value::Object(o) => o.values().for_each(register_value),
        Value::Bool(_) | Value::Null => {}
    }
}

/// The `invocation.module_args` value: no_log options replaced.
pub fn masked_invocation(specs: &[OptionSpec], params: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, v) in params {
        let secret = specs.iter().any(|s| s.no_log && &s.name == k) && !v.is_null();
        out.insert(k.clone(), if secret { Value::String(MASK_INVOCATION.into()) } else { v.clone() });
    }
    scrub(Value::Object(out))
}

/// Replace every registered secret inside every string (keys too) of `v`.
pub fn scrub(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(scrub_str(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(scrub).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (scrub_str(&k), scrub(v))).collect()),
        other => other,
    }
}

pub fn scrub_str(s: &str) -> String {
    let Ok(secrets) = SECRETS.lock() else { return s.to_string() };
    let mut out = s.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrubs_nested_strings_and_keys() {
        register("hunter2-nolog-test");
        let v = scrub(json!({"msg": "bad password hunter2-nolog-test!", "list": ["x", {"hunter2-nolog-test": 1}]}));
        let text = v.to_string();
        assert!(!text.contains("hunter2-nolog-test"), "{text}");
        assert!(text.contains("bad password ********!"));
        assert!(registered().iter().any(|s| s == "hunter2-nolog-test"));
    }
}
