//! HTTP-date (RFC 9110 §5.6.7): IMF-fixdate out, and all three formats in (IMF-fixdate,
//! the obsolete RFC 850 and asctime forms), as seconds since the Unix epoch.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// IMF-fixdate of `secs` since the epoch, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The timestamp of the common log format, e.g. `06/Nov/1994:08:49:37 +0000` (UTC).
pub fn common_log(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A short UTC date and time for listings, e.g. `1994-11-06 08:49`.
pub fn listing(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Parses an HTTP-date in any of its three formats. `None` for anything else, as a
/// recipient must then ignore the header.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim_matches([' ', '\t']);
    let fields: Vec<&str> = s.split([' ', ',']).filter(|f| !f.is_empty()).collect();
    let (day, month, year, time) = match fields.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [wd, d, mon, y, t, "GMT"] if DAYS.contains(wd) && d.len() == 2 && y.len() == 4 => {
            (*d, *mon, y.parse().ok()?, *t)
        }
        // Sunday, 06-Nov-94 08:49:37 GMT
        [wd, dmy, t, "GMT"] if wd.len() > 3 => {
            let mut p = dmy.split('-');
            let (d, mon, yy) = (p.next()?, p.next()?, p.next()?);
            if p.next().is_some() || yy.len() != 2 || d.len() != 2 {
                return None;
            }
            let yy: i64 = yy.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years in the future is the past century.
            (d, mon, if yy < 70 { 2000 + yy } else { 1900 + yy }, *t)
        }
        // Sun Nov  6 08:49:37 1994
        [wd, mon, d, t, y] if DAYS.contains(wd) && y.len() == 4 => (*d, *mon, y.parse().ok()?, *t),
        _ => return None,
    };
    if !day.bytes().all(|b| b.is_ascii_digit()) || day.is_empty() || day.len() > 2 {
        return None;
    }
    let day: u32 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let mut hms = time.split(':');
    let mut part = |max: i64| -> Option<i64> {
        let p = hms.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok().filter(|v| *v <= max)
    };
    let (h, mi, sec) = (part(23)?, part(59)?, part(60)?);
    if hms.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return None; // 31 Feb and friends
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + sec.min(59))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats_of_rfc_9110_agree() {
        let t = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(format(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(t));
    }

    #[test]
    fn log_and_listing_forms() {
        let t = 784_111_777;
        assert_eq!(common_log(t), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(listing(t), "1994-11-06 08:49");
        assert_eq!(common_log(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn round_trips_across_centuries_and_leap_days() {
        for t in [
            0,
            951_782_400,
            1_709_164_800,
            4_102_444_799,
            253_402_300_799,
        ] {
            assert_eq!(parse(&format(t)), Some(t), "{}", format(t));
        }
        assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn garbage_is_not_a_date() {
        for s in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 99999 08:49:37 GMT",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }
}
