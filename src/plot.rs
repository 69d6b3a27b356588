//! SVG plots (plotters): target and prediction by sample index, loss curves, heat maps of
//! surfaces.

use std::path::Path;

use plotters::prelude::*;

/// A plot that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    }
}

/// `y` (red) and `y_hat` (green) against the sample index, as in the seed post.
pub fn target_vs_prediction(path: &Path, title: &str, y: &[f64], y_hat: &[f64]) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (lo, hi) = range(y.iter().chain(y_hat).copied());
    let pad = 0.05 * (hi - lo);
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..y.len() as f64, lo - pad..hi + pad)
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .x_desc("sample index")
        .y_desc("y")
        .draw()
        .map_err(|e| err(path, e))?;
    for (data, color, label) in [(y, RED, "y"), (y_hat, GREEN, "y_hat")] {
        c.draw_series(LineSeries::new(
            data.iter().enumerate().map(|(i, &v)| (i as f64, v)),
            color.stroke_width(1),
        ))
        .map_err(|e| err(path, e))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}

/// Training-loss curves of several runs on one chart, log scale.
pub fn loss_curves(path: &Path, title: &str, curves: &[(&str, &[f64])]) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let epochs = curves.iter().map(|(_, c)| c.len()).max().unwrap_or(1).max(2);
    let (lo, hi) = range(curves.iter().flat_map(|(_, c)| c.iter().copied()).filter(|v| *v > 0.0));
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..epochs as f64, (lo * 0.8..hi * 1.25).log_scale())
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .x_desc("epoch")
        .y_desc("training loss (mse)")
        .draw()
        .map_err(|e| err(path, e))?;
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
    ];
    for (k, (name, curve)) in curves.iter().enumerate() {
        let color = palette[k % palette.len()];
        c.draw_series(LineSeries::new(
            curve.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)),
            color.stroke_width(2),
        ))
        .map_err(|e| err(path, e))?
        .label(*name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}

/// A heat map of `values` (row-major, `rows x cols`) over `[x0, x1] x [y0, y1]`, colored on one
/// scale from `lo` to `hi` so several maps can be compared.
#[allow(clippy::too_many_arguments)]
pub fn heat_map(
    path: &Path,
    title: &str,
    values: &[f64],
    rows: usize,
    cols: usize,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    (lo, hi): (f64, f64),
) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (560, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .disable_mesh()
        .x_desc("x1")
        .y_desc("x2")
        .draw()
        .map_err(|e| err(path, e))?;
    let (dx, dy) = ((x1 - x0) / cols as f64, (y1 - y0) / rows as f64);
    c.draw_series((0..rows * cols).map(|k| {
        let (r, q) = (k / cols, k % cols);
        let t = ((values[k] - lo) / (hi - lo)).clamp(0.0, 1.0);
        let color = ViridisRGB::get_color(t);
        let (ax, ay) = (x0 + q as f64 * dx, y0 + r as f64 * dy);
        Rectangle::new([(ax, ay), (ax + dx, ay + dy)], color.filled())
    }))
    .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}
