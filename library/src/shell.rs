//! POSIX shell quoting for the commands sent to the appliance.

/// Quote `s` as one shell word: `'...'` with embedded quotes as `'\''`.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-:=@%+,".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A remote script: `.sh` texts (the files next to the modules, loaded with
/// `include_str!`) and the values it reads from its environment.
///
/// The texts are joined by newlines, so a part may define shell functions the
/// next one calls, or stop the script (a guard). Values reach the script only
/// through the environment (`env K='v'`, each value quoted with [`quote`]) or
/// as positional arguments ([`Script::words`]), never through its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    parts: Vec<&'static str>,
    env: Vec<(&'static str, String)>,
    words: Vec<String>,
}

impl Script {
    /// The script made of these texts, in this order.
    pub fn new(parts: &[&'static str]) -> Script {
        Script { parts: parts.to_vec(), ..Script::default() }
    }

    /// Set `$key` (upper case, `UM_...`) to `value` in the script's environment.
    pub fn env(mut self, key: &'static str, value: impl Into<String>) -> Script {
        debug_assert!(!key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'), "{key}");
        self.env.push((key, value.into()));
        self
    }

    /// Put `part` in front of the script (a guard, or functions it calls).
    pub fn after(mut self, part: &'static str) -> Script {
        self.parts.insert(0, part);
        self
    }

    /// Positional arguments (`"$@"`): shell words, each built with [`quote`]
    /// (or, for a glob the login shell is to expand, from quoted literal parts
    /// and bare `*`).
    pub fn words(mut self, words: &[String]) -> Script {
        self.words.extend(words.iter().cloned());
        self
    }

    /// The command line: `env UM_A='..' .. bash -c '<script>' um <words>`.
    /// bash, the appliance's login shell, which ran these commands before they
    /// were files; the scripts themselves are POSIX sh (shellcheck checks them so).
    pub fn command(&self) -> String {
        let mut cmd = String::from("env");
        for (k, v) in &self.env {
            cmd.push_str(&format!(" {k}={}", quote(v)));
        }
        let text: Vec<&str> = self.parts.iter().map(|p| p.trim_end()).collect();
        cmd.push_str(&format!(" bash -c {}", quote(&text.join("\n"))));
        if !self.words.is_empty() {
            cmd.push_str(" um ");
            cmd.push_str(&self.words.join(" "));
        }
        cmd
    }
}

/// The command of [`Script`] `parts` with these environment values.
pub fn script(parts: &[&'static str], env: &[(&'static str, &str)]) -> String {
    env.iter().fold(Script::new(parts), |s, (k, v)| s.env(k, *v)).command()
}

#[cfg(test)]
mod tests {
    use super::{quote, script, Script};

    #[test]
    fn script_passes_values_in_the_environment() {
        let c = script(&["echo \"$UM_A\"", "echo b"], &[("UM_A", "it's $(x)")]);
        assert_eq!(
            c,
            r#"env UM_A='it'\''s $(x)' bash -c 'echo "$UM_A"
echo b'"#
        );
        let out = std::process::Command::new("sh").arg("-c").arg(&c).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $(x)\nb\n");
        let c = Script::new(&["echo \"$UM_A\" \"$@\""]).after("f() { :; }").env("UM_A", "a").words(&[quote("x y"), "z".into()]).command();
        assert_eq!(c, "env UM_A=a bash -c 'f() { :; }\necho \"$UM_A\" \"$@\"' um 'x y' z");
        let out = std::process::Command::new("sh").arg("-c").arg(&c).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a x y z\n");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("/opt/vmware/x.shar"), "/opt/vmware/x.shar");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
    }
}
