//! The one JSON object a module prints. A guard makes sure nothing prints twice
//! (a panic after a result was written must not add a second object).

use super::nolog;
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// The result key carrying the run's secrets to the action plugin, which
/// registers them with ansible-core and removes the key (ansible-core 2.22's
/// own name for it: AnsibleModule returns new secrets under it).
pub const NEW_SECRETS_KEY: &str = "_ansible_new_secrets";

static PRINTED: AtomicBool = AtomicBool::new(false);

/// Scrub and print the result once; later calls do nothing.
pub fn emit(result: Map<String, Value>) {
    if PRINTED.swap(true, Ordering::SeqCst) {
        return;
    }
    // Scrub every value but keep the top-level keys (and `invocation.module_args`):
    // they are the protocol's own (`failed`, `changed`, `msg`, `rc`, ...) and field
    // names of the module, never user data; scrubbing them with a short secret
    // ("ed" is in "failed") would make Ansible read a failure as a success.
    let scrubbed: Map<String, Value> = result
        .into_iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("invocation", Value::Object(inv)) => Value::Object(inv.into_iter().map(|(ik, iv)| (ik, nolog::scrub(iv))).collect()),
                // the secrets themselves, asked for by the action plugin: scrubbed they would be useless
                (NEW_SECRETS_KEY, v) => v,
                (_, v) => nolog::scrub(v),
            };
            (k, v)
        })
        .collect();
    let text = serde_json::to_string(&scrubbed)
        .unwrap_or_else(|_| r#"{"failed": true, "msg": "could not serialise the module result"}"#.to_string());
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    // Nothing useful can be done if stdout is gone; Ansible reports the rc.
    let _ = writeln!(lock, "{text}");
    let _ = lock.flush();
}

/// A failed result with `msg` and optional extra fields.
pub fn failed(msg: String, data: Map<String, Value>, warnings: &[String]) -> Map<String, Value> {
    let mut out = data;
    out.insert("failed".into(), Value::Bool(true));
    out.entry("changed").or_insert(Value::Bool(false));
    out.insert("msg".into(), Value::String(msg));
    if !warnings.is_empty() {
        out.insert("warnings".into(), warnings.iter().cloned().map(Value::String).collect());
    }
    out
}
