//! Sealed MCP session ids: the owner member inside, encrypted and authenticated with
//! ChaCha20-Poly1305 under the cluster's key ring. The first key seals; every key opens, so a
//! key is rotated by prepending the new one and dropping the old one once the sessions it
//! sealed have expired. An id altered by one byte, or sealed by another cluster's key, opens
//! to nothing: it is an unknown session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::member::MemberId;

/// Binds the ciphertext to its use: a sealed id is never accepted as anything else.
const AAD: &[u8] = b"mcp-gateway session id v1";
/// Owner (16 bytes) and 16 random bytes.
const PLAIN: usize = 32;
const TAG: usize = 16;
const SEALED: usize = NONCE_LEN + PLAIN + TAG;
/// 60 bytes in unpadded base64.
const ID_LEN: usize = SEALED * 4 / 3;

pub(crate) struct Sealer {
    keys: Vec<LessSafeKey>,
    random: SystemRandom,
}

impl Sealer {
    pub(crate) fn new(keys: &[[u8; 32]]) -> Self {
        let keys = keys
            .iter()
            .map(|k| {
                LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, k).expect("a 32-byte key"))
            })
            .collect();
        Self {
            keys,
            random: SystemRandom::new(),
        }
    }

    /// A fresh session id owned by `owner` (80 URL-safe characters).
    pub(crate) fn seal(&self, owner: &MemberId) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        let mut plain = [0u8; PLAIN];
        self.random.fill(&mut nonce).expect("system randomness");
        plain[..16].copy_from_slice(&owner.0);
        self.random
            .fill(&mut plain[16..])
            .expect("system randomness");
        let mut sealed = Vec::with_capacity(SEALED);
        sealed.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.keys[0]
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut body,
            )
            .expect("sealing 32 bytes");
        sealed.extend_from_slice(&body);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The owner sealed in `id`, if one of the ring's keys opens it.
    pub(crate) fn open(&self, id: &str) -> Option<MemberId> {
        if id.len() != ID_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
        let (nonce, body) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.keys.iter().find_map(|key| {
            let mut body = body.to_vec();
            let plain = key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(AAD),
                    &mut body,
                )
                .ok()?;
            Some(MemberId(plain[..16].try_into().ok()?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [7; 32];
    const B: [u8; 32] = [9; 32];

    #[test]
    fn an_id_opens_to_its_owner_under_every_key_of_the_ring() {
        let owner = MemberId([3; 16]);
        let old = Sealer::new(&[A]);
        let id = old.seal(&owner);
        assert_eq!(id.len(), 80, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(old.seal(&owner), id, "two ids of one owner differ");
        assert_eq!(old.open(&id), Some(owner));
        // Rotation: the new key seals, the old one still opens.
        let rotated = Sealer::new(&[B, A]);
        assert_eq!(rotated.open(&id), Some(owner));
        let new_id = rotated.seal(&owner);
        assert_eq!(
            old.open(&new_id),
            None,
            "sealed with a key the old ring lacks"
        );
        assert_eq!(Sealer::new(&[B]).open(&new_id), Some(owner));
    }

    #[test]
    fn a_forged_or_foreign_id_opens_to_nothing() {
        let sealer = Sealer::new(&[A]);
        let id = sealer.seal(&MemberId([1; 16]));
        for i in 0..id.len() {
            let mut forged = id.clone().into_bytes();
            forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            assert_eq!(sealer.open(&forged), None, "byte {i} altered: {forged}");
        }
        assert_eq!(Sealer::new(&[B]).open(&id), None, "another cluster's key");
        for junk in [
            "",
            "abc",
            &id[1..],
            &format!("{id}A"),
            "0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(sealer.open(junk), None, "{junk:?}");
        }
    }
}
