//! What long work tells whoever runs it. The library never prints: training and prediction
//! hand their lines (what was read, the split, each epoch, warnings) and their progress to a
//! `Progress` the caller supplies. The CLI prints lines to standard error and draws a bar on
//! a terminal; a library user passes `Silent` or keeps the lines.

/// Receives lines and progress from long work. Every method but `line` may be ignored.
pub trait Progress: Sync {
    /// A line worth showing: what was read, a result, a warning.
    fn line(&self, text: &str);
    /// Work of `total` units begins (an epoch's names), named by `label` ("epoch 3/10").
    fn start(&self, label: &str, total: u64) {
        let _ = (label, total);
    }
    /// `units` more units are done; `status` says how it goes ("loss 0.0213"), or is empty.
    fn advance(&self, units: u64, status: &str) {
        let _ = (units, status);
    }
    /// The work begun by `start` is over (a bar is cleared before the next line).
    fn finish(&self) {}
}

/// Shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn line(&self, _: &str) {}
}
