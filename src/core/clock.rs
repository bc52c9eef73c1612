//! Time, in whole seconds since the Unix epoch, from a source the core is given.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }
}

/// A clock that stands still until moved; for tests of expiry and lockout.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(at: i64) -> Self {
        Self(Arc::new(AtomicI64::new(at)))
    }
    pub fn set(&self, at: i64) {
        self.0.store(at, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `2026-11-29 14:05 UTC`
pub fn format_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// `2026-11-29 14:05`, for narrow screens (times are UTC throughout).
pub fn format_short(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// `2026-11-29T14:05:09Z`
pub fn format_rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// A time as typed, in UTC: `2026-11-29` (that whole day) or `2026-11-29 14:05` (that
/// minute). Returns its first second and the second after it.
pub fn parse_span(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M") {
        let start = t.and_utc().timestamp();
        return Some((start, start + 60));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let start = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some((start, start + 86400))
}

/// A range of time as typed: `FROM .. TO`, each end a date or a date and time (UTC), both
/// ends included; or one date or time alone (that day or minute). Returns the first
/// second and the second after the last.
pub fn parse_range(s: &str) -> std::result::Result<(i64, i64), String> {
    const FORM: &str =
        "write 2026-11-29, 2026-11-29 14:05, or 2026-11-28 .. 2026-11-29 18:00 (UTC)";
    let bad = |part: &str| format!("\"{}\" is not a date or time: {FORM}", part.trim());
    match s.split_once("..") {
        None => parse_span(s).ok_or_else(|| bad(s)),
        Some((a, b)) => {
            let (from, _) = parse_span(a).ok_or_else(|| bad(a))?;
            let (_, to) = parse_span(b).ok_or_else(|| bad(b))?;
            if to <= from {
                return Err(format!(
                    "the range ends before it starts ({} .. {}): put the earlier time first",
                    a.trim(),
                    b.trim()
                ));
            }
            Ok((from, to))
        }
    }
}

#[cfg(test)]
mod parse_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn days_minutes_and_ranges_parse_in_utc() {
        let day = parse_span("2026-11-29").unwrap();
        assert_eq!(format_time(day.0), "2026-11-29 00:00 UTC");
        assert_eq!(day.1 - day.0, 86400);
        let minute = parse_span(" 2026-11-29 14:05 ").unwrap();
        assert_eq!(format_time(minute.0), "2026-11-29 14:05 UTC");
        assert_eq!(minute.1 - minute.0, 60);
        let (from, to) = parse_range("2026-11-28 .. 2026-11-29 18:00").unwrap();
        assert_eq!(format_time(from), "2026-11-28 00:00 UTC");
        assert_eq!(format_time(to), "2026-11-29 18:01 UTC");
        assert_eq!(parse_range("2026-11-29").unwrap(), day);
    }

    #[test]
    fn bad_ranges_say_what_to_write() {
        let e = parse_range("yesterday").unwrap_err();
        assert!(
            e.contains("\"yesterday\" is not a date") && e.contains("2026-11-29 14:05"),
            "{e}"
        );
        let e = parse_range("2026-11-29 .. 2026-11-28").unwrap_err();
        assert!(e.contains("ends before it starts"), "{e}");
        assert!(parse_range("2026-02-30").is_err());
        assert!(parse_range("2026-11-29 25:00").is_err());
    }
}
