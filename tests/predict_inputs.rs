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
    // The default scope judges the registrable domain: a long prefix cannot hide a random
    // name (under the whole-name scope it does).
    let evasive = "mail.google.accounts.login.secure.update.static.xjwqkdpqoe.net";
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(stdout_of(&predict(args)).trim()).unwrap()
    };
    let registrable = json(&[evasive, "--json"]);
    let bare = json(&["xjwqkdpqoe.net", "--json"]);
    let fqdn = json(&[evasive, "--json", "--scope", "fqdn"]);
    assert_eq!(registrable["scored"], "xjwqkdpqoe.net");
    assert_eq!(registrable["domain"], evasive);
    assert_eq!(registrable["score"], bare["score"]);
    assert!(fqdn.get("scored").is_none(), "{fqdn}");
    assert!(
        fqdn["score"].as_f64().unwrap() < 0.5 && bare["score"].as_f64().unwrap() > 0.99,
        "{fqdn} vs {bare}"
    );
    // The Public Suffix List's private section counts: a CDN or dynamic-DNS host keeps its
    // own label (it is scored whole), where the ICANN section alone would judge the provider.
    let cdn = json(&["d3ag4hukkh62yn.cloudfront.net", "--json"]);
    assert!(cdn.get("scored").is_none(), "{cdn}");
    let dyndns = json(&["www.xjwqkdpqoe.dyndns.org", "--json"]);
    assert_eq!(dyndns["scored"], "xjwqkdpqoe.dyndns.org");

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

/// Names no public resolver answers (single labels, .local, .lan, reverse lookups, IP
/// addresses) are `local`, never `dga`, in every output format, counted in the summary;
/// --score-local scores them.
#[test]
fn names_that_cannot_be_public_are_local_in_every_format() {
    let names = [
        "brwc0cb383d1f42",
        "printer.local",
        "router.lan",
        "1.0.168.192.in-addr.arpa",
        "192.168.1.10",
        "xjwqkdpqoe.net",
    ];
    let tsv = stdout_of(&predict(&names));
    let rows: Vec<&str> = tsv.lines().collect();
    assert_eq!(rows.len(), names.len(), "{tsv}");
    for (row, name) in rows.iter().zip(&names[..5]) {
        assert_eq!(*row, format!("{name}\t-\tlocal"));
    }
    assert!(rows[5].starts_with("xjwqkdpqoe.net\t0."), "{tsv}");

    let json = stdout_of(&predict(&[&["--json"][..], &names[..]].concat()));
    let values: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values[0]["local"], "single label");
    assert_eq!(values[1]["local"], "special-use name");
    assert_eq!(values[2]["local"], "not a public top-level domain");
    assert_eq!(values[3]["local"], "reverse lookup or .arpa");
    assert_eq!(values[4]["local"], "IP address");
    assert!(
        values[..5]
            .iter()
            .all(|v| v["dga"] == false && v.get("score").is_none())
    );
    assert!(values[5].get("score").is_some());

    // Counted on stderr; never among --only-dga's hits, even at threshold 0.
    let output = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["predict", "--only-dga", "--threshold", "0"])
        .args(names)
        .output()
        .unwrap();
    let only = stdout_of(&output);
    assert_eq!(only.lines().count(), 1, "{only}");
    assert!(only.starts_with("xjwqkdpqoe.net\t"), "{only}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("5 local"), "{stderr}");

    // --score-local scores them all.
    let scored = stdout_of(&predict(&[&["--score-local"][..], &names[..]].concat()));
    assert!(
        scored
            .lines()
            .all(|l| l.split('\t').nth(1).unwrap().parse::<f32>().is_ok()),
        "{scored}"
    );
}

/// eval judges names as predict does: names that cannot be public are called benign without
/// being scored, and said so; --score-local scores them.
#[test]
fn eval_calls_local_names_benign_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let benign = common::write(
        dir.path(),
        "benign.txt",
        "google.com\nwikipedia.org\nbrwc0cb383d1f42\nqxzkwvjhtd.lan\n",
    );
    let dga = common::write(dir.path(), "dga.txt", "xjwqkdpqoe.net\nkq3v9zl1mxw7.biz\n");
    let eval = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dga-lite"))
            .args(["eval", "--json", "--threshold", "0.5", "--benign"])
            .arg(&benign)
            .arg("--dga")
            .arg(&dga)
            .args(extra)
            .output()
            .unwrap()
    };
    let judged = eval(&[]);
    let report: serde_json::Value = serde_json::from_str(&stdout_of(&judged)).unwrap();
    let stderr = String::from_utf8_lossy(&judged.stderr);
    assert!(stderr.contains("2 names cannot be public"), "{stderr}");
    // The two random-looking local names are not false positives.
    assert_eq!(report["confusion"]["fp"], 0, "{report}");
    let scored = eval(&["--score-local"]);
    let stderr = String::from_utf8_lossy(&scored.stderr);
    assert!(!stderr.contains("cannot be public"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout_of(&scored)).unwrap();
    assert!(report["confusion"]["fp"].as_u64().unwrap() >= 1, "{report}");
}

/// A Zeek dns.log as a LAN sensor writes it: NetBIOS and LLMNR names, mDNS, reverse lookups,
/// Windows domain-controller lookups under a private TLD. None of them is ever called DGA, even
/// at a low threshold where the one public random name is; the prefix evasion is caught.
#[test]
fn a_lan_dns_log_gives_no_dga_verdict_for_non_public_names() {
    let dir = tempfile::tempdir().unwrap();
    let queries = [
        "brwc0cb383d1f42",
        "WORKGROUP",
        "desktop-7qk2m9x",
        "wpad",
        "isatap",
        "_ldap._tcp.dc._msdcs.corp",
        "fileserver.corp",
        "hp4f2a1c.local",
        "_googlecast._tcp.local",
        "104.1.168.192.in-addr.arpa",
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa",
        "router.lan",
        "nas.home.arpa",
        "www.google.com",
        "mail.google.accounts.login.secure.update.static.xjwqkdpqoe.net",
    ];
    let mut log = String::from(
        "#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tquery\tqtype_name\n#types\ttime\tstring\taddr\tstring\tstring\n",
    );
    for (i, q) in queries.iter().enumerate() {
        log.push_str(&format!("1700000{i:03}.0\tC{i}\t192.168.1.{i}\t{q}\tA\n"));
    }
    let path = common::write(dir.path(), "dns.log", &log);
    let out = stdout_of(&predict(&["--input", path.to_str().unwrap(), "--only-dga"]));
    let flagged: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(
        flagged,
        ["mail.google.accounts.login.secure.update.static.xjwqkdpqoe.net"],
        "{out}"
    );
    let all = stdout_of(&predict(&["--input", path.to_str().unwrap()]));
    let local = all
        .lines()
        .filter(|l| l.split('\t').nth(2) == Some("local"))
        .count();
    assert_eq!(local, 13, "{all}");
}

/// A model trained with a validation split (the default) carries the `dga` (FPR 1e-3) and
/// `suspicious` (FPR 1e-2) points; predict gives three-level verdicts by them, and a plain
/// binary one with --threshold.
#[test]
fn models_carry_operating_points_and_predict_gives_three_level_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 300);
    let model = dir.path().join("m.safetensors");
    let output = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["train", "--quiet", "--epochs", "2", "--benign"])
        .arg(&benign)
        .arg("--dga")
        .arg(&dga)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("operating points on the validation split"),
        "{stderr}"
    );
    let header = common::model_header(&model);
    let points = &header["operating_points"];
    let (d, s) = (
        points["dga"].as_f64().unwrap(),
        points["suspicious"].as_f64().unwrap(),
    );
    assert!(s <= d && d <= 1.0, "{points}");
    // The binary threshold is the dga point.
    assert_eq!(header["threshold"].as_f64().unwrap(), d);

    let mut names = common::benign_names(40, 77);
    names.extend(common::dga_names(40, 78));
    let run = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
            .args(["predict", "--json", "--model", model.to_str().unwrap()])
            .args(extra)
            .args(&names)
            .output()
            .unwrap();
        stdout_of(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    for row in run(&[]) {
        let score = row["score"].as_f64().unwrap();
        let expected = if score >= d {
            "dga"
        } else if score >= s {
            "suspicious"
        } else {
            "benign"
        };
        assert_eq!(row["verdict"], expected, "{row}");
        assert_eq!(row["dga"], expected == "dga", "{row}");
    }
    for row in run(&["--threshold", "0.5"]) {
        let score = row["score"].as_f64().unwrap();
        let expected = if score >= 0.5 { "dga" } else { "benign" };
        assert_eq!(row["verdict"], expected, "{row}");
    }
}

#[test]
fn the_name_cache_changes_nothing_in_the_output() {
    // A log that repeats names across blocks (16,384 names a block), a tiny cache that must
    // evict, the default cache and none: the same bytes every time.
    let dir = tempfile::tempdir().unwrap();
    let mut names = String::new();
    for i in 0..40_000u32 {
        let k = (i * 7919) % 97;
        names.push_str(&format!("n{k}q{}x.com\nwww.site{}.org\n", k % 5, i % 13));
    }
    let log = common::write(dir.path(), "names.txt", &names);
    let log = log.to_str().unwrap();
    let runs: [&[&str]; 3] = [&["--cache-names", "0"], &["--cache-names", "8"], &[]];
    let outputs: Vec<String> = runs
        .iter()
        .map(|flags| stdout_of(&predict(&[&["--input", log, "--json"], *flags].concat())))
        .collect();
    assert_eq!(outputs[0].lines().count(), 80_000);
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    let refused = predict(&["--cache-names", "2000000", "google.com"]);
    assert!(!refused.status.success());
}
