//! The charts' colours, chosen for contrast against white (WCAG AA: 4.5:1
//! for text, 3:1 for lines and markers); the tests compute the ratios.
//! Series also differ by dash and marker shape, and the legend names
//! each, so colour never carries meaning alone.

/// Axis labels, captions, legend text.
pub const TEXT: &str = "#4b5563";
/// Grid lines: decoration, deliberately faint.
pub const GRID: &str = "#e5e7eb";
/// The x axis' base line: decoration, like the grid (the labels carry it).
pub const AXIS: &str = "#9ca3af";
/// The measured value (and an objective's progress).
pub const VALUE: &str = "#1d4ed8";
/// The expected pace: a dashed neutral line.
pub const PACE: &str = "#6b7280";
/// The target line and its label.
pub const TARGET: &str = "#b45309";
/// The forecast's dashed line; its band is the same hue, faint.
pub const FORECAST: &str = "#7c3aed";
/// Held values: hollow markers.
pub const HELD: &str = "#b91c1c";
/// The "now" marker and its label.
pub const NOW: &str = "#374151";
/// Sustain windows that met the rule, and those that did not.
pub const WINDOW_OK: &str = "#15803d";
pub const WINDOW_MISS: &str = "#b91c1c";

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG 2 contrast ratio of `hex` ("#rrggbb") against white.
    fn contrast_on_white(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
        1.05 / (l + 0.05)
    }

    #[test]
    fn text_colours_reach_4_5_and_line_colours_3_against_white() {
        for c in [TEXT, TARGET, NOW, VALUE, FORECAST, HELD] {
            assert!(contrast_on_white(c) >= 4.5, "{c}: {}", contrast_on_white(c));
        }
        for c in [PACE, WINDOW_OK, WINDOW_MISS] {
            assert!(contrast_on_white(c) >= 3.0, "{c}");
        }
        assert!(contrast_on_white(GRID) < 1.5, "the grid stays faint");
    }
}
