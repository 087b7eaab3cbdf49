#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test
//! The binary-module protocol as Ansible sees it: run the `um-protocol-testmod` binary as
//! a process with an args file and read what it prints.

use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

fn testmod() -> PathBuf {
    // Cargo builds the package's binaries before its integration tests.
    PathBuf::from(env!("CARGO_BIN_EXE_um-protocol-testmod"))
}

/// Run with raw args-file bytes; return (exit code, parsed single JSON object, raw stdout).
fn run_bytes(bytes: &[u8]) -> (i32, Value, String) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    run_argv(&[f.path().to_str().unwrap()])
}

fn run_argv(argv: &[&str]) -> (i32, Value, String) {
    let out = Command::new(testmod()).args(argv).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line of JSON expected, got: {stdout:?}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert!(v.is_object());
    (out.status.code().unwrap_or(-1), v, stdout)
}

fn run(args: Value) -> (i32, Value, String) {
    run_bytes(args.to_string().as_bytes())
}

#[test]
fn success_reports_changed_invocation_and_no_diff_unless_asked() {
    let (rc, v, _) = run(json!({"mode": "echo", "count": 2}));
    assert_eq!(rc, 0);
    assert_eq!(v["changed"], json!(true));
    assert_eq!(v["echoed"], json!("token= count=2"));
    assert_eq!(v["invocation"]["module_args"]["count"], json!(2));
    assert!(v.get("diff").is_none());
    assert_eq!(v["failed"], json!(false), "explicit, so a non-zero rc field can never read as a failure");
}

#[test]
fn check_and_diff_flags_reach_the_module() {
    let (_, v, _) = run(json!({"mode": "echo", "_ansible_check_mode": true, "_ansible_diff": true}));
    assert_eq!(v["check_mode"], json!(true));
    assert_eq!(v["changed"], json!(false));
    assert_eq!(v["diff"], json!({"before": "a\n", "after": "b\n"}));
}

#[test]
fn ad_hoc_strings_are_coerced() {
    let (rc, v, _) = run(json!({"mode": "echo", "count": "7"}));
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["echoed"], json!("token= count=7"));
}

#[test]
fn unknown_options_use_ansible_wording() {
    let (rc, v, _) = run(json!({"mode": "echo", "bogus": 1, "_ansible_module_name": "vcloud.usage_meter.testmod"}));
    assert_eq!(rc, 1);
    assert_eq!(v["failed"], json!(true));
    let msg = v["msg"].as_str().unwrap();
    assert!(
        msg.contains(
            "Unsupported parameters for (vcloud.usage_meter.testmod) module: bogus. Supported parameters include: count, mode, token."
        ),
        "{msg}"
    );
}

#[test]
fn unknown_options_ignored_when_an_action_plugin_asks() {
    let (rc, _, _) = run(json!({"mode": "echo", "bogus": 1, "_ansible_ignore_unknown_opts": true}));
    assert_eq!(rc, 0);
}

#[test]
fn missing_required_and_bad_choice_and_bad_type() {
    let (_, v, _) = run(json!({"count": 1}));
    assert!(v["msg"].as_str().unwrap().contains("missing required arguments: mode"), "{v}");
    let (_, v, _) = run(json!({"mode": "dance"}));
    assert!(v["msg"].as_str().unwrap().contains("value of mode must be one of: echo, fail, panic, got: dance"), "{v}");
    let (_, v, _) = run(json!({"mode": "echo", "count": "many"}));
    assert!(v["msg"].as_str().unwrap().contains("argument 'count' is of type str and we were unable to convert to int"), "{v}");
    let (_, v, _) = run(json!({"mode": "echo", "count": -1}));
    assert!(v["msg"].as_str().unwrap().contains("argument 'count' must be at least 0"), "{v}");
}

#[test]
fn null_means_not_given() {
    let (rc, v, _) = run(json!({"mode": "echo", "count": null, "token": null}));
    assert_eq!(rc, 0, "{v}");
}

#[test]
fn no_log_values_are_masked_in_invocation_and_scrubbed_everywhere() {
    let (_, v, raw) = run(json!({"mode": "echo", "token": "s3cr3t-tok"}));
    assert_eq!(v["invocation"]["module_args"]["token"], json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"));
    assert_eq!(v["echoed"], json!("token=******** count=0"));
    assert!(!raw.contains("s3cr3t-tok"));
    let (_, v, raw) = run(json!({"mode": "fail", "token": "s3cr3t-tok"}));
    assert_eq!(v["failed"], json!(true));
    assert_eq!(v["rc"], json!(3));
    assert!(!raw.contains("s3cr3t-tok"), "{raw}");
}

#[test]
fn a_panic_is_still_one_scrubbed_json_object() {
    let (rc, v, raw) = run(json!({"mode": "panic", "token": "s3cr3t-tok"}));
    assert_eq!(rc, 1);
    assert_eq!(v["failed"], json!(true));
    let msg = v["msg"].as_str().unwrap();
    assert!(msg.contains("internal error") && msg.contains("boom with ********"), "{msg}");
    assert!(!raw.contains("s3cr3t-tok"));
}

#[test]
fn bad_args_files_fail_as_json() {
    for (bytes, expect) in [
        (&b"not json"[..], "not valid JSON"),
        (&b"[1, 2]"[..], "holds a JSON list, not an object"),
        (&b"null"[..], "holds a JSON null, not an object"),
        (&b"\xff\xfe{}"[..], "not UTF-8"),
        (&b""[..], "not valid JSON"),
    ] {
        let (rc, v, _) = run_bytes(bytes);
        assert_eq!(rc, 1);
        assert_eq!(v["failed"], json!(true));
        assert!(v["msg"].as_str().unwrap().contains(expect), "{v}");
    }
}

#[test]
fn missing_argv_or_file_or_bad_flag_fail_as_json() {
    let (_, v, _) = run_argv(&[]);
    assert!(v["msg"].as_str().unwrap().contains("no arguments file was given"), "{v}");
    let (_, v, _) = run_argv(&["/nonexistent/args"]);
    assert!(v["msg"].as_str().unwrap().contains("cannot read the arguments file /nonexistent/args"), "{v}");
    let (_, v, _) = run_argv(&["--bogus-flag"]);
    assert_eq!(v["failed"], json!(true));
}

#[test]
fn help_version_and_doc_are_for_people() {
    let out = Command::new(testmod()).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--doc"));
    let out = Command::new(testmod()).arg("--doc").output().unwrap();
    let doc = String::from_utf8_lossy(&out.stdout).to_string();
    // the doc-only module file ansible-doc and galaxy-importer read
    assert!(doc.contains("DOCUMENTATION = r\"\"\"") && doc.contains("module: testmod") && doc.contains("RETURN = r\"\"\""), "{doc}");
    // the no_log option is documented without a no_log key (validate-modules rejects it)
    assert!(doc.contains("token:") && !doc.contains("no_log"), "{doc}");
}

#[test]
fn secrets_are_reported_only_when_the_action_asks_and_invocation_follows_the_core() {
    // ansible-core 2.21+ says whether it wants `invocation`; older cores send nothing and always showed it
    for (asked, shown) in [(json!(false), false), (json!(true), true), (Value::Null, true)] {
        let mut args = json!({"mode": "fail", "token": "s3cr3t-tok"});
        if !asked.is_null() {
            args["_ansible_inject_invocation"] = asked.clone();
        }
        let (rc, v, raw) = run(args);
        assert_eq!((rc, v["failed"].clone()), (1, json!(true)), "{raw}");
        assert_eq!(v.get("invocation").is_some(), shown, "inject_invocation {asked}: {raw}");
        assert!(v.get("_ansible_new_secrets").is_none() && !raw.contains("s3cr3t-tok"), "{raw}");
    }
    // the action plugin asks: the secrets come back unscrubbed under ansible-core 2.22's key, and only there
    let (_, v, raw) = run(json!({"mode": "fail", "token": "s3cr3t-tok", "_ansible_report_new_secrets": true}));
    assert_eq!(v["_ansible_new_secrets"], json!(["s3cr3t-tok"]), "{raw}");
    assert_eq!(raw.matches("s3cr3t-tok").count(), 1, "{raw}");
    assert!(v["msg"].as_str().unwrap().contains("failed with ********"), "{raw}");
}
