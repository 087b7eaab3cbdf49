//! The one line protocol every remote script speaks (the `.sh` files next to
//! the modules), and its parser.
//!
//! ```text
//! key=value     a field: the value is the rest of the line (spaces, '=' allowed)
//! @@name        starts a section: the lines up to the next `@@` line are its body
//! @@end         the script ran to its end (Reply::complete)
//! ```
//!
//! Fields are the lines before the first section; a section's body is kept
//! as it came (a file's content, a log tail) and read as fields on request
//! ([`Section::get`]). A section name may repeat (one `@@file` per file).
//! Other lines before the first section (a login banner, a message) are
//! ignored. Scripts print `@@end` last when the reader must know they
//! finished.

use std::str::FromStr;

/// One line of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// `key=value`.
    Field(&'a str, &'a str),
    /// `@@name`.
    Section(&'a str),
    /// Anything else.
    Text(&'a str),
}

impl<'a> Line<'a> {
    /// Classify one line (a trailing `\r` or `\n` is dropped).
    pub fn parse(line: &'a str) -> Line<'a> {
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(name) = line.strip_prefix("@@") {
            return Line::Section(name.trim());
        }
        match line.split_once('=') {
            Some((k, v)) if is_key(k) => Line::Field(k, v),
            _ => Line::Text(line),
        }
    }
}

fn is_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A section: its name and its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub lines: Vec<String>,
}

impl Section {
    /// The body as text, one `\n` after each line.
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// The body's `key=value` lines, in order.
    pub fn fields(&self) -> Vec<(&str, &str)> {
        self.lines.iter().filter_map(|l| if let Line::Field(k, v) = Line::parse(l) { Some((k, v)) } else { None }).collect()
    }

    /// The body's last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields().into_iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// A script's whole output, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub fields: Vec<(String, String)>,
    pub sections: Vec<Section>,
    /// `@@end` was seen.
    pub complete: bool,
}

impl Reply {
    pub fn parse(text: &str) -> Reply {
        let mut r = Reply::default();
        for raw in text.lines() {
            if r.complete {
                break;
            }
            match (Line::parse(raw), r.sections.last_mut()) {
                (Line::Section("end"), _) => r.complete = true,
                (Line::Section(name), _) => r.sections.push(Section { name: name.to_string(), lines: Vec::new() }),
                (_, Some(s)) => s.lines.push(raw.trim_end_matches('\r').to_string()),
                (Line::Field(k, v), None) => r.fields.push((k.to_string(), v.to_string())),
                (Line::Text(_), None) => {}
            }
        }
        r
    }

    /// The last value of field `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Field `key` parsed: `None` when absent or malformed, `Some(None)`
    /// when present and empty (a file that does not exist has no size).
    pub fn num<T: FromStr>(&self, key: &str) -> Option<Option<T>> {
        match self.get(key)?.trim() {
            "" => Some(None),
            v => v.parse().ok().map(Some),
        }
    }

    /// Field `key` is `1`.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).map(str::trim) == Some("1")
    }

    /// The first section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Every section called `name`, in order.
    pub fn sections<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified() {
        assert_eq!(Line::parse("size=12\n"), Line::Field("size", "12"));
        assert_eq!(Line::parse("path=/a b=c"), Line::Field("path", "/a b=c"));
        assert_eq!(Line::parse("k="), Line::Field("k", ""));
        assert_eq!(Line::parse("@@record\r"), Line::Section("record"));
        assert_eq!(Line::parse("=x"), Line::Text("=x"));
        assert_eq!(Line::parse("a b=c"), Line::Text("a b=c"));
        assert_eq!(Line::parse("Welcome"), Line::Text("Welcome"));
    }

    #[test]
    fn fields_sections_and_end() {
        let r = Reply::parse(
            "banner\ndir=1\ndest=\npart=x\nn=7\n@@file\nsize=3\npath=/a b\n@@file\nsize=4\n@@tail\nline one\nk=v\n@@end\nafter=1\n",
        );
        assert_eq!(r.get("dir"), Some("1"));
        assert!(r.flag("dir") && !r.flag("dest"));
        assert_eq!(r.num::<u64>("dest"), Some(None));
        assert_eq!(r.num::<u64>("n"), Some(Some(7)));
        assert_eq!(r.num::<u64>("part"), None);
        assert_eq!(r.num::<u64>("none"), None);
        let files: Vec<_> = r.sections("file").map(|s| (s.get("size"), s.get("path"))).collect();
        assert_eq!(files, [(Some("3"), Some("/a b")), (Some("4"), None)]);
        assert_eq!(r.section("tail").map(Section::text), Some("line one\nk=v\n".into()));
        assert!(r.complete);
        assert_eq!(r.get("after"), None);
        let cut = Reply::parse("dir=1\n@@tail\nx\n");
        assert!(!cut.complete);
        assert_eq!(cut.section("tail").map(|s| s.lines.len()), Some(1));
        assert_eq!(Reply::parse(""), Reply::default());
    }
}
