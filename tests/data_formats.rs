//! Reading real feed formats from small files the tests write, and surviving hostile input.

mod common;

use dga_lite::data::{Class, DataError, Format, read_samples, read_samples_from};
use proptest::prelude::*;
use std::io::{BufReader, Cursor, Read};

fn read(text: &str, class: Class) -> (Vec<dga_lite::data::Sample>, dga_lite::data::ReadReport) {
    read_samples(Cursor::new(text.as_bytes().to_vec()), "test", class, None).expect("readable")
}

#[test]
fn top_lists_alexa_umbrella_tranco() {
    let (samples, report) = read(
        "1,google.com\n2,Facebook.COM.\n3,youtube.com\r\n",
        Class::Benign,
    );
    assert_eq!(report.format, Some(Format::TopList));
    let names: Vec<_> = samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["google.com", "facebook.com", "youtube.com"]);
    assert!(
        samples
            .iter()
            .all(|s| s.class == Class::Benign && s.family.is_none())
    );
}

#[test]
fn plain_lists_with_bad_lines_reported_by_number() {
    let text = "example.com\n\nbad name.com\nxn--bcher-kva.de\nb\u{fc}cher.de\na..b\nok.org\n";
    let (samples, report) = read(text, Class::Benign);
    assert_eq!(report.format, Some(Format::Plain));
    assert_eq!(samples.len(), 3);
    assert_eq!(report.skipped, 3);
    let lines: Vec<u64> = report.examples.iter().map(|b| b.line).collect();
    assert_eq!(lines, [3, 5, 6]);
    assert!(
        report.examples[1].reason.contains("punycode"),
        "{:?}",
        report.examples[1]
    );
    let shown = report.to_string();
    assert!(
        shown.contains("line 3") && shown.contains("3 skipped"),
        "{shown}"
    );
}

#[test]
fn bambenek_feed_with_comment_header() {
    let text = "#############################################\n\
        ## Master Feed of known, active and non-sinkholed DGA domains\n\
        #############################################\n\
        kqwqlqswxdmsn.com,Domain used by Cryptolocker - Flashback DGA for 13 Apr 2017,2017-04-13,http://osint.bambenekconsulting.com/manual/cl.txt\n\
        1gu5ny1cbhyel1c1n4rtfml3nd.com,Domain used by Post Tovar GOZ DGA for 13 Apr 2017,2017-04-13,http://osint.bambenekconsulting.com/manual/pt.txt\n";
    let (samples, report) = read(text, Class::Dga);
    assert_eq!(report.format, Some(Format::Bambenek));
    assert_eq!(samples.len(), 2);
    assert_eq!(
        samples[0].family.as_deref(),
        Some("cryptolocker - flashback")
    );
    assert_eq!(samples[1].family.as_deref(), Some("post tovar goz"));
}

#[test]
fn netlab_360_feed() {
    let text = "# DGA Domain List\n# family\\tdomain\\tstart\\tend\n\
        banjori\tearnestnessbiophysicalohax.com\t2019-08-09 00:00:00\t2019-08-09 23:59:59\n\
        suppobox\tmoneyprobably.net\t2019-08-09 00:00:00\t2019-08-09 23:59:59\n";
    let (samples, report) = read(text, Class::Dga);
    assert_eq!(report.format, Some(Format::Netlab360));
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].name, "earnestnessbiophysicalohax.com");
    assert_eq!(samples[1].family.as_deref(), Some("suppobox"));
}

#[test]
fn labelled_csv_with_family_and_label_columns() {
    let text = "domain,family,source\nabc.com,Necurs,x\n\"quoted.net\",conficker,y\nshort\n";
    let (samples, report) = read(text, Class::Dga);
    assert_eq!(report.format, Some(Format::LabelledCsv));
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0].family.as_deref(), Some("necurs"));
    assert_eq!(samples[1].name, "quoted.net");
    assert_eq!(samples[2].family, None);

    // A label that contradicts the class the file was given as is skipped, never relabelled.
    let text = "domain,label\ngood.com,legit\nevil.net,dga\n";
    let (samples, report) = read(text, Class::Benign);
    assert_eq!(samples.len(), 1);
    assert_eq!(report.skipped, 1);
    assert!(
        report.examples[0].reason.contains("Dga"),
        "{:?}",
        report.examples[0]
    );
}

#[test]
fn format_can_be_forced_and_unknown_formats_say_so() {
    let text = "this is, not a feed\nneither is this\n";
    match read_samples(Cursor::new(text), "odd.txt", Class::Benign, None) {
        Err(DataError::UnknownFormat { path, .. }) => assert_eq!(path, "odd.txt"),
        other => panic!("{other:?}"),
    }
    let (samples, report) = read_samples(
        Cursor::new("a.com\n"),
        "x",
        Class::Benign,
        Some(Format::Plain),
    )
    .unwrap();
    assert_eq!((samples.len(), report.format), (1, Some(Format::Plain)));
    assert!(matches!(
        read_samples(Cursor::new(""), "empty", Class::Benign, None),
        Err(DataError::Empty { .. })
    ));
    assert!(matches!(
        read_samples_from("/no/such/file", Class::Benign, None),
        Err(DataError::Io { .. })
    ));
}

/// A reader that produces a line of `len` bytes without ever holding it.
struct HugeLine {
    left: u64,
}

impl Read for HugeLine {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.left) as usize;
        buf[..n].fill(b'a');
        self.left -= n as u64;
        if self.left == 0 {
            buf[n - 1] = b'\n';
        }
        Ok(n)
    }
}

#[test]
fn a_one_gigabyte_line_is_skipped_in_bounded_memory() {
    let huge = HugeLine { left: 1 << 30 };
    let tail = Cursor::new(b"after.com\n".to_vec());
    let reader = BufReader::new(huge.chain(tail));
    let (samples, report) =
        read_samples(reader, "huge", Class::Benign, Some(Format::Plain)).unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].name, "after.com");
    assert_eq!(report.skipped, 1);
    assert!(
        report.examples[0].reason.contains("bytes long"),
        "{:?}",
        report.examples[0]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// No input, however malformed, panics; every accepted name is a valid host name.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), forced in 0usize..6) {
        let format = Format::ALL.get(forced).copied();
        for class in [Class::Benign, Class::Dga] {
            if let Ok((samples, report)) = read_samples(Cursor::new(bytes.clone()), "fuzz", class, format) {
                prop_assert_eq!(report.accepted as usize, samples.len());
                for s in &samples {
                    prop_assert!(dga_lite::data::normalize_name(&s.name).as_deref() == Ok(s.name.as_str()));
                }
            }
        }
    }

    /// Lines made of feed-like pieces (commas, tabs, quotes, '#', dots, non-ASCII) never panic.
    #[test]
    fn feed_like_lines_never_panic(lines in proptest::collection::vec("[a-z0-9.,\t\"# _\u{e9}\u{ff}-]{0,40}", 0..30)) {
        let text = lines.join("\n");
        for format in Format::ALL {
            let result = read_samples(Cursor::new(text.clone()), "fuzz", Class::Dga, Some(format));
            prop_assert!(result.is_ok());
        }
    }
}

#[test]
fn shared_raw_feeds_are_detected() {
    let raw = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/raw");
    if !raw.is_dir() {
        eprintln!("SKIPPED: ../shared/data/raw is absent (a fresh clone has no shared data)");
        return;
    }
    for (file, class, format) in [
        ("top-1000.csv", Class::Benign, Format::TopList),
        ("dga-feed.txt", Class::Dga, Format::Bambenek),
        ("dga-cryptolocke-1000.txt", Class::Dga, Format::Bambenek),
        ("dga.txt", Class::Dga, Format::Netlab360),
    ] {
        let path = raw.join(file);
        let (samples, report) = read_samples_from(path.to_str().unwrap(), class, None).unwrap();
        assert_eq!(report.format, Some(format), "{file}");
        assert!(!samples.is_empty(), "{file}: {report}");
        eprintln!("{report}");
    }
}
