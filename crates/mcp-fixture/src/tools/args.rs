//! Reading tool arguments. Errors are messages for an `isError` result.

use serde_json::{Map, Number, Value};

type Args = Map<String, Value>;

/// An optional string argument (missing or null = `None`).
pub fn string<'a>(args: &'a Args, key: &str) -> Result<Option<&'a str>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("argument {key} must be a string")),
    }
}

pub fn required_string<'a>(args: &'a Args, key: &str) -> Result<&'a str, String> {
    string(args, key)?.ok_or_else(|| missing(key))
}

/// An optional integer argument; integral floats such as `2.0` are accepted.
pub fn integer(args: &Args, key: &str) -> Result<Option<i64>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => as_integer(n)
            .map(Some)
            .ok_or_else(|| format!("argument {key} must be an integer")),
        Some(_) => Err(format!("argument {key} must be an integer")),
    }
}

/// A non-negative integer argument (a size, a duration, a count), `default` when missing.
pub fn size(args: &Args, key: &str, default: Option<u64>) -> Result<u64, String> {
    match integer(args, key)? {
        Some(n) => u64::try_from(n).map_err(|_| format!("argument {key} must not be negative")),
        None => default.ok_or_else(|| missing(key)),
    }
}

pub fn required_number<'a>(args: &'a Args, key: &str) -> Result<&'a Number, String> {
    match args.get(key) {
        None | Some(Value::Null) => Err(missing(key)),
        Some(Value::Number(n)) => Ok(n),
        Some(_) => Err(format!("argument {key} must be a number")),
    }
}

pub fn as_integer(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

fn missing(key: &str) -> String {
    format!("missing required argument: {key}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(value: Value) -> Args {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn strings() {
        let a = args(json!({"s": "x", "n": 1, "z": null}));
        assert_eq!(string(&a, "s"), Ok(Some("x")));
        assert_eq!(string(&a, "z"), Ok(None));
        assert_eq!(string(&a, "n"), Err("argument n must be a string".into()));
        assert_eq!(
            required_string(&a, "q"),
            Err("missing required argument: q".into())
        );
    }

    #[test]
    fn integers_and_sizes() {
        let a = args(json!({"i": 3, "f": 2.0, "h": 2.5, "neg": -1, "s": "3"}));
        assert_eq!(integer(&a, "i"), Ok(Some(3)));
        assert_eq!(integer(&a, "f"), Ok(Some(2)));
        assert_eq!(
            integer(&a, "h"),
            Err("argument h must be an integer".into())
        );
        assert_eq!(
            integer(&a, "s"),
            Err("argument s must be an integer".into())
        );
        assert_eq!(size(&a, "missing", Some(7)), Ok(7));
        assert_eq!(
            size(&a, "missing", None),
            Err("missing required argument: missing".into())
        );
        assert_eq!(
            size(&a, "neg", None),
            Err("argument neg must not be negative".into())
        );
    }
}
