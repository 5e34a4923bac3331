//! The one thing the viewer reads inside a JPEG: the image size in its start-of-frame
//! (SOF) segment.

/// The (width, height) in pixels of the JPEG `bytes`, from its first start-of-frame
/// marker (`FF C0` to `FF CF`, except `C4` (DHT), `C8` (JPG) and `CC` (DAC), which share
/// the range). The error says what is wrong: not a JPEG, truncated, or no size before
/// the image data.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG: it does not start with FF D8".to_owned());
    }
    let mut at = 2;
    loop {
        if bytes.get(at) != Some(&0xFF) {
            return Err(match bytes.get(at) {
                None => truncated(),
                Some(b) => format!("expected a marker at byte {at}, found {b:02X}"),
            });
        }
        // Any number of FF fill bytes may precede a marker.
        while bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at + 1) else {
            return Err(truncated());
        };
        at += 2;
        match marker {
            // Markers without a segment: TEM and RST0..RST7.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Err("no start-of-frame marker before the image data".to_owned()),
            _ => {}
        }
        let length = match bytes.get(at..at + 2) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(truncated()),
        };
        if length < 2 {
            return Err(format!(
                "a segment at byte {at} has the impossible length {length}"
            ));
        }
        if is_start_of_frame(marker) {
            // Length (2), sample precision (1), height (2), width (2).
            let Some(&[_, _, _, h1, h2, w1, w2]) = bytes.get(at..at + 7) else {
                return Err(truncated());
            };
            let (width, height) = (u16::from_be_bytes([w1, w2]), u16::from_be_bytes([h1, h2]));
            if width == 0 || height == 0 {
                return Err(format!(
                    "its start-of-frame gives a size of {width}×{height} pixels"
                ));
            }
            return Ok((u32::from(width), u32::from(height)));
        }
        at += length;
    }
}

/// Whether `marker` (the byte after `FF`) starts a frame: SOF0 to SOF15.
fn is_start_of_frame(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

fn truncated() -> String {
    "truncated before its start-of-frame marker".to_owned()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A minimal JPEG of `width`×`height` as far as its headers go: SOI, an APP0
    /// segment, a DHT segment (whose marker, C4, is in the SOF range), the SOF
    /// `marker`, SOS and EOI.
    pub fn jpeg_with(marker: u8, width: u16, height: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        b.extend([0xFF, 0xE0, 0x00, 0x06, b'J', b'F', b'I', b'F']);
        b.extend([0xFF, 0xC4, 0x00, 0x03, 0x00]);
        b.extend([0xFF, marker, 0x00, 0x0B, 0x08]);
        b.extend(height.to_be_bytes());
        b.extend(width.to_be_bytes());
        b.extend([0x01, 0x01, 0x11, 0x00]);
        b.extend([0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0xFF, 0xD9]);
        b
    }

    #[test]
    fn reads_the_size_from_each_start_of_frame_marker() {
        for marker in [
            0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF,
        ] {
            assert_eq!(
                dimensions(&jpeg_with(marker, 1920, 1080)),
                Ok((1920, 1080)),
                "{marker:02X}"
            );
        }
    }

    #[test]
    fn skips_the_markers_that_share_the_range() {
        // A DAC segment (CC) before the SOF must not be read as one.
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xCC, 0x00, 0x06, 0x00, 0x01, 0x00, 0x01];
        b.extend(&jpeg_with(0xC0, 640, 480)[2..]);
        assert_eq!(dimensions(&b), Ok((640, 480)));
        // With only DHT, JPG and DAC, there is no size.
        for marker in [0xC4, 0xC8, 0xCC] {
            let b = [
                0xFF, 0xD8, 0xFF, marker, 0x00, 0x09, 8, 0, 1, 0, 1, 1, 0, 0xFF, 0xD9,
            ];
            assert!(dimensions(&b).is_err(), "{marker:02X}");
        }
    }

    #[test]
    fn skips_fill_bytes_and_markers_without_a_segment() {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xD0];
        b.extend(&jpeg_with(0xC2, 8, 4)[2..]);
        assert_eq!(dimensions(&b), Ok((8, 4)));
    }

    #[test]
    fn refuses_what_has_no_size() {
        assert_eq!(
            dimensions(b"GIF89a").unwrap_err(),
            "not a JPEG: it does not start with FF D8"
        );
        assert_eq!(
            dimensions(&[0xFF, 0xD8, 0xFF, 0xD9]).unwrap_err(),
            "no start-of-frame marker before the image data"
        );
        assert_eq!(
            dimensions(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00]).unwrap_err(),
            "truncated before its start-of-frame marker"
        );
        let full = jpeg_with(0xC0, 10, 10);
        // The width, the last field read, ends 9 bytes after the SOF marker's FF.
        let sof = full.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        assert_eq!(dimensions(&full[..sof + 9]), Ok((10, 10)));
        for cut in 2..sof + 9 {
            assert!(dimensions(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(
            dimensions(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01])
                .unwrap_err()
                .contains("impossible length")
        );
        assert!(
            dimensions(&jpeg_with(0xC0, 0, 10))
                .unwrap_err()
                .contains("0×10")
        );
        assert!(
            dimensions(&[0xFF, 0xD8, 0x00])
                .unwrap_err()
                .contains("expected a marker at byte 2")
        );
    }
}
