//! The stemmer: Porter's (1980) suffix-stripping algorithm for English words.

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
#[cfg(test)]
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
