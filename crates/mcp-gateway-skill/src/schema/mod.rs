//! MCP `inputSchema` (JSON Schema) to SWAIG function `parameters`.
//!
//! SWML accepts a subset of JSON Schema per property (`$defs/SchemaType` in the SDK's
//! `schema.json`): `type`, `description`, `nullable`, `enum`, `default`, `pattern`,
//! `format` (a fixed list), `items`, `properties`, `required`, `oneOf`/`anyOf`/
//! `allOf` and `const`; any other key makes the property invalid. So the conversion
//! keeps everything SWML can express (required lists, nested objects, arrays with
//! items, enums, defaults, nullable types, local `$ref`s inlined) and moves what it
//! cannot (minimum, maxLength, examples, ...) into the property's description, where
//! the model still reads it. Nothing is silently dropped.

use serde_json::{Map, Value, json};

/// Deepest `$ref` chain that is inlined; deeper (recursive) structures are cut off
/// with a note.
const MAX_REF_DEPTH: usize = 8;

/// String formats SWML knows, keyed by their JSON Schema spelling.
const FORMATS: &[(&str, &str)] = &[
    ("date-time", "date_time"),
    ("date_time", "date_time"),
    ("time", "time"),
    ("date", "date"),
    ("duration", "duration"),
    ("email", "email"),
    ("hostname", "hostname"),
    ("ipv4", "ipv4"),
    ("ipv6", "ipv6"),
    ("uri", "uri"),
    ("uuid", "uuid"),
];

/// Keys that carry no meaning for the model.
const SILENT: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "$anchor",
];

/// The SWAIG form of a tool's input schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// `{"type":"object","properties":{...},"required":[...]}`.
    pub parameters: Value,
    /// What the top level said that `parameters` cannot carry (its description,
    /// `additionalProperties: false`, ...); belongs in the function description.
    pub note: Option<String>,
}

/// Convert an MCP tool's `inputSchema`.
pub fn convert(input_schema: &Value) -> Converted {
    let conv = Converter { root: input_schema };
    let mut top = conv.resolve(input_schema, 0);
    if let Some(Value::Array(all)) = top.get("allOf").cloned() {
        top.remove("allOf");
        for part in &all {
            merge_missing(&mut top, &conv.resolve(part, 0));
        }
    }
    let mut properties = Map::new();
    if let Some(Value::Object(props)) = top.get("properties") {
        for (name, schema) in props {
            properties.insert(name.clone(), conv.property(schema, 0));
        }
    }
    let mut parameters = json!({"type": "object", "properties": properties});
    let required = string_list(top.get("required"));
    if !required.is_empty() {
        parameters["required"] = json!(required);
    }

    let description = text(&top, "description").or_else(|| text(&top, "title"));
    let consumed = [
        "type",
        "properties",
        "required",
        "description",
        "title",
        "$ref",
    ];
    let notes = constraint_notes(&top, &consumed);
    Converted {
        parameters,
        note: join_description(description, &notes),
    }
}

struct Converter<'a> {
    root: &'a Value,
}

impl Converter<'_> {
    /// The schema as an object with a local `$ref` inlined (siblings win).
    fn resolve(&self, schema: &Value, depth: usize) -> Map<String, Value> {
        let mut map = match schema {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let mut seen = 0;
        while let Some(Value::String(reference)) = map.get("$ref").cloned() {
            seen += 1;
            if depth + seen > MAX_REF_DEPTH {
                break;
            }
            map.remove("$ref");
            match self.lookup(&reference) {
                Some(Value::Object(target)) => merge_missing(&mut map, target),
                _ => {
                    map.insert("x-unresolved-ref".into(), json!(reference));
                    break;
                }
            }
        }
        map
    }

    /// A `#/...` JSON pointer into the root schema.
    fn lookup(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn property(&self, schema: &Value, depth: usize) -> Value {
        if depth > MAX_REF_DEPTH {
            return json!({"type": "object", "description": "(nested structure too deep to describe)"});
        }
        let is_ref = schema.get("$ref").is_some();
        let mut s = self.resolve(schema, depth);
        let depth = depth + usize::from(is_ref);
        if s.contains_key("$ref") {
            return json!({"type": "object", "description": "(recursive structure)"});
        }

        // allOf with one part (a common way to attach a description to a $ref):
        // merge it in.
        if let Some(Value::Array(parts)) = s.get("allOf").cloned()
            && parts.len() == 1
        {
            s.remove("allOf");
            let part = self.resolve(&parts[0], depth + 1);
            merge_missing(&mut s, &part);
        }
        // anyOf/oneOf [X, null] (how Optional[X] is usually written): X, nullable.
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = s.get(key).cloned() {
                let (nulls, others): (Vec<&Value>, Vec<&Value>) = branches
                    .iter()
                    .partition(|b| b.get("type") == Some(&json!("null")));
                if !nulls.is_empty() && others.len() == 1 {
                    s.remove(key);
                    let part = self.resolve(others[0], depth + 1);
                    merge_missing(&mut s, &part);
                    s.insert("x-nullable".into(), json!(true));
                }
            }
        }

        let mut notes = Vec::new();
        let description = text(&s, "description").or_else(|| text(&s, "title"));
        if text(&s, "description").is_some() && text(&s, "title").is_some() {
            notes.push(format!("({})", text(&s, "title").unwrap_or_default()));
        }
        if let Some(Value::String(r)) = s.get("x-unresolved-ref") {
            notes.push(format!("Refers to {r}, which the schema does not define."));
        }

        // Combinators that stay combinators.
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(Value::Array(branches)) = s.get(key)
                && s.get("type").is_none()
            {
                let converted: Vec<Value> = branches
                    .iter()
                    .map(|b| {
                        let mut c = self.property(b, depth + 1);
                        if let (Some(d), Some(obj)) = (&description, c.as_object_mut())
                            && obj.contains_key("type")
                            && !obj.contains_key("description")
                        {
                            obj.insert("description".into(), json!(d));
                        }
                        c
                    })
                    .collect();
                return json!({ key: converted });
            }
        }

        let nullable_flag =
            s.get("x-nullable") == Some(&json!(true)) || s.get("nullable") == Some(&json!(true));
        let (types, nullable_from_type) = types_of(&s);
        let nullable = nullable_flag || nullable_from_type;

        if types.len() > 1 {
            let branches: Vec<Value> = types
                .iter()
                .map(|t| {
                    let mut single = s.clone();
                    single.insert("type".into(), json!(t));
                    single.remove("x-nullable");
                    self.property(&Value::Object(single), depth + 1)
                })
                .collect();
            return json!({"anyOf": branches});
        }

        let ty = types
            .first()
            .cloned()
            .or_else(|| infer_type(&s))
            .unwrap_or_default();

        let mut out = Map::new();
        let mut consumed: Vec<&str> = vec![
            "type",
            "description",
            "title",
            "nullable",
            "x-nullable",
            "x-unresolved-ref",
            "$ref",
        ];

        match ty.as_str() {
            "" => {
                // Untyped: the model may pass any JSON value.
                if let Some(c) = s.get("const")
                    && description.is_none()
                    && notes.is_empty()
                {
                    return json!({"const": c});
                }
                out.insert("type".into(), json!("string"));
                notes.push("Any JSON value.".into());
            }
            "string" | "integer" | "number" | "boolean" => {
                out.insert("type".into(), json!(ty));
                consumed.extend(["enum", "default", "const"]);
                if let Some(c) = s.get("const") {
                    if fits(&ty, c) {
                        out.insert("enum".into(), json!([c]));
                    } else {
                        notes.push(format!("Must be {c}."));
                    }
                }
                if let Some(Value::Array(values)) = s.get("enum") {
                    let (ok, bad): (Vec<&Value>, Vec<&Value>) = values
                        .iter()
                        .filter(|v| !v.is_null())
                        .partition(|v| fits(&ty, v));
                    if ty != "boolean" && !ok.is_empty() {
                        out.insert("enum".into(), json!(ok));
                    }
                    if !bad.is_empty() || (ty == "boolean" && !ok.is_empty()) {
                        notes.push(format!("Allowed values: {}.", json_list(values)));
                    }
                }
                if ty == "string" {
                    consumed.push("pattern");
                    if let Some(Value::String(p)) = s.get("pattern") {
                        out.insert("pattern".into(), json!(p));
                    }
                    if let Some(Value::String(f)) = s.get("format")
                        && let Some((_, swml)) = FORMATS.iter().find(|(js, _)| js == f)
                    {
                        out.insert("format".into(), json!(swml));
                        consumed.push("format");
                    }
                }
            }
            "array" => {
                out.insert("type".into(), json!("array"));
                consumed.extend(["items", "prefixItems", "default"]);
                let items = match (s.get("prefixItems"), s.get("items")) {
                    (Some(Value::Array(tuple)), _) | (None, Some(Value::Array(tuple))) => {
                        notes.push(format!("Exactly {} items, in this order.", tuple.len()));
                        let branches: Vec<Value> =
                            tuple.iter().map(|t| self.property(t, depth + 1)).collect();
                        json!({"anyOf": branches})
                    }
                    (_, Some(item @ Value::Object(_))) if !is_empty_object(item) => {
                        self.property(item, depth + 1)
                    }
                    _ => {
                        notes.push("Items may be any JSON value.".into());
                        json!({"type": "string"})
                    }
                };
                out.insert("items".into(), items);
            }
            "object" => {
                out.insert("type".into(), json!("object"));
                consumed.extend(["properties", "required", "default"]);
                if let Some(Value::Object(props)) = s.get("properties") {
                    let converted: Map<String, Value> = props
                        .iter()
                        .map(|(k, v)| (k.clone(), self.property(v, depth + 1)))
                        .collect();
                    out.insert("properties".into(), Value::Object(converted));
                }
                let required = string_list(s.get("required"));
                if !required.is_empty() {
                    out.insert("required".into(), json!(required));
                }
            }
            "null" => {
                out.insert("type".into(), json!("null"));
                out.insert(
                    "description".into(),
                    json!(description.clone().unwrap_or_else(|| "Always null.".into())),
                );
            }
            other => {
                out.insert("type".into(), json!("string"));
                notes.push(format!("Declared type {other:?}."));
            }
        }

        // Defaults SWML can carry must match the type; others become a note.
        if let Some(d) = s.get("default") {
            let t = out.get("type").and_then(Value::as_str).unwrap_or("");
            if fits(t, d) && t == ty {
                out.insert("default".into(), d.clone());
            } else {
                notes.push(format!("Default: {d}."));
            }
        }
        if nullable && ty != "null" {
            out.insert("nullable".into(), json!(true));
        }
        notes.extend(constraint_notes(&s, &consumed));

        if ty != "null" {
            let full = join_description(description, &notes);
            if let Some(d) = full {
                out.insert("description".into(), json!(d));
            }
        }
        Value::Object(out)
    }
}

/// `type` as a list without "null", and whether "null" was in it.
fn types_of(s: &Map<String, Value>) -> (Vec<String>, bool) {
    match s.get("type") {
        Some(Value::String(t)) if t == "null" => (vec!["null".into()], false),
        Some(Value::String(t)) => (vec![t.clone()], false),
        Some(Value::Array(list)) => {
            let names: Vec<String> = list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let has_null = names.iter().any(|n| n == "null");
            let rest: Vec<String> = names.into_iter().filter(|n| n != "null").collect();
            if rest.is_empty() && has_null {
                (vec!["null".into()], false)
            } else {
                (rest, has_null)
            }
        }
        _ => (Vec::new(), false),
    }
}

fn infer_type(s: &Map<String, Value>) -> Option<String> {
    let has = |k: &str| s.contains_key(k);
    let t = if has("properties") || has("additionalProperties") || has("required") {
        "object"
    } else if has("items") || has("prefixItems") {
        "array"
    } else if let Some(Value::Array(values)) = s.get("enum") {
        let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        if !non_null.is_empty() && non_null.iter().all(|v| v.is_string()) {
            "string"
        } else if !non_null.is_empty() && non_null.iter().all(|v| v.is_i64() || v.is_u64()) {
            "integer"
        } else if !non_null.is_empty() && non_null.iter().all(|v| v.is_number()) {
            "number"
        } else if !non_null.is_empty() && non_null.iter().all(|v| v.is_boolean()) {
            "boolean"
        } else {
            return None;
        }
    } else if let Some(c) = s.get("const") {
        match c {
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            _ => return None,
        }
    } else if has("pattern") || has("minLength") || has("maxLength") || has("format") {
        "string"
    } else if has("minimum") || has("maximum") || has("exclusiveMinimum") || has("exclusiveMaximum")
    {
        "number"
    } else {
        return None;
    };
    Some(t.to_owned())
}

/// Whether `v` is a valid value of SWML type `ty`.
fn fits(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// Human-readable notes for every key not in `consumed`.
fn constraint_notes(s: &Map<String, Value>, consumed: &[&str]) -> Vec<String> {
    let mut parts = Vec::new();
    for (key, value) in s {
        if consumed.contains(&key.as_str()) || SILENT.contains(&key.as_str()) {
            continue;
        }
        let v = compact(value);
        let part = match key.as_str() {
            "minimum" => format!("minimum {v}"),
            "maximum" => format!("maximum {v}"),
            "exclusiveMinimum" => format!("greater than {v}"),
            "exclusiveMaximum" => format!("less than {v}"),
            "multipleOf" => format!("a multiple of {v}"),
            "minLength" => format!("at least {v} characters"),
            "maxLength" => format!("at most {v} characters"),
            "minItems" => format!("at least {v} items"),
            "maxItems" => format!("at most {v} items"),
            "uniqueItems" if value == &json!(true) => "items must be unique".to_owned(),
            "minProperties" => format!("at least {v} properties"),
            "maxProperties" => format!("at most {v} properties"),
            "additionalProperties" if value == &json!(false) => {
                "no properties other than the listed ones".to_owned()
            }
            "additionalProperties" if value == &json!(true) => {
                "other properties are allowed".to_owned()
            }
            "additionalProperties" => format!("other properties must match {v}"),
            "format" => format!("format {v}"),
            "pattern" => format!("pattern {v}"),
            "examples" => format!("examples: {}", json_list_value(value)),
            "deprecated" if value == &json!(true) => "deprecated".to_owned(),
            "readOnly" | "writeOnly" => continue,
            _ => format!("{key} {v}"),
        };
        parts.push(part);
    }
    if parts.is_empty() {
        Vec::new()
    } else {
        vec![format!("Constraints: {}.", parts.join("; "))]
    }
}

/// The description, ended with a period when notes follow it, then the notes.
fn join_description(description: Option<String>, notes: &[String]) -> Option<String> {
    let mut all: Vec<String> = description
        .map(|d| {
            let d = d.trim_end().to_owned();
            if notes.is_empty() || d.ends_with(['.', '!', '?', ':', ';']) {
                d
            } else {
                format!("{d}.")
            }
        })
        .filter(|d| !d.is_empty())
        .into_iter()
        .collect();
    all.extend(notes.iter().cloned());
    (!all.is_empty()).then(|| all.join(" "))
}

fn merge_missing(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        if !into.contains_key(k) {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn text(s: &Map<String, Value>, key: &str) -> Option<String> {
    s.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json_list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_list_value(v: &Value) -> String {
    match v {
        Value::Array(items) => json_list(items),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
