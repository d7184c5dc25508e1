//! Rate strings in the syntax of Python's `limits` library (used by upstream's Flask-Limiter):
//! `COUNT (per|/) [MULTIPLE] UNIT[s]`, e.g. "10 per minute", "5/second", "100 per 2 hours".
//!
//! Units and their lengths are the library's: second, minute, hour, day, month (30 days) and
//! year (12 months = 360 days), singular or plural, any case. A string may hold several limits
//! separated by `;`, `,` or `|` (as `limits.parse_many` does): every one of them is enforced.

use std::time::Duration;

use super::RateLimit;

const UNITS: [(&str, u64); 6] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3_600),
    ("day", 86_400),
    ("month", 30 * 86_400),
    ("year", 12 * 30 * 86_400),
];

/// Parse one or more rates: "10 per minute; 100/hour" (separators `;`, `,`, `|`).
pub fn parse_rates(s: &str) -> Result<Vec<RateLimit>, String> {
    s.split([';', ',', '|']).map(parse_rate).collect()
}

/// Parse one rate such as "10 per minute" or "100/2 hours".
pub fn parse_rate(s: &str) -> Result<RateLimit, String> {
    let malformed = || {
        format!(
            "invalid rate {s:?}: expected \"COUNT per [N] UNIT\" or \"COUNT/UNIT\" with a unit of \
             second, minute, hour, day, month or year (e.g. \"10 per minute\")"
        )
    };
    let text = s.trim();
    let mut rest = text;

    let (count, after) = leading_number(rest).ok_or_else(malformed)?;
    rest = after.trim_start();
    rest = if let Some(after) = rest.strip_prefix('/') {
        after
    } else if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("per")) {
        &rest[3..]
    } else {
        return Err(malformed());
    };
    rest = rest.trim_start();
    let multiple = match leading_number(rest) {
        Some((n, after)) => {
            rest = after.trim_start();
            Some(n)
        }
        None => None,
    };
    let unit = rest.strip_suffix(['s', 'S']).unwrap_or(rest);
    let (_, unit_secs) = UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .ok_or_else(malformed)?;

    let count = count
        .parse::<u64>()
        .map_err(|_| format!("invalid rate {s:?}: count too large"))?;
    if count == 0 {
        return Err(format!(
            "invalid rate {s:?}: the count must be at least 1 (set rate_limiting.enabled to false \
             to turn limits off)"
        ));
    }
    let multiple = match multiple {
        None => 1,
        Some(m) => m.parse::<u64>().ok().filter(|&m| m > 0).ok_or_else(|| {
            format!("invalid rate {s:?}: the period multiple must be a positive number")
        })?,
    };
    let period = multiple
        .checked_mul(*unit_secs)
        .ok_or_else(|| format!("invalid rate {s:?}: period too long"))?;
    Ok(RateLimit {
        count,
        period: Duration::from_secs(period),
        text: text.to_owned(),
    })
}

/// Split the ASCII digits at the start of `s` from the rest; `None` if there are none.
fn leading_number(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, count: u64, period_secs: u64) {
        let rate = parse_rate(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
        assert_eq!(
            (rate.count, rate.period),
            (count, Duration::from_secs(period_secs)),
            "parsing {text:?}"
        );
        assert_eq!(rate.text, text.trim());
    }

    fn check_err(text: &str, fragment: &str) {
        let err = parse_rate(text).expect_err(&format!("{text:?} should not parse"));
        assert!(
            err.contains(fragment),
            "error for {text:?} was {err:?}, expected {fragment:?}"
        );
    }

    #[test]
    fn per_syntax() {
        check("10 per minute", 10, 60);
        check("200 per day", 200, 86_400);
        check("1 per second", 1, 1);
        check("50 per hour", 50, 3_600);
        check("100 per 2 hours", 100, 7_200);
        check("3 per month", 3, 30 * 86_400);
        check("3 per 2 years", 3, 2 * 360 * 86_400);
    }

    #[test]
    fn slash_syntax() {
        check("5/second", 5, 1);
        check("10/hour", 10, 3_600);
        check("10 / 5 minutes", 10, 300);
        check("7/2day", 7, 172_800);
    }

    #[test]
    fn case_plural_and_spacing_are_free() {
        check("10 PER Minute", 10, 60);
        check("10 per minutes", 10, 60);
        check("  10   per   1   DAYS  ", 10, 86_400);
        check("10per minute", 10, 60);
    }

    #[test]
    fn malformed() {
        for text in [
            "",
            "ten per minute",
            "10 minute",
            "10 per",
            "10 per fortnight",
            "10 per sec",
            "10 per min",
            "10 per minutess",
            "-1 per minute",
            "1.5 per minute",
            "10 per minute; 5 per second",
            "per minute",
        ] {
            check_err(text, "invalid rate");
        }
    }

    #[test]
    fn zero_and_overflow_are_rejected() {
        check_err("0 per minute", "at least 1");
        check_err("1 per 0 minutes", "positive");
        check_err("99999999999999999999999 per minute", "too large");
        check_err("1 per 99999999999999999 years", "too long");
    }
}
