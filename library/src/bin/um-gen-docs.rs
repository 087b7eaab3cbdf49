//! Writes the collection-wide generated files (not per-module ones, which each
//! binary prints with `--doc`): `um-gen-docs fragment NAME` prints a
//! doc fragment, `um-gen-docs fragments` lists them, `um-gen-docs runtime
//! NAME...` prints meta/runtime.yml, `um-gen-docs action NAME` the action plugin.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.first().map(String::as_str) {
        Some("fragments") => usage_meter::docs::fragment_names().join("\n") + "\n",
        Some("fragment") => match args.get(1).and_then(|n| usage_meter::docs::fragment(n)) {
            Some(text) => text,
            None => {
                eprintln!("unknown fragment; known: {}", usage_meter::docs::fragment_names().join(", "));
                std::process::exit(2);
            }
        },
        Some("runtime") => usage_meter::docs::runtime_yml(&args[1..]),
        Some("action") if args.len() == 2 => usage_meter::docs::action_file(&args[1]),
        _ => {
            eprintln!("usage: um-gen-docs fragments | fragment NAME | runtime MODULE... | action MODULE");
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).is_err() {
        std::process::exit(1);
    }
}
