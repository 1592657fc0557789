//! The Query Parser: turns raw query text into the two token streams the learned model reads.
//!
//! - **Surface words**: Unicode-folded, lowercased, accent-stripped words, contractions expanded
//!   (`don't` → `do not`). Character n-grams are taken from these, so misspellings and
//!   morphology still share most of their features.
//! - **Stems**: each surface word reduced by a Porter-style suffix stemmer, aligned one to one
//!   with the words ([`ParsedQuery::all_stems`]); word unigrams, bigrams and pairs are taken
//!   from these. [`ParsedQuery::stems`] is the same list minus a compact stopword list, for
//!   callers that want content terms (learned keywords, associations). Negations (`not`, `no`,
//!   `never`, `nor`, `without`, and every `n't`) are never stopwords: they flip an intent.
//!
//! Parsing is a single pass over the text and, through [`ParsedQuery::parse_into`], allocation
//! free once the buffers of a reused [`ParsedQuery`] have grown to the size of the queries seen.

use thiserror::Error;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Largest accepted query, in bytes of UTF-8. Routing needs the gist of a query, not a book;
/// the cap bounds the per-query work and the size of the reused buffers.
pub const MAX_QUERY_BYTES: usize = 10_000;

/// Why a text could not be parsed into a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The text holds no word: empty, or only whitespace, punctuation, symbols or control
    /// characters. Nothing could be routed from it.
    #[error("query is empty (no words after normalization)")]
    Empty,
    /// The text is longer than [`MAX_QUERY_BYTES`].
    #[error("query is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Length of the rejected text in bytes.
        len: usize,
        /// The limit ([`MAX_QUERY_BYTES`]).
        max: usize,
    },
    /// The bytes given to [`parse_bytes`] are not UTF-8.
    #[error("query is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
}

/// Parses `text` into a fresh [`ParsedQuery`]. Use [`ParsedQuery::parse_into`] on a reused value
/// in hot paths: it does not allocate.
pub fn parse(text: &str) -> Result<ParsedQuery, ParseError> {
    let mut q = ParsedQuery::new();
    q.parse_into(text)?;
    Ok(q)
}

/// Parses raw bytes, for callers that receive text from an untrusted byte source; bytes that are
/// not UTF-8 are rejected with the position of the first bad byte rather than guessed at.
pub fn parse_bytes(bytes: &[u8]) -> Result<ParsedQuery, ParseError> {
    if bytes.len() > MAX_QUERY_BYTES {
        return Err(ParseError::TooLong {
            len: bytes.len(),
            max: MAX_QUERY_BYTES,
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => Err(ParseError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        }),
    }
}

/// A parsed query: surface words and stems, stored as two concatenated strings with end offsets
/// so that a reused value keeps its buffers and re-parsing does not allocate.
#[derive(Debug, Clone, Default)]
pub struct ParsedQuery {
    /// Surface words, concatenated.
    words: String,
    /// End offset in `words` of each surface word.
    word_ends: Vec<u32>,
    /// Stem of every surface word, concatenated.
    stems: String,
    /// End offset in `stems` of each stem (one per surface word).
    stem_ends: Vec<u32>,
    /// Indices of the stems of non-stopwords.
    content: Vec<u32>,
    /// Whether a negation word was seen.
    negated: bool,
    /// The word being assembled.
    cur: String,
    /// Scratch for joining apostrophe-split words.
    join: String,
    /// Scratch for the stemmer.
    stem_buf: Vec<u8>,
    /// A joiner (apostrophe or digit separator) seen after the current word, kept until the next
    /// character tells whether it joins two parts of one word or ends the word.
    pending: Option<char>,
}

/// What a non-word character might be, when it follows a word.
const APOSTROPHE: char = '\'';

impl ParsedQuery {
    /// An empty query with no buffers yet; fill it with [`ParsedQuery::parse_into`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty query whose buffers are sized for texts of up to `bytes` bytes, so even the first
    /// [`ParsedQuery::parse_into`] of such a text does not allocate.
    pub fn with_capacity(bytes: usize) -> Self {
        let words = bytes / 2 + 1;
        Self {
            words: String::with_capacity(bytes * 2),
            word_ends: Vec::with_capacity(words),
            stems: String::with_capacity(bytes * 2),
            stem_ends: Vec::with_capacity(words),
            content: Vec::with_capacity(words),
            negated: false,
            cur: String::with_capacity(bytes.min(256)),
            join: String::with_capacity(bytes.min(256)),
            stem_buf: Vec::with_capacity(64),
            pending: None,
        }
    }

    /// Re-parses `text` into this value, reusing its buffers: no heap allocation once they have
    /// grown to the size needed. On error the value is left empty.
    pub fn parse_into(&mut self, text: &str) -> Result<(), ParseError> {
        self.clear();
        if text.len() > MAX_QUERY_BYTES {
            return Err(ParseError::TooLong {
                len: text.len(),
                max: MAX_QUERY_BYTES,
            });
        }
        for c in text.chars() {
            if c.is_control() {
                self.boundary();
            } else if is_invisible(c) {
                // Zero-width and soft-hyphen characters are formatting, not separators: a word
                // interrupted by one stays one word.
            } else if is_hangul_syllable(c) {
                // Compatibility decomposition would break syllables into jamo; they are
                // letters already.
                self.push_char(c);
            } else {
                decompose_compatible(c, |d| {
                    for l in d.to_lowercase() {
                        // Strip Latin/Greek/Cyrillic diacritics (the combining diacritical marks
                        // block) only: other scripts' combining marks are vowel signs, not accents.
                        if !('\u{300}'..='\u{36f}').contains(&l) {
                            self.push_char(l);
                        }
                    }
                });
            }
        }
        self.boundary();
        if self.word_ends.is_empty() {
            self.clear();
            return Err(ParseError::Empty);
        }
        Ok(())
    }

    /// Empties the value, keeping its buffers.
    fn clear(&mut self) {
        self.words.clear();
        self.word_ends.clear();
        self.stems.clear();
        self.stem_ends.clear();
        self.content.clear();
        self.cur.clear();
        self.join.clear();
        self.negated = false;
        self.pending = None;
    }

    /// Feeds one folded character.
    fn push_char(&mut self, c: char) {
        let wordy = c.is_alphanumeric() || (is_combining_mark(c) && !self.cur.is_empty());
        if wordy {
            if let Some(j) = self.pending.take() {
                if j == APOSTROPHE && !c.is_numeric() {
                    self.cur.push(APOSTROPHE);
                } else if (j == '.' || j == ',') && c.is_ascii_digit() {
                    // 3.5 stays one number; 1,000 becomes 1000.
                    if j == '.' {
                        self.cur.push('.');
                    }
                } else {
                    self.finish_word();
                }
            }
            self.cur.push(c);
        } else if self.pending.is_none() && !self.cur.is_empty() && is_apostrophe(c) {
            self.pending = Some(APOSTROPHE);
        } else if self.pending.is_none()
            && (c == '.' || c == ',')
            && self.cur.ends_with(|d: char| d.is_ascii_digit())
        {
            self.pending = Some(c);
        } else {
            self.boundary();
        }
    }

    /// A separator: ends the current word.
    fn boundary(&mut self) {
        self.pending = None;
        self.finish_word();
    }

    /// Emits the current word, expanding contractions.
    fn finish_word(&mut self) {
        if self.cur.is_empty() {
            return;
        }
        let cur = std::mem::take(&mut self.cur);
        if let Some(p) = cur.find(APOSTROPHE) {
            let (left, right) = (&cur[..p], &cur[p + 1..]);
            match right {
                "t" if left.len() > 1 && left.ends_with('n') => {
                    let base = match left {
                        "can" => "can",
                        "won" => "will",
                        "shan" => "shall",
                        "ain" => "is",
                        _ => &left[..left.len() - 1],
                    };
                    self.emit(base);
                    self.emit("not");
                }
                "s" => self.emit(left),
                "re" => self.emit_pair(left, "are"),
                "ll" => self.emit_pair(left, "will"),
                "ve" => self.emit_pair(left, "have"),
                "d" => self.emit_pair(left, "would"),
                "m" => self.emit_pair(left, "am"),
                _ => {
                    let mut join = std::mem::take(&mut self.join);
                    join.clear();
                    join.extend(cur.chars().filter(|&c| c != APOSTROPHE));
                    self.emit(&join);
                    self.join = join;
                }
            }
        } else if let Some(base) = negated_contraction(&cur) {
            self.emit(base);
            self.emit("not");
        } else {
            self.emit(&cur);
        }
        self.cur = cur;
        self.cur.clear();
    }

    fn emit_pair(&mut self, a: &str, b: &str) {
        self.emit(a);
        self.emit(b);
    }

    /// Appends one surface word and its stem.
    fn emit(&mut self, word: &str) {
        if word.is_empty() {
            return;
        }
        if !is_stopword(word) {
            self.content.push(self.word_ends.len() as u32);
        }
        self.words.push_str(word);
        self.word_ends.push(self.words.len() as u32);
        if is_negation(word) {
            self.negated = true;
        }
        stem_into(word, &mut self.stem_buf, &mut self.stems);
        self.stem_ends.push(self.stems.len() as u32);
    }

    /// The surface words: folded, lowercased, accent-stripped, contractions expanded, unstemmed,
    /// stopwords included.
    pub fn words(&self) -> Tokens<'_> {
        Tokens {
            text: &self.words,
            ends: &self.word_ends,
            start: 0,
        }
    }

    /// The stems of the non-stopword words, in order: the query's content terms. Negations are
    /// kept as `not`, `no`, ...
    pub fn stems(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.content
            .iter()
            .map(|&i| token(&self.stems, &self.stem_ends, i as usize).unwrap_or(""))
    }

    /// The stem of every surface word, stopwords included, aligned with [`ParsedQuery::words`].
    /// The learned model reads these: function words such as *what*, *my* or *to* separate
    /// intents that share their content words, so the model gets them and learns their weight.
    pub fn all_stems(&self) -> Tokens<'_> {
        Tokens {
            text: &self.stems,
            ends: &self.stem_ends,
            start: 0,
        }
    }

    /// Whether the `i`-th word is a stopword (false when out of range).
    pub fn is_stopword_at(&self, i: usize) -> bool {
        i < self.word_ends.len() && self.content.binary_search(&(i as u32)).is_err()
    }

    /// The `i`-th surface word.
    pub fn word(&self, i: usize) -> Option<&str> {
        token(&self.words, &self.word_ends, i)
    }

    /// The stem of the `i`-th surface word (stopwords included).
    pub fn stem(&self, i: usize) -> Option<&str> {
        token(&self.stems, &self.stem_ends, i)
    }

    /// Number of surface words.
    pub fn num_words(&self) -> usize {
        self.word_ends.len()
    }

    /// Number of content stems (the length of [`ParsedQuery::stems`]).
    pub fn num_stems(&self) -> usize {
        self.content.len()
    }

    /// Whether nothing has been parsed (or the last parse failed).
    pub fn is_empty(&self) -> bool {
        self.word_ends.is_empty()
    }

    /// Whether the query contains a negation (`not`, `no`, `never`, `nor`, `without`, any `n't`).
    /// Callers that explain a routing decision can flag it: a lexical model sees the negation as
    /// one more feature, not as an operator.
    pub fn has_negation(&self) -> bool {
        self.negated
    }
}

impl PartialEq for ParsedQuery {
    /// Two parses are equal when their tokens are; scratch buffers do not count.
    fn eq(&self, other: &Self) -> bool {
        self.words == other.words
            && self.word_ends == other.word_ends
            && self.stems == other.stems
            && self.stem_ends == other.stem_ends
            && self.content == other.content
            && self.negated == other.negated
    }
}

fn token<'a>(text: &'a str, ends: &[u32], i: usize) -> Option<&'a str> {
    let end = *ends.get(i)? as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    text.get(start..end)
}

/// Borrowed view of a token stream of a [`ParsedQuery`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    text: &'a str,
    ends: &'a [u32],
    start: u32,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (&end, rest) = self.ends.split_first()?;
        let s = self.text.get(self.start as usize..end as usize);
        self.start = end;
        self.ends = rest;
        s
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.ends.len(), Some(self.ends.len()))
    }
}

impl ExactSizeIterator for Tokens<'_> {}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '\u{02bc}' | '\u{2032}' | '`' | '\u{b4}'
    )
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}'
    )
}

fn is_hangul_syllable(c: char) -> bool {
    ('\u{ac00}'..='\u{d7a3}').contains(&c)
}

/// Contractions written without their apostrophe (`dont`, `cant`, ...): the base verb they
/// negate, so they parse like `don't` → `do not`.
fn negated_contraction(w: &str) -> Option<&'static str> {
    Some(match w {
        "dont" => "do",
        "doesnt" => "does",
        "didnt" => "did",
        "isnt" => "is",
        "arent" => "are",
        "wasnt" => "was",
        "werent" => "were",
        "cant" | "cannot" => "can",
        "couldnt" => "could",
        "wouldnt" => "would",
        "shouldnt" => "should",
        "wont" => "will",
        "havent" => "have",
        "hasnt" => "has",
        "hadnt" => "had",
        "aint" => "is",
        "mustnt" => "must",
        "neednt" => "need",
        "mightnt" => "might",
        "shant" => "shall",
        _ => return None,
    })
}

/// Whether `w` (a folded surface word) negates: such words are never stopwords.
pub fn is_negation(w: &str) -> bool {
    matches!(
        w,
        "not" | "no" | "never" | "nor" | "without" | "none" | "nothing" | "neither"
    )
}

/// Whether `w` (a folded surface word) is a stopword, dropped from the stems.
///
/// The list is deliberately compact: articles, conjunctions, common prepositions, forms of
/// *be*, and pronoun/possessive forms. Question words (*what*, *how*, *when*, *where*, *who*),
/// modals (*can*, *should*) and *do/does* are **kept**: in intent detection they separate
/// requests that share their content words ("what is my balance" vs "transfer my balance",
/// "how do I cook rice" vs "cook rice"); measured on CLINC150, dropping them cost ~4 points of
/// word-feature accuracy. Negations are never stopwords (see [`is_negation`]).
pub fn is_stopword(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "the"
            | "and"
            | "or"
            | "of"
            | "to"
            | "in"
            | "on"
            | "at"
            | "by"
            | "for"
            | "from"
            | "with"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "am"
            | "i"
            | "me"
            | "my"
            | "we"
            | "our"
            | "you"
            | "your"
            | "it"
            | "its"
            | "this"
            | "that"
            | "please"
    )
}

/// Appends the stem of `word` to `out`, using `scratch` as the stemmer's work buffer. Words that
/// are not all ASCII letters (numbers, other scripts) are appended unchanged: the stemmer's rules
/// are English.
pub fn stem_into(word: &str, scratch: &mut Vec<u8>, out: &mut String) {
    if word.len() <= 2 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        out.push_str(word);
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(word.as_bytes());
    let n = porter_stem(scratch);
    out.extend(scratch[..n].iter().map(|&b| b as char));
}

/// The stem of one word, as an owned string (build-time convenience over [`stem_into`]).
pub fn stem(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    stem_into(word, &mut Vec::new(), &mut out);
    out
}

/// Porter's (1980) suffix-stripping algorithm on a lowercase ASCII word, in place; returns the
/// stem's length. Every rule that lengthens a word (1b's `at` → `ate`, ...) follows the removal
/// of a longer suffix, so the stem never outgrows the word and fits in the same buffer.
fn porter_stem(b: &mut [u8]) -> usize {
    let mut s = Stemmer { b, k: 0 };
    s.k = s.b.len();
    if s.k <= 2 {
        return s.k;
    }
    s.step1a();
    s.step1b();
    s.step1c();
    s.step2();
    s.step3();
    s.step4();
    s.step5();
    s.k
}

/// Stemmer state: the word is `b[..k]`.
struct Stemmer<'a> {
    b: &'a mut [u8],
    k: usize,
}

impl Stemmer<'_> {
    /// Whether `b[i]` is a consonant (Porter's definition: `y` after a consonant is a vowel).
    fn cons(&self, i: usize) -> bool {
        match self.b[i] {
            b'a' | b'e' | b'i' | b'o' | b'u' => false,
            b'y' => i == 0 || !self.cons(i - 1),
            _ => true,
        }
    }

    /// Porter's measure m of `b[..j]`: the number of vowel-consonant sequences.
    fn measure(&self, j: usize) -> usize {
        let mut m = 0;
        let mut i = 0;
        while i < j && self.cons(i) {
            i += 1;
        }
        while i < j {
            while i < j && !self.cons(i) {
                i += 1;
            }
            if i >= j {
                break;
            }
            while i < j && self.cons(i) {
                i += 1;
            }
            m += 1;
        }
        m
    }

    fn has_vowel(&self, j: usize) -> bool {
        (0..j).any(|i| !self.cons(i))
    }

    /// Whether `b[..j]` ends with a double consonant.
    fn double_cons(&self, j: usize) -> bool {
        j >= 2 && self.b[j - 1] == self.b[j - 2] && self.cons(j - 1)
    }

    /// Whether `b[..j]` ends consonant-vowel-consonant, the last not w, x or y (*o).
    fn cvc(&self, j: usize) -> bool {
        if j < 3 || !self.cons(j - 1) || self.cons(j - 2) || !self.cons(j - 3) {
            return false;
        }
        !matches!(self.b[j - 1], b'w' | b'x' | b'y')
    }

    fn ends(&self, suffix: &[u8]) -> bool {
        self.b[..self.k].ends_with(suffix)
    }

    /// Replaces the last `strip` bytes with `with` (never longer than what it replaces plus the
    /// slack guaranteed by the algorithm).
    fn set(&mut self, strip: usize, with: &[u8]) {
        let j = self.k - strip;
        self.b[j..j + with.len()].copy_from_slice(with);
        self.k = j + with.len();
    }

    /// Applies the first rule of `rules` whose suffix matches, if the stem before it has a
    /// measure above `min_m`. Returns whether a suffix matched (applied or not).
    fn rules(&mut self, rules: &[(&[u8], &[u8])], min_m: usize) -> bool {
        for &(suffix, with) in rules {
            if self.ends(suffix) {
                if self.measure(self.k - suffix.len()) > min_m {
                    self.set(suffix.len(), with);
                }
                return true;
            }
        }
        false
    }

    fn step1a(&mut self) {
        if self.ends(b"sses") || self.ends(b"ies") {
            self.k -= 2;
        } else if self.ends(b"ss") {
        } else if self.ends(b"s") {
            self.k -= 1;
        }
    }

    fn step1b(&mut self) {
        if self.ends(b"eed") {
            if self.measure(self.k - 3) > 0 {
                self.k -= 1;
            }
            return;
        }
        let strip = if self.ends(b"ed") {
            2
        } else if self.ends(b"ing") {
            3
        } else {
            return;
        };
        if !self.has_vowel(self.k - strip) {
            return;
        }
        self.k -= strip;
        if self.ends(b"at") || self.ends(b"bl") || self.ends(b"iz") {
            self.b[self.k] = b'e';
            self.k += 1;
        } else if self.double_cons(self.k) && !matches!(self.b[self.k - 1], b'l' | b's' | b'z') {
            self.k -= 1;
        } else if self.measure(self.k) == 1 && self.cvc(self.k) {
            self.b[self.k] = b'e';
            self.k += 1;
        }
    }

    fn step1c(&mut self) {
        if self.ends(b"y") && self.has_vowel(self.k - 1) {
            self.b[self.k - 1] = b'i';
        }
    }

    fn step2(&mut self) {
        const R: &[(&[u8], &[u8])] = &[
            (b"ational", b"ate"),
            (b"tional", b"tion"),
            (b"enci", b"ence"),
            (b"anci", b"ance"),
            (b"izer", b"ize"),
            (b"bli", b"ble"),
            (b"alli", b"al"),
            (b"entli", b"ent"),
            (b"eli", b"e"),
            (b"ousli", b"ous"),
            (b"ization", b"ize"),
            (b"ation", b"ate"),
            (b"ator", b"ate"),
            (b"alism", b"al"),
            (b"iveness", b"ive"),
            (b"fulness", b"ful"),
            (b"ousness", b"ous"),
            (b"aliti", b"al"),
            (b"iviti", b"ive"),
            (b"biliti", b"ble"),
            (b"logi", b"log"),
        ];
        self.rules(R, 0);
    }

    fn step3(&mut self) {
        const R: &[(&[u8], &[u8])] = &[
            (b"icate", b"ic"),
            (b"ative", b""),
            (b"alize", b"al"),
            (b"iciti", b"ic"),
            (b"ical", b"ic"),
            (b"ful", b""),
            (b"ness", b""),
        ];
        self.rules(R, 0);
    }

    fn step4(&mut self) {
        const R: &[(&[u8], &[u8])] = &[
            (b"al", b""),
            (b"ance", b""),
            (b"ence", b""),
            (b"er", b""),
            (b"ic", b""),
            (b"able", b""),
            (b"ible", b""),
            (b"ant", b""),
            (b"ement", b""),
            (b"ment", b""),
            (b"ent", b""),
            (b"ou", b""),
            (b"ism", b""),
            (b"ate", b""),
            (b"iti", b""),
            (b"ous", b""),
            (b"ive", b""),
            (b"ize", b""),
        ];
        if self.ends(b"ion") {
            let j = self.k - 3;
            if j > 0 && matches!(self.b[j - 1], b's' | b't') && self.measure(j) > 1 {
                self.k = j;
            }
            return;
        }
        // Porter checks the condition on the longest matching suffix only; the list puts
        // `ement` before `ment` before `ent`, so the first match is the longest.
        self.rules(R, 1);
    }

    fn step5(&mut self) {
        if self.ends(b"e") {
            let m = self.measure(self.k - 1);
            if m > 1 || (m == 1 && !self.cvc(self.k - 1)) {
                self.k -= 1;
            }
        }
        if self.ends(b"ll") && self.measure(self.k) > 1 {
            self.k -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(q: &ParsedQuery) -> Vec<&str> {
        q.words().collect()
    }

    fn stems(q: &ParsedQuery) -> Vec<&str> {
        q.stems().collect()
    }

    #[test]
    fn lowercases_folds_and_splits_on_punctuation() {
        let q = parse("Héllo, WORLD!  Café-au-lait").unwrap();
        assert_eq!(words(&q), ["hello", "world", "cafe", "au", "lait"]);
    }

    #[test]
    fn compatibility_folding() {
        let q = parse("ＡＢＣ ﬁle ²").unwrap();
        assert_eq!(words(&q), ["abc", "file", "2"]);
    }

    #[test]
    fn control_characters_split_and_invisible_ones_vanish() {
        let q = parse("foo\u{0}bar\tbaz qu\u{200b}ux").unwrap();
        assert_eq!(words(&q), ["foo", "bar", "baz", "quux"]);
    }

    #[test]
    fn contractions_expand_and_keep_negation() {
        let q = parse("I don't know, you can't, won't they? it's cannot dont").unwrap();
        assert_eq!(
            words(&q),
            [
                "i", "do", "not", "know", "you", "can", "not", "will", "not", "they", "it", "can",
                "not", "do", "not"
            ]
        );
        assert!(q.has_negation());
        assert!(stems(&q).contains(&"not"));
        let q = parse("I’m sure we’ll go; they've been").unwrap();
        assert_eq!(
            words(&q),
            ["i", "am", "sure", "we", "will", "go", "they", "have", "been"]
        );
        let q = parse("'quoted' users' o'clock").unwrap();
        assert_eq!(words(&q), ["quoted", "users", "oclock"]);
        assert!(!q.has_negation());
    }

    #[test]
    fn numbers_are_tokens() {
        let q = parse("transfer $1,000.50 to account 42 at 5pm.").unwrap();
        assert_eq!(
            words(&q),
            ["transfer", "1000.50", "to", "account", "42", "at", "5pm"]
        );
        assert_eq!(stems(&q), ["transfer", "1000.50", "account", "42", "5pm"]);
    }

    #[test]
    fn stopwords_removed_negations_and_question_words_kept() {
        let q = parse("What is the balance of my account? Not the savings, without fees").unwrap();
        assert_eq!(
            stems(&q),
            ["what", "balanc", "account", "not", "save", "without", "fee"]
        );
    }

    #[test]
    fn porter_reference_stems() {
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("sing", "sing"),
            ("conflated", "conflat"),
            ("troubled", "troubl"),
            ("sized", "size"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("hissing", "hiss"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("conditional", "condit"),
            ("digitizer", "digit"),
            ("generalization", "gener"),
            ("hopefulness", "hope"),
            ("electrical", "electr"),
            ("adjustment", "adjust"),
            ("replacement", "replac"),
            ("adoption", "adopt"),
            ("controlling", "control"),
            ("rate", "rate"),
            ("reservations", "reserv"),
            ("running", "run"),
        ] {
            assert_eq!(stem(w), s, "stem({w})");
        }
    }

    #[test]
    fn non_ascii_and_short_words_are_not_stemmed() {
        assert_eq!(stem("is"), "is");
        assert_eq!(stem("größer"), "größer");
        assert_eq!(stem("x2ing"), "x2ing");
        let q = parse("Привет мир 東京タワー").unwrap();
        assert_eq!(words(&q), ["привет", "мир", "東京タワー"]);
        let q = parse("한국어 नमस्ते").unwrap();
        assert_eq!(words(&q), ["한국어", "नमस्ते"]);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(parse(""), Err(ParseError::Empty));
        assert_eq!(parse("  \t\n ?!... \u{1}"), Err(ParseError::Empty));
        assert_eq!(parse("😀 🎉"), Err(ParseError::Empty));
        let long = "a".repeat(MAX_QUERY_BYTES + 1);
        assert_eq!(
            parse(&long),
            Err(ParseError::TooLong {
                len: MAX_QUERY_BYTES + 1,
                max: MAX_QUERY_BYTES
            })
        );
        assert!(parse(&"a ".repeat(MAX_QUERY_BYTES / 2)).is_ok());
        assert_eq!(
            parse_bytes(b"ok\xffno").unwrap_err(),
            ParseError::InvalidUtf8 { valid_up_to: 2 }
        );
        assert_eq!(words(&parse_bytes("héllo".as_bytes()).unwrap()), ["hello"]);
    }

    #[test]
    fn failed_parse_leaves_value_empty() {
        let mut q = parse("hello world").unwrap();
        assert_eq!(q.parse_into("..."), Err(ParseError::Empty));
        assert!(q.is_empty());
        assert_eq!(q.num_stems(), 0);
        assert_eq!(q.word(0), None);
    }

    #[test]
    fn indexed_access_matches_iterators() {
        let q = parse("book a flight to Paris").unwrap();
        assert_eq!(q.num_words(), 5);
        assert_eq!(q.word(2), Some("flight"));
        assert_eq!(q.stem(0), Some("book"));
        assert_eq!(q.stem(4), Some("pari"));
        assert_eq!(
            q.all_stems().collect::<Vec<_>>(),
            ["book", "a", "flight", "to", "pari"]
        );
        assert!(q.is_stopword_at(1) && !q.is_stopword_at(0) && !q.is_stopword_at(9));
        assert_eq!(q.stems().len(), q.num_stems());
    }

    proptest! {
        #[test]
        fn never_panics_and_reuse_equals_fresh(a in any::<String>(), b in any::<String>()) {
            let fresh_a = parse(&a);
            let fresh_b = parse(&b);
            let mut reused = ParsedQuery::new();
            let _ = reused.parse_into(&a);
            let rb = reused.parse_into(&b);
            prop_assert_eq!(&rb, &fresh_b.as_ref().map(|_| ()).map_err(|e| *e));
            if let Ok(fb) = &fresh_b {
                prop_assert_eq!(&reused, fb);
                prop_assert_eq!(fb.words().count(), fb.num_words());
                for w in fb.words() {
                    prop_assert!(!w.is_empty());
                }
            }
            if let Ok(fa) = fresh_a {
                let again = parse(&a).unwrap();
                prop_assert_eq!(fa, again);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            match parse_bytes(&bytes) {
                Ok(q) => prop_assert!(!q.is_empty()),
                Err(ParseError::InvalidUtf8 { valid_up_to }) => prop_assert!(valid_up_to < bytes.len()),
                Err(_) => {}
            }
        }

        #[test]
        fn wordy_ascii_text_always_parses(s in "[a-zA-Z0-9' ,.!?-]{0,80}") {
            let has_alnum = s.chars().any(|c| c.is_ascii_alphanumeric());
            prop_assert_eq!(parse(&s).is_ok(), has_alnum);
        }
    }
}
