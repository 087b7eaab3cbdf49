//! One binary for every module, as busybox and coreutils ship: the collection
//! carries one static file per controller architecture instead of one per
//! module. The module is named by the first argument
//! (`usage_meter sshd ARGS_FILE`, what the action plugins run) or by the
//! program's own name (`sshd ARGS_FILE` through a symlink or a copy).

use super::output::{emit, failed};
use super::{runner, Module, ModuleDoc};
use crate::error::Failure;
use serde_json::Map;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

/// One module of the multicall binary.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub doc: fn() -> ModuleDoc,
    pub main: fn(Vec<OsString>) -> !,
}

impl Entry {
    pub fn of<M: Module>() -> Entry {
        Entry { name: M::NAME, doc: M::doc, main: runner::main_from::<M> }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    /// Run the module at this index with this argv (argv\[0\] = its name).
    Module(usize, Vec<OsString>),
    List,
    Help,
    Version,
    Unknown(String),
}

fn parse(entries: &[Entry], mut argv: Vec<OsString>) -> Call {
    let find = |name: &str| entries.iter().position(|e| e.name == name);
    let program = argv.first().and_then(|a| Path::new(a).file_name()).and_then(|n| n.to_str()).unwrap_or("");
    if let Some(i) = find(program) {
        return Call::Module(i, argv);
    }
    let first = argv.get(1).map(|a| a.to_string_lossy().into_owned());
    match first.as_deref() {
        None | Some("-h" | "--help" | "help") => Call::Help,
        Some("--list") => Call::List,
        Some("-V" | "--version") => Call::Version,
        Some(name) => match find(name) {
            Some(i) => {
                argv.remove(0);
                Call::Module(i, argv)
            }
            None => Call::Unknown(name.to_string()),
        },
    }
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The whole `main` of the multicall binary.
pub fn main(entries: &[Entry]) -> ! {
    let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
    match parse(entries, std::env::args_os().collect()) {
        Call::Module(i, argv) => (entries[i].main)(argv),
        Call::List => {
            print(&(names.join("\n") + "\n"));
            std::process::exit(0)
        }
        Call::Version => {
            print(&format!("usage_meter {}\n", env!("CARGO_PKG_VERSION")));
            std::process::exit(0)
        }
        Call::Help => {
            let mut text = format!(
                "usage_meter {}: the modules of the vcloud.usage_meter Ansible collection.\n\n\
                 Usage: usage_meter MODULE ARGS_FILE | usage_meter MODULE --doc | usage_meter MODULE --help\n\n\
                 Modules:\n",
                env!("CARGO_PKG_VERSION")
            );
            for e in entries {
                text.push_str(&format!("  {:<16}{}\n", e.name, (e.doc)().short_description));
            }
            text.push_str(
                "\nAnsible runs it through the collection's action plugins; \
                 see `ansible-doc vcloud.usage_meter.MODULE`.\n",
            );
            print(&text);
            std::process::exit(0)
        }
        Call::Unknown(name) => {
            // Whoever ran us may be Ansible: answer with one JSON object.
            let f = Failure::new("select module", format!("'{name}' is not a module of this binary"))
                .hint(format!("the first argument must be one of: {}", names.join(", ")));
            emit(failed(f.render(None), Map::new(), &[]));
            std::process::exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Support;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "t",
            description: &[],
            notes: &[],
            examples: "",
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }
    fn never(_: Vec<OsString>) -> ! {
        std::process::exit(9)
    }
    fn entries() -> Vec<Entry> {
        ["sshd", "verify"].iter().map(|n| Entry { name: n, doc, main: never }).collect()
    }
    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn first_argument_names_the_module_and_becomes_argv0() {
        let call = parse(&entries(), argv(&["/x/usage_meter-linux-x86_64", "verify", "/tmp/args"]));
        assert_eq!(call, Call::Module(1, argv(&["verify", "/tmp/args"])));
    }

    #[test]
    fn program_name_names_the_module() {
        let call = parse(&entries(), argv(&["/lib/sshd", "/tmp/args"]));
        assert_eq!(call, Call::Module(0, argv(&["/lib/sshd", "/tmp/args"])));
    }

    #[test]
    fn an_args_file_where_a_module_name_belongs_is_unknown() {
        let call = parse(&entries(), argv(&["usage_meter", "/tmp/args"]));
        assert_eq!(call, Call::Unknown("/tmp/args".into()));
        assert_eq!(parse(&entries(), argv(&["usage_meter"])), Call::Help);
        assert_eq!(parse(&entries(), argv(&["usage_meter", "--list"])), Call::List);
    }
}
