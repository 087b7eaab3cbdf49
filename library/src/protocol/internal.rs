//! The `_ansible_*` keys: all optional (they differ between ansible-core
//! 2.15 and 2.22), unknown ones ignored.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
pub struct Internal {
    pub check_mode: bool,
    pub diff: bool,
    pub no_log: bool,
    pub verbosity: u8,
    pub module_name: Option<String>,
    pub ignore_unknown_opts: bool,
    pub version: Option<String>,
    /// `_ansible_inject_invocation` (INJECT_INVOCATION, ansible-core 2.21+,
    /// default false); absent on older cores, which always showed `invocation`.
    pub inject_invocation: Option<bool>,
    /// `_ansible_report_new_secrets`, sent by this collection's action plugin:
    /// return every secret the run registered as `_ansible_new_secrets`, so that
    /// the controller can register them too (docs/ansible-protocol.md, "Secrets").
    pub report_secrets: bool,
}

const PREFIX: &str = "_ansible_";

impl Internal {
    /// Remove every `_ansible_*` key from `args` and read the ones we use.
    pub fn split_from(args: &mut Map<String, Value>) -> Internal {
        let keys: Vec<String> = args.keys().filter(|k| k.starts_with(PREFIX)).cloned().collect();
        let mut internal = Internal::default();
        for key in keys {
            let Some(value) = args.remove(&key) else { continue };
            let flag = crate::protocol::coerce::to_bool(&value).unwrap_or(false);
            match &key[PREFIX.len()..] {
                "check_mode" => internal.check_mode = flag,
                "diff" => internal.diff = flag,
                "no_log" => internal.no_log = flag,
                "ignore_unknown_opts" => internal.ignore_unknown_opts = flag,
                "verbosity" => internal.verbosity = value.as_u64().map_or(0, |v| v.min(10) as u8),
                "module_name" => internal.module_name = value.as_str().map(str::to_string),
                "version" => internal.version = value.as_str().map(str::to_string),
                "inject_invocation" => internal.inject_invocation = crate::protocol::coerce::to_bool(&value),
                "report_new_secrets" => internal.report_secrets = flag,
                _ => {}
            }
        }
        internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_known_keys_and_drops_all_internal_ones() {
        let mut args = json!({
            "host": "a", "_ansible_check_mode": true, "_ansible_diff": "yes",
            "_ansible_verbosity": 3, "_ansible_module_name": "vcloud.usage_meter.sshd",
            "_ansible_tracebacks_for": [], "_ansible_string_conversion_action": "warn"
        });
        let map = args.as_object_mut().map(std::mem::take).unwrap_or_default();
        let mut map = map;
        let i = Internal::split_from(&mut map);
        assert!(i.check_mode && i.diff && !i.no_log);
        assert_eq!(i.verbosity, 3);
        assert_eq!(i.module_name.as_deref(), Some("vcloud.usage_meter.sshd"));
        assert_eq!(map.keys().collect::<Vec<_>>(), vec!["host"]);
    }

    #[test]
    fn absent_keys_default_to_false() {
        let mut map = Map::new();
        let i = Internal::split_from(&mut map);
        assert!(!i.check_mode && !i.diff && !i.no_log && !i.ignore_unknown_opts && !i.report_secrets);
        assert_eq!(i.inject_invocation, None);
    }

    #[test]
    fn reads_invocation_and_secret_reporting_requests() {
        let mut map =
            json!({"_ansible_inject_invocation": false, "_ansible_report_new_secrets": true}).as_object().cloned().unwrap_or_default();
        let i = Internal::split_from(&mut map);
        assert_eq!(i.inject_invocation, Some(false));
        assert!(i.report_secrets && map.is_empty());
    }
}
