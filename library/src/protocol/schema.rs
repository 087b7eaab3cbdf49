//! Reading a schemars schema as Ansible sees options: type, choices, bounds,
//! no_log. Validation and documentation both use this, so they cannot disagree.

use crate::secret::NO_LOG_KEY;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value};

/// Extension key: the Ansible `type` to document (e.g. `path`) when the JSON
/// type alone (string) would say less.
pub const ANSIBLE_TYPE_KEY: &str = "x-ansible-type";
/// Extension key: the documented default when the real one is computed at run
/// time (e.g. `~/.ssh/known_hosts`).
pub const DOC_DEFAULT_KEY: &str = "x-doc-default";
/// Extension key: where the action plugin takes the value from when the task
/// does not set it (e.g. `ansible_host`). The binary still requires the
/// option; the docs call it optional and say where it comes from.
pub const INVENTORY_DEFAULT_KEY: &str = "x-inventory-default";

/// An Ansible option type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    Float,
    List,
    Dict,
    Raw,
}

impl Kind {
    pub fn ansible_name(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::List => "list",
            Kind::Dict => "dict",
            Kind::Raw => "raw",
        }
    }
}

/// One option (a property of the parameters' schema), resolved.
#[derive(Debug, Clone)]
pub struct OptionSpec {
    pub name: String,
    pub kind: Kind,
    /// `path` for paths, else the kind's name.
    pub doc_type: String,
    pub required: bool,
    pub default: Option<Value>,
    pub choices: Vec<String>,
    /// Per-choice descriptions, when the enum variants have doc comments.
    pub choice_docs: Vec<(String, String)>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub min_length: Option<u64>,
    pub elements: Option<Kind>,
    pub no_log: bool,
    pub description: Option<String>,
    /// Set by the action plugin from the inventory host when the task omits it.
    pub inventory_default: Option<String>,
    /// The resolved schema itself (for nested dicts in RETURN).
    pub schema: Value,
}

/// The root schema of `T` as a JSON value.
pub fn root_schema<T: JsonSchema>() -> Value {
    let generator = SchemaGenerator::default();
    generator.into_root_schema_for::<T>().to_value()
}

/// Follow `$ref`, and unwrap `anyOf: [X, {type: null}]` (an Option).
pub fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..8 {
        if let Some(r) = current.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            match root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => {
                    current = target;
                    continue;
                }
                None => return current,
            }
        }
        if let Some(any) = current.get("anyOf").and_then(Value::as_array) {
            let non_null: Vec<&Value> = any.iter().filter(|s| !is_null_schema(s)).collect();
            if non_null.len() == 1 {
                current = non_null[0];
                continue;
            }
        }
        return current;
    }
    current
}

fn is_null_schema(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
}

fn json_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

fn kind_of(schema: &Value) -> Kind {
    if schema.get("enum").is_some() || schema.get("oneOf").is_some() || schema.get("const").is_some() {
        return Kind::Str;
    }
    match json_type(schema) {
        Some("string") => Kind::Str,
        Some("boolean") => Kind::Bool,
        Some("integer") => Kind::Int,
        Some("number") => Kind::Float,
        Some("array") => Kind::List,
        Some("object") => Kind::Dict,
        _ => Kind::Raw,
    }
}

/// Choices of a string enum (`enum: [...]` or `oneOf` of consts/enums).
fn choices_of(schema: &Value) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        out.extend(values.iter().filter_map(Value::as_str).map(|v| (v.to_string(), None)));
    }
    if let Some(c) = schema.get("const").and_then(Value::as_str) {
        out.push((c.to_string(), None));
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        for v in variants {
            let doc = v.get("description").and_then(Value::as_str).map(str::to_string);
            for (c, _) in choices_of(v) {
                out.push((c, doc.clone()));
            }
        }
    }
    out
}

/// Every option of a parameters schema, sorted by name.
pub fn options(root: &Value) -> Vec<OptionSpec> {
    let required: Vec<&str> =
        root.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let empty = Map::new();
    let props = root.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let mut out: Vec<OptionSpec> =
        props.iter().map(|(name, prop)| option_spec(root, name, prop, required.contains(&name.as_str()))).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn option_spec(root: &Value, name: &str, prop: &Value, required: bool) -> OptionSpec {
    let resolved = resolve(root, prop);
    let kind = kind_of(resolved);
    let mut choices = choices_of(resolved);
    // keep the declaration order of the enum, drop duplicates
    let mut seen = Vec::new();
    choices.retain(|(c, _)| {
        if seen.contains(c) {
            false
        } else {
            seen.push(c.clone());
            true
        }
    });
    let get_f = |k: &str| prop.get(k).or_else(|| resolved.get(k)).and_then(Value::as_f64);
    let flag = |k: &str| prop.get(k).or_else(|| resolved.get(k)).and_then(Value::as_bool).unwrap_or(false);
    let elements = (kind == Kind::List).then(|| resolved.get("items").map(|items| kind_of(resolve(root, items)))).flatten();
    let doc_type = prop
        .get(ANSIBLE_TYPE_KEY)
        .or_else(|| resolved.get(ANSIBLE_TYPE_KEY))
        .and_then(Value::as_str)
        .map_or_else(|| kind.ansible_name().to_string(), str::to_string);
    let default = prop.get(DOC_DEFAULT_KEY).or_else(|| prop.get("default")).filter(|d| !d.is_null()).cloned();
    let description = prop.get("description").or_else(|| resolved.get("description")).and_then(Value::as_str).map(str::to_string);
    OptionSpec {
        name: name.to_string(),
        kind,
        doc_type,
        required,
        default,
        choice_docs: choices.iter().filter_map(|(c, d)| d.clone().map(|d| (c.clone(), d))).collect(),
        choices: choices.into_iter().map(|(c, _)| c).collect(),
        minimum: get_f("minimum"),
        maximum: get_f("maximum"),
        min_length: prop.get("minLength").or_else(|| resolved.get("minLength")).and_then(Value::as_u64),
        elements,
        no_log: flag(NO_LOG_KEY),
        description,
        inventory_default: prop.get(INVENTORY_DEFAULT_KEY).and_then(Value::as_str).map(str::to_string),
        schema: resolved.clone(),
    }
}
