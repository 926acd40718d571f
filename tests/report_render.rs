//! The HTML report as a person sees it: rendered by headless Chromium (Debian's `chromium`
//! package) to a PNG, kept at `target/tmp/report-screenshot.png` for a look. Ignored in a
//! plain `cargo test` (it needs Chromium), with the reason in the summary; `.ci/run` installs
//! Chromium and runs it with `-- --include-ignored` (set DGA_LITE_CHROMIUM to its path if it
//! is not on PATH as `chromium` or `chromium-browser`).

mod common;

use std::path::PathBuf;
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DGA_LITE_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|exe| dir.join(exe)))
        .find(|p| p.is_file())
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((word(16), word(20)))
}

#[test]
#[ignore = "needs Chromium (apt-get install chromium): cargo test --release --test report_render -- --include-ignored"]
fn the_report_renders_in_chromium() {
    let browser = chromium()
        .expect("no Chromium found (install Debian's chromium package to render the report)");
    let dir = tempfile::tempdir().unwrap();
    let benign = common::write(
        dir.path(),
        "benign.txt",
        &(common::benign_names(300, 1).join("\n") + "\n"),
    );
    let (_, dga) = common::write_training_files(dir.path(), 300);
    let report = dir.path().join("report.html");
    let eval = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["eval", "--benign", benign.to_str().unwrap()])
        .args(["--dga", dga.to_str().unwrap()])
        .args(["--report", report.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&png);
    let shot = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1100,2600",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&bytes), Some((1100, 2600)));
    // A blank page compresses to almost nothing; charts and tables do not.
    assert!(
        bytes.len() > 50_000,
        "screenshot is only {} bytes",
        bytes.len()
    );
    eprintln!("report screenshot: {}", png.display());
}
