usage_meter::module_main!(um_appliance_info::ApplianceInfo);
