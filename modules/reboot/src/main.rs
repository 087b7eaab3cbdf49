usage_meter::module_main!(um_reboot::Reboot);
