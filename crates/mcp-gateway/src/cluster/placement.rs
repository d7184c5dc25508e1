//! Rendezvous (highest random weight) hashing: which live member a new REST session goes to.
//! Every replica computes the same answer from the same members, and when a member joins or
//! leaves only the sessions that member wins or held move (pins keep those that exist).

use sha2::{Digest, Sha256};

use super::member::MemberId;

/// The member of `members` with the highest weight for `key`; `None` when there is none.
pub(super) fn pick<'a>(
    key: &str,
    members: impl IntoIterator<Item = &'a MemberId>,
) -> Option<MemberId> {
    members
        .into_iter()
        .map(|m| (weight(m, key), *m))
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, m)| m)
}

fn weight(member: &MemberId, key: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(member.0);
    hash.update([0]);
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn members(n: u8) -> Vec<MemberId> {
        (0..n).map(|i| MemberId([i; 16])).collect()
    }

    #[test]
    fn every_replica_picks_the_same_member_whatever_the_order() {
        let ms = members(5);
        let mut reversed = ms.clone();
        reversed.reverse();
        for i in 0..200 {
            let key = format!("call-{i}");
            assert_eq!(pick(&key, &ms), pick(&key, &reversed), "{key}");
        }
        assert_eq!(pick("x", &[]), None);
    }

    #[test]
    fn sessions_spread_and_only_a_leavers_sessions_move() {
        let ms = members(3);
        let keys: Vec<String> = (0..3000).map(|i| format!("session-{i}")).collect();
        let before: HashMap<&String, MemberId> =
            keys.iter().map(|k| (k, pick(k, &ms).unwrap())).collect();
        for m in &ms {
            let n = before.values().filter(|&&o| o == *m).count();
            assert!((800..1200).contains(&n), "member {m} got {n} of 3000");
        }
        let survivors = &ms[..2];
        for k in &keys {
            let after = pick(k, survivors).unwrap();
            if before[k] != ms[2] {
                assert_eq!(after, before[k], "{k} moved though its member stayed");
            }
        }
    }
}
