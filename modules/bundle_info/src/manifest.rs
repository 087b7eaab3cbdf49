//! The `.mf` file: the ISO's SHA-1, in the GNU form (`hash  name`, `hash *name`)
//! or the BSD/OVF form (`SHA1(name)= hash`, `SHA1 (name) = hash`). Which one the
//! vendor uses is not shown ([guess]): both are read.

/// The SHA-1 (lower-case hex) the manifest gives for `name`, or why not.
pub fn sha1_for(text: &str, name: &str) -> Result<String, String> {
    let mut seen = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let Some((file, sum)) = parse_line(line) else { continue };
        if file.rsplit('/').next() == Some(name) {
            return Ok(sum);
        }
        seen.push(file);
    }
    if seen.is_empty() {
        Err("it holds no SHA-1 line (neither 'HASH  NAME' nor 'SHA1(NAME)= HASH')".into())
    } else {
        Err(format!("it has no SHA-1 line for {name} (it names {})", seen.join(", ")))
    }
}

fn is_sha1(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One line as (file name, lower-case SHA-1).
fn parse_line(line: &str) -> Option<(String, String)> {
    bsd(line).or_else(|| gnu(line))
}

fn bsd(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("SHA1").or_else(|| line.strip_prefix("sha1"))?.trim_start();
    let rest = rest.strip_prefix('(')?;
    let (name, after) = rest.rsplit_once(')')?;
    let sum = after.trim_start().strip_prefix('=')?.trim();
    is_sha1(sum).then(|| (name.to_string(), sum.to_ascii_lowercase()))
}

fn gnu(line: &str) -> Option<(String, String)> {
    let (sum, name) = line.split_once(char::is_whitespace)?;
    let name = name.trim_start();
    let name = name.strip_prefix('*').unwrap_or(name);
    (is_sha1(sum) && !name.is_empty()).then(|| (name.to_string(), sum.to_ascii_lowercase()))
}
