//! Turning a raw field into a host name we can score, or a reason it is not one.

/// Longest host name DNS allows (RFC 1035, without the trailing dot).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label DNS allows.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a field is not a valid host name. The text is what the user sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidName {
    Empty,
    TooLong(usize),
    EmptyLabel,
    LabelTooLong(usize),
    NonAscii,
    BadCharacter(char),
}

impl std::fmt::Display for InvalidName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidName::Empty => write!(f, "empty name"),
            InvalidName::TooLong(n) => {
                write!(f, "name is {n} characters long (at most {MAX_NAME_LEN})")
            }
            InvalidName::EmptyLabel => {
                write!(f, "empty label (two dots in a row, or a leading dot)")
            }
            InvalidName::LabelTooLong(n) => {
                write!(
                    f,
                    "a label is {n} characters long (at most {MAX_LABEL_LEN})"
                )
            }
            InvalidName::NonAscii => write!(
                f,
                "non-ASCII characters (internationalised names must be in punycode, xn--...)"
            ),
            InvalidName::BadCharacter(c) => {
                write!(
                    f,
                    "character {c:?} is not allowed (only a-z, 0-9, '-', '_' and '.')"
                )
            }
        }
    }
}

impl std::error::Error for InvalidName {}

/// Trim, lowercase, drop one trailing dot, then check the result is a host name:
/// 1..=253 characters, labels of 1..=63 characters from `[a-z0-9_-]`, ASCII only
/// (punycode `xn--` labels are ASCII and pass).
pub fn normalize_name(raw: &str) -> Result<String, InvalidName> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(InvalidName::Empty);
    }
    if !trimmed.is_ascii() {
        return Err(InvalidName::NonAscii);
    }
    if trimmed.len() > MAX_NAME_LEN {
        return Err(InvalidName::TooLong(trimmed.len()));
    }
    let name = trimmed.to_ascii_lowercase();
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(InvalidName::BadCharacter(bad));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(InvalidName::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(InvalidName::LabelTooLong(label.len()));
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_space_and_one_trailing_dot() {
        assert_eq!(
            normalize_name("  WWW.Example.COM. ").unwrap(),
            "www.example.com"
        );
        assert_eq!(
            normalize_name("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            normalize_name("_dmarc.example.com").unwrap(),
            "_dmarc.example.com"
        );
        assert_eq!(normalize_name("localhost").unwrap(), "localhost");
    }

    #[test]
    fn rejects_what_is_not_a_host_name() {
        assert_eq!(normalize_name(""), Err(InvalidName::Empty));
        assert_eq!(normalize_name(" . "), Err(InvalidName::Empty));
        assert_eq!(normalize_name("a..b"), Err(InvalidName::EmptyLabel));
        assert_eq!(
            normalize_name("example.com.."),
            Err(InvalidName::EmptyLabel)
        );
        assert_eq!(normalize_name("bücher.de"), Err(InvalidName::NonAscii));
        assert_eq!(
            normalize_name("a b.com"),
            Err(InvalidName::BadCharacter(' '))
        );
        assert_eq!(
            normalize_name("http://x.com"),
            Err(InvalidName::BadCharacter(':'))
        );
        let long_label = format!("{}.com", "a".repeat(64));
        assert_eq!(
            normalize_name(&long_label),
            Err(InvalidName::LabelTooLong(64))
        );
        let long_name = vec!["abcdefghi"; 26].join(".");
        assert_eq!(normalize_name(&long_name), Err(InvalidName::TooLong(259)));
        let longest = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(normalize_name(&longest).unwrap().len(), 253);
    }
}
