//! State the upgrade module records on the appliance (which bundle, by sha256,
//! its exit code, the boot it finished in), read by `upgrade` and `appliance_info`.
