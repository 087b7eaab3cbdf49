usage_meter::module_main!(um_bundle_info::BundleInfo);
