//! Saving part of a rendered frame as PNG (plot export): crop the screenshot to a
//! widget's rectangle and write it atomically.

use std::path::Path;

/// Saves the region `rect` (in points) of `image` (in pixels, `ppp` pixels per point)
/// to `path` as PNG, written to a temp file and renamed.
pub fn save_region(image: &egui::ColorImage, rect: egui::Rect, ppp: f32, path: &Path) -> Result<(), String> {
    let [w, h] = image.size;
    let x0 = ((rect.min.x * ppp).floor().max(0.0) as usize).min(w);
    let y0 = ((rect.min.y * ppp).floor().max(0.0) as usize).min(h);
    let x1 = ((rect.max.x * ppp).ceil().max(0.0) as usize).min(w);
    let y1 = ((rect.max.y * ppp).ceil().max(0.0) as usize).min(h);
    if x1 <= x0 || y1 <= y0 {
        return Err(format!("the region {rect:?} is outside the {w}×{h} frame"));
    }
    let mut bytes = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for c in &image.pixels[y * w + x0..y * w + x1] {
            bytes.extend_from_slice(&c.to_srgba_unmultiplied());
        }
    }
    let img = image::RgbaImage::from_raw((x1 - x0) as u32, (y1 - y0) as u32, bytes).ok_or("cropped image has the wrong size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| format!("encoding PNG: {e}"))?;
    crate::util::atomic_write(path, &png).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_the_region_at_the_pixel_scale() {
        let mut img = egui::ColorImage::filled([8, 6], egui::Color32::BLACK);
        img.pixels[2 * 8 + 4] = egui::Color32::RED; // pixel (4, 2)
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plot.png");
        // Points (2,1)-(4,3) at 2 px/pt = pixels (4,2)-(8,6).
        save_region(&img, egui::Rect::from_min_max(egui::pos2(2.0, 1.0), egui::pos2(4.0, 3.0)), 2.0, &p).unwrap();
        let back = image::open(&p).unwrap().to_rgba8();
        assert_eq!(back.dimensions(), (4, 4));
        assert_eq!(back.get_pixel(0, 0).0, [255, 0, 0, 255]);
        assert_eq!(back.get_pixel(1, 0).0, [0, 0, 0, 255]);
        assert!(save_region(&img, egui::Rect::from_min_max(egui::pos2(20.0, 20.0), egui::pos2(30.0, 30.0)), 1.0, &p).is_err());
    }
}
