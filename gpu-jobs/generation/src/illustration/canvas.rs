//! Drawing primitives shared by the scenery, the figures and the text: colours,
//! inks (solid or gradient), path helpers, a transformable pen and a tiny PRNG.

use tiny_skia::{
    Color, FillRule, GradientStop, LineCap, LineJoin, LinearGradient, Paint, Path, PathBuilder,
    Pixmap, Point, RadialGradient, Rect, Shader, SpreadMode, Stroke, Transform,
};

/// A colour with `f32` channels in `0..=1` (sRGB, not premultiplied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rgb {
    pub r: f32,
    pub g: f32,
    pub b: f32,
}

/// Pure white.
pub(crate) const WHITE: Rgb = Rgb::new(1.0, 1.0, 1.0);
/// Pure black.
pub(crate) const BLACK: Rgb = Rgb::new(0.0, 0.0, 0.0);

impl Rgb {
    /// A colour from three channels in `0..=1`.
    pub const fn new(r: f32, g: f32, b: f32) -> Self {
        Self { r, g, b }
    }

    /// A colour from a `0xRRGGBB` literal.
    pub const fn hex(v: u32) -> Self {
        Self::new(
            ((v >> 16) & 0xff) as f32 / 255.0,
            ((v >> 8) & 0xff) as f32 / 255.0,
            (v & 0xff) as f32 / 255.0,
        )
    }

    /// A colour from 8-bit channels.
    pub fn from_u8(c: [u8; 3]) -> Self {
        Self::new(
            f32::from(c[0]) / 255.0,
            f32::from(c[1]) / 255.0,
            f32::from(c[2]) / 255.0,
        )
    }

    /// Linear interpolation towards `other` (`t = 0` keeps `self`).
    pub fn mix(self, other: Rgb, t: f32) -> Rgb {
        Rgb::new(
            self.r + (other.r - self.r) * t,
            self.g + (other.g - self.g) * t,
            self.b + (other.b - self.b) * t,
        )
    }

    /// Channel-wise product.
    pub fn mul(self, other: Rgb) -> Rgb {
        Rgb::new(self.r * other.r, self.g * other.g, self.b * other.b)
    }

    /// Multiplies every channel by `k`.
    pub fn scale(self, k: f32) -> Rgb {
        Rgb::new(self.r * k, self.g * k, self.b * k)
    }

    /// Mixes towards white.
    pub fn lighten(self, t: f32) -> Rgb {
        self.mix(WHITE, t)
    }

    /// Mixes towards black.
    pub fn darken(self, t: f32) -> Rgb {
        self.mix(BLACK, t)
    }

    /// Perceived brightness (Rec. 601 weights).
    pub fn luma(self) -> f32 {
        0.299 * self.r + 0.587 * self.g + 0.114 * self.b
    }

    /// Scales the distance from grey: `s < 1` desaturates, `s > 1` saturates.
    pub fn saturate(self, s: f32) -> Rgb {
        let l = self.luma();
        Rgb::new(
            l + (self.r - l) * s,
            l + (self.g - l) * s,
            l + (self.b - l) * s,
        )
    }

    /// Clamps every channel into `0..=1` (NaN becomes 0).
    pub fn clamped(self) -> Rgb {
        let c = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        Rgb::new(c(self.r), c(self.g), c(self.b))
    }

    /// The colour as 8-bit channels.
    pub fn to_u8(self) -> [u8; 3] {
        let c = self.clamped();
        let q = |v: f32| (v * 255.0).round() as u8;
        [q(c.r), q(c.g), q(c.b)]
    }

    /// A tiny-skia colour with the given opacity.
    pub fn color(self, alpha: f32) -> Color {
        let [r, g, b] = self.to_u8();
        let a = if alpha.is_nan() {
            0.0
        } else {
            alpha.clamp(0.0, 1.0)
        };
        Color::from_rgba8(r, g, b, (a * 255.0).round() as u8)
    }

    /// A translucent solid ink of this colour.
    pub fn a(self, alpha: f32) -> Ink {
        Ink::Solid(self, alpha)
    }
}

/// How a shape is coloured.
#[derive(Debug, Clone)]
pub(crate) enum Ink {
    /// One colour with an opacity.
    Solid(Rgb, f32),
    /// A linear gradient from `from` to `to` through `(offset, colour, opacity)` stops.
    Linear {
        from: (f32, f32),
        to: (f32, f32),
        stops: Vec<(f32, Rgb, f32)>,
    },
    /// A radial gradient around `center` through `(offset, colour, opacity)` stops.
    Radial {
        center: (f32, f32),
        radius: f32,
        stops: Vec<(f32, Rgb, f32)>,
    },
}

impl From<Rgb> for Ink {
    fn from(c: Rgb) -> Self {
        Ink::Solid(c, 1.0)
    }
}

impl Ink {
    /// A vertical gradient between two heights.
    pub fn vertical(y0: f32, y1: f32, stops: &[(f32, Rgb)]) -> Ink {
        Ink::Linear {
            from: (0.0, y0),
            to: (0.0, y1),
            stops: stops.iter().map(|&(o, c)| (o, c, 1.0)).collect(),
        }
    }

    /// A radial glow: `color` at `alpha` in the centre fading to nothing.
    pub fn glow(center: (f32, f32), radius: f32, color: Rgb, alpha: f32) -> Ink {
        Ink::Radial {
            center,
            radius,
            stops: vec![
                (0.0, color, alpha),
                (0.35, color, alpha * 0.55),
                (1.0, color, 0.0),
            ],
        }
    }

    fn shader(&self) -> Option<Shader<'static>> {
        let stops = |s: &[(f32, Rgb, f32)]| -> Vec<GradientStop> {
            s.iter()
                .map(|&(o, c, a)| GradientStop::new(o.clamp(0.0, 1.0), c.color(a)))
                .collect()
        };
        match self {
            Ink::Solid(c, a) => Some(Shader::SolidColor(c.color(*a))),
            Ink::Linear { from, to, stops: s } => LinearGradient::new(
                Point::from_xy(from.0, from.1),
                Point::from_xy(to.0, to.1),
                stops(s),
                SpreadMode::Pad,
                Transform::identity(),
            ),
            Ink::Radial {
                center,
                radius,
                stops: s,
            } => {
                let c = Point::from_xy(center.0, center.1);
                RadialGradient::new(
                    c,
                    c,
                    *radius,
                    stops(s),
                    SpreadMode::Pad,
                    Transform::identity(),
                )
            }
        }
    }

    fn paint(&self) -> Option<Paint<'static>> {
        let shader = self.shader()?;
        Some(Paint {
            shader,
            anti_alias: true,
            ..Paint::default()
        })
    }
}

/// A pen: the pixmap plus the transform from local drawing units to pixels.
#[derive(Debug)]
pub(crate) struct Pen<'a> {
    pixmap: &'a mut Pixmap,
    transform: Transform,
}

impl<'a> Pen<'a> {
    /// A pen drawing in pixel coordinates.
    pub fn new(pixmap: &'a mut Pixmap) -> Self {
        Self {
            pixmap,
            transform: Transform::identity(),
        }
    }

    /// A pen whose local units are mapped through `t` first, then through this pen's transform.
    pub fn sub(&mut self, t: Transform) -> Pen<'_> {
        Pen {
            transform: self.transform.pre_concat(t),
            pixmap: self.pixmap,
        }
    }

    /// Height of the canvas in pixels.
    pub fn height(&self) -> f32 {
        self.pixmap.height() as f32
    }

    /// Fills a path (nonzero winding); a missing path draws nothing.
    pub fn fill(&mut self, path: Option<Path>, ink: impl Into<Ink>) {
        if let (Some(path), Some(paint)) = (path, ink.into().paint()) {
            self.pixmap
                .fill_path(&path, &paint, FillRule::Winding, self.transform, None);
        }
    }

    /// Fills a path with the even-odd rule.
    pub fn fill_even_odd(&mut self, path: Option<Path>, ink: impl Into<Ink>) {
        if let (Some(path), Some(paint)) = (path, ink.into().paint()) {
            self.pixmap
                .fill_path(&path, &paint, FillRule::EvenOdd, self.transform, None);
        }
    }

    /// Strokes a path with round caps and joins; `width` is in local units.
    pub fn stroke(&mut self, path: Option<Path>, ink: impl Into<Ink>, width: f32) {
        if width <= 0.0 {
            return;
        }
        if let (Some(path), Some(paint)) = (path, ink.into().paint()) {
            let stroke = Stroke {
                width,
                line_cap: LineCap::Round,
                line_join: LineJoin::Round,
                ..Stroke::default()
            };
            self.pixmap
                .stroke_path(&path, &paint, &stroke, self.transform, None);
        }
    }

    /// Fills then outlines a path: the outline is drawn first (twice as wide) so the
    /// fill keeps its full size and the shape gets a crisp border.
    pub fn outlined(&mut self, path: Option<Path>, fill: impl Into<Ink>, line: Rgb, width: f32) {
        if let Some(p) = path {
            self.stroke(Some(p.clone()), line, width * 2.0);
            self.fill(Some(p), fill);
        }
    }

    /// Fills an axis-aligned rectangle.
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, ink: impl Into<Ink>) {
        self.fill(rect(x, y, w, h), ink);
    }

    /// Fills a circle.
    pub fn circle(&mut self, cx: f32, cy: f32, r: f32, ink: impl Into<Ink>) {
        self.fill(circle(cx, cy, r), ink);
    }

    /// Fills an ellipse.
    pub fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, ink: impl Into<Ink>) {
        self.fill(ellipse(cx, cy, rx, ry), ink);
    }

    /// Fills a polygon.
    pub fn poly(&mut self, pts: &[(f32, f32)], ink: impl Into<Ink>) {
        self.fill(poly(pts), ink);
    }

    /// Strokes a straight segment.
    pub fn line(&mut self, a: (f32, f32), b: (f32, f32), ink: impl Into<Ink>, width: f32) {
        self.stroke(polyline(&[a, b]), ink, width);
    }
}

/// A closed polygon.
pub(crate) fn poly(pts: &[(f32, f32)]) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let (first, rest) = pts.split_first()?;
    pb.move_to(first.0, first.1);
    for p in rest {
        pb.line_to(p.0, p.1);
    }
    pb.close();
    pb.finish()
}

/// An open polyline.
pub(crate) fn polyline(pts: &[(f32, f32)]) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let (first, rest) = pts.split_first()?;
    pb.move_to(first.0, first.1);
    for p in rest {
        pb.line_to(p.0, p.1);
    }
    pb.finish()
}

/// An axis-aligned rectangle.
pub(crate) fn rect(x: f32, y: f32, w: f32, h: f32) -> Option<Path> {
    Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect)
}

/// A circle.
pub(crate) fn circle(cx: f32, cy: f32, r: f32) -> Option<Path> {
    PathBuilder::from_circle(cx, cy, r)
}

/// An ellipse.
pub(crate) fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32) -> Option<Path> {
    Rect::from_xywh(cx - rx, cy - ry, 2.0 * rx, 2.0 * ry).and_then(PathBuilder::from_oval)
}

/// A rectangle with rounded corners of radius `r`.
pub(crate) fn rrect(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<Path> {
    let r = r.min(w / 2.0).min(h / 2.0).max(0.0);
    let k = 0.552_284_8 * r;
    let mut pb = PathBuilder::new();
    pb.move_to(x + r, y);
    pb.line_to(x + w - r, y);
    pb.cubic_to(x + w - r + k, y, x + w, y + r - k, x + w, y + r);
    pb.line_to(x + w, y + h - r);
    pb.cubic_to(x + w, y + h - r + k, x + w - r + k, y + h, x + w - r, y + h);
    pb.line_to(x + r, y + h);
    pb.cubic_to(x + r - k, y + h, x, y + h - r + k, x, y + h - r);
    pb.line_to(x, y + r);
    pb.cubic_to(x, y + r - k, x + r - k, y, x + r, y);
    pb.close();
    pb.finish()
}

/// Appends a circular arc (as cubic segments) to a builder that already has a current point
/// at the arc's start; angles in radians, screen orientation (y down).
pub(crate) fn arc_to(pb: &mut PathBuilder, c: (f32, f32), r: f32, a0: f32, a1: f32) {
    let sweep = a1 - a0;
    let n = ((sweep.abs() / (std::f32::consts::FRAC_PI_2)).ceil() as usize).max(1);
    let step = sweep / n as f32;
    let k = 4.0 / 3.0 * (step / 4.0).tan();
    for i in 0..n {
        let s = a0 + step * i as f32;
        let e = s + step;
        let (ss, cs) = s.sin_cos();
        let (se, ce) = e.sin_cos();
        pb.cubic_to(
            c.0 + r * (cs - k * ss),
            c.1 + r * (ss + k * cs),
            c.0 + r * (ce + k * se),
            c.1 + r * (se - k * ce),
            c.0 + r * ce,
            c.1 + r * se,
        );
    }
}

/// An open circular arc.
pub(crate) fn arc(c: (f32, f32), r: f32, a0: f32, a1: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(c.0 + r * a0.cos(), c.1 + r * a0.sin());
    arc_to(&mut pb, c, r, a0, a1);
    pb.finish()
}

/// A closed path through the points, smoothed with quadratic curves between midpoints.
pub(crate) fn blob(pts: &[(f32, f32)]) -> Option<Path> {
    let n = pts.len();
    if n < 3 {
        return poly(pts);
    }
    let mid = |a: (f32, f32), b: (f32, f32)| ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let mut pb = PathBuilder::new();
    let start = mid(pts[n - 1], pts[0]);
    pb.move_to(start.0, start.1);
    for i in 0..n {
        let p = pts[i];
        let m = mid(p, pts[(i + 1) % n]);
        pb.quad_to(p.0, p.1, m.0, m.1);
    }
    pb.close();
    pb.finish()
}

/// A band whose top edge runs through `top` (left to right, smoothed) and which is
/// closed along the horizontal line `bottom`.
pub(crate) fn band(top: &[(f32, f32)], bottom: f32) -> Option<Path> {
    let (first, _) = top.split_first()?;
    let last = top.last()?;
    let mut pb = PathBuilder::new();
    pb.move_to(first.0, bottom);
    pb.line_to(first.0, first.1);
    for w in top.windows(2) {
        let (a, b) = (w[0], w[1]);
        let m = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        pb.quad_to(a.0, a.1, m.0, m.1);
    }
    pb.line_to(last.0, last.1);
    pb.line_to(last.0, bottom);
    pb.close();
    pb.finish()
}

/// Deterministic splitmix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed` mixed with a stream label, so that parts of a picture
    /// draw from independent sequences.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..1`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// Uniform index in `0..n` (0 when `n == 0`).
    pub fn index(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// A stable 64-bit hash of a string (FNV-1a), used to derive seeds from names.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
