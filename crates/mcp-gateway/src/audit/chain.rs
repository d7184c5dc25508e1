//! The audit log's lines and their chain (pure).
//!
//! A line is one JSON object ending in `"prev":"<hex>","hash":"<hex>"}`: `prev` is the `hash`
//! of the line before it (64 zeros for the first line of a chain), and `hash` is the SHA-256
//! of the line as it reads without its `,"hash":"…"` member. Changing any byte of a line
//! breaks its own hash; removing, inserting or reordering lines breaks the next line's `prev`.
//! `seq` counts the records of a chain from 0, across rotated files.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `prev` of a chain's first record.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_MEMBER: &str = ",\"hash\":\"";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, in lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `value` as compact JSON with every object's keys sorted: the same text for the same value
/// whatever order its keys came in (and whether or not serde_json keeps insertion order).
pub(crate) fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Where a chain stands: the next record's `seq` and `prev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub seq: u64,
    pub prev: String,
}

impl Head {
    pub(crate) fn genesis() -> Self {
        Self {
            seq: 0,
            prev: GENESIS.to_string(),
        }
    }
}

/// The line (without its newline) of `fields` as the record after `head`, and the head after it.
/// `fields` must not carry `seq`, `prev` or `hash`.
pub(crate) fn seal(mut fields: Map<String, Value>, head: &Head) -> (String, Head) {
    fields.insert("seq".into(), Value::from(head.seq));
    // `prev` last but for `hash`: serde_json's map keeps keys sorted, so build the tail by hand.
    fields.remove("prev");
    fields.remove("hash");
    let body = Value::Object(fields).to_string();
    let open = &body[..body.len() - 1];
    let sep = if open.len() > 1 { "," } else { "" };
    let unsealed = format!("{open}{sep}\"prev\":\"{}\"}}", head.prev);
    let hash = sha256_hex(unsealed.as_bytes());
    let line = format!("{}{HASH_MEMBER}{hash}\"}}", &unsealed[..unsealed.len() - 1]);
    let next = Head {
        seq: head.seq + 1,
        prev: hash,
    };
    (line, next)
}

/// A line checked on its own: its `seq`, `prev` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
}

/// Check one line's own hash; what it claims about its place in the chain.
pub(crate) fn check_line(line: &str) -> Result<Checked, String> {
    let at = line
        .rfind(HASH_MEMBER)
        .ok_or("no \"hash\" member at the end of the line")?;
    let claimed = &line[at + HASH_MEMBER.len()..];
    let claimed = claimed
        .strip_suffix("\"}")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("the line does not end with a 64-digit \"hash\"")?;
    let unsealed = format!("{}}}", &line[..at]);
    let actual = sha256_hex(unsealed.as_bytes());
    if actual != claimed {
        return Err(format!(
            "the line's content does not match its hash (hash {claimed}, content hashes to {actual})"
        ));
    }
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let seq = value["seq"].as_u64().ok_or("no numeric \"seq\"")?;
    let prev = value["prev"].as_str().ok_or("no \"prev\"")?.to_string();
    Ok(Checked {
        seq,
        prev,
        hash: claimed.to_string(),
    })
}

/// The result of verifying files of one chain, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub records: u64,
    /// The `prev` of the first record: [`GENESIS`] when the files start the chain.
    pub starts_after: String,
    /// The next record's head.
    pub head: Head,
}

/// Where a chain breaks: the file (index into the inputs), the 1-based line, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Break {
    pub file: usize,
    pub line: usize,
    pub reason: String,
}

/// Verify the lines of each file, the files in chain order.
pub(crate) fn verify<'a>(files: impl IntoIterator<Item = &'a str>) -> Result<Verified, Break> {
    let mut head: Option<Head> = None;
    let mut starts_after = None;
    let mut records = 0;
    for (file, text) in files.into_iter().enumerate() {
        if !text.is_empty() && !text.ends_with('\n') {
            let line = text.lines().count();
            return Err(Break {
                file,
                line,
                reason: "the last line is incomplete (no newline): a write was cut short".into(),
            });
        }
        for (i, line) in text.lines().enumerate() {
            let broken = |reason: String| Break {
                file,
                line: i + 1,
                reason,
            };
            let checked = check_line(line).map_err(broken)?;
            if let Some(head) = &head {
                if checked.prev != head.prev {
                    return Err(broken(format!(
                        "\"prev\" is {}, but the record before it hashes to {}: a record was removed, inserted or changed before this one",
                        checked.prev, head.prev
                    )));
                }
                if checked.seq != head.seq {
                    return Err(broken(format!(
                        "\"seq\" is {}, expected {}",
                        checked.seq, head.seq
                    )));
                }
            } else {
                starts_after = Some(checked.prev.clone());
            }
            records += 1;
            head = Some(Head {
                seq: checked.seq + 1,
                prev: checked.hash,
            });
        }
    }
    Ok(Verified {
        records,
        starts_after: starts_after.unwrap_or_else(|| GENESIS.to_string()),
        head: head.unwrap_or_else(Head::genesis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(n: u64) -> Map<String, Value> {
        json!({"event": "tool_call", "tool": "echo", "n": n})
            .as_object()
            .unwrap()
            .clone()
    }

    fn chain(n: u64) -> String {
        let mut head = Head::genesis();
        let mut text = String::new();
        for i in 0..n {
            let (line, next) = seal(record(i), &head);
            text.push_str(&line);
            text.push('\n');
            head = next;
        }
        text
    }

    #[test]
    fn a_sealed_chain_verifies_and_its_lines_end_with_prev_and_hash() {
        let text = chain(5);
        let v = verify([text.as_str()]).unwrap();
        assert_eq!(v.records, 5);
        assert_eq!(v.starts_after, GENESIS);
        assert_eq!(v.head.seq, 5);
        let first = text.lines().next().unwrap();
        assert!(
            first.contains(&format!(",\"prev\":\"{GENESIS}\",\"hash\":\"")),
            "{first}"
        );
        assert!(first.ends_with("\"}"), "{first}");
        let parsed: Value = serde_json::from_str(first).unwrap();
        assert_eq!(parsed["seq"], 0);
        assert_eq!(parsed["tool"], "echo");
    }

    #[test]
    fn the_canonical_form_sorts_keys_at_every_depth() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[{"d":1,"c":2}],"x":"é\"q"}}"#).unwrap();
        assert_eq!(
            canonical(&a),
            r#"{"a":{"x":"é\"q","y":[{"c":2,"d":1}]},"b":1}"#
        );
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"é\"q","y":[{"c":2,"d":1}]},"b":1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
    }

    #[test]
    fn every_flipped_byte_is_caught_on_its_line_or_the_next() {
        let text = chain(4);
        let bytes = text.as_bytes();
        for at in 0..bytes.len() {
            if bytes[at] == b'\n' {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[at] ^= 0x01;
            let Ok(changed) = String::from_utf8(changed) else {
                continue;
            };
            let line = text[..at].matches('\n').count() + 1;
            let err = verify([changed.as_str()]).expect_err(&format!("byte {at} flipped"));
            assert!(
                err.line == line || err.line == line + 1,
                "byte {at} (line {line}) reported at line {}: {}",
                err.line,
                err.reason
            );
        }
    }

    #[test]
    fn removed_inserted_or_swapped_records_break_the_chain() {
        let text = chain(4);
        let lines: Vec<&str> = text.lines().collect();
        let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let removed = join(&[lines[0], lines[2], lines[3]]);
        assert_eq!(verify([removed.as_str()]).unwrap_err().line, 2);
        let swapped = join(&[lines[0], lines[2], lines[1], lines[3]]);
        assert_eq!(verify([swapped.as_str()]).unwrap_err().line, 2);
        let doubled = join(&[lines[0], lines[1], lines[1], lines[2]]);
        assert_eq!(verify([doubled.as_str()]).unwrap_err().line, 3);
        let cut = &text[..text.len() - 10];
        assert!(verify([cut]).unwrap_err().reason.contains("incomplete"));
    }

    #[test]
    fn a_chain_continues_across_files_in_order() {
        let text = chain(6);
        let lines: Vec<&str> = text.lines().collect();
        let (a, b): (String, String) = (
            lines[..2].iter().map(|l| format!("{l}\n")).collect(),
            lines[2..].iter().map(|l| format!("{l}\n")).collect(),
        );
        assert_eq!(verify([a.as_str(), b.as_str()]).unwrap().records, 6);
        let err = verify([b.as_str(), a.as_str()]).unwrap_err();
        assert_eq!((err.file, err.line), (1, 1));
        // The later file alone: verified, starting after the earlier one's last hash.
        let tail = verify([b.as_str()]).unwrap();
        assert_ne!(tail.starts_after, GENESIS);
    }
}
