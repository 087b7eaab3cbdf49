//! Settling on the service manager's evidence: how long each service's unit
//! has been active without a restart (`systemctl show`). A unit active for
//! longer than the settle window has not restarted within it, which is what
//! the fixed window of consecutive checks can only sample; so where the
//! appliance can tell, the wait ends as soon as that holds (and not before,
//! whatever the checks saw), and where it cannot, the fixed window decides.

use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use usage_meter::reply::Reply;
use usage_meter::shell::{quote, Script};

const UNITS_SH: &str = include_str!("remote/units.sh");

/// One service's unit, as the service manager reported it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct UnitState {
    /// The unit's name.
    #[schemars(extend("x-sample" = "gw.service"))]
    pub unit: String,
    /// systemd's C(ActiveState): C(active), C(activating), C(failed), ...
    #[schemars(extend("x-sample" = "active"))]
    pub active_state: String,
    /// Seconds since the unit last became active (C(ActiveEnterTimestampMonotonic)); null when it is not active.
    #[schemars(extend("x-sample" = 3721.4, "x-returned" = "always"))]
    pub active_seconds: Option<f64>,
    /// How often systemd restarted it (C(NRestarts)); null when not reported.
    #[schemars(extend("x-sample" = 0, "x-returned" = "always"))]
    pub restarts: Option<u64>,
}

/// The unit of a service: `template` with `{name}` replaced by the service's name in lower case.
pub fn unit_name(template: &str, service: &str) -> String {
    template.replace("{name}", &service.to_lowercase())
}

/// The remote command that shows these units.
pub fn units_cmd(units: &[String]) -> String {
    Script::new(&[UNITS_SH]).words(&units.iter().map(|u| quote(u)).collect::<Vec<_>>()).command()
}

/// The units' states by service, or `None` when the appliance cannot tell
/// (no `systemctl show`, no clock, a unit it does not know or a property missing).
pub fn parse_units(out: &str, services: &[(String, String)]) -> Option<BTreeMap<String, UnitState>> {
    let r = Reply::parse(out);
    if !r.complete {
        return None;
    }
    let now_us: u64 = match r.num::<u64>("now") {
        Some(Some(n)) => n,
        _ => (r.num::<f64>("now_uptime")??.max(0.0) * 1e6) as u64,
    };
    let show = r.section("show")?;
    let mut blocks: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (k, v) in show.fields() {
        if k == "Id" {
            current = Some(v.trim().to_string());
        }
        if let Some(id) = &current {
            blocks.entry(id.clone()).or_default().insert(k.to_string(), v.trim().to_string());
        }
    }
    let mut states = BTreeMap::new();
    for (service, unit) in services {
        let b = blocks.get(unit)?;
        if b.get("LoadState").map(String::as_str) != Some("loaded") {
            return None;
        }
        let active_state = b.get("ActiveState")?.clone();
        let entered: u64 = b.get("ActiveEnterTimestampMonotonic")?.parse().ok()?;
        let active_seconds =
            (active_state == "active" && entered > 0).then(|| ((now_us.saturating_sub(entered)) as f64 / 1e5).round() / 10.0);
        let restarts = b.get("NRestarts").and_then(|v| v.parse().ok());
        states.insert(service.clone(), UnitState { unit: unit.clone(), active_state, active_seconds, restarts });
    }
    Some(states)
}

/// What the evidence says: `Ok(())` when every unit has been active for at
/// least `window`, else how long until the youngest active one would be
/// (`None`: a unit is not active, nothing to wait for in particular).
pub fn judge(units: &BTreeMap<String, UnitState>, window: Duration) -> Result<(), Option<Duration>> {
    let w = window.as_secs_f64();
    let mut youngest = f64::INFINITY;
    for u in units.values() {
        match u.active_seconds {
            Some(s) => youngest = youngest.min(s),
            None => return Err(None),
        }
    }
    if units.is_empty() {
        return Err(None);
    }
    if youngest >= w {
        Ok(())
    } else {
        Err(Some(Duration::from_secs_f64(w - youngest)))
    }
}
