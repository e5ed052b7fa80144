//! HMAC key hygiene: a shared secret must carry at least 128 bits, must not
//! be typed or repeated, and must not be one of the placeholders that ship
//! in manifests and tutorials (RFC 8725 §3.5, OWASP JWT cheat sheet: "use a
//! strong, random secret").
//!
//! Length alone is not enough: 36 × `a` is 36 bytes, and a readable
//! placeholder such as the one deploy/kubernetes/keys.yaml once shipped is
//! 55, yet either signs tokens anyone can forge. Nor can the key be judged
//! as raw bytes only: `openssl rand -hex 32` writes 64 characters drawn
//! from 16, which often miss a few of them (a floor of 16 distinct byte
//! values refused one such key in four). So a key is read in the alphabet
//! it is written in — hex (4 bits a character), base64 or base64url (6
//! bits), else raw bytes (8 bits) — and refused when it
//!
//! - holds less than 128 bits at its alphabet's rate (32 hex characters
//!   hold 128);
//! - repeats a shorter sequence (`abcdefghijklmnop` twice, 32 × `a`): a
//!   random key of an alphabet of A symbols repeats itself with
//!   probability about A^(−length/2), nil;
//! - uses fewer than half the distinct symbols a random key of its
//!   alphabet and length uses on average (a hex key of 64 characters uses
//!   about 15.7 of 16, so at least 8; 32 random bytes about 30, so at
//!   least 16): a random key falls below that with probability under
//!   2·10⁻¹⁰ (32 hex characters, the worst case; 10⁻¹⁷ for 32 random
//!   bytes), a typed one easily.

/// The least a key may hold, in bits at its alphabet's rate.
pub const MIN_KEY_BITS: u32 = 128;

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

/// The characters a key is written in, and what each is worth if random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    /// `0-9 a-f A-F` (`openssl rand -hex`).
    Hex,
    /// `A-Z a-z 0-9` with `+ /` or `- _`, `=` padding at the end
    /// (`openssl rand -base64`, base64url).
    Base64,
    /// Anything else: raw bytes (`head -c 32 /dev/urandom`).
    Bytes,
}

impl Alphabet {
    fn of(key: &[u8]) -> Alphabet {
        let base64 = |b: &u8| b.is_ascii_alphanumeric() || b"+/-_".contains(b);
        if key.is_empty() {
            Alphabet::Bytes
        } else if key.iter().all(u8::is_ascii_hexdigit) {
            Alphabet::Hex
        } else if !unpadded(key).is_empty() && unpadded(key).iter().all(base64) {
            Alphabet::Base64
        } else {
            Alphabet::Bytes
        }
    }

    /// The key's symbols: a base64 key's padding carries nothing.
    fn symbols(self, key: &[u8]) -> &[u8] {
        match self {
            Alphabet::Base64 => unpadded(key),
            Alphabet::Hex | Alphabet::Bytes => key,
        }
    }

    fn bits_per_symbol(self) -> u32 {
        match self {
            Alphabet::Hex => 4,
            Alphabet::Base64 => 6,
            Alphabet::Bytes => 8,
        }
    }

    fn size(self) -> u32 {
        1 << self.bits_per_symbol()
    }

    fn name(self) -> &'static str {
        match self {
            Alphabet::Hex => "hex",
            Alphabet::Base64 => "base64",
            Alphabet::Bytes => "byte",
        }
    }

    /// The mean count of distinct symbols in `length` uniform draws.
    fn expected_distinct(self, length: usize) -> f64 {
        let size = f64::from(self.size());
        size * (1.0 - (1.0 - 1.0 / size).powf(length as f64))
    }
}

/// Why `key` must not be an HMAC secret, if it must not. The reasons never
/// quote the key.
pub(crate) fn weakness(key: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(key).to_ascii_lowercase();
    let placeholder = KNOWN_PLACEHOLDERS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(key))
        || PLACEHOLDER_MARKERS.iter().any(|m| text.contains(m));
    if placeholder {
        return Some("is a published placeholder, not a secret".into());
    }
    let alphabet = Alphabet::of(key);
    let symbols = alphabet.symbols(key);
    let bits = alphabet.bits_per_symbol() as usize * symbols.len();
    if bits < MIN_KEY_BITS as usize {
        return Some(format!(
            "holds at most {bits} bits ({} {} characters × {} bits; at least {MIN_KEY_BITS} needed)",
            symbols.len(),
            alphabet.name(),
            alphabet.bits_per_symbol()
        ));
    }
    let period = smallest_period(symbols);
    if period <= symbols.len() / 2 {
        return Some(format!(
            "is a {period}-character sequence repeated ({} characters in all): \
             it is typed or copied, not random",
            symbols.len()
        ));
    }
    let distinct = distinct_symbols(symbols);
    let expected = alphabet.expected_distinct(symbols.len());
    let floor = (expected / 2.0).ceil() as usize;
    if distinct < floor {
        return Some(format!(
            "uses only {distinct} distinct {} characters where a random key of its length \
             uses about {expected:.0} (at least {floor} needed): it is typed, not random",
            alphabet.name()
        ));
    }
    None
}

/// `key` without the `=` padding of base64 (at most two).
fn unpadded(key: &[u8]) -> &[u8] {
    let key = key.strip_suffix(b"=").unwrap_or(key);
    key.strip_suffix(b"=").unwrap_or(key)
}

/// The length of the shortest `p` with `key[i] == key[i + p]` throughout
/// (the key's own length when it repeats nothing), by the prefix function.
fn smallest_period(key: &[u8]) -> usize {
    let mut border = vec![0usize; key.len()];
    for i in 1..key.len() {
        let mut k = border[i - 1];
        while k > 0 && key[i] != key[k] {
            k = border[k - 1];
        }
        if key[i] == key[k] {
            k += 1;
        }
        border[i] = k;
    }
    key.len() - border.last().copied().unwrap_or(0)
}

fn distinct_symbols(key: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &b in key {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|s| **s).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_bytes() -> [u8; 32] {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("randomness");
        key
    }

    /// What `openssl rand -hex 32` writes (its newline is dropped on reading).
    fn hex(bytes: &[u8]) -> Vec<u8> {
        bytes
            .iter()
            .flat_map(|b| format!("{b:02x}").into_bytes())
            .collect()
    }

    #[test]
    fn keys_from_openssl_rand_hex_32_pass() {
        for _ in 0..100 {
            let key = hex(&random_bytes());
            assert_eq!(Alphabet::of(&key), Alphabet::Hex);
            assert_eq!(weakness(&key), None, "{}", String::from_utf8_lossy(&key));
        }
    }

    #[test]
    fn keys_from_head_c_32_dev_urandom_pass() {
        for _ in 0..100 {
            let key = random_bytes();
            assert_eq!(weakness(&key), None, "{key:?}");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(weakness(&all), None);
    }

    #[test]
    fn base64_keys_count_six_bits_a_character() {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        for _ in 0..100 {
            let key = engine.encode(random_bytes()).into_bytes();
            assert_eq!(Alphabet::of(&key), Alphabet::Base64);
            assert_eq!(weakness(&key), None, "{}", String::from_utf8_lossy(&key));
        }
        // 21 base64 characters are 126 bits: too few, however varied.
        let short = engine.encode(&random_bytes()[..16]).into_bytes();
        let why = weakness(&short[..21]).expect("126 bits refused");
        assert!(why.contains("126 bits"), "{why}");
    }

    #[test]
    fn repeated_typed_and_placeholder_keys_are_weak() {
        let a32 = weakness(&[b'a'; 32]).expect("32 × a");
        assert!(a32.contains("1-character sequence repeated"), "{a32}");
        let alphabet = b"abcdefghijklmnop".repeat(3);
        for length in [32, 36, 48] {
            let why = weakness(&alphabet[..length]).expect("a repeated sequence");
            assert!(why.contains("16-character sequence repeated"), "{why}");
        }
        assert!(weakness(b"0123456789abcd0123456789abcd0123").is_some());
        // Aperiodic, but two symbols where a hex key uses about 16.
        let thue_morse: Vec<u8> = (0u32..64)
            .map(|i| b'0' + (i.count_ones() % 2) as u8)
            .collect();
        let why = weakness(&thue_morse).expect("two symbols");
        assert!(why.contains("only 2 distinct hex characters"), "{why}");
        for placeholder in KNOWN_PLACEHOLDERS {
            let why = weakness(placeholder).expect("a placeholder");
            assert!(why.contains("placeholder"), "{why}");
        }
        assert!(weakness(b"please-CHANGEME-before-production-0123456789").is_some());
    }

    #[test]
    fn the_smallest_period_counts_a_partial_tail() {
        assert_eq!(smallest_period(b"abcabcab"), 3);
        assert_eq!(smallest_period(b"aaaa"), 1);
        assert_eq!(smallest_period(b"abcd"), 4);
        assert_eq!(smallest_period(b"abca"), 3);
        assert_eq!(smallest_period(b""), 0);
    }
}
