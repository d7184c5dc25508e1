//! MCP specifics on top of JSON-RPC: version negotiation, the `initialize` result, pagination.
//! Pure: no IO.

use serde_json::{Value, json};

/// The legacy (handshake) revisions this server speaks, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
pub const LATEST_VERSION: &str = "2025-11-25";

/// The version to answer: `forced` if set, else the client's if supported, else the latest.
pub fn negotiate(requested: Option<&str>, forced: Option<&str>) -> String {
    if let Some(forced) = forced {
        return forced.to_owned();
    }
    match requested {
        Some(version) if SUPPORTED_VERSIONS.contains(&version) => version.to_owned(),
        _ => LATEST_VERSION.to_owned(),
    }
}

pub fn initialize_result(version: &str, name: &str) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": true}},
        "serverInfo": {"name": name, "version": env!("CARGO_PKG_VERSION")},
    })
}

/// One page of a list: `cursor` is `None` for the first page, `Some("page-N")` (1-based) after.
/// `page_size` 0 means everything in one page. Returns the page and the next cursor, if any.
pub fn paginate<T: Clone>(
    items: &[T],
    page_size: usize,
    cursor: Option<&str>,
) -> Result<(Vec<T>, Option<String>), String> {
    let page = match cursor {
        None => 1,
        Some(cursor) => cursor
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n >= 1 && (page_size > 0 || n == 1))
            .ok_or_else(|| format!("Invalid cursor: {cursor}"))?,
    };
    if page_size == 0 {
        return Ok((items.to_vec(), None));
    }
    let start = (page - 1).saturating_mul(page_size);
    if start >= items.len() && page > 1 {
        return Err(format!("Invalid cursor: page-{page}"));
    }
    let end = start.saturating_add(page_size).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{}", page + 1));
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_versions_are_echoed_and_others_get_the_latest() {
        for version in SUPPORTED_VERSIONS {
            assert_eq!(negotiate(Some(version), None), *version);
        }
        assert_eq!(negotiate(Some("1999-01-01"), None), LATEST_VERSION);
        assert_eq!(negotiate(None, None), LATEST_VERSION);
        assert_eq!(
            negotiate(Some("2025-03-26"), Some("1999-01-01")),
            "1999-01-01"
        );
    }

    #[test]
    fn initialize_result_has_the_expected_shape() {
        let result = initialize_result("2025-06-18", "alpha");
        assert_eq!(result["protocolVersion"], "2025-06-18");
        assert_eq!(
            result["capabilities"],
            json!({"tools": {"listChanged": true}})
        );
        assert_eq!(result["serverInfo"]["name"], "alpha");
    }

    fn check(
        items: usize,
        size: usize,
        cursor: Option<&str>,
        expected: Result<(Vec<usize>, Option<&str>), &str>,
    ) {
        let items: Vec<usize> = (1..=items).collect();
        let got = paginate(&items, size, cursor);
        let expected = expected
            .map(|(page, next)| (page, next.map(str::to_owned)))
            .map_err(str::to_owned);
        assert_eq!(got, expected, "{size} per page, cursor {cursor:?}");
    }

    #[test]
    fn pages_walk_the_list() {
        check(5, 0, None, Ok((vec![1, 2, 3, 4, 5], None)));
        check(5, 2, None, Ok((vec![1, 2], Some("page-2"))));
        check(5, 2, Some("page-2"), Ok((vec![3, 4], Some("page-3"))));
        check(5, 2, Some("page-3"), Ok((vec![5], None)));
        check(4, 2, Some("page-2"), Ok((vec![3, 4], None)));
        check(0, 2, None, Ok((vec![], None)));
        check(5, 10, None, Ok((vec![1, 2, 3, 4, 5], None)));
    }

    #[test]
    fn bad_cursors_are_refused() {
        check(5, 2, Some("page-4"), Err("Invalid cursor: page-4"));
        check(5, 2, Some("page-0"), Err("Invalid cursor: page-0"));
        check(5, 2, Some("nonsense"), Err("Invalid cursor: nonsense"));
        check(5, 0, Some("page-2"), Err("Invalid cursor: page-2"));
    }
}
