//! `main` of every module binary: a human face through clap (`--help`,
//! `--version`, `--doc`), Ansible's face through one positional args file.

use super::args::{read_args_file, validate, RawArgs};
use super::output::{emit, failed, NEW_SECRETS_KEY};
use super::schema::{options, root_schema};
use super::{nolog, Context, Module, Outcome};
use crate::error::Failure;
use clap::{Arg, ArgAction, Command};
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::path::PathBuf;

/// Run module `M` as Ansible does, print one JSON object and exit.
pub fn main<M: Module>() -> ! {
    main_from::<M>(std::env::args_os().collect())
}

/// [`main`] with an explicit argv (the multicall binary passes its own,
/// with the module's name in argv\[0\]).
pub fn main_from<M: Module>(argv: Vec<OsString>) -> ! {
    install_panic_hook(M::NAME);
    let cmd = Command::new(M::NAME)
        .version(env!("CARGO_PKG_VERSION"))
        .about(format!("vcloud.usage_meter.{}: {}", M::NAME, M::doc().short_description))
        .after_help(
            "This is an Ansible module. Ansible runs it with the path of a JSON arguments file \
             and reads one JSON result object from stdout. Use it from a playbook as \
             vcloud.usage_meter.<name>; see `ansible-doc vcloud.usage_meter.<name>`.",
        )
        .arg(Arg::new("args_file").value_name("ARGS_FILE").help("JSON arguments file written by Ansible"))
        .arg(
            Arg::new("doc")
                .long("doc")
                .action(ArgAction::SetTrue)
                .help("Print this module's documentation file (plugins/modules/<name>.py) and exit"),
        );
    let matches = match cmd.try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            // A person asked for help: give it, as text.
            let _ = e.print();
            std::process::exit(0)
        }
        Err(e) => fail_and_exit(
            Failure::new("read arguments", format!("bad command line: {}", e.kind()))
                .hint(format!("run `{} --help`; Ansible passes exactly one arguments-file path", M::NAME)),
            None,
            &[],
        ),
    };
    if matches.get_flag("doc") {
        let doc = crate::docs::module_file::<M>();
        #[allow(clippy::print_stdout)]
        {
            print!("{doc}");
        }
        std::process::exit(0);
    }
    let Some(path) = matches.get_one::<String>("args_file").map(PathBuf::from) else {
        fail_and_exit(
            Failure::new("read arguments", "no arguments file was given")
                .hint(format!("this is an Ansible module: run it from a playbook, or see `{} --help`", M::NAME)),
            None,
            &[],
        )
    };
    match read_args_file(&path) {
        Ok(raw) => run::<M>(raw),
        Err(f) => fail_and_exit(f, None, &[]),
    }
}

/// Validate, run and print; used by `main` and by tests.
pub fn run<M: Module>(raw: RawArgs) -> ! {
    let (result, ok) = execute::<M>(raw);
    emit(result);
    std::process::exit(if ok { 0 } else { 1 })
}

/// Validate and run, returning the result object (unscrubbed) and success.
pub fn execute<M: Module>(raw: RawArgs) -> (Map<String, Value>, bool) {
    let RawArgs { params, internal } = raw;
    let root = root_schema::<M::Params>();
    let specs = options(&root);
    nolog::register_params(&specs, &params);
    let mut ctx = Context::new(&internal, M::NAME);
    let invocation = serde_json::json!({ "module_args": nolog::masked_invocation(&specs, &params) });
    if let Some(host) = params.get("host").and_then(Value::as_str) {
        ctx.set_target(host);
    }

    let outcome = validate::<M::Params>(&root, params, &internal, &ctx.module_name.clone()).and_then(|p| M::run(&mut ctx, p));
    let (mut result, ok) = match outcome {
        Ok(out) => success(&ctx, out),
        Err(f) => (failed(f.render(ctx.target.as_deref()), f.data.clone(), ctx.warnings()), false),
    };
    // ansible-core 2.21+ says whether it wants `invocation` (INJECT_INVOCATION,
    // off by default); older cores always showed it, as AnsibleModule did.
    if internal.inject_invocation.unwrap_or(true) {
        result.insert("invocation".into(), invocation);
    }
    if internal.report_secrets {
        result.insert(NEW_SECRETS_KEY.into(), nolog::registered().into_iter().map(Value::String).collect());
    }
    (result, ok)
}

/// The result object of a successful run.
fn success<T: serde::Serialize>(ctx: &Context, out: Outcome<T>) -> (Map<String, Value>, bool) {
    let mut map = match serde_json::to_value(&out.data) {
        Ok(Value::Object(m)) => m,
        Ok(Value::Null) => Map::new(),
        Ok(other) => Map::from_iter([("result".to_string(), other)]),
        Err(e) => {
            let f = Failure::new("report", format!("could not serialise the result: {e}"));
            return (failed(f.render(ctx.target.as_deref()), Map::new(), ctx.warnings()), false);
        }
    };
    map.insert("changed".into(), Value::Bool(out.changed));
    // Explicit: without it, Ansible fails any result carrying a non-zero `rc`.
    map.insert("failed".into(), Value::Bool(false));
    if let Some(msg) = out.msg {
        map.insert("msg".into(), Value::String(msg));
    }
    if let (true, Some(diff)) = (ctx.diff, out.diff) {
        map.insert("diff".into(), serde_json::to_value(diff).unwrap_or(Value::Null));
    }
    if !ctx.warnings().is_empty() {
        map.insert("warnings".into(), ctx.warnings().iter().cloned().map(Value::String).collect());
    }
    (map, true)
}

fn fail_and_exit(f: Failure, host: Option<&str>, warnings: &[String]) -> ! {
    emit(failed(f.render(host), f.data.clone(), warnings));
    std::process::exit(1)
}

/// A panic still ends in one JSON object (scrubbed), never a Rust backtrace on stdout.
fn install_panic_hook(name: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let f = Failure::new("internal", format!("module {name} hit an internal error: {what}{at}"))
            .hint("this is a bug in vcloud.usage_meter; report it with the task's -vvv output");
        emit(failed(f.render(None), Map::new(), &[]));
        std::process::exit(1);
    }));
}
