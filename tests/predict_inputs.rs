//! `predict --input` on the inputs a SOC box has: Zeek dns.log (TSV and JSON), JSON lines,
//! CSV with a chosen column, gzip, with malformed lines reported in place and `--only-dga`.

mod common;

use std::io::Write;
use std::process::{Command, Output};

/// `dga-lite predict ARGS` with the embedded model, labelling at 0.5: these tests are about
/// reading inputs, not about the model's (strict) operating point.
fn predict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["predict", "--threshold", "0.5"])
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

const ZEEK_TSV: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n\
#fields\tts\tuid\tid.orig_h\tquery\tqtype_name\trcode_name\n\
#types\ttime\tstring\taddr\tstring\tstring\tstring\n\
1700000000.1\tC1\t10.0.0.1\tgoogle.com\tA\tNOERROR\n\
1700000000.2\tC2\t10.0.0.2\t-\t-\t-\n\
1700000000.3\tC3\t10.0.0.3\txjwqkdpqoe.net\tA\tNXDOMAIN\n\
1700000000.4\tC4\t10.0.0.4\tbad name!\tA\tNOERROR\n\
#close\t2023-11-14-22-13-20\n";

#[test]
fn zeek_tsv_log_scores_the_query_column_and_carries_fields_through() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::write(dir.path(), "dns.log", ZEEK_TSV);
    let out = stdout_of(&predict(&["--input", log.to_str().unwrap()]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "one row per record: the unset query is `empty`, the bad one reported: {out}"
    );
    assert!(
        lines[0].starts_with("google.com\t")
            && lines[0].ends_with("\t1700000000.1\tC1\t10.0.0.1\tgoogle.com\tA\tNOERROR"),
        "{out}"
    );
    assert_eq!(lines[1], "\t-\tempty\t1700000000.2\tC2\t10.0.0.2\t-\t-\t-");
    assert!(
        lines[2].starts_with("xjwqkdpqoe.net\t") && lines[2].contains("\tdga\t"),
        "{out}"
    );
    assert!(lines[3].contains("error:"), "{out}");

    let out = stdout_of(&predict(&["--input", log.to_str().unwrap(), "--only-dga"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("xjwqkdpqoe.net\t"));
}

#[test]
fn zeek_json_and_json_lines_with_nested_fields() {
    let dir = tempfile::tempdir().unwrap();
    let zeek = common::write(
        dir.path(),
        "dns.json",
        "{\"ts\":1.5,\"uid\":\"C1\",\"query\":\"google.com\",\"qtype_name\":\"A\"}\n{\"ts\":1.6,\"uid\":\"C2\",\"query\":\"xjwqkdpqoe.net\"}\nnot json at all\n",
    );
    let out = stdout_of(&predict(&["--input", zeek.to_str().unwrap(), "--json"]));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["domain"], "google.com");
    assert_eq!(
        rows[0]["input"]["uid"], "C1",
        "the input object rides along: {}",
        rows[0]
    );
    assert_eq!(rows[1]["dga"], true);
    assert_eq!(rows[2]["line"], 3);
    assert!(rows[2]["error"].as_str().unwrap().contains("not JSON"));

    let nested = common::write(
        dir.path(),
        "nested.jsonl",
        "{\"dns\":{\"rrname\":\"Example.COM.\"},\"id\":7}\n{\"dns\":{}}\n",
    );
    let out = stdout_of(&predict(&[
        "--input",
        nested.to_str().unwrap(),
        "--field",
        "dns.rrname",
        "--json",
    ]));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["domain"], "example.com");
    assert_eq!(rows[0]["input"]["id"], 7);
    assert!(
        rows[1]["error"].as_str().unwrap().contains("dns.rrname"),
        "{}",
        rows[1]
    );
}

#[test]
fn csv_with_a_chosen_column_by_name_or_number() {
    let dir = tempfile::tempdir().unwrap();
    let with_header = common::write(
        dir.path(),
        "h.csv",
        "time,client,host\n1,10.0.0.1,google.com\n2,10.0.0.2,\"xjwqkdpqoe.net\"\n",
    );
    let out = stdout_of(&predict(&[
        "--input",
        with_header.to_str().unwrap(),
        "--format",
        "csv",
        "--column",
        "host",
    ]));
    let names: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(names, ["google.com", "xjwqkdpqoe.net"]);
    let out = stdout_of(&predict(&[
        "--input",
        with_header.to_str().unwrap(),
        "--format",
        "csv",
        "--column",
        "3",
    ]));
    assert_eq!(
        out.lines().count(),
        2,
        "a header is recognised with a numbered column too: {out}"
    );

    let no_header = common::write(dir.path(), "n.csv", "1,google.com\n2,xjwqkdpqoe.net\n");
    let out = stdout_of(&predict(&[
        "--input",
        no_header.to_str().unwrap(),
        "--format",
        "csv",
        "--column",
        "2",
    ]));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines().next().unwrap().ends_with("\t1,google.com"),
        "{out}"
    );

    let missing = predict(&[
        "--input",
        with_header.to_str().unwrap(),
        "--format",
        "csv",
        "--column",
        "qname",
    ]);
    let first = String::from_utf8_lossy(&missing.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    assert!(
        first.contains("error: the CSV header has no column \"qname\""),
        "{first}"
    );
}

#[test]
fn gzip_is_detected_and_order_is_kept_across_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut names = common::benign_names(12_000, 5);
    names.extend(common::dga_names(12_000, 6));
    let path = dir.path().join("names.txt.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(names.join("\n").as_bytes()).unwrap();
    gz.finish().unwrap();
    let out = stdout_of(&predict(&["--input", path.to_str().unwrap()]));
    let got: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(got.len(), names.len());
    assert!(
        got.iter().zip(&names).all(|(a, b)| a == b),
        "output order differs from input order"
    );

    // The same names scored one by one give the same scores (batching changes nothing visible).
    let plain = common::write(dir.path(), "some.txt", &names[11_990..12_010].join("\n"));
    let out_small = stdout_of(&predict(&["--input", plain.to_str().unwrap()]));
    for (small, big) in out_small.lines().zip(out.lines().skip(11_990)) {
        let s: f32 = small.split('\t').nth(1).unwrap().parse().unwrap();
        let b: f32 = big.split('\t').nth(1).unwrap().parse().unwrap();
        assert!((s - b).abs() < 1e-5, "{small} vs {big}");
    }
}

#[test]
fn registrable_scope_and_allow_lists() {
    let dir = tempfile::tempdir().unwrap();
    // Whole-name scoring sees the random label; registrable scope judges cloudfront.net.
    let fqdn = stdout_of(&predict(&["d3ag4hukkh62yn.cloudfront.net", "--json"]));
    let registrable = stdout_of(&predict(&[
        "d3ag4hukkh62yn.cloudfront.net",
        "--json",
        "--scope",
        "registrable",
    ]));
    let fqdn: serde_json::Value = serde_json::from_str(fqdn.trim()).unwrap();
    let registrable: serde_json::Value = serde_json::from_str(registrable.trim()).unwrap();
    assert_eq!(registrable["scored"], "cloudfront.net");
    assert_eq!(registrable["domain"], "d3ag4hukkh62yn.cloudfront.net");
    assert!(
        registrable["score"].as_f64().unwrap() < fqdn["score"].as_f64().unwrap(),
        "{fqdn} vs {registrable}"
    );

    let allow = common::write(dir.path(), "allow.txt", "# CDNs\ncloudfront.net\n");
    let out = stdout_of(&predict(&[
        "--allow",
        allow.to_str().unwrap(),
        "d3ag4hukkh62yn.cloudfront.net",
        "xjwqkdpqoe.net",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "d3ag4hukkh62yn.cloudfront.net\t-\tallowed");
    assert!(lines[1].starts_with("xjwqkdpqoe.net\t0."), "{out}");
    let only = stdout_of(&predict(&[
        "--allow",
        allow.to_str().unwrap(),
        "--only-dga",
        "x.cloudfront.net",
        "xjwqkdpqoe.net",
    ]));
    assert_eq!(only.lines().count(), 1, "{only}");

    let missing = predict(&["--allow", "/no/such/list", "a.com"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read allow list"));
}

/// Every record line of every format gives exactly one row, in order, in TSV and in JSON: a
/// score, `empty` (blank lines, Zeek's `-` and `(empty)`) or an error. Only comment and header
/// lines (`#...`, a CSV header) give none.
#[test]
fn one_row_per_input_line_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    // (format, header lines, record lines)
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "plain",
            "",
            &["google.com", "", "bad name!", "xjwqkdpqoe.net", "  "],
        ),
        (
            "toplist",
            "",
            &["1,google.com", "", "2,xjwqkdpqoe.net", "x,y"],
        ),
        (
            "bambenek",
            "# feed\n",
            &[
                "xjwqkdpqoe.net,Domain used by Cryptolocker DGA for 13 Apr 2017,2017-04-13,http://x",
                "",
                "broken line",
            ],
        ),
        (
            "netlab360",
            "# feed\n",
            &["banjori\txjwqkdpqoe.net\ta\tb", "", "onefield"],
        ),
        (
            "csv",
            "domain,family\n",
            &["google.com,", "", "xjwqkdpqoe.net,x", "\"open"],
        ),
        (
            "jsonl",
            "",
            &[
                r#"{"query": "google.com"}"#,
                "",
                r#"{"query": ""}"#,
                "not json",
                r#"{"x": 1}"#,
            ],
        ),
        (
            "zeek",
            "#separator \\x09\n#fields\tts\tquery\n#types\ttime\tstring\n",
            &[
                "1.0\tgoogle.com",
                "2.0\t-",
                "3.0\t(empty)",
                "",
                "4.0\txjwqkdpqoe.net",
            ],
        ),
    ];
    for (format, header, records) in cases {
        let text = format!("{header}{}\n", records.join("\n"));
        let path = common::write(dir.path(), &format!("in.{format}"), &text);
        let path = path.to_str().unwrap();
        let tsv = stdout_of(&predict(&["--format", format, "--input", path]));
        assert_eq!(tsv.lines().count(), records.len(), "{format} TSV:\n{tsv}");
        let json = stdout_of(&predict(&["--format", format, "--input", path, "--json"]));
        let rows: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), records.len(), "{format} JSON:\n{json}");
        // Rows come in input order, one per record line (header lines are numbered too).
        let first = header.lines().count() as u64 + 1;
        for (k, row) in rows.iter().enumerate() {
            assert_eq!(row["line"], first + k as u64, "{format}: {row}");
            if records[k].trim().is_empty() {
                assert_eq!(row["empty"], true, "{format}: {row}");
            }
        }
    }
}
