//! Every command the README shows, run on small data this test writes, so the README cannot
//! drift from what the binary does. The commands are read from README.md itself: a command
//! added or changed there that this test does not know fails it. Files the README names are
//! replaced by small generated ones (`FILES`); each command's documented output shape is
//! checked, and outputs the README prints in full are compared exactly.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The README's shell commands, continuation lines joined, trailing comments removed, each
/// with the answer the README prints on the next line (`# {...}`), when it prints one whole.
fn readme_commands() -> Vec<(String, Option<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut commands: Vec<(String, Option<String>)> = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    // Whether the previous line ended a command (so a `# {` line is its answer).
    let mut after_command = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let line = line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            let answer = comment.trim();
            if after_command
                && answer.starts_with('{')
                && !answer.contains("...")
                && let Some(last) = commands.last_mut()
            {
                last.1 = Some(answer.to_string());
            }
            after_command = false;
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let command = match pending.find("  #") {
            Some(at) => pending[..at].trim().to_string(),
            None => pending.trim().to_string(),
        };
        after_command = !command.is_empty();
        if after_command {
            commands.push((command, None));
        }
        pending.clear();
    }
    commands
}

/// README file names -> the role of the small file that stands in for it.
const FILES: [(&str, &str); 31] = [
    ("../shared/data/benign.csv", "benign"),
    ("../shared/data/dga.csv", "dga"),
    ("top-1m.csv", "benign"),
    ("tranco.txt", "benign"),
    ("benign.csv", "benign"),
    ("b.csv", "benign"),
    ("b.txt", "benign"),
    ("more-benign.txt", "benign"),
    ("new-benign.txt", "benign"),
    ("dga-feed.txt", "dga"),
    ("netlab-dga.txt", "dga"),
    ("dga.csv", "dga"),
    ("d.csv", "dga"),
    ("d.txt", "dga"),
    ("more-dga.txt", "dga"),
    ("new-feed.txt", "dga"),
    ("/var/log/zeek/dns.log", "zeek"),
    ("dns.log", "zeek"),
    ("cdn-allow.txt", "allow"),
    ("model.safetensors", "model.safetensors"),
    ("endgame.safetensors", "endgame.safetensors"),
    ("cnn.safetensors", "cnn.safetensors"),
    ("multi.safetensors", "multi.safetensors"),
    ("model-v2.safetensors", "model-v2.safetensors"),
    ("run.ckpt", "run.ckpt"),
    ("wrong.csv", "wrong.csv"),
    ("report.html", "report.html"),
    ("suspects.csv", "suspects.csv"),
    ("multi.html", "multi.html"),
    ("other-list.txt", "other-list"),
    ("probe.safetensors", "probe.safetensors"),
];

struct Workspace {
    dir: tempfile::TempDir,
    roles: HashMap<&'static str, PathBuf>,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let (benign, dga) = common::write_training_files(dir.path(), 150);
        // Two small families by the names the README holds out of training.
        let mut csv = std::fs::read_to_string(&dga).unwrap();
        for (i, name) in common::dga_names(40, 3).iter().enumerate() {
            let family = if i % 2 == 0 { "shifu" } else { "xxhex" };
            csv.push_str(&format!("{name},{family}\n"));
        }
        std::fs::write(&dga, csv).unwrap();
        let other_list = common::write(
            dir.path(),
            "other-list.txt",
            &common::benign_names(40, 33).join("\n"),
        );
        let zeek = common::write(
            dir.path(),
            "dns.log",
            "#separator \\x09\n#fields\tts\tquery\n#types\ttime\tstring\n\
             1.0\tgoogle.com\n2.0\t-\n3.0\txjwqkdpqoe.net\n4.0\td3ag4hukkh62yn.cloudfront.net\n",
        );
        let allow = common::write(dir.path(), "cdn-allow.txt", "cloudfront.net\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"google.com\nxjwqkdpqoe.net\n").unwrap();
        let names_gz = dir.path().join("names.gz");
        std::fs::write(&names_gz, gz.finish().unwrap()).unwrap();
        let roles = HashMap::from([
            ("benign", benign),
            ("dga", dga),
            ("zeek", zeek),
            ("allow", allow),
            ("names.gz", names_gz),
            ("other-list", other_list),
        ]);
        Workspace { dir, roles }
    }

    fn path(&self, role: &str) -> String {
        let path = match self.roles.get(role) {
            Some(path) => path.clone(),
            None => self.dir.path().join(role),
        };
        path.to_str().unwrap().to_string()
    }

    /// The README command's arguments for this workspace: files replaced, `[--opt]` taken,
    /// `...` (the inputs) filled in.
    fn args(&self, command: &str) -> Vec<String> {
        let command = command
            .strip_prefix("cargo run --release -- ")
            .or_else(|| command.strip_prefix("dga-lite "))
            .unwrap_or(command);
        let files: HashMap<&str, &str> = FILES.into_iter().collect();
        let mut args = Vec::new();
        let words: Vec<&str> = command.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            let word = word.trim_start_matches('[').trim_end_matches(']');
            match word {
                // `train ... --checkpoint`: the inputs; `--benign ...`: a file.
                "..." if i == 1 => {
                    args.extend(["--benign".into(), self.path("benign")]);
                    args.extend(["--dga".into(), self.path("dga")]);
                }
                "..." => {
                    let role = if words[i - 1] == "--dga" {
                        "dga"
                    } else {
                        "benign"
                    };
                    args.push(self.path(role));
                }
                w => match files.get(w) {
                    Some(role) => args.push(self.path(role)),
                    // Nothing may be written outside the test's folder.
                    None if w.ends_with(".html") || w.ends_with(".csv") || w.ends_with(".ckpt") => {
                        panic!("the README writes {w}: add it to FILES")
                    }
                    None => args.push(w.to_string()),
                },
            }
        }
        args
    }
}

fn run(args: &[String], stdin: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dga-lite"));
    command.args(args);
    if let Some(path) = stdin {
        command.stdin(std::fs::File::open(path).unwrap());
    }
    command.output().unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs one README command and checks what the README says of its output.
fn check(ws: &Workspace, command: &str, readme: &str) {
    if command == "cargo test --release" {
        return; // this very run
    }
    if let Some(rest) = command.strip_prefix("zcat names.gz | ") {
        let out = run(&ws.args(rest), Some(&zcat(ws)));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{command}: {stderr}");
        for line in stdout.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(
                row["domain"].is_string() && row["score"].is_number(),
                "{line}"
            );
            assert!(row["line"].is_number(), "{line}");
        }
        assert_eq!(stdout.lines().count(), 2, "{command}: {stdout}");
        return;
    }
    let args = ws.args(command);
    let sub = args[0].as_str();
    let out = run(&args, None);
    let (stdout, stderr) = text(&out);
    let wants_gpu = args.iter().any(|a| a == "cuda" || a == "cpu,cuda");
    if wants_gpu {
        // Without a GPU (or libnvrtc) the README promises a message saying what is missing.
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
            assert!(
                stderr.contains("GPU") || stderr.contains("CUDA") || stderr.contains("nvrtc"),
                "{command}: {stderr}"
            );
        }
        return;
    }
    assert!(out.status.success(), "{command}:\n{stdout}\n{stderr}");
    match sub {
        "predict" => {
            let json = args.iter().any(|a| a == "--json");
            for line in stdout.lines() {
                if json {
                    let row: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert!(row["domain"].is_string(), "{line}");
                    // A multiclass model names a family for a name not called benign.
                    if args.iter().any(|a| a.contains("multi")) && row["verdict"] != "benign" {
                        assert!(row["family"].is_string(), "adds family: {line}");
                        assert!(row["family_probability"].is_number(), "{line}");
                    }
                } else {
                    let fields: Vec<&str> = line.split('\t').collect();
                    assert!(fields.len() >= 3, "{command}: {line}");
                    assert!(
                        ["dga", "suspicious", "benign", "allowed", "local", "empty"]
                            .contains(&fields[2])
                            || fields[2].starts_with("error"),
                        "{command}: {line}"
                    );
                }
            }
            if args.iter().any(|a| a == "--only-dga") {
                assert!(stdout.lines().all(|l| l.split('\t').nth(2) == Some("dga")));
            }
            if command == "cargo run --release -- predict google.com xjwqkdpqoe.net" {
                // The README prints this output in full.
                let shown = readme_block_after(readme, "The first prints");
                assert_eq!(stdout.trim_end(), shown.trim_end(), "README's first output");
            }
        }
        "train" => {
            assert!(stdout.contains("held-out test split") || stdout.contains("no test split"));
            let out_at = args.iter().position(|a| a == "--out").unwrap() + 1;
            assert!(
                Path::new(&args[out_at]).exists(),
                "{command}: no model written"
            );
        }
        "eval" => {
            assert!(
                stdout.contains("ROC AUC") || stdout.contains("\"auc\""),
                "{stdout}"
            );
            if let Some(at) = args.iter().position(|a| a == "--report") {
                let html = std::fs::read_to_string(&args[at + 1]).unwrap();
                assert!(html.contains("<svg") && html.contains("ROC curve"));
            }
            if let Some(at) = args.iter().position(|a| a == "--misclassified") {
                let csv = std::fs::read_to_string(&args[at + 1]).unwrap();
                assert!(csv.lines().next().unwrap().contains("name"), "{csv}");
            }
        }
        "bench" => {
            assert!(stdout.contains("training names/s") && stdout.contains("ratio"));
        }
        "audit" => {
            assert!(stdout.contains("suspects:"), "{stdout}");
            let out_at = args.iter().position(|a| a == "--out").unwrap() + 1;
            let csv = std::fs::read_to_string(&args[out_at]).unwrap();
            assert!(csv.starts_with("rank,name,label"), "{csv}");
        }
        _ => panic!("the README shows `{command}`, which this test does not know how to check"),
    }
}

/// `zcat names.gz` for the pipe example: the decompressed names in a file.
fn zcat(ws: &Workspace) -> PathBuf {
    let bytes = std::fs::read(ws.path("names.gz")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    let path = ws.dir.path().join("names.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// The first fenced block after the paragraph that starts with `marker`.
fn readme_block_after(readme: &str, marker: &str) -> String {
    let from = readme.find(marker).expect("marker in README");
    let rest = &readme[from..];
    let start = rest.find("```\n").expect("a block") + 4;
    let end = rest[start..].find("```").expect("its end");
    rest[start..start + end].to_string()
}

#[test]
fn every_command_in_the_readme_runs_as_documented() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ws = Workspace::new();
    let mut service = Vec::new();
    let mut ran = 0;
    for (command, answer) in readme_commands() {
        if command.starts_with("curl ") || command.starts_with("dga-lite serve") {
            service.push((command, answer));
            continue;
        }
        // The bench's defaults take minutes with the PyTorch peer: the same command, fewer names.
        let command = if command.starts_with("dga-lite bench") {
            format!("{command} --train-names 256 --score-names 512 --repeat 1 --data /nonexistent")
        } else {
            command
        };
        eprintln!("README: {command}");
        check(&ws, &command, &readme);
        ran += 1;
    }
    assert!(ran >= 20, "only {ran} README commands found");
    if cfg!(feature = "server") {
        check_service(&service);
    }
}

/// Starts `serve` as the README shows it (on a free port) and runs each curl line against it,
/// comparing the answers the README prints in full.
fn check_service(commands: &[(String, Option<String>)]) {
    assert!(
        commands
            .iter()
            .any(|(c, _)| c.starts_with("dga-lite serve"))
    );
    let child = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped when this function ends, by the last line or by a failed assertion (a server
    // left running would keep the test's output open).
    let mut server = Stopped(child);
    let mut stderr = std::io::BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let address = line.trim().rsplit("http://").next().unwrap().to_string();
    let has_curl = Command::new("curl").arg("--version").output().is_ok();
    let mut compared = 0;
    for (command, answer) in commands.iter().filter(|(c, _)| c.starts_with("curl ")) {
        if !has_curl {
            eprintln!("curl is not installed: `{command}` not run");
            continue;
        }
        let command = command.replace("127.0.0.1:8080", &address);
        let out = Command::new("sh")
            .args(["-c", &format!("{command} -s")])
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{command}");
        if command.contains("/metrics") {
            assert!(body.contains("dga_lite_requests_total"), "{body}");
        } else {
            let v: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{command}: not JSON ({e}): {body}"));
            assert!(v.is_object(), "{body}");
        }
        // Where the README prints the answer in full (the line after the command), it is exact.
        if let Some(shown) = answer {
            assert_eq!(body.trim(), shown, "README's answer to `{command}`");
            compared += 1;
        }
    }
    drop(server);
    if has_curl {
        assert!(compared >= 5, "only {compared} README answers compared");
    }
}

/// A child process stopped (SIGTERM, then waited for) when dropped, panics included.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
