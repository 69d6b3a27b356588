//! SVG plots (plotters): target and prediction by sample index, loss curves, heat maps of
//! surfaces.

use std::path::Path;

use plotters::coord::Shift;
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

/// One labelled line: name, color, stroke width, points.
type Line = (String, RGBColor, u32, Vec<(f64, f64)>);

/// Draws each `(name, color, points)` as a labelled line on `chart`, then its legend, and
/// writes the file: what both line charts share.
fn named_lines<'a, X, Y>(
    path: &Path,
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    lines: Vec<Line>,
) -> Result<(), PlotError>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (name, color, width, points) in lines {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(width)))
            .map_err(|e| err(path, e))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
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
    let by_index = |d: &[f64]| d.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect();
    named_lines(
        path,
        &root,
        c,
        vec![
            ("y".into(), RED, 1, by_index(y)),
            ("y_hat".into(), GREEN, 1, by_index(y_hat)),
        ],
    )
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
    let lines = curves
        .iter()
        .enumerate()
        .map(|(k, (name, curve))| {
            let points = curve.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect();
            (name.to_string(), palette[k % palette.len()], 2, points)
        })
        .collect();
    named_lines(path, &root, c, lines)
}

/// Where a heat map's cells lie and how values map to colors, shared by maps that are to be
/// compared.
#[derive(Clone, Copy, Debug)]
pub struct HeatGrid {
    /// Cells along x2 (rows) and x1 (columns).
    pub rows: usize,
    /// Cells along x1.
    pub cols: usize,
    /// The x1 range covered.
    pub x: (f64, f64),
    /// The x2 range covered.
    pub y: (f64, f64),
    /// Values mapped to the ends of the color scale.
    pub scale: (f64, f64),
}

impl HeatGrid {
    /// The center of cell `k` (row-major, rows along x2).
    pub fn center(&self, k: usize) -> (f64, f64) {
        let (r, c) = (k / self.cols, k % self.cols);
        let (dx, dy) = (
            (self.x.1 - self.x.0) / self.cols as f64,
            (self.y.1 - self.y.0) / self.rows as f64,
        );
        (self.x.0 + (c as f64 + 0.5) * dx, self.y.0 + (r as f64 + 0.5) * dy)
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the grid has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A heat map of `values`, one per cell of `grid` (row-major).
pub fn heat_map(path: &Path, title: &str, values: &[f64], grid: &HeatGrid) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (560, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(grid.x.0..grid.x.1, grid.y.0..grid.y.1)
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .disable_mesh()
        .x_desc("x1")
        .y_desc("x2")
        .draw()
        .map_err(|e| err(path, e))?;
    let (dx, dy) = (
        (grid.x.1 - grid.x.0) / grid.cols as f64,
        (grid.y.1 - grid.y.0) / grid.rows as f64,
    );
    let (lo, hi) = grid.scale;
    c.draw_series((0..grid.len()).map(|k| {
        let (cx, cy) = grid.center(k);
        let t = ((values[k] - lo) / (hi - lo)).clamp(0.0, 1.0);
        let rect = [(cx - dx / 2.0, cy - dy / 2.0), (cx + dx / 2.0, cy + dy / 2.0)];
        Rectangle::new(rect, ViridisRGB::get_color(t).filled())
    }))
    .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}
