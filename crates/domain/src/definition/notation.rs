//! Scheme notations: how the codes of a scheme are written, and how a submitted code is brought
//! to the canonical form the definition file lists before it is looked up.
//!
//! A scheme names its notation with the `notation` key (vawg-v2 onwards); without the key a
//! scheme matches exactly, as every vawg-v1 scheme does. The grammar of each notation is stated
//! in the comments of `deploy/definitions/vawg-v2.toml`, beside the schemes that use it; this
//! module implements those comments and nothing more. A submitted code that does not follow its
//! scheme's grammar is never a code: it is rejected as unknown, never guessed.

use std::fmt;

/// How a scheme's codes are written and matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Notation {
    /// No `notation` key: surrounding whitespace and letter case are not significant, nothing
    /// else is rewritten (`19c`, ` 19C` match `19C`). The only rule of vawg-v1.
    #[default]
    Exact,
    /// `notation = "ho_offence"`: Home Office offence classifications, `class [sep subclass]`
    /// where class is digits and an optional letter, sep is `/` or `.`, subclass is digits;
    /// leading zeros are ignored and the parts are whole numbers, never decimals. Canonical:
    /// `4/1`, `19C`, `1/1` (so `4.1`, `004/01` and `04/001` are all `4/1`, while `4.10` is
    /// `4/10`). No roll-up from a subclass to its class.
    HoOffence,
    /// `notation = "icd10"`: a letter, two digits, then optionally `.` and one further character;
    /// the dot is optional on input. Canonical: `T74.1`, `Y05` (so `t741` is `T74.1`).
    Icd10,
    /// `notation = "legislation"`: `<Act short title> <year> s<section>[(<subsection>)]`,
    /// case-insensitive with runs of whitespace collapsed to one space. A subsection that is not
    /// listed falls back to the listed section (`... s66B(2)` finds `... s66B`).
    Legislation,
}

/// A submitted code brought to its scheme's notation, ready for lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LookupKeys {
    /// The key of the code itself.
    pub(super) key: String,
    /// The key to try when `key` is not listed: for LEGISLATION, the section without its
    /// subsection; `None` for every other notation (no roll-up).
    pub(super) fallback: Option<String>,
}

impl Notation {
    /// The notations a definition file may name, in the order error messages list them.
    pub const NAMED: [Notation; 3] = [Notation::HoOffence, Notation::Icd10, Notation::Legislation];

    /// The value of the file's `notation` key; `None` for [`Notation::Exact`] (key absent).
    pub fn key(self) -> Option<&'static str> {
        match self {
            Notation::Exact => None,
            Notation::HoOffence => Some("ho_offence"),
            Notation::Icd10 => Some("icd10"),
            Notation::Legislation => Some("legislation"),
        }
    }

    /// The notation a file's `notation` key names (exact spelling), if any.
    pub fn from_key(key: &str) -> Option<Notation> {
        Notation::NAMED.into_iter().find(|n| n.key() == Some(key))
    }

    /// The canonical form of `code` in this notation, or `None` when `code` does not follow the
    /// notation's grammar (it is then not a code of the scheme at all).
    ///
    /// [`Notation::Exact`] and [`Notation::Legislation`] keep letter case (their matching
    /// ignores it); the other two upper-case their letters.
    pub fn canonical(self, code: &str) -> Option<String> {
        match self {
            Notation::Exact => Some(code.trim().to_owned()),
            Notation::HoOffence => ho_offence(code),
            Notation::Icd10 => icd10(code),
            Notation::Legislation => legislation(code).map(|(canonical, _)| canonical),
        }
    }

    /// What a code of this notation looks like, for error messages.
    pub(super) fn grammar(self) -> &'static str {
        match self {
            Notation::Exact => "any non-empty text",
            Notation::HoOffence => {
                "class digits with an optional letter, optionally \"/\" or \".\" and subclass \
                 digits (e.g. 4/1, 19C, 105A)"
            }
            Notation::Icd10 => {
                "a letter, two digits, then optionally \".\" and one further character \
                 (e.g. T74.1, Y05)"
            }
            Notation::Legislation => {
                "<Act short title> <year> s<section>[(<subsection>)] \
                 (e.g. Serious Crime Act 2015 s76)"
            }
        }
    }

    /// The index key of a code the definition file lists (already canonical): what a
    /// submitted code's [`LookupKeys::key`] is compared with.
    pub(super) fn index_key(self, canonical: &str) -> String {
        self.key_of(canonical.to_owned())
    }

    /// The index key of a canonical code: itself where the canonical form is already upper
    /// case (HO_OFFENCE, ICD10), else upper-cased (matching ignores case).
    fn key_of(self, canonical: String) -> String {
        match self {
            Notation::HoOffence | Notation::Icd10 => canonical,
            Notation::Exact | Notation::Legislation => canonical.to_uppercase(),
        }
    }

    /// The keys to look a submitted code up by, or `None` when it is not a code of the notation.
    pub(super) fn lookup_keys(self, code: &str) -> Option<LookupKeys> {
        match self {
            Notation::Legislation => {
                let (canonical, subsection) = legislation(code)?;
                let fallback = subsection.map(|at| canonical[..at].to_uppercase());
                Some(LookupKeys {
                    key: canonical.to_uppercase(),
                    fallback,
                })
            }
            other => Some(LookupKeys {
                key: other.key_of(other.canonical(code)?),
                fallback: None,
            }),
        }
    }
}

impl fmt::Display for Notation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key().unwrap_or("exact"))
    }
}

/// Digits without their leading zeros (`"00"` is `"0"`). `digits` is non-empty ASCII digits.
fn without_leading_zeros(digits: &str) -> &str {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }
}

/// HO_OFFENCE: `class [sep subclass]`, class = digits [letter], sep = `/` | `.`, subclass =
/// digits; canonical `<class number><LETTER>[/<subclass number>]`.
fn ho_offence(code: &str) -> Option<String> {
    let code = code.trim();
    let (class, subclass) = match code.find(['/', '.']) {
        Some(at) => (&code[..at], Some(&code[at + 1..])),
        None => (code, None),
    };
    let digits_end = class
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(class.len());
    let (digits, letter) = class.split_at(digits_end);
    if digits.is_empty() {
        return None;
    }
    let mut canonical = without_leading_zeros(digits).to_owned();
    match letter.as_bytes() {
        [] => {}
        [l] if l.is_ascii_alphabetic() => canonical.push(char::from(l.to_ascii_uppercase())),
        _ => return None,
    }
    if let Some(subclass) = subclass {
        if subclass.is_empty() || !subclass.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        canonical.push('/');
        canonical.push_str(without_leading_zeros(subclass));
    }
    Some(canonical)
}

/// ICD10: a letter, two digits, then optionally `.` and one further character (a letter or
/// digit); canonical upper case with the dot.
fn icd10(code: &str) -> Option<String> {
    let code = code.trim();
    let b = code.as_bytes();
    if b.len() < 3
        || !b[0].is_ascii_alphabetic()
        || !b[1].is_ascii_digit()
        || !b[2].is_ascii_digit()
    {
        return None;
    }
    let fourth = match &b[3..] {
        [] => None,
        [c] | [b'.', c] if c.is_ascii_alphanumeric() => Some(*c),
        _ => return None,
    };
    let mut canonical = code[..3].to_ascii_uppercase();
    if let Some(c) = fourth {
        canonical.push('.');
        canonical.push(char::from(c.to_ascii_uppercase()));
    }
    Some(canonical)
}

/// LEGISLATION: whitespace collapsed; then `<title> <year> s<section>[(<subsection>)]` with a
/// four-digit year, a section of digits and optional letters, and a subsection of letters and
/// digits. Returns the canonical form (letter case kept) and, when there is a subsection, the
/// byte offset at which it starts.
fn legislation(code: &str) -> Option<(String, Option<usize>)> {
    let canonical = code.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut tokens = canonical.rsplitn(3, ' ');
    let section = tokens.next()?;
    let year = tokens.next()?;
    let title = tokens.next()?;
    if title.is_empty() || year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = section.strip_prefix(['s', 'S'])?;
    let digits_end = number
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(number.len());
    if digits_end == 0 {
        return None;
    }
    let after_digits = &number[digits_end..];
    let letters_end = after_digits
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(after_digits.len());
    let subsection = &after_digits[letters_end..];
    if subsection.is_empty() {
        return Some((canonical, None));
    }
    let inner = subsection.strip_prefix('(')?.strip_suffix(')')?;
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let at = canonical.len() - subsection.len();
    Some((canonical, Some(at)))
}
