//! The synthetic user directory: `count` users whose names and passwords are
//! derived from a seed, so every node (and the load generator) builds the
//! same directory without a database or any shared state.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A user the directory knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub index: u64,
    pub name: String,
}

/// Users `user0 … user{count-1}`, passwords derived from `seed`.
#[derive(Debug, Clone)]
pub struct Directory {
    seed: u64,
    count: u64,
}

impl Directory {
    pub fn new(seed: u64, count: u64) -> Directory {
        Directory { seed, count }
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The name of user `index` (any index; the caller keeps it in range).
    pub fn name(index: u64) -> String {
        format!("user{index}")
    }

    /// The password of user `index`: what a client logs in with.
    pub fn password(&self, index: u64) -> String {
        let digest = self.password_digest_for(index);
        URL_SAFE_NO_PAD.encode(&digest[..12])
    }

    /// Checks a login. The comparison runs in constant time over fixed-size
    /// digests, so neither the password's content nor its length leaks
    /// through timing; an unknown user costs the same as a wrong password.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<User> {
        let index = parse_user_index(name).filter(|i| *i < self.count);
        // Unknown names still do the same work against a dummy entry.
        let expected = self.password(index.unwrap_or(u64::MAX));
        let given = Sha256::digest(password.as_bytes());
        let wanted = Sha256::digest(expected.as_bytes());
        let equal: bool = given.ct_eq(&wanted).into();
        match index {
            Some(index) if equal => Some(User {
                index,
                name: Directory::name(index),
            }),
            _ => None,
        }
    }

    fn password_digest_for(&self, index: u64) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"authscale-directory-v1");
        hasher.update(self.seed.to_le_bytes());
        hasher.update(index.to_le_bytes());
        hasher.finalize().into()
    }
}

/// `user42` → 42; anything else (leading zeros, signs, overflow) → None.
fn parse_user_index(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("user")?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_directory_other_seed_other_passwords() {
        let a = Directory::new(7, 100);
        let b = Directory::new(7, 100);
        let c = Directory::new(8, 100);
        assert_eq!(a.password(5), b.password(5));
        assert_ne!(a.password(5), c.password(5));
        assert_ne!(a.password(5), a.password(6));
    }

    #[test]
    fn authenticate_accepts_only_the_right_password_in_range() {
        let dir = Directory::new(1, 10);
        let pw = dir.password(3);
        assert_eq!(dir.authenticate("user3", &pw).map(|u| u.index), Some(3));
        assert!(dir.authenticate("user3", "wrong").is_none());
        assert!(dir.authenticate("user4", &pw).is_none());
        let out_of_range = dir.password(10);
        assert!(dir.authenticate("user10", &out_of_range).is_none());
        assert!(dir.authenticate("user03", &pw).is_none());
        assert!(dir.authenticate("user+3", &pw).is_none());
        assert!(dir.authenticate("", "").is_none());
    }
}
