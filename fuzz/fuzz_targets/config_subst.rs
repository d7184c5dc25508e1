//! `${VAR|default}` substitution (`config::substitute`): exactly upstream's regex
//! `\$\{([^}|]+)(?:\|([^}]*))?\}` applied once to every match (checked against the regex
//! crate), so it never recurses into substituted text and its output is bounded by the input
//! and the variables' values.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mcp_gateway::config::substitute;
use regex::{Captures, Regex};

static UPSTREAM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{([^}|]+)(?:\|([^}]*))?\}").expect("upstream's regex"));

/// Set variables, some odd: empty, holding a reference themselves, names with spaces.
static ENV: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    [
        ("A", "a"),
        ("PORT", "8080"),
        ("EMPTY", ""),
        ("SELF", "${SELF}"),
        ("NEST", "${A|x}${PORT}"),
        (" SPACED ", "spaced"),
        ("A${B", "odd"),
        ("LONG", &"l".repeat(300)),
        ("é", "ü"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = &*ENV;
    let out = substitute(text, env);

    let expected = UPSTREAM.replace_all(text, |c: &Captures<'_>| match env.get(&c[1]) {
        Some(value) => value.clone(),
        None => c.get(2).map_or("", |d| d.as_str()).to_owned(),
    });
    assert_eq!(out, expected, "substituting {text:?}");

    let longest = env.values().map(String::len).max().unwrap_or(0);
    let references = text.matches("${").count();
    assert!(
        out.len() <= text.len() + references * longest,
        "{} bytes out of {} with {references} references",
        out.len(),
        text.len()
    );
    if references == 0 {
        assert_eq!(out, text);
    }
    // With nothing set, every reference becomes its default, a part of itself.
    let unset = substitute(text, &HashMap::<String, String>::new());
    assert!(unset.len() <= text.len());
});
