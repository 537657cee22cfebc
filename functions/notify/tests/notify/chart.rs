//! The pie chart PNG: decoded again with the `png` crate and checked pixel by pixel.

use std::f64::consts::TAU;
use std::io::Cursor;

use shared::mail::chart::{COLORS, EMPTY_COLOR, pie_chart_png};
use shared::mail::summary::Summary;

struct Image {
    size: u32,
    rgba: Vec<u8>,
}

impl Image {
    fn decode(bytes: &[u8]) -> Image {
        let decoder = png::Decoder::new(Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgba);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        assert_eq!(info.width, info.height);
        buf.truncate(info.buffer_size());
        Image {
            size: info.width,
            rgba: buf,
        }
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.size + x) * 4) as usize;
        self.rgba[i..i + 4].try_into().unwrap()
    }

    /// The pixel at `fraction` of the turn (0 = 12 o'clock, clockwise) and `radius` (0..1 of
    /// the circle's radius).
    fn at(&self, fraction: f64, radius: f64) -> [u8; 4] {
        let c = f64::from(self.size) / 2.0;
        let r = radius * (c - 1.0);
        let a = fraction * TAU;
        let x = c + r * a.sin();
        let y = c - r * a.cos();
        self.pixel(x.floor() as u32, y.floor() as u32)
    }
}

fn summary(passed: u64, failed: u64, broken: u64, skipped: u64, unknown: u64) -> Summary {
    Summary {
        passed,
        failed,
        broken,
        skipped,
        unknown,
        total: passed + failed + broken + skipped + unknown,
        duration_ms: None,
    }
}

fn rgba(hex: &str) -> [u8; 4] {
    let h = hex.trim_start_matches('#');
    let b = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
    [b(0), b(2), b(4), 255]
}

fn color(label: &str) -> [u8; 4] {
    rgba(COLORS.iter().find(|(l, _)| *l == label).unwrap().1)
}

fn chart(s: &Summary, size: u32) -> Image {
    let img = Image::decode(&pie_chart_png(s, size));
    assert_eq!(img.size, size);
    img
}

#[test]
fn colours_are_distinct_hex_in_order() {
    let labels: Vec<_> = COLORS.iter().map(|(l, _)| *l).collect();
    assert_eq!(labels, ["Passed", "Failed", "Broken", "Skipped", "Unknown"]);
    for (_, hex) in COLORS {
        assert!(hex.len() == 7 && hex.starts_with('#'), "{hex}");
        assert!(hex[1..].chars().all(|c| c.is_ascii_hexdigit()), "{hex}");
    }
    let mut all: Vec<_> = COLORS
        .iter()
        .map(|(_, h)| *h)
        .chain([EMPTY_COLOR])
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 6);
}

#[test]
fn decodes_to_the_requested_size() {
    for size in [16, 64, 240, 241] {
        chart(&summary(1, 2, 3, 4, 5), size);
    }
}

#[test]
fn three_passed_one_failed() {
    let img = chart(&summary(3, 1, 0, 0, 0), 240);
    let green = color("Passed");
    let red = color("Failed");
    for f in [0.05, 0.2, 0.375, 0.5, 0.7] {
        for r in [0.3, 0.6, 0.9] {
            assert_eq!(img.at(f, r), green, "fraction {f}, radius {r}");
        }
    }
    for f in [0.8, 0.875, 0.95] {
        for r in [0.3, 0.6, 0.9] {
            assert_eq!(img.at(f, r), red, "fraction {f}, radius {r}");
        }
    }
}

#[test]
fn every_slice_in_its_angular_range() {
    let s = summary(2, 2, 2, 2, 2);
    let img = chart(&s, 240);
    for (i, (label, _)) in COLORS.iter().enumerate() {
        let mid = (i as f64 + 0.5) / 5.0;
        for r in [0.4, 0.8] {
            assert_eq!(img.at(mid, r), color(label), "{label} at radius {r}");
        }
    }
}

#[test]
fn zero_counts_draw_no_slice() {
    // passed 1, broken 1: two halves, no red in between.
    let img = chart(&summary(1, 0, 1, 0, 0), 240);
    assert_eq!(img.at(0.25, 0.7), color("Passed"));
    assert_eq!(img.at(0.75, 0.7), color("Broken"));
    let red = color("Failed");
    for y in 0..240 {
        for x in 0..240 {
            assert_ne!(img.pixel(x, y), red);
        }
    }
}

#[test]
fn separator_between_slices_is_white() {
    let img = chart(&summary(1, 1, 0, 0, 0), 240);
    // The boundary at 12 o'clock and the one at 6 o'clock.
    assert_eq!(img.at(0.0, 0.7)[..3], [255, 255, 255]);
    assert_eq!(img.at(0.5, 0.7)[..3], [255, 255, 255]);
}

#[test]
fn all_zero_is_a_grey_disc() {
    let img = chart(&summary(0, 0, 0, 0, 0), 240);
    let grey = rgba(EMPTY_COLOR);
    assert_eq!(img.pixel(120, 120), grey);
    for f in [0.0, 0.1, 0.33, 0.5, 0.9] {
        assert_eq!(img.at(f, 0.9), grey);
    }
}

#[test]
fn outside_the_circle_is_transparent() {
    let img = chart(&summary(5, 1, 1, 1, 1), 240);
    for (x, y) in [(0, 0), (239, 0), (0, 239), (239, 239), (10, 10), (230, 20)] {
        assert_eq!(img.pixel(x, y), [255, 255, 255, 0], "({x}, {y})");
    }
    // Just outside the rim, on each axis.
    assert_eq!(img.pixel(120, 0)[3], 0);
    assert_eq!(img.pixel(0, 120)[3], 0);
    // The rim is anti-aliased: some pixels are partly covered.
    let partial = img
        .rgba
        .chunks(4)
        .filter(|p| p[3] > 0 && p[3] < 255)
        .count();
    assert!(partial > 100, "{partial} partly covered pixels");
}

#[test]
fn single_category_is_a_full_disc() {
    for (i, (label, _)) in COLORS.iter().enumerate() {
        let mut counts = [0u64; 5];
        counts[i] = 7;
        let s = summary(counts[0], counts[1], counts[2], counts[3], counts[4]);
        let img = chart(&s, 120);
        let want = color(label);
        assert_eq!(img.pixel(60, 60), want, "{label} centre");
        for k in 0..40 {
            let f = f64::from(k) / 40.0;
            for r in [0.1, 0.5, 0.95] {
                assert_eq!(img.at(f, r), want, "{label} at {f}, {r}");
            }
        }
    }
}

#[test]
fn tiny_share_still_leaves_the_rest_correct() {
    let img = chart(&summary(999_999, 1, 0, 0, 0), 240);
    assert_eq!(img.at(0.5, 0.8), color("Passed"));
}

#[test]
fn deterministic_bytes() {
    let s = summary(10, 3, 2, 1, 1);
    let a = pie_chart_png(&s, 240);
    let b = pie_chart_png(&s, 240);
    assert_eq!(a, b);
    assert_ne!(a, pie_chart_png(&summary(3, 10, 2, 1, 1), 240));
    assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[test]
fn odd_sizes_are_clamped() {
    assert_eq!(
        Image::decode(&pie_chart_png(&summary(1, 0, 0, 0, 0), 0)).size,
        16
    );
    assert_eq!(
        Image::decode(&pie_chart_png(&summary(1, 0, 0, 0, 0), 100_000)).size,
        512
    );
}

#[test]
#[ignore = "writes /tmp/notify-chart-*.png to look at"]
fn write_samples() {
    for (name, s) in [
        ("mixed", summary(40, 6, 3, 5, 1)),
        ("three-one", summary(3, 1, 0, 0, 0)),
        ("empty", summary(0, 0, 0, 0, 0)),
        ("passed", summary(12, 0, 0, 0, 0)),
    ] {
        std::fs::write(
            format!("/tmp/notify-chart-{name}.png"),
            pie_chart_png(&s, 240),
        )
        .unwrap();
    }
}
