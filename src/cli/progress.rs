//! How the library's progress looks on a terminal: lines on standard error, and a bar for
//! each epoch when standard error is a terminal and `--quiet` was not given.

use dga_lite::progress::Progress;
use std::sync::Mutex;

pub struct Terminal {
    bars: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Terminal {
    /// Lines only (`bars: false`), or lines and progress bars.
    pub fn new(bars: bool) -> Terminal {
        Terminal {
            bars,
            bar: Mutex::new(None),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Terminal {
    fn line(&self, text: &str) {
        match self.bar().as_ref() {
            // Printed above the bar, which stays at the bottom.
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    fn start(&self, label: &str, total: u64) {
        if !self.bars {
            return;
        }
        // indicatif draws nothing when standard error is not a terminal.
        let bar = indicatif::ProgressBar::new(total);
        let template = format!(
            "{label} [{{bar:30}}] {{pos}}/{{len}} names, {{per_sec}}, eta {{eta}}, {{msg}}"
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        *self.bar() = Some(bar);
    }

    fn advance(&self, units: u64, status: &str) {
        if let Some(bar) = self.bar().as_ref() {
            if !status.is_empty() {
                bar.set_message(status.to_string());
            }
            bar.inc(units);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}
