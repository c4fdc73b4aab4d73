//! Parser for the in-band `__bws:` test commands a client can send as text.

/// Every text frame starting with this prefix is a command and is never echoed.
pub const PREFIX: &str = "__bws:";

/// Largest `__bws:burst` or `__bws:stream` output the server agrees to produce (count × size),
/// so a typo in a test cannot make the server allocate without bound.
const MAX_BURST_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `__bws:close CODE REASON...`
    Close { code: u16, reason: &'a str },
    /// `__bws:close-nostatus`
    CloseNoStatus,
    /// `__bws:drop`
    Drop,
    /// `__bws:broadcast TEXT`
    Broadcast(&'a str),
    /// `__bws:burst N SIZE`
    Burst { count: usize, size: usize },
    /// `__bws:stamp TEXT`: the bench's outbound probe, answered to the sender
    /// with the time the server read it.
    Stamp(&'a str),
    /// `__bws:stream RATE N SIZE`: the bench's inbound source, N frames
    /// broadcast at RATE per second, each stamped with its send time.
    Stream {
        rate: u32,
        count: usize,
        size: usize,
    },
    /// A known command with arguments it cannot use; carries the error text.
    Invalid(&'static str),
    /// Anything else after the prefix.
    Unknown,
}

/// Returns `None` when `text` is ordinary data rather than a command.
pub fn parse(text: &str) -> Option<Command<'_>> {
    let body = text.strip_prefix(PREFIX)?;
    // Split at the first space only: arguments such as close reasons and
    // broadcast text keep their inner spaces verbatim.
    let (name, args) = body.split_once(' ').unwrap_or((body, ""));
    Some(match name {
        "close" => parse_close(args),
        "close-nostatus" => Command::CloseNoStatus,
        "drop" => Command::Drop,
        "broadcast" => Command::Broadcast(args),
        "burst" => parse_burst(args),
        "stamp" => Command::Stamp(args),
        "stream" => parse_stream(args),
        _ => Command::Unknown,
    })
}

fn parse_close(args: &str) -> Command<'_> {
    let (code, reason) = args.split_once(' ').unwrap_or((args, ""));
    match code.parse() {
        Ok(code) => Command::Close { code, reason },
        Err(_) => Command::Invalid("usage: __bws:close CODE [REASON]"),
    }
}

fn parse_burst(args: &str) -> Command<'_> {
    let mut parts = args.split_whitespace();
    let parsed = (|| {
        let count: usize = parts.next()?.parse().ok()?;
        let size: usize = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some((count, size))
    })();
    match parsed {
        Some((count, size)) if fits_budget(count, size) => Command::Burst { count, size },
        Some(_) => Command::Invalid("burst too large"),
        None => Command::Invalid("usage: __bws:burst N SIZE"),
    }
}

fn parse_stream(args: &str) -> Command<'_> {
    let mut parts = args.split_whitespace();
    let parsed = (|| {
        let rate: u32 = parts.next()?.parse().ok()?;
        let count: usize = parts.next()?.parse().ok()?;
        let size: usize = parts.next()?.parse().ok()?;
        (parts.next().is_none() && rate > 0).then_some((rate, count, size))
    })();
    match parsed {
        Some((rate, count, size)) if fits_budget(count, size) => {
            Command::Stream { rate, count, size }
        }
        Some(_) => Command::Invalid("stream too large"),
        None => Command::Invalid("usage: __bws:stream RATE N SIZE"),
    }
}

/// Whether `count` frames of `size` bytes stay within what the server agrees
/// to produce for one command.
fn fits_budget(count: usize, size: usize) -> bool {
    count
        .checked_mul(size.max(1))
        .is_some_and(|bytes| bytes <= MAX_BURST_BYTES)
}

/// Microseconds since the Unix epoch: the clock browsers read as
/// `performance.timeOrigin + performance.now()` on the same machine.
pub fn epoch_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The `i`-th frame of a stream: `"<i>:<send time in µs>:"` padded with `x`
/// up to `size` bytes.
pub fn stream_frame(index: usize, size: usize) -> String {
    burst_frame_with(format!("{index}:{}:", epoch_micros()), size)
}

/// The `i`-th frame of a burst: `"<i>:"` padded with `x` up to `size` bytes
/// (never truncated, so the index survives even when `size` is tiny).
pub fn burst_frame(index: usize, size: usize) -> String {
    burst_frame_with(format!("{index}:"), size)
}

fn burst_frame_with(mut frame: String, size: usize) -> String {
    if frame.len() < size {
        frame.extend(std::iter::repeat_n('x', size - frame.len()));
    }
    frame
}

/// Close reasons are limited to 123 bytes by RFC 6455 (125-byte control frame
/// payload minus the status code); cut at a char boundary to stay valid UTF-8.
pub fn clamp_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_not_a_command() {
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("__bws"), None);
    }

    #[test]
    fn close_keeps_reason_spaces_and_utf8() {
        assert_eq!(
            parse("__bws:close 4001 bye bye"),
            Some(Command::Close {
                code: 4001,
                reason: "bye bye"
            })
        );
        assert_eq!(
            parse("__bws:close 1000"),
            Some(Command::Close {
                code: 1000,
                reason: ""
            })
        );
        assert_eq!(
            parse("__bws:close 3000 héllo  wörld"),
            Some(Command::Close {
                code: 3000,
                reason: "héllo  wörld"
            })
        );
        assert!(matches!(parse("__bws:close"), Some(Command::Invalid(_))));
        assert!(matches!(parse("__bws:close x"), Some(Command::Invalid(_))));
    }

    #[test]
    fn other_commands() {
        assert_eq!(parse("__bws:close-nostatus"), Some(Command::CloseNoStatus));
        assert_eq!(parse("__bws:drop"), Some(Command::Drop));
        assert_eq!(
            parse("__bws:broadcast hi there"),
            Some(Command::Broadcast("hi there"))
        );
        assert_eq!(
            parse("__bws:burst 10 64"),
            Some(Command::Burst {
                count: 10,
                size: 64
            })
        );
        assert!(matches!(parse("__bws:burst 10"), Some(Command::Invalid(_))));
        assert!(matches!(
            parse("__bws:burst 100000 100000000"),
            Some(Command::Invalid(_))
        ));
        assert_eq!(parse("__bws:stamp a b"), Some(Command::Stamp("a b")));
        assert_eq!(
            parse("__bws:stream 100 5 64"),
            Some(Command::Stream {
                rate: 100,
                count: 5,
                size: 64
            })
        );
        assert!(matches!(
            parse("__bws:stream 0 5 64"),
            Some(Command::Invalid(_))
        ));
        assert!(matches!(
            parse("__bws:stream 100 5"),
            Some(Command::Invalid(_))
        ));
        assert_eq!(parse("__bws:nope"), Some(Command::Unknown));
        assert_eq!(parse("__bws:"), Some(Command::Unknown));
    }

    #[test]
    fn burst_frames_are_padded() {
        assert_eq!(burst_frame(3, 6), "3:xxxx");
        assert_eq!(burst_frame(12, 2), "12:");
    }

    #[test]
    fn reasons_are_clamped_on_char_boundaries() {
        let long = "é".repeat(100);
        let clamped = clamp_reason(&long);
        assert!(clamped.len() <= 123);
        assert_eq!(clamped.len(), 122);
        assert_eq!(clamp_reason("short"), "short");
    }
}
