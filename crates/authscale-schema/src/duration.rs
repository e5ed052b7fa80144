//! Human durations on the command line and in config files: `250us`,
//! `100ms`, `5s`, `30m`, `8h`; a bare number is seconds. [`Dur`] carries
//! one through serde as that text.

use std::time::Duration;

/// A duration that reads and writes as human text (`250us`, `5s`) in TOML
/// and JSON, so a typed value can cross a file between processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn parse(raw: &str) -> Result<Dur, String> {
        parse(raw).map(Dur)
    }
}

impl From<Duration> for Dur {
    fn from(d: Duration) -> Dur {
        Dur(d)
    }
}

impl std::fmt::Display for Dur {
    /// The largest unit that shows the value exactly (whole microseconds
    /// at least; what is below a microsecond is not shown); minutes only
    /// from ten of them, so `60s` stays `60s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = self.0.as_micros();
        const MINUTE: u128 = 60_000_000;
        for (unit, size) in [
            ("h", 60 * MINUTE),
            ("m", MINUTE),
            ("s", 1_000_000),
            ("ms", 1_000),
        ] {
            let too_few_minutes = unit == "m" && us < 10 * MINUTE;
            if us > 0 && us.is_multiple_of(size) && !too_few_minutes {
                return write!(f, "{}{unit}", us / size);
            }
        }
        if us == 0 {
            return write!(f, "0s");
        }
        write!(f, "{us}us")
    }
}

impl serde::Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let raw = String::deserialize(d)?;
        Dur::parse(&raw).map_err(serde::de::Error::custom)
    }
}

pub fn parse(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (examples: 250us, 100ms, 5s, 30m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {raw:?}: use us, ms, s, m or h"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(format!("{raw:?} is out of range"));
    }
    // Whole microseconds: what a duration is written back as (`Dur`'s
    // text), so a run uses the value its record says.
    Ok(Duration::from_micros((seconds * 1e6).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_nonsense() {
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert!(parse("").is_err());
        assert!(parse("5 parsecs").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse("1e400s").is_err());
    }

    #[test]
    fn a_dur_reads_back_what_it_writes() {
        for text in ["250us", "100ms", "1500ms", "5s", "60s", "30m", "8h", "0s"] {
            let dur = Dur::parse(text).expect(text);
            assert_eq!(dur.to_string(), text);
            let json = serde_json::to_string(&dur).expect("json");
            assert_eq!(serde_json::from_str::<Dur>(&json).expect("back"), dur);
        }
        assert_eq!(Dur::parse("1.5s").expect("1.5s").to_string(), "1500ms");
        // Below a microsecond: rounded, and used as written back.
        assert_eq!(Dur::parse("1.5us").expect("1.5us").to_string(), "2us");
        assert_eq!(Dur::parse("0.0000001s").expect("tiny").0, Duration::ZERO);
        assert!(serde_json::from_str::<Dur>("\"5 parsecs\"").is_err());
    }
}
