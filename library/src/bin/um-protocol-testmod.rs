//! A module used only by the protocol tests (library/tests/protocol.rs finds it
//! through CARGO_BIN_EXE_*; it is never packed: only crates under modules/ are). It can
//! echo, fail, or panic with a secret in the message, so the tests can check
//! what really reaches stdout.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Secret, Support};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Echo,
    Fail,
    Panic,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Params {
    mode: Mode,
    token: Option<Secret>,
    #[serde(default)]
    count: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Output {
    echoed: String,
    check_mode: bool,
}

#[derive(Debug)]
struct TestMod;

impl Module for TestMod {
    const NAME: &'static str = "testmod";
    type Params = Params;
    type Output = Output;
    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "protocol test module",
            description: &["Used by the library's tests."],
            notes: &[],
            examples: "",
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }
    #[allow(clippy::panic)]
    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let token = p.token.as_ref().map(Secret::expose).unwrap_or_default().to_string();
        match p.mode {
            Mode::Echo => {
                Ok(Outcome::new(!ctx.check_mode, Output { echoed: format!("token={token} count={}", p.count), check_mode: ctx.check_mode })
                    .diff(Diff::new("a\n", "b\n")))
            }
            Mode::Fail => Err(Failure::new("testing", format!("failed with {token}")).hint("none").with("rc", 3)),
            Mode::Panic => panic!("boom with {token}"),
        }
    }
}

usage_meter::module_main!(TestMod);
