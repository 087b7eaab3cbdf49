usage_meter::module_main!(um_upgrade_logs::UpgradeLogs);
