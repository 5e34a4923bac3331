//! Where a point of a viewer falls on the recorded screen.
//!
//! The viewer shows the screen scaled to fit its viewport with the aspect ratio kept,
//! centred, so bars fill the rest: above and below a screen wider than the viewport's
//! proportions, left and right of a taller one.

/// The point `(x, y)` of a `viewport` (width, height) mapped to the pixels of a
/// `screen` (width, height) shown in it, or `None` when it falls on a bar. Both sizes
/// must be at least 1×1 and the point finite; the caller checks. The picture's edges
/// belong to it, so the result lies in `0..=width` and `0..=height`.
pub fn map(viewport: (f64, f64), screen: (f64, f64), (x, y): (f64, f64)) -> Option<(f64, f64)> {
    let scale = (viewport.0 / screen.0).min(viewport.1 / screen.1);
    let shown = (screen.0 * scale, screen.1 * scale);
    let left = (viewport.0 - shown.0) / 2.0;
    let top = (viewport.1 - shown.1) / 2.0;
    let inside = (left..=left + shown.0).contains(&x) && (top..=top + shown.1).contains(&y);
    inside.then(|| {
        (
            ((x - left) / scale).clamp(0.0, screen.0),
            ((y - top) / scale).clamp(0.0, screen.1),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_viewport_of_the_screens_size_one_to_one() {
        assert_eq!(
            map((800.0, 600.0), (800.0, 600.0), (0.0, 0.0)),
            Some((0.0, 0.0))
        );
        assert_eq!(
            map((800.0, 600.0), (800.0, 600.0), (123.5, 456.0)),
            Some((123.5, 456.0))
        );
        assert_eq!(
            map((800.0, 600.0), (800.0, 600.0), (800.0, 600.0)),
            Some((800.0, 600.0))
        );
    }

    #[test]
    fn maps_through_bars_above_and_below_a_wide_screen() {
        // 1600×900 in 800×600: scale 0.5, shown 800×450, bars of 75 above and below.
        let (viewport, screen) = ((800.0, 600.0), (1600.0, 900.0));
        assert_eq!(map(viewport, screen, (400.0, 50.0)), None);
        assert_eq!(map(viewport, screen, (400.0, 74.9)), None);
        assert_eq!(map(viewport, screen, (0.0, 75.0)), Some((0.0, 0.0)));
        assert_eq!(map(viewport, screen, (400.0, 300.0)), Some((800.0, 450.0)));
        assert_eq!(map(viewport, screen, (800.0, 525.0)), Some((1600.0, 900.0)));
        assert_eq!(map(viewport, screen, (10.0, 525.1)), None);
    }

    #[test]
    fn maps_through_bars_left_and_right_of_a_tall_screen() {
        // 1000×1000 in 800×400: scale 0.4, shown 400×400, bars of 200 on each side.
        let (viewport, screen) = ((800.0, 400.0), (1000.0, 1000.0));
        assert_eq!(map(viewport, screen, (100.0, 200.0)), None);
        assert_eq!(map(viewport, screen, (700.0, 200.0)), None);
        assert_eq!(map(viewport, screen, (200.0, 0.0)), Some((0.0, 0.0)));
        assert_eq!(map(viewport, screen, (400.0, 200.0)), Some((500.0, 500.0)));
        assert_eq!(
            map(viewport, screen, (600.0, 400.0)),
            Some((1000.0, 1000.0))
        );
    }

    #[test]
    fn scales_up_a_screen_smaller_than_the_viewport() {
        // 320×240 in 1280×1024: scale 4, shown 1280×960, bars of 32 above and below.
        let (viewport, screen) = ((1280.0, 1024.0), (320.0, 240.0));
        assert_eq!(map(viewport, screen, (640.0, 16.0)), None);
        assert_eq!(map(viewport, screen, (640.0, 512.0)), Some((160.0, 120.0)));
    }

    #[test]
    fn a_point_outside_the_viewport_is_not_on_the_screen() {
        let (viewport, screen) = ((800.0, 600.0), (800.0, 600.0));
        assert_eq!(map(viewport, screen, (-1.0, 10.0)), None);
        assert_eq!(map(viewport, screen, (10.0, 600.5)), None);
    }
}
