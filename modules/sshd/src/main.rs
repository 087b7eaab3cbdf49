usage_meter::module_main!(um_sshd::Sshd);
