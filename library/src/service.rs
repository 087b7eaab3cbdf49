//! What the appliance's service manager prints, read the same way by every module.

/// Whether `systemctl is-enabled` output means "started at boot". Every state
/// systemctl(1) lists maps to a yes or no, so a second run finds nothing to
/// change; `None` for anything else (no systemctl, an error).
pub fn enabled_at_boot(is_enabled: &str) -> Option<bool> {
    match is_enabled.trim() {
        "enabled" | "enabled-runtime" | "static" | "alias" | "generated" | "transient" => Some(true),
        "disabled" | "masked" | "masked-runtime" | "indirect" | "linked" | "linked-runtime" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_state_is_known() {
        assert_eq!(enabled_at_boot("enabled"), Some(true));
        assert_eq!(enabled_at_boot("static\n"), Some(true));
        assert_eq!(enabled_at_boot("generated"), Some(true));
        assert_eq!(enabled_at_boot("disabled"), Some(false));
        assert_eq!(enabled_at_boot("masked"), Some(false));
        assert_eq!(enabled_at_boot("linked-runtime"), Some(false));
        assert_eq!(enabled_at_boot("unknown"), None);
        assert_eq!(enabled_at_boot(""), None);
    }
}
