//! What the recorder accepts as a frame: a JPEG of at most [`MAX_FRAME_BYTES`].
//!
//! The check is the cheap one, on the first and last bytes; the recorder stores frames
//! as they come and never decodes them.

/// The largest frame the recorder stores: 4 MiB.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Refuse `jpeg` unless it starts with a JPEG's start-of-image marker and a segment
/// (`FF D8 FF`), ends with its end-of-image marker (`FF D9`) and is at most
/// [`MAX_FRAME_BYTES`] long. The error says which rule it breaks.
pub fn check(jpeg: &[u8]) -> Result<(), String> {
    if jpeg.len() > MAX_FRAME_BYTES {
        return Err(format!(
            "a frame of {} bytes is over the {MAX_FRAME_BYTES}-byte limit",
            jpeg.len()
        ));
    }
    if !jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) || !jpeg.ends_with(&[0xFF, 0xD9]) {
        return Err(
            "a frame must be a JPEG (it must start with FF D8 and end with FF D9)".to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_jpeg() {
        assert_eq!(check(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 0xFF, 0xD9]), Ok(()));
    }

    #[test]
    fn refuses_what_is_not_a_jpeg() {
        let png = b"\x89PNG\r\n\x1a\n";
        for bytes in [
            &[][..],
            &[0xFF, 0xD8][..],
            &png[..],
            &[0xFF, 0xD8, 0xFF, 0xE0, 0, 2][..],
        ] {
            assert_eq!(
                check(bytes).unwrap_err(),
                "a frame must be a JPEG (it must start with FF D8 and end with FF D9)",
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn refuses_a_frame_over_the_limit() {
        let mut big = vec![0; MAX_FRAME_BYTES + 1];
        big[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
        big[MAX_FRAME_BYTES - 1..].copy_from_slice(&[0xFF, 0xD9]);
        assert_eq!(
            check(&big).unwrap_err(),
            "a frame of 4194305 bytes is over the 4194304-byte limit"
        );
        big.pop();
        big[MAX_FRAME_BYTES - 2..].copy_from_slice(&[0xFF, 0xD9]);
        assert_eq!(check(&big), Ok(()));
    }
}
