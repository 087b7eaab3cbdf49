//! The bundles staged on the appliance: the records M(vcloud.usage_meter.shar_copy)
//! leaves with `record: true` (`<state_dir>/staged/*.json`, one JSON object on
//! one line each, root's only). Read in the one gather command, one
//! `staged=<json>` line per record; nothing is hashed here (cheap): the
//! bundles themselves are checked by shar_copy's `staged: verify`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use usage_meter::shell::quote;
use usage_meter::upgrade_state;

/// One staged bundle, as its record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Staged {
    /// Path of the bundle on the appliance.
    #[schemars(extend("x-sample" = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"))]
    pub dest: String,
    /// Its sha256 (hex) when it was staged.
    #[schemars(extend("x-sample" = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"))]
    pub sha256: String,
    /// Its SHA-1 (hex), when it was checked against one (an ISO's C(.mf)); else null.
    #[serde(default)]
    #[schemars(extend("x-sample" = "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "x-returned" = "always (null when not checked)"))]
    pub sha1: Option<String>,
    /// Its size in bytes.
    #[schemars(extend("x-sample" = 1073741824))]
    pub size: u64,
    /// When it was staged (UTC).
    #[schemars(extend("x-sample" = "2026-12-01T18:30:05Z"))]
    pub staged_at: String,
    /// Name of the file on the controller it was copied from.
    #[serde(default)]
    #[schemars(extend("x-sample" = "ums-system-upgrade.shar"))]
    pub name: String,
}

/// The part of the gather command that prints the records.
pub fn gather_part(state_dir: &str) -> String {
    let dir = quote(&upgrade_state::path_in(state_dir, "staged"));
    format!("for f in {dir}/*.json; do [ -f \"$f\" ] && printf 'staged=%s\\n' \"$(tr -d '\\n\\r' < \"$f\")\"; done 2>/dev/null")
}

/// The records among the gather output's lines (an unreadable one is left out), by dest.
pub fn parse(out: &str) -> Vec<Staged> {
    let mut v: Vec<Staged> =
        out.lines().filter_map(|l| l.strip_prefix("staged=")).filter_map(|j| serde_json::from_str(j.trim()).ok()).collect();
    v.sort_by(|a, b| a.dest.cmp(&b.dest));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_and_junk_left_out() {
        let sha = "a".repeat(64);
        let out = format!(
            "boot_id=x\nstaged={{\"format\":1,\"dest\":\"/b.iso\",\"name\":\"b.iso\",\"size\":3,\"sha256\":\"{sha}\",\"sha1\":\"{}\",\"staged_at\":\"2026-12-07T09:00:00Z\"}}\n\
             staged={{\"format\":1,\"dest\":\"/a.shar\",\"size\":2,\"sha256\":\"{sha}\",\"staged_at\":\"T\"}}\nstaged=\nstaged={{broken\nend=1\n",
            "b".repeat(40)
        );
        let v = parse(&out);
        assert_eq!(v.iter().map(|s| s.dest.as_str()).collect::<Vec<_>>(), ["/a.shar", "/b.iso"]);
        assert_eq!((v[0].sha1.as_deref(), v[0].name.as_str(), v[0].size), (None, "", 2));
        assert_eq!(v[1].sha1.as_deref(), Some("b".repeat(40).as_str()));
        assert_eq!(v[1].staged_at, "2026-12-07T09:00:00Z");
    }

    #[test]
    fn gather_part_runs_locally() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().to_str().unwrap();
        let run = || {
            let o = std::process::Command::new("sh").arg("-c").arg(format!("{}; echo end=1", gather_part(sd))).output().unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        assert_eq!(run(), "end=1\n"); // no directory: nothing
        std::fs::create_dir(dir.path().join("staged")).unwrap();
        std::fs::write(dir.path().join("staged/x.json"), "{\"dest\":\"/x\",\n\"size\":1,\"sha256\":\"s\",\"staged_at\":\"t\"}\n").unwrap();
        let v = parse(&run());
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].dest.as_str(), v[0].size), ("/x", 1));
    }
}
