//! Hostile and careless input from files and flags: every case ends in a clear error (or a
//! clean success) within a time bound, never a hang, a panic (exit 101) or a broken file.

mod common;

use common::{dga_lite, ok, write, write_training_files};
use dga_lite::model::{ModelError, ModelFile, embedded};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with a deadline; a run past it is killed and fails the test.
fn run_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("`dga-lite {}` ran past {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Failed with exit 1 or 2 (a clear error), not 101 (a panic), saying `needle`.
fn fails_saying(out: &Output, needle: &str) {
    let code = out.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "exit {code:?}: {}",
        stderr(out)
    );
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
    assert!(
        stderr(out).contains(needle),
        "expected {needle:?} in: {}",
        stderr(out)
    );
}

/// The embedded model's header JSON with `edit` applied, in a file holding no tensors.
fn header_only_model(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let bytes = embedded::default_model().unwrap().to_bytes();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["dga_lite"]).unwrap();
    edit(&mut header);
    let metadata = std::collections::HashMap::from([("dga_lite".to_string(), header.to_string())]);
    let none: Vec<(&str, safetensors::tensor::TensorView)> = Vec::new();
    safetensors::serialize(none, Some(metadata)).unwrap()
}

#[test]
fn a_small_header_asking_for_a_huge_network_is_refused_at_once() {
    for units in [1024u64, 4096, 1 << 40] {
        let bytes = header_only_model(|h| h["config"]["units"] = units.into());
        assert!(bytes.len() < 64 << 10, "the file stays small");
        let started = Instant::now();
        let err = ModelFile::from_bytes(&bytes, "huge.safetensors").unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{units} units took {:?}",
            started.elapsed()
        );
        assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    }
    // Through the CLI too, bounded in time.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.safetensors");
    std::fs::write(
        &path,
        header_only_model(|h| h["config"]["units"] = 1024.into()),
    )
    .unwrap();
    let out = run_within(
        &["model", "info", "--model", path.to_str().unwrap()],
        Duration::from_secs(10),
    );
    fails_saying(&out, "is damaged");
}

#[test]
fn files_that_are_not_regular_files_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let fifo = fifo.to_str().unwrap();
    let (benign, dga) = write_training_files(dir.path(), 20);
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["model", "info", "--model", "/dev/zero"],
        vec!["predict", "--model", "/dev/zero", "a.com"],
        vec!["predict", "--allow", "/dev/zero", "a.com"],
        vec!["model", "info", "--model", "/"],
    ];
    if made.is_ok_and(|s| s.success()) {
        cases.push(vec!["model", "info", "--model", fifo]);
        cases.push(vec!["predict", "--allow", fifo, "a.com"]);
        cases.push(vec![
            "train",
            "--benign",
            benign.to_str().unwrap(),
            "--dga",
            dga.to_str().unwrap(),
            "--resume",
            fifo,
            "--quiet",
            "--out",
            "never.safetensors",
        ]);
    } else {
        eprintln!("mkfifo is not available: the FIFO cases did not run");
    }
    for args in cases {
        let out = run_within(&args, Duration::from_secs(20));
        fails_saying(&out, "not a regular file");
    }
    // Names are streamed, so a FIFO or pipe is fine there; a device is not.
    let device_inputs: [&[&str]; 2] = [
        &["predict", "--input", "/dev/zero"],
        &[
            "train",
            "--benign",
            "/dev/urandom",
            "--dga",
            dga.to_str().unwrap(),
            "--quiet",
            "--out",
            "never.safetensors",
        ],
    ];
    for args in device_inputs {
        let out = run_within(args, Duration::from_secs(20));
        fails_saying(&out, "a device");
    }
}

/// The arguments of a quick training run: one epoch of the CNN, no progress bar.
fn one_cnn_epoch<'a>(benign: &'a Path, dga: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "train",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--model-type",
        "snowman-cnn",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
}

/// A checkpoint of a tiny run, and the arguments that resume it.
fn tiny_checkpoint(dir: &Path) -> (std::path::PathBuf, Vec<String>) {
    let (benign, dga) = write_training_files(dir, 40);
    let checkpoint = dir.join("run.ckpt");
    let out = dir.join("m.safetensors");
    let mut args: Vec<String> = one_cnn_epoch(&benign, &dga, &out)
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--checkpoint".into(), checkpoint.to_str().unwrap().into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&dga_lite(&refs));
    let mut resume = args.clone();
    let at = resume.iter().position(|a| a == "--checkpoint").unwrap();
    resume[at] = "--resume".into();
    let epochs = resume.iter().position(|a| a == "--epochs").unwrap() + 1;
    resume[epochs] = "2".into();
    (checkpoint, resume)
}

/// Rewrites one tensor of a safetensors file (same dtype and size).
fn edit_tensor(path: &Path, name: &str, edit: impl Fn(&mut Vec<u8>)) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let target = tensors.iter_mut().find(|t| t.0 == name).unwrap();
    edit(&mut target.3);
    let views = tensors.iter().map(|(n, d, s, data)| {
        (
            n.clone(),
            safetensors::tensor::TensorView::new(*d, s.clone(), data).unwrap(),
        )
    });
    let out = safetensors::serialize(views, meta.metadata().clone()).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_checkpoint_with_a_bad_order_entry_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoint, resume) = tiny_checkpoint(dir.path());
    let refs: Vec<&str> = resume.iter().map(String::as_str).collect();
    let pristine = std::fs::read(&checkpoint).unwrap();
    // An index far past the end, then a repeated index (still in range).
    edit_tensor(&checkpoint, "order", |d| {
        d[4..8].copy_from_slice(&u32::MAX.to_le_bytes())
    });
    fails_saying(&run_within(&refs, Duration::from_secs(60)), "is damaged");
    std::fs::write(&checkpoint, &pristine).unwrap();
    edit_tensor(&checkpoint, "order", |d| {
        let first: [u8; 4] = d[0..4].try_into().unwrap();
        d[4..8].copy_from_slice(&first);
    });
    fails_saying(
        &run_within(&refs, Duration::from_secs(60)),
        "not a permutation",
    );
    // The pristine checkpoint still resumes.
    std::fs::write(&checkpoint, &pristine).unwrap();
    ok(&run_within(&refs, Duration::from_secs(60)));
}

#[test]
fn a_full_or_closed_standard_output_ends_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = write_training_files(dir.path(), 30);
    let out_model = dir.path().join("m.safetensors");
    let commands: Vec<Vec<&str>> = vec![
        vec!["model", "info"],
        vec!["model", "info", "--json"],
        vec!["predict", "google.com"],
        vec![
            "eval",
            "--benign",
            benign.to_str().unwrap(),
            "--dga",
            dga.to_str().unwrap(),
        ],
        one_cnn_epoch(&benign, &dga, &out_model),
    ];
    for args in &commands {
        // A full disk: a clear error, exit 1.
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        if let Ok(full) = full {
            let out = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
                .args(args)
                .stdout(full)
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            fails_saying(&out, "cannot write to standard output");
        }
        // A reader that has gone: no panic, and no error message either.
        let mut child = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_ne!(out.status.code(), Some(101), "{}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn numeric_flags_out_of_range_name_the_flag_and_the_range() {
    let cases: [(&[&str], &str); 9] = [
        (
            &["serve", "--client-timeout", "18446744073709551615"],
            "--client-timeout",
        ),
        (&["serve", "--idle-timeout", "0"], "--idle-timeout"),
        (
            &["serve", "--max-connections", "99999999999"],
            "--max-connections",
        ),
        (&["serve", "--max-body", "0"], "--max-body"),
        (
            &["serve", "--queue-timeout-ms", "999999999999"],
            "--queue-timeout-ms",
        ),
        (&["predict", "--threads", "100000", "a.com"], "--threads"),
        (&["predict", "--threshold", "1.5", "a.com"], "--threshold"),
        (
            &[
                "train", "--benign", "b", "--dga", "d", "--out", "o", "--epochs", "0",
            ],
            "--epochs",
        ),
        (
            &[
                "train",
                "--benign",
                "b",
                "--dga",
                "d",
                "--out",
                "o",
                "--test-split",
                "1",
            ],
            "--test-split",
        ),
    ];
    for (args, flag) in cases {
        if args[0] == "serve" && !cfg!(feature = "server") {
            continue;
        }
        let out = run_within(args, Duration::from_secs(10));
        fails_saying(&out, flag);
        let text = stderr(&out);
        assert!(
            text.contains(" to ") || text.contains('['),
            "no allowed range in: {text}"
        );
    }
}

#[test]
fn nothing_to_train_on_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = write_training_files(dir.path(), 3);
    let out_model = dir.path().join("m.safetensors");
    let base = [
        "train",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--quiet",
        "--out",
        out_model.to_str().unwrap(),
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        run_within(&args, Duration::from_secs(30))
    };
    fails_saying(&with(&["--max-per-class", "0"]), "--max-per-class");
    // Three names per class: the test and validation splits take all of them.
    fails_saying(
        &with(&["--test-split", "0.5", "--val-split", "0.45"]),
        "holds no benign names",
    );
    assert!(!out_model.exists(), "no model is written");
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_name() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "plain.txt", "\u{feff}google.com\nexample.org\n");
    let out = ok(&dga_lite(&["predict", "--input", plain.to_str().unwrap()]));
    assert!(
        out.lines().next().unwrap().starts_with("google.com\t"),
        "{out}"
    );
    let csv = write(
        dir.path(),
        "names.csv",
        "\u{feff}domain,family\nqxkwhjvbnrtplm.biz,x\n",
    );
    let out = ok(&dga_lite(&["predict", "--input", csv.to_str().unwrap()]));
    assert!(out.starts_with("qxkwhjvbnrtplm.biz\t"), "{out}");
}

#[test]
fn a_zeek_log_without_the_name_column_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "dns.log",
        "#separator \\x09\n#fields\tts\tuid\tanswers\n#types\ttime\tstring\tstring\n1.0\tC1\t-\n",
    );
    let out = run_within(
        &[
            "predict",
            "--format",
            "zeek",
            "--input",
            log.to_str().unwrap(),
        ],
        Duration::from_secs(10),
    );
    fails_saying(&out, "no `query` column");
}

#[test]
fn an_unknown_format_hint_lists_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let odd = write(dir.path(), "odd.txt", "x,y\nz,w\n");
    let out = dga_lite(&["predict", "--input", odd.to_str().unwrap()]);
    fails_saying(&out, "jsonl, zeek");
}

#[test]
fn saving_does_not_follow_a_planted_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let victim = write(dir.path(), "victim.txt", "precious");
    let target = dir.path().join("model.safetensors");
    // The name the old scheme used (`.NAME.tmp-PID`), planted as a link to another file.
    let planted = dir
        .path()
        .join(format!(".model.safetensors.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, planted).unwrap();
    let model = embedded::default_model().unwrap();
    model.save(&target).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(ModelFile::load(&target).unwrap(), model);
    assert!(
        std::fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_file(),
        "the model is a regular file, not the planted link"
    );
}
