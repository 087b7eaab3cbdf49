//! The args file → typed parameters path of every module:
//! `parse_args` (UTF-8, JSON, object, `_ansible_*` keys) then `validate`
//! (unknown / missing options, coercion, choices, bounds, serde) against the
//! parameters of real modules (sshd: connection options, an enum, an
//! Option<bool>, bounded ints; verify: many strings with min length, ints with
//! max). Any input must give Ok or a Failure, never a panic, an abort or a
//! stack overflow; a failure must render to a non-empty message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;
use usage_meter::protocol::args::{parse_args, validate, RawArgs};
use usage_meter::protocol::schema::root_schema;

static SSHD: OnceLock<Value> = OnceLock::new();
static VERIFY: OnceLock<Value> = OnceLock::new();

fn check<P: serde::de::DeserializeOwned>(root: &Value, raw: &RawArgs, name: &str) {
    match validate::<P>(root, raw.params.clone(), &raw.internal, name) {
        Ok(_) => {}
        Err(f) => {
            let msg = f.render(Some("127.0.0.1"));
            assert!(!msg.is_empty(), "empty failure message");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let sshd = SSHD.get_or_init(root_schema::<um_sshd::Params>);
    let verify = VERIFY.get_or_init(root_schema::<um_verify::Params>);
    match parse_args(data) {
        Ok(raw) => {
            check::<um_sshd::Params>(sshd, &raw, "vcloud.usage_meter.sshd");
            check::<um_verify::Params>(verify, &raw, "vcloud.usage_meter.verify");
        }
        Err(f) => assert!(!f.render(None).is_empty(), "empty failure message"),
    }
});
