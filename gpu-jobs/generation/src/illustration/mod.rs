//! Scene illustrations: flat-vector storybook pictures drawn from a scene's setting,
//! time of day, mood, colours and characters, with the chapter heading and a caption.
//!
//! Everything is drawn with tiny-skia and the bundled font; the output is a PNG and is
//! deterministic (the same [`Picture`] always gives the same bytes).

mod canvas;
mod figures;
mod interiors;
mod layout;
mod look;
mod scenery;
mod text;

use tiny_skia::{Pixmap, Transform};

use canvas::{Ink, Pen, Rgb, rrect};
use layout::Frame;
use look::Look;
use text::Typesetter;

/// Version of the drawing style; bump whenever the drawing changes.
pub const STYLE_VERSION: &str = "illustration-v1";

/// Largest accepted picture side, in pixels.
pub const MAX_SIDE: u32 = 4096;

/// Everything needed to draw one scene illustration.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Width in pixels (1..=4096).
    pub width: u32,
    /// Height in pixels (1..=4096).
    pub height: u32,
    /// The kind of place drawn behind the figures.
    pub scenery: Scenery,
    /// Time of day: changes the sky and the light.
    pub time_of_day: TimeOfDay,
    /// Mood: changes the colour grade.
    pub mood: MoodLook,
    /// Colours from the scene's visual brief, dominant first; may be empty.
    pub palette: Vec<[u8; 3]>,
    /// Main characters present, most important first (at most five are drawn).
    pub figures: Vec<Figure>,
    /// Chapter title (may contain accents, guillemets « », em dashes, curly quotes).
    pub heading: String,
    /// Key quote or summary; may be long: it is wrapped, and ellipsized if it would not fit.
    pub caption: String,
    /// Scene-stable seed for layout variation (tree positions, stars, waves...).
    pub seed: u64,
}

/// One character token.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Name written under the figure.
    pub name: String,
    /// The character's colour (robe; the head is a lighter tint).
    pub color: [u8; 3],
    /// Shape of the head.
    pub shape: Shape,
    /// Emblem word (`watch`, `hat`, `crown`, ...) or a single letter.
    pub emblem: String,
    /// Character-stable seed for small variations in proportions.
    pub seed: u64,
}

/// Shape of a figure's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A round head.
    Circle,
    /// A rounded triangle, point up.
    Triangle,
    /// A rounded square.
    Square,
    /// A diamond (rhombus).
    Diamond,
    /// A five-pointed star.
    Star,
    /// A hexagon.
    Hexagon,
    /// A crescent moon.
    Crescent,
    /// A heart.
    Heart,
}

impl Shape {
    /// Reads a shape name (English or French); unknown names give [`Shape::Circle`].
    pub fn from_name(name: &str) -> Shape {
        match name.trim().to_lowercase().as_str() {
            "triangle" => Shape::Triangle,
            "square" | "carré" | "carre" | "box" => Shape::Square,
            "diamond" | "losange" | "rhombus" => Shape::Diamond,
            "star" | "étoile" | "etoile" => Shape::Star,
            "hexagon" | "hexagone" => Shape::Hexagon,
            "crescent" | "moon" | "croissant" | "lune" => Shape::Crescent,
            "heart" | "coeur" | "cœur" => Shape::Heart,
            _ => Shape::Circle,
        }
    }
}

/// The kind of place a scene happens in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenery {
    /// Layered trees.
    Forest,
    /// Hedges, flower beds, a path and a rose bush.
    Garden,
    /// Rolling hills and grass.
    Field,
    /// Horizon, waves and a beach.
    Sea,
    /// A river or pool between two banks.
    River,
    /// A street with buildings.
    City,
    /// A room with a window, a door and a table.
    Room,
    /// A long hall with columns, doors and hanging lamps.
    Hall,
    /// A throne room with a dais and banners.
    Court,
    /// Stars, the moon and dark hills.
    NightSky,
    /// A cave seen from inside, looking out of its mouth.
    Cave,
    /// Clouds all around.
    Sky,
}

/// Time of day of a scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeOfDay {
    /// Pale warm light.
    Morning,
    /// Blue sky.
    Day,
    /// Orange and purple sky.
    Evening,
    /// Dark sky with stars and the moon.
    Night,
}

impl TimeOfDay {
    /// Reads a label (`morning`, `day`, `evening`, `night`, a few synonyms and their French
    /// equivalents); anything else, or nothing, is [`TimeOfDay::Day`].
    pub fn from_label(label: Option<&str>) -> TimeOfDay {
        let Some(label) = label else {
            return TimeOfDay::Day;
        };
        match label.trim().to_lowercase().as_str() {
            "morning" | "dawn" | "sunrise" | "matin" | "aube" | "aurore" => TimeOfDay::Morning,
            "evening" | "dusk" | "sunset" | "twilight" | "soir" | "soirée" | "soiree"
            | "crépuscule" | "crepuscule" => TimeOfDay::Evening,
            "night" | "midnight" | "nuit" | "minuit" => TimeOfDay::Night,
            _ => TimeOfDay::Day,
        }
    }
}

/// The mood of a scene as the analysis describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MoodLook {
    /// `calm`, `joyful`, `tense`, `sad`, `eerie`, `whimsical` or `angry` (others are
    /// graded from valence and intensity alone).
    pub label: String,
    /// -1 (dark) ..= 1 (bright).
    pub valence: f32,
    /// 0 ..= 1.
    pub intensity: f32,
}

impl Default for MoodLook {
    fn default() -> Self {
        MoodLook {
            label: "calm".to_string(),
            valence: 0.2,
            intensity: 0.4,
        }
    }
}

/// Why a picture could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// A side is 0 or larger than [`MAX_SIDE`].
    #[error("invalid picture size {width}x{height}: each side must be within 1..={MAX_SIDE}")]
    BadSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The bundled font could not be read.
    #[error("the bundled font could not be parsed")]
    Font,
    /// The canvas could not be allocated.
    #[error("could not allocate a {width}x{height} canvas")]
    Canvas {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[source] Box<dyn std::error::Error + Send + Sync>),
}

// ---------------------------------------------------------------------------------------
// Scenery from words
// ---------------------------------------------------------------------------------------

/// Whether a scenery is enclosed (drawn as an interior).
fn is_interior(s: Scenery) -> bool {
    matches!(
        s,
        Scenery::Room | Scenery::Hall | Scenery::Court | Scenery::Cave
    )
}

/// What a place word means: its own scenery, and what to draw instead when the scene
/// is known to be outdoors (for indoor words) or indoors (for outdoor words).
fn place_word(word: &str) -> Option<(Scenery, Option<Scenery>)> {
    use Scenery::*;
    let w = word;
    let entry = match w {
        "hall" | "halls" | "salle" | "salles" | "corridor" | "couloir" | "passage" | "gallery"
        | "galerie" | "ballroom" | "church" | "église" | "eglise" | "cathedral" | "cathédrale"
        | "chapel" | "chapelle" | "palace" | "palais" | "castle" | "château" | "chateau" => {
            (Hall, Some(Garden))
        }
        "court" | "courtroom" | "tribunal" | "throne" | "trône" | "trone" | "trial" | "procès"
        | "proces" | "jury" => (Court, Some(Garden)),
        "room" | "rooms" | "chambre" | "bedroom" | "kitchen" | "cuisine" | "office" | "bureau"
        | "flat" | "apartment" | "appartement" | "parlour" | "parlor" | "study" | "library"
        | "bibliothèque" | "salon" | "house" | "cottage" | "maison" | "home" | "inn"
        | "auberge" | "shop" | "boutique" | "attic" | "grenier" | "cellar" | "nursery"
        | "dining" => (Room, Some(Garden)),
        "garden" | "gardens" | "jardin" | "jardins" | "orchard" | "verger" | "lawn" | "pelouse"
        | "croquet" | "hedge" | "hedges" | "roseraie" => (Garden, Some(Room)),
        "wood" | "woods" | "forest" | "forests" | "forêt" | "foret" | "bois" | "grove"
        | "jungle" | "thicket" | "bosquet" => (Forest, None),
        "sea" | "seas" | "ocean" | "océan" | "mer" | "beach" | "plage" | "shore" | "seashore"
        | "rivage" | "coast" | "côte" | "bay" | "baie" | "harbour" | "harbor" | "port"
        | "island" | "île" | "ile" | "waves" | "vagues" | "sands" => (Sea, None),
        "river" | "rivière" | "riviere" | "fleuve" | "stream" | "brook" | "ruisseau" | "pool"
        | "pond" | "lake" | "lac" | "étang" | "etang" | "bank" | "rive" | "canal" | "mare" => {
            (River, None)
        }
        "street" | "streets" | "road" | "rue" | "route" | "town" | "city" | "ville" | "village"
        | "market" | "marché" | "marche" | "square" | "avenue" | "boulevard" | "quai"
        | "bridge" | "pont" | "london" | "paris" => (City, None),
        "field" | "fields" | "champ" | "champs" | "hill" | "hills" | "colline" | "meadow"
        | "meadows" | "pré" | "prairie" | "park" | "parc" | "countryside" | "campagne" | "farm"
        | "ferme" | "valley" | "vallée" | "vallee" | "plain" | "plaine" | "mountain"
        | "montagne" => (Field, None),
        "cave" | "caves" | "cavern" | "caverne" | "grotte" | "hole" | "rabbit-hole" | "trou"
        | "tunnel" | "underground" | "burrow" | "terrier" | "souterrain" => (Cave, None),
        "sky" | "skies" | "ciel" | "clouds" | "nuages" | "flying" => (Sky, None),
        "stars" | "starry" | "étoiles" | "etoiles" | "moon" | "lune" | "moonlight" => {
            (NightSky, None)
        }
        _ => return None,
    };
    Some(entry)
}

/// Chooses scenery from free words describing the setting (place name, place
/// description, the scene's summary), English and French, plus whether it is indoors.
///
/// The first place word found wins, unless it contradicts `indoor` (an indoor word in an
/// outdoor scene becomes a garden, an outdoor word in an indoor scene is skipped). With
/// no usable word: indoors gives a room, outdoors gives a field (a night sky at night),
/// and nothing known gives a sky.
pub fn scenery_for(words: &str, indoor: Option<bool>, time_of_day: TimeOfDay) -> Scenery {
    let lower = words.to_lowercase();
    let night = time_of_day == TimeOfDay::Night;
    for token in lower
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .flat_map(|t| {
            // Try the hyphenated whole first ("rabbit-hole"), then its parts.
            std::iter::once(t).chain(t.split('-').filter(move |_| t.contains('-')))
        })
        .filter(|t| !t.is_empty())
    {
        let Some((natural, other)) = place_word(token) else {
            continue;
        };
        let chosen = match indoor {
            None => Some(natural),
            Some(true) if is_interior(natural) => Some(natural),
            Some(true) => other.filter(|s| is_interior(*s)),
            Some(false) if natural == Scenery::Cave || !is_interior(natural) => Some(natural),
            Some(false) => other,
        };
        if let Some(s) = chosen {
            return if s == Scenery::Sky && night {
                Scenery::NightSky
            } else {
                s
            };
        }
    }
    match indoor {
        Some(true) => Scenery::Room,
        Some(false) if night => Scenery::NightSky,
        Some(false) => Scenery::Field,
        None => Scenery::Sky,
    }
}

// ---------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------

/// Where a camera should move toward in this picture, as fractions of its width and height:
/// the middle of the figures (the cast stands on the ground line), or a point above the middle
/// of the scenery when nobody is drawn.
pub fn focus(picture: &Picture) -> (f32, f32) {
    let (width, height) = (picture.width.max(1) as f32, picture.height.max(1) as f32);
    let slots = layout::figure_slots(picture.width, picture.height, picture.figures.len());
    if slots.is_empty() {
        return (0.5, 0.42);
    }
    let left = slots.iter().map(|s| s.rect.x).fold(f32::MAX, f32::min);
    let right = slots
        .iter()
        .map(|s| s.rect.x + s.rect.w)
        .fold(f32::MIN, f32::max);
    let top = slots.iter().map(|s| s.rect.y).fold(f32::MAX, f32::min);
    let bottom = slots
        .iter()
        .map(|s| s.rect.y + s.rect.h)
        .fold(f32::MIN, f32::max);
    (
        ((left + right) / 2.0 / width).clamp(0.0, 1.0),
        ((top + bottom) / 2.0 / height).clamp(0.0, 1.0),
    )
}

/// Draws the picture and returns PNG bytes. Deterministic: the same [`Picture`] gives
/// identical bytes.
pub fn draw(picture: &Picture) -> Result<Vec<u8>, DrawError> {
    let pixmap = render(picture)?;
    pixmap.encode_png().map_err(|e| DrawError::Png(Box::new(e)))
}

/// Draws the picture into a pixmap.
fn render(picture: &Picture) -> Result<Pixmap, DrawError> {
    let (width, height) = (picture.width, picture.height);
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(DrawError::BadSize { width, height });
    }
    let ts = Typesetter::bundled().ok_or(DrawError::Font)?;
    let mut pixmap = Pixmap::new(width, height).ok_or(DrawError::Canvas { width, height })?;
    let frame = Frame::new(width, height);
    let look = Look::new(picture);
    {
        let mut pen = Pen::new(&mut pixmap);
        scenery::draw(&mut pen, picture.scenery, &frame, &look, picture.seed);
        vignette(&mut pen, &frame);
        heading(&mut pen, &ts, &frame, &look, &picture.heading);
        let slots = layout::figure_slots(width, height, picture.figures.len());
        for (fig, slot) in picture.figures.iter().zip(slots.iter()) {
            figures::draw_figure(&mut pen, &ts, &frame, fig, slot);
        }
        caption(&mut pen, &ts, &frame, &look, &picture.caption);
    }
    Ok(pixmap)
}

/// Darkens the corners a little to hold the eye in the middle.
fn vignette(pen: &mut Pen, f: &Frame) {
    let r = (f.w * f.w + f.h * f.h).sqrt() * 0.6;
    pen.rect(
        0.0,
        0.0,
        f.w,
        f.h,
        Ink::Radial {
            center: (f.w / 2.0, f.h * 0.5),
            radius: r,
            stops: vec![
                (0.0, Rgb::hex(0x000000), 0.0),
                (0.6, Rgb::hex(0x000000), 0.0),
                (1.0, Rgb::hex(0x07040c), 0.32),
            ],
        },
    );
}

/// Warm white used for text.
const PAPER: Rgb = Rgb::hex(0xfbf6ea);

/// Sets one line of text with a soft shadow and a thin dark edge for legibility.
fn text_line(pen: &mut Pen, ts: &Typesetter, line: &str, size: f32, x: f32, baseline: f32, u: f32) {
    let Some(path) = ts.line_path(line, size, x, baseline) else {
        return;
    };
    let shadow = Rgb::hex(0x000000);
    {
        let off = (size * 0.05).max(u);
        let mut s = pen.sub(Transform::from_translate(off * 0.4, off));
        s.fill(Some(path.clone()), shadow.a(0.45));
    }
    pen.stroke(Some(path.clone()), shadow.a(0.35), (size * 0.06).max(1.0));
    pen.fill(Some(path), PAPER);
}

/// The chapter title at the top, over a soft dark scrim, with a small ornament.
fn heading(pen: &mut Pen, ts: &Typesetter, f: &Frame, look: &Look, heading: &str) {
    let text = ts.sanitize(heading);
    if text.is_empty() {
        return;
    }
    let (max_size, min_size, max_lines, top) = if f.portrait {
        (60.0 * f.u, 34.0 * f.u, 3, 64.0 * f.u)
    } else {
        (50.0 * f.u, 30.0 * f.u, 2, 34.0 * f.u)
    };
    let max_w = f.w - 2.0 * f.margin;
    let (size, lines) = ts.fit(&text, max_w, max_size, min_size, |_| max_lines);
    let lines = if ts.wrap(&text, size, max_w).len() == lines.len() {
        ts.balanced(&text, size, max_w)
    } else {
        lines
    };
    let line_h = size * 1.2;
    let cap = size * 0.74;
    let block_bottom = top + cap + line_h * (lines.len() as f32 - 1.0);
    let scrim_bottom = block_bottom + 70.0 * f.u;
    pen.rect(
        0.0,
        0.0,
        f.w,
        scrim_bottom,
        Ink::Linear {
            from: (0.0, 0.0),
            to: (0.0, scrim_bottom),
            stops: vec![
                (0.0, look.band, 0.5),
                (0.55, look.band, 0.28),
                (1.0, look.band, 0.0),
            ],
        },
    );
    for (i, line) in lines.iter().enumerate() {
        let w = ts.measure(line, size);
        let baseline = top + cap + i as f32 * line_h;
        text_line(pen, ts, line, size, (f.w - w) / 2.0, baseline, f.u);
    }
    // Ornament: rule, diamond, rule.
    let oy = block_bottom + 18.0 * f.u;
    let gold = look.accent(0).lighten(0.35);
    let half = (size * 2.2).min(f.w * 0.25);
    let mid = f.w / 2.0;
    let d = 5.0 * f.u;
    pen.line(
        (mid - half, oy),
        (mid - d * 2.2, oy),
        gold.a(0.85),
        1.6 * f.u,
    );
    pen.line(
        (mid + d * 2.2, oy),
        (mid + half, oy),
        gold.a(0.85),
        1.6 * f.u,
    );
    pen.poly(
        &[(mid, oy - d), (mid + d, oy), (mid, oy + d), (mid - d, oy)],
        gold,
    );
}

/// The caption in a translucent band: full width at the bottom (landscape) or a rounded
/// card in the lower third (portrait).
fn caption(pen: &mut Pen, ts: &Typesetter, f: &Frame, look: &Look, caption: &str) {
    let text = ts.sanitize(caption);
    if text.is_empty() {
        return;
    }
    let band = f.band;
    let accent = look.accent(0).lighten(0.3);
    let (pad_x, pad_y, max_size, min_size) = if f.portrait {
        (30.0 * f.u, 22.0 * f.u, 36.0 * f.u, 22.0 * f.u)
    } else {
        (64.0 * f.u, 16.0 * f.u, 30.0 * f.u, 19.0 * f.u)
    };
    if f.portrait {
        let r = 20.0 * f.u;
        pen.fill(rrect(band.x, band.y, band.w, band.h, r), look.band.a(0.74));
        pen.stroke(
            rrect(
                band.x + 5.0 * f.u,
                band.y + 5.0 * f.u,
                band.w - 10.0 * f.u,
                band.h - 10.0 * f.u,
                r * 0.75,
            ),
            accent.a(0.55),
            1.5 * f.u,
        );
    } else {
        let fade = 28.0 * f.u;
        pen.rect(
            0.0,
            band.y - fade,
            f.w,
            fade,
            Ink::Linear {
                from: (0.0, band.y - fade),
                to: (0.0, band.y),
                stops: vec![(0.0, look.band, 0.0), (1.0, look.band, 0.35)],
            },
        );
        pen.rect(0.0, band.y, f.w, f.h - band.y, look.band.a(0.78));
        pen.rect(
            f.w * 0.3,
            band.y,
            f.w * 0.4,
            2.0 * f.u,
            Ink::Linear {
                from: (f.w * 0.3, 0.0),
                to: (f.w * 0.7, 0.0),
                stops: vec![(0.0, accent, 0.0), (0.5, accent, 0.9), (1.0, accent, 0.0)],
            },
        );
    }
    let inner_h = band.h - 2.0 * pad_y;
    let max_w = band.w - 2.0 * pad_x;
    let lines_for = |size: f32| ((inner_h - size * 0.74) / (size * 1.3)).floor() as usize + 1;
    let (size, lines) = ts.fit(&text, max_w, max_size, min_size, lines_for);
    let line_h = size * 1.3;
    let cap = size * 0.74;
    let block = cap + line_h * (lines.len() as f32 - 1.0);
    let first = band.y + (band.h - block) / 2.0 + cap;
    for (i, line) in lines.iter().enumerate() {
        let w = ts.measure(line, size);
        let x = band.x + (band.w - w) / 2.0;
        text_line(pen, ts, line, size, x, first + i as f32 * line_h, f.u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Scenery; 12] = [
        Scenery::Forest,
        Scenery::Garden,
        Scenery::Field,
        Scenery::Sea,
        Scenery::River,
        Scenery::City,
        Scenery::Room,
        Scenery::Hall,
        Scenery::Court,
        Scenery::NightSky,
        Scenery::Cave,
        Scenery::Sky,
    ];

    fn alice() -> Figure {
        Figure {
            name: "Alice".into(),
            color: [66, 133, 244],
            shape: Shape::Circle,
            emblem: "key".into(),
            seed: 7,
        }
    }

    fn rabbit() -> Figure {
        Figure {
            name: "White Rabbit".into(),
            color: [236, 236, 240],
            shape: Shape::Heart,
            emblem: "watch".into(),
            seed: 11,
        }
    }

    fn sample(scenery: Scenery, width: u32, height: u32) -> Picture {
        Picture {
            width,
            height,
            scenery,
            time_of_day: TimeOfDay::Day,
            mood: MoodLook {
                label: "whimsical".into(),
                valence: 0.4,
                intensity: 0.6,
            },
            palette: vec![[220, 60, 90], [250, 200, 80]],
            figures: vec![alice(), rabbit()],
            heading: "Chapter I: Down the Rabbit-Hole".into(),
            caption: "Alice was beginning to get very tired of sitting by her sister on the bank."
                .into(),
            seed: 42,
        }
    }

    fn decode(bytes: &[u8]) -> Pixmap {
        match Pixmap::decode_png(bytes) {
            Ok(p) => p,
            Err(e) => panic!("not a PNG: {e}"),
        }
    }

    fn png(p: &Picture) -> Vec<u8> {
        match draw(p) {
            Ok(b) => b,
            Err(e) => panic!("draw failed: {e}"),
        }
    }

    fn rgb_at(p: &Pixmap, x: f32, y: f32) -> [u8; 3] {
        let px = p.pixel(x as u32, y as u32).map(|c| c.demultiply());
        px.map_or([0, 0, 0], |c| [c.red(), c.green(), c.blue()])
    }

    fn luma(c: [u8; 3]) -> f32 {
        0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2])
    }

    #[test]
    fn drawing_is_deterministic_and_seed_sensitive() {
        let p = sample(Scenery::Forest, 320, 180);
        let a = png(&p);
        let b = png(&p);
        assert_eq!(a, b, "same picture must give identical bytes");
        for s in ALL {
            let mut p = sample(s, 160, 90);
            let a = png(&p);
            p.seed = 43;
            assert_ne!(a, png(&p), "a different seed must change {s:?}");
        }
    }

    #[test]
    fn both_formats_decode_with_the_right_size() {
        for (w, h) in [(1280, 720), (720, 1280)] {
            let pix = decode(&png(&sample(Scenery::Garden, w, h)));
            assert_eq!((pix.width(), pix.height()), (w, h));
            // Fully opaque output.
            assert!(pix.pixels().iter().all(|c| c.alpha() == 255));
        }
    }

    #[test]
    fn every_scenery_and_time_draws() {
        let times = [
            TimeOfDay::Morning,
            TimeOfDay::Day,
            TimeOfDay::Evening,
            TimeOfDay::Night,
        ];
        for (i, s) in ALL.iter().enumerate() {
            let mut p = sample(*s, 192, 108);
            p.time_of_day = times[i % 4];
            let pix = decode(&png(&p));
            assert_eq!(pix.width(), 192);
        }
    }

    #[test]
    fn a_figure_keeps_its_colour_and_look_across_sceneries() {
        let fig = Figure {
            name: "Queen".into(),
            color: [200, 30, 150],
            shape: Shape::Diamond,
            emblem: "rose".into(),
            seed: 3,
        };
        let (w, h) = (640, 360);
        let slots = layout::figure_slots(w, h, 1);
        let slot = slots[0];
        let mut images = Vec::new();
        for (scenery, time) in [
            (Scenery::Sea, TimeOfDay::Day),
            (Scenery::Cave, TimeOfDay::Night),
        ] {
            let mut p = sample(scenery, w, h);
            p.time_of_day = time;
            p.figures = vec![fig.clone()];
            images.push(decode(&png(&p)));
        }
        for img in &images {
            // A point on the robe, left of the medallion.
            let c = rgb_at(img, slot.x - 0.12 * slot.size, slot.feet - 0.15 * slot.size);
            for k in 0..3 {
                assert!(
                    (i32::from(c[k]) - i32::from(fig.color[k])).abs() <= 2,
                    "robe colour {c:?} differs from {:?}",
                    fig.color
                );
            }
            // Many pixels of exactly that colour inside the figure's box.
            let r = slot.rect;
            let mut count = 0;
            for y in (r.y as u32)..(r.bottom() as u32) {
                for x in (r.x.max(0.0) as u32)..(r.right() as u32) {
                    let c = rgb_at(img, x as f32, y as f32);
                    if c.iter()
                        .zip(fig.color.iter())
                        .all(|(a, b)| a.abs_diff(*b) <= 2)
                    {
                        count += 1;
                    }
                }
            }
            assert!(count > 300, "only {count} figure-coloured pixels");
        }
        // The medallion (emblem) is pixel-identical in both pictures.
        let (cx, cy) = (slot.x, slot.feet - 0.33 * slot.size);
        let rad = 0.09 * slot.size;
        for dy in -3..=3 {
            for dx in -3..=3 {
                let x = cx + dx as f32 * rad / 3.0;
                let y = cy + dy as f32 * rad / 3.0;
                assert_eq!(rgb_at(&images[0], x, y), rgb_at(&images[1], x, y));
            }
        }
    }

    #[test]
    fn figures_never_overlap_the_caption_band() {
        for (w, h) in [(1280, 720), (720, 1280), (1000, 1000), (300, 100)] {
            let frame = Frame::new(w, h);
            for n in 1..=7 {
                let slots = layout::figure_slots(w, h, n);
                assert_eq!(slots.len(), n.min(layout::MAX_FIGURES));
                for s in &slots {
                    assert!(s.rect.bottom() <= frame.band.y + 0.5, "{w}x{h} n={n}");
                }
                for pair in slots.windows(2) {
                    assert!(pair[0].x < pair[1].x);
                }
            }
        }
    }

    #[test]
    fn caption_band_holds_readable_text() {
        // A bright scene, so that the band has to do the work.
        let mut p = sample(Scenery::Sky, 1280, 720);
        p.figures.clear();
        let img = decode(&png(&p));
        let band = Frame::new(1280, 720).band;
        let mut text_px = 0;
        let mut darkest_margin: f32 = 0.0;
        for y in (band.y as u32 + 4)..(band.bottom() as u32) {
            for x in 0..1280 {
                let l = luma(rgb_at(&img, x as f32, y as f32));
                if l > 200.0 {
                    text_px += 1;
                }
                if x < 40 {
                    darkest_margin = darkest_margin.max(l);
                }
            }
        }
        assert!(
            text_px > 1500,
            "only {text_px} bright text pixels in the band"
        );
        // Outside the text the band is dark: at least ~100 levels of contrast.
        assert!(darkest_margin < 100.0, "band too light: {darkest_margin}");
        // Without a caption there is no band: the bright scenery shows through.
        p.caption.clear();
        let bare = decode(&png(&p));
        let l = luma(rgb_at(&bare, 8.0, band.y + band.h * 0.5));
        assert!(l > 150.0, "expected bright scenery, got {l}");
    }

    #[test]
    fn french_text_has_real_glyphs() {
        let ts = match Typesetter::bundled() {
            Some(t) => t,
            None => panic!("font"),
        };
        let sample = "« Où est ma chatte ? » — Chapitre Ier : L'Élève, l’ÉCOLE, « çà » … œuvre";
        for c in sample.chars() {
            assert!(ts.has_glyph(c), "no glyph for {c:?}");
        }
        assert_eq!(ts.sanitize(sample), sample);
        // Decomposed accents are composed, narrow no-break spaces are kept as spaces.
        assert_eq!(ts.sanitize("E\u{301}le\u{300}ve"), "Élève");
        let nb = ts.sanitize("«\u{202f}Oui\u{202f}»");
        assert!(nb.chars().all(|c| ts.has_glyph(c)), "{nb:?}");
    }

    #[test]
    fn unsupported_characters_fall_back_to_question_marks() {
        let ts = match Typesetter::bundled() {
            Some(t) => t,
            None => panic!("font"),
        };
        let s = ts.sanitize("漢字 ok \u{1F600}\nnext\tline");
        assert_eq!(s, "?? ok ? next line");
        assert!(s.chars().all(|c| ts.has_glyph(c)));
        let mut p = sample(Scenery::Room, 320, 180);
        p.heading = "漢字 « Où ? »".into();
        p.caption = "\u{1F600}\u{1F600} text".into();
        p.figures[0].name = "名前".into();
        p.figures[0].emblem = "字".into();
        assert!(draw(&p).is_ok());
    }

    #[test]
    fn long_captions_are_wrapped_and_ellipsized() {
        let ts = match Typesetter::bundled() {
            Some(t) => t,
            None => panic!("font"),
        };
        let long = "word ".repeat(400);
        let text = ts.sanitize(&long);
        let (size, lines) = ts.fit(&text, 600.0, 30.0, 20.0, |_| 3);
        assert_eq!(lines.len(), 3);
        assert!((20.0..=30.0).contains(&size));
        assert!(lines.iter().all(|l| ts.measure(l, size) <= 600.0 + 0.5));
        assert!(lines[2].ends_with('…'));
        // A word wider than the line is broken rather than overflowing.
        let (_, lines) = ts.fit(&"x".repeat(200), 100.0, 20.0, 20.0, |_| 50);
        assert!(lines.iter().all(|l| ts.measure(l, 20.0) <= 100.0 + 0.5));
        // French punctuation stays with its word.
        let lines = ts.wrap("« Où est ma chatte ? »", 20.0, 150.0);
        assert!(
            lines
                .iter()
                .all(|l| !l.starts_with('?') && !l.starts_with('»'))
        );
        assert!(lines.iter().all(|l| !l.ends_with('«')));
    }

    #[test]
    fn scenery_is_chosen_from_english_and_french_words() {
        use Scenery::*;
        let day = TimeOfDay::Day;
        let night = TimeOfDay::Night;
        let cases: &[(&str, Option<bool>, TimeOfDay, Scenery)] = &[
            ("The Pool of Tears", None, day, River),
            (
                "a long, low hall lit by a row of lamps",
                Some(true),
                day,
                Hall,
            ),
            ("The Queen's Croquet-Ground", Some(false), day, Garden),
            (
                "Who Stole the Tarts? The court of the King",
                None,
                day,
                Court,
            ),
            ("dans la cuisine de la Duchesse", Some(true), day, Room),
            ("la forêt sombre", None, night, Forest),
            ("au bord de la mer, sur la plage", None, day, Sea),
            (
                "la rue principale de la ville",
                None,
                TimeOfDay::Evening,
                City,
            ),
            ("Le château", Some(true), day, Hall),
            ("le jardin du château", Some(false), day, Garden),
            ("down the rabbit-hole", None, day, Cave),
            ("on a green hill", None, day, Field),
            ("by the river bank", None, day, River),
            ("somewhere", Some(true), day, Room),
            ("somewhere", Some(false), day, Field),
            ("somewhere", Some(false), night, NightSky),
            ("", None, day, Sky),
            ("the house", Some(false), day, Garden),
            ("la maison", None, day, Room),
            ("in the garden", Some(true), day, Room),
        ];
        for (words, indoor, time, expected) in cases {
            assert_eq!(
                scenery_for(words, *indoor, *time),
                *expected,
                "{words:?} indoor={indoor:?}"
            );
        }
    }

    #[test]
    fn labels_are_parsed() {
        assert_eq!(TimeOfDay::from_label(Some("Night")), TimeOfDay::Night);
        assert_eq!(TimeOfDay::from_label(Some(" morning ")), TimeOfDay::Morning);
        assert_eq!(TimeOfDay::from_label(Some("soir")), TimeOfDay::Evening);
        assert_eq!(TimeOfDay::from_label(Some("teatime")), TimeOfDay::Day);
        assert_eq!(TimeOfDay::from_label(None), TimeOfDay::Day);
        assert_eq!(Shape::from_name("Heart"), Shape::Heart);
        assert_eq!(Shape::from_name("étoile"), Shape::Star);
        assert_eq!(Shape::from_name("blob"), Shape::Circle);
        assert_eq!(figures::Emblem::parse("Watch", "x"), figures::Emblem::Watch);
        assert_eq!(
            figures::Emblem::parse("A", "Alice"),
            figures::Emblem::Letter('A')
        );
        assert_eq!(
            figures::Emblem::parse("", "dodo"),
            figures::Emblem::Letter('D')
        );
    }

    #[test]
    fn bad_sizes_are_errors() {
        for (w, h) in [(0, 720), (1280, 0), (MAX_SIDE + 1, 100), (100, 100_000)] {
            let p = sample(Scenery::Field, w, h);
            assert!(
                matches!(draw(&p), Err(DrawError::BadSize { .. })),
                "{w}x{h}"
            );
        }
        // Tiny and extreme sizes still draw, for every scenery, in bounded time.
        for (w, h) in [(1, 1), (3, 200), (200, 3), (MAX_SIDE, 8), (8, MAX_SIDE)] {
            for s in ALL {
                let mut p = sample(s, w, h);
                p.time_of_day = TimeOfDay::Night;
                assert!(draw(&p).is_ok(), "{s:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn odd_moods_and_values_do_not_break_drawing() {
        let mut p = sample(Scenery::Court, 160, 90);
        p.mood = MoodLook {
            label: "???".into(),
            valence: f32::NAN,
            intensity: f32::INFINITY,
        };
        p.palette.clear();
        p.figures = (0..9)
            .map(|i| Figure {
                name: format!("Figure number {i} with a very long name indeed"),
                color: [i * 25, 255 - i * 20, 128],
                shape: Shape::from_name(["star", "crescent", "hexagon"][i as usize % 3]),
                emblem: ["hat", "crown", "", "tea"][i as usize % 4].into(),
                seed: u64::from(i),
            })
            .collect();
        assert!(draw(&p).is_ok());
    }
}
