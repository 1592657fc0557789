//! The Query Parser: turns raw query text into the two token streams the learned model reads.
//!
//! - **Surface words**: Unicode-folded, lowercased, accent-stripped words, contractions expanded
//!   (`don't` → `do not`). Character n-grams are taken from these, so misspellings and
//!   morphology still share most of their features.
//! - **Stems**: each surface word reduced by a Porter-style suffix stemmer, aligned one to one
//!   with the words ([`ParsedQuery::all_stems`]); word unigrams, bigrams and pairs are taken
//!   from these. [`ParsedQuery::stems`] is the same list minus a compact stopword list, for
//!   callers that want content terms (learned keywords, associations). Negations (`not`, `no`,
//!   `never`, `nor`, `without`, and every `n't`) are never stopwords: kept as words, they enter
//!   the bigram and pair features (`not happy`), which is how the lexical model can tell a
//!   negated request from the plain one. There is no separate negation operator.
//!
//! The word lists live in [`lexicon`], the stemmer in [`stem`](mod@stem), and the LLM-token
//! estimate used for context budgets in [`tokens`].
//!
//! Parsing is a single pass over the text and, through [`ParsedQuery::parse_into`], allocation
//! free once the buffers of a reused [`ParsedQuery`] have grown to the size of the queries seen.

mod lexicon;
mod stem;
#[cfg(test)]
mod tests;
mod tokens;

use thiserror::Error;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use lexicon::{is_apostrophe, is_hangul_syllable, is_invisible, negated_contraction};
pub use lexicon::{is_negation, is_stopword};
pub use stem::stem_into;
pub use tokens::{estimate_tokens, fit_tokens};

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
}

/// Whether `text` is blank: nothing but whitespace, control and invisible formatting
/// characters. A blank text is not a query ([`ParseError::Empty`]); a text with visible
/// characters but no word (emoji, symbols) is a query that routes nowhere.
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || c.is_control() || lexicon::is_invisible(c))
}

/// Parses `text` into a fresh [`ParsedQuery`]. Use [`ParsedQuery::parse_into`] on a reused value
/// in hot paths: it does not allocate.
pub fn parse(text: &str) -> Result<ParsedQuery, ParseError> {
    let mut q = ParsedQuery::new();
    q.parse_into(text)?;
    Ok(q)
}

/// The distinct content stems of a text ([`ParsedQuery::stems`]), sorted; none for a text that
/// does not parse. The unit both association learning (which stems co-occur) and usage
/// suggestions (which stems a no-match line has) count in, defined once so they agree.
pub fn distinct_stems(text: &str) -> Vec<String> {
    let mut out: Vec<String> = parse(text)
        .map(|q| q.stems().map(str::to_string).collect())
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
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
    #[cfg(test)]
    pub fn num_stems(&self) -> usize {
        self.content.len()
    }

    /// Whether nothing has been parsed (or the last parse failed).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.word_ends.is_empty()
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
