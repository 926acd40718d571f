//! Characters to indices: the vocabulary stored in every model, and Keras-style padding.

/// Names are pre-padded and pre-truncated to this many characters (Endgame's maxlen).
pub const MAXLEN: usize = 75;
/// Index of padding.
pub const PAD: u8 = 0;
/// Index of any character the vocabulary has never seen.
pub const UNKNOWN: u8 = 1;

/// Number of leading padding indices of an encoded row: the step its name starts at. (Names
/// are pre-padded, so every fast path skips these steps or looks their result up.)
pub fn start_of(row: &[u8]) -> usize {
    row.iter().take_while(|&&v| v == PAD).count()
}

/// Maps characters to indices: 0 is padding, 1 is "unknown", then the characters seen in
/// training in byte order (so the same names always give the same vocabulary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<u8>,
    index: [u8; 256],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VocabError {
    #[error("vocabulary has {0} characters; at most 254 fit")]
    TooLarge(usize),
    #[error("vocabulary repeats character {0:?}")]
    Repeated(char),
    #[error("vocabulary holds a non-ASCII or control byte {0:#04x}")]
    BadByte(u8),
}

impl Vocab {
    /// Builds the vocabulary from training names.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vocab {
        let mut seen = [false; 256];
        for name in names {
            for &b in name.as_bytes() {
                seen[b as usize] = true;
            }
        }
        let chars: Vec<u8> = (0..=255u8)
            .filter(|&b| seen[b as usize] && b.is_ascii_graphic())
            .collect();
        Vocab::from_chars(&chars).expect("ASCII graphic bytes are at most 94 and distinct")
    }

    /// Rebuilds a vocabulary from its stored characters (index 2 upwards), checking them.
    pub fn from_chars(chars: &[u8]) -> Result<Vocab, VocabError> {
        if chars.len() > 254 {
            return Err(VocabError::TooLarge(chars.len()));
        }
        let mut index = [UNKNOWN; 256];
        for (i, &c) in chars.iter().enumerate() {
            if !c.is_ascii_graphic() {
                return Err(VocabError::BadByte(c));
            }
            if index[c as usize] != UNKNOWN {
                return Err(VocabError::Repeated(c as char));
            }
            index[c as usize] = (i + 2) as u8;
        }
        Ok(Vocab {
            chars: chars.to_vec(),
            index,
        })
    }

    /// The characters, in index order from 2.
    pub fn chars(&self) -> &str {
        std::str::from_utf8(&self.chars).expect("vocabulary is ASCII")
    }

    /// Number of embedding rows: padding + unknown + characters.
    pub fn size(&self) -> usize {
        self.chars.len() + 2
    }

    pub fn index_of(&self, byte: u8) -> u8 {
        self.index[byte as usize]
    }

    /// Writes `name` into `out` (length `MAXLEN`) exactly like Keras
    /// `pad_sequences(maxlen=75, padding='pre', truncating='pre')`: short names are padded at
    /// the front, long names keep their last 75 characters.
    pub fn encode_into(&self, name: &str, out: &mut [u8]) {
        let bytes = name.as_bytes();
        let kept = &bytes[bytes.len().saturating_sub(out.len())..];
        let pad = out.len() - kept.len();
        out[..pad].fill(PAD);
        for (slot, &b) in out[pad..].iter_mut().zip(kept) {
            *slot = self.index_of(b);
        }
    }

    /// Encodes many names into one row-major `[names, MAXLEN]` index matrix.
    pub fn encode_batch<S: AsRef<str>>(&self, names: &[S]) -> Vec<u8> {
        let mut out = vec![PAD; names.len() * MAXLEN];
        for (name, row) in names.iter().zip(out.chunks_exact_mut(MAXLEN)) {
            self.encode_into(name.as_ref(), row);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_sorted_and_deterministic() {
        let a = Vocab::from_names(["b.com", "a-1.net"]);
        let b = Vocab::from_names(["a-1.net", "b.com"]);
        assert_eq!(a, b);
        assert_eq!(a.chars(), "-.1abcemnot");
        assert_eq!(a.size(), 13);
        assert_eq!(a.index_of(b'-'), 2);
        assert_eq!(a.index_of(b'z'), UNKNOWN);
    }

    #[test]
    fn pads_and_truncates_at_the_front_like_keras() {
        let vocab = Vocab::from_names(["abc"]);
        let mut row = [9u8; 5];
        vocab.encode_into("abz", &mut row);
        assert_eq!(row, [0, 0, 2, 3, UNKNOWN]);
        vocab.encode_into("abcabca", &mut row);
        assert_eq!(row, [4, 2, 3, 4, 2]); // the last five characters: "cabca"
        vocab.encode_into("", &mut row);
        assert_eq!(row, [0; 5]);
    }

    #[test]
    fn stored_characters_are_checked() {
        assert_eq!(Vocab::from_chars(b"aa"), Err(VocabError::Repeated('a')));
        assert_eq!(Vocab::from_chars(b"a\n"), Err(VocabError::BadByte(b'\n')));
    }
}
