usage_meter::module_main!(um_shar_copy::SharCopy);
