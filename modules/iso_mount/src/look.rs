//! What the appliance shows at the mount point (`remote/look.sh`), and the
//! pure decisions made from it: is the ISO mounted there, which script to run.

use usage_meter::reply::Reply;
use usage_meter::Failure;

/// The name of the upgrade script where it is known: the vendor's KB and a
/// blog show it for 9.x [guess for 4.4-4.8].
pub const KNOWN_SCRIPT: &str = "upgrade-um.sh";

/// What `look.sh` printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// The ISO file exists.
    pub iso: bool,
    /// Its path with links resolved.
    pub iso_real: String,
    /// The mount point is a directory.
    pub dir: bool,
    /// Something is mounted at the mount point: its source (a device, or a name).
    pub source: Option<String>,
    /// The file behind a loop device mounted there.
    pub backing: Option<String>,
    /// The directory is empty (only read when nothing is mounted there).
    pub empty: bool,
    /// The `script` option names a file under the mount point.
    pub script_ok: bool,
    /// The names at the root of the mount point ("/" after a directory).
    pub root: Vec<String>,
}

pub fn parse_look(stdout: &str) -> Option<Look> {
    let r = Reply::parse(stdout);
    let text = |k: &str| r.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let look = Look {
        iso: r.flag("iso"),
        iso_real: text("iso_real").unwrap_or_default(),
        dir: r.flag("dir"),
        source: text("source").filter(|_| r.flag("mounted")),
        backing: text("backing").map(|b| b.trim_end_matches(" (deleted)").to_string()),
        empty: r.flag("empty"),
        script_ok: r.flag("script"),
        root: r.section("root").map(|s| s.lines.iter().filter(|l| !l.is_empty()).cloned().collect()).unwrap_or_default(),
    };
    r.complete.then_some(look)
}

/// What is at the mount point, as far as this ISO is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtPath {
    /// Nothing is mounted there (the directory may exist).
    Free,
    /// This ISO is mounted there.
    Ours,
    /// Something else is mounted there: what.
    Other(String),
}

impl Look {
    /// Is the ISO (`iso` as given, or as resolved on the appliance) what is mounted?
    pub fn at_path(&self, iso: &str) -> AtPath {
        let Some(src) = &self.source else { return AtPath::Free };
        let is_iso = |f: &str| f == iso || (!self.iso_real.is_empty() && f == self.iso_real);
        // a loop device shows the file behind it; a mount that names the file
        // itself as its source (a FUSE or emulated ISO mount) counts too
        if self.backing.as_deref().is_some_and(is_iso) || is_iso(src) {
            return AtPath::Ours;
        }
        let what = match &self.backing {
            Some(b) if !b.is_empty() => format!("{src} (a loop device on {b})"),
            _ => src.clone(),
        };
        AtPath::Other(what)
    }
}

/// Where the script came from: the `script` option, the known name, or the
/// one upgrade script at the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Given,
    Known,
    Found,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Given => "given",
            Source::Known => "known",
            Source::Found => "found",
        }
    }
}

/// The upgrade script (relative to the mount point) among the root's names.
pub fn find_script(look: &Look, given: Option<&str>, mount_point: &str) -> Result<(String, Source), Failure> {
    let listing = || if look.root.is_empty() { "(nothing)".to_string() } else { look.root.join(", ") };
    if let Some(g) = given {
        if look.script_ok {
            return Ok((g.trim_start_matches('/').to_string(), Source::Given));
        }
        return Err(Failure::new("find the upgrade script", format!("the ISO has no file {g} (at {mount_point}: {})", listing())).hint(
            "fix the script option (relative to the ISO's root), or omit it to use upgrade-um.sh or the one upgrade script at the root",
        ));
    }
    if look.root.iter().any(|n| n == KNOWN_SCRIPT) {
        return Ok((KNOWN_SCRIPT.to_string(), Source::Known));
    }
    let found: Vec<&String> = look.root.iter().filter(|n| n.ends_with(".sh") && n.to_ascii_lowercase().contains("upgrade")).collect();
    match found.as_slice() {
        [one] => Ok(((*one).clone(), Source::Found)),
        [] => Err(Failure::new(
            "find the upgrade script",
            format!(
                "the ISO has no {KNOWN_SCRIPT} and no other *.sh with \"upgrade\" in its name at its root ({mount_point}: {})",
                listing()
            ),
        )
        .hint("name the script with the script option (relative to the ISO's root); is this a Usage Meter upgrade ISO?")),
        many => Err(Failure::new(
            "find the upgrade script",
            format!(
                "the ISO has no {KNOWN_SCRIPT} but {} upgrade scripts at its root: {}",
                many.len(),
                many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
        .hint("name the one to run with the script option")),
    }
}
