//! Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) run by ONNX Runtime, loaded at run time.
//!
//! `scripts/fetch-models` installs the runtime library, the model and its WordPiece vocabulary;
//! nothing is downloaded at build or run time. Without those assets the analysis falls back to
//! word overlap, so every function here reports failures as [`EmbeddingError`], never panics.
//!
//! The tokenizer is a small BERT WordPiece written here rather than the `tokenizers` crate: that
//! crate (even with default features off and `fancy-regex`) brings about 60 more crates (rayon,
//! rand, derive_builder, esaxx...) and a minute of build on two cores, for a model that only
//! needs the uncased BERT pipeline. This one follows the `BertNormalizer` + `BertPreTokenizer` +
//! `WordPiece` configuration in the model's `tokenizer.json` (clean text, spaces around CJK
//! ideographs, NFD accent stripping, lower-casing, splitting at whitespace and punctuation,
//! greedy longest-match `##` continuations, `[UNK]` for words over 100 characters), and its
//! tests compare token ids with the reference implementation on tricky inputs.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

/// Width of a MiniLM embedding.
pub const DIMENSIONS: usize = 384;
/// Longest input, in tokens, `[CLS]` and `[SEP]` included; longer texts are truncated.
pub const MAX_TOKENS: usize = 128;
/// Texts per inference run, at most.
pub const BATCH_SIZE: usize = 32;
/// A batch takes no text more than this many tokens longer than its shortest.
const BATCH_SLACK: usize = 12;

/// Where the runtime library lies under a models directory.
pub const RUNTIME_FILE: &str = "libonnxruntime.so";
/// Where the model lies under a models directory.
pub const MODEL_FILE: &str = "minilm/model.onnx";
/// Where the WordPiece vocabulary lies under a models directory.
pub const VOCAB_FILE: &str = "minilm/vocab.txt";

/// The files the embedder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingAssets {
    /// The ONNX Runtime shared library (`libonnxruntime.so`).
    pub runtime_library: PathBuf,
    /// The MiniLM ONNX model.
    pub model: PathBuf,
    /// The WordPiece vocabulary (`vocab.txt`, one token a line, the line number is the id).
    pub tokenizer: PathBuf,
}

impl EmbeddingAssets {
    /// The assets under a models directory as `scripts/fetch-models` lays them out; None if any is missing.
    pub fn discover(models_dir: &Path) -> Option<Self> {
        let assets = Self {
            runtime_library: models_dir.join(RUNTIME_FILE),
            model: models_dir.join(MODEL_FILE),
            tokenizer: models_dir.join(VOCAB_FILE),
        };
        [&assets.runtime_library, &assets.model, &assets.tokenizer]
            .iter()
            .all(|path| path.is_file())
            .then_some(assets)
    }
}

/// Why embeddings could not be loaded or computed.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddingError {
    /// The runtime library is not where the assets say.
    #[error("the ONNX Runtime library {} is missing (run scripts/fetch-models)", .0.display())]
    RuntimeMissing(PathBuf),
    /// The runtime library exists but could not be loaded or initialised.
    #[error("the ONNX Runtime library {} could not be loaded: {message}", path.display())]
    Runtime { path: PathBuf, message: String },
    /// The model could not be read or is not the expected one.
    #[error("the embedding model {} could not be loaded: {message}", path.display())]
    Model { path: PathBuf, message: String },
    /// The vocabulary could not be read or lacks the special tokens.
    #[error("the tokenizer vocabulary {} could not be loaded: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    /// A run of the model failed or gave an unexpected output.
    #[error("embedding inference failed: {0}")]
    Inference(String),
}

/// ONNX Runtime is loaded once per process and has one environment per process: both are
/// kept here for the life of the process, so that [`Embedder::load`] may be called again.
/// A failed load is not remembered: a later call may succeed with another path.
static ENVIRONMENT: Mutex<Option<ort::environment::Environment>> = Mutex::new(None);

/// The process's ONNX Runtime environment, loading the runtime library on first use; shared by
/// every model (embeddings here, the Piper voice in generation).
pub fn environment(
    runtime_library: &Path,
) -> Result<ort::environment::Environment, EmbeddingError> {
    if !runtime_library.is_file() {
        return Err(EmbeddingError::RuntimeMissing(
            runtime_library.to_path_buf(),
        ));
    }
    let mut guard = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(environment) = guard.as_ref() {
        return Ok(environment.clone());
    }
    let failed = |message: String| EmbeddingError::Runtime {
        path: runtime_library.to_path_buf(),
        message,
    };
    let environment = ort::init_from(runtime_library)
        .map_err(|error| failed(error.to_string()))?
        .with_name("visiobook")
        .build()
        .map_err(|error| failed(error.to_string()))?;
    *guard = Some(environment.clone());
    Ok(environment)
}

/// The MiniLM sentence embedder. Safe to share between threads; runs are serialised (each run
/// already uses every core).
pub struct Embedder {
    session: Mutex<Session>,
    tokenizer: WordPiece,
    model: PathBuf,
}

impl fmt::Debug for Embedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &self.model)
            .field("vocabulary", &self.tokenizer.vocab.len())
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the runtime (once per process), the vocabulary and the model.
    pub fn load(assets: &EmbeddingAssets) -> Result<Self, EmbeddingError> {
        let environment = environment(&assets.runtime_library)?;
        let tokenizer = WordPiece::from_file(&assets.tokenizer)?;
        let model_error = |message: String| EmbeddingError::Model {
            path: assets.model.clone(),
            message,
        };
        if !assets.model.is_file() {
            return Err(model_error("no such file".to_owned()));
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let session = Session::builder(&environment)
            .map_err(|error| model_error(error.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|error| model_error(error.to_string()))?
            .with_intra_threads(threads)
            .map_err(|error| model_error(error.to_string()))?
            // Shapes change with every batch: ONNX Runtime's memory patterns only pay off
            // for fixed shapes.
            .with_memory_pattern(false)
            .map_err(|error| model_error(error.to_string()))?
            .commit_from_file(&assets.model)
            .map_err(|error| model_error(error.to_string()))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|input| input.name()).collect();
        for wanted in ["input_ids", "attention_mask"] {
            if !inputs.contains(&wanted) {
                return Err(model_error(format!(
                    "the model has no `{wanted}` input (inputs: {inputs:?})"
                )));
            }
        }
        if session.outputs().is_empty() {
            return Err(model_error("the model has no output".to_owned()));
        }
        Ok(Self {
            session: Mutex::new(session),
            tokenizer,
            model: assets.model.clone(),
        })
    }

    /// One L2-normalised 384-dim vector per text (mean pooling over tokens with the attention mask), batched (e.g. 32 per run), truncated at 128 tokens.
    ///
    /// Batches hold up to [`BATCH_SIZE`] texts of similar token counts, each padded only to
    /// the longest in its batch; a text's vector does not depend on the others.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        let encoded: Vec<Vec<i64>> = texts
            .iter()
            .map(|text| self.tokenizer.encode(text, MAX_TOKENS))
            .collect();
        // Texts of similar length share a batch, so that little of each run is padding: a
        // batch ends at BATCH_SIZE texts or before a text more than BATCH_SLACK tokens longer
        // than its first.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| encoded[index].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = order.as_slice();
        while let Some(&first) = rest.first() {
            let shortest = encoded[first].len();
            let size = rest
                .iter()
                .take(BATCH_SIZE)
                .take_while(|&&index| encoded[index].len() <= shortest + BATCH_SLACK)
                .count();
            let (batch, after) = rest.split_at(size);
            let ids: Vec<&[i64]> = batch
                .iter()
                .map(|&index| encoded[index].as_slice())
                .collect();
            for (vector, &index) in run_batch(&mut session, &ids)?.into_iter().zip(batch) {
                vectors[index] = vector;
            }
            rest = after;
        }
        Ok(vectors)
    }
}

/// Runs the model on one batch and pools its last hidden state into unit vectors.
fn run_batch(session: &mut Session, batch: &[&[i64]]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
    let failed = |error: ort::Error| EmbeddingError::Inference(error.to_string());
    let rows = batch.len();
    let width = batch.iter().map(|ids| ids.len()).max().unwrap_or(0);
    if rows == 0 || width == 0 {
        return Ok(Vec::new());
    }
    let mut input_ids = vec![0_i64; rows * width];
    let mut attention_mask = vec![0_i64; rows * width];
    for (row, ids) in batch.iter().enumerate() {
        input_ids[row * width..row * width + ids.len()].copy_from_slice(ids);
        attention_mask[row * width..row * width + ids.len()].fill(1);
    }
    let shape = [rows, width];
    let wants_token_types = session
        .inputs()
        .iter()
        .any(|input| input.name() == "token_type_ids");
    let mut inputs = ort::inputs![
        "input_ids" => Tensor::from_array((shape, input_ids)).map_err(failed)?,
        "attention_mask" => Tensor::from_array((shape, attention_mask.clone())).map_err(failed)?,
    ];
    if wants_token_types {
        let token_types = Tensor::from_array((shape, vec![0_i64; rows * width])).map_err(failed)?;
        inputs.push(("token_type_ids".into(), token_types.into()));
    }
    let outputs = session.run(inputs).map_err(failed)?;
    let (dims, hidden) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
    let expected = [rows, width, DIMENSIONS];
    if dims.len() != 3
        || dims
            .iter()
            .zip(expected)
            .any(|(&got, want)| usize::try_from(got).ok() != Some(want))
    {
        return Err(EmbeddingError::Inference(format!(
            "the model returned a tensor of shape {dims:?}, expected {expected:?}"
        )));
    }
    let mut vectors = Vec::with_capacity(rows);
    for row in 0..rows {
        let mut sum = vec![0_f32; DIMENSIONS];
        let mut count = 0_f32;
        for token in 0..width {
            if attention_mask[row * width + token] == 0 {
                continue;
            }
            let start = (row * width + token) * DIMENSIONS;
            for (total, value) in sum.iter_mut().zip(&hidden[start..start + DIMENSIONS]) {
                *total += value;
            }
            count += 1.0;
        }
        for value in &mut sum {
            *value /= count.max(1.0);
        }
        normalise(&mut sum);
        vectors.push(sum);
    }
    Ok(vectors)
}

fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        for value in vector {
            *value /= norm;
        }
    }
}

/// Cosine similarity; 0 when either vector is zero or the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0_f64, 0_f64, 0_f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa <= f64::EPSILON || bb <= f64::EPSILON {
        return 0.0;
    }
    (dot / (aa.sqrt() * bb.sqrt())) as f32
}

/// Uncased BERT WordPiece tokenization, as configured in MiniLM's `tokenizer.json`.
#[derive(Debug)]
struct WordPiece {
    vocab: HashMap<String, i64>,
    cls: i64,
    sep: i64,
    unk: i64,
}

/// Words longer than this many characters become `[UNK]`.
const MAX_WORD_CHARS: usize = 100;

impl WordPiece {
    fn from_file(path: &Path) -> Result<Self, EmbeddingError> {
        let text = std::fs::read_to_string(path).map_err(|error| EmbeddingError::Tokenizer {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        Self::from_vocab(&text).map_err(|message| EmbeddingError::Tokenizer {
            path: path.to_path_buf(),
            message,
        })
    }

    fn from_vocab(text: &str) -> Result<Self, String> {
        let mut vocab = HashMap::new();
        for (id, token) in text.lines().enumerate() {
            let id = i64::try_from(id).map_err(|error| error.to_string())?;
            vocab
                .entry(token.trim_end_matches('\r').to_owned())
                .or_insert(id);
        }
        let special = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| format!("the vocabulary has no {token} token"))
        };
        Ok(Self {
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            unk: special("[UNK]")?,
            vocab,
        })
    }

    /// Token ids of one text: `[CLS]`, at most `max_tokens - 2` word pieces, `[SEP]`.
    fn encode(&self, text: &str, max_tokens: usize) -> Vec<i64> {
        let budget = max_tokens.saturating_sub(2);
        let mut ids = vec![self.cls];
        let normalised = normalise_text(text);
        'words: for word in pre_tokenize(&normalised) {
            for id in self.word_pieces(word) {
                if ids.len() > budget {
                    break 'words;
                }
                ids.push(id);
            }
        }
        ids.push(self.sep);
        ids
    }

    /// Greedy longest-match-first split of one word; the whole word is `[UNK]` when any part
    /// of it is not in the vocabulary.
    fn word_pieces(&self, word: &str) -> Vec<i64> {
        if word.chars().count() > MAX_WORD_CHARS {
            return vec![self.unk];
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str("##");
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(id);
                    break;
                }
                end = word[..end]
                    .char_indices()
                    .next_back()
                    .map_or(start, |(index, _)| index);
            }
            match found {
                Some(id) => pieces.push(id),
                None => return vec![self.unk],
            }
            start = end;
        }
        pieces
    }
}

/// BertNormalizer: drops control characters, turns whitespace into spaces, isolates CJK
/// ideographs, strips accents (NFD, nonspacing marks removed) and lower-cases.
fn normalise_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    cleaned
        .nfd()
        .filter(|c| c.general_category() != GeneralCategory::NonspacingMark)
        .flat_map(char::to_lowercase)
        .collect()
}

/// BertPreTokenizer: words split at whitespace, each punctuation character a word of its own.
fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_whitespace).flat_map(|chunk| {
        let mut pieces = Vec::new();
        let mut start = 0;
        for (index, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < index {
                    pieces.push(&chunk[start..index]);
                }
                pieces.push(&chunk[index..index + c.len_utf8()]);
                start = index + c.len_utf8();
            }
        }
        if start < chunk.len() {
            pieces.push(&chunk[start..]);
        }
        pieces
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    !matches!(c, '\t' | '\n' | '\r') && c.general_category_group() == GeneralCategoryGroup::Other
}

fn is_punctuation(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    c.is_ascii_punctuation() || c.general_category_group() == GeneralCategoryGroup::Punctuation
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x2_0000..=0x2_A6DF
        | 0x2_A700..=0x2_B73F
        | 0x2_B740..=0x2_B81F
        | 0x2_B820..=0x2_CEAF
        | 0xF900..=0xFAFF
        | 0x2_F800..=0x2_FA1F)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

    use super::*;

    fn tiny() -> WordPiece {
        let vocab =
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\n##s\nun\n##aff\n##able\n,\n.\n!\ncafe\n中\n";
        WordPiece::from_vocab(vocab).unwrap()
    }

    #[test]
    fn word_pieces_take_the_longest_match_and_unknown_words_whole() {
        let wp = tiny();
        assert_eq!(
            wp.encode("The cats, unaffable!", 128),
            vec![2, 4, 5, 6, 10, 7, 8, 9, 12, 3]
        );
        assert_eq!(wp.encode("dogs cat", 128), vec![2, 1, 5, 3]);
        assert_eq!(wp.encode("CAFÉ\u{0}\u{200b}  中", 128), vec![2, 13, 14, 3]);
        assert_eq!(wp.encode("", 128), vec![2, 3]);
    }

    #[test]
    fn encoding_is_truncated_with_the_separator_kept() {
        let wp = tiny();
        let ids = wp.encode(&"the ".repeat(500), 8);
        assert_eq!(ids, vec![2, 4, 4, 4, 4, 4, 4, 3]);
    }

    #[test]
    fn vocabulary_needs_its_special_tokens() {
        assert!(WordPiece::from_vocab("the\ncat\n").is_err());
    }

    /// Token ids from the reference implementation (Hugging Face `tokenizers` with MiniLM's
    /// `tokenizer.json`) on inputs that exercise each step of the pipeline.
    #[test]
    fn the_real_vocabulary_gives_the_reference_ids() {
        let dir = std::env::var_os("VISIOBOOK_MODELS_DIR")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".cache/visiobook/models"))
            })
            .unwrap_or_default();
        let Ok(wp) = WordPiece::from_file(&dir.join(VOCAB_FILE)) else {
            eprintln!(
                "the_real_vocabulary_gives_the_reference_ids: skipped, no vocabulary under {} (run scripts/fetch-models)",
                dir.display()
            );
            return;
        };
        let long_word = format!("{} end", "x".repeat(120));
        let cases: [(&str, &[i64]); 14] = [
            (
                "The cat sat on the mat.",
                &[101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102],
            ),
            (
                "A cat was sitting on the rug.",
                &[101, 1037, 4937, 2001, 3564, 2006, 1996, 20452, 1012, 102],
            ),
            (
                "The stock market fell sharply today.",
                &[101, 1996, 4518, 3006, 3062, 9249, 2651, 1012, 102],
            ),
            (
                "Café naïve façade — “quoted” ‘single’ don't can't I'm Ä ß Œ œ",
                &[
                    101, 7668, 15743, 8508, 1517, 1523, 9339, 1524, 1520, 2309, 1521, 2123, 1005,
                    1056, 2064, 1005, 1056, 1045, 1005, 1049, 1037, 1096, 1107, 1107, 102,
                ],
            ),
            (
                "中文字符 and 日本語 mixed",
                &[101, 1746, 1861, 100, 100, 1998, 1864, 1876, 1950, 3816, 102],
            ),
            (
                "tab\there\u{200b}zero\u{a0}nbsp",
                &[101, 21628, 2182, 6290, 2080, 1050, 5910, 2361, 102],
            ),
            (
                "antidisestablishmentarianism supercalifragilisticexpialidocious",
                &[
                    101, 3424, 10521, 4355, 7875, 13602, 3672, 12199, 2964, 3565, 9289, 10128,
                    29181, 24411, 4588, 10288, 19312, 21273, 10085, 6313, 102,
                ],
            ),
            (&long_word, &[101, 100, 2203, 102]),
            (
                "Ωmega ±5% $100 #tag @user https://example.com/a?b=c",
                &[
                    101, 1179, 4168, 3654, 1081, 2629, 1003, 1002, 2531, 1001, 6415, 1030, 5310,
                    16770, 1024, 1013, 1013, 2742, 1012, 4012, 1013, 1037, 1029, 1038, 1027, 1039,
                    102,
                ],
            ),
            ("", &[101, 102]),
            ("* * *", &[101, 1008, 1008, 1008, 102]),
            ("ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ", &[101, 100, 100, 102]),
            (
                "İstanbul ǅ ﬁ ligature Ⅻ",
                &[101, 9960, 100, 1984, 8018, 11244, 100, 102],
            ),
            ("émoji 😀 ok", &[101, 7861, 29147, 2072, 100, 7929, 102]),
        ];
        for (text, ids) in cases {
            assert_eq!(wp.encode(text, MAX_TOKENS), ids, "{text:?}");
        }
        let long = wp.encode(&"curiouser and curiouser ".repeat(100), MAX_TOKENS);
        assert_eq!(long.len(), MAX_TOKENS);
        assert_eq!(long.last(), Some(&102));
    }

    #[test]
    fn cosine_of_unequal_or_zero_vectors_is_zero() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert!(cosine(&[0.0, 0.0], &[1.0, 0.0]).abs() < 1e-6);
        assert!(cosine(&[1.0], &[1.0, 0.0]).abs() < 1e-6);
    }
}
