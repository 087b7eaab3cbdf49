//! Writes the collection-wide generated files (not per-module ones, which each
//! binary prints with `--doc`): `um-gen-docs fragment` prints the connection
//! doc fragment, `um-gen-docs runtime NAME...` prints meta/runtime.yml.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.first().map(String::as_str) {
        Some("fragment") => usage_meter::docs::connection_fragment(),
        Some("runtime") => usage_meter::docs::runtime_yml(&args[1..]),
        _ => {
            eprintln!("usage: um-gen-docs fragment | runtime MODULE...");
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).is_err() {
        std::process::exit(1);
    }
}
