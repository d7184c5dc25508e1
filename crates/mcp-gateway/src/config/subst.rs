//! `${VAR|default}` substitution, exactly as upstream's `ConfigLoader.substitute_vars`.
//!
//! Upstream applies the regex `\$\{([^}|]+)(?:\|([^}]*))?\}` to every string value: every
//! occurrence, one pass, no recursion into substituted text. The value is the variable when it
//! is set (even to ""), else the default, else "". Unlike upstream, nothing is coerced to a
//! number or a boolean afterwards: a string stays a string.

use serde_json::Value;

use super::EnvSource;

/// Substitute every `${VAR}` / `${VAR|default}` in `text`.
pub fn substitute(text: &str, env: &dyn EnvSource) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let body = &rest[start + 2..];
        match reference(body) {
            Some(Reference { name, default, len }) => {
                match env.var(name) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(default.unwrap_or("")),
                }
                rest = &body[len..];
            }
            None => {
                // No match here; like a regex scan, try again one character later.
                out.push('$');
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Substitute in every string value of `value` (object keys are left alone).
pub(super) fn substitute_tree(value: &mut Value, env: &dyn EnvSource) {
    match value {
        Value::String(s) => {
            if s.contains("${") {
                *s = substitute(s, env);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute_tree(v, env)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute_tree(v, env)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

struct Reference<'a> {
    name: &'a str,
    default: Option<&'a str>,
    /// Bytes of `body` consumed, up to and including the closing `}`.
    len: usize,
}

/// Match `([^}|]+)(?:\|([^}]*))?\}` at the start of `body` (the text after `${`).
fn reference(body: &str) -> Option<Reference<'_>> {
    let name_end = body.find(['}', '|'])?;
    if name_end == 0 {
        return None;
    }
    let name = &body[..name_end];
    if body[name_end..].starts_with('}') {
        return Some(Reference {
            name,
            default: None,
            len: name_end + 1,
        });
    }
    // A `|`: the default runs to the next `}`, and must end with one.
    let default_start = name_end + 1;
    let default_len = body[default_start..].find('}')?;
    let default = &body[default_start..default_start + default_len];
    Some(Reference {
        name,
        default: Some(default),
        len: default_start + default_len + 1,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn check(text: &str, env: &[(&str, &str)], expected: &str) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            substitute(text, &env),
            expected,
            "substituting {text:?} with {env:?}"
        );
    }

    #[test]
    fn set_variable_wins_over_default() {
        check("${A|x}", &[("A", "set")], "set");
        check("${A}", &[("A", "set")], "set");
    }

    #[test]
    fn set_but_empty_gives_empty_not_default() {
        check("${A|x}", &[("A", "")], "");
    }

    #[test]
    fn unset_uses_default_or_empty() {
        check("${A|x}", &[], "x");
        check("${A|}", &[], "");
        check("${A}", &[], "");
    }

    #[test]
    fn every_occurrence_anywhere_in_the_string() {
        check(
            "http://${H|localhost}:${P|80}/x",
            &[("P", "8080")],
            "http://localhost:8080/x",
        );
        check("${A}${A}", &[("A", "ab")], "abab");
    }

    #[test]
    fn no_recursion_into_substituted_values() {
        check("${A}", &[("A", "${B}"), ("B", "no")], "${B}");
        check("${A|${B}}", &[("B", "b")], "${B}");
    }

    #[test]
    fn name_is_everything_up_to_brace_or_pipe_including_spaces() {
        check("${ FOO }", &[("FOO", "no")], "");
        check("${ FOO }", &[(" FOO ", "yes")], "yes");
        check("${FOO:-x}", &[], "");
        check("${FOO:-x}", &[("FOO:-x", "odd")], "odd");
    }

    #[test]
    fn default_keeps_later_pipes() {
        check("${A|a|b}", &[], "a|b");
    }

    #[test]
    fn text_that_does_not_match_is_untouched() {
        check("$FOO", &[("FOO", "no")], "$FOO");
        check("${}", &[], "${}");
        check("${|x}", &[], "${|x}");
        check("${A", &[("A", "no")], "${A");
        check("${A|x", &[("A", "no")], "${A|x");
        check("price: $5 {a}", &[], "price: $5 {a}");
    }

    #[test]
    fn scanning_resumes_after_a_failed_match() {
        check("${}${A}", &[("A", "a")], "${}a");
        check("$${A}", &[("A", "a")], "$a");
        // `[^}|]` matches `$` and `{`, so the name swallows the inner `${`.
        check("${A${B}", &[("A${B", "odd")], "odd");
    }

    #[test]
    fn multibyte_text_survives() {
        check("é${A|ü}é", &[], "éüé");
    }

    #[test]
    fn tree_substitutes_values_not_keys_and_keeps_types() {
        let env: HashMap<String, String> = [("K", "v"), ("N", "12345")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut tree = serde_json::json!({
            "${K}": ["${K}", 1, true, null, {"x": "${N}"}],
            "n": "${N|0}",
        });
        substitute_tree(&mut tree, &env);
        let expected = serde_json::json!({
            "${K}": ["v", 1, true, null, {"x": "12345"}],
            "n": "12345",
        });
        assert_eq!(tree, expected);
    }
}
