//! Ansible documentation generated from the Rust types, so it cannot drift:
//! the doc-only module file `plugins/modules/<name>.py`, its action plugin
//! `plugins/action/<name>.py`, the doc fragments and the `meta/runtime.yml`
//! action group. `tools/gen-docs.sh` writes them from the built binary
//! (`usage_meter <module> --doc`) and fails the tests when stale.

pub mod yaml;

use crate::api::ApiArgs;
use crate::protocol::schema::{options, resolve, root_schema, OptionSpec};
use crate::protocol::{Module, Support};
use crate::ssh::ConnectionArgs;
use serde_json::{json, Map, Value};

pub const COLLECTION: &str = "vcloud.usage_meter";
const GENERATED: &str = "# Generated from the Rust sources by tools/gen-docs.sh: do not edit.";
const LICENSE: &str = "# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)";

/// Split a doc comment into Ansible description paragraphs.
pub fn paragraphs(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .map(Value::String)
        .collect()
}

fn option_doc(spec: &OptionSpec) -> Value {
    let mut doc = Map::new();
    let mut desc = spec.description.as_deref().map(paragraphs).unwrap_or_default();
    if desc.is_empty() {
        desc.push(Value::String(format!("The {} option.", spec.name)));
    }
    for (choice, text) in &spec.choice_docs {
        desc.push(Value::String(format!("V({choice}): {}", text.replace('\n', " "))));
    }
    if let Some(from) = &spec.inventory_default {
        desc.push(Value::String(format!("If not set, the inventory host's {from}.")));
    }
    doc.insert("description".into(), Value::Array(desc));
    doc.insert("type".into(), json!(spec.doc_type));
    if spec.required && spec.inventory_default.is_none() {
        doc.insert("required".into(), json!(true));
    }
    if let Some(d) = &spec.default {
        doc.insert("default".into(), d.clone());
    }
    if !spec.choices.is_empty() {
        doc.insert("choices".into(), json!(spec.choices));
    }
    if let Some(el) = spec.elements {
        doc.insert("elements".into(), json!(el.ansible_name()));
    }
    Value::Object(doc)
}

fn options_doc(specs: &[OptionSpec]) -> Value {
    Value::Object(specs.iter().map(|s| (s.name.clone(), option_doc(s))).collect())
}

/// A shared option set documented once as a doc fragment.
struct Fragment {
    name: &'static str,
    purpose: &'static str,
    specs: fn() -> Vec<OptionSpec>,
}

const FRAGMENTS: &[Fragment] = &[
    Fragment {
        name: "connection",
        purpose: "Connection options shared by every module that talks to the appliance over SSH.",
        specs: || options(&root_schema::<ConnectionArgs>()),
    },
    Fragment {
        name: "api",
        purpose: "Options of the appliance's HTTPS API, shared by the modules that use it.",
        specs: || options(&root_schema::<ApiArgs>()),
    },
];

const PLATFORM_REMOTE: &str = "Runs on the controller (Linux x86_64 or aarch64), never on the appliance, which it reaches over SSH or its HTTPS API. Without C(delegate_to) the connection comes from the inventory host; with C(delegate_to: localhost) too.";
const PLATFORM_LOCAL: &str = "Runs on the controller (Linux x86_64 or aarch64) and opens no connection: it reads files on the controller only. The connection options of the action group are accepted and ignored.";

fn support(s: Support) -> &'static str {
    match s {
        Support::Full => "full",
        Support::Partial(_) => "partial",
        Support::None => "none",
    }
}

fn attributes(check: Support, diff: Support, reaches_appliance: bool) -> Value {
    let platform = if reaches_appliance { PLATFORM_REMOTE } else { PLATFORM_LOCAL };
    let mut attrs = json!({
        "check_mode": {
            "description": "Can run in check mode and return changed status prediction without modifying target.",
            "support": support(check),
        },
        "diff_mode": {
            "description": "Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.",
            "support": support(diff),
        },
        "action": {
            "description": "Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.",
            "support": "full",
        },
        "platform": {
            "description": platform,
            "support": "full",
            "platforms": "posix",
        },
        "action_group": {
            "description": "Use C(group/vcloud.usage_meter.usage_meter) in C(module_defaults) to set the shared options once.",
            "support": "full",
            "membership": ["vcloud.usage_meter.usage_meter"],
        }
    });
    for (key, s) in [("check_mode", check), ("diff_mode", diff)] {
        if let (Support::Partial(why), Some(a)) = (s, attrs.get_mut(key)) {
            a["details"] = json!(why);
        }
    }
    attrs
}

/// RETURN documentation from the output type's schema.
fn return_doc(root: &Value, schema: &Value) -> Value {
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut out = Map::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Value::Object(out) };
    for (name, prop) in props {
        let resolved = resolve(root, prop);
        let spec = crate::protocol::schema::options(&json!({"properties": {name: prop}, "$defs": root.get("$defs")}));
        let kind = spec.first().map_or("raw", |s| s.kind.ansible_name());
        let mut doc = Map::new();
        let desc = prop.get("description").or_else(|| resolved.get("description")).and_then(Value::as_str);
        doc.insert("description".into(), Value::Array(desc.map(paragraphs).unwrap_or_else(|| vec![json!(name)])));
        let returned = prop.get("x-returned").and_then(Value::as_str).unwrap_or(if required.contains(&name.as_str()) {
            "always"
        } else {
            "when available"
        });
        doc.insert("returned".into(), json!(returned));
        doc.insert("type".into(), json!(kind));
        if let Some(el) = spec.first().and_then(|s| s.elements) {
            doc.insert("elements".into(), json!(el.ansible_name()));
        }
        if let Some(sample) = prop.get("x-sample") {
            doc.insert("sample".into(), sample.clone());
        }
        let items = resolved.get("items").map(|i| resolve(root, i));
        let nested = [Some(resolved), items, resolved.get("additionalProperties").map(|a| resolve(root, a))];
        if let Some(obj) = nested.into_iter().flatten().find(|n| n.get("properties").is_some()) {
            doc.insert("contains".into(), return_doc(root, obj));
        }
        out.insert(name.clone(), Value::Object(doc));
    }
    Value::Object(out)
}

/// `plugins/modules/<name>.py` of module `M`: documentation only, as
/// ansible-core's `debug.py`; the action plugin of the same name does the work.
pub fn module_file<M: Module>() -> String {
    let doc = M::doc();
    let params = root_schema::<M::Params>();
    let specs = options(&params);
    // A module that takes a whole shared option set documents it by fragment.
    let mut fragments = Vec::new();
    let mut shared: Vec<String> = Vec::new();
    for f in FRAGMENTS {
        let names: Vec<String> = (f.specs)().into_iter().map(|s| s.name).collect();
        if names.iter().all(|n| specs.iter().any(|s| &s.name == n)) {
            fragments.push(format!("{COLLECTION}.{}", f.name));
            shared.extend(names);
        }
    }
    let own: Vec<OptionSpec> = specs.into_iter().filter(|s| !shared.contains(&s.name)).collect();

    let mut d = Map::new();
    d.insert("module".into(), json!(M::NAME));
    d.insert("short_description".into(), json!(doc.short_description));
    d.insert("version_added".into(), json!(M::VERSION_ADDED));
    d.insert("description".into(), json!(doc.description));
    d.insert("author".into(), json!(["vcloud.usage_meter maintainers (@vcloud)"]));
    if !fragments.is_empty() {
        d.insert("extends_documentation_fragment".into(), json!(fragments));
    }
    d.insert("options".into(), options_doc(&own));
    d.insert("attributes".into(), attributes(doc.check_mode, doc.diff_mode, M::REACHES_APPLIANCE));
    if !doc.notes.is_empty() {
        d.insert("notes".into(), json!(doc.notes));
    }
    let ret_root = root_schema::<M::Output>();
    let examples = doc.examples.trim_start_matches('\n');
    format!(
        "# -*- coding: utf-8 -*-\n{GENERATED}\n{LICENSE}\n\n\
         # Documentation only: the action plugin plugins/action/{name}.py runs this\n\
         # module's Rust code (the collection's static binary) on the controller.\n\
         # Only assignments, no import: ansible-test 2.16's boilerplate sanity tests\n\
         # accept a documentation-only file without the Python 2 future imports.\n\n\
         DOCUMENTATION = {}\n\nEXAMPLES = {}\n\nRETURN = {}\n",
        py_raw(&yaml::to_yaml(&Value::Object(d))),
        py_raw(&format!("{}{}", examples, if examples.ends_with('\n') { "" } else { "\n" })),
        py_raw(&yaml::to_yaml(&return_doc(&ret_root, &ret_root))),
        name = M::NAME,
    )
}

/// A Python raw triple-quoted string holding `text`. Raw, so YAML's
/// backslash escapes reach the YAML parser unchanged; it cannot hold `"""`
/// or end in a backslash, which documentation YAML never needs.
fn py_raw(text: &str) -> String {
    let safe = !text.contains("\"\"\"") && !text.ends_with('\\');
    if safe {
        format!("r\"\"\"\n{text}\"\"\"")
    } else {
        // Never expected; a plain JSON string is still a valid Python literal.
        serde_json::to_string(text).unwrap_or_default()
    }
}

/// `plugins/action/<name>.py`: the controller-side action of module `name`.
pub fn action_file(name: &str) -> String {
    format!(
        "# -*- coding: utf-8 -*-\n{GENERATED}\n{LICENSE}\n\n\
         from __future__ import annotations\n\n\
         from ansible_collections.vcloud.usage_meter.plugins.plugin_utils.binary_action import BinaryModuleAction\n\n\n\
         class ActionModule(BinaryModuleAction):\n    \"\"\"Runs vcloud.usage_meter.{name} on the controller.\"\"\"\n\n    MODULE = \"{name}\"\n"
    )
}

/// Names of the doc fragments (`plugins/doc_fragments/<name>.py`).
pub fn fragment_names() -> Vec<&'static str> {
    FRAGMENTS.iter().map(|f| f.name).collect()
}

/// `plugins/doc_fragments/<name>.py`: a shared option set.
pub fn fragment(name: &str) -> Option<String> {
    let f = FRAGMENTS.iter().find(|f| f.name == name)?;
    let body = yaml::to_yaml(&json!({ "options": options_doc(&(f.specs)()) }));
    Some(format!(
        "# -*- coding: utf-8 -*-\n{GENERATED}\n{LICENSE}\n\nfrom __future__ import annotations\n\n\n\
         class ModuleDocFragment:\n    # {}\n    DOCUMENTATION = r\"\"\"\n{body}\"\"\"\n",
        f.purpose
    ))
}

/// `meta/runtime.yml`, with the action group listing every module.
pub fn runtime_yml(modules: &[String]) -> String {
    let mut names = modules.to_vec();
    names.sort();
    let mut out = format!("---\n{GENERATED}\nrequires_ansible: \">=2.16.0\"\naction_groups:\n  usage_meter:\n");
    for n in names {
        out.push_str(&format!("    - {n}\n"));
    }
    out
}
