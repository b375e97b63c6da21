//! Outdoor backgrounds (forest, garden, field, sea, river, city, night sky, sky) and the
//! shared pieces they are built from: skies, sun and moon, stars, clouds, hills, trees.

use std::f32::consts::PI;

use tiny_skia::PathBuilder;

use super::canvas::{Ink, Pen, Rgb, Rng, WHITE, arc_to, band, ellipse, polyline, rrect};
use super::interiors;
use super::layout::Frame;
use super::look::Look;
use super::{Scenery, TimeOfDay};

/// Shared state while one background is drawn.
#[derive(Debug)]
pub(crate) struct Ctx<'f> {
    /// The composition.
    pub f: &'f Frame,
    /// The colour grade.
    pub look: &'f Look,
    /// Random stream for this background.
    pub rng: Rng,
    /// Sky colours (top, middle, horizon), graded.
    pub sky: [Rgb; 3],
    /// Mirror the main features left/right.
    pub flip: bool,
}

impl Ctx<'_> {
    /// Horizontal position `t` of the width, mirrored when the layout is flipped.
    pub fn x(&self, t: f32) -> f32 {
        if self.flip {
            self.f.w * (1.0 - t)
        } else {
            self.f.w * t
        }
    }

    /// A surface colour lit and graded.
    pub fn land(&self, hex: u32) -> Rgb {
        self.look.land(Rgb::hex(hex))
    }

    /// A colour pushed into the distance (towards the horizon sky).
    pub fn far(&self, c: Rgb, t: f32) -> Rgb {
        c.mix(self.sky[2], t)
    }

    /// A colour from the sky palette of the time of day, graded.
    pub fn graded(&self, hex: u32) -> Rgb {
        self.look.grade(Rgb::hex(hex))
    }

    /// True at night.
    pub fn night(&self) -> bool {
        self.look.time == TimeOfDay::Night
    }

    /// Windows and lamps are lit in the evening and at night.
    pub fn lamps_lit(&self) -> bool {
        matches!(self.look.time, TimeOfDay::Evening | TimeOfDay::Night)
    }
}

/// Ungraded sky colours (top, middle, horizon) for a time of day.
pub(crate) fn sky_colors(time: TimeOfDay) -> [u32; 3] {
    match time {
        TimeOfDay::Morning => [0x8db6df, 0xe9d6cf, 0xffe4bd],
        TimeOfDay::Day => [0x3a82d2, 0x82bbe9, 0xd2eaf8],
        TimeOfDay::Evening => [0x2b2d62, 0xb0517a, 0xf6a04e],
        TimeOfDay::Night => [0x040920, 0x0f1a40, 0x283766],
    }
}

/// Draws the background for `scenery`.
pub(crate) fn draw(pen: &mut Pen, scenery: Scenery, frame: &Frame, look: &Look, seed: u64) {
    let mut rng = Rng::new(seed, 0x5ce4e);
    let flip = rng.chance(0.5);
    let sky = sky_colors(look.time).map(|h| look.grade(Rgb::hex(h)));
    let inside = look.interior();
    let look = if matches!(
        scenery,
        Scenery::Room | Scenery::Hall | Scenery::Court | Scenery::Cave
    ) {
        &inside
    } else {
        look
    };
    let mut cx = Ctx {
        f: frame,
        look,
        rng,
        sky,
        flip,
    };
    match scenery {
        Scenery::Forest => forest(pen, &mut cx),
        Scenery::Garden => garden(pen, &mut cx),
        Scenery::Field => field(pen, &mut cx),
        Scenery::Sea => sea(pen, &mut cx),
        Scenery::River => river(pen, &mut cx),
        Scenery::City => city(pen, &mut cx),
        Scenery::NightSky => night_sky(pen, &mut cx),
        Scenery::Sky => sky_scene(pen, &mut cx),
        Scenery::Room => interiors::room(pen, &mut cx),
        Scenery::Hall => interiors::hall(pen, &mut cx),
        Scenery::Court => interiors::court(pen, &mut cx),
        Scenery::Cave => interiors::cave(pen, &mut cx),
    }
}

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

/// Fills `0..y1` with the sky gradient.
pub(crate) fn sky(pen: &mut Pen, cx: &Ctx, x: f32, y0: f32, w: f32, y1: f32) {
    let [top, mid, low] = cx.sky;
    pen.rect(
        x,
        y0,
        w,
        y1 - y0,
        Ink::vertical(y0, y1, &[(0.0, top), (0.62, mid), (1.0, low)]),
    );
}

/// Where the sun or moon sits, and its radius.
pub(crate) fn celestial_spot(cx: &Ctx, horizon: f32) -> (f32, f32, f32) {
    let m = cx.f.w.min(cx.f.h);
    match cx.look.time {
        TimeOfDay::Morning => (cx.x(0.2), horizon * 0.62, m * 0.05),
        TimeOfDay::Day => (cx.x(0.8), horizon * 0.42, m * 0.045),
        TimeOfDay::Evening => (cx.x(0.74), horizon * 0.88, m * 0.075),
        TimeOfDay::Night => (cx.x(0.78), horizon * 0.38, m * 0.05),
    }
}

/// Draws the sun (or the moon at night) at a spot.
pub(crate) fn celestial_at(pen: &mut Pen, cx: &Ctx, x: f32, y: f32, r: f32) {
    match cx.look.time {
        TimeOfDay::Night => moon(pen, cx, x, y, r),
        t => {
            let (core, halo) = match t {
                TimeOfDay::Morning => (0xfff3cf, 0xffd9a0),
                TimeOfDay::Evening => (0xffc46b, 0xff8a3d),
                _ => (0xfffbe6, 0xfff0b0),
            };
            let core = cx.graded(core);
            let halo = cx.graded(halo);
            pen.circle(x, y, r * 5.0, Ink::glow((x, y), r * 5.0, halo, 0.55));
            pen.circle(x, y, r * 1.7, Ink::glow((x, y), r * 1.7, halo, 0.7));
            pen.circle(x, y, r, core);
        }
    }
}

/// The sun or moon at its usual spot; returns where it is.
pub(crate) fn celestial(pen: &mut Pen, cx: &Ctx) -> (f32, f32, f32) {
    let (x, y, r) = celestial_spot(cx, cx.f.horizon);
    celestial_at(pen, cx, x, y, r);
    (x, y, r)
}

/// A full moon with a halo and a few craters.
pub(crate) fn moon(pen: &mut Pen, cx: &Ctx, x: f32, y: f32, r: f32) {
    let glow = cx.look.grade(Rgb::hex(0xc8d6ff));
    pen.circle(x, y, r * 4.5, Ink::glow((x, y), r * 4.5, glow, 0.35));
    let disc = cx.look.grade(Rgb::hex(0xf6f1dc));
    pen.circle(x, y, r, disc);
    let crater = disc.darken(0.14);
    for (dx, dy, cr) in [
        (-0.35, -0.2, 0.22),
        (0.3, 0.25, 0.16),
        (0.1, -0.45, 0.1),
        (-0.1, 0.45, 0.12),
    ] {
        pen.circle(x + dx * r, y + dy * r, cr * r, crater.a(0.6));
    }
    // A soft terminator shadow on one side.
    pen.circle(
        x,
        y,
        r,
        Ink::Linear {
            from: (x - r, y),
            to: (x + r, y),
            stops: vec![(0.0, disc, 0.0), (0.6, disc, 0.0), (1.0, crater, 0.45)],
        },
    );
}

/// A four-pointed sparkle.
fn sparkle(pen: &mut Pen, x: f32, y: f32, r: f32, c: Rgb, a: f32) {
    let k = r * 0.18;
    pen.poly(
        &[
            (x, y - r),
            (x + k, y - k),
            (x + r, y),
            (x + k, y + k),
            (x, y + r),
            (x - k, y + k),
            (x - r, y),
            (x - k, y - k),
        ],
        c.a(a),
    );
    pen.circle(x, y, r * 1.6, Ink::glow((x, y), r * 1.6, c, a * 0.35));
}

/// Scatters stars above `y_max`; `density` 1.0 is a clear night sky.
pub(crate) fn stars(pen: &mut Pen, cx: &mut Ctx, y_max: f32, density: f32) {
    let f = cx.f;
    let n = (((f.w * y_max) / 3000.0 * density) as usize).min(4000);
    let star = cx.look.grade(Rgb::hex(0xfff8e8));
    let mut pb = PathBuilder::new();
    let mut dim = PathBuilder::new();
    for _ in 0..n {
        let x = cx.rng.range(0.0, f.w);
        let y = cx.rng.range(0.0, y_max) * cx.rng.range(0.55, 1.0);
        let r = cx.rng.range(0.5, 1.5) * f.u.max(0.5);
        if cx.rng.chance(0.45) {
            pb.push_circle(x, y, r);
        } else {
            dim.push_circle(x, y, r * 0.8);
        }
    }
    pen.fill(dim.finish(), star.a(0.45));
    pen.fill(pb.finish(), star.a(0.95));
    let sparkles = (n / 40).clamp(3, 12);
    for _ in 0..sparkles {
        let x = cx.rng.range(0.0, f.w);
        let y = cx.rng.range(0.0, y_max * 0.8);
        let r = cx.rng.range(3.0, 7.0) * f.u;
        sparkle(pen, x, y, r, star, cx.rng.range(0.6, 1.0));
    }
}

/// Cloud colours (body, shadow) for the time of day.
fn cloud_colors(cx: &Ctx) -> (Rgb, Rgb, f32) {
    let (body, shade, a) = match cx.look.time {
        TimeOfDay::Morning => (0xfff6ee, 0xe6c4c6, 0.95),
        TimeOfDay::Day => (0xffffff, 0xc6d9ee, 0.97),
        TimeOfDay::Evening => (0xffc89c, 0x9a4f72, 0.95),
        TimeOfDay::Night => (0x3b4676, 0x1c2348, 0.8),
    };
    (cx.graded(body), cx.graded(shade), a)
}

/// The outline of one puffy cloud centred at `(x, y)` of half-width about `s`.
fn cloud_path(rng: &mut Rng, x: f32, y: f32, s: f32) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    let puffs = [
        (-0.85, 0.05, 0.36),
        (-0.4, -0.22, 0.5),
        (0.15, -0.32, 0.58),
        (0.65, -0.08, 0.42),
        (0.95, 0.08, 0.28),
    ];
    for (dx, dy, r) in puffs {
        let j = rng.range(0.85, 1.15);
        pb.push_circle(x + dx * s, y + dy * s, r * s * j);
    }
    if let Some(base) = rrect(x - 1.1 * s, y - 0.05 * s, 2.2 * s, 0.4 * s, 0.2 * s) {
        pb.push_path(&base);
    }
    pb.finish()
}

/// Draws one cloud with a soft shadow underneath.
pub(crate) fn cloud(pen: &mut Pen, cx: &mut Ctx, x: f32, y: f32, s: f32, alpha: f32) {
    let (body, shade, a) = cloud_colors(cx);
    let seed = cx.rng.next_u64();
    let mut r1 = Rng::new(seed, 1);
    let mut r2 = Rng::new(seed, 1);
    pen.fill(
        cloud_path(&mut r1, x + 0.06 * s, y + 0.14 * s, s),
        shade.a(a * alpha * 0.9),
    );
    pen.fill(
        cloud_path(&mut r2, x, y, s),
        Ink::Linear {
            from: (x, y - 0.8 * s),
            to: (x, y + 0.35 * s),
            stops: vec![
                (0.0, body, a * alpha),
                (0.7, body, a * alpha),
                (1.0, body.mix(shade, 0.35), a * alpha),
            ],
        },
    );
}

/// A handful of clouds in the band `y0..y1`.
pub(crate) fn clouds(pen: &mut Pen, cx: &mut Ctx, n: usize, y0: f32, y1: f32, size: f32) {
    let f = cx.f;
    for i in 0..n {
        let slot = (i as f32 + cx.rng.range(0.15, 0.85)) / n as f32;
        let x = f.w * (slot * 1.1 - 0.05);
        let y = cx.rng.range(y0, y1);
        let s = size * cx.rng.range(0.7, 1.25);
        let a = cx.rng.range(0.75, 1.0);
        cloud(pen, cx, x, y, s, a);
    }
}

/// Random rolling crest points across the frame around `y`, amplitude `amp`.
pub(crate) fn crest(cx: &mut Ctx, y: f32, amp: f32, n: usize) -> Vec<(f32, f32)> {
    let w = cx.f.w;
    let n = n.max(2);
    let phase = cx.rng.range(0.0, 2.0 * PI);
    (0..=n)
        .map(|i| {
            let t = i as f32 / n as f32;
            let wave = (phase + t * PI * 2.2).sin() * 0.6 + cx.rng.range(-0.4, 0.4);
            (-0.08 * w + t * 1.16 * w, y - amp * wave)
        })
        .collect()
}

/// Height of a crest line at `x` (linear interpolation of its points).
pub(crate) fn y_at(pts: &[(f32, f32)], x: f32) -> f32 {
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x >= a.0 && x <= b.0 {
            let t = if b.0 > a.0 {
                (x - a.0) / (b.0 - a.0)
            } else {
                0.0
            };
            // Follow the smoothed curve roughly: ease between points.
            let t = t * t * (3.0 - 2.0 * t);
            return a.1 + (b.1 - a.1) * t;
        }
    }
    pts.last().map_or(0.0, |p| p.1)
}

/// A two-tone conifer standing at `(x, base)`, `h` tall.
pub(crate) fn conifer(pen: &mut Pen, x: f32, base: f32, h: f32, c: Rgb, trunk: Rgb, shade: bool) {
    pen.rect(x - h * 0.03, base - h * 0.16, h * 0.06, h * 0.17, trunk);
    let tiers = 3;
    for i in 0..tiers {
        let k = i as f32;
        let bottom = base - h * (0.1 + 0.24 * k);
        let top = bottom - h * (0.5 - 0.06 * k);
        let half = h * (0.3 - 0.07 * k);
        let mut pb = PathBuilder::new();
        pb.move_to(x, top);
        pb.quad_to(
            x + half * 0.35,
            top + (bottom - top) * 0.6,
            x + half,
            bottom,
        );
        pb.quad_to(x, bottom - h * 0.05, x - half, bottom);
        pb.quad_to(x - half * 0.35, top + (bottom - top) * 0.6, x, top);
        pb.close();
        pen.fill(pb.finish(), c);
        if shade {
            let mut lit = PathBuilder::new();
            lit.move_to(x, top);
            lit.quad_to(
                x - half * 0.35,
                top + (bottom - top) * 0.6,
                x - half,
                bottom,
            );
            lit.quad_to(x - half * 0.5, bottom - h * 0.035, x, bottom - h * 0.05);
            lit.close();
            pen.fill(lit.finish(), c.lighten(0.12));
        }
    }
}

/// A round-crowned tree standing at `(x, base)`, `h` tall.
/// `at` is the foot of the trunk and the tree height: `(x, base, h)`.
pub(crate) fn round_tree(
    pen: &mut Pen,
    rng: &mut Rng,
    at: (f32, f32, f32),
    c: Rgb,
    trunk: Rgb,
    shade: bool,
) {
    let (x, base, h) = at;
    pen.poly(
        &[
            (x - h * 0.05, base),
            (x - h * 0.025, base - h * 0.55),
            (x + h * 0.025, base - h * 0.55),
            (x + h * 0.05, base),
        ],
        trunk,
    );
    let cy = base - h * 0.62;
    let r = h * 0.3;
    let mut pb = PathBuilder::new();
    let puffs = [
        (0.0, -0.35, 0.75),
        (-0.55, 0.05, 0.62),
        (0.55, 0.05, 0.62),
        (-0.2, 0.35, 0.6),
        (0.28, 0.32, 0.58),
    ];
    for (dx, dy, pr) in puffs {
        pb.push_circle(x + dx * r, cy + dy * r, pr * r * rng.range(0.9, 1.1));
    }
    pen.fill(pb.finish(), c);
    if shade {
        let mut hl = PathBuilder::new();
        hl.push_circle(x - 0.2 * r, cy - 0.45 * r, 0.45 * r);
        hl.push_circle(x - 0.6 * r, cy - 0.05 * r, 0.35 * r);
        pen.fill(hl.finish(), c.lighten(0.13).a(0.9));
    }
}

/// A clump of grass blades at `(x, y)`.
pub(crate) fn tuft(pen: &mut Pen, rng: &mut Rng, x: f32, y: f32, h: f32, c: Rgb) {
    let mut pb = PathBuilder::new();
    for i in 0..5 {
        let dx = (i as f32 - 2.0) * h * 0.12;
        let lean = rng.range(-0.35, 0.35) * h + dx * 0.8;
        let hh = h * rng.range(0.6, 1.0);
        pb.move_to(x + dx - h * 0.04, y);
        pb.quad_to(x + dx, y - hh * 0.5, x + dx + lean, y - hh);
        pb.quad_to(x + dx + h * 0.02, y - hh * 0.45, x + dx + h * 0.05, y);
        pb.close();
    }
    pen.fill(pb.finish(), c);
}

/// A five-petal flower.
pub(crate) fn flower(pen: &mut Pen, x: f32, y: f32, r: f32, petal: Rgb, heart: Rgb) {
    let mut pb = PathBuilder::new();
    for i in 0..5 {
        let a = i as f32 * 2.0 * PI / 5.0 - PI / 2.0;
        pb.push_circle(x + a.cos() * r * 0.55, y + a.sin() * r * 0.55, r * 0.45);
    }
    pen.fill(pb.finish(), petal);
    pen.circle(x, y, r * 0.3, heart);
}

/// A rose bloom (a spiral of petals) of radius `r`.
pub(crate) fn rose(pen: &mut Pen, x: f32, y: f32, r: f32, c: Rgb) {
    let mut pb = PathBuilder::new();
    for i in 0..5 {
        let a = i as f32 * 2.0 * PI / 5.0;
        pb.push_circle(x + a.cos() * r * 0.45, y + a.sin() * r * 0.45, r * 0.55);
    }
    pen.fill(pb.finish(), c);
    pen.circle(x, y, r * 0.55, c.darken(0.2));
    let mut s = PathBuilder::new();
    s.move_to(x + r * 0.3, y);
    arc_to(&mut s, (x, y), r * 0.3, 0.0, 4.2);
    pen.stroke(s.finish(), c.darken(0.45).a(0.8), r * 0.12);
}

/// A soft light pool or glow.
pub(crate) fn glow(pen: &mut Pen, x: f32, y: f32, r: f32, c: Rgb, a: f32) {
    pen.circle(x, y, r, Ink::glow((x, y), r, c, a));
}

// ---------------------------------------------------------------------------------------
// Sceneries
// ---------------------------------------------------------------------------------------

fn outdoor_sky(pen: &mut Pen, cx: &mut Ctx, cloud_count: usize) -> (f32, f32, f32) {
    let f = cx.f;
    sky(pen, cx, 0.0, 0.0, f.w, f.horizon + f.h * 0.05);
    if cx.night() {
        stars(pen, cx, f.horizon, 1.0);
    } else if cx.look.time == TimeOfDay::Evening {
        stars(pen, cx, f.horizon * 0.35, 0.25);
    }
    let spot = celestial(pen, cx);
    let s = f.w * if f.portrait { 0.1 } else { 0.06 };
    clouds(pen, cx, cloud_count, f.horizon * 0.3, f.horizon * 0.72, s);
    spot
}

fn forest(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    outdoor_sky(pen, cx, 2);
    // Light shafts behind the trees in the morning and daytime.
    if matches!(cx.look.time, TimeOfDay::Morning | TimeOfDay::Day) {
        let light = cx.graded(0xfff4d0);
        for i in 0..4 {
            let x = f.w * (0.15 + 0.22 * i as f32) + cx.rng.range(-0.05, 0.05) * f.w;
            let wdt = f.w * cx.rng.range(0.03, 0.07);
            pen.poly(
                &[
                    (x, 0.0),
                    (x + wdt, 0.0),
                    (x + wdt * 2.5 + f.w * 0.08, f.ground),
                    (x + wdt * 0.8 + f.w * 0.08, f.ground),
                ],
                Ink::Linear {
                    from: (x, 0.0),
                    to: (x, f.ground),
                    stops: vec![(0.0, light, 0.22), (1.0, light, 0.0)],
                },
            );
        }
    }
    let hills = crest(cx, f.horizon - f.h * 0.03, f.h * 0.04, 6);
    pen.fill(
        band(&hills, f.h),
        cx.far(cx.land(0x5d8a6a), 0.55 + 0.1 * f32::from(cx.night())),
    );
    let trunk = cx.land(0x3b2a20);
    let layers = 4;
    let depth = f.ground - f.horizon;
    for k in 0..layers {
        let t = k as f32 / (layers - 1) as f32;
        let base_y = f.horizon + depth * (0.02 + 0.55 * t);
        let tree_h = f.h * (0.16 + 0.3 * t) * if f.portrait { 0.8 } else { 1.0 };
        let green = cx.land(0x2f6b45).mix(cx.land(0x173626), t);
        let col = cx.far(green, 0.55 * (1.0 - t));
        let tcol = cx.far(trunk, 0.55 * (1.0 - t));
        let spacing = tree_h * (0.42 + 0.1 * t);
        let n = ((f.w / spacing) as usize + 2).min(80);
        let offset = cx.rng.range(0.0, spacing);
        for i in 0..n {
            let x = i as f32 * spacing - offset + cx.rng.range(-0.2, 0.2) * spacing;
            let h = tree_h * cx.rng.range(0.75, 1.15);
            let by = base_y + cx.rng.range(0.0, 0.02) * f.h;
            if cx.rng.chance(0.72 - 0.3 * t) {
                conifer(pen, x, by, h, col, tcol, k > 0);
            } else {
                let mut r = Rng::new(cx.rng.next_u64(), 3);
                round_tree(pen, &mut r, (x, by, h), col, tcol, k > 0);
            }
        }
        let floor = cx.land(0x4a6b34).mix(cx.land(0x2a3d1e), t);
        let pts = crest(cx, base_y + f.h * 0.012, f.h * 0.008, 8);
        pen.fill(band(&pts, f.h), cx.far(floor, 0.5 * (1.0 - t)));
    }
    // Forest floor in front.
    let pts = crest(cx, f.ground - f.h * 0.045, f.h * 0.01, 7);
    let floor_top = cx.land(0x55733a);
    let floor_bottom = cx.land(0x2c3e1f);
    pen.fill(
        band(&pts, f.h),
        Ink::vertical(
            f.ground - f.h * 0.06,
            f.h,
            &[(0.0, floor_top), (1.0, floor_bottom)],
        ),
    );
    // Framing trunks with a dark canopy.
    let dark = cx.land(0x1c3524);
    let bark = cx.land(0x3a2a1e);
    for side in [0.035_f32, 0.965] {
        let x = f.w * side + cx.rng.range(-0.015, 0.015) * f.w;
        let tw = f.w.min(f.h) * 0.06;
        pen.poly(
            &[
                (x - tw * 0.5, -2.0),
                (x + tw * 0.5, -2.0),
                (x + tw * 0.7, f.ground + f.h * 0.02),
                (x - tw * 0.7, f.ground + f.h * 0.02),
            ],
            bark,
        );
        pen.poly(
            &[
                (x + tw * 0.1, -2.0),
                (x + tw * 0.5, -2.0),
                (x + tw * 0.7, f.ground + f.h * 0.02),
                (x + tw * 0.25, f.ground + f.h * 0.02),
            ],
            bark.darken(0.3),
        );
        let mut pb = PathBuilder::new();
        for _ in 0..6 {
            let px = x + cx.rng.range(-0.12, 0.12) * f.w;
            let py = cx.rng.range(-0.06, 0.1) * f.h;
            pb.push_circle(px, py, f.w.min(f.h) * cx.rng.range(0.08, 0.14));
        }
        pen.fill(pb.finish(), dark);
    }
    // Undergrowth: tufts, ferns and a few mushrooms.
    let grass = cx.land(0x3f6b2a);
    let grass_light = cx.land(0x6b9a3e);
    let n = ((f.w / (40.0 * f.u)) as usize).min(200);
    for i in 0..n {
        let x = (i as f32 + cx.rng.range(0.0, 1.0)) * f.w / n as f32;
        let y = cx.rng.range(f.ground - f.h * 0.02, f.h);
        let c = if cx.rng.chance(0.5) {
            grass
        } else {
            grass_light
        };
        let mut r = Rng::new(cx.rng.next_u64(), 9);
        tuft(pen, &mut r, x, y, 22.0 * f.u, c);
    }
    let cap = cx.look.land(Rgb::hex(0xc8423a));
    for _ in 0..3 {
        let t = cx.rng.range(0.08, 0.3);
        let x = cx.x(t);
        let y = f.ground + cx.rng.range(-0.01, 0.01) * f.h;
        let s = 10.0 * f.u * cx.rng.range(0.8, 1.3);
        pen.rect(
            x - s * 0.25,
            y - s * 0.9,
            s * 0.5,
            s * 0.9,
            cx.land(0xeadfc8),
        );
        let mut pb = PathBuilder::new();
        pb.move_to(x - s, y - s * 0.8);
        pb.cubic_to(x - s, y - s * 2.0, x + s, y - s * 2.0, x + s, y - s * 0.8);
        pb.close();
        pen.fill(pb.finish(), cap);
        pen.circle(x - s * 0.35, y - s * 1.25, s * 0.17, WHITE.a(0.85));
        pen.circle(x + s * 0.3, y - s * 1.1, s * 0.14, WHITE.a(0.85));
    }
    if cx.night() {
        let fly = cx.look.grade(Rgb::hex(0xe8ff8a));
        for _ in 0..18 {
            let x = cx.rng.range(0.05, 0.95) * f.w;
            let y = cx.rng.range(f.horizon * 0.8, f.ground);
            glow(pen, x, y, 9.0 * f.u, fly, 0.5);
            pen.circle(x, y, 1.6 * f.u, fly);
        }
    }
}

fn garden(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    outdoor_sky(pen, cx, 3);
    // Far trees.
    let tree = cx.far(cx.land(0x4c7f4a), 0.45);
    let trunk = cx.far(cx.land(0x4a382a), 0.45);
    let n = ((f.w / (f.h * 0.07)) as usize + 2).min(60);
    for i in 0..n {
        let x = i as f32 * f.w / (n as f32 - 1.0) + cx.rng.range(-10.0, 10.0) * f.u;
        let h = f.h * cx.rng.range(0.09, 0.16);
        let mut r = Rng::new(cx.rng.next_u64(), 4);
        round_tree(
            pen,
            &mut r,
            (x, f.horizon - f.h * 0.03, h),
            tree,
            trunk,
            false,
        );
    }
    // Lawn with mowing stripes.
    let lawn_far = cx.land(0x86bd5f);
    let lawn_near = cx.land(0x4f8f3a);
    let top = f.horizon - f.h * 0.02;
    pen.rect(
        0.0,
        top,
        f.w,
        f.h - top,
        Ink::vertical(top, f.h, &[(0.0, lawn_far), (1.0, lawn_near)]),
    );
    let vx = f.w / 2.0;
    let stripes = 12;
    for i in (0..stripes).step_by(2) {
        let x0 = -f.w + 3.0 * f.w * i as f32 / stripes as f32;
        let x1 = -f.w + 3.0 * f.w * (i + 1) as f32 / stripes as f32;
        let xa = vx + (x0 - vx) * 0.08;
        let xb = vx + (x1 - vx) * 0.08;
        pen.poly(&[(xa, top), (xb, top), (x1, f.h), (x0, f.h)], WHITE.a(0.05));
    }
    // Hedge wall with an arch.
    let hedge = cx.land(0x2f6a33);
    let hedge_dark = cx.land(0x1f4a24);
    let h_top = f.horizon - f.h * 0.075;
    let h_bot = f.horizon + f.h * 0.005;
    let r = f.h * 0.022;
    let mut pb = PathBuilder::new();
    let mut x = -r;
    while x < f.w + r {
        pb.push_circle(x, h_top + r * 0.4, r * cx.rng.range(0.95, 1.2));
        x += (r * 1.4).max(f.w / 120.0);
    }
    if let Some(rc) = tiny_skia::Rect::from_xywh(-2.0, h_top + r * 0.4, f.w + 4.0, h_bot - h_top) {
        pb.push_rect(rc);
    }
    pen.fill(
        pb.finish(),
        Ink::vertical(h_top, h_bot, &[(0.0, hedge), (1.0, hedge_dark)]),
    );
    // Gravel path in perspective.
    let half_far = f.w.min(f.h) * 0.03;
    let half_near = if f.portrait { f.w * 0.36 } else { f.w * 0.22 };
    let gravel_far = cx.land(0xe6d6b0);
    let gravel_near = cx.land(0xc9b084);
    let path_pts = [
        (vx - half_far, h_bot),
        (vx + half_far, h_bot),
        (vx + half_near, f.h),
        (vx - half_near, f.h),
    ];
    pen.poly(
        &path_pts,
        Ink::vertical(h_bot, f.h, &[(0.0, gravel_far), (1.0, gravel_near)]),
    );
    let edge = cx.land(0x8a7a58);
    pen.line(path_pts[0], path_pts[3], edge.a(0.7), 3.0 * f.u);
    pen.line(path_pts[1], path_pts[2], edge.a(0.7), 3.0 * f.u);
    // Flower beds along the path.
    let petals = [
        cx.look.accent_lit(0),
        cx.look.accent_lit(1),
        cx.land(0xfff4f0),
        cx.land(0xf7c948),
        cx.look.accent_lit(2),
    ];
    let heart = cx.land(0xf7d046);
    let rows = 9;
    for j in 0..rows {
        let t = (j as f32 + 0.5) / rows as f32;
        let t2 = t.powf(1.6);
        let y = h_bot + (f.h - h_bot) * t2;
        let half = half_far + (half_near - half_far) * t2;
        let size = f.u * (4.0 + 14.0 * t2);
        for side in [-1.0_f32, 1.0] {
            let bed_x = vx + side * (half + size * 1.6);
            pen.ellipse(
                bed_x,
                y + size * 0.5,
                size * 2.2,
                size * 0.9,
                hedge_dark.a(0.55),
            );
            for k in 0..3 {
                let fx = bed_x + (k as f32 - 1.0) * size * 1.2 + cx.rng.range(-0.3, 0.3) * size;
                let fy = y + cx.rng.range(-0.4, 0.2) * size;
                let c = petals[cx.rng.index(petals.len())];
                flower(pen, fx, fy, size * 0.8, c, heart);
            }
        }
    }
    // A rose bush on one side, a topiary on the other.
    // In portrait the figures fill the width: the bushes go to the foreground corners.
    let (near_y, near_k) = if f.portrait {
        (f.h * 0.985, 1.5)
    } else {
        (f.ground + f.h * 0.01, 1.0)
    };
    let bush_x = cx.x(0.1);
    let bush_y = near_y;
    let bush_r = f.w.min(f.h) * 0.11 * near_k;
    let mut bb = PathBuilder::new();
    for (dx, dy, rr) in [
        (-0.6, -0.3, 0.55),
        (0.0, -0.65, 0.6),
        (0.6, -0.3, 0.55),
        (-0.3, 0.0, 0.6),
        (0.35, 0.0, 0.6),
    ] {
        bb.push_circle(bush_x + dx * bush_r, bush_y + dy * bush_r, rr * bush_r);
    }
    pen.fill(bb.finish(), hedge);
    pen.circle(
        bush_x - 0.2 * bush_r,
        bush_y - 0.75 * bush_r,
        0.35 * bush_r,
        hedge.lighten(0.1),
    );
    let rose_c = if cx.look.accent_count() > 0 {
        cx.look.accent_lit(0)
    } else {
        cx.land(0xd7263d)
    };
    let rose_c = if rose_c.luma() > 0.75 {
        cx.land(0xd7263d)
    } else {
        rose_c
    };
    for _ in 0..9 {
        let a = cx.rng.range(0.0, 2.0 * PI);
        let d = cx.rng.range(0.1, 0.8) * bush_r;
        rose(
            pen,
            bush_x + a.cos() * d * 1.1,
            bush_y - 0.35 * bush_r + a.sin() * d * 0.75,
            bush_r * 0.16,
            rose_c,
        );
    }
    let tx = cx.x(0.9);
    let ty = near_y;
    let ts = f.w.min(f.h) * 0.1 * near_k;
    pen.rect(tx - ts * 0.05, ty - ts * 1.2, ts * 0.1, ts * 1.2, trunk);
    pen.poly(
        &[
            (tx - ts * 0.45, ty),
            (tx + ts * 0.45, ty),
            (tx + ts * 0.35, ty - ts * 0.4),
            (tx - ts * 0.35, ty - ts * 0.4),
        ],
        cx.land(0xb8643c),
    );
    pen.circle(tx, ty - ts * 1.45, ts * 0.5, hedge);
    pen.circle(
        tx - ts * 0.15,
        ty - ts * 1.6,
        ts * 0.22,
        hedge.lighten(0.12),
    );
}

fn field(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    outdoor_sky(pen, cx, 4);
    let colors = [0x9cc7a4_u32, 0x8fbf5a, 0x74ac48, 0x5c9a3c];
    let ys = [
        f.horizon - f.h * 0.05,
        f.horizon - f.h * 0.01,
        f.horizon + f.h * 0.04,
        f.ground - f.h * 0.07,
    ];
    let mut lines = Vec::new();
    for (k, (&c, &y)) in colors.iter().zip(ys.iter()).enumerate() {
        let amp = f.h * (0.035 - 0.005 * k as f32);
        let pts = crest(cx, y, amp, 4 + k);
        let base = cx.land(c);
        let col = cx.far(base, 0.5 - 0.16 * k as f32);
        pen.fill(
            band(&pts, f.h),
            Ink::vertical(
                y - amp,
                f.h,
                &[(0.0, col.lighten(0.06)), (0.5, col), (1.0, col.darken(0.2))],
            ),
        );
        lines.push(pts);
        if k == 1 {
            // Hedgerow bushes along the ridge.
            let bush = cx.far(cx.land(0x3e6b35), 0.3);
            let mut pb = PathBuilder::new();
            let mut x = cx.rng.range(0.0, 30.0) * f.u;
            while x < f.w {
                let y = y_at(&lines[1], x);
                pb.push_circle(x, y + 2.0 * f.u, f.u * cx.rng.range(4.0, 8.0));
                x += (f.u * cx.rng.range(9.0, 30.0)).max(f.w / 150.0);
            }
            pen.fill(pb.finish(), bush);
        }
        if k == 2 {
            // A lone tree on the middle hill.
            let x = cx.x(0.72);
            let y = y_at(&lines[2], x) + f.h * 0.01;
            let mut r = Rng::new(cx.rng.next_u64(), 5);
            round_tree(
                pen,
                &mut r,
                (x, y, f.h * 0.22),
                cx.land(0x3e7a3a),
                cx.land(0x4a3424),
                true,
            );
        }
    }
    // A wooden fence on the near hill.
    let wood = cx.land(0x8a6440);
    let fence_y = |x: f32| y_at(&lines[3], x) + f.h * 0.015;
    let post_h = f.h * 0.05;
    let span = f.w * 0.42;
    let start = if cx.flip { f.w - span } else { 0.0 };
    let mut x = start;
    let step = (f.u * 46.0).max(f.w / 60.0);
    let mut rails_top = Vec::new();
    let mut rails_mid = Vec::new();
    while x <= start + span {
        let y = fence_y(x);
        pen.rect(x - 2.5 * f.u, y - post_h, 5.0 * f.u, post_h, wood);
        rails_top.push((x, y - post_h * 0.8));
        rails_mid.push((x, y - post_h * 0.4));
        x += step;
    }
    pen.stroke(polyline(&rails_top), wood, 3.5 * f.u);
    pen.stroke(polyline(&rails_mid), wood, 3.5 * f.u);
    // Foreground grass and wildflowers.
    let grass = cx.land(0x3f7a2e);
    let grass_light = cx.land(0x8cc152);
    let n = ((f.w / (16.0 * f.u)) as usize).min(400);
    let top = f.ground - f.h * 0.05;
    for _ in 0..n {
        let x = cx.rng.range(0.0, f.w);
        let y = cx.rng.range(top, f.h);
        let c = if cx.rng.chance(0.6) {
            grass
        } else {
            grass_light
        };
        let mut r = Rng::new(cx.rng.next_u64(), 6);
        tuft(pen, &mut r, x, y, 16.0 * f.u, c);
    }
    let petals = [
        cx.land(0xfdfdf6),
        cx.land(0xf7d046),
        cx.look.accent_lit(0),
        cx.look.accent_lit(1),
    ];
    let heart = cx.land(0xf2a93b);
    for _ in 0..(n / 2) {
        let x = cx.rng.range(0.0, f.w);
        let y = cx.rng.range(f.horizon + f.h * 0.06, f.h);
        let depth = ((y - f.horizon) / (f.h - f.horizon)).clamp(0.1, 1.0);
        let c = petals[cx.rng.index(petals.len())];
        flower(pen, x, y, f.u * 7.0 * depth, c, heart);
    }
}

fn sea(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    sky(pen, cx, 0.0, 0.0, f.w, f.horizon + 2.0);
    if cx.night() {
        stars(pen, cx, f.horizon, 1.0);
    }
    // Long streaky clouds at sunset, puffy ones otherwise.
    if cx.look.time == TimeOfDay::Evening {
        let streak = cx.graded(0xff9f7a);
        for _ in 0..6 {
            let y = cx.rng.range(0.2, 0.75) * f.horizon;
            let x = cx.rng.range(-0.1, 0.8) * f.w;
            let w = cx.rng.range(0.2, 0.45) * f.w;
            let h = f.u * cx.rng.range(5.0, 11.0);
            pen.fill(rrect(x, y, w, h, h / 2.0), streak.a(0.55));
        }
    }
    let (sx, sy, sr) = celestial_spot(cx, f.horizon);
    let sy = match cx.look.time {
        TimeOfDay::Evening => f.horizon - sr * 0.35,
        TimeOfDay::Morning => f.horizon - sr * 1.6,
        _ => sy,
    };
    celestial_at(pen, cx, sx, sy, sr);
    if cx.look.time != TimeOfDay::Evening {
        clouds(
            pen,
            cx,
            3,
            f.horizon * 0.3,
            f.horizon * 0.7,
            f.w.max(f.h) * 0.055,
        );
    }
    // A distant sailboat.
    let bx = cx.x(0.3);
    let by = f.horizon - 1.0;
    let bs = f.u * 16.0;
    let boat = cx.far(cx.land(0x4a3a3a), 0.35);
    pen.poly(
        &[
            (bx - bs, by - bs * 0.3),
            (bx + bs, by - bs * 0.3),
            (bx + bs * 0.7, by + bs * 0.05),
            (bx - bs * 0.7, by + bs * 0.05),
        ],
        boat,
    );
    let sail = cx.far(cx.land(0xfff8ea), 0.2);
    pen.poly(
        &[
            (bx, by - bs * 2.2),
            (bx + bs * 0.85, by - bs * 0.4),
            (bx, by - bs * 0.4),
        ],
        sail,
    );
    pen.poly(
        &[
            (bx - bs * 0.1, by - bs * 1.8),
            (bx - bs * 0.1, by - bs * 0.4),
            (bx - bs * 0.7, by - bs * 0.4),
        ],
        sail.darken(0.1),
    );
    // The water.
    let water_far = cx.land(0x5a9fc4).mix(cx.sky[2], 0.4);
    let water_mid = cx.land(0x2f78a8);
    let water_near = cx.land(0x17456e);
    pen.rect(
        0.0,
        f.horizon,
        f.w,
        f.h - f.horizon,
        Ink::vertical(
            f.horizon,
            f.h,
            &[(0.0, water_far), (0.45, water_mid), (1.0, water_near)],
        ),
    );
    pen.rect(
        0.0,
        f.horizon - 0.5,
        f.w,
        1.5 * f.u,
        cx.sky[2].lighten(0.3).a(0.7),
    );
    // Reflection of the sun or moon.
    let refl = if cx.night() {
        cx.graded(0xe8eeff)
    } else {
        cx.graded(0xffe2a0)
    };
    let rows = 22;
    for k in 0..rows {
        let t = k as f32 / rows as f32;
        let y = f.horizon + (f.h - f.horizon) * t.powf(1.4) + 2.0;
        let half = sr * (0.8 + 2.2 * t) * cx.rng.range(0.5, 1.2);
        let off = cx.rng.range(-0.3, 0.3) * sr;
        let th = f.u * (1.5 + 4.0 * t);
        pen.fill(
            rrect(sx - half + off, y, half * 2.0, th, th / 2.0),
            refl.a(0.7 - 0.45 * t),
        );
    }
    // Wave rows from the horizon to the beach.
    let crest_c = cx.land(0xcfe8f4);
    let wave_rows = 10;
    for j in 1..=wave_rows {
        let t = j as f32 / wave_rows as f32;
        let y = f.horizon + (f.ground - f.horizon) * t.powf(1.5);
        let wl = f.w * (0.015 + 0.07 * t);
        let amp = f.u * (1.0 + 7.0 * t);
        let mut pb = PathBuilder::new();
        let mut x = -cx.rng.range(0.0, wl);
        pb.move_to(x, y);
        while x < f.w + wl {
            pb.quad_to(x + wl * 0.5, y - amp * 2.0, x + wl, y);
            x += wl;
        }
        let line = pb.finish();
        pen.stroke(line, crest_c.a(0.18 + 0.25 * t), f.u * (1.0 + 2.5 * t));
    }
    // The beach where the figures stand.
    let pts = crest(cx, f.ground - f.h * 0.045, f.h * 0.012, 6);
    let wet = cx.land(0xb89a6a);
    let foam: Vec<(f32, f32)> = pts.iter().map(|&(x, y)| (x, y - 3.0 * f.u)).collect();
    pen.fill(band(&foam, f.h), crest_c.a(0.85));
    pen.fill(band(&pts, f.h), wet);
    let dry: Vec<(f32, f32)> = pts.iter().map(|&(x, y)| (x, y + f.h * 0.02)).collect();
    let sand_top = cx.land(0xecd6a4);
    let sand_bot = cx.land(0xd4b07a);
    pen.fill(
        band(&dry, f.h),
        Ink::vertical(
            f.ground - f.h * 0.02,
            f.h,
            &[(0.0, sand_top), (1.0, sand_bot)],
        ),
    );
    // Shells, pebbles and a starfish.
    let pebble = cx.land(0x9c8a74);
    for _ in 0..14 {
        let x = cx.rng.range(0.0, f.w);
        let y = cx.rng.range(f.ground, f.h);
        let s = f.u * cx.rng.range(2.0, 5.0);
        pen.ellipse(x, y, s * 1.4, s, pebble.a(0.8));
    }
    let star_c = cx.look.land(Rgb::hex(0xf08a5d));
    let stx = cx.x(0.85);
    let sty = f.ground + f.h * 0.03;
    let ss = f.u * 14.0;
    pen.fill(
        super::figures::star_path(5, 0.45)
            .and_then(|p| p.transform(tiny_skia::Transform::from_row(ss, 0.0, 0.0, ss, stx, sty))),
        star_c,
    );
}

fn river(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    let (sx, _, sr) = outdoor_sky(pen, cx, 3);
    let hills = crest(cx, f.horizon - f.h * 0.035, f.h * 0.04, 5);
    pen.fill(band(&hills, f.h), cx.far(cx.land(0x6f9a78), 0.5));
    // Far bank with trees.
    let far_bank = f.horizon + f.h * 0.01;
    let tree = cx.far(cx.land(0x3e7442), 0.3);
    let trunk = cx.far(cx.land(0x4a382a), 0.3);
    let n = ((f.w / (f.h * 0.06)) as usize + 2).min(80);
    for i in 0..n {
        if cx.rng.chance(0.3) {
            continue;
        }
        let x = i as f32 * f.w / (n as f32 - 1.0) + cx.rng.range(-8.0, 8.0) * f.u;
        let h = f.h * cx.rng.range(0.07, 0.14);
        let mut r = Rng::new(cx.rng.next_u64(), 8);
        if cx.rng.chance(0.5) {
            conifer(pen, x, far_bank, h, tree, trunk, true);
        } else {
            round_tree(pen, &mut r, (x, far_bank, h), tree, trunk, true);
        }
    }
    let bank_pts = crest(cx, far_bank, f.h * 0.004, 6);
    pen.fill(band(&bank_pts, f.h), cx.far(cx.land(0x5f9a48), 0.2));
    // Water band.
    let w0 = far_bank + f.h * 0.012;
    let w1 = f.ground - f.h * 0.05;
    let water_top = cx.land(0x7fb6d6).mix(cx.sky[2], 0.35);
    let water_bot = cx.land(0x2f6f9a);
    let top_pts = crest(cx, w0, f.h * 0.003, 6);
    pen.fill(
        band(&top_pts, f.h),
        Ink::vertical(w0, w1, &[(0.0, water_top), (1.0, water_bot)]),
    );
    // Reflection of the far trees.
    pen.rect(
        0.0,
        w0,
        f.w,
        (w1 - w0) * 0.25,
        Ink::vertical(
            w0,
            w0 + (w1 - w0) * 0.25,
            &[(0.0, tree.darken(0.2)), (1.0, water_top)],
        ),
    );
    let sparkle_c = cx.graded(0xf4fbff);
    for _ in 0..40 {
        let t = cx.rng.unit();
        let y = w0 + (w1 - w0) * (0.1 + 0.85 * t);
        let x = cx.rng.range(0.0, f.w);
        let len = f.u * (8.0 + 30.0 * t);
        pen.line(
            (x, y),
            (x + len, y),
            sparkle_c.a(0.25 + 0.2 * t),
            f.u * (1.0 + t),
        );
    }
    let refl = if cx.night() {
        cx.graded(0xe8eeff)
    } else {
        cx.graded(0xffe6b0)
    };
    for k in 0..8 {
        let t = k as f32 / 8.0;
        let y = w0 + (w1 - w0) * (0.2 + 0.75 * t);
        let half = sr * (0.6 + 1.2 * t) * cx.rng.range(0.6, 1.1);
        pen.line((sx - half, y), (sx + half, y), refl.a(0.55), f.u * 2.5);
    }
    // Lily pads.
    let pad = cx.land(0x4f9a4a);
    for _ in 0..4 {
        let x = cx.rng.range(0.05, 0.95) * f.w;
        let y = w0 + (w1 - w0) * cx.rng.range(0.45, 0.9);
        let s = f.u * cx.rng.range(9.0, 15.0);
        pen.ellipse(x, y, s, s * 0.35, pad);
        if cx.rng.chance(0.5) {
            pen.circle(x, y - s * 0.2, s * 0.28, cx.land(0xf7b8d0));
        }
    }
    // Near bank.
    let near_pts = crest(cx, w1, f.h * 0.008, 7);
    let mud: Vec<(f32, f32)> = near_pts.iter().map(|&(x, y)| (x, y - 2.5 * f.u)).collect();
    pen.fill(band(&mud, f.h), cx.land(0x7a5f3e));
    let grass_top = cx.land(0x6fae4a);
    let grass_bot = cx.land(0x3d7a2e);
    pen.fill(
        band(&near_pts, f.h),
        Ink::vertical(w1, f.h, &[(0.0, grass_top), (1.0, grass_bot)]),
    );
    // Reeds and cattails.
    let reed = cx.land(0x4a7a30);
    let head = cx.land(0x6b4226);
    for cluster in [0.06_f32, 0.93] {
        let base_x = cx.x(cluster);
        for i in 0..7 {
            let x = base_x + (i as f32 - 3.0) * 7.0 * f.u + cx.rng.range(-3.0, 3.0) * f.u;
            let y = w1 + f.h * 0.01;
            let h = f.h * cx.rng.range(0.08, 0.15);
            let lean = cx.rng.range(-0.2, 0.2) * h;
            let mut pb = PathBuilder::new();
            pb.move_to(x, y);
            pb.quad_to(x, y - h * 0.6, x + lean, y - h);
            pen.stroke(pb.finish(), reed, 2.5 * f.u);
            if i % 2 == 0 {
                let hx = x + lean * 0.85;
                let hy = y - h * 0.9;
                pen.fill(
                    rrect(hx - 3.5 * f.u, hy, 7.0 * f.u, h * 0.22, 3.5 * f.u),
                    head,
                );
            }
        }
    }
    let grass = cx.land(0x3f7a2e);
    let n = ((f.w / (30.0 * f.u)) as usize).min(300);
    for _ in 0..n {
        let x = cx.rng.range(0.0, f.w);
        let y = cx.rng.range(w1 + f.h * 0.02, f.h);
        let mut r = Rng::new(cx.rng.next_u64(), 10);
        tuft(pen, &mut r, x, y, 14.0 * f.u, grass);
    }
}

fn city(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    sky(pen, cx, 0.0, 0.0, f.w, f.horizon + f.h * 0.05);
    if cx.night() {
        stars(pen, cx, f.horizon * 0.8, 0.7);
    }
    celestial(pen, cx);
    if !cx.night() {
        clouds(
            pen,
            cx,
            3,
            f.horizon * 0.2,
            f.horizon * 0.5,
            f.w.max(f.h) * 0.05,
        );
    }
    let street_top = f.ground - f.h * 0.055;
    let lit = cx.look.grade(Rgb::hex(0xffd27a));
    // Far skyline.
    let far = cx.far(cx.land(0x5f6f92), 0.5);
    let mut x = -cx.rng.range(0.0, 30.0) * f.u;
    while x < f.w {
        let bw = (f.w.min(f.h) * cx.rng.range(0.05, 0.1)).max(f.w / 40.0);
        let bh = f.h * cx.rng.range(0.12, 0.3);
        let base = street_top - f.h * 0.02;
        pen.rect(x, base - bh, bw + 1.0, bh + f.h * 0.05, far);
        if cx.rng.chance(0.25) {
            pen.poly(
                &[
                    (x + bw * 0.35, base - bh),
                    (x + bw * 0.5, base - bh - bh * 0.35),
                    (x + bw * 0.65, base - bh),
                ],
                far,
            );
        } else if cx.rng.chance(0.2) {
            pen.circle(x + bw * 0.5, base - bh, bw * 0.3, far);
        }
        if cx.lamps_lit() {
            let mut pb = PathBuilder::new();
            let rows = ((bh / (9.0 * f.u)) as usize).min(60);
            for r in 1..rows {
                for c in 0..3 {
                    if cx.rng.chance(0.3) {
                        let wx = x + bw * (0.2 + 0.28 * c as f32);
                        let wy = base - bh + r as f32 * 9.0 * f.u;
                        if let Some(rc) = tiny_skia::Rect::from_xywh(wx, wy, 2.5 * f.u, 3.5 * f.u) {
                            pb.push_rect(rc);
                        }
                    }
                }
            }
            pen.fill(pb.finish(), lit.a(0.55));
        }
        x += bw;
    }
    // Near buildings.
    let facades = [
        0xa0524a_u32,
        0xc9a878,
        0x5f6b7a,
        0xd8cdb8,
        0x4f7f86,
        0x8a6a9a,
    ];
    let mut x = -cx.rng.range(0.0, 0.05) * f.w;
    let mut idx = cx.rng.index(facades.len());
    let mut count = 0usize;
    while x < f.w {
        let bw = if f.portrait {
            f.w * cx.rng.range(0.2, 0.32)
        } else {
            f.w * cx.rng.range(0.09, 0.15)
        };
        let bh = (street_top - f.h * 0.12) * cx.rng.range(0.45, 0.85);
        let top = street_top - bh;
        idx = (idx + 1 + cx.rng.index(2)) % facades.len();
        let face = cx.land(facades[idx]);
        let side = face.darken(0.25);
        pen.rect(x, top, bw, bh + 1.0, face);
        pen.rect(x + bw * 0.9, top, bw * 0.1, bh + 1.0, side);
        // Roof.
        let roof = cx.land(0x3d3b4a);
        match cx.rng.index(3) {
            0 => {
                pen.poly(
                    &[
                        (x - bw * 0.03, top),
                        (x + bw * 0.5, top - bw * 0.35),
                        (x + bw * 1.03, top),
                    ],
                    roof,
                );
                pen.rect(x + bw * 0.7, top - bw * 0.35, bw * 0.1, bw * 0.2, roof);
            }
            1 => {
                pen.poly(
                    &[
                        (x - bw * 0.02, top),
                        (x + bw * 0.12, top - bw * 0.22),
                        (x + bw * 0.88, top - bw * 0.22),
                        (x + bw * 1.02, top),
                    ],
                    roof,
                );
                let dormer = face.lighten(0.1);
                pen.rect(x + bw * 0.42, top - bw * 0.18, bw * 0.16, bw * 0.14, dormer);
            }
            _ => {
                pen.rect(
                    x - bw * 0.02,
                    top - f.u * 6.0,
                    bw * 1.04,
                    f.u * 6.0,
                    face.lighten(0.15),
                );
            }
        }
        // Windows.
        let cols = if bw > 120.0 * f.u { 4 } else { 3 };
        let ww = bw * 0.7 / cols as f32 * 0.6;
        let wh = ww * 1.5;
        let gap_x = (bw * 0.8 - ww * cols as f32) / (cols as f32 - 1.0);
        let rows = (((bh - wh * 2.5) / (wh * 1.9)).max(0.0) as usize).min(80);
        let glass = cx.land(0x9fc4de);
        let dark = cx.land(0x2a3448);
        let mut lit_pb = PathBuilder::new();
        let mut dark_pb = PathBuilder::new();
        for r in 0..rows {
            for c in 0..cols {
                let wx = x + bw * 0.07 + c as f32 * (ww + gap_x);
                let wy = top + wh * 0.9 + r as f32 * wh * 1.9;
                let on = match cx.look.time {
                    TimeOfDay::Night => cx.rng.chance(0.55),
                    TimeOfDay::Evening => cx.rng.chance(0.35),
                    _ => false,
                };
                if let Some(rc) = tiny_skia::Rect::from_xywh(wx, wy, ww, wh) {
                    if on {
                        lit_pb.push_rect(rc);
                    } else {
                        dark_pb.push_rect(rc);
                    }
                }
            }
        }
        let win_c = if cx.lamps_lit() { dark } else { glass };
        pen.fill(dark_pb.finish(), win_c);
        if let Some(p) = lit_pb.finish() {
            if cx.night() {
                pen.stroke(Some(p.clone()), lit.a(0.2), ww * 0.25);
            }
            pen.fill(Some(p), lit);
        }
        // Shop front with an awning on some buildings.
        if count.is_multiple_of(2) {
            let aw_y = street_top - f.h * 0.09;
            let stripe_a = cx.look.accent_lit(count / 2);
            let stripe_b = cx.land(0xf4efe4);
            let n_str = 6;
            let sw = bw * 0.8 / n_str as f32;
            for s in 0..n_str {
                let c = if s % 2 == 0 { stripe_a } else { stripe_b };
                let sx = x + bw * 0.08 + s as f32 * sw;
                pen.poly(
                    &[
                        (sx, aw_y),
                        (sx + sw, aw_y),
                        (sx + sw * 1.05, aw_y + f.h * 0.03),
                        (sx + sw * 0.05, aw_y + f.h * 0.03),
                    ],
                    c,
                );
            }
            let door_c = if cx.lamps_lit() {
                lit.mix(face, 0.3)
            } else {
                dark
            };
            pen.rect(
                x + bw * 0.15,
                aw_y + f.h * 0.035,
                bw * 0.6,
                street_top - aw_y - f.h * 0.035,
                door_c,
            );
        } else {
            pen.fill(
                rrect(
                    x + bw * 0.38,
                    street_top - f.h * 0.07,
                    bw * 0.22,
                    f.h * 0.07,
                    bw * 0.1,
                ),
                cx.land(0x4a3020),
            );
        }
        x += bw;
        count += 1;
    }
    // Pavement and road.
    let pave = cx.land(0xb8b2a8);
    pen.rect(
        0.0,
        street_top,
        f.w,
        f.ground + f.h * 0.03 - street_top,
        Ink::vertical(
            street_top,
            f.ground,
            &[(0.0, pave.darken(0.1)), (1.0, pave)],
        ),
    );
    let curb = f.ground + f.h * 0.03;
    pen.rect(0.0, curb, f.w, 4.0 * f.u, pave.lighten(0.2));
    let road = cx.land(0x3a3d45);
    pen.rect(0.0, curb + 4.0 * f.u, f.w, f.h - curb, road);
    let mut x = 0.0;
    let mark = cx.land(0xe8e0c8);
    while x < f.w {
        pen.rect(x, curb + f.h * 0.07, f.w * 0.05, 4.0 * f.u, mark.a(0.7));
        x += f.w * 0.1;
    }
    // Street lamps.
    let post = cx.land(0x23252e);
    let lamps = if f.portrait { 2 } else { 3 };
    for i in 0..lamps {
        let lx = f.w * (0.08 + 0.84 * i as f32 / (lamps as f32 - 1.0));
        let ly = f.ground + f.h * 0.01;
        let lh = f.h * if f.portrait { 0.2 } else { 0.3 };
        pen.rect(lx - 2.5 * f.u, ly - lh, 5.0 * f.u, lh, post);
        pen.rect(lx - 6.0 * f.u, ly - 8.0 * f.u, 12.0 * f.u, 8.0 * f.u, post);
        let head_y = ly - lh - 10.0 * f.u;
        pen.poly(
            &[
                (lx - 10.0 * f.u, head_y),
                (lx + 10.0 * f.u, head_y),
                (lx + 6.0 * f.u, head_y + 14.0 * f.u),
                (lx - 6.0 * f.u, head_y + 14.0 * f.u),
            ],
            if cx.lamps_lit() {
                lit
            } else {
                post.lighten(0.3)
            },
        );
        pen.poly(
            &[
                (lx - 12.0 * f.u, head_y),
                (lx, head_y - 8.0 * f.u),
                (lx + 12.0 * f.u, head_y),
            ],
            post,
        );
        if cx.lamps_lit() {
            glow(pen, lx, head_y + 6.0 * f.u, 70.0 * f.u, lit, 0.45);
            pen.ellipse(lx, ly, 60.0 * f.u, 10.0 * f.u, lit.a(0.18));
        }
    }
}

fn night_sky(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    let top = cx.look.grade(Rgb::hex(0x030716));
    let mid = cx.look.grade(Rgb::hex(0x0d1838));
    let low = if cx.look.time == TimeOfDay::Evening {
        cx.look.grade(Rgb::hex(0x6a3a6a))
    } else {
        cx.look.grade(Rgb::hex(0x24345f))
    };
    pen.rect(
        0.0,
        0.0,
        f.w,
        f.h,
        Ink::vertical(
            0.0,
            f.horizon + f.h * 0.1,
            &[(0.0, top), (0.6, mid), (1.0, low)],
        ),
    );
    // Milky way: a diagonal haze of soft ellipses and a crowd of tiny stars.
    let haze = cx.look.grade(Rgb::hex(0xb9b0ff));
    let (x0, y0) = (cx.x(-0.05), f.horizon * 0.95);
    let (x1, y1) = (cx.x(1.05), f.h * 0.02);
    let mut dust = PathBuilder::new();
    for i in 0..40 {
        let t = i as f32 / 39.0;
        let x = x0 + (x1 - x0) * t + cx.rng.range(-0.04, 0.04) * f.w;
        let y = y0 + (y1 - y0) * t + cx.rng.range(-0.04, 0.04) * f.h;
        let r = f.w.min(f.h) * cx.rng.range(0.05, 0.1);
        pen.circle(x, y, r, Ink::glow((x, y), r, haze, 0.1));
        for _ in 0..12 {
            let dx = cx.rng.range(-1.0, 1.0) * r;
            let dy = cx.rng.range(-1.0, 1.0) * r;
            dust.push_circle(x + dx, y + dy, f.u * cx.rng.range(0.3, 0.8));
        }
    }
    pen.fill(dust.finish(), WHITE.a(0.6));
    stars(pen, cx, f.horizon, 1.6);
    // A big crescent moon.
    let (mx, my, mr) = (cx.x(0.76), f.horizon * 0.42, f.w.min(f.h) * 0.075);
    let moon_c = cx.look.grade(Rgb::hex(0xfff3c8));
    glow(
        pen,
        mx,
        my,
        mr * 5.0,
        cx.look.grade(Rgb::hex(0xc8d6ff)),
        0.3,
    );
    pen.fill(
        super::figures::crescent_path()
            .and_then(|p| p.transform(tiny_skia::Transform::from_row(mr, 0.0, 0.0, mr, mx, my))),
        moon_c,
    );
    // A shooting star.
    let t = cx.rng.range(0.15, 0.45);
    let sx = cx.x(t);
    let sy = f.horizon * cx.rng.range(0.15, 0.35);
    let len = f.w.min(f.h) * 0.18;
    let dir = if cx.flip { -1.0 } else { 1.0 };
    pen.line(
        (sx, sy),
        (sx - dir * len, sy - len * 0.35),
        Ink::Linear {
            from: (sx, sy),
            to: (sx - dir * len, sy - len * 0.35),
            stops: vec![(0.0, WHITE, 0.9), (1.0, WHITE, 0.0)],
        },
        2.5 * f.u,
    );
    pen.circle(sx, sy, 2.5 * f.u, WHITE);
    // Hills, trees and a cottage with a lit window.
    let far = crest(cx, f.horizon + f.h * 0.02, f.h * 0.05, 5);
    pen.fill(band(&far, f.h), cx.look.grade(Rgb::hex(0x141c3a)));
    let near = crest(cx, f.ground - f.h * 0.06, f.h * 0.03, 4);
    let hill = cx.look.grade(Rgb::hex(0x0b1026));
    for i in 0..5 {
        let t = 0.05 + 0.07 * i as f32 + cx.rng.range(0.0, 0.03);
        let x = cx.x(t);
        let y = y_at(&near, x) + 4.0 * f.u;
        let h = f.h * cx.rng.range(0.1, 0.18);
        conifer(pen, x, y, h, hill, hill, false);
    }
    let hx = cx.x(0.82);
    let hy = y_at(&near, hx) + 6.0 * f.u;
    let hs = f.w.min(f.h) * 0.07;
    pen.rect(hx - hs, hy - hs, hs * 2.0, hs, hill);
    pen.poly(
        &[
            (hx - hs * 1.2, hy - hs),
            (hx, hy - hs * 1.8),
            (hx + hs * 1.2, hy - hs),
        ],
        hill,
    );
    pen.rect(hx + hs * 0.45, hy - hs * 1.75, hs * 0.25, hs * 0.5, hill);
    let win = cx.look.grade(Rgb::hex(0xffc96b));
    glow(pen, hx - hs * 0.4, hy - hs * 0.55, hs * 1.2, win, 0.35);
    pen.rect(hx - hs * 0.6, hy - hs * 0.75, hs * 0.4, hs * 0.35, win);
    pen.rect(
        hx + hs * 0.1,
        hy - hs * 0.75,
        hs * 0.3,
        hs * 0.35,
        win.darken(0.2),
    );
    pen.fill(band(&near, f.h), hill);
    let grass = cx.look.grade(Rgb::hex(0x10183a));
    let n = ((f.w / (30.0 * f.u)) as usize).min(300);
    for _ in 0..n {
        let x = cx.rng.range(0.0, f.w);
        let y = cx.rng.range(f.ground - f.h * 0.02, f.h);
        let mut r = Rng::new(cx.rng.next_u64(), 11);
        tuft(pen, &mut r, x, y, 16.0 * f.u, grass);
    }
}

fn sky_scene(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    sky(pen, cx, 0.0, 0.0, f.w, f.h);
    if cx.night() {
        stars(pen, cx, f.ground, 1.0);
    }
    celestial(pen, cx);
    // Distant cloud layers, hazier further away.
    let s = f.w.max(f.h) * 0.05;
    clouds(pen, cx, 5, f.horizon * 0.25, f.horizon * 0.6, s * 0.7);
    clouds(pen, cx, 4, f.horizon * 0.6, f.horizon * 0.95, s);
    // A hot-air balloon.
    let bx = cx.x(0.18);
    let by = f.horizon * 0.55;
    let br = f.w.min(f.h) * 0.05;
    let env_a = cx.look.accent_lit(0);
    let env_b = cx.look.accent_lit(1);
    let mut pb = PathBuilder::new();
    pb.move_to(bx, by + br * 1.5);
    pb.cubic_to(
        bx - br * 1.6,
        by + br * 0.4,
        bx - br * 1.2,
        by - br * 1.2,
        bx,
        by - br * 1.2,
    );
    pb.cubic_to(
        bx + br * 1.2,
        by - br * 1.2,
        bx + br * 1.6,
        by + br * 0.4,
        bx,
        by + br * 1.5,
    );
    pb.close();
    pen.fill(pb.finish(), env_a);
    pen.fill(ellipse(bx, by, br * 0.45, br * 1.2), env_b);
    pen.line(
        (bx - br * 0.35, by + br * 1.2),
        (bx - br * 0.25, by + br * 1.9),
        cx.land(0x4a3a2a),
        1.5 * f.u,
    );
    pen.line(
        (bx + br * 0.35, by + br * 1.2),
        (bx + br * 0.25, by + br * 1.9),
        cx.land(0x4a3a2a),
        1.5 * f.u,
    );
    pen.rect(
        bx - br * 0.3,
        by + br * 1.9,
        br * 0.6,
        br * 0.45,
        cx.land(0x8a5a2b),
    );
    // Birds.
    if !cx.night() {
        let bird = cx.look.grade(Rgb::hex(0x2a2a3a));
        for _ in 0..5 {
            let x = cx.rng.range(0.3, 0.9) * f.w;
            let y = cx.rng.range(0.25, 0.6) * f.horizon;
            let s = f.u * cx.rng.range(6.0, 11.0);
            let mut b = PathBuilder::new();
            b.move_to(x - s, y - s * 0.3);
            b.quad_to(x - s * 0.4, y - s * 0.6, x, y);
            b.quad_to(x + s * 0.4, y - s * 0.6, x + s, y - s * 0.3);
            pen.stroke(b.finish(), bird.a(0.8), 1.8 * f.u);
        }
    }
    // The cloud bank the figures stand on.
    let (body, shade, _) = cloud_colors(cx);
    let body = body.mix(Rgb::hex(0xffffff), 0.3);
    let top = f.ground - f.h * 0.05;
    let mut back = PathBuilder::new();
    let mut front = PathBuilder::new();
    let mut x = -f.w * 0.05;
    while x < f.w * 1.05 {
        let r = f.w.min(f.h) * cx.rng.range(0.07, 0.12);
        back.push_circle(x, top - r * 0.1 + f.h * 0.01, r);
        front.push_circle(x + r * 0.6, top + r * 0.55, r * 0.9);
        x += (r * 1.2).max(f.w / 80.0);
    }
    if let Some(rc) = tiny_skia::Rect::from_xywh(-2.0, top + f.h * 0.02, f.w + 4.0, f.h) {
        front.push_rect(rc);
    }
    pen.fill(back.finish(), shade);
    pen.fill(
        front.finish(),
        Ink::vertical(top, f.h, &[(0.0, body), (1.0, body.mix(shade, 0.5))]),
    );
}
