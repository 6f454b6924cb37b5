//! Attention heatmaps: a square matrix of weights turned into a texture (a
//! perceptual ramp on √(w / p99), saturating above the 99th percentile so the
//! first tokens, which early rows must attend to, do not wash out the rest; masked cells in a neutral grey, optional
//! max-pooling to a small size for thumbnails) and a zoomable, pannable view of
//! one that reports the cell under the pointer.

use egui::{Color32, ColorImage, Rect, Sense, TextureHandle, TextureOptions, Ui, pos2, vec2};

/// Stops of the colour ramp (dark purple to pale yellow, an inferno-like ramp).
const RAMP: [[u8; 3]; 6] = [[8, 6, 28], [66, 10, 104], [147, 38, 103], [221, 81, 58], [252, 165, 10], [250, 248, 170]];
/// Quantile of the open cells' weights at the top of the colour ramp.
const SCALE_QUANTILE: f32 = 0.99;
/// Smallest part of the matrix a zoomed view shows (in cells).
const MIN_CELLS_IN_VIEW: f32 = 6.0;

/// The ramp's colour at `t` in 0..=1.
pub fn ramp(t: f32) -> Color32 {
    let t = t.clamp(0.0, 1.0) * (RAMP.len() - 1) as f32;
    let i = (t.floor() as usize).min(RAMP.len() - 2);
    let f = t - i as f32;
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * f).round() as u8;
    Color32::from_rgb(mix(RAMP[i][0], RAMP[i + 1][0]), mix(RAMP[i][1], RAMP[i + 1][1]), mix(RAMP[i][2], RAMP[i + 1][2]))
}

/// A heatmap image of the `n`×`n` row-major `weights`, max-pooled into at most
/// `max_px` pixels a side (blocks of `ceil(n / max_px)` cells; a block is masked only
/// when all its cells are). Returns the image and the block size.
pub fn heat_image(weights: &[f32], n: usize, masked: &dyn Fn(usize, usize) -> bool, masked_colour: Color32, max_px: usize) -> (ColorImage, usize) {
    let block = n.div_ceil(max_px.max(1)).max(1);
    let side = n.div_ceil(block).max(1);
    let mut open: Vec<f32> = Vec::with_capacity(n * n / 2 + n);
    for r in 0..n {
        for c in 0..n {
            if !masked(r, c) {
                open.push(weights.get(r * n + c).copied().unwrap_or(0.0));
            }
        }
    }
    let vmax = scale_top(&mut open);
    let mut pixels = Vec::with_capacity(side * side);
    for br in 0..side {
        for bc in 0..side {
            let (mut best, mut any_open) = (0.0f32, false);
            for r in br * block..((br + 1) * block).min(n) {
                for c in bc * block..((bc + 1) * block).min(n) {
                    if !masked(r, c) {
                        any_open = true;
                        best = best.max(weights.get(r * n + c).copied().unwrap_or(0.0));
                    }
                }
            }
            pixels.push(if any_open { ramp((best / vmax).min(1.0).sqrt()) } else { masked_colour });
        }
    }
    (ColorImage::new([side, side], pixels), block)
}

/// The value mapped to the top of the ramp: the 99th percentile of `values` (their
/// maximum when there are few), 1 when all are zero.
fn scale_top(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 1.0;
    }
    let k = ((values.len() as f32 * SCALE_QUANTILE) as usize).min(values.len() - 1);
    let (_, v, _) = values.select_nth_unstable_by(k, f32::total_cmp);
    if *v > 0.0 {
        return *v;
    }
    let max = values.iter().copied().fold(0.0, f32::max);
    if max > 0.0 { max } else { 1.0 }
}

/// Uploads an image as a texture with crisp (nearest) sampling.
pub fn texture(ui: &Ui, name: &str, image: ColorImage) -> TextureHandle {
    ui.ctx().load_texture(name, image, TextureOptions::NEAREST)
}

/// The visible part of a zoomable matrix view, in 0..=1 texture coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoomView {
    pub uv: Rect,
}

impl Default for ZoomView {
    fn default() -> Self {
        ZoomView { uv: Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)) }
    }
}

impl ZoomView {
    /// Whether the whole matrix is shown.
    pub fn is_reset(&self) -> bool {
        *self == ZoomView::default()
    }

    /// Zooms by `factor` (>1 = in) keeping texture point `at` under the pointer.
    fn zoom(&mut self, factor: f32, at: egui::Pos2, n: usize) {
        let min_span = (MIN_CELLS_IN_VIEW / n.max(1) as f32).min(1.0);
        let span = (self.uv.width() / factor).clamp(min_span, 1.0);
        let fx = (at.x - self.uv.min.x) / self.uv.width();
        let fy = (at.y - self.uv.min.y) / self.uv.height();
        let min = pos2(at.x - fx * span, at.y - fy * span);
        self.uv = Rect::from_min_size(min, vec2(span, span));
        self.clamp();
    }

    fn pan(&mut self, delta_uv: egui::Vec2) {
        self.uv = self.uv.translate(delta_uv);
        self.clamp();
    }

    fn clamp(&mut self) {
        let s = self.uv.width().min(1.0);
        let x = self.uv.min.x.clamp(0.0, 1.0 - s);
        let y = self.uv.min.y.clamp(0.0, 1.0 - s);
        self.uv = Rect::from_min_size(pos2(x, y), vec2(s, s));
    }

    /// Screen x (or y) of the boundary before cell `i` of `n` in `rect`.
    pub fn cell_edge(&self, rect: Rect, i: usize, n: usize, vertical: bool) -> f32 {
        let u = i as f32 / n.max(1) as f32;
        if vertical {
            rect.top() + (u - self.uv.min.y) / self.uv.height() * rect.height()
        } else {
            rect.left() + (u - self.uv.min.x) / self.uv.width() * rect.width()
        }
    }
}

/// Draws `tex` (an n×n matrix) into a `side`×`side` square with zoom (wheel or pinch),
/// pan (drag) and reset (double-click); returns the response and the (row, column)
/// under the pointer.
pub fn zoomable_matrix(ui: &mut Ui, tex: &TextureHandle, n: usize, side: f32, view: &mut ZoomView) -> (egui::Response, Rect, Option<(usize, usize)>) {
    let (rect, response) = ui.allocate_exact_size(vec2(side, side), Sense::click_and_drag());
    if response.hovered() {
        let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
        let factor = zoom * (scroll * 0.003).exp();
        if (factor - 1.0).abs() > 1e-4
            && let Some(p) = response.hover_pos()
        {
            view.zoom(factor, to_uv(view, rect, p), n);
        }
    }
    if response.dragged() {
        let d = response.drag_delta();
        view.pan(vec2(-d.x / rect.width() * view.uv.width(), -d.y / rect.height() * view.uv.height()));
    }
    if response.double_clicked() {
        *view = ZoomView::default();
    }
    ui.painter().image(tex.id(), rect, view.uv, Color32::WHITE);
    let cell = response.hover_pos().filter(|p| rect.contains(*p)).map(|p| {
        let uv = to_uv(view, rect, p);
        let at = |u: f32| ((u * n as f32).floor() as usize).min(n.saturating_sub(1));
        (at(uv.y), at(uv.x))
    });
    (response, rect, cell)
}

fn to_uv(view: &ZoomView, rect: Rect, p: egui::Pos2) -> egui::Pos2 {
    pos2(
        view.uv.min.x + (p.x - rect.left()) / rect.width() * view.uv.width(),
        view.uv.min.y + (p.y - rect.top()) / rect.height() * view.uv.height(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_keeps_the_largest_weight_and_masks_whole_blocks() {
        // 4×4 lower-triangular; pooled 2×2 blocks.
        let w: Vec<f32> = (0..16).map(|i| if i % 4 <= i / 4 { (i + 1) as f32 } else { 0.0 }).collect();
        let masked = |r: usize, c: usize| c > r;
        let grey = Color32::from_gray(60);
        let (img, block) = heat_image(&w, 4, &masked, grey, 2);
        assert_eq!((img.size, block), ([2, 2], 2));
        // Top-right block is all masked; bottom-right holds the maximum (16) -> brightest.
        assert_eq!(img.pixels[1], grey);
        assert_eq!(img.pixels[3], ramp(1.0));
        let (full, block) = heat_image(&w, 4, &masked, grey, 64);
        assert_eq!((full.size, block), ([4, 4], 1));
        assert_eq!(full.pixels[0], ramp((1.0f32 / 16.0).sqrt()));
    }

    #[test]
    fn zoom_keeps_the_point_under_the_pointer_and_stays_inside() {
        let mut v = ZoomView::default();
        v.zoom(2.0, pos2(0.5, 0.5), 100);
        assert!((v.uv.width() - 0.5).abs() < 1e-6 && (v.uv.center().x - 0.5).abs() < 1e-6);
        v.pan(vec2(10.0, 10.0));
        assert!((v.uv.max.x - 1.0).abs() < 1e-6 && (v.uv.max.y - 1.0).abs() < 1e-6);
        v.zoom(1000.0, pos2(0.9, 0.9), 100);
        assert!((v.uv.width() - 0.06).abs() < 1e-6, "at most 6 cells: {}", v.uv.width());
    }
}
