//! `get_file_info` and `list_allowed_directories`.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use pincer_sdk::CallResult;
use serde::Deserialize;
use serde_json::json;

use crate::list::format_size;
use crate::mount::{Access, io_failure, not_mounted};
use crate::paths::{WORKSPACE, resolve};
use crate::{NoArguments, Outcome};

/// Arguments of `get_file_info`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetFileInfo {
    path: String,
}

pub fn get_file_info(args: GetFileInfo) -> Outcome {
    let path = resolve(&args.path)?;
    let link = fs::symlink_metadata(&path).map_err(|e| io_failure("inspect", &path, &e))?;
    let is_symlink = link.file_type().is_symlink();
    let metadata = if is_symlink {
        fs::metadata(&path).map_err(|e| io_failure("follow the symlink", &path, &e))?
    } else {
        link
    };
    let kind = if metadata.is_dir() {
        "directory"
    } else if metadata.is_file() {
        "file"
    } else {
        "other"
    };
    let time = |t: std::io::Result<SystemTime>| t.ok().and_then(rfc3339);
    let access = Access::of_workspace();
    let info = json!({
        "path": path,
        "type": kind,
        "symlink": is_symlink,
        "size": metadata.len(),
        "created": time(metadata.created()),
        "modified": time(metadata.modified()),
        "accessed": time(metadata.accessed()),
        "isDirectory": metadata.is_dir(),
        "isFile": metadata.is_file(),
        "permissions": access.label(),
    });
    let shown = |t: &serde_json::Value| t.as_str().unwrap_or("not available").to_owned();
    let lines = [
        format!("path: {path}"),
        format!(
            "type: {kind}{}",
            if is_symlink {
                " (through a symlink)"
            } else {
                ""
            }
        ),
        format!("size: {} ({})", metadata.len(), format_size(metadata.len())),
        format!("created: {}", shown(&info["created"])),
        format!("modified: {}", shown(&info["modified"])),
        format!("accessed: {}", shown(&info["accessed"])),
        format!("isDirectory: {}", metadata.is_dir()),
        format!("isFile: {}", metadata.is_file()),
        format!(
            "permissions: {} (the workspace mount's access; the sandbox does not show file modes)",
            access.label()
        ),
    ];
    let mut result = CallResult::text(lines.join("\n"));
    result.structured_content = Some(info.to_string());
    Ok(result)
}

pub fn list_allowed_directories(_: NoArguments) -> Outcome {
    match Access::of_workspace() {
        Access::NotMounted => Err(not_mounted()),
        access => Ok(CallResult::text(format!(
            "Allowed directories:\n{WORKSPACE} ({})\n\nPaths may be given relative to {WORKSPACE}.",
            access.label()
        ))),
    }
}

/// `time` as an RFC 3339 UTC timestamp to the second, such as `2024-02-29T13:05:09Z`;
/// `None` before 1970.
fn rfc3339(time: SystemTime) -> Option<String> {
    let seconds = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    ))
}

/// The proleptic Gregorian date `days` after 1970-01-01, by Howard Hinnant's
/// `civil_from_days` algorithm (eras of 400 years starting on March 1st).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(seconds)).unwrap()
    }

    #[test]
    fn formats_timestamps_as_rfc3339_utc() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_211_909), "2024-02-29T13:05:09Z");
        assert_eq!(at(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn has_no_timestamp_before_1970() {
        assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(1)), None);
    }
}
