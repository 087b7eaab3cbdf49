usage_meter::module_main!(um_certificates::Certificates);
