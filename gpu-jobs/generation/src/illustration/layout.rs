//! Composition: where the horizon, the figures, the heading and the caption band go,
//! for landscape (16:9) and portrait (9:16) frames alike.

/// Most figures drawn in one picture.
pub(crate) const MAX_FIGURES: usize = 5;

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Area {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Area {
    /// Bottom edge.
    #[cfg(test)]
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// Right edge.
    #[cfg(test)]
    pub fn right(&self) -> f32 {
        self.x + self.w
    }
}

/// The composition of one frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    /// Width in pixels.
    pub w: f32,
    /// Height in pixels.
    pub h: f32,
    /// Taller than wide.
    pub portrait: bool,
    /// Size unit: 1.0 for a 720-pixel short side.
    pub u: f32,
    /// Height of the horizon / back of the ground plane.
    pub horizon: f32,
    /// Where the figures' feet stand.
    pub ground: f32,
    /// The caption band.
    pub band: Area,
    /// Side margin for the heading and the figures.
    pub margin: f32,
    /// Largest figure height (feet to top of head).
    pub figure_height: f32,
    /// Height of the name label under a figure.
    pub label_h: f32,
}

impl Frame {
    /// The composition for a `width` x `height` picture.
    pub fn new(width: u32, height: u32) -> Self {
        let w = width as f32;
        let h = height as f32;
        let portrait = h > w * 1.05;
        let u = w.min(h) / 720.0;
        if portrait {
            let band = Area {
                x: 24.0 * u,
                y: h * 0.70,
                w: w - 48.0 * u,
                h: h * 0.175,
            };
            let label_h = 30.0 * u;
            let ground = band.y - label_h - 22.0 * u;
            Frame {
                w,
                h,
                portrait,
                u,
                horizon: h * 0.50,
                ground,
                band,
                margin: 36.0 * u,
                figure_height: (h * 0.24).min(w * 0.6),
                label_h,
            }
        } else {
            let band = Area {
                x: 0.0,
                y: h * 0.79,
                w,
                h: h * 0.21,
            };
            let label_h = 26.0 * u;
            let ground = band.y - label_h - 18.0 * u;
            Frame {
                w,
                h,
                portrait,
                u,
                horizon: h * 0.56,
                ground,
                band,
                margin: 56.0 * u,
                figure_height: (h * 0.31).min(w * 0.3),
                label_h,
            }
        }
    }
}

/// Where one figure stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Slot {
    /// Horizontal centre of the feet.
    pub x: f32,
    /// Height of the feet.
    pub feet: f32,
    /// Figure height in pixels (feet to top of head; hats rise above it).
    pub size: f32,
    /// Widest a name label may be.
    pub label_w: f32,
    /// The figure's bounding box, from hat to name label.
    pub rect: Area,
}

/// Width of a figure relative to its height (arms and robe included).
pub(crate) const FIGURE_ASPECT: f32 = 0.62;
/// Height above the head reserved for hats and crowns, relative to the figure height.
pub(crate) const HEADROOM: f32 = 0.24;

/// Lays out `count` figures (at most [`MAX_FIGURES`]) left to right.
pub(crate) fn figure_slots(width: u32, height: u32, count: usize) -> Vec<Slot> {
    let frame = Frame::new(width, height);
    let n = count.min(MAX_FIGURES);
    if n == 0 {
        return Vec::new();
    }
    let avail = (frame.w - 2.0 * frame.margin).max(1.0);
    let per = avail / n as f32;
    // Room for the figure plus a gap between neighbours.
    let size = frame
        .figure_height
        .min(per / (FIGURE_ASPECT * 1.35))
        .min((frame.ground - frame.h * 0.12) / (1.0 + HEADROOM))
        .max(1.0);
    let spacing = (size * FIGURE_ASPECT * 1.55).min(per);
    let total = spacing * (n as f32 - 1.0);
    let start = frame.w / 2.0 - total / 2.0;
    (0..n)
        .map(|i| {
            let x = start + spacing * i as f32;
            let half = size * FIGURE_ASPECT / 2.0;
            let label_w = spacing.max(size * FIGURE_ASPECT) * 0.96;
            let top = frame.ground - size * (1.0 + HEADROOM);
            let bottom = frame.ground + frame.label_h + 6.0 * frame.u;
            let left = (x - half).min(x - label_w / 2.0);
            let right = (x + half).max(x + label_w / 2.0);
            Slot {
                x,
                feet: frame.ground,
                size,
                label_w,
                rect: Area {
                    x: left,
                    y: top,
                    w: right - left,
                    h: bottom - top,
                },
            }
        })
        .collect()
}
