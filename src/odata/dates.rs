//! Date-times as the upstream sends them and as clients write them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// Accepts RFC 3339, `2021-12-11 12:41:26.745` and `2021-12-11T12:41:26`
/// (read as UTC), and a plain date (midnight UTC).
pub fn parse_date_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Some(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

pub fn format_date_time(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form_reads_as_utc() {
        let want = parse_date_time("2021-12-11T12:41:26Z");
        assert!(want.is_some());
        assert_eq!(parse_date_time("2021-12-11 12:41:26"), want);
        assert_eq!(parse_date_time("2021-12-11T12:41:26"), want);
        assert_eq!(parse_date_time("2021-12-11T14:41:26+02:00"), want);
        assert_eq!(
            parse_date_time("2021-12-11").map(|d| format_date_time(&d)),
            Some("2021-12-11T00:00:00.000Z".into())
        );
        assert_eq!(parse_date_time("yesterday"), None);
    }
}
