//! Estimating LLM tokens without a vocabulary, for context budgets: counted once per layer at
//! build time, and again when a context is assembled under a budget.

/// Estimates LLM tokens of `text` without a vocabulary: every run of letters or digits counts
/// one token per started 4 characters, every other visible character one token. On English
/// prose this lands within ~15 % of common BPE tokenizers, erring high — the safe side for a
/// budget.
pub fn estimate_tokens(text: &str) -> u32 {
    let mut tokens = 0u32;
    let mut run = 0u32;
    for c in text.chars() {
        if c.is_alphanumeric() {
            run += 1;
        } else {
            tokens += run.div_ceil(4);
            run = 0;
            if !c.is_whitespace() {
                tokens += 1;
            }
        }
    }
    tokens + run.div_ceil(4)
}

/// The longest prefix of `text`, cut after a whole word, that fits in `budget` tokens. One
/// pass: tokens are counted as in [`estimate_tokens`], and the last word end within budget wins.
pub fn fit_tokens(text: &str, budget: u32) -> &str {
    let (mut tokens, mut run, mut best) = (0u32, 0u32, 0usize);
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            run += 1;
            continue;
        }
        tokens += run.div_ceil(4);
        run = 0;
        if tokens > budget {
            return text[..best].trim_end();
        }
        if c.is_whitespace() {
            best = i;
        } else {
            tokens += 1;
        }
    }
    if tokens + run.div_ceil(4) <= budget {
        text
    } else {
        text[..best].trim_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_tokens() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("the cat"), 2);
        assert_eq!(estimate_tokens("anxiety!"), 3);
        assert_eq!(estimate_tokens("## A › B"), 5);
    }

    #[test]
    fn fit_cuts_at_words_within_budget() {
        let text = "one two three four five six";
        let cut = fit_tokens(text, 3);
        assert_eq!(cut, "one two", "\"three\" is two tokens");
        assert!(estimate_tokens(cut) <= 3);
        assert_eq!(fit_tokens(text, 100), text);
    }
}
