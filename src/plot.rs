//! SVG plots (feature `plot`, on by default): the loss curves of a [`History`], predictions
//! against targets, and a 2-D function as a heat map with a colour scale. Titles and axis
//! labels are arguments ([`Labels`]).
//!
//! ```
//! use borel::plot::{HeatGrid, Labels, heat_map};
//! let grid = HeatGrid::new(20, 20, (-1.0, 1.0), (-1.0, 1.0));
//! let values = grid.eval(|a, b| a * a + b * b);
//! let path = std::env::temp_dir().join("borel_doc_bowl.svg");
//! heat_map(&path, &values, &grid, Labels::new("a bowl", "a", "b")).unwrap();
//! assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
//! ```

use std::path::Path;

use borel_autograd::{Float, Tensor};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::History;

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

/// A chart's title and the descriptions of its axes.
///
/// ```
/// let l = borel::plot::Labels::new("training loss", "epoch", "mse");
/// assert_eq!((l.title, l.x, l.y), ("training loss", "epoch", "mse"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Labels<'a> {
    /// Drawn above the chart.
    pub title: &'a str,
    /// Under the horizontal axis.
    pub x: &'a str,
    /// Beside the vertical axis.
    pub y: &'a str,
}

impl<'a> Labels<'a> {
    /// A title and the two axis descriptions.
    pub fn new(title: &'a str, x: &'a str, y: &'a str) -> Self {
        Labels { title, x, y }
    }
}

/// The smallest and largest finite values, widened when they coincide; `(0, 1)` when there
/// are none, so that an empty or all-NaN series still draws axes.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    }
}

/// One labelled line: name, color, stroke width, points.
type Line = (String, RGBColor, u32, Vec<(f64, f64)>);

/// Draws each line with its legend entry on `chart`, then the legend, and writes the file:
/// what both line charts share.
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

/// Targets `y` (red) and predictions `y_hat` (green) against the sample index, written as an
/// SVG to `path`. Both are flattened (a `[n, 1]` tensor's `data()` is the usual input).
///
/// # Panics
/// When `y` and `y_hat` differ in length.
///
/// ```
/// use borel::plot::{Labels, target_vs_prediction};
/// let y = [0.0f32, 1.0, 4.0, 9.0];
/// let y_hat = [0.5f32, 1.5, 3.5, 8.0];
/// let path = std::env::temp_dir().join("borel_doc_fit.svg");
/// target_vs_prediction(&path, &y, &y_hat, Labels::new("squares", "sample index", "y")).unwrap();
/// ```
#[track_caller]
pub fn target_vs_prediction<V: Copy + Into<f64>>(
    path: impl AsRef<Path>,
    y: &[V],
    y_hat: &[V],
    labels: Labels<'_>,
) -> Result<(), PlotError> {
    assert_eq!(
        y.len(),
        y_hat.len(),
        "target_vs_prediction: {} targets but {} predictions",
        y.len(),
        y_hat.len()
    );
    let path = path.as_ref();
    let by_index = |d: &[V]| -> Vec<(f64, f64)> { d.iter().enumerate().map(|(i, &v)| (i as f64, v.into())).collect() };
    let (y, y_hat) = (by_index(y), by_index(y_hat));
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (lo, hi) = range(y.iter().chain(&y_hat).map(|p| p.1));
    let pad = 0.05 * (hi - lo);
    let mut c = ChartBuilder::on(&root)
        .caption(labels.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..y.len().max(1) as f64, lo - pad..hi + pad)
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .draw()
        .map_err(|e| err(path, e))?;
    let lines = vec![("y".into(), RED, 1, y), ("y_hat".into(), GREEN, 1, y_hat)];
    named_lines(path, &root, c, lines)
}

/// The training loss per epoch of each named [`History`] on one chart (log scale), with the
/// validation loss as a line of its own where the history has one.
///
/// ```
/// use borel::prelude::*;
/// use borel::plot::{Labels, loss_curves};
/// let mut store = ParamStore::<f32>::new();
/// let net = Sequential::new().add(Dense::new(1).input_dim(1)).build(&mut store, 0);
/// let mut model = Model::new(net, store);
/// model.compile(Loss::Mse, Sgd::new(0.1));
/// let x = Tensor::from_fn(&[16, 1], |i| i as f32 / 16.0);
/// let history = model.fit(&x, &x.map(|v| 3.0 * v), FitOptions::new().epochs(20).batch_size(4)).unwrap();
/// let path = std::env::temp_dir().join("borel_doc_loss.svg");
/// loss_curves(&path, &[("dense", &history)], Labels::new("training", "epoch", "mse")).unwrap();
/// ```
pub fn loss_curves(path: impl AsRef<Path>, runs: &[(&str, &History)], labels: Labels<'_>) -> Result<(), PlotError> {
    let path = path.as_ref();
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (name, h) in runs {
        curves.push((
            name.to_string(),
            h.epochs.iter().map(|e| (e.epoch as f64, e.loss)).collect(),
        ));
        let val: Vec<(f64, f64)> = h
            .epochs
            .iter()
            .filter_map(|e| Some((e.epoch as f64, e.val_loss?)))
            .collect();
        if !val.is_empty() {
            curves.push((format!("{name} (validation)"), val));
        }
    }
    let epochs = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.0))
        .fold(2.0, f64::max);
    // A log axis cannot show zero or negative losses; they are left out of the range.
    let (lo, hi) = range(
        curves
            .iter()
            .flat_map(|(_, c)| c.iter().map(|p| p.1))
            .filter(|v| *v > 0.0),
    );
    let (lo, hi) = if lo > 0.0 { (lo, hi) } else { (1e-3, 1.0) };
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let mut c = ChartBuilder::on(&root)
        .caption(labels.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..epochs, (lo * 0.8..hi * 1.25).log_scale())
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .draw()
        .map_err(|e| err(path, e))?;
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    let lines = curves
        .into_iter()
        .enumerate()
        .map(|(k, (name, points))| (name, palette[k % palette.len()], 2, points))
        .collect();
    named_lines(path, &root, c, lines)
}

/// The cells of a heat map over a rectangle, and the values mapped to the ends of its colour
/// scale. Maps that are to be compared share one grid, scale included.
///
/// ```
/// use borel::plot::HeatGrid;
/// let grid = HeatGrid::new(2, 4, (0.0, 4.0), (0.0, 2.0));
/// assert_eq!((grid.len(), grid.center(5)), (8, (1.5, 1.5)));
/// let points = grid.points::<f32>();        // [8, 2]: feed it to `Model::predict`
/// assert_eq!(points.shape(), &[8, 2]);
/// assert_eq!(grid.eval(|a, b| a + b)[5], 3.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeatGrid {
    /// Cells along the vertical axis.
    pub rows: usize,
    /// Cells along the horizontal axis.
    pub cols: usize,
    /// The horizontal range covered.
    pub x: (f64, f64),
    /// The vertical range covered.
    pub y: (f64, f64),
    /// Values mapped to the ends of the colour scale; `None`: the values' own smallest and
    /// largest.
    pub scale: Option<(f64, f64)>,
}

impl HeatGrid {
    /// `rows` by `cols` cells over `x` by `y`, with the colour scale fitted to the values.
    pub fn new(rows: usize, cols: usize, x: (f64, f64), y: (f64, f64)) -> Self {
        HeatGrid {
            rows,
            cols,
            x,
            y,
            scale: None,
        }
    }

    /// The center of cell `k` (row-major, bottom row first).
    pub fn center(&self, k: usize) -> (f64, f64) {
        let (r, c) = (k / self.cols, k % self.cols);
        let (dx, dy) = self.cell_size();
        (self.x.0 + (c as f64 + 0.5) * dx, self.y.0 + (r as f64 + 0.5) * dy)
    }

    fn cell_size(&self) -> (f64, f64) {
        (
            (self.x.1 - self.x.0) / self.cols as f64,
            (self.y.1 - self.y.0) / self.rows as f64,
        )
    }

    /// Every cell's center as a row of a `[len, 2]` matrix: the inputs at which to evaluate a
    /// model for the map.
    pub fn points<F: Float>(&self) -> Tensor<F> {
        Tensor::from_fn(&[self.len(), 2], |i| {
            let (a, b) = self.center(i / 2);
            F::from_f64(if i % 2 == 0 { a } else { b })
        })
    }

    /// `f` at every cell's center, in cell order.
    pub fn eval(&self, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        (0..self.len()).map(|k| f(self.center(k).0, self.center(k).1)).collect()
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

/// A heat map of `values`, one per cell of `grid` in cell order, with a colour bar (viridis)
/// beside it, written as an SVG to `path`. See [`HeatGrid`] for an example.
///
/// # Panics
/// When `values` does not have one value per cell.
#[track_caller]
pub fn heat_map<V: Copy + Into<f64>>(
    path: impl AsRef<Path>,
    values: &[V],
    grid: &HeatGrid,
    labels: Labels<'_>,
) -> Result<(), PlotError> {
    assert_eq!(
        values.len(),
        grid.len(),
        "heat_map: {} values for a {}x{} grid",
        values.len(),
        grid.rows,
        grid.cols
    );
    let path = path.as_ref();
    let values: Vec<f64> = values.iter().map(|&v| v.into()).collect();
    let scale = grid.scale.unwrap_or_else(|| range(values.iter().copied()));
    let root = SVGBackend::new(path, (640, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let root = root
        .titled(labels.title, ("sans-serif", 18))
        .map_err(|e| err(path, e))?;
    let (map, bar) = root.split_horizontally(540);
    let mut c = ChartBuilder::on(&map)
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(grid.x.0..grid.x.1, grid.y.0..grid.y.1)
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .disable_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .draw()
        .map_err(|e| err(path, e))?;
    let (dx, dy) = grid.cell_size();
    c.draw_series((0..grid.len()).map(|k| {
        let (cx, cy) = grid.center(k);
        let rect = [(cx - dx / 2.0, cy - dy / 2.0), (cx + dx / 2.0, cy + dy / 2.0)];
        Rectangle::new(rect, colour(values[k], scale).filled())
    }))
    .map_err(|e| err(path, e))?;
    colour_bar(path, &bar, scale)?;
    root.present().map_err(|e| err(path, e))
}

/// Viridis over `scale`; values outside are clamped, NaN is grey.
fn colour(v: f64, (lo, hi): (f64, f64)) -> RGBColor {
    if v.is_nan() {
        return RGBColor(160, 160, 160);
    }
    ViridisRGB::get_color(((v - lo) / (hi - lo)).clamp(0.0, 1.0))
}

/// The colour scale as a vertical bar with the values on its axis.
fn colour_bar(path: &Path, area: &DrawingArea<SVGBackend<'_>, Shift>, (lo, hi): (f64, f64)) -> Result<(), PlotError> {
    let mut c = ChartBuilder::on(area)
        .margin_top(12)
        .margin_bottom(47)
        .margin_right(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, lo..hi)
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        // The default label size follows the area's width, unreadable on so narrow a bar.
        .y_label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| err(path, e))?;
    let steps = 64;
    let step = (hi - lo) / steps as f64;
    c.draw_series((0..steps).map(|i| {
        let v = lo + i as f64 * step;
        Rectangle::new([(0.0, v), (1.0, v + step)], colour(v + step / 2.0, (lo, hi)).filled())
    }))
    .map_err(|e| err(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("borel-plot-{}-{name}.svg", std::process::id()))
    }

    #[test]
    fn labels_reach_the_file() {
        let grid = HeatGrid::new(4, 4, (-1.0, 1.0), (-2.0, 2.0));
        let p = svg("heat");
        heat_map(
            &p,
            &grid.eval(|a, b| a - b),
            &grid,
            Labels::new("T-heat", "X-axis", "Y-axis"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        for s in ["T-heat", "X-axis", "Y-axis"] {
            assert!(text.contains(s), "{s} missing");
        }
        let p = svg("fit");
        target_vs_prediction(&p, &[1.0, 2.0], &[1.5, 2.5], Labels::new("T-fit", "idx", "val")).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(["T-fit", "idx", "val", "y_hat"].iter().all(|s| text.contains(s)));
    }

    #[test]
    fn validation_loss_gets_its_own_line() {
        use crate::EpochLog;
        let log = |epoch, val_loss| EpochLog {
            epoch,
            loss: 1.0 / epoch as f64,
            lr: 1e-3,
            accuracy: None,
            val_loss,
            val_accuracy: None,
            seconds: 0.0,
        };
        let with_val = History {
            epochs: vec![log(1, Some(2.0)), log(2, Some(1.0))],
            stopped_early: false,
        };
        let plain = History {
            epochs: vec![log(1, None), log(2, None)],
            stopped_early: false,
        };
        let p = svg("loss");
        loss_curves(
            &p,
            &[("a", &with_val), ("b", &plain)],
            Labels::new("L", "epoch", "loss"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("a (validation)") && !text.contains("b (validation)"));
    }

    #[test]
    fn colours_follow_the_scale() {
        assert_eq!(colour(0.0, (0.0, 1.0)), ViridisRGB::get_color(0.0));
        assert_eq!(colour(5.0, (0.0, 1.0)), ViridisRGB::get_color(1.0));
        assert_eq!(colour(0.5, (0.0, 2.0)), ViridisRGB::get_color(0.25));
        assert_eq!(range([3.0, f64::NAN, 1.0].into_iter()), (1.0, 3.0));
        assert_eq!(range([2.0].into_iter()), (1.0, 3.0));
    }

    #[test]
    #[should_panic(expected = "heat_map: 3 values for a 2x2 grid")]
    fn heat_map_needs_a_value_per_cell() {
        let _ = heat_map(
            svg("bad"),
            &[1.0, 2.0, 3.0],
            &HeatGrid::new(2, 2, (0.0, 1.0), (0.0, 1.0)),
            Labels::default(),
        );
    }
}
