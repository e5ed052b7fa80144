//! HMAC key hygiene: a shared secret must be long, varied and not one of the
//! placeholders that ship in manifests and tutorials (RFC 8725 §3.5, OWASP
//! JWT cheat sheet: "use a strong, random secret").
//!
//! Length alone is not enough: 36 × `a` is 36 bytes, and a readable
//! placeholder such as the one deploy/kubernetes/keys.yaml once shipped is 55, yet
//! either signs tokens anyone can forge. Random bytes from a CSPRNG have
//! close to as many distinct values as the key is long (a 32-byte key has
//! fewer than 16 with probability below 10⁻¹⁵), so a floor on distinct byte
//! values refuses typed and repeated keys without refusing real ones.

/// Fewest distinct byte values an HMAC key may have.
pub const MIN_DISTINCT_BYTES: usize = 16;

/// Keys that ship in documentation or manifests: anyone can read them, so
/// they are refused whatever their length.
const KNOWN_PLACEHOLDERS: &[&[u8]] = &[
    // deploy/kubernetes/keys.yaml until the manifests stopped shipping a key
    // (base64-decoded): copies of it live on in forks and notes.
    b"REPLACE-ME-WITH-A-RANDOM-48-BYTE-KEY-AUTHSCALE-DEMO-KEY",
    // The jwt.io debugger's default and other tutorial favourites.
    b"your-256-bit-secret",
    b"your-384-bit-secret",
    b"your-512-bit-secret",
    b"secretkey",
    b"changeit",
];

/// Words that only a placeholder contains; compared case-insensitively.
const PLACEHOLDER_MARKERS: &[&str] = &["replace-me", "replace_me", "change-me", "changeme"];

/// Why `key` must not be an HMAC secret, if it must not.
pub(crate) fn weakness(key: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(key).to_ascii_lowercase();
    let placeholder = KNOWN_PLACEHOLDERS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(key))
        || PLACEHOLDER_MARKERS.iter().any(|m| text.contains(m));
    if placeholder {
        return Some("is a published placeholder, not a secret".into());
    }
    let distinct = distinct_bytes(key);
    if distinct < MIN_DISTINCT_BYTES {
        return Some(format!(
            "has only {distinct} distinct byte values (at least {MIN_DISTINCT_BYTES} needed): \
             it is typed or repeated, not random"
        ));
    }
    None
}

fn distinct_bytes(key: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &b in key {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|s| **s).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_typed_and_placeholder_keys_are_weak() {
        assert!(weakness(&[b'a'; 36]).is_some());
        assert!(weakness(b"0123456789abcd0123456789abcd0123").is_some());
        assert!(weakness(b"REPLACE-ME-WITH-A-RANDOM-48-BYTE-KEY-AUTHSCALE-DEMO-KEY").is_some());
        assert!(weakness(b"please-CHANGEME-before-production-0123456789").is_some());
    }

    #[test]
    fn random_keys_pass() {
        for _ in 0..100 {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).expect("randomness");
            assert_eq!(weakness(&key), None);
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(weakness(&all), None);
    }
}
