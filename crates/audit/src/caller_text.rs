//! Caller-supplied words that go into the audit log: `RequestRecords`' justification and
//! `RetractRecord`'s reason. The log is append-only and kept for years, so these must be
//! bounded and must not carry personal data. What is enforced, in order:
//!
//! 1. length: non-empty after trimming, at most [`MAX_CHARS`] characters;
//! 2. characters: no control characters (one line of text, nothing that could forge log
//!    lines or hide text from a reviewer);
//! 3. identifier shapes: no run of [`MAX_DIGITS`] or more digits (NHS numbers, phone numbers,
//!    PNC and case numbers, even with spaces or hyphens between digits), nothing shaped like
//!    a date (`12/03/1985`, `1985-03-12`), no e-mail address (`@`), no UK postcode;
//! 4. the subject's own identifiers: where the request names a subject (`RequestRecords`),
//!    none of its names, NHS number, PNC id or local person id may appear in the text
//!    (case-insensitive) — these are the identifiers the pseudonymiser would replace.
//!
//! Residual risk, stated honestly: free text can still carry personal data these checks
//! cannot see — another person's name, a street address without a postcode, a spelled-out
//! date, a description that identifies someone. The contract tells callers not to; the
//! audit log is readable only by the calling agency and the central team; and what was
//! written is attributable to the agency that wrote it. An entry, once written, cannot be
//! removed without breaking the log's verification.

/// Longest caller-supplied text kept, in characters.
pub const MAX_CHARS: usize = 500;

/// Digits in a row (spaces and hyphens between them allowed) from which text is taken to hold
/// an identifier.
pub const MAX_DIGITS: usize = 6;

/// Checks caller-supplied `text` against the rules above, `subject` being identifiers of the
/// subject the request names (empty where none). Returns the trimmed text to audit, or why it
/// is refused (never quoting the text).
pub fn check(text: &str, subject: &[&str]) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("required (in words, without personal data)".into());
    }
    if text.chars().count() > MAX_CHARS {
        return Err(format!("longer than {MAX_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must be one line of text without control characters".into());
    }
    if longest_digit_run(text) >= MAX_DIGITS {
        return Err(format!(
            "must not contain identifiers or numbers of {MAX_DIGITS} digits or more"
        ));
    }
    if has_date(text) {
        return Err("must not contain dates (personal data such as a date of birth)".into());
    }
    if text.contains('@') {
        return Err("must not contain e-mail addresses".into());
    }
    if has_postcode(text) {
        return Err("must not contain postcodes".into());
    }
    let lower = text.to_lowercase();
    let named = subject
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 2)
        .any(|w| contains_word(&lower, &w));
    if named {
        return Err("must not contain the subject's names or identifiers".into());
    }
    Ok(text.to_string())
}

/// `text` cut to the bounds (for entries built directly, as defence in depth): control
/// characters become spaces, at most [`MAX_CHARS`] characters are kept.
pub fn clamp(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_CHARS)
        .collect()
}

/// The most digits in a row, counting across single spaces and hyphens.
fn longest_digit_run(text: &str) -> usize {
    let (mut best, mut run, mut gap) = (0, 0, false);
    for c in text.chars() {
        if c.is_ascii_digit() {
            run += 1;
            gap = false;
            best = best.max(run);
        } else if matches!(c, ' ' | '-') && run > 0 && !gap {
            gap = true;
        } else {
            run = 0;
            gap = false;
        }
    }
    best
}

/// Digits, a separator, digits, the same separator, digits (`12/03/85`, `1985-03-12`).
fn has_date(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let digits_at = |mut i: usize| {
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        (i - start, i)
    };
    let mut i = 0;
    while i < chars.len() {
        let (n1, j) = digits_at(i);
        if n1 == 0 {
            i += 1;
            continue;
        }
        if let Some(&sep) = chars.get(j).filter(|c| matches!(c, '/' | '.' | '-')) {
            let (n2, k) = digits_at(j + 1);
            if n2 > 0 && chars.get(k) == Some(&sep) && digits_at(k + 1).0 > 0 {
                return true;
            }
        }
        i = j;
    }
    false
}

/// A UK postcode: outward code (letter, optional letter, digit, optional letter or digit),
/// optional space, inward code (digit, two letters), as a word of its own.
fn has_postcode(text: &str) -> bool {
    let compact: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != ' ')
        .flat_map(|part| {
            let words: Vec<&str> = part.split_whitespace().collect();
            let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            out.extend(words.windows(2).map(|w| format!("{}{}", w[0], w[1])));
            out
        })
        .collect();
    compact.iter().any(|w| is_postcode(&w.to_ascii_uppercase()))
}

fn is_postcode(w: &str) -> bool {
    let b = w.as_bytes();
    if !(5..=7).contains(&b.len()) {
        return false;
    }
    let (outward, inward) = b.split_at(b.len() - 3);
    let inward_ok = inward[0].is_ascii_digit()
        && inward[1].is_ascii_alphabetic()
        && inward[2].is_ascii_alphabetic();
    let alpha = outward
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let rest = &outward[alpha..];
    let outward_ok = (1..=2).contains(&alpha)
        && !rest.is_empty()
        && rest.len() <= 2
        && rest[0].is_ascii_digit()
        && rest[1..].iter().all(|c| c.is_ascii_alphanumeric());
    inward_ok && outward_ok
}

/// Whether `word` appears in `text` not as part of a longer word.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_reasons_pass() {
        for ok in [
            "Child protection strategy discussion",
            "Duplicate submission; resent under the correct id",
            "MARAC meeting on 3 cases this week",
            "Section 47 enquiry, risk level high",
        ] {
            assert_eq!(check(ok, &[]), Ok(ok.to_string()), "{ok}");
        }
    }

    #[test]
    fn identifiers_and_personal_shapes_are_refused() {
        for bad in [
            "",
            "   ",
            "NHS 943 476 5919",
            "call 07700900123",
            "born 12/03/1985",
            "dob 1985-03-12",
            "email jane@example.org",
            "lives at SW1A 1AA",
            "lives at m11ae now",
            "line one\nline two",
        ] {
            assert!(check(bad, &[]).is_err(), "{bad:?} passed");
        }
        assert!(check(&"a".repeat(MAX_CHARS + 1), &[]).is_err());
        assert!(check(&"é".repeat(MAX_CHARS), &[]).is_ok());
    }

    #[test]
    fn the_subjects_identifiers_are_refused() {
        let subject = ["Jane Ann", "Doe", "PNC-12/345X"];
        assert!(check("concerns about jane and her child", &subject).is_err());
        assert!(check("DOE family assessment", &subject).is_err());
        assert!(check("Janet's referral", &subject).is_ok());
        assert!(check("ref PNC-12/345X", &subject).is_err());
    }

    #[test]
    fn clamp_bounds_and_flattens() {
        assert_eq!(clamp(" a\nb "), "a b");
        assert_eq!(clamp(&"x".repeat(900)).chars().count(), MAX_CHARS);
    }
}
