//! Message ids on persistent channels: `<milliseconds>-<sequence>`, the shape
//! of Redis Stream ids, so the in-memory and Redis modes hand out the same
//! kind of id and a client can resume from either. Ids grow strictly within
//! a channel, which is what replay and duplicate suppression rely on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId {
    pub ms: u64,
    pub seq: u64,
}

impl MsgId {
    /// The next id after `self` at wall-clock time `now_ms`, as Redis makes
    /// them: a clock that stands still or steps back never reorders ids.
    pub fn next(prev: Option<Self>, now_ms: u64) -> Self {
        match prev {
            Some(prev) if now_ms <= prev.ms => Self {
                ms: prev.ms,
                seq: prev.seq + 1,
            },
            _ => Self { ms: now_ms, seq: 0 },
        }
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for MsgId {
    type Err = String;

    /// Accepts `ms-seq` and, like Redis, a bare `ms` (meaning `ms-0`).
    fn from_str(text: &str) -> Result<Self, String> {
        let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match (digits(ms) && digits(seq), ms.parse(), seq.parse()) {
            (true, Ok(ms), Ok(seq)) => Ok(Self { ms, seq }),
            _ => Err(format!(
                "invalid id {text:?} (expected <milliseconds>-<sequence>, e.g. 1700000000000-0)"
            )),
        }
    }
}

// As a string, the form clients see, so a parked session in Redis is readable.
impl Serialize for MsgId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MsgId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let id: MsgId = "1700000000000-7".parse().unwrap();
        assert_eq!(id.to_string(), "1700000000000-7");
        assert_eq!("5".parse::<MsgId>(), Ok(MsgId { ms: 5, seq: 0 }));
        assert!(MsgId { ms: 5, seq: 9 } < MsgId { ms: 6, seq: 0 });
        for bad in [
            "",
            "-",
            "a-1",
            "1-",
            "1-2-3",
            "+1-2",
            "99999999999999999999-0",
        ] {
            assert!(bad.parse::<MsgId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn next_is_strictly_increasing_even_if_the_clock_steps_back() {
        let a = MsgId::next(None, 100);
        let b = MsgId::next(Some(a), 100);
        let c = MsgId::next(Some(b), 50);
        let d = MsgId::next(Some(c), 200);
        assert_eq!(
            [a, b, c, d].map(|i| i.to_string()),
            ["100-0", "100-1", "100-2", "200-0"]
        );
    }
}
