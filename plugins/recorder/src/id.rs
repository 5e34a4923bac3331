//! Recording ids: `rec-` followed by the UTC date and time the session started and six
//! random hex digits, such as `rec-20250307-142530-3fa9c1`.

use std::time::{SystemTime, UNIX_EPOCH};

use pincer_sdk::UtcTime;

/// The id of a recording started at `now`, with `random` (of which the low 24 bits are
/// used) telling apart recordings started in the same second. Always a valid recording
/// id (`pincer_sdk::recording::is_recording_id`).
pub fn new(now: SystemTime, random: u32) -> String {
    let t = UtcTime::from_system_time(now).unwrap_or(UtcTime::from_unix_seconds(0));
    format!(
        "rec-{:04}{:02}{:02}-{:02}{:02}{:02}-{:06x}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        random & 0xFF_FFFF
    )
}

/// A number that differs from call to call, to tell ids apart: std's `RandomState`,
/// seeded from the host (`wasi:random/insecure-seed`) and changed each time one is
/// made, hashing the clock. Ids are names, not secrets, and `start` never reuses a
/// taken one, so this needs no cryptographic randomness.
pub fn random() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    hasher.write_u32(nanos);
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn names_the_utc_date_and_time_and_a_random_suffix() {
        assert_eq!(new(at(0), 0), "rec-19700101-000000-000000");
        assert_eq!(
            new(at(1_741_357_530), 0x3fa9c1),
            "rec-20250307-142530-3fa9c1"
        );
        assert_eq!(
            new(at(951_782_400), 0xFFFF_FFFF),
            "rec-20000229-000000-ffffff"
        );
        assert_eq!(new(at(4_102_444_799), 1), "rec-20991231-235959-000001");
    }

    #[test]
    fn makes_valid_recording_ids() {
        for secs in [0, 1, 86_399, 951_782_400, 1_741_357_530, 253_402_300_799] {
            let id = new(at(secs), random());
            assert!(pincer_sdk::recording::is_recording_id(&id), "{id}");
        }
    }

    #[test]
    fn a_clock_before_1970_reads_as_1970() {
        assert_eq!(
            new(UNIX_EPOCH - Duration::from_secs(5), 0),
            "rec-19700101-000000-000000"
        );
    }
}
