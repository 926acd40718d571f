//! Reading lines from untrusted input with bounded memory.
//!
//! `BufRead::lines` would buffer a 1 GB line whole and stop at the first invalid UTF-8 byte.
//! `BoundedLines` keeps at most `max_len` bytes of a line, skips the rest of an overlong
//! line, and reports overlong or non-UTF-8 lines as errors for that line only.

use std::io::{self, BufRead};

/// Lines longer than this are reported, not read: no valid record in any format comes close.
pub const MAX_LINE_BYTES: usize = 4096;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct BoundedLines<R> {
    reader: R,
    max_len: usize,
    line_no: u64,
    buf: Vec<u8>,
    done: bool,
}

/// Why a line could not be read as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    TooLong { len: u64, max: usize },
    NotUtf8 { lossy: String },
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLong { len, max } => {
                write!(f, "line is {len} bytes long (at most {max}); skipped")
            }
            LineError::NotUtf8 { .. } => write!(f, "line is not valid UTF-8"),
        }
    }
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(reader: R, max_len: usize) -> Self {
        BoundedLines {
            reader,
            max_len,
            line_no: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// How many lines have been read so far.
    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// The next line as `(line number from 1, text or why not)`, `None` at the end.
    /// I/O errors end the iteration with `Some(Err)`.
    pub fn next_line(&mut self) -> Option<io::Result<(u64, Result<String, LineError>)>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let mut total: u64 = 0;
        let mut saw_any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if !saw_any {
                    return None;
                }
                break;
            }
            saw_any = true;
            let (take, found_newline) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            let room = self.max_len.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            total += take as u64;
            self.reader.consume(take + usize::from(found_newline));
            if found_newline {
                break;
            }
        }
        self.line_no += 1;
        // A UTF-8 byte-order mark (Windows editors write one) is not part of the first line.
        if self.line_no == 1 && self.buf.starts_with(UTF8_BOM) {
            self.buf.drain(..UTF8_BOM.len());
            total -= UTF8_BOM.len() as u64;
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
            total -= 1;
        }
        let result = if total > self.max_len as u64 {
            Err(LineError::TooLong {
                len: total,
                max: self.max_len,
            })
        } else {
            match std::str::from_utf8(&self.buf) {
                Ok(text) => Ok(text.to_string()),
                Err(_) => Err(LineError::NotUtf8 {
                    lossy: String::from_utf8_lossy(&self.buf).into_owned(),
                }),
            }
        };
        Some(Ok((self.line_no, result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<(u64, Result<String, LineError>)> {
        let mut lines = BoundedLines::new(io::BufReader::with_capacity(8, input), max);
        std::iter::from_fn(|| lines.next_line())
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let got = collect(b"a.com\r\nb.com\nc.com", 100);
        let texts: Vec<_> = got.iter().map(|(n, t)| (*n, t.clone().unwrap())).collect();
        assert_eq!(
            texts,
            vec![
                (1, "a.com".into()),
                (2, "b.com".into()),
                (3, "c.com".into())
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_is_stripped_from_the_first_line_only() {
        let got = collect(b"\xEF\xBB\xBFa.com\n\xEF\xBB\xBFb.com\n", 100);
        assert_eq!(got[0], (1, Ok("a.com".into())));
        assert!(matches!(got[1], (2, Ok(ref t)) if t.starts_with('\u{feff}')));
        // A BOM alone is an empty first line.
        assert_eq!(collect(b"\xEF\xBB\xBF", 100), vec![(1, Ok(String::new()))]);
    }

    #[test]
    fn overlong_and_invalid_lines_are_errors_for_that_line_only() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok.com\n\xff\xfe.com\nlast.com\n");
        let got = collect(&input, 10);
        assert_eq!(got[0], (1, Err(LineError::TooLong { len: 50, max: 10 })));
        assert_eq!(got[1], (2, Ok("ok.com".into())));
        assert!(matches!(got[2], (3, Err(LineError::NotUtf8 { .. }))));
        assert_eq!(got[3], (4, Ok("last.com".into())));
        assert_eq!(got.len(), 4);
    }
}
