//! Facts about the appliance that several modules rely on (see docs/appliance.md).

/// Where Usage Meter is installed; the documented procedure runs the bundle from here.
pub const INSTALL_DIR: &str = "/opt/vmware/cloudusagemetering";
/// Where the 4.3 upgrade moves the previous installation.
pub const OLD_INSTALL_DIR: &str = "/opt/vmware/cloudusagemetering-old";
/// The upgrade bundle's default place: [`INSTALL_DIR`]`/ums-system-upgrade.shar`.
pub const BUNDLE: &str = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar";

/// A token naming this run of a module on the appliance (files, lock owners):
/// `<pid>-<nanoseconds>`, unique enough for runs on one controller.
pub fn run_token() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{}-{}", std::process::id(), nanos % 1_000_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_agree() {
        assert_eq!(BUNDLE, format!("{INSTALL_DIR}/ums-system-upgrade.shar"));
        assert_eq!(OLD_INSTALL_DIR, format!("{INSTALL_DIR}-old"));
        let (a, b) = (run_token(), run_token());
        assert!(a.starts_with(&format!("{}-", std::process::id())));
        assert!(a.bytes().all(|c| c.is_ascii_digit() || c == b'-'), "{a}");
        assert_ne!(a, b);
    }
}
