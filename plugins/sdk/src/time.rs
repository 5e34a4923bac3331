//! [`UtcTime`]: a moment as a UTC date and time of day, for the timestamps and names a
//! plugin writes, without a date crate. Pure arithmetic; it reads no clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment as a UTC date (proleptic Gregorian) and time of day, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime {
    /// The year, such as 2025.
    pub year: u64,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
    /// The second, 0 to 59.
    pub second: u32,
}

impl UtcTime {
    /// The moment `seconds` after 1970-01-01T00:00:00Z.
    pub fn from_unix_seconds(seconds: u64) -> Self {
        let (days, of_day) = (seconds / 86_400, seconds % 86_400);
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (of_day / 3600) as u32,
            minute: (of_day / 60 % 60) as u32,
            second: (of_day % 60) as u32,
        }
    }

    /// The moment `time`, to the second; `None` before 1970.
    pub fn from_system_time(time: SystemTime) -> Option<Self> {
        let seconds = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(UtcTime::from_unix_seconds(seconds))
    }

    /// This moment in RFC 3339, such as `2024-02-29T13:05:09Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The (year, month, day) `days` after 1970-01-01, by Howard Hinnant's
/// `civil_from_days` algorithm (eras of 400 years starting on March 1st).
fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> String {
        UtcTime::from_unix_seconds(seconds).rfc3339()
    }

    #[test]
    fn writes_moments_as_rfc3339_utc() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_211_909), "2024-02-29T13:05:09Z");
        assert_eq!(at(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn reads_system_times_from_1970_on() {
        let moment = UNIX_EPOCH + Duration::from_millis(1_741_357_530_999);
        assert_eq!(
            UtcTime::from_system_time(moment),
            Some(UtcTime {
                year: 2025,
                month: 3,
                day: 7,
                hour: 14,
                minute: 25,
                second: 30
            })
        );
        assert_eq!(
            UtcTime::from_system_time(UNIX_EPOCH - Duration::from_secs(1)),
            None
        );
    }
}
