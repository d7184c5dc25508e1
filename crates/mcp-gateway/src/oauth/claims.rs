//! The checks of a verified token's claims (pure): issuer, audience bound to this resource,
//! `exp`/`nbf` with leeway, subject, scopes.

use serde_json::{Map, Value};

use super::error::TokenError;

/// What a token must say to be accepted here.
pub(crate) struct Expect<'a> {
    pub issuer: &'a str,
    /// Every value of `aud` that names this resource (one is enough).
    pub audiences: &'a [String],
    /// Seconds since the epoch.
    pub now: u64,
    pub leeway: u64,
}

/// What the gateway takes from a token whose claims passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    pub subject: String,
    pub scopes: Vec<String>,
    pub expires: u64,
}

/// Check `claims` against `expect`.
pub(crate) fn check(
    claims: &Map<String, Value>,
    expect: &Expect<'_>,
) -> Result<Claims, TokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return Err(TokenError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => expect.audiences.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| expect.audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(TokenError::Audience);
    }
    let expires = time(claims, "exp")?.ok_or(TokenError::Malformed("no exp claim"))?;
    if expires.saturating_add(expect.leeway) <= expect.now {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = time(claims, "nbf")?
        && nbf > expect.now.saturating_add(expect.leeway)
    {
        return Err(TokenError::NotYetValid);
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => return Err(TokenError::Malformed("no sub claim")),
    };
    Ok(Claims {
        subject,
        scopes: scopes(claims),
        expires,
    })
}

/// A NumericDate: seconds, a JSON number (fractions are cut).
fn time(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or(TokenError::Malformed(
                "a time claim is not a positive number",
            )),
        Some(_) => Err(TokenError::Malformed("a time claim is not a number")),
    }
}

/// The token's scopes: `scope` (RFC 9068: space-separated), or `scp` (Entra: a string, Okta:
/// an array).
pub(crate) fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => {
                out.extend(s.split(' ').filter(|s| !s.is_empty()).map(String::from))
            }
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(Value::as_str).map(String::from));
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://idp.example.com";
    const NOW: u64 = 1_800_000_000;

    fn check_claims(claims: Value) -> Result<Claims, TokenError> {
        let audiences = [
            "https://gw.example.com/mcp".to_string(),
            "https://gw.example.com".to_string(),
        ];
        let expect = Expect {
            issuer: ISS,
            audiences: &audiences,
            now: NOW,
            leeway: 30,
        };
        check(claims.as_object().unwrap(), &expect)
    }

    fn good() -> Value {
        json!({"iss": ISS, "aud": "https://gw.example.com/mcp", "sub": "alice", "exp": NOW + 60, "scope": "mcp:a mcp:b"})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut claims = good();
        claims[key] = value;
        claims
    }

    #[test]
    fn a_good_token() {
        let claims = check_claims(good()).unwrap();
        assert_eq!(claims.subject, "alice");
        assert_eq!(claims.scopes, ["mcp:a", "mcp:b"]);
        assert_eq!(claims.expires, NOW + 60);
        let many = with("aud", json!(["other", "https://gw.example.com"]));
        assert!(
            check_claims(many).is_ok(),
            "one audience of several is enough"
        );
    }

    #[test]
    fn audience_is_bound_to_this_resource() {
        for aud in [
            json!("https://other.example.com/mcp"),
            json!("https://gw.example.com/services/x/mcp"),
            json!("https://gw.example.com/mcp/"),
            json!(["a", "b"]),
            json!([]),
            json!(null),
            json!(3),
        ] {
            assert_eq!(
                check_claims(with("aud", aud.clone())),
                Err(TokenError::Audience),
                "{aud}"
            );
        }
        let mut claims = good();
        claims.as_object_mut().unwrap().remove("aud");
        assert_eq!(check_claims(claims), Err(TokenError::Audience));
    }

    #[test]
    fn issuer_must_match_exactly() {
        for iss in [
            json!("https://idp.example.com/"),
            json!("https://evil"),
            json!(null),
        ] {
            assert_eq!(check_claims(with("iss", iss)), Err(TokenError::Issuer));
        }
    }

    #[test]
    fn time_claims_with_leeway() {
        assert!(
            check_claims(with("exp", json!(NOW - 29))).is_ok(),
            "within leeway"
        );
        assert_eq!(
            check_claims(with("exp", json!(NOW - 30))),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check_claims(with("exp", json!(0))),
            Err(TokenError::Expired)
        );
        assert!(check_claims(with("nbf", json!(NOW + 30))).is_ok());
        assert_eq!(
            check_claims(with("nbf", json!(NOW + 31))),
            Err(TokenError::NotYetValid)
        );
        assert!(matches!(
            check_claims(with("exp", json!("soon"))),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            check_claims(with("exp", json!(-5))),
            Err(TokenError::Malformed(_))
        ));
        let mut claims = good();
        claims.as_object_mut().unwrap().remove("exp");
        assert!(
            matches!(check_claims(claims), Err(TokenError::Malformed(_))),
            "exp is required"
        );
    }

    #[test]
    fn subject_is_required() {
        assert!(matches!(
            check_claims(with("sub", json!(""))),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            check_claims(with("sub", json!(7))),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        let of = |v: Value| scopes(v.as_object().unwrap());
        assert_eq!(of(json!({"scope": " a  b a"})), ["a", "b"]);
        assert_eq!(of(json!({"scp": "x y"})), ["x", "y"]);
        assert_eq!(of(json!({"scp": ["x", 1, "z"]})), ["x", "z"]);
        assert!(of(json!({"scope": 5})).is_empty());
    }
}
