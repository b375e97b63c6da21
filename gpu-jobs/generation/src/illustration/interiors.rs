//! Indoor and enclosed backgrounds: room, hall, court (drawn in one-point perspective)
//! and cave.

use std::f32::consts::PI;

use tiny_skia::{PathBuilder, Transform};

use super::canvas::{Ink, Pen, Rgb, Rng, arc_to, band, blob, rrect};
use super::scenery::{self, Ctx, celestial_at, crest, glow};
use super::{TimeOfDay, figures};

/// One-point perspective: world `x` (left/right), `y` (down, floor at `1`), `z` (depth).
#[derive(Debug, Clone, Copy)]
struct Persp {
    cx: f32,
    vy: f32,
    s: f32,
    /// Depth of the back wall.
    zb: f32,
    /// Half width of the room (side walls at `±wx`).
    wx: f32,
    /// Ceiling height above the eye (ceiling at `-hc`).
    hc: f32,
    /// A depth close enough that walls, floor and ceiling leave the frame.
    zn: f32,
}

impl Persp {
    /// A room whose back wall spans `back_top..back_bottom` vertically and
    /// `±back_half_w` around the centre, seen from eye height `vy`.
    fn new(cx: &Ctx, vy: f32, back_bottom: f32, back_top: f32, back_half_w: f32) -> Self {
        let f = cx.f;
        let s = (f.h - vy) * 1.05;
        let zb = s / (back_bottom - vy).max(1.0);
        let hc = (vy - back_top) * zb / s;
        let wx = back_half_w * zb / s;
        let zn = 0.5
            * 1.0_f32
                .min(wx * s / (0.5 * f.w))
                .min(hc * s / vy.max(1.0))
                .min(s / (f.h - vy).max(1.0));
        Persp {
            cx: f.w / 2.0,
            vy,
            s,
            zb,
            wx,
            hc,
            zn: zn.max(0.05),
        }
    }

    fn p(&self, x: f32, y: f32, z: f32) -> (f32, f32) {
        let z = z.max(1e-3);
        (self.cx + x * self.s / z, self.vy + y * self.s / z)
    }

    /// The back wall's screen rectangle `(x0, y0, x1, y1)`.
    fn back(&self) -> (f32, f32, f32, f32) {
        let a = self.p(-self.wx, -self.hc, self.zb);
        let b = self.p(self.wx, 1.0, self.zb);
        (a.0, a.1, b.0, b.1)
    }

    fn quad(&self, pts: [(f32, f32, f32); 4]) -> [(f32, f32); 4] {
        pts.map(|(x, y, z)| self.p(x, y, z))
    }
}

/// Bilinear point in a screen quad given as top-left, top-right, bottom-right, bottom-left.
fn lerp_quad(q: &[(f32, f32); 4], u: f32, v: f32) -> (f32, f32) {
    let top = (
        q[0].0 + (q[1].0 - q[0].0) * u,
        q[0].1 + (q[1].1 - q[0].1) * u,
    );
    let bot = (
        q[3].0 + (q[2].0 - q[3].0) * u,
        q[3].1 + (q[2].1 - q[3].1) * u,
    );
    (top.0 + (bot.0 - top.0) * v, top.1 + (bot.1 - top.1) * v)
}

/// Draws the floor, ceiling, side walls and back wall.
fn shell(pen: &mut Pen, pp: &Persp, wall: Rgb, side: Rgb, floor: Rgb, ceiling: Rgb) {
    let (zn, zb, wx, hc) = (pp.zn, pp.zb, pp.wx, pp.hc);
    let fl = pp.quad([(-wx, 1.0, zb), (wx, 1.0, zb), (wx, 1.0, zn), (-wx, 1.0, zn)]);
    pen.poly(
        &fl,
        Ink::vertical(
            fl[0].1,
            fl[2].1.min(pen.height() * 1.2),
            &[(0.0, floor.darken(0.15)), (1.0, floor)],
        ),
    );
    let ce = pp.quad([(-wx, -hc, zn), (wx, -hc, zn), (wx, -hc, zb), (-wx, -hc, zb)]);
    pen.poly(&ce, ceiling);
    for sx in [-1.0_f32, 1.0] {
        let q = pp.quad([
            (sx * wx, -hc, zn),
            (sx * wx, -hc, zb),
            (sx * wx, 1.0, zb),
            (sx * wx, 1.0, zn),
        ]);
        pen.poly(&q, side);
    }
    let (x0, y0, x1, y1) = pp.back();
    pen.rect(
        x0,
        y0,
        x1 - x0,
        y1 - y0,
        Ink::vertical(y0, y1, &[(0.0, wall.darken(0.06)), (1.0, wall)]),
    );
    // Corner shading.
    let line = wall.darken(0.35).a(0.35);
    for (a, b) in [
        (pp.p(-wx, -hc, zb), pp.p(-wx, 1.0, zb)),
        (pp.p(wx, -hc, zb), pp.p(wx, 1.0, zb)),
        (pp.p(-wx, 1.0, zb), pp.p(wx, 1.0, zb)),
    ] {
        pen.line(a, b, line.clone(), 2.0);
    }
}

/// A window in the back wall showing the sky of the time of day.
fn window(pen: &mut Pen, cx: &mut Ctx, x: f32, y: f32, w: f32, h: f32, curtain: Rgb) {
    let u = cx.f.u;
    let frame_c = cx.land(0xf2ece0);
    pen.fill(
        rrect(
            x - 8.0 * u,
            y - 8.0 * u,
            w + 16.0 * u,
            h + 16.0 * u,
            4.0 * u,
        ),
        frame_c.darken(0.15),
    );
    let [top, mid, low] = cx.sky;
    pen.rect(
        x,
        y,
        w,
        h,
        Ink::vertical(y, y + h, &[(0.0, top), (0.6, mid), (1.0, low)]),
    );
    let (sx, sy, r) = (x + w * 0.68, y + h * 0.32, w.min(h) * 0.11);
    if cx.night() {
        let star = cx.look.grade(Rgb::hex(0xfff8e8));
        for _ in 0..14 {
            let px = x + cx.rng.range(0.05, 0.95) * w;
            let py = y + cx.rng.range(0.05, 0.9) * h;
            pen.circle(px, py, cx.rng.range(0.8, 1.8) * u, star.a(0.85));
        }
    }
    celestial_at(pen, cx, sx, sy, r);
    // Distant hills through the glass.
    let hill = cx.far(cx.land(0x5f8f5a), 0.35);
    let mut pb = PathBuilder::new();
    pb.move_to(x, y + h);
    pb.line_to(x, y + h * 0.78);
    pb.quad_to(x + w * 0.3, y + h * 0.62, x + w * 0.55, y + h * 0.76);
    pb.quad_to(x + w * 0.8, y + h * 0.68, x + w, y + h * 0.74);
    pb.line_to(x + w, y + h);
    pb.close();
    pen.fill(pb.finish(), hill);
    // Muntins and sill.
    let bar = 5.0 * u;
    pen.rect(x + w / 2.0 - bar / 2.0, y, bar, h, frame_c);
    pen.rect(x, y + h * 0.45 - bar / 2.0, w, bar, frame_c);
    pen.stroke(rrect(x, y, w, h, 1.0), frame_c, 6.0 * u);
    pen.rect(
        x - 14.0 * u,
        y + h + 6.0 * u,
        w + 28.0 * u,
        8.0 * u,
        frame_c.darken(0.1),
    );
    // Curtains tied back at the sides.
    let cw = w * 0.3;
    let bottom = y + h + 20.0 * u;
    let top = y - 16.0 * u;
    for dir in [-1.0_f32, 1.0] {
        let edge = if dir < 0.0 { x } else { x + w };
        let outer = edge + dir * cw * 0.55;
        let inner = edge - dir * cw * 0.45;
        let tie = (edge + dir * cw * 0.05, y + h * 0.62);
        let mut c = PathBuilder::new();
        c.move_to(outer, top);
        c.line_to(inner, top);
        c.quad_to(inner, y + h * 0.35, tie.0, tie.1);
        c.quad_to(
            edge - dir * cw * 0.1,
            y + h * 0.85,
            edge - dir * cw * 0.2,
            bottom,
        );
        c.line_to(outer, bottom);
        c.close();
        pen.fill(c.finish(), curtain);
        for k in 1..3 {
            let fx = outer - dir * cw * 0.3 * k as f32;
            pen.line(
                (fx, top + 4.0 * u),
                (fx + dir * cw * 0.1, bottom - 4.0 * u),
                curtain.darken(0.3).a(0.55),
                2.0 * u,
            );
        }
        pen.fill(
            rrect(
                tie.0 - cw * 0.3,
                tie.1 - 4.0 * u,
                cw * 0.6,
                8.0 * u,
                3.0 * u,
            ),
            cx.land(0xd9a93a),
        );
    }
    pen.rect(
        x - w * 0.3,
        y - 20.0 * u,
        w * 1.6,
        7.0 * u,
        cx.land(0x6b4a2a),
    );
}

/// A framed painting.
fn painting(pen: &mut Pen, cx: &Ctx, x: f32, y: f32, w: f32, h: f32) {
    let u = cx.f.u;
    let gold = cx.land(0xc9a04a);
    pen.rect(x - 6.0 * u, y - 6.0 * u, w + 12.0 * u, h + 12.0 * u, gold);
    pen.rect(
        x,
        y,
        w,
        h,
        Ink::vertical(
            y,
            y + h,
            &[(0.0, cx.land(0x8fb8d8)), (1.0, cx.land(0xe8dcc0))],
        ),
    );
    let mut pb = PathBuilder::new();
    pb.move_to(x, y + h);
    pb.line_to(x, y + h * 0.7);
    pb.quad_to(x + w * 0.4, y + h * 0.45, x + w, y + h * 0.65);
    pb.line_to(x + w, y + h);
    pb.close();
    pen.fill(pb.finish(), cx.land(0x6f9a4a));
    pen.circle(x + w * 0.75, y + h * 0.3, w * 0.08, cx.land(0xfff1c0));
    pen.stroke(rrect(x, y, w, h, 0.0), gold.darken(0.3), 2.0 * u);
}

/// A table with a lamp standing on the floor at `base` (screen), `w` wide.
fn table_with_lamp(pen: &mut Pen, cx: &Ctx, x: f32, base: f32, w: f32) {
    let u = cx.f.u;
    let wood = cx.land(0x7a4a2a);
    let h = w * 0.7;
    let top = base - h;
    pen.rect(x - w * 0.42, top, w * 0.07, h, wood.darken(0.2));
    pen.rect(x + w * 0.35, top, w * 0.07, h, wood.darken(0.2));
    pen.fill(
        rrect(x - w * 0.5, top - 6.0 * u, w, 10.0 * u, 3.0 * u),
        wood,
    );
    pen.rect(
        x - w * 0.42,
        top + 4.0 * u,
        w * 0.84,
        h * 0.18,
        wood.darken(0.1),
    );
    // Lamp.
    let lamp_base = top - 6.0 * u;
    let shade_c = cx.look.accent_lit(1);
    let lit = cx.lamps_lit();
    let glow_c = cx.look.grade(Rgb::hex(0xffd28a));
    if lit {
        glow(pen, x, lamp_base - w * 0.55, w * 2.4, glow_c, 0.45);
    }
    pen.fill(
        rrect(x - w * 0.1, lamp_base - 8.0 * u, w * 0.2, 8.0 * u, 3.0 * u),
        cx.land(0x8a7050),
    );
    pen.rect(
        x - 2.0 * u,
        lamp_base - w * 0.5,
        4.0 * u,
        w * 0.5,
        cx.land(0x8a7050),
    );
    let sy = lamp_base - w * 0.5;
    let shade = if lit {
        shade_c.mix(glow_c, 0.5)
    } else {
        shade_c
    };
    pen.poly(
        &[
            (x - w * 0.14, sy - w * 0.28),
            (x + w * 0.14, sy - w * 0.28),
            (x + w * 0.25, sy + w * 0.02),
            (x - w * 0.25, sy + w * 0.02),
        ],
        shade,
    );
    // A book and a teacup on the table.
    pen.rect(
        x + w * 0.12,
        top - 12.0 * u,
        w * 0.25,
        6.0 * u,
        cx.land(0x9b2d30),
    );
    pen.rect(
        x + w * 0.14,
        top - 17.0 * u,
        w * 0.21,
        5.0 * u,
        cx.land(0x2d5a7b),
    );
}

/// A door drawn on a side wall (`side` = -1 left, 1 right) between depths `z0..z1`.
fn side_door(pen: &mut Pen, pp: &Persp, side: f32, z0: f32, z1: f32, top: f32, wood: Rgb) {
    let x = side * pp.wx;
    let frame = pp.quad([
        (x, top - 0.08, z0),
        (x, top - 0.08, z1),
        (x, 1.0, z1),
        (x, 1.0, z0),
    ]);
    pen.poly(&frame, wood.lighten(0.25));
    let inner = pp.quad([
        (x, top, z0 + 0.05 * (z1 - z0)),
        (x, top, z1 - 0.05 * (z1 - z0)),
        (x, 1.0, z1 - 0.05 * (z1 - z0)),
        (x, 1.0, z0 + 0.05 * (z1 - z0)),
    ]);
    pen.poly(&inner, wood);
    for (v0, v1) in [(0.08, 0.45), (0.55, 0.92)] {
        let q = [
            lerp_quad(&inner, 0.15, v0),
            lerp_quad(&inner, 0.85, v0),
            lerp_quad(&inner, 0.85, v1),
            lerp_quad(&inner, 0.15, v1),
        ];
        pen.poly(&q, wood.darken(0.18));
    }
    let k = lerp_quad(&inner, if side < 0.0 { 0.82 } else { 0.18 }, 0.52);
    let r = (inner[2].1 - inner[1].1).abs() * 0.025;
    pen.circle(k.0, k.1, r.max(1.5), Rgb::hex(0xd9a93a));
}

pub(crate) fn room(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    let pp = if f.portrait {
        Persp::new(cx, f.h * 0.42, f.h * 0.6, f.h * 0.12, f.w * 0.38)
    } else {
        Persp::new(cx, f.h * 0.42, f.h * 0.64, f.h * 0.07, f.w * 0.33)
    };
    let papers = [
        0x9fb89a_u32,
        0xd8a8a0,
        0xd9b770,
        0x8fa8c8,
        0xe6d8b8,
        0xb8a0c8,
    ];
    let paper = papers[cx.rng.index(papers.len())];
    let wall = cx.land(paper);
    let side = wall.darken(0.18);
    let floor = cx.land(0x9a6b43);
    let ceiling = cx.land(0xefe6d6).darken(0.1);
    shell(pen, &pp, wall, side, floor, ceiling);
    let (x0, y0, x1, y1) = pp.back();
    let (bw, bh) = (x1 - x0, y1 - y0);
    // Wallpaper stripes.
    let stripe = wall.lighten(0.12).a(0.35);
    let n = 18;
    for i in (0..n).step_by(2) {
        let sx = x0 + bw * i as f32 / n as f32;
        pen.rect(sx, y0, bw / n as f32 * 0.5, bh, stripe.clone());
    }
    // Wainscot on the back and side walls.
    let wain = cx.land(0x6b4a32);
    let wy = y1 - bh * 0.3;
    pen.rect(x0, wy, bw, bh * 0.3, wain.lighten(0.1));
    pen.rect(x0, wy - 5.0 * f.u, bw, 7.0 * f.u, wain);
    let panels = 6;
    for i in 0..panels {
        let px = x0 + bw * (i as f32 + 0.12) / panels as f32;
        pen.stroke(
            rrect(
                px,
                wy + bh * 0.05,
                bw / panels as f32 * 0.76,
                bh * 0.18,
                3.0 * f.u,
            ),
            wain.darken(0.2),
            2.0 * f.u,
        );
    }
    let y_w = 1.0 - 0.3 * (1.0 + pp.hc);
    for sx in [-1.0_f32, 1.0] {
        let q = pp.quad([
            (sx * pp.wx, y_w, pp.zn),
            (sx * pp.wx, y_w, pp.zb),
            (sx * pp.wx, 1.0, pp.zb),
            (sx * pp.wx, 1.0, pp.zn),
        ]);
        pen.poly(&q, wain.darken(0.05));
    }
    // Floor boards.
    let board = floor.darken(0.35).a(0.35);
    let mut x = -pp.wx;
    while x <= pp.wx {
        pen.line(
            pp.p(x, 1.0, pp.zn),
            pp.p(x, 1.0, pp.zb),
            board.clone(),
            1.5 * f.u,
        );
        x += (pp.wx / 30.0).max(0.28);
    }
    // Window on one side, painting and table on the other.
    let wl = if cx.flip { 0.62 } else { 0.12 };
    let curtain = cx.look.accent_lit(0);
    let (ww, wh) = (bw * 0.26, bh * 0.38);
    let wxp = x0 + bw * wl;
    let wyp = y0 + bh * 0.14;
    if matches!(cx.look.time, TimeOfDay::Day | TimeOfDay::Morning) {
        let light = cx.graded(0xfff6dc);
        pen.poly(
            &[
                (wxp, y1),
                (wxp + ww, y1),
                (wxp + ww * 1.6, f.h),
                (wxp + ww * 0.2, f.h),
            ],
            Ink::Linear {
                from: (0.0, y1),
                to: (0.0, f.h),
                stops: vec![(0.0, light, 0.22), (1.0, light, 0.02)],
            },
        );
    }
    window(pen, cx, wxp, wyp, ww, wh, curtain);
    let pl = if cx.flip { 0.12 } else { 0.7 };
    painting(pen, cx, x0 + bw * pl, y0 + bh * 0.16, bw * 0.16, bh * 0.2);
    table_with_lamp(pen, cx, x0 + bw * (pl + 0.08), y1 + 2.0 * f.u, bw * 0.2);
    // Door on the side wall next to the window.
    let door_side = if cx.flip { 1.0 } else { -1.0 };
    let dz0 = pp.zb * 0.62;
    let dz1 = pp.zb * 0.9;
    side_door(
        pen,
        &pp,
        door_side,
        dz0,
        dz1,
        1.0 - 0.6 * (1.0 + pp.hc),
        cx.land(0x8a5530),
    );
    // Rug under the figures.
    let rug = cx.look.accent_lit(2);
    let ry = f.ground - f.h * 0.005;
    let rx = if f.portrait { f.w * 0.46 } else { f.w * 0.34 };
    let rh = f.h * 0.05;
    pen.ellipse(f.w / 2.0, ry, rx, rh, rug.darken(0.25));
    pen.ellipse(f.w / 2.0, ry, rx * 0.94, rh * 0.86, rug);
    pen.stroke(
        super::canvas::ellipse(f.w / 2.0, ry, rx * 0.78, rh * 0.66),
        rug.lighten(0.35).a(0.8),
        2.5 * f.u,
    );
    if cx.lamps_lit() {
        // Darken the corners so the lamp light reads.
        pen.rect(
            0.0,
            0.0,
            f.w,
            f.h,
            Ink::Radial {
                center: (f.w / 2.0, f.h * 0.55),
                radius: f.w.max(f.h) * 0.75,
                stops: vec![
                    (0.0, Rgb::hex(0x000000), 0.0),
                    (0.55, Rgb::hex(0x000000), 0.05),
                    (1.0, Rgb::hex(0x05030a), 0.45),
                ],
            },
        );
    }
}

pub(crate) fn hall(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    let pp = if f.portrait {
        Persp::new(cx, f.h * 0.45, f.h * 0.555, f.h * 0.33, f.w * 0.13)
    } else {
        Persp::new(cx, f.h * 0.45, f.h * 0.575, f.h * 0.29, f.w * 0.085)
    };
    let stone = cx.land(0xcfc4b0);
    let wall = cx.land(0xa89a86);
    let ceiling = cx.land(0x4a4058);
    shell(pen, &pp, wall, wall.darken(0.12), stone, ceiling);
    // Checkered floor.
    let light_tile = cx.land(0xe8e0d0);
    let dark_tile = cx.land(0x3a3440);
    let tile = (pp.wx / 3.0).max((pp.zb - pp.zn) / 60.0);
    let mut light = PathBuilder::new();
    let mut dark = PathBuilder::new();
    let mut z = pp.zb;
    let mut row = cx.rng.index(2);
    while z > pp.zn {
        let z1 = (z - tile).max(pp.zn);
        let cols = 6;
        for c in 0..cols {
            let xa = -pp.wx + 2.0 * pp.wx * c as f32 / cols as f32;
            let xb = xa + 2.0 * pp.wx / cols as f32;
            let q = pp.quad([(xa, 1.0, z), (xb, 1.0, z), (xb, 1.0, z1), (xa, 1.0, z1)]);
            let pb = if (c + row).is_multiple_of(2) {
                &mut light
            } else {
                &mut dark
            };
            pb.move_to(q[0].0, q[0].1);
            for p in &q[1..] {
                pb.line_to(p.0, p.1);
            }
            pb.close();
        }
        z = z1;
        row += 1;
    }
    pen.fill(light.finish(), light_tile);
    pen.fill(dark.finish(), dark_tile);
    // Back wall: a low curtain with a little door.
    let (x0, y0, x1, y1) = pp.back();
    let curtain = cx.look.accent_lit(0);
    pen.rect(x0, y0, x1 - x0, y1 - y0, curtain.darken(0.1));
    let folds = 5 + cx.rng.index(5);
    for i in 0..folds {
        let fx = x0 + (x1 - x0) * (i as f32 + 0.5) / folds as f32;
        pen.line((fx, y0), (fx, y1), curtain.darken(0.35).a(0.5), 2.0 * f.u);
    }
    let dw = (x1 - x0) * 0.18;
    let dh = (y1 - y0) * 0.22;
    let dx = (x0 + x1) / 2.0 - dw / 2.0;
    let mut door = PathBuilder::new();
    door.move_to(dx, y1);
    door.line_to(dx, y1 - dh + dw / 2.0);
    arc_to(
        &mut door,
        (dx + dw / 2.0, y1 - dh + dw / 2.0),
        dw / 2.0,
        PI,
        2.0 * PI,
    );
    door.line_to(dx + dw, y1);
    door.close();
    pen.fill(door.finish(), cx.land(0xc9a04a));
    // Doors along the side walls, between the columns.
    let col_x = pp.wx - 0.12;
    let step = (pp.zb - 0.8) / 4.0;
    let woods = [0x5a3420_u32, 0x6b3a2a, 0x4a3a5a, 0x3a4a3a];
    for i in (0..4).rev() {
        let zc = 0.8 + step * (i as f32 + 0.5);
        for side in [-1.0_f32, 1.0] {
            let x = side * pp.wx;
            let half = step * 0.22;
            let top = 1.0 - 0.62 * (1.0 + pp.hc) * 0.9;
            let mut pts = Vec::new();
            pts.push(pp.p(x, 1.0, zc - half));
            let n = 10;
            for k in 0..=n {
                let a = PI * k as f32 / n as f32;
                pts.push(pp.p(x, top - half * a.sin(), zc - half * a.cos()));
            }
            pts.push(pp.p(x, 1.0, zc + half));
            let pick = cx.rng.index(woods.len());
            let wood = cx.land(woods[pick]);
            pen.poly(&pts, wood);
            pen.stroke(super::canvas::polyline(&pts), stone.darken(0.2), 2.0 * f.u);
        }
    }
    // Columns with arches between them, far to near.
    let arch_y = -pp.hc * 0.72;
    let lamp_c = cx.look.grade(Rgb::hex(0xffcf7a));
    for i in (0..5).rev() {
        let z = 0.8 + step * i as f32;
        let cw = 0.09;
        // Arch across the hall.
        let mut pts = Vec::new();
        for k in 0..=16 {
            let a = PI * k as f32 / 16.0;
            pts.push(pp.p(-col_x * a.cos(), arch_y - pp.hc * 0.25 * a.sin(), z));
        }
        pen.stroke(
            super::canvas::polyline(&pts),
            stone.darken(0.1),
            0.09 * pp.s / z,
        );
        for side in [-1.0_f32, 1.0] {
            let x = side * col_x;
            let q = pp.quad([
                (x - cw, arch_y, z),
                (x + cw, arch_y, z),
                (x + cw, 1.0, z),
                (x - cw, 1.0, z),
            ]);
            pen.poly(&q, stone);
            let shade = [
                q[0],
                lerp_quad(&q, 0.45, 0.0),
                lerp_quad(&q, 0.45, 1.0),
                q[3],
            ];
            let shade = if side < 0.0 {
                [
                    lerp_quad(&q, 0.55, 0.0),
                    q[1],
                    q[2],
                    lerp_quad(&q, 0.55, 1.0),
                ]
            } else {
                shade
            };
            pen.poly(&shade, stone.darken(0.2));
            for (yy, hh) in [(arch_y, 0.08), (1.0 - 0.08, 0.08)] {
                let slab = pp.quad([
                    (x - cw * 1.5, yy, z),
                    (x + cw * 1.5, yy, z),
                    (x + cw * 1.5, yy + hh, z),
                    (x - cw * 1.5, yy + hh, z),
                ]);
                pen.poly(&slab, stone.lighten(0.08));
            }
        }
        // A lamp hanging from the roof between this arch and the next.
        let lz = z + step * 0.5;
        if lz < pp.zb {
            let top = pp.p(0.0, -pp.hc, lz);
            let lamp = pp.p(0.0, -pp.hc * 0.45, lz);
            let r = 0.06 * pp.s / lz;
            pen.line(top, lamp, cx.land(0x2a2420), 1.5 * f.u);
            glow(pen, lamp.0, lamp.1, r * 6.0, lamp_c, 0.45);
            pen.circle(lamp.0, lamp.1, r, lamp_c);
            let spot = pp.p(0.0, 1.0, lz);
            pen.ellipse(spot.0, spot.1, r * 5.0, r * 1.2, lamp_c.a(0.12));
        }
    }
}

pub(crate) fn court(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    let pp = if f.portrait {
        Persp::new(cx, f.h * 0.44, f.h * 0.6, f.h * 0.1, f.w * 0.42)
    } else {
        Persp::new(cx, f.h * 0.44, f.h * 0.62, f.h * 0.05, f.w * 0.36)
    };
    let wall = cx.land(0xd9c9a8);
    let ceiling = cx.land(0x5a3a3a);
    let tile_a = cx.land(0xf0e6d2);
    let tile_b = cx.look.accent_lit(0).darken(0.25);
    shell(pen, &pp, wall, wall.darken(0.15), tile_a, ceiling);
    // Checkered floor.
    let tile = (pp.wx / 5.0).max((pp.zb - pp.zn) / 60.0);
    let mut dark = PathBuilder::new();
    let mut z = pp.zb;
    let mut row = cx.rng.index(2);
    while z > pp.zn {
        let z1 = (z - tile).max(pp.zn);
        for c in 0..10 {
            if !(c + row).is_multiple_of(2) {
                continue;
            }
            let xa = -pp.wx + tile * 2.0 * c as f32 / 2.0;
            let q = pp.quad([
                (xa, 1.0, z),
                (xa + tile, 1.0, z),
                (xa + tile, 1.0, z1),
                (xa, 1.0, z1),
            ]);
            dark.move_to(q[0].0, q[0].1);
            for p in &q[1..] {
                dark.line_to(p.0, p.1);
            }
            dark.close();
        }
        z = z1;
        row += 1;
    }
    pen.fill(dark.finish(), tile_b);
    let (x0, y0, x1, y1) = pp.back();
    let (bw, bh) = (x1 - x0, y1 - y0);
    let red = cx.look.accent_lit(0);
    let gold = cx.land(0xe0b44a);
    // Banners.
    let shapes = [
        super::Shape::Heart,
        super::Shape::Diamond,
        super::Shape::Star,
    ];
    let shape_shift = cx.rng.index(shapes.len());
    for (i, t) in [0.16_f32, 0.3, 0.7, 0.84].iter().enumerate() {
        let bx = x0 + bw * t;
        let w = bw * 0.08;
        let top = y0 + bh * 0.12;
        let h = bh * 0.42;
        let c = if i % 2 == 0 {
            red
        } else {
            cx.look.accent_lit(1)
        };
        pen.poly(
            &[
                (bx - w / 2.0, top),
                (bx + w / 2.0, top),
                (bx + w / 2.0, top + h),
                (bx, top + h - w * 0.4),
                (bx - w / 2.0, top + h),
            ],
            c,
        );
        pen.rect(bx - w * 0.6, top - 4.0 * f.u, w * 1.2, 6.0 * f.u, gold);
        let s = w * 0.28;
        pen.fill(
            figures::shape_path(shapes[(i + shape_shift) % shapes.len()])
                .and_then(|p| p.transform(Transform::from_row(s, 0.0, 0.0, s, bx, top + h * 0.4))),
            gold,
        );
    }
    // Valance of draped swags.
    let swags = 5 + cx.rng.index(3);
    for i in 0..swags {
        let sx = x0 + bw * i as f32 / swags as f32;
        let sw = bw / swags as f32;
        let mut pb = PathBuilder::new();
        pb.move_to(sx, y0);
        pb.line_to(sx + sw, y0);
        pb.quad_to(sx + sw * 0.5, y0 + bh * 0.2, sx, y0);
        pb.close();
        pen.fill(pb.finish(), red);
    }
    pen.rect(x0, y0, bw, bh * 0.03, gold);
    // Dais with steps.
    let steps = 3;
    let stone = cx.land(0xe8dcc4);
    for k in 0..steps {
        let kk = k as f32;
        let half = pp.wx * (0.55 - 0.12 * kk);
        let zf = pp.zb - 0.9 * (1.0 - kk / steps as f32) * pp.zb * 0.25;
        let y_top = 1.0 - 0.09 * (kk + 1.0);
        let y_bot = 1.0 - 0.09 * kk;
        let top = pp.quad([
            (-half, y_top, pp.zb),
            (half, y_top, pp.zb),
            (half, y_top, zf),
            (-half, y_top, zf),
        ]);
        pen.poly(&top, stone);
        let front = pp.quad([
            (-half, y_top, zf),
            (half, y_top, zf),
            (half, y_bot, zf),
            (-half, y_bot, zf),
        ]);
        pen.poly(&front, stone.darken(0.18));
        pen.line(front[0], front[1], gold, 2.0 * f.u);
    }
    // Throne on the dais.
    let ty = pp.p(0.0, 1.0 - 0.27, pp.zb - 0.05).1;
    let tw = bw * 0.14;
    let th = bh * 0.55;
    let tx = x0 + bw / 2.0;
    pen.fill(rrect(tx - tw / 2.0, ty - th, tw, th, tw * 0.5), gold);
    pen.fill(
        rrect(
            tx - tw * 0.36,
            ty - th * 0.9,
            tw * 0.72,
            th * 0.62,
            tw * 0.36,
        ),
        red,
    );
    let s = tw * 0.18;
    pen.fill(
        figures::shape_path(super::Shape::Heart)
            .and_then(|p| p.transform(Transform::from_row(s, 0.0, 0.0, s, tx, ty - th - s * 0.7))),
        gold,
    );
    pen.fill(
        rrect(
            tx - tw * 0.62,
            ty - th * 0.3,
            tw * 1.24,
            th * 0.14,
            4.0 * f.u,
        ),
        red.darken(0.1),
    );
    pen.rect(
        tx - tw * 0.62,
        ty - th * 0.3,
        tw * 0.14,
        th * 0.3,
        gold.darken(0.1),
    );
    pen.rect(
        tx + tw * 0.48,
        ty - th * 0.3,
        tw * 0.14,
        th * 0.3,
        gold.darken(0.1),
    );
    // Carpet runner to the dais.
    let runner_far = pp.zb - 0.9 * pp.zb * 0.25;
    let q = pp.quad([
        (-0.3, 1.0, runner_far),
        (0.3, 1.0, runner_far),
        (0.3, 1.0, pp.zn),
        (-0.3, 1.0, pp.zn),
    ]);
    pen.poly(&q, red);
    pen.line(
        lerp_quad(&q, 0.08, 0.0),
        lerp_quad(&q, 0.08, 1.0),
        gold,
        2.5 * f.u,
    );
    pen.line(
        lerp_quad(&q, 0.92, 0.0),
        lerp_quad(&q, 0.92, 1.0),
        gold,
        2.5 * f.u,
    );
    // Side curtains and torches.
    for side in [-1.0_f32, 1.0] {
        let q = pp.quad([
            (side * pp.wx, -pp.hc, pp.zb * 0.98),
            (side * (pp.wx - 0.35), -pp.hc, pp.zb * 0.98),
            (side * (pp.wx - 0.2), 1.0, pp.zb * 0.98),
            (side * pp.wx, 1.0, pp.zb * 0.98),
        ]);
        let mut pb = PathBuilder::new();
        pb.move_to(q[0].0, q[0].1);
        pb.line_to(q[1].0, q[1].1);
        let mid = lerp_quad(&q, 0.3, 0.55);
        pb.quad_to(mid.0, mid.1, q[2].0, q[2].1);
        pb.line_to(q[3].0, q[3].1);
        pb.close();
        pen.fill(pb.finish(), red.darken(0.15));
        let torch = pp.p(side * pp.wx, -0.2, pp.zb * 0.6);
        let flame = cx.look.grade(Rgb::hex(0xffb04a));
        glow(pen, torch.0, torch.1, 90.0 * f.u, flame, 0.45);
        pen.rect(
            torch.0 - 4.0 * f.u,
            torch.1,
            8.0 * f.u,
            30.0 * f.u,
            cx.land(0x4a3020),
        );
        pen.ellipse(torch.0, torch.1 - 6.0 * f.u, 7.0 * f.u, 12.0 * f.u, flame);
    }
}

pub(crate) fn cave(pen: &mut Pen, cx: &mut Ctx) {
    let f = *cx.f;
    // What is seen through the mouth: sky, stars or sun, and distant hills.
    scenery::sky(pen, cx, 0.0, 0.0, f.w, f.horizon + f.h * 0.05);
    let (mx, my) = (
        cx.x(0.5 + if cx.flip { 0.04 } else { -0.04 }),
        f.horizon * 0.92,
    );
    let rx = f.w * if f.portrait { 0.3 } else { 0.2 };
    let ry = f.h * if f.portrait { 0.18 } else { 0.26 };
    if cx.night() {
        scenery::stars(pen, cx, f.horizon, 1.4);
    }
    let side = if cx.flip { -1.0 } else { 1.0 };
    celestial_at(
        pen,
        cx,
        mx + side * rx * 0.55,
        my - ry * 0.5,
        f.w.min(f.h) * 0.035,
    );
    let hills = crest(cx, f.horizon, f.h * 0.03, 5);
    pen.fill(band(&hills, f.h), cx.far(cx.land(0x6f8f6a), 0.4));
    // The mouth outline, jittered, and rings of rock around it.
    let seed = cx.rng.next_u64();
    let mouth = |scale: f32| -> Vec<(f32, f32)> {
        let mut r = Rng::new(seed, 21);
        (0..22)
            .map(|i| {
                let a = 2.0 * PI * i as f32 / 22.0;
                let j = 1.0 + 0.07 * r.range(-1.0, 1.0);
                let flat = if a.sin() > 0.0 { 0.55 } else { 1.0 };
                (
                    mx + a.cos() * rx * scale * j,
                    my + a.sin() * ry * scale * j * flat,
                )
            })
            .collect()
    };
    let rock_lit = cx.land(0x76665f);
    let rock_dark = cx.land(0x221a22);
    let rim = cx.sky[2].mix(rock_lit, 0.5);
    let rings = 5;
    for k in (0..rings).rev() {
        let t = k as f32 / (rings - 1) as f32;
        let inner = mouth(1.0 + 0.45 * k as f32);
        let mut pb = PathBuilder::new();
        if k == rings - 1 {
            if let Some(r) = tiny_skia::Rect::from_xywh(-2.0, -2.0, f.w + 4.0, f.h + 4.0) {
                pb.push_rect(r);
            }
        } else if let Some(p) = blob(&mouth(1.0 + 0.45 * (k as f32 + 1.0))) {
            pb.push_path(&p);
        }
        if let Some(p) = blob(&inner) {
            pb.push_path(&p);
        }
        let c = rock_lit.mix(rock_dark, 0.4 + 0.6 * t);
        pen.fill_even_odd(pb.finish(), c);
        // A lit edge along the inside of each ring.
        pen.stroke(blob(&inner), rim.a(0.3 * (1.0 - t) + 0.08), 3.0 * f.u);
    }
    // Light falling from the mouth onto the floor.
    let light = cx.sky[2].lighten(0.2);
    let floor_y = my + ry * 0.5;
    pen.poly(
        &[
            (mx - rx * 0.8, floor_y),
            (mx + rx * 0.8, floor_y),
            (mx + rx * 2.6, f.h),
            (mx - rx * 2.6, f.h),
        ],
        Ink::Linear {
            from: (mx, floor_y),
            to: (mx, f.h),
            stops: vec![(0.0, light, 0.4), (1.0, light, 0.05)],
        },
    );
    // Floor.
    let floor = crest(cx, f.ground - f.h * 0.04, f.h * 0.01, 6);
    pen.fill(
        band(&floor, f.h),
        Ink::vertical(
            f.ground - f.h * 0.05,
            f.h,
            &[(0.0, cx.land(0x5a4c4c)), (1.0, cx.land(0x241c22))],
        ),
    );
    pen.ellipse(
        mx,
        f.ground - f.h * 0.01,
        rx * 1.3,
        f.h * 0.04,
        light.a(0.18),
    );
    // Stalactites with a lit edge.
    let drip = cx.land(0x5a4a50);
    let n = ((f.w / (42.0 * f.u)) as usize).min(120);
    for i in 0..n {
        let x = (i as f32 + cx.rng.range(0.0, 1.0)) * f.w / n as f32;
        let len = f.h * cx.rng.range(0.05, 0.17);
        let w = f.u * cx.rng.range(10.0, 24.0);
        let mut pb = PathBuilder::new();
        pb.move_to(x - w, -2.0);
        pb.quad_to(x - w * 0.2, len * 0.5, x, len);
        pb.quad_to(x + w * 0.2, len * 0.5, x + w, -2.0);
        pb.close();
        pen.fill(pb.finish(), drip);
        let mut hl = PathBuilder::new();
        hl.move_to(x - w * 0.7, 0.0);
        hl.quad_to(x - w * 0.15, len * 0.5, x, len);
        pen.stroke(hl.finish(), rim.a(0.3), 2.0 * f.u);
    }
    // Stalagmites at the sides.
    for side in [0.06_f32, 0.94] {
        for k in 0..3 {
            let x = f.w * side + (k as f32 - 1.0) * 26.0 * f.u;
            let base = f.ground + f.h * 0.02;
            let len = f.h * cx.rng.range(0.08, 0.18);
            let w = f.u * cx.rng.range(14.0, 22.0);
            pen.poly(&[(x - w, base), (x, base - len), (x + w, base)], drip);
            pen.poly(
                &[(x - w * 0.2, base), (x, base - len), (x + w, base)],
                drip.darken(0.3),
            );
        }
    }
    // Glowing crystals.
    let crystal = cx.look.accent(1).lighten(0.2);
    for side in [0.17_f32, 0.85] {
        let x = cx.x(side);
        let y = f.ground + f.h * 0.03;
        glow(pen, x, y - 20.0 * f.u, 110.0 * f.u, crystal, 0.4);
        for (dx, h, lean) in [(-14.0, 38.0, -0.3), (0.0, 56.0, 0.0), (13.0, 34.0, 0.35)] {
            let bx = x + dx * f.u;
            let w = 7.0 * f.u;
            let top = (bx + lean * h * f.u, y - h * f.u);
            let shoulder = |s: f32| (bx + s * w * 0.8 + lean * h * f.u * 0.8, y - h * f.u * 0.8);
            pen.poly(
                &[(bx - w, y), shoulder(-1.0), top, shoulder(1.0), (bx + w, y)],
                crystal,
            );
            pen.poly(
                &[(bx, y), top, shoulder(1.0), (bx + w, y)],
                crystal.lighten(0.35).a(0.7),
            );
        }
    }
}
