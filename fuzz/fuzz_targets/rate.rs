//! Rate strings (`config::parse_rate`, "10 per minute", "5/second", "100 per 2 hours"): an
//! accepted rate has a count of at least 1 and a whole, positive period in seconds; it
//! round-trips (through its own text, through "N per S seconds", "N/S second" and upper
//! case); a list is accepted exactly when each part is. The GCRA quota made from it lets a
//! burst of at least its count through (exactly its count when the period divides evenly).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_gateway::config::{RateLimit, parse_rate, parse_rates};
use mcp_gateway::ratelimit::gcra::{self, Quota};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let many = parse_rates(text);
    let parts: Vec<_> = text.split([';', ',', '|']).map(parse_rate).collect();
    match &many {
        Ok(rates) => {
            let each: Vec<RateLimit> = parts.into_iter().map(|r| r.expect("a part")).collect();
            assert_eq!(*rates, each);
        }
        Err(_) => assert!(parts.iter().any(Result::is_err), "{text:?}"),
    }

    let Ok(rate) = parse_rate(text) else {
        return;
    };
    assert!(rate.count >= 1, "{rate:?}");
    let secs = rate.period.as_secs();
    assert!(secs >= 1 && rate.period.subsec_nanos() == 0, "{rate:?}");
    assert_eq!(rate.text, text.trim());

    let same = |other: &str| {
        let again = parse_rate(other).unwrap_or_else(|e| panic!("{other:?} from {text:?}: {e}"));
        assert_eq!(
            (again.count, again.period),
            (rate.count, rate.period),
            "{other:?}"
        );
    };
    same(&rate.text);
    same(&format!("{} per {secs} seconds", rate.count));
    same(&format!("{}/{secs} second", rate.count));
    same(&text.to_ascii_uppercase());

    burst(&rate);
});

/// At one instant, a fresh bucket lets through at least `count` requests (when the period
/// has that many microseconds), exactly `count` when they divide evenly, and never loses one.
fn burst(rate: &RateLimit) {
    let quota = Quota::new(rate.count, rate.period);
    if quota.limit > 10_000 || quota.limit > quota.period_us {
        return;
    }
    let now = 1_000_000;
    let (mut tat, mut allowed) = (0, 0u64);
    loop {
        let verdict = gcra::step(quota, tat, now);
        if !verdict.allowed {
            assert!(verdict.retry_after_us > 0, "{quota:?}: {verdict:?}");
            break;
        }
        assert_eq!(verdict.retry_after_us, 0);
        assert!(verdict.new_tat > tat, "{quota:?}: the TAT did not move");
        tat = verdict.new_tat;
        allowed += 1;
        assert!(
            allowed <= 2 * quota.limit,
            "{quota:?}: more than twice the count at once"
        );
    }
    assert!(allowed >= quota.limit, "{quota:?}: {allowed} at once");
    if quota.period_us % quota.limit == 0 {
        assert_eq!(allowed, quota.limit, "{quota:?}");
    }
}
