//! The `mcp` section: how the MCP front door (`/mcp`) names and relays what it aggregates.

use std::time::Duration;

use super::types::{McpConfig, PrefixMode};
use super::walk::{Diags, MINUTE, Obj, Secs, read_str};

pub(super) fn mcp(mut o: Obj<'_>, d: &mut Diags<'_>) -> McpConfig {
    let separator = o.string(d, "separator").unwrap_or_else(|| "__".into());
    if separator.is_empty()
        || !separator
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        d.error(
            &o.key("separator"),
            "must be non-empty and use only [A-Za-z0-9_.-] (tool-name characters)",
        );
    }
    let prefix = o
        .read(d, "prefix", |v| {
            read_str(v).and_then(|s| match s {
                "always" => Ok(PrefixMode::Always),
                "multiple" => Ok(PrefixMode::Multiple),
                "never" => Ok(PrefixMode::Never),
                other => Err(format!(
                    "must be \"always\", \"multiple\" or \"never\", got {other:?}"
                )),
            })
        })
        .unwrap_or(PrefixMode::Multiple);
    let cancel_grace = o.secs(
        d,
        "cancel_grace",
        Duration::from_secs(10),
        Secs {
            zero_ok: false,
            max: MINUTE * 10,
        },
    );
    let page_size = o.usize(d, "page_size", 200, 1..=10_000);
    let eager = o.bool(d, "eager", false);
    o.finish(d);
    McpConfig {
        separator,
        prefix,
        cancel_grace,
        page_size,
        eager,
    }
}
