//! Timestamp parsing: integer seconds or milliseconds, decimal seconds, ISO 8601.

/// Values at or above this are taken as milliseconds (1e11 s is the year 5138).
const MS_THRESHOLD: i64 = 100_000_000_000;

/// Seconds of 0000-01-01 and of 10000-01-01 (UTC): timestamps must fall between, as the
/// four-digit years of ISO 8601 do; anything outside is a broken value, not a date.
pub const MIN_SECS: i64 = -62_167_219_200;
pub const MAX_SECS: i64 = 253_402_300_800;

/// Why a timestamp was refused (the text follows the quoted value in a row's error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeError {
    Unreadable,
    OutOfRange,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeError::Unreadable => "is not a number or ISO 8601 date",
            TimeError::OutOfRange => "is outside the years 0000-9999",
        })
    }
}

/// Whether Unix seconds `secs` fall in the years 0000-9999.
pub fn in_range(secs: i64) -> bool {
    (MIN_SECS..MAX_SECS).contains(&secs)
}

/// Parses a timestamp to Unix milliseconds. Accepts `1511544070`, `1511544070123`,
/// `978300760.5`, `2017-11-25`, `2017-11-25T12:34:56`, `2017-11-25 12:34:56.789Z`,
/// `2017-11-25T12:34:56+08:00`, within the years 0000-9999.
pub fn parse_timestamp(s: &str) -> Result<i64, TimeError> {
    let Some(millis) = parse_any(s) else {
        // An integer too long for 64 bits is still a number, just not a time.
        let digits = s.trim().strip_prefix('-').unwrap_or(s.trim());
        let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        return Err(if integer { TimeError::OutOfRange } else { TimeError::Unreadable });
    };
    if in_range(millis.div_euclid(1000)) { Ok(millis) } else { Err(TimeError::OutOfRange) }
}

/// Unix milliseconds of any accepted form, before the range check (saturating when huge).
fn parse_any(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(v) = s.parse::<i64>() {
        return Some(if v.unsigned_abs() >= MS_THRESHOLD as u64 { v } else { v * 1000 });
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') && s.contains('.') && s.len() < 24 {
        let v: f64 = s.parse().ok()?;
        if !v.is_finite() {
            return None;
        }
        // Float-to-int casts saturate, so a huge value fails the range check.
        return Some(if v.abs() >= MS_THRESHOLD as f64 { v.floor() as i64 } else { (v * 1000.0).floor() as i64 });
    }
    parse_iso8601(s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (y, m, d) of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_utc(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_iso8601(s: &str) -> Option<i64> {
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Past four digits a year is out of range anyway; bounding it keeps the arithmetic exact.
    let (y, m, d) = (y.min(100_000), m as u32, d as u32);
    let mut millis = days_from_civil(y, m, d) * 86_400_000;
    if rest.is_empty() {
        return Some(millis);
    }
    // Split off the zone: Z, +hh:mm, -hh:mm, +hhmm.
    let (clock, offset_min) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let z = &rest[i + 1..].replace(':', "");
        if z.len() != 4 || !z.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mins = num(&z[..2])? * 60 + num(&z[2..])?;
        (&rest[..i], if rest.as_bytes()[i] == b'+' { mins } else { -mins })
    } else {
        (rest, 0)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, b)) => (a, b),
        None => (clock, ""),
    };
    let mut tp = hms.split(':');
    let h = num(tp.next()?)?;
    let mi = tp.next().map(num).unwrap_or(Some(0))?;
    let se = tp.next().map(num).unwrap_or(Some(0))?;
    if tp.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let frac_ms = if frac.is_empty() {
        0
    } else {
        let f3: String = frac.chars().chain("000".chars()).take(3).collect();
        num(&f3)?
    };
    millis += ((h * 60 + mi - offset_min) * 60 + se) * 1000 + frac_ms;
    Some(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integer_decimal_and_iso() {
        assert_eq!(parse_timestamp("1511544070"), Ok(1_511_544_070_000));
        assert_eq!(parse_timestamp("1511544070123"), Ok(1_511_544_070_123));
        assert_eq!(parse_timestamp("978300760.5"), Ok(978_300_760_500));
        assert_eq!(parse_timestamp("1970-01-02"), Ok(86_400_000));
        assert_eq!(parse_timestamp("2017-11-25T12:34:56Z"), Ok(1_511_613_296_000));
        assert_eq!(parse_timestamp("2017-11-25 12:34:56"), Ok(1_511_613_296_000));
        assert_eq!(parse_timestamp("2017-11-25T20:34:56+08:00"), Ok(1_511_613_296_000));
        assert_eq!(parse_timestamp("2017-11-25T12:34:56.789Z"), Ok(1_511_613_296_789));
        for bad in ["", "abc", "2017-13-01", "2017-11-25T25:00:00", "12,5", "nan", "1e5x", "2017-11-25T12:00:00+1\u{e9}1", "2017-11-25T12:00:00+\u{e9}\u{e9}"] {
            assert_eq!(parse_timestamp(bad), Err(TimeError::Unreadable), "{bad}");
        }
        // Outside the years 0000-9999, however written.
        for far in ["18446744073709551615", "-99999999999999999999999", "99999-01-01", "999999999999999999-01-01T00:00:00Z", "-9223372036854775808", "9223372036854775807", "99999999999999999999.5", "-62167219201", "253402300800000"] {
            assert_eq!(parse_timestamp(far), Err(TimeError::OutOfRange), "{far}");
        }
        assert_eq!(parse_timestamp("0000-01-01"), Ok(MIN_SECS * 1000));
        assert_eq!(parse_timestamp("9999-12-31T23:59:59Z"), Ok((MAX_SECS - 1) * 1000));
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 17_495, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_utc(1_511_613_296), "2017-11-25 12:34:56");
    }
}
