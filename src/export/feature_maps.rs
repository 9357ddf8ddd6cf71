//! Conv feature maps as pictures: the `[C, H, W]` activations of one sample become one PNG,
//! a grid of `C` tiles (row-major by channel), each map stretched to its own min..max and
//! coloured with viridis, enlarged with nearest-neighbour pixels so small maps stay visible.

/// Viridis anchors at 0, 0.25, 0.5, 0.75 and 1 (matplotlib's values), linearly interpolated.
const VIRIDIS: [[f32; 3]; 5] = [
    [68.0, 1.0, 84.0],
    [59.0, 82.0, 139.0],
    [33.0, 145.0, 140.0],
    [94.0, 201.0, 98.0],
    [253.0, 231.0, 37.0],
];

/// Background between tiles.
const GAP_COLOUR: [u8; 3] = [24, 24, 24];
/// Pixels between tiles and around the grid.
const GAP: usize = 2;
/// Tiles are enlarged to about this many pixels on their longer side.
const TILE: usize = 96;

fn colour(t: f32) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f32;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    [0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * f).round() as u8)
}

/// The size of the grid picture for `channels` maps of `h × w`: (width, height, columns).
pub fn grid_size(channels: usize, h: usize, w: usize) -> (usize, usize, usize) {
    let cols = (channels as f64).sqrt().ceil().max(1.0) as usize;
    let rows = channels.div_ceil(cols).max(1);
    let s = (TILE / h.max(w).max(1)).max(1);
    (GAP + cols * (w * s + GAP), GAP + rows * (h * s + GAP), cols)
}

/// PNG bytes of the grid of `maps` (row-major `[channels, h, w]`).
pub fn grid_png(maps: &[f32], channels: usize, h: usize, w: usize) -> Result<Vec<u8>, String> {
    if maps.len() != channels * h * w || maps.is_empty() {
        return Err(format!(
            "feature maps of {} values do not have shape [{channels}, {h}, {w}]",
            maps.len()
        ));
    }
    let (width, height, cols) = grid_size(channels, h, w);
    let s = (TILE / h.max(w).max(1)).max(1);
    let mut rgb = GAP_COLOUR.repeat(width * height);
    for (c, map) in maps.chunks(h * w).enumerate() {
        let (lo, hi) = map
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        // A constant map (a dead ReLU channel) is drawn in the lowest colour.
        let span = if hi > lo { hi - lo } else { 1.0 };
        let (x0, y0) = (
            GAP + (c % cols) * (w * s + GAP),
            GAP + (c / cols) * (h * s + GAP),
        );
        for y in 0..h * s {
            for x in 0..w * s {
                let v = map[(y / s) * w + x / s];
                let px = ((y0 + y) * width + x0 + x) * 3;
                rgb[px..px + 3].copy_from_slice(&colour((v - lo) / span));
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_shape_and_colours() {
        // 5 maps → 3 columns, 2 rows; 4×4 maps enlarged 24×.
        assert_eq!(grid_size(5, 4, 4), (2 + 3 * 98, 2 + 2 * 98, 3));
        assert_eq!(colour(0.0), [68, 1, 84]);
        assert_eq!(colour(1.0), [253, 231, 37]);
        assert!(grid_png(&[0.0; 3], 1, 2, 2).is_err());
        let bytes = grid_png(&(0..80).map(|i| i as f32).collect::<Vec<_>>(), 5, 4, 4).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
