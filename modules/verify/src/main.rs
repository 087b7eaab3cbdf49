usage_meter::module_main!(um_verify::Verify);
