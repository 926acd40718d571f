//! Writing to the terminal: every line to standard output goes through `out!`, so a closed
//! pipe or a full disk ends the command with a clear error (a closed pipe quietly, as `head`
//! expects), never a panic.

/// Writes one line to standard output; an error returns from the command, saying it was
/// standard output that failed (`main` tells a closed pipe by its `io::ErrorKind`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        use anyhow::Context as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
            .context("cannot write to standard output")?
    }};
}
pub(crate) use out;

/// A label in at most `width` characters: whole, or `…` and its end from a folder boundary,
/// so a path keeps its file name rather than being cut mid-name.
pub fn fit_path(label: &str, width: usize) -> String {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= width {
        return label.to_string();
    }
    let tail_start = chars.len() - (width - 1);
    let from = (tail_start..chars.len())
        .find(|&i| chars[i] == '/')
        .unwrap_or(tail_start);
    format!("…{}", chars[from..].iter().collect::<String>())
}
