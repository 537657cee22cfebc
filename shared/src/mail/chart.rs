//! The result pie chart as a PNG, for an inline (CID) image in the mail: mail clients run no
//! JavaScript and often show no SVG.
//!
//! Slices start at 12 o'clock and go clockwise in the order of [`COLORS`] (passed, failed,
//! broken, skipped, unknown); a count of zero draws no slice, all zero draw one light-grey
//! disc. The background is transparent white (fits light and dark mail themes alike),
//! edges are anti-aliased with 4×4 supersampling, and slices are parted by thin white lines.
//! Pure integer/float arithmetic with no randomness: the same input gives the same bytes.

use std::f64::consts::TAU;

use crate::mail::summary::Summary;

/// The slice colours in drawing order, for the legend the HTML mail draws next to the chart.
pub const COLORS: [(&str, &str); 5] = [
    ("Passed", "#4caf50"),
    ("Failed", "#e53935"),
    ("Broken", "#fb8c00"),
    ("Skipped", "#9e9e9e"),
    ("Unknown", "#8e24aa"),
];

/// The disc drawn when every count is zero.
pub const EMPTY_COLOR: &str = "#e0e0e0";

/// The smallest and largest `size` drawn (others are clamped to these).
pub const MIN_SIZE: u32 = 16;
pub const MAX_SIZE: u32 = 512;

/// Subsamples per pixel along each axis.
const SUPERSAMPLE: u32 = 4;

const WHITE: [u8; 3] = [255, 255, 255];

/// The counts in the order of [`COLORS`].
pub fn slice_counts(summary: &Summary) -> [u64; 5] {
    [
        summary.passed,
        summary.failed,
        summary.broken,
        summary.skipped,
        summary.unknown,
    ]
}

/// A pie chart of the five counts, `size` × `size` pixels (clamped to
/// [`MIN_SIZE`]..=[`MAX_SIZE`]), RGBA with a transparent background. O(pixels).
///
/// The result is empty only if the PNG encoder fails, which it does not for these sizes.
pub fn pie_chart_png(summary: &Summary, size: u32) -> Vec<u8> {
    let size = size.clamp(MIN_SIZE, MAX_SIZE);
    let pixels = render(summary, size);
    encode(&pixels, size).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the pie chart could not be encoded");
        Vec::new()
    })
}

/// A slice: its colour and where it ends, as a fraction of the turn from 12 o'clock.
struct Slice {
    color: [u8; 3],
    end: f64,
}

fn slices(summary: &Summary) -> Vec<Slice> {
    let counts = slice_counts(summary);
    let sum: u64 = counts.iter().sum();
    if sum == 0 {
        return vec![Slice {
            color: hex(EMPTY_COLOR),
            end: 1.0,
        }];
    }
    let mut running = 0u64;
    let mut out = Vec::with_capacity(counts.len());
    for (count, (_, color)) in counts.into_iter().zip(COLORS) {
        if count == 0 {
            continue;
        }
        running += count;
        out.push(Slice {
            color: hex(color),
            end: running as f64 / sum as f64,
        });
    }
    // The last slice closes the circle exactly, whatever the rounding.
    if let Some(last) = out.last_mut() {
        last.end = 1.0;
    }
    out
}

/// RGBA rows, `size` × `size`.
fn render(summary: &Summary, size: u32) -> Vec<u8> {
    let slices = slices(summary);
    let s = f64::from(size);
    let center = s / 2.0;
    // One pixel of margin keeps the anti-aliased rim inside the image.
    let radius = center - 1.0;
    let radius2 = radius * radius;
    let separator_half = (s * 0.008).max(0.75) / 2.0;
    // Unit vectors of the boundaries between slices (none for a single slice), pointing from
    // the centre; angle 0 is 12 o'clock, growing clockwise (y grows downwards).
    let boundaries: Vec<(f64, f64)> = if slices.len() > 1 {
        std::iter::once(0.0)
            .chain(slices.iter().take(slices.len() - 1).map(|sl| sl.end))
            .map(|t| {
                let a = t * TAU;
                (a.sin(), -a.cos())
            })
            .collect()
    } else {
        Vec::new()
    };

    let n = SUPERSAMPLE;
    let samples = n * n;
    let step = 1.0 / f64::from(n);
    let mut out = Vec::with_capacity((size * size * 4) as usize);
    for py in 0..size {
        for px in 0..size {
            let mut rgb = [0u32; 3];
            let mut covered = 0u32;
            for sy in 0..n {
                let y = f64::from(py) + (f64::from(sy) + 0.5) * step - center;
                for sx in 0..n {
                    let x = f64::from(px) + (f64::from(sx) + 0.5) * step - center;
                    if x * x + y * y > radius2 {
                        continue;
                    }
                    let color = if on_separator(x, y, &boundaries, separator_half) {
                        WHITE
                    } else {
                        slice_color(x, y, &slices)
                    };
                    for (acc, c) in rgb.iter_mut().zip(color) {
                        *acc += u32::from(c);
                    }
                    covered += 1;
                }
            }
            // Colour averaged over the covered subsamples, coverage as alpha; both rounded.
            // Uncovered pixels are transparent white, so a viewer that drops the alpha
            // channel shows a white background rather than black.
            for acc in rgb {
                out.push((acc + covered / 2).checked_div(covered).unwrap_or(255) as u8);
            }
            out.push(((covered * 255 + samples / 2) / samples) as u8);
        }
    }
    out
}

fn on_separator(x: f64, y: f64, boundaries: &[(f64, f64)], half_width: f64) -> bool {
    boundaries.iter().any(|&(ux, uy)| {
        // On the ray's side of the centre, and within half the width of it.
        x * ux + y * uy > -half_width && (x * uy - y * ux).abs() < half_width
    })
}

fn slice_color(x: f64, y: f64, slices: &[Slice]) -> [u8; 3] {
    let mut t = x.atan2(-y) / TAU;
    if t < 0.0 {
        t += 1.0;
    }
    slices
        .iter()
        .find(|sl| t < sl.end)
        .or(slices.last())
        .map_or(WHITE, |sl| sl.color)
}

fn encode(pixels: &[u8], size: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, size, size);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Balanced);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(pixels)?;
        writer.finish()?;
    }
    Ok(bytes)
}

/// `#rrggbb` to bytes (the constants above; anything else is black).
fn hex(color: &str) -> [u8; 3] {
    let digits = color.trim_start_matches('#');
    let byte = |i: usize| {
        digits
            .get(i..i + 2)
            .and_then(|d| u8::from_str_radix(d, 16).ok())
            .unwrap_or(0)
    };
    [byte(0), byte(2), byte(4)]
}
