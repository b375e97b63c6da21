//! Scene segmentation of one chapter.
//!
//! Explicit scene-break marks always split. Between them, a TextTiling-style method: at each gap
//! between two paragraphs, the similarity of a window of paragraphs before it with a window after
//! it (paragraph vectors summed with their word counts as weights), lightly smoothed; the depth
//! of each valley (how far the similarity falls below the peaks on either side) says how strong
//! a topic shift is there; the deepest valleys above a threshold become scene starts. The vectors
//! are sentence embeddings when they are available, or the word frequencies of
//! [`lexical_vectors`]. With no vectors at all the chapter is cut into parts of about
//! [`TARGET_SCENE_WORDS`] words. In every case a scene made by a cut has at least
//! [`MIN_SCENE_WORDS`] words, and a scene longer than [`MAX_SCENE_WORDS`] is split at its
//! deepest valley or, failing one, at its middle paragraph.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

/// A cut never leaves a scene shorter than this (scenes bounded by explicit breaks may be).
pub const MIN_SCENE_WORDS: usize = 150;
/// A scene longer than this is split, unless it is a single paragraph.
pub const MAX_SCENE_WORDS: usize = 1200;
/// The length of a scene when there is nothing to tell scenes apart but their length.
pub const TARGET_SCENE_WORDS: usize = 600;
/// On average, no more than one valley cut per this many words.
const WORDS_PER_CUT: usize = 350;
/// A similarity window reaches back (or ahead) this many words...
const WINDOW_WORDS: usize = 150;
/// ...or this many paragraphs, whichever comes first.
const WINDOW_PARAGRAPHS: usize = 5;
/// Valleys deeper than the mean depth plus this many standard deviations become cuts.
const DEPTH_CUTOFF_SD: f32 = 0.0;

/// Where scenes start in one chapter: indices into `paragraphs` (always starting with 0).
/// `words[i]` is paragraph i's word count; `breaks[i]` is true when paragraph i is an explicit
/// scene break mark (`* * *`; it starts a new scene and is itself not part of any scene —
/// the caller drops it); `embeddings[i]`, when present, is paragraph i's embedding.
///
/// A run of consecutive break marks starts one scene, at its first mark; marks before the
/// first or after the last paragraph of text start none. Embeddings whose count differs from
/// the paragraphs' are ignored.
pub fn scene_starts(
    words: &[usize],
    breaks: &[bool],
    embeddings: Option<&[Vec<f32>]>,
) -> Vec<usize> {
    let vectors = embeddings.filter(|vectors| vectors.len() == words.len());
    let is_break = |index: usize| breaks.get(index).copied().unwrap_or(false);
    let mut starts = vec![0];
    let mut index = 0;
    while index < words.len() {
        if is_break(index) {
            let mark = index;
            while index < words.len() && is_break(index) {
                index += 1;
            }
            if mark > 0 && index < words.len() && !starts.contains(&mark) {
                starts.push(mark);
            }
            continue;
        }
        let block_start = index;
        while index < words.len() && !is_break(index) {
            index += 1;
        }
        starts.extend(segment_block(
            block_start,
            &words[block_start..index],
            vectors.map(|v| &v[block_start..index]),
        ));
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// Word-frequency vectors of the content words of each text, for [`scene_starts`] when there
/// are no embeddings: lower-cased words of three letters or more, English and French function
/// words left out, a plural `s` and a possessive `'s` dropped; each vector is divided by its
/// text's word count, so that the word-weighted sums over a window are that window's counts.
pub fn lexical_vectors(texts: &[&str]) -> Vec<Vec<f32>> {
    let mut vocabulary = BTreeMap::new();
    let bags: Vec<(Vec<String>, usize)> = texts
        .iter()
        .map(|text| {
            let total = text.split_whitespace().count();
            let terms: Vec<String> = text
                .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
                .filter_map(term)
                .collect();
            (terms, total)
        })
        .collect();
    for (terms, _) in &bags {
        for term in terms {
            let next = vocabulary.len();
            vocabulary.entry(term.clone()).or_insert(next);
        }
    }
    bags.into_iter()
        .map(|(terms, total)| {
            let mut vector = vec![0_f32; vocabulary.len()];
            let weight = 1.0 / total.max(1) as f32;
            for term in &terms {
                if let Some(&slot) = vocabulary.get(term) {
                    vector[slot] += weight;
                }
            }
            vector
        })
        .collect()
}

/// The content word a token stands for, if it is one.
fn term(token: &str) -> Option<String> {
    let lower = token.replace('’', "'").trim_matches('\'').to_lowercase();
    let lower = lower.strip_suffix("'s").unwrap_or(&lower).to_owned();
    if lower.chars().count() < 3
        || lower.chars().any(|c| c.is_ascii_digit())
        || STOPWORD_SET.contains(lower.as_str())
    {
        return None;
    }
    let stem = if let Some(stem) = lower.strip_suffix("ies").filter(|stem| stem.len() >= 2) {
        format!("{stem}y")
    } else if lower.ends_with('s')
        && !lower.ends_with("ss")
        && !lower.ends_with("us")
        && lower.len() > 3
    {
        lower[..lower.len() - 1].to_owned()
    } else {
        lower
    };
    Some(stem)
}

/// Function words of English, then of French (with a few of the commonest verbs), which say
/// nothing about what a passage is about.
const STOPWORDS: &str = "\
     about above after again against all also and any are aren't because been before being below \
     between both but can can't cannot could couldn't did didn't does doesn't doing don't down \
     during each else ever every few for from further had hadn't has hasn't have haven't having \
     her here hers herself him himself his how i'd i'll i'm i've into isn't it's its itself just \
     let like may might more most much must mustn't myself never nor not now off once one only \
     other ought our ours ourselves out over own said same say says shall shan't she she'd she'll \
     she's should shouldn't some such than that that's the their theirs them themselves then \
     there there's these they they'd they'll they're they've thing things this those though \
     through too under until upon very was wasn't way well were weren't what what's when where \
     which while who whom whose why will with won't would wouldn't yes yet you you'd you'll \
     you're you've your yours yourself yourselves went got get go going come came see know think \
     thought little quite rather back another without however oh \
     les des une aux est sont pas que qui quoi dans pour par sur avec sans sous mais donc car \
     elle elles ils nous vous leur leurs son ses sa mon mes ton tes notre nos votre vos cette ces \
     cet celui celle était étaient été être avait avaient avoir fait faire dit comme tout tous \
     toute toutes plus moins très bien encore aussi alors puis quand où lui eux même rien entre \
     ainsi peu peut qu'il qu'elle c'est n'est d'un d'une l'on";

/// [`STOPWORDS`] as a set.
static STOPWORD_SET: LazyLock<HashSet<&str>> =
    LazyLock::new(|| STOPWORDS.split_whitespace().collect());

/// Scene starts inside one run of paragraphs with no break mark, `first` being the index of
/// its first paragraph; the run's own start is not included.
fn segment_block(first: usize, words: &[usize], vectors: Option<&[Vec<f32>]>) -> Vec<usize> {
    let total: usize = words.iter().sum();
    if words.len() < 2 || total < 2 * MIN_SCENE_WORDS {
        return Vec::new();
    }
    // `depths[g]`: the depth of the gap before paragraph g (g in 1..len; depths[0] is unused).
    let mut cuts = match vectors {
        Some(vectors) => {
            let depths = depth_scores(&similarities(words, vectors));
            let mut cuts = valley_cuts(words, &depths, total);
            split_long(words, &depths, &mut cuts);
            cuts
        }
        None => even_cuts(words, total),
    };
    cuts.sort_unstable();
    cuts.into_iter().map(|cut| first + cut).collect()
}

/// `result[g]` for g in 1..len: the similarity of the windows before and after the gap before
/// paragraph g, smoothed over its neighbours; `result[0]` is 0.
fn similarities(words: &[usize], vectors: &[Vec<f32>]) -> Vec<f32> {
    let len = words.len();
    let width = vectors.iter().map(Vec::len).max().unwrap_or(0);
    let mut raw = vec![0_f32; len];
    for (gap, slot) in raw.iter_mut().enumerate().skip(1) {
        let before = window(words, vectors, width, (0..gap).rev());
        let after = window(words, vectors, width, gap..len);
        *slot = crate::embedding::cosine(&before, &after);
    }
    (0..len)
        .map(|gap| {
            if gap == 0 {
                return 0.0;
            }
            let span = &raw[(gap - 1).max(1)..=(gap + 1).min(len - 1)];
            span.iter().sum::<f32>() / span.len() as f32
        })
        .collect()
}

/// The word-weighted sum of the vectors of the paragraphs taken in `order`, up to
/// [`WINDOW_WORDS`] words or [`WINDOW_PARAGRAPHS`] paragraphs.
fn window(
    words: &[usize],
    vectors: &[Vec<f32>],
    width: usize,
    order: impl Iterator<Item = usize>,
) -> Vec<f32> {
    let mut sum = vec![0_f32; width];
    let mut taken_words = 0;
    for (count, index) in order.enumerate() {
        if count >= WINDOW_PARAGRAPHS || taken_words >= WINDOW_WORDS {
            break;
        }
        let weight = words[index].max(1) as f32;
        for (total, value) in sum.iter_mut().zip(&vectors[index]) {
            *total += weight * value;
        }
        taken_words += words[index];
    }
    sum
}

/// TextTiling depth scores: at each local minimum of the similarities, how far it lies below
/// the highest points reached climbing left and right from it; 0 elsewhere.
fn depth_scores(similarities: &[f32]) -> Vec<f32> {
    let len = similarities.len();
    let mut depths = vec![0_f32; len];
    for gap in 1..len {
        let here = similarities[gap];
        let left_lower = gap > 1 && similarities[gap - 1] < here;
        let right_lower = gap + 1 < len && similarities[gap + 1] < here;
        if left_lower || right_lower {
            continue;
        }
        let mut left = gap;
        while left > 1 && similarities[left - 1] >= similarities[left] {
            left -= 1;
        }
        let mut right = gap;
        while right + 1 < len && similarities[right + 1] >= similarities[right] {
            right += 1;
        }
        depths[gap] = (similarities[left] - here) + (similarities[right] - here);
    }
    depths
}

/// The deepest valleys above the cutoff, each accepted only if both scenes it makes keep
/// [`MIN_SCENE_WORDS`], at most one per [`WORDS_PER_CUT`] words.
fn valley_cuts(words: &[usize], depths: &[f32], total: usize) -> Vec<usize> {
    let valleys: Vec<f32> = depths.iter().copied().filter(|&d| d > 0.0).collect();
    if valleys.is_empty() {
        return Vec::new();
    }
    let count = valleys.len() as f32;
    let mean = valleys.iter().sum::<f32>() / count;
    let sd = (valleys.iter().map(|d| (d - mean).powi(2)).sum::<f32>() / count).sqrt();
    let cutoff = mean + DEPTH_CUTOFF_SD * sd;
    let mut candidates: Vec<usize> = (1..words.len())
        .filter(|&gap| depths[gap] > 0.0 && depths[gap] >= cutoff)
        .collect();
    candidates.sort_by(|&a, &b| depths[b].total_cmp(&depths[a]).then(a.cmp(&b)));
    let most = (total / WORDS_PER_CUT).max(1);
    let mut cuts: Vec<usize> = Vec::new();
    for gap in candidates {
        if cuts.len() >= most {
            break;
        }
        let (lo, hi) = scene_around(&cuts, gap, words.len());
        if words[lo..gap].iter().sum::<usize>() >= MIN_SCENE_WORDS
            && words[gap..hi].iter().sum::<usize>() >= MIN_SCENE_WORDS
        {
            cuts.push(gap);
        }
    }
    cuts
}

/// The scene `[lo, hi)` that contains paragraph `gap` given the cuts so far.
fn scene_around(cuts: &[usize], gap: usize, len: usize) -> (usize, usize) {
    let lo = cuts
        .iter()
        .copied()
        .filter(|&cut| cut <= gap)
        .max()
        .unwrap_or(0);
    let hi = cuts
        .iter()
        .copied()
        .filter(|&cut| cut > gap)
        .min()
        .unwrap_or(len);
    (lo, hi)
}

/// Splits every scene over [`MAX_SCENE_WORDS`]: at its deepest valley among the gaps that leave
/// at least a quarter of it (and [`MIN_SCENE_WORDS`]) on each side, else at its middle.
fn split_long(words: &[usize], depths: &[f32], cuts: &mut Vec<usize>) {
    loop {
        cuts.sort_unstable();
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().copied());
        bounds.push(words.len());
        let longest = bounds
            .windows(2)
            .map(|pair| {
                (
                    pair[0],
                    pair[1],
                    words[pair[0]..pair[1]].iter().sum::<usize>(),
                )
            })
            .filter(|&(lo, hi, size)| size > MAX_SCENE_WORDS && hi - lo > 1)
            .max_by_key(|&(lo, _, size)| (size, std::cmp::Reverse(lo)));
        let Some((lo, hi, size)) = longest else {
            return;
        };
        let margin = (size / 4).max(MIN_SCENE_WORDS);
        let mut before = 0;
        let mut best: Option<(usize, f32)> = None;
        let mut middle: Option<(usize, usize)> = None;
        for gap in lo + 1..hi {
            before += words[gap - 1];
            let imbalance = before.abs_diff(size - before);
            if middle.is_none_or(|(_, least)| imbalance < least) {
                middle = Some((gap, imbalance));
            }
            if before >= margin
                && size - before >= margin
                && depths[gap] > 0.0
                && best.is_none_or(|(_, deepest)| depths[gap] > deepest)
            {
                best = Some((gap, depths[gap]));
            }
        }
        match best.map(|(gap, _)| gap).or(middle.map(|(gap, _)| gap)) {
            Some(gap) => cuts.push(gap),
            None => return,
        }
    }
}

/// With nothing but lengths to go by: parts of about [`TARGET_SCENE_WORDS`] words, cut at the
/// paragraph boundaries nearest to equal shares.
fn even_cuts(words: &[usize], total: usize) -> Vec<usize> {
    let parts = total.div_ceil(TARGET_SCENE_WORDS).max(1);
    let mut prefix = vec![0; words.len() + 1];
    for (index, &count) in words.iter().enumerate() {
        prefix[index + 1] = prefix[index] + count;
    }
    let mut cuts = Vec::new();
    let mut last = 0;
    for part in 1..parts {
        let goal = total * part / parts;
        let Some(gap) = (1..words.len()).min_by_key(|&gap| prefix[gap].abs_diff(goal)) else {
            break;
        };
        if gap > last
            && prefix[gap] - prefix[last] >= MIN_SCENE_WORDS
            && total - prefix[gap] >= MIN_SCENE_WORDS
        {
            cuts.push(gap);
            last = gap;
        }
    }
    let no_depths = vec![0_f32; words.len()];
    split_long(words, &no_depths, &mut cuts);
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_drop_function_words_and_plurals() {
        assert_eq!(term("Rabbits"), Some("rabbit".to_owned()));
        assert_eq!(term("Queen's"), Some("queen".to_owned()));
        assert_eq!(term("Queen’s"), Some("queen".to_owned()));
        assert_eq!(term("don’t"), None);
        assert_eq!(term("the"), None);
        assert_eq!(term("glass"), Some("glass".to_owned()));
        assert_eq!(term("stories"), Some("story".to_owned()));
    }

    #[test]
    fn lexical_vectors_are_relative_frequencies() {
        let vectors = lexical_vectors(&["rabbit rabbit hole", "tea party"]);
        assert_eq!(vectors.len(), 2);
        assert_eq!(vectors[0].len(), 4);
        let sum: f32 = vectors[0].iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }

    #[test]
    fn depth_is_measured_from_both_peaks() {
        let depths = depth_scores(&[0.0, 0.9, 0.5, 0.2, 0.6, 0.8, 0.7]);
        assert!((depths[3] - 1.3).abs() < 1e-6);
        assert!(depths[2].abs() < 1e-6);
    }
}
