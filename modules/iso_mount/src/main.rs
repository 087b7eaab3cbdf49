usage_meter::module_main!(um_iso_mount::IsoMount);
