//! Number, time and duration formatting for the screen.
//!
//! One place so every panel shows numbers the same way (thousands separators,
//! UTC dates, `m:ss` durations); egui-free so it is unit-tested cheaply.

use crate::util::thousands;

/// Seconds in a day.
const SECS_PER_DAY: i64 = 86_400;

/// An integer with thousands separators: 412345 -> "412,345".
pub fn count(n: u64) -> String {
    thousands(n)
}

/// A short count for chips: 999 -> "999", 412_345 -> "412k", 3_400_000 -> "3.4M".
pub fn compact(n: u64) -> String {
    match n {
        0..=9_999 => thousands(n),
        10_000..=999_999 => format!("{}k", (n as f64 / 1e3).round() as u64),
        1_000_000..=9_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{}M", (n as f64 / 1e6).round() as u64),
    }
}

/// A duration as `m:ss` or `h:mm:ss`.
pub fn duration(secs: f64) -> String {
    let total = secs.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A time span in the most readable unit: "45 s", "12 min", "5.2 h", "61.3 days".
pub fn span(secs: i64) -> String {
    let s = secs.max(0) as f64;
    if s < 60.0 {
        format!("{s:.0} s")
    } else if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < SECS_PER_DAY as f64 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / SECS_PER_DAY as f64)
    }
}

pub use crate::data::time::{civil_from_days, days_from_civil};

/// A Unix time as a UTC date: "2024-03-02".
pub fn date(unix_secs: i64) -> String {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(SECS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A Unix time as UTC date and minute: "2024-03-02 14:05".
pub fn datetime(unix_secs: i64) -> String {
    let secs_of_day = unix_secs.rem_euclid(SECS_PER_DAY);
    format!(
        "{} {:02}:{:02}",
        date(unix_secs),
        secs_of_day / 3600,
        (secs_of_day / 60) % 60
    )
}

/// A fraction as a percentage with no decimals: 0.431 -> "43%".
pub fn percent(fraction: f32) -> String {
    format!("{:.0}%", (fraction.clamp(0.0, 1.0) * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_counts() {
        assert_eq!(compact(999), "999");
        assert_eq!(compact(9_812), "9,812");
        assert_eq!(compact(412_345), "412k");
        assert_eq!(compact(3_449_999), "3.4M");
        assert_eq!(compact(12_600_000), "13M");
    }

    #[test]
    fn durations_and_spans() {
        assert_eq!(duration(72.4), "1:12");
        assert_eq!(duration(3723.0), "1:02:03");
        assert_eq!(duration(-5.0), "0:00");
        assert_eq!(span(30), "30 s");
        assert_eq!(span(61 * 86_400 + 7_200), "61.1 days");
    }

    #[test]
    fn civil_dates_round_trip() {
        // 2024-03-02 is day 19,784 since the epoch (checked with `date -d 2024-03-02 +%s` / 86400).
        assert_eq!(days_from_civil(2024, 3, 2), 19_784);
        assert_eq!(civil_from_days(19_784), (2024, 3, 2));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        for d in (-800_000..800_000).step_by(997) {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(
            datetime(19_784 * 86_400 + 14 * 3600 + 5 * 60 + 59),
            "2024-03-02 14:05"
        );
    }
}
