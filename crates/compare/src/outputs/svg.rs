//! What every chart of the HTML report shares: text made safe for HTML, round axes, and how
//! wide a label is.

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A linear axis from 0 to at least `max` in steps of 1, 2 or 5 × a power of ten, so that its
/// ticks (3 to 5 of them, 0 included) read as round numbers: (its end, its step).
pub(super) fn axis(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    // A step of at least a quarter of the range gives at most 4 steps; the next round
    // number up is at most 2.5 times that, so at least 2.
    let rough = max / 4.0;
    let power = 10_f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|factor| factor * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power);
    // Less a hair, so that rounding in the division does not add an empty step.
    ((max / step - 1e-9).ceil().max(1.0) * step, step)
}

/// About how wide a line of 10 px sans-serif text is, to keep labels inside the plot.
pub(super) fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * 5.6
}

/// Enough decimals to tell ticks `step` apart: 0 for 500, 1 for 0.5, 2 for 0.05.
pub(super) fn decimals(step: f64) -> usize {
    (-step.log10().floor()).max(0.0) as usize
}
