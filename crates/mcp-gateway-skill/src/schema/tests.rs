//! Data-driven checks of the conversion: input schema -> expected SWAIG parameters.

use super::*;

fn check(input: Value, expected: Value) {
    let got = convert(&input).parameters;
    assert_eq!(
        got,
        expected,
        "\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&expected).unwrap()
    );
}

#[test]
fn keeps_required_enums_defaults_and_descriptions() {
    check(
        json!({"type": "object", "properties": {
            "name": {"type": "string", "description": "Who to greet"},
            "style": {"type": "string", "description": "Greeting style",
                      "enum": ["plain", "loud"], "default": "plain"},
            "times": {"type": "integer", "default": 1}
        }, "required": ["name", "style"]}),
        json!({"type": "object", "properties": {
            "name": {"type": "string", "description": "Who to greet"},
            "style": {"type": "string", "enum": ["plain", "loud"], "default": "plain",
                      "description": "Greeting style"},
            "times": {"type": "integer", "default": 1}
        }, "required": ["name", "style"]}),
    );
}

#[test]
fn keeps_nested_objects_and_arrays_with_items() {
    check(
        json!({"type": "object", "properties": {
            "address": {"type": "object", "description": "Where", "properties": {
                "street": {"type": "string"},
                "geo": {"type": "object", "properties": {"lat": {"type": "number"}},
                        "required": ["lat"]}
            }, "required": ["street"]},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
            "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "people": {"type": "array", "items": {"type": "object",
                       "properties": {"name": {"type": "string"}}, "required": ["name"]}}
        }}),
        json!({"type": "object", "properties": {
            "address": {"type": "object", "properties": {
                "street": {"type": "string"},
                "geo": {"type": "object", "properties": {"lat": {"type": "number"}},
                        "required": ["lat"]}
            }, "required": ["street"], "description": "Where"},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
            "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "people": {"type": "array", "items": {"type": "object",
                       "properties": {"name": {"type": "string"}}, "required": ["name"]}}
        }}),
    );
}

#[test]
fn moves_unsupported_keywords_into_the_description() {
    check(
        json!({"type": "object", "properties": {
            "n": {"type": "integer", "description": "How many", "minimum": 1, "maximum": 10},
            "s": {"type": "string", "minLength": 2, "format": "date-time", "pattern": "^x"},
            "f": {"type": "string", "format": "color"},
            "o": {"type": "object", "additionalProperties": false,
                  "properties": {"a": {"type": "boolean"}}}
        }}),
        json!({"type": "object", "properties": {
            "n": {"type": "integer", "description": "How many. Constraints: minimum 1; maximum 10."},
            "s": {"type": "string", "pattern": "^x", "format": "date_time",
                  "description": "Constraints: at least 2 characters."},
            "f": {"type": "string", "description": "Constraints: format color."},
            "o": {"type": "object", "properties": {"a": {"type": "boolean"}},
                  "description": "Constraints: no properties other than the listed ones."}
        }}),
    );
}

#[test]
fn nullable_types_refs_and_optional_patterns() {
    check(
        json!({
            "type": "object",
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}},
                                "required": ["x"]}},
            "properties": {
                "a": {"type": ["string", "null"], "description": "maybe"},
                "p": {"$ref": "#/$defs/Point"},
                "q": {"allOf": [{"$ref": "#/$defs/Point"}], "description": "a point"},
                "r": {"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}], "default": null},
                "u": {"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "id"},
                "v": {"type": ["string", "integer"]}
            }
        }),
        json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true, "description": "maybe"},
            "p": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
            "q": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"],
                  "description": "a point"},
            "r": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"],
                  "nullable": true, "description": "Default: null."},
            "u": {"anyOf": [{"type": "string", "description": "id"},
                            {"type": "integer", "description": "id"}]},
            "v": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
        }}),
    );
}

#[test]
fn untyped_arrays_consts_and_recursion_do_not_break() {
    let got = convert(&json!({
        "type": "object",
        "$defs": {"Node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
        "properties": {
            "any": {},
            "list": {"type": "array"},
            "kind": {"const": "fixed", "description": "must be fixed"},
            "tree": {"$ref": "#/$defs/Node"},
            "missing": {"$ref": "#/$defs/Nope"},
            "inferred": {"enum": [1, 2, 3]}
        }
    }))
    .parameters;
    let p = &got["properties"];
    assert_eq!(
        p["any"],
        json!({"type": "string", "description": "Any JSON value."})
    );
    assert_eq!(
        p["list"],
        json!({"type": "array", "items": {"type": "string"},
               "description": "Items may be any JSON value."})
    );
    assert_eq!(
        p["kind"],
        json!({"type": "string", "enum": ["fixed"], "description": "must be fixed"})
    );
    assert_eq!(p["inferred"], json!({"type": "integer", "enum": [1, 2, 3]}));
    assert!(
        p["missing"]["description"]
            .as_str()
            .unwrap()
            .contains("#/$defs/Nope")
    );
    // The recursive type is unrolled a bounded number of times and ends in an object.
    let mut node = &p["tree"];
    let mut levels = 0;
    while let Some(items) = node.get("properties").and_then(|p| p.get("children")) {
        node = &items["items"];
        levels += 1;
        assert!(levels <= MAX_REF_DEPTH + 2, "unbounded recursion");
    }
    assert_eq!(node["type"], json!("object"));
}

#[test]
fn top_level_extras_become_a_note_and_empty_schemas_work() {
    let c = convert(&json!({"type": "object", "description": "Adds numbers",
                            "additionalProperties": false, "properties": {}}));
    assert_eq!(c.parameters, json!({"type": "object", "properties": {}}));
    assert_eq!(
        c.note.as_deref(),
        Some("Adds numbers. Constraints: no properties other than the listed ones.")
    );
    assert_eq!(
        convert(&json!({})).parameters,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(convert(&json!({})).note, None);
}
