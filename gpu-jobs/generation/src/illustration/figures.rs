//! Character tokens: a robed figure whose head is the character's shape, with a chest
//! medallion showing the emblem as a small pictogram, and the name underneath.
//!
//! A figure is drawn in its own unit space (feet at the origin, top of the head at about
//! `y = -1`), then scaled and placed, so the same [`Figure`] always looks the same.

use std::f32::consts::PI;

use tiny_skia::{Path, PathBuilder, Transform};

use super::canvas::{
    Ink, Pen, Rgb, Rng, WHITE, arc, arc_to, circle, ellipse, hash_str, poly, polyline, rrect,
};
use super::layout::{Frame, Slot};
use super::text::Typesetter;
use super::{Figure, Shape};

/// Dark ink used for pictogram outlines.
const INK: Rgb = Rgb::hex(0x2b2230);
/// Cream of the medallions.
const CREAM: Rgb = Rgb::hex(0xfbf5e6);

// ---------------------------------------------------------------------------------------
// Shapes (unit space, about -1..1, y down)
// ---------------------------------------------------------------------------------------

/// A star with `points` points and the given inner radius, point up.
pub(crate) fn star_path(points: usize, inner: f32) -> Option<Path> {
    let n = points.max(3) * 2;
    let pts: Vec<(f32, f32)> = (0..n)
        .map(|i| {
            let a = -PI / 2.0 + PI * i as f32 / points.max(3) as f32;
            let r = if i % 2 == 0 { 1.0 } else { inner };
            (a.cos() * r, a.sin() * r)
        })
        .collect();
    poly(&pts)
}

/// A regular polygon with `n` corners, rotated by `rot` radians.
fn regular(n: usize, rot: f32) -> Option<Path> {
    let pts: Vec<(f32, f32)> = (0..n)
        .map(|i| {
            let a = rot + 2.0 * PI * i as f32 / n as f32;
            (a.cos(), a.sin())
        })
        .collect();
    poly(&pts)
}

/// A heart, point down.
pub(crate) fn heart_path() -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(0.0, 0.92);
    pb.cubic_to(-0.3, 0.62, -1.0, 0.25, -1.0, -0.25);
    pb.cubic_to(-1.0, -0.78, -0.35, -0.98, 0.0, -0.48);
    pb.cubic_to(0.35, -0.98, 1.0, -0.78, 1.0, -0.25);
    pb.cubic_to(1.0, 0.25, 0.3, 0.62, 0.0, 0.92);
    pb.close();
    pb.finish()
}

/// A crescent moon opening to the upper right.
pub(crate) fn crescent_path() -> Option<Path> {
    let r1 = 1.0_f32;
    let (dx, dy, r2) = (0.42_f32, -0.3_f32, 0.84_f32);
    let d = (dx * dx + dy * dy).sqrt();
    let a = (r1 * r1 - r2 * r2 + d * d) / (2.0 * d);
    let h = (r1 * r1 - a * a).max(0.0).sqrt();
    let (ux, uy) = (dx / d, dy / d);
    let (px, py) = (ux * a, uy * a);
    let i1 = (px - uy * h, py + ux * h);
    let i2 = (px + uy * h, py - ux * h);
    let phi = dy.atan2(dx);
    let wrap = |v: f32| {
        let mut v = v;
        while v > PI {
            v -= 2.0 * PI;
        }
        while v <= -PI {
            v += 2.0 * PI;
        }
        v
    };
    let a1 = wrap(i1.1.atan2(i1.0) - phi);
    let a2 = wrap(i2.1.atan2(i2.0) - phi);
    let (pos, neg) = if a1 > a2 { (a1, a2) } else { (a2, a1) };
    let mut pb = PathBuilder::new();
    let steps = 40;
    for k in 0..=steps {
        let t = pos + (2.0 * PI + neg - pos) * k as f32 / steps as f32;
        let (x, y) = ((phi + t).cos() * r1, (phi + t).sin() * r1);
        if k == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    // Back along the inner circle, through the side facing the outer centre.
    let back = phi + PI;
    let p_neg = ((phi + neg).cos() * r1, (phi + neg).sin() * r1);
    let p_pos = ((phi + pos).cos() * r1, (phi + pos).sin() * r1);
    let b0 = wrap((p_neg.1 - dy).atan2(p_neg.0 - dx) - back);
    let b1 = wrap((p_pos.1 - dy).atan2(p_pos.0 - dx) - back);
    for k in 1..steps {
        let t = b0 + (b1 - b0) * k as f32 / steps as f32;
        pb.line_to(dx + (back + t).cos() * r2, dy + (back + t).sin() * r2);
    }
    pb.close();
    pb.finish()
}

/// The outline of a shape in unit space.
pub(crate) fn shape_path(shape: Shape) -> Option<Path> {
    match shape {
        Shape::Circle => circle(0.0, 0.0, 1.0),
        Shape::Triangle => poly(&[(0.0, -1.05), (1.02, 0.78), (-1.02, 0.78)]),
        Shape::Square => rrect(-0.88, -0.88, 1.76, 1.76, 0.28),
        Shape::Diamond => poly(&[(0.0, -1.12), (0.95, 0.0), (0.0, 1.12), (-0.95, 0.0)]),
        Shape::Star => star_path(5, 0.58),
        Shape::Hexagon => regular(6, 0.0),
        Shape::Crescent => crescent_path(),
        Shape::Heart => heart_path(),
    }
}

/// Corner rounding (as a stroke width in unit space) for a head shape.
fn rounding(shape: Shape) -> f32 {
    match shape {
        Shape::Triangle | Shape::Star => 0.3,
        Shape::Diamond | Shape::Hexagon => 0.22,
        _ => 0.0,
    }
}

/// Where the face goes on a head shape: centre and scale.
fn face_spot(shape: Shape) -> (f32, f32, f32) {
    match shape {
        Shape::Triangle => (0.0, 0.3, 0.78),
        Shape::Star => (0.0, 0.1, 0.72),
        Shape::Heart => (0.0, -0.02, 0.9),
        Shape::Crescent => (-0.54, 0.3, 0.56),
        Shape::Diamond => (0.0, 0.05, 0.85),
        _ => (0.0, 0.05, 1.0),
    }
}

/// How far above the head centre (in head radii) a hat rests.
fn hat_rest(shape: Shape) -> f32 {
    match shape {
        Shape::Triangle | Shape::Star | Shape::Diamond => 0.72,
        Shape::Heart => 0.62,
        _ => 0.8,
    }
}

// ---------------------------------------------------------------------------------------
// Emblems
// ---------------------------------------------------------------------------------------

/// What a figure carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emblem {
    Watch,
    Hat,
    Crown,
    Tea,
    Cards,
    Pipe,
    Mushroom,
    Grin,
    Gloves,
    Fan,
    Key,
    Book,
    Sword,
    Violin,
    Apple,
    Cake,
    Rose,
    Tarts,
    Baby,
    Pepper,
    Shell,
    Bottle,
    Door,
    /// A letter set in the font.
    Letter(char),
}

impl Emblem {
    /// Reads an emblem word (English or French); anything else becomes a letter: the
    /// first letter of the word, or of the name when the word is empty.
    pub fn parse(word: &str, name: &str) -> Emblem {
        let w = word.trim().to_lowercase();
        let known = match w.as_str() {
            "watch" | "pocket watch" | "clock" | "montre" | "horloge" => Some(Emblem::Watch),
            "hat" | "top hat" | "chapeau" => Some(Emblem::Hat),
            "crown" | "couronne" | "tiara" => Some(Emblem::Crown),
            "tea" | "teacup" | "cup" | "teapot" | "thé" | "the" | "tasse" => Some(Emblem::Tea),
            "cards" | "card" | "cartes" | "carte" => Some(Emblem::Cards),
            "pipe" | "hookah" | "narguilé" => Some(Emblem::Pipe),
            "mushroom" | "champignon" => Some(Emblem::Mushroom),
            "grin" | "smile" | "sourire" => Some(Emblem::Grin),
            "gloves" | "glove" | "gants" | "gant" => Some(Emblem::Gloves),
            "fan" | "éventail" | "eventail" => Some(Emblem::Fan),
            "key" | "clé" | "clef" | "cle" => Some(Emblem::Key),
            "book" | "livre" => Some(Emblem::Book),
            "sword" | "épée" | "epee" => Some(Emblem::Sword),
            "violin" | "fiddle" | "violon" => Some(Emblem::Violin),
            "apple" | "pomme" => Some(Emblem::Apple),
            "cake" | "gâteau" | "gateau" => Some(Emblem::Cake),
            "rose" | "roses" | "flower" | "fleur" => Some(Emblem::Rose),
            "tarts" | "tart" | "tartes" | "tarte" => Some(Emblem::Tarts),
            "baby" | "bébé" | "bebe" => Some(Emblem::Baby),
            "pepper" | "poivre" | "pepper pot" => Some(Emblem::Pepper),
            "shell" | "coquillage" | "coquille" => Some(Emblem::Shell),
            "bottle" | "potion" | "bouteille" | "flacon" => Some(Emblem::Bottle),
            "door" | "porte" => Some(Emblem::Door),
            _ => None,
        };
        if let Some(e) = known {
            return e;
        }
        let letter = w
            .chars()
            .find(|c| c.is_alphanumeric())
            .or_else(|| name.chars().find(|c| c.is_alphanumeric()))
            .unwrap_or('?');
        Emblem::Letter(letter.to_uppercase().next().unwrap_or(letter))
    }
}

/// Fills a unit-space path and outlines it.
fn ink(p: &mut Pen, path: Option<Path>, fill: Rgb, line: Rgb, w: f32) {
    p.outlined(path, fill, line, w);
}

fn draw_emblem(p: &mut Pen, emblem: Emblem, ts: &Typesetter) {
    match emblem {
        Emblem::Watch => watch(p),
        Emblem::Hat => {
            let mut q = p.sub(Transform::from_row(2.4, 0.0, 0.0, 2.4, 0.0, 0.6));
            top_hat(&mut q, Rgb::hex(0x2a2630), Rgb::hex(0x8a2a3a), true);
        }
        Emblem::Crown => {
            let mut q = p.sub(Transform::from_row(2.6, 0.0, 0.0, 2.6, 0.0, 0.38));
            crown(&mut q);
        }
        Emblem::Tea => tea(p),
        Emblem::Cards => cards(p),
        Emblem::Pipe => {
            let mut q = p.sub(Transform::from_row(1.15, 0.0, 0.0, 1.15, 0.0, 0.05));
            pipe(&mut q);
        }
        Emblem::Mushroom => mushroom(p),
        Emblem::Grin => grin(p),
        Emblem::Gloves => gloves(p),
        Emblem::Fan => fan(p),
        Emblem::Key => key(p),
        Emblem::Book => book(p),
        Emblem::Sword => sword(p),
        Emblem::Violin => violin(p),
        Emblem::Apple => apple(p),
        Emblem::Cake => cake(p),
        Emblem::Rose => rose_emblem(p),
        Emblem::Tarts => tarts(p),
        Emblem::Baby => baby(p),
        Emblem::Pepper => pepper(p),
        Emblem::Shell => shell(p),
        Emblem::Bottle => bottle(p),
        Emblem::Door => door(p),
        Emblem::Letter(c) => letter(p, c, ts),
    }
}

fn letter(p: &mut Pen, c: char, ts: &Typesetter) {
    let text = ts.sanitize(&c.to_string());
    let size = 1.7;
    let Some(path) = ts.line_path(&text, size, 0.0, 0.0) else {
        return;
    };
    let b = path.bounds();
    let dx = -(b.left() + b.right()) / 2.0;
    let dy = -(b.top() + b.bottom()) / 2.0;
    let path = path.transform(Transform::from_translate(dx, dy));
    p.fill(path, INK);
}

fn watch(p: &mut Pen) {
    let gold = Rgb::hex(0xe0b040);
    let dark = Rgb::hex(0x7a5410);
    p.stroke(circle(0.0, -0.86, 0.14), dark, 0.11);
    ink(p, rrect(-0.11, -0.78, 0.22, 0.18, 0.05), gold, dark, 0.05);
    ink(p, circle(0.0, 0.12, 0.74), gold, dark, 0.06);
    p.fill(circle(0.0, 0.12, 0.57), Rgb::hex(0xfffdf4));
    for i in 0..12 {
        let a = 2.0 * PI * i as f32 / 12.0;
        let (r0, w) = if i % 3 == 0 {
            (0.4, 0.07)
        } else {
            (0.46, 0.04)
        };
        p.line(
            (a.cos() * r0, 0.12 + a.sin() * r0),
            (a.cos() * 0.52, 0.12 + a.sin() * 0.52),
            INK,
            w,
        );
    }
    p.line((0.0, 0.12), (0.2, -0.12), INK, 0.09);
    p.line((0.0, 0.12), (0.0, -0.28), INK, 0.06);
    p.circle(0.0, 0.12, 0.07, Rgb::hex(0xc0392b));
}

/// A top hat whose brim rests on `y = 0`, about 0.5 units tall.
fn top_hat(p: &mut Pen, felt: Rgb, band_c: Rgb, tag: bool) {
    let line = if felt.luma() < 0.25 {
        felt.lighten(0.35)
    } else {
        felt.darken(0.5)
    };
    let mut body = PathBuilder::new();
    body.move_to(-0.21, -0.02);
    body.line_to(-0.24, -0.44);
    body.quad_to(0.0, -0.5, 0.24, -0.44);
    body.line_to(0.21, -0.02);
    body.close();
    ink(p, body.finish(), felt, line, 0.018);
    p.fill(
        poly(&[(-0.215, -0.1), (0.215, -0.1), (0.21, -0.02), (-0.21, -0.02)]),
        band_c,
    );
    ink(p, ellipse(0.0, -0.01, 0.36, 0.045), felt, line, 0.018);
    if tag {
        let mut card = p.sub(Transform::from_row(1.0, 0.0, 0.0, 1.0, 0.12, -0.16).pre_rotate(14.0));
        ink(
            &mut card,
            rrect(-0.06, -0.07, 0.12, 0.12, 0.01),
            CREAM,
            INK,
            0.01,
        );
        card.line((-0.03, -0.03), (0.03, -0.03), INK, 0.012);
        card.line((-0.03, 0.0), (0.03, 0.0), INK, 0.012);
    }
}

/// A crown whose base rests on `y = 0`, about 0.3 units tall.
fn crown(p: &mut Pen) {
    let gold = Rgb::hex(0xf2c230);
    let dark = Rgb::hex(0x8a5a08);
    let pts = [
        (-0.22, 0.0),
        (-0.25, -0.2),
        (-0.13, -0.1),
        (0.0, -0.28),
        (0.13, -0.1),
        (0.25, -0.2),
        (0.22, 0.0),
    ];
    ink(p, poly(&pts), gold, dark, 0.016);
    p.fill(rrect(-0.225, -0.06, 0.45, 0.06, 0.01), gold.darken(0.12));
    for (x, y, c) in [
        (-0.25, -0.2, 0xd62839),
        (0.0, -0.28, 0x2f6fd6),
        (0.25, -0.2, 0xd62839),
    ] {
        p.circle(x, y, 0.03, Rgb::hex(c));
    }
    p.circle(0.0, -0.03, 0.025, Rgb::hex(0x2fae5a));
}

fn tea(p: &mut Pen) {
    let line = Rgb::hex(0x4a3a5a);
    ink(
        p,
        ellipse(0.0, 0.58, 0.88, 0.16),
        Rgb::hex(0xf4f0e8),
        line,
        0.05,
    );
    p.stroke(arc((0.62, 0.1), 0.22, -1.5, 1.7), line, 0.2);
    p.stroke(arc((0.62, 0.1), 0.22, -1.5, 1.7), Rgb::hex(0x8ec5e8), 0.1);
    let mut cup = PathBuilder::new();
    cup.move_to(-0.66, -0.18);
    cup.line_to(0.66, -0.18);
    cup.cubic_to(0.64, 0.22, 0.4, 0.52, 0.16, 0.54);
    cup.line_to(-0.16, 0.54);
    cup.cubic_to(-0.4, 0.52, -0.64, 0.22, -0.66, -0.18);
    cup.close();
    ink(p, cup.finish(), Rgb::hex(0x8ec5e8), line, 0.05);
    p.fill(ellipse(0.0, -0.18, 0.62, 0.09), Rgb::hex(0x9a5f2e));
    for x in [-0.32_f32, 0.0, 0.32] {
        p.circle(x, 0.16, 0.08, WHITE);
    }
    let steam = Rgb::hex(0x9a94a8);
    for dx in [-0.2_f32, 0.18] {
        let mut s = PathBuilder::new();
        s.move_to(dx, -0.34);
        s.cubic_to(dx - 0.18, -0.5, dx + 0.12, -0.62, dx - 0.04, -0.86);
        p.stroke(s.finish(), steam, 0.08);
    }
}

fn cards(p: &mut Pen) {
    for (rot, dx, red) in [(-16.0_f32, -0.22_f32, true), (12.0, 0.24, false)] {
        let mut c = p.sub(Transform::from_translate(dx, 0.05).pre_rotate(rot));
        ink(
            &mut c,
            rrect(-0.42, -0.6, 0.84, 1.2, 0.1),
            WHITE,
            Rgb::hex(0x5a5060),
            0.05,
        );
        let col = if red {
            Rgb::hex(0xd62839)
        } else {
            Rgb::hex(0x1e1b24)
        };
        let mut s = c.sub(Transform::from_scale(0.3, 0.3));
        if red {
            s.fill(heart_path(), col);
        } else {
            spade(&mut s, col);
        }
        let mut s2 = c.sub(Transform::from_row(0.1, 0.0, 0.0, 0.1, -0.26, -0.42));
        if red {
            s2.fill(heart_path(), col);
        } else {
            spade(&mut s2, col);
        }
    }
}

fn spade(p: &mut Pen, c: Rgb) {
    let mut s = p.sub(Transform::from_row(1.0, 0.0, 0.0, -1.0, 0.0, -0.15));
    s.fill(heart_path(), c);
    p.poly(&[(0.0, 0.2), (0.3, 0.95), (-0.3, 0.95)], c);
}

fn pipe(p: &mut Pen) {
    let dark = Rgb::hex(0x3b2a20);
    let mut stem = PathBuilder::new();
    stem.move_to(-0.8, -0.3);
    stem.quad_to(-0.2, 0.2, 0.2, 0.26);
    p.stroke(stem.finish(), dark, 0.22);
    let mut bowl = PathBuilder::new();
    bowl.move_to(0.05, -0.36);
    bowl.line_to(0.62, -0.36);
    bowl.cubic_to(0.64, 0.2, 0.52, 0.5, 0.32, 0.5);
    bowl.cubic_to(0.12, 0.5, 0.05, 0.2, 0.05, -0.36);
    bowl.close();
    ink(p, bowl.finish(), Rgb::hex(0x9a6232), dark, 0.05);
    p.fill(ellipse(0.335, -0.36, 0.29, 0.08), dark);
    p.fill(ellipse(0.335, -0.37, 0.2, 0.04), Rgb::hex(0xe0702a));
    let smoke = Rgb::hex(0x9a94a8);
    let mut s = PathBuilder::new();
    s.move_to(0.35, -0.48);
    s.cubic_to(0.12, -0.62, 0.55, -0.74, 0.3, -0.95);
    p.stroke(s.finish(), smoke, 0.08);
    p.stroke(circle(-0.1, -0.72, 0.1), smoke, 0.06);
}

fn mushroom(p: &mut Pen) {
    let mut stem = PathBuilder::new();
    stem.move_to(-0.2, 0.0);
    stem.cubic_to(-0.26, 0.4, -0.3, 0.7, -0.26, 0.78);
    stem.line_to(0.26, 0.78);
    stem.cubic_to(0.3, 0.7, 0.26, 0.4, 0.2, 0.0);
    stem.close();
    ink(
        p,
        stem.finish(),
        Rgb::hex(0xf3e9d2),
        Rgb::hex(0x5b4a3a),
        0.05,
    );
    let mut cap = PathBuilder::new();
    cap.move_to(-0.88, 0.1);
    cap.cubic_to(-0.84, -0.8, 0.84, -0.8, 0.88, 0.1);
    cap.quad_to(0.0, -0.04, -0.88, 0.1);
    cap.close();
    ink(
        p,
        cap.finish(),
        Rgb::hex(0xd7263d),
        Rgb::hex(0x6e1020),
        0.05,
    );
    for (x, y, r) in [
        (-0.48, -0.14, 0.12),
        (0.0, -0.4, 0.15),
        (0.44, -0.12, 0.11),
        (-0.16, -0.02, 0.07),
        (0.24, -0.3, 0.06),
    ] {
        p.circle(x, y, r, WHITE);
    }
}

fn grin(p: &mut Pen) {
    let purple = Rgb::hex(0x4a1d5c);
    for x in [-0.42_f32, 0.42] {
        ink(
            p,
            ellipse(x, -0.42, 0.24, 0.16),
            Rgb::hex(0xc6e03c),
            purple,
            0.05,
        );
        p.fill(ellipse(x, -0.42, 0.045, 0.14), INK);
    }
    let mut m = PathBuilder::new();
    m.move_to(-0.88, -0.06);
    m.cubic_to(-0.5, 0.86, 0.5, 0.86, 0.88, -0.06);
    m.cubic_to(0.5, 0.24, -0.5, 0.24, -0.88, -0.06);
    m.close();
    ink(p, m.finish(), WHITE, purple, 0.06);
    let upper = |x: f32| 0.165 - 0.225 * (x / 0.88).powi(2);
    let lower = |x: f32| 0.61 - 0.67 * (x / 0.88).powi(2);
    for x in [-0.5_f32, -0.25, 0.0, 0.25, 0.5] {
        p.line(
            (x, upper(x) + 0.02),
            (x, lower(x) - 0.03),
            purple.a(0.7),
            0.035,
        );
    }
    let mut mid = PathBuilder::new();
    mid.move_to(-0.7, 0.08);
    mid.quad_to(0.0, 0.62, 0.7, 0.08);
    p.stroke(mid.finish(), purple.a(0.6), 0.035);
}

fn gloves(p: &mut Pen) {
    let line = Rgb::hex(0x6a6070);
    let mut pb = PathBuilder::new();
    if let Some(palm) = rrect(-0.42, -0.2, 0.84, 0.74, 0.26) {
        pb.push_path(&palm);
    }
    for (x, len) in [
        (-0.42_f32, 0.5_f32),
        (-0.2, 0.64),
        (0.02, 0.62),
        (0.24, 0.48),
    ] {
        if let Some(f) = rrect(x, -0.1 - len, 0.19, len + 0.1, 0.095) {
            pb.push_path(&f);
        }
    }
    if let Some(t) = rrect(-0.1, -0.46, 0.2, 0.52, 0.1)
        .and_then(|t| t.transform(Transform::from_translate(-0.42, 0.22).pre_rotate(-48.0)))
    {
        pb.push_path(&t);
    }
    let path = pb.finish();
    ink(p, path, Rgb::hex(0xfbfbf5), line, 0.05);
    ink(
        p,
        rrect(-0.46, 0.48, 0.92, 0.3, 0.06),
        Rgb::hex(0xe9d2a8),
        line,
        0.05,
    );
    for x in [-0.18_f32, 0.04, 0.24] {
        p.line((x, 0.05), (x, 0.36), line.a(0.55), 0.035);
    }
}

fn fan(p: &mut Pen) {
    let c = (0.0_f32, 0.62_f32);
    let r = 1.1;
    let (a0, a1) = (-PI * 0.88, -PI * 0.12);
    let pleats = 8;
    let pink = Rgb::hex(0xe0577a);
    let light = Rgb::hex(0xf6a3bb);
    let mut outline = PathBuilder::new();
    outline.move_to(c.0, c.1);
    outline.line_to(c.0 + r * a0.cos(), c.1 + r * a0.sin());
    arc_to(&mut outline, c, r, a0, a1);
    outline.close();
    p.stroke(outline.finish(), INK, 0.1);
    for k in 0..pleats {
        let s = a0 + (a1 - a0) * k as f32 / pleats as f32;
        let e = a0 + (a1 - a0) * (k + 1) as f32 / pleats as f32;
        let mut w = PathBuilder::new();
        w.move_to(c.0, c.1);
        w.line_to(c.0 + r * s.cos(), c.1 + r * s.sin());
        arc_to(&mut w, c, r, s, e);
        w.close();
        p.fill(w.finish(), if k % 2 == 0 { pink } else { light });
    }
    let mut hub = PathBuilder::new();
    hub.move_to(c.0, c.1);
    hub.line_to(c.0 + 0.4 * a0.cos(), c.1 + 0.4 * a0.sin());
    arc_to(&mut hub, c, 0.4, a0, a1);
    hub.close();
    p.fill(hub.finish(), Rgb::hex(0x7a4a2a));
    p.stroke(arc(c, r * 0.93, a0 + 0.03, a1 - 0.03), WHITE.a(0.7), 0.05);
    p.circle(c.0, c.1, 0.1, Rgb::hex(0xe0b040));
}

fn key(p: &mut Pen) {
    let gold = Rgb::hex(0xe0b040);
    let dark = Rgb::hex(0x7a5410);
    let mut k = p.sub(Transform::from_rotate(-35.0));
    let parts = |k: &mut Pen, c: Rgb, extra: f32| {
        k.stroke(circle(-0.5, 0.0, 0.3), c, 0.16 + extra);
        k.line((-0.2, 0.0), (0.86, 0.0), c, 0.15 + extra);
        k.stroke(polyline(&[(0.52, 0.0), (0.52, 0.3)]), c, 0.13 + extra);
        k.stroke(polyline(&[(0.74, 0.0), (0.74, 0.24)]), c, 0.13 + extra);
    };
    parts(&mut k, dark, 0.09);
    parts(&mut k, gold, 0.0);
    k.circle(-0.5, 0.0, 0.08, dark.a(0.5));
}

fn book(p: &mut Pen) {
    let cover = Rgb::hex(0x9b2d30);
    ink(
        p,
        poly(&[
            (-0.95, -0.48),
            (0.0, -0.36),
            (0.95, -0.48),
            (0.95, 0.58),
            (0.0, 0.7),
            (-0.95, 0.58),
        ]),
        cover,
        INK,
        0.05,
    );
    for s in [-1.0_f32, 1.0] {
        let mut pg = PathBuilder::new();
        pg.move_to(0.0, -0.36);
        pg.cubic_to(s * 0.3, -0.56, s * 0.65, -0.58, s * 0.88, -0.48);
        pg.line_to(s * 0.88, 0.48);
        pg.cubic_to(s * 0.65, 0.38, s * 0.3, 0.38, 0.0, 0.6);
        pg.close();
        ink(p, pg.finish(), Rgb::hex(0xfdf6e3), INK, 0.03);
        for k in 0..5 {
            let y = -0.3 + 0.16 * k as f32;
            p.line((s * 0.14, y + 0.02), (s * 0.74, y - 0.04), INK.a(0.4), 0.04);
        }
    }
    p.line((0.0, -0.36), (0.0, 0.6), INK.a(0.6), 0.04);
}

fn sword(p: &mut Pen) {
    let mut s = p.sub(Transform::from_row(1.15, 0.0, 0.0, 1.15, 0.0, 0.0).pre_rotate(40.0));
    ink(
        &mut s,
        poly(&[
            (-0.1, 0.32),
            (-0.1, -0.62),
            (0.0, -0.86),
            (0.1, -0.62),
            (0.1, 0.32),
        ]),
        Rgb::hex(0xe4eaf2),
        Rgb::hex(0x4a5260),
        0.04,
    );
    s.line((0.0, -0.62), (0.0, 0.28), Rgb::hex(0xa8b4c4), 0.04);
    ink(
        &mut s,
        rrect(-0.36, 0.3, 0.72, 0.12, 0.05),
        Rgb::hex(0xe0b040),
        Rgb::hex(0x7a5410),
        0.035,
    );
    ink(
        &mut s,
        rrect(-0.07, 0.42, 0.14, 0.3, 0.03),
        Rgb::hex(0x6a4024),
        INK,
        0.03,
    );
    ink(
        &mut s,
        circle(0.0, 0.8, 0.1),
        Rgb::hex(0xe0b040),
        Rgb::hex(0x7a5410),
        0.035,
    );
}

fn violin(p: &mut Pen) {
    let wood = Rgb::hex(0xc06a24);
    let dark = Rgb::hex(0x4a2208);
    let mut v = p.sub(Transform::from_rotate(28.0));
    let mut body = PathBuilder::new();
    if let Some(e) = ellipse(0.0, 0.42, 0.42, 0.36) {
        body.push_path(&e);
    }
    if let Some(e) = ellipse(0.0, -0.14, 0.34, 0.3) {
        body.push_path(&e);
    }
    if let Some(r) = rrect(-0.26, -0.1, 0.52, 0.5, 0.05) {
        body.push_path(&r);
    }
    ink(&mut v, body.finish(), wood, dark, 0.04);
    v.fill(rrect(-0.07, -0.95, 0.14, 1.0, 0.04), Rgb::hex(0x2b1d14));
    ink(&mut v, circle(0.0, -0.98, 0.08), wood, dark, 0.03);
    for x in [-0.16_f32, 0.16] {
        let mut fh = PathBuilder::new();
        fh.move_to(x - 0.03, 0.12);
        fh.cubic_to(x + 0.06, 0.22, x - 0.06, 0.36, x + 0.03, 0.46);
        v.stroke(fh.finish(), dark, 0.035);
    }
    v.rect(-0.12, 0.3, 0.24, 0.035, Rgb::hex(0xf0d9a8));
    v.fill(rrect(-0.08, 0.52, 0.16, 0.24, 0.04), Rgb::hex(0x2b1d14));
    for k in 0..4 {
        let x = -0.03 + 0.02 * k as f32;
        v.line((x, -0.9), (x, 0.6), Rgb::hex(0xe8e4dc), 0.012);
    }
}

fn apple(p: &mut Pen) {
    let red = Rgb::hex(0xd7263d);
    let mut a = PathBuilder::new();
    a.move_to(0.0, -0.34);
    a.cubic_to(0.3, -0.6, 0.86, -0.5, 0.86, 0.06);
    a.cubic_to(0.86, 0.56, 0.45, 0.86, 0.2, 0.8);
    a.cubic_to(0.1, 0.78, -0.1, 0.78, -0.2, 0.8);
    a.cubic_to(-0.45, 0.86, -0.86, 0.56, -0.86, 0.06);
    a.cubic_to(-0.86, -0.5, -0.3, -0.6, 0.0, -0.34);
    a.close();
    ink(p, a.finish(), red, Rgb::hex(0x6e1020), 0.05);
    p.fill(ellipse(-0.42, -0.06, 0.12, 0.22), WHITE.a(0.45));
    let mut stem = PathBuilder::new();
    stem.move_to(0.0, -0.34);
    stem.quad_to(0.04, -0.6, 0.14, -0.76);
    p.stroke(stem.finish(), Rgb::hex(0x5a3a22), 0.08);
    let mut leaf = PathBuilder::new();
    leaf.move_to(0.08, -0.56);
    leaf.quad_to(0.38, -0.92, 0.66, -0.66);
    leaf.quad_to(0.36, -0.44, 0.08, -0.56);
    leaf.close();
    ink(
        p,
        leaf.finish(),
        Rgb::hex(0x5fa83a),
        Rgb::hex(0x2e5a1a),
        0.035,
    );
}

fn cake(p: &mut Pen) {
    let line = Rgb::hex(0x5a3a4a);
    ink(
        p,
        ellipse(0.0, 0.72, 0.92, 0.14),
        Rgb::hex(0xf4f0e8),
        line,
        0.04,
    );
    ink(
        p,
        rrect(-0.72, -0.12, 1.44, 0.82, 0.12),
        Rgb::hex(0xf4a6b8),
        line,
        0.05,
    );
    p.rect(-0.72, 0.28, 1.44, 0.09, Rgb::hex(0xc2185b));
    let mut icing = PathBuilder::new();
    icing.move_to(-0.74, -0.14);
    icing.line_to(0.74, -0.14);
    icing.line_to(0.74, 0.02);
    let drips = [0.1_f32, 0.22, 0.08, 0.26, 0.12, 0.2, 0.06];
    let n = drips.len();
    for (i, d) in drips.iter().enumerate().rev() {
        let x1 = -0.74 + 1.48 * (i as f32 + 1.0) / n as f32;
        let x0 = -0.74 + 1.48 * i as f32 / n as f32;
        let xm = (x0 + x1) / 2.0;
        icing.quad_to(x1, 0.02 + d, xm, 0.02 + d);
        icing.quad_to(x0, 0.02 + d, x0, 0.02);
    }
    icing.close();
    ink(p, icing.finish(), WHITE, line, 0.035);
    for (x, y) in [(-0.45_f32, 0.5_f32), (-0.1, 0.55), (0.3, 0.5), (0.5, 0.56)] {
        p.circle(x, y, 0.045, Rgb::hex(0x4a2a3a));
    }
    let mut stem = PathBuilder::new();
    stem.move_to(0.0, -0.42);
    stem.quad_to(0.05, -0.6, 0.2, -0.68);
    p.stroke(stem.finish(), Rgb::hex(0x4a7a30), 0.05);
    ink(
        p,
        circle(0.0, -0.34, 0.15),
        Rgb::hex(0xd7263d),
        Rgb::hex(0x6e1020),
        0.035,
    );
}

fn rose_emblem(p: &mut Pen) {
    let green = Rgb::hex(0x3f7d3a);
    let mut stem = PathBuilder::new();
    stem.move_to(0.0, -0.1);
    stem.quad_to(0.12, 0.4, -0.04, 0.95);
    p.stroke(stem.finish(), green, 0.09);
    for (sx, y) in [(1.0_f32, 0.38_f32), (-1.0, 0.6)] {
        let mut leaf = PathBuilder::new();
        leaf.move_to(0.03, y);
        leaf.quad_to(sx * 0.3, y - 0.3, sx * 0.5, y - 0.12);
        leaf.quad_to(sx * 0.3, y + 0.08, 0.03, y);
        leaf.close();
        ink(
            p,
            leaf.finish(),
            Rgb::hex(0x5fa83a),
            Rgb::hex(0x2e5a1a),
            0.03,
        );
    }
    let red = Rgb::hex(0xd7263d);
    let dark = Rgb::hex(0x6e1020);
    let mut bloom = PathBuilder::new();
    for i in 0..5 {
        let a = -PI / 2.0 + 2.0 * PI * i as f32 / 5.0;
        bloom.push_circle(a.cos() * 0.26, -0.32 + a.sin() * 0.24, 0.28);
    }
    ink(p, bloom.finish(), red, dark, 0.045);
    p.circle(0.0, -0.32, 0.26, Rgb::hex(0xb01a30));
    p.stroke(arc((0.0, -0.32), 0.17, 0.0, 4.6), dark, 0.05);
    p.stroke(arc((0.0, -0.32), 0.07, 1.0, 5.0), dark, 0.045);
}

fn tarts(p: &mut Pen) {
    for (x, y, s) in [(0.3_f32, -0.28_f32, 0.62_f32), (-0.14, 0.18, 0.82)] {
        let mut t = p.sub(Transform::from_row(s, 0.0, 0.0, s * 0.72, x, y));
        let crust = Rgb::hex(0xe0a458);
        let dark = Rgb::hex(0x8a5a20);
        t.fill(ellipse(0.0, 0.22, 0.92, 0.92), dark);
        let mut ring = PathBuilder::new();
        ring.push_circle(0.0, 0.0, 0.8);
        for i in 0..14 {
            let a = 2.0 * PI * i as f32 / 14.0;
            ring.push_circle(a.cos() * 0.8, a.sin() * 0.8, 0.17);
        }
        ink(&mut t, ring.finish(), crust, dark, 0.05);
        t.circle(0.0, 0.0, 0.64, crust.darken(0.12));
        t.circle(0.0, 0.0, 0.56, Rgb::hex(0xc0182f));
        t.stroke(arc((0.0, 0.0), 0.38, 3.6, 4.6), WHITE.a(0.6), 0.09);
    }
}

fn baby(p: &mut Pen) {
    let blanket = Rgb::hex(0xa8d0f0);
    let line = Rgb::hex(0x4a5a70);
    ink(p, circle(0.0, -0.36, 0.5), blanket, line, 0.05);
    ink(p, ellipse(0.0, 0.3, 0.56, 0.6), blanket, line, 0.05);
    p.stroke(arc((0.0, 0.0), 0.5, 0.4, 2.7), line.a(0.5), 0.04);
    ink(
        p,
        circle(0.0, -0.34, 0.36),
        Rgb::hex(0xf6d2b8),
        Rgb::hex(0x8a5a4a),
        0.04,
    );
    for x in [-0.13_f32, 0.13] {
        p.stroke(arc((x, -0.38), 0.07, 0.3, 2.84), INK, 0.04);
        p.circle(x * 2.2, -0.24, 0.07, Rgb::hex(0xf08a9a).a(0.6));
    }
    p.circle(0.0, -0.2, 0.045, Rgb::hex(0xb0505a));
    p.stroke(arc((0.04, -0.72), 0.08, 1.6, 5.2), Rgb::hex(0x8a5a4a), 0.04);
}

fn pepper(p: &mut Pen) {
    let silver = Rgb::hex(0xc9ccd3);
    let line = Rgb::hex(0x4a5260);
    let mut body = PathBuilder::new();
    body.move_to(-0.34, -0.32);
    body.line_to(0.34, -0.32);
    body.cubic_to(0.56, 0.0, 0.56, 0.56, 0.4, 0.78);
    body.line_to(-0.4, 0.78);
    body.cubic_to(-0.56, 0.56, -0.56, 0.0, -0.34, -0.32);
    body.close();
    ink(p, body.finish(), silver, line, 0.05);
    p.rect(-0.47, 0.3, 0.94, 0.1, Rgb::hex(0x3a3a48));
    let mut cap = PathBuilder::new();
    cap.move_to(-0.4, -0.3);
    cap.cubic_to(-0.4, -0.84, 0.4, -0.84, 0.4, -0.3);
    cap.close();
    ink(p, cap.finish(), Rgb::hex(0xa6abb5), line, 0.05);
    ink(p, circle(0.0, -0.76, 0.08), Rgb::hex(0xa6abb5), line, 0.04);
    for (x, y) in [(-0.14_f32, -0.48_f32), (0.14, -0.48), (0.0, -0.6)] {
        p.circle(x, y, 0.04, INK);
    }
    p.fill(ellipse(-0.22, 0.05, 0.07, 0.18), WHITE.a(0.6));
    for (x, y) in [
        (0.46_f32, -0.7_f32),
        (0.6, -0.86),
        (0.7, -0.6),
        (0.36, -0.9),
    ] {
        p.circle(x, y, 0.035, INK.a(0.8));
    }
}

fn shell(p: &mut Pen) {
    let base = (0.0_f32, 0.72_f32);
    let r = 1.3;
    let ribs = 7;
    let (a0, a1) = (-PI * 0.86, -PI * 0.14);
    let outer = |i: usize| {
        let a = a0 + (a1 - a0) * i as f32 / ribs as f32;
        (base.0 + r * a.cos(), base.1 + r * a.sin() * 1.0)
    };
    let mut pb = PathBuilder::new();
    pb.move_to(base.0 - 0.12, base.1);
    let first = outer(0);
    pb.line_to(first.0, first.1);
    for i in 0..ribs {
        let a = outer(i);
        let b = outer(i + 1);
        let am = a0 + (a1 - a0) * (i as f32 + 0.5) / ribs as f32;
        let ctrl = (base.0 + r * 1.16 * am.cos(), base.1 + r * 1.16 * am.sin());
        pb.quad_to(ctrl.0, ctrl.1, b.0, b.1);
        let _ = a;
    }
    pb.line_to(base.0 + 0.12, base.1);
    pb.close();
    let line = Rgb::hex(0x9a5a35);
    p.fill(
        poly(&[
            (-0.4, 0.78),
            (-0.2, 0.55),
            (0.2, 0.55),
            (0.4, 0.78),
            (0.2, 0.9),
            (-0.2, 0.9),
        ]),
        Rgb::hex(0xe89a6f),
    );
    ink(p, pb.finish(), Rgb::hex(0xf7b58b), line, 0.05);
    for i in 1..ribs {
        let o = outer(i);
        p.line(
            (base.0, base.1 - 0.05),
            (
                base.0 + (o.0 - base.0) * 0.92,
                base.1 + (o.1 - base.1) * 0.92,
            ),
            Rgb::hex(0xd98a5f),
            0.05,
        );
    }
}

fn bottle(p: &mut Pen) {
    let glass = Rgb::hex(0xe2f0f6);
    let line = Rgb::hex(0x3f5a6a);
    let mut pb = PathBuilder::new();
    pb.push_circle(0.0, 0.28, 0.58);
    if let Some(n) = rrect(-0.17, -0.66, 0.34, 0.6, 0.05) {
        pb.push_path(&n);
    }
    ink(p, pb.finish(), glass, line, 0.05);
    let r: f32 = 0.5;
    let cy: f32 = 0.28;
    let level: f32 = 0.16;
    let a0 = ((level - cy) / r).clamp(-1.0, 1.0).asin();
    let mut liq = PathBuilder::new();
    liq.move_to(r * a0.cos(), cy + r * a0.sin());
    arc_to(&mut liq, (0.0, cy), r, a0, PI - a0);
    liq.close();
    p.fill(liq.finish(), Rgb::hex(0x7b4bd1));
    p.fill(ellipse(0.0, level, r * a0.cos(), 0.05), Rgb::hex(0xa886f0));
    ink(
        p,
        rrect(-0.14, -0.86, 0.28, 0.24, 0.05),
        Rgb::hex(0xb07a4a),
        INK,
        0.04,
    );
    ink(p, rrect(-0.3, 0.2, 0.6, 0.3, 0.04), CREAM, INK, 0.03);
    p.line((-0.18, 0.31), (0.18, 0.31), INK.a(0.7), 0.04);
    p.line((-0.12, 0.4), (0.12, 0.4), INK.a(0.7), 0.04);
    p.stroke(arc((0.0, 0.28), 0.44, 3.6, 4.4), WHITE.a(0.8), 0.07);
}

fn door(p: &mut Pen) {
    let wood = Rgb::hex(0x8b5a2b);
    let dark = Rgb::hex(0x3b2416);
    p.rect(-0.7, 0.82, 1.4, 0.12, Rgb::hex(0x9a9a9a));
    let mut d = PathBuilder::new();
    d.move_to(-0.55, 0.84);
    d.line_to(-0.55, -0.3);
    arc_to(&mut d, (0.0, -0.3), 0.55, PI, 2.0 * PI);
    d.line_to(0.55, 0.84);
    d.close();
    ink(p, d.finish(), wood, dark, 0.06);
    let mut inner = PathBuilder::new();
    inner.move_to(-0.38, 0.05);
    inner.line_to(-0.38, -0.3);
    arc_to(&mut inner, (0.0, -0.3), 0.38, PI, 2.0 * PI);
    inner.line_to(0.38, 0.05);
    inner.close();
    p.stroke(inner.finish(), wood.lighten(0.2), 0.05);
    p.stroke(rrect(-0.38, 0.2, 0.76, 0.5, 0.04), wood.lighten(0.2), 0.05);
    ink(p, circle(0.3, 0.12, 0.07), Rgb::hex(0xe0b040), dark, 0.03);
}

// ---------------------------------------------------------------------------------------
// The figure
// ---------------------------------------------------------------------------------------

/// Fixed per-figure proportions derived from the figure's seed and name.
#[derive(Debug, Clone, Copy)]
struct Build {
    width: f32,
    head: f32,
    trim: bool,
}

impl Build {
    fn of(fig: &Figure) -> Self {
        let mut r = Rng::new(fig.seed ^ hash_str(&fig.name), 0xf16);
        Build {
            width: r.range(0.9, 1.1),
            head: r.range(0.95, 1.06),
            trim: r.chance(0.5),
        }
    }
}

/// Draws a rounded, outlined shape: outline, rounding stroke, then fill.
fn rounded_shape(p: &mut Pen, path: Option<Path>, fill: Rgb, line: Rgb, outline: f32, round: f32) {
    if let Some(path) = path {
        p.stroke(Some(path.clone()), line, round + outline * 2.0);
        if round > 0.0 {
            p.stroke(Some(path.clone()), fill, round);
        }
        p.fill(Some(path), fill);
    }
}

fn robe_path(w: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(0.0, -0.6);
    pb.cubic_to(0.1 * w, -0.61, 0.16 * w, -0.59, 0.17 * w, -0.53);
    pb.cubic_to(0.19 * w, -0.34, 0.26 * w, -0.16, 0.28 * w, -0.01);
    pb.quad_to(0.0, 0.035, -0.28 * w, -0.01);
    pb.cubic_to(-0.26 * w, -0.16, -0.19 * w, -0.34, -0.17 * w, -0.53);
    pb.cubic_to(-0.16 * w, -0.59, -0.1 * w, -0.61, 0.0, -0.6);
    pb.close();
    pb.finish()
}

/// Draws one figure at its slot: the token and its name label.
pub(crate) fn draw_figure(
    pen: &mut Pen,
    ts: &Typesetter,
    frame: &Frame,
    fig: &Figure,
    slot: &Slot,
) {
    let c = Rgb::from_u8(fig.color);
    let line = if c.luma() < 0.22 {
        c.lighten(0.5)
    } else {
        c.darken(0.6)
    };
    let shade = c.darken(0.22);
    let head_c = c.lighten(0.38);
    let b = Build::of(fig);
    let emblem = Emblem::parse(&fig.emblem, &fig.name);
    let ow = 0.012;
    {
        let mut p = pen.sub(Transform::from_row(
            slot.size, 0.0, 0.0, slot.size, slot.x, slot.feet,
        ));
        // Ground shadow and feet.
        p.ellipse(0.0, 0.005, 0.36 * b.width, 0.045, Rgb::hex(0x000000).a(0.3));
        for x in [-0.1_f32, 0.1] {
            p.outlined(
                ellipse(x * b.width, 0.0, 0.075, 0.035),
                shade.darken(0.3),
                line,
                ow,
            );
        }
        // Arms behind the robe edge.
        for s in [-1.0_f32, 1.0] {
            let a = (s * 0.15 * b.width, -0.5);
            let h = (s * 0.27 * b.width, -0.24);
            p.line(a, h, line, 0.075 + ow * 2.0);
            p.line(a, h, shade, 0.075);
        }
        // Robe.
        let robe = robe_path(b.width);
        p.outlined(robe.clone(), c, line, ow);
        p.fill(
            robe,
            Ink::Linear {
                from: (0.0, 0.0),
                to: (0.28 * b.width, 0.0),
                stops: vec![
                    (0.0, Rgb::hex(0x000000), 0.0),
                    (0.35, Rgb::hex(0x000000), 0.0),
                    (1.0, Rgb::hex(0x000000), 0.22),
                ],
            },
        );
        if b.trim {
            let mut hem = PathBuilder::new();
            hem.move_to(-0.255 * b.width, -0.075);
            hem.quad_to(0.0, -0.04, 0.255 * b.width, -0.075);
            p.stroke(hem.finish(), c.lighten(0.45).a(0.9), 0.022);
        } else {
            // A belt with a small gold buckle.
            let hw = 0.232 * b.width;
            p.fill(rrect(-hw, -0.17, 2.0 * hw, 0.04, 0.01), line.a(0.85));
            p.outlined(
                rrect(-0.035, -0.18, 0.07, 0.06, 0.012),
                Rgb::hex(0xe0b040),
                line,
                ow * 0.6,
            );
        }
        // Hands.
        for s in [-1.0_f32, 1.0] {
            p.outlined(
                circle(s * 0.275 * b.width, -0.23, 0.042),
                head_c,
                line,
                ow * 0.8,
            );
        }
        // Collar.
        p.outlined(ellipse(0.0, -0.575, 0.13, 0.04), CREAM, line, ow * 0.8);
        // Medallion with the emblem.
        let (my, mr) = (-0.33, 0.13);
        p.outlined(circle(0.0, my, mr), CREAM, line, ow);
        p.stroke(circle(0.0, my, mr * 0.86), c.a(0.8), 0.01);
        let (badge, worn) = match emblem {
            Emblem::Hat | Emblem::Crown => {
                let initial = Emblem::parse("", &fig.name);
                (initial, Some(emblem))
            }
            e => (e, None),
        };
        {
            let mut e = p.sub(Transform::from_row(0.095, 0.0, 0.0, 0.095, 0.0, my));
            draw_emblem(&mut e, badge, ts);
        }
        // Head.
        let hr = 0.2 * b.head;
        let hy = -0.78;
        {
            let mut h = p.sub(Transform::from_row(hr, 0.0, 0.0, hr, 0.0, hy));
            let o = ow / hr;
            rounded_shape(
                &mut h,
                shape_path(fig.shape),
                head_c,
                line,
                o,
                rounding(fig.shape),
            );
            let (fx, fy, fs) = face_spot(fig.shape);
            let mut f = h.sub(Transform::from_row(fs, 0.0, 0.0, fs, fx, fy));
            for s in [-1.0_f32, 1.0] {
                f.ellipse(s * 0.33, -0.06, 0.19, 0.23, WHITE);
                f.stroke(ellipse(s * 0.33, -0.06, 0.19, 0.23), line.a(0.6), 0.04);
                f.circle(s * 0.33 + 0.04, -0.02, 0.11, INK);
                f.circle(s * 0.33 + 0.08, -0.07, 0.04, WHITE);
                f.circle(s * 0.58, 0.28, 0.12, Rgb::hex(0xf07890).a(0.35));
            }
            f.stroke(arc((0.0, 0.2), 0.16, 0.5, PI - 0.5), INK, 0.07);
        }
        // Worn hat or crown.
        if let Some(w) = worn {
            let rest = hy - hr * hat_rest(fig.shape);
            let mut hp = p.sub(Transform::from_row(0.56, 0.0, 0.0, 0.56, 0.0, rest));
            match w {
                Emblem::Hat => {
                    let felt = if c.luma() < 0.25 {
                        Rgb::hex(0x5a4a44)
                    } else {
                        Rgb::hex(0x2a2630)
                    };
                    top_hat(&mut hp, felt, c, true);
                }
                _ => crown(&mut hp),
            }
        }
    }
    name_label(pen, ts, frame, fig, slot, c);
}

/// The name under the figure, on a dark pill with a dot of the figure's colour.
fn name_label(pen: &mut Pen, ts: &Typesetter, frame: &Frame, fig: &Figure, slot: &Slot, c: Rgb) {
    let name = ts.sanitize(&fig.name);
    if name.is_empty() {
        return;
    }
    let size = frame.label_h * 0.6;
    let pad = size * 0.55;
    let dot = size * 0.32;
    let max_text = (slot.label_w - 2.0 * pad - dot * 3.0).max(size);
    let (_, lines) = ts.fit(&name, max_text, size, size, |_| 1);
    let Some(text) = lines.into_iter().next() else {
        return;
    };
    let tw = ts.measure(&text, size);
    let w = tw + 2.0 * pad + dot * 3.0;
    let h = frame.label_h;
    let x = slot.x - w / 2.0;
    let y = slot.feet + 6.0 * frame.u;
    pen.fill(rrect(x, y, w, h, h / 2.0), Rgb::hex(0x120f18).a(0.66));
    pen.circle(x + pad + dot, y + h / 2.0, dot, c);
    pen.stroke(
        circle(x + pad + dot, y + h / 2.0, dot),
        WHITE.a(0.7),
        1.2 * frame.u,
    );
    let baseline = y + h / 2.0 + ts.ascent(size) * 0.36;
    pen.fill(
        ts.line_path(&text, size, x + pad + dot * 3.0, baseline),
        Rgb::hex(0xfbf6ea),
    );
}
