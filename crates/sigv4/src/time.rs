//! UTC calendar arithmetic for SigV4 timestamps (`YYYYMMDD'T'HHMMSS'Z'`), kept
//! here so the crate needs no date library and stays clock-free.

use std::time::{SystemTime, UNIX_EPOCH};

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range a SigV4 date can
/// express. Clamping keeps the calendar arithmetic free of overflow whatever
/// clock or `Date` header we are handed.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// Seconds since the Unix epoch (negative before it), clamped to years 0..=9999.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(MAX_SECS),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(MIN_SECS, |s| -s),
    };
    secs.clamp(MIN_SECS, MAX_SECS)
}

/// Parses the ISO 8601 basic format SigV4 uses, e.g. `20150830T123600Z`.
pub(crate) fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = s.get(range)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Formats Unix seconds as `YYYYMMDD'T'HHMMSS'Z'`.
pub(crate) fn format_amz_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_known_instant() {
        // 2015-08-30T12:36:00Z, the AWS documentation example.
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
    }

    #[test]
    fn round_trips_across_leap_days_and_epoch() {
        for s in [
            "19700101T000000Z",
            "20000229T235959Z",
            "20241231T120000Z",
            "19690720T201800Z",
        ] {
            assert_eq!(format_amz_date(parse_amz_date(s).unwrap()), s);
        }
    }

    #[test]
    fn clamps_to_representable_years() {
        use std::time::Duration;
        assert_eq!(
            format_amz_date(unix_seconds(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4))),
            "99991231T235959Z"
        );
        assert_eq!(
            format_amz_date(unix_seconds(UNIX_EPOCH - Duration::from_secs(1 << 40))),
            "00000101T000000Z"
        );
        assert_eq!(format_amz_date(MIN_SECS), "00000101T000000Z");
    }

    #[test]
    fn rejects_malformed_dates() {
        for s in [
            "",
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20150230T123600Z",
            "20230229T000000Z",
            "20151330T123600Z",
            "20150830T246000Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "é150830T123600Z",
        ] {
            assert_eq!(parse_amz_date(s), None, "{s}");
        }
    }
}
