//! The scoring service, tested over real TCP: a server on 127.0.0.1 port 0 and an HTTP/1.1
//! client written on raw sockets (malformed and slow requests need that).
#![cfg(feature = "server")]

use dga_lite::backend::Scorer;
use dga_lite::model::{ModelFile, embedded};
use dga_lite::serve::{ServeConfig, serve};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn test_config() -> ServeConfig {
    ServeConfig {
        max_names: 50,
        max_body_bytes: 4096,
        header_timeout: Duration::from_millis(800),
        body_timeout: Duration::from_millis(800),
        max_connections: 64,
        // The queue's behaviour is tested on the model itself; the cache has its own tests.
        cache_names: 0,
        ..ServeConfig::default()
    }
}

fn start(config: ServeConfig) -> Server {
    start_with(embedded::default_model().unwrap(), config)
}

fn start_with(model: ModelFile, config: ServeConfig) -> Server {
    let model = Arc::new(Scorer::cpu(model));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            serve(model, listener, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Server {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends raw bytes and reads the whole answer (the request asks the server to close).
fn send_raw(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Reply { status, body }
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        raw.push_str(&format!("content-type: {ct}\r\n"));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    send_raw(addr, &bytes)
}

/// A request that must fail: what it is, path, content type, body, expected status.
type ErrorCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
);

fn direct(names: &[&str]) -> Vec<f32> {
    let model: ModelFile = embedded::default_model().unwrap();
    Scorer::cpu(model).score_names(names)
}

#[test]
fn a_multiclass_model_names_the_family() {
    use dga_lite::encode::Vocab;
    use dga_lite::model::file::Net;
    use dga_lite::model::{EndgameConfig, EndgameLstm, TrainingInfo};
    let config = EndgameConfig {
        embedding_dim: 8,
        units: 8,
        outputs: 3,
        ..EndgameConfig::default()
    };
    let vocab = Vocab::from_names(["abcdefghijklmnopqrstuvwxyz0123456789.-"]);
    let mut net = EndgameLstm::new(config, vocab.size(), &mut dga_lite::rng::Rng::new(5));
    net.dense.bias[2] = 3.0; // so "beta" is the most probable family for most names
    let classes = vec!["benign".to_string(), "alpha".into(), "beta".into()];
    let model = ModelFile::new(Net::EndgameLstm(net), vocab, 0.5, TrainingInfo::default())
        .with_classes(classes)
        .unwrap();
    let names = ["google.com", "xjwqkdpqoe.net"];
    let expected = Scorer::cpu(model.clone()).score_names(&names);
    let server = start_with(model, test_config());
    let reply = request(
        server.addr,
        "POST",
        "/v1/score",
        Some("application/json"),
        br#"{"domains": ["google.com", "xjwqkdpqoe.net"]}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    let results = json["results"].as_array().unwrap();
    for (result, want) in results.iter().zip(expected) {
        assert_eq!(result["score"].as_f64().unwrap() as f32, want, "{result}");
        assert_eq!(result["family"], "beta", "{result}");
        let p = result["family_probability"].as_f64().unwrap();
        assert!(p > 0.0 && p <= 1.0, "{result}");
    }
    let info = request(server.addr, "GET", "/v1/model", None, b"").json();
    assert_eq!(info["architecture"], "endgame-lstm-multiclass");
    assert_eq!(info["classes"][2], "beta");
}

#[test]
fn snowman_form_requests_url_encoded_and_multipart() {
    let server = start(test_config());
    let expected = direct(&["xjwqkdpqoe.net"])[0];
    for (ct, body) in [
        ("application/x-www-form-urlencoded".to_string(), "url=XJWQKDPQOE.net".to_string()),
        (
            "multipart/form-data; boundary=XyZ".to_string(),
            "--XyZ\r\ncontent-disposition: form-data; name=\"url\"\r\n\r\nXJWQKDPQOE.net\r\n--XyZ--\r\n".to_string(),
        ),
    ] {
        for method in ["PUT", "POST"] {
            let reply = request(server.addr, method, "/model", Some(&ct), body.as_bytes());
            assert_eq!(reply.status, 200, "{method} {ct}: {}", reply.body);
            let v = reply.json();
            assert_eq!(v["input query"], "XJWQKDPQOE.net");
            assert_eq!(v["score"], format!("{expected:.5}"), "the score is a string with 5 decimals");
        }
    }
    let missing = request(
        server.addr,
        "POST",
        "/model",
        Some("application/x-www-form-urlencoded"),
        b"name=x.com",
    );
    assert_eq!(missing.status, 422);
    // Snowman clients send whole URLs: the host is scored, the input echoed as sent.
    for url in [
        "http://XJWQKDPQOE.net/path/x.php?q=1#top",
        "https://user:pw@xjwqkdpqoe.net:8443/",
        "xjwqkdpqoe.net/index.html",
        "//xjwqkdpqoe.net",
    ] {
        let body = serde_urlencoded::to_string([("url", url)]).unwrap();
        let reply = request(
            server.addr,
            "POST",
            "/model",
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        let v = reply.json();
        assert_eq!(v["input query"], url);
        assert_eq!(v["score"], format!("{expected:.5}"), "{url}");
    }
}

#[test]
fn hosts_are_taken_from_urls_for_the_snowman_field() {
    use dga_lite::serve::api::host_of_url;
    for (url, host) in [
        ("example.com", "example.com"),
        ("http://example.com", "example.com"),
        ("HTTP://Example.com:80/a?b#c", "Example.com"),
        ("ftp://u@example.com", "example.com"),
        ("http://[::1]:8080/x", "[::1]"),
        ("example.com?q=1", "example.com"),
        ("http://", ""),
        ("", ""),
    ] {
        assert_eq!(host_of_url(url), host, "{url}");
    }
}

/// The service judges names as `predict` does: the registrable domain by default (a prefix
/// cannot hide a random name), `local` for names that cannot be public, and, configured so,
/// whole names and every name scored.
#[test]
fn names_are_judged_by_their_scope_and_local_names_are_never_dga() {
    let evasive = "mail.google.accounts.login.secure.update.static.xjwqkdpqoe.net";
    let body = format!(
        r#"{{"domains": ["{evasive}", "brwc0cb383d1f42", "printer.local", "xjwqkdpqoe.net"]}}"#
    );
    let score = |config: ServeConfig| {
        let server = start(config);
        let reply = request(
            server.addr,
            "POST",
            "/v1/score",
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["results"].as_array().unwrap().clone()
    };
    let results = score(test_config());
    assert_eq!(results[0]["scored"], "xjwqkdpqoe.net");
    assert_eq!(results[0]["score"], results[3]["score"]);
    for (r, why) in [
        (&results[1], "single label"),
        (&results[2], "special-use name"),
    ] {
        assert_eq!(r["local"], why, "{r}");
        assert_eq!(r["dga"], false, "{r}");
        assert!(r.get("score").is_none(), "{r}");
    }
    let whole = score(ServeConfig {
        scope: dga_lite::scope::Scope::Fqdn,
        score_local: true,
        ..test_config()
    });
    assert!(whole[0].get("scored").is_none(), "{}", whole[0]);
    assert!(whole[0]["score"].as_f64().unwrap() < results[0]["score"].as_f64().unwrap());
    assert!(whole[1]["score"].is_number() && whole[2]["score"].is_number());
}

#[test]
fn json_batches_come_back_in_order_with_per_name_errors() {
    let server = start(test_config());
    let body = br#"{"domains": ["google.com", "bad name", "XJWQKDPQOE.NET.", 42, "example.org"]}"#;
    let reply = request(
        server.addr,
        "POST",
        "/v1/score",
        Some("application/json"),
        body,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v = reply.json();
    assert_eq!(v["model"], "endgame-lstm");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let expected = direct(&["google.com", "xjwqkdpqoe.net", "example.org"]);
    assert_eq!(results[0]["domain"], "google.com");
    assert!((results[0]["score"].as_f64().unwrap() - expected[0] as f64).abs() < 1e-5);
    assert!(results[1]["error"].is_string());
    assert_eq!(results[2]["domain"], "xjwqkdpqoe.net");
    // `dga` is the model's call at its own threshold.
    let threshold = embedded::default_model().unwrap().threshold as f64;
    for r in [&results[0], &results[2], &results[4]] {
        assert_eq!(r["dga"], r["score"].as_f64().unwrap() >= threshold, "{r}");
    }
    assert_eq!(results[3]["error"], "not a string");
    assert!((results[4]["score"].as_f64().unwrap() - expected[2] as f64).abs() < 1e-5);

    let one = request(
        server.addr,
        "GET",
        "/v1/score?domain=xjwqkdpqoe.net",
        None,
        b"",
    );
    assert_eq!(one.status, 200);
    let one = one.json();
    assert_eq!(one["results"][0]["domain"], "xjwqkdpqoe.net");
    assert!((one["results"][0]["score"].as_f64().unwrap() - expected[1] as f64).abs() < 1e-5);
    let health = request(server.addr, "GET", "/healthz", None, b"");
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, Value::from("ok"))
    );
    let info = request(server.addr, "GET", "/v1/model", None, b"").json();
    assert_eq!(info["architecture"], "endgame-lstm");
    assert!(info["metrics"]["auc"].as_f64().unwrap() > 0.99);
    assert!(info["training_data"][0]["sha256"].as_str().unwrap().len() == 64);
    let metrics = request(server.addr, "GET", "/metrics", None, b"");
    assert!(
        metrics
            .body
            .contains("dga_lite_requests_total{route=\"/v1/score\",status=\"200\"} 2"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("dga_lite_names_scored_total 4"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("dga_lite_request_seconds_bucket{le=\"+Inf\"}")
    );
}

#[test]
fn every_error_is_json_with_the_right_status() {
    let server = start(test_config());
    let json = Some("application/json");
    let too_many = format!("{{\"domains\": [{}]}}", vec!["\"a.com\""; 51].join(","));
    let cases: Vec<ErrorCase> = vec![
        (
            "malformed JSON",
            "/v1/score",
            json,
            b"{\"domains\": [".to_vec(),
            400,
        ),
        ("empty body", "/v1/score", json, Vec::new(), 400),
        (
            "invalid UTF-8",
            "/v1/score",
            json,
            b"{\"domains\": [\"\xff\xfe\"]}".to_vec(),
            400,
        ),
        (
            "wrong content type",
            "/v1/score",
            Some("text/plain"),
            b"{}".to_vec(),
            415,
        ),
        (
            "no content type",
            "/model",
            None,
            b"url=a.com".to_vec(),
            415,
        ),
        (
            "missing field",
            "/v1/score",
            json,
            b"{\"names\": []}".to_vec(),
            422,
        ),
        (
            "field of the wrong type",
            "/v1/score",
            json,
            b"{\"domains\": \"a.com\"}".to_vec(),
            422,
        ),
        (
            "too many names",
            "/v1/score",
            json,
            too_many.into_bytes(),
            413,
        ),
        (
            "body over the limit",
            "/v1/score",
            json,
            vec![b' '; 5000],
            413,
        ),
    ];
    for (what, path, ct, body, status) in cases {
        let reply = request(server.addr, "POST", path, ct, &body);
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert_eq!(reply.json()["status"], status, "{what}");
        assert!(reply.json()["error"].is_string(), "{what}");
    }
    let unknown = request(server.addr, "GET", "/v2/nothing", None, b"");
    assert_eq!(
        (unknown.status, unknown.json()["status"].as_u64()),
        (404, Some(404))
    );
    let wrong_method = request(server.addr, "DELETE", "/v1/score", None, b"");
    assert_eq!(
        (wrong_method.status, wrong_method.json()["status"].as_u64()),
        (405, Some(405))
    );
    let no_domain = request(server.addr, "GET", "/v1/score", None, b"");
    assert_eq!(no_domain.status, 422);

    // A body over the limit without a declared length (chunked) is cut off too.
    let mut chunked = b"POST /v1/score HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b' '; 0x400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(send_raw(server.addr, &chunked).status, 413);
    // The server is still healthy afterwards.
    assert_eq!(
        request(server.addr, "GET", "/healthz", None, b"").status,
        200
    );
}

#[test]
fn slow_clients_are_timed_out() {
    let server = start(test_config());
    // Headers that never finish: the connection is closed after the header timeout.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    slow.write_all(b"POST /v1/score HTTP/1.1\r\nhost: t\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the server held a half-sent request open"
    );

    // A body that never finishes: 408 after the body timeout.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"POST /v1/score HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"domains\"").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(
        request(server.addr, "GET", "/healthz", None, b"").status,
        200
    );
}

#[test]
fn connections_over_the_limit_get_503() {
    let server = start(ServeConfig {
        max_connections: 2,
        header_timeout: Duration::from_secs(3),
        ..test_config()
    });
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let reply = request(server.addr, "GET", "/healthz", None, b"");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["status"], 503);
}

#[test]
fn sixteen_clients_two_hundred_requests_each_match_direct_scoring() {
    // With the score cache on: names come back again and again, from the model the first
    // time and from the cache after, and every answer must be the model's.
    let server = start(ServeConfig {
        cache_names: 1000,
        ..test_config()
    });
    let names: Vec<String> = (0..64)
        .map(|i| {
            if i % 2 == 0 {
                format!("shop{i}news.com")
            } else {
                format!("q{i}xkzvbw{i}jrtp.net")
            }
        })
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let expected = Arc::new(direct(&refs));
    let names = Arc::new(names);
    let addr = server.addr;
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (names, expected) = (names.clone(), expected.clone());
            std::thread::spawn(move || {
                for r in 0..200 {
                    let picks: Vec<usize> = (0..1 + (c + r) % 3).map(|k| (c * 7 + r * 3 + k) % names.len()).collect();
                    let body = serde_json::json!({"domains": picks.iter().map(|&i| names[i].clone()).collect::<Vec<_>>()});
                    let reply = request(addr, "POST", "/v1/score", Some("application/json"), body.to_string().as_bytes());
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    let results = reply.json()["results"].as_array().unwrap().clone();
                    assert_eq!(results.len(), picks.len());
                    for (result, &i) in results.iter().zip(&picks) {
                        assert_eq!(result["domain"], names[i].as_str());
                        let got = result["score"].as_f64().unwrap();
                        assert!((got - expected[i] as f64).abs() < 1e-5, "{}: {got} vs {}", names[i], expected[i]);
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
    let metrics = request(addr, "GET", "/metrics", None, b"").body;
    assert!(
        metrics.contains("dga_lite_requests_total{route=\"/v1/score\",status=\"200\"} 3200"),
        "{metrics}"
    );
    // About 6,400 names asked, 64 distinct: nearly all answered from the cache (a name is
    // missed at most once per client racing to score it first).
    let asked: usize = (0..16)
        .flat_map(|c| (0..200).map(move |r| 1 + (c + r) % 3))
        .sum();
    let hits = metric(addr, "dga_lite_cache_hits_total");
    let misses = metric(addr, "dga_lite_cache_misses_total");
    assert_eq!(hits + misses, asked as f64, "{metrics}");
    assert!(misses <= 16.0 * 64.0, "hits {hits}, misses {misses}");
    assert!(metric(addr, "dga_lite_cache_names") <= 64.0);
}

/// A small cache under many distinct names stays within its size and keeps answering as the
/// model does; with `cache_names` 0 there is no cache at all.
#[test]
fn the_score_cache_stays_bounded_and_answers_as_the_model() {
    let server = start(ServeConfig {
        cache_names: 8,
        ..test_config()
    });
    let addr = server.addr;
    let names: Vec<String> = (0..40).map(|i| format!("w{i}qzkvhx{i}.net")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let expected = direct(&refs);
    for round in 0..3 {
        for (name, want) in names.iter().zip(&expected) {
            let reply = request(addr, "GET", &format!("/v1/score?domain={name}"), None, b"");
            assert_eq!(reply.status, 200, "{}", reply.body);
            let got = reply.json()["results"][0]["score"].as_f64().unwrap();
            assert!(
                (got - *want as f64).abs() < 1e-6,
                "round {round}, {name}: {got} vs {want}"
            );
            assert!(metric(addr, "dga_lite_cache_names") <= 8.0);
        }
    }
    // The same name twice in a row: the second comes from the cache.
    let before = metric(addr, "dga_lite_cache_hits_total");
    for _ in 0..2 {
        request(addr, "GET", "/v1/score?domain=google.com", None, b"");
    }
    assert_eq!(metric(addr, "dga_lite_cache_hits_total"), before + 1.0);
    assert!(metrics_text(addr).contains("dga_lite_limit{name=\"cache_names\"} 8"));
    drop(server);
    let server = start(test_config());
    assert!(!metrics_text(server.addr).contains("dga_lite_cache_hits_total"));
}

#[test]
fn the_binary_serves_and_exits_cleanly_on_sigterm() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    let reply = request(
        addr,
        "POST",
        "/model",
        Some("application/x-www-form-urlencoded"),
        b"url=google.com",
    );
    assert_eq!(reply.status, 200);
    // curl, where the machine has it, as a user would.
    if let Ok(out) = std::process::Command::new("curl")
        .args(["-s", &format!("http://{addr}/v1/score?domain=google.com")])
        .output()
    {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["results"][0]["domain"], "google.com");
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "serve should exit 0 after SIGTERM");
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    assert!(rest.contains("stopped"), "{rest}");
}

/// The value of one metric line (`name{labels} value`), 0 when absent.
fn metric(addr: SocketAddr, line_start: &str) -> f64 {
    let text = metrics_text(addr);
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The `/metrics` page. A server with a one-connection-per-client limit may still be closing
/// the previous connection (its slot not yet given back) when the next one arrives, and
/// answer 503; that is retried, anything else is a failure.
fn metrics_text(addr: SocketAddr) -> String {
    let started = std::time::Instant::now();
    loop {
        let reply = request(addr, "GET", "/metrics", None, b"");
        match reply.status {
            200 => return reply.body,
            503 if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            status => panic!("/metrics answered {status}: {}", reply.body),
        }
    }
}

/// Waits (up to 20 s) until at least `names` names wait for the scorer or are being scored.
fn wait_until_queued(addr: SocketAddr, names: usize) {
    let started = std::time::Instant::now();
    while metric(addr, "dga_lite_queued_names") < names as f64 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the large request never reached the scorer"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_client_that_never_reads_its_answers_is_cut_by_the_idle_timeout() {
    let server = start(ServeConfig {
        idle_timeout: Duration::from_millis(600),
        // Longer than the idle timeout, so the cut is the idle timer's (hyper's header timer
        // could otherwise end a connection stuck in the middle of pipelined requests first).
        header_timeout: Duration::from_secs(30),
        max_connections_per_client: 1,
        ..test_config()
    });
    let addr = server.addr;
    // Pipelined requests whose answers (~3 KB each, 24 MB in all) fill every socket buffer on
    // the way back, while this client never reads. The requests themselves (270 KB) stay
    // under hyper's read buffer, so it is the stalled writes that end the connection, not a
    // request head hyper finds too large.
    let stuck = TcpStream::connect(addr).unwrap();
    let mut writer = stuck.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let one = b"GET /metrics HTTP/1.1\r\nhost: t\r\n\r\n";
        for _ in 0..8_000 {
            if writer.write_all(one).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    // Its one connection slot is held: another connection from this address is refused.
    let refused = request(addr, "GET", "/healthz", None, b"");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("this address"), "{}", refused.body);
    // Within the idle timeout (plus slack) the stuck connection is cut and the slot is free.
    let started = std::time::Instant::now();
    loop {
        let reply = request(addr, "GET", "/healthz", None, b"");
        if reply.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the never-reading client still holds its connection"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stuck);
    let _ = sender.join();
    assert!(
        metric(
            addr,
            "dga_lite_connection_errors_total{kind=\"idle_timeout\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            addr,
            "dga_lite_connections_refused_total{reason=\"max_connections_per_client\"}"
        ) >= 1.0
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = start(ServeConfig {
        idle_timeout: Duration::from_millis(400),
        ..test_config()
    });
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut all = Vec::new();
    // Reads the answer, then EOF once the server closes the idle connection.
    let _ = stream.read_to_end(&mut all);
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "an idle connection stayed open {:?}",
        started.elapsed()
    );
}

#[test]
fn work_whose_client_has_gone_is_dropped_from_the_queue() {
    let server = start(ServeConfig {
        max_names: 10_000,
        max_body_bytes: 1 << 20,
        ..test_config()
    });
    let addr = server.addr;
    let names: Vec<String> = (0..10_000)
        .map(|i| format!("q{i}xkwhjvbnrtplm.biz"))
        .collect();
    let body = serde_json::json!({ "domains": names }).to_string();
    let raw = format!(
        "POST /v1/score HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Twelve clients post 10,000 names each and hang up once the server has queued some of
    // them (waiting for that, not for a fixed time: a busy CI machine reads slowly).
    let hang_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let posters: Vec<_> = (0..12)
        .map(|_| {
            let raw = raw.clone();
            let hang_up = hang_up.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let _ = s.write_all(raw.as_bytes());
                let started = std::time::Instant::now();
                while !hang_up.load(std::sync::atomic::Ordering::Relaxed)
                    && started.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = s.shutdown(std::net::Shutdown::Both);
            })
        })
        .collect();
    wait_until_queued(addr, 20_000);
    hang_up.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in posters {
        p.join().unwrap();
    }
    // A one-name request is still answered, and the abandoned names are dropped, not all
    // scored: they go before the next round a scoring thread takes (rounds under a busy
    // test run can take a while, hence a generous deadline rather than a fixed wait).
    let started = std::time::Instant::now();
    let reply = request(addr, "GET", "/v1/score?domain=google.com", None, b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    eprintln!(
        "one name answered in {:?} after the abandoned work",
        started.elapsed()
    );
    loop {
        let dropped = metric(addr, "dga_lite_abandoned_names_total");
        if dropped >= 10_000.0 {
            break;
        }
        let scored = metric(addr, "dga_lite_names_scored_total");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "abandoned names dropped: {dropped}, names scored: {scored}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server with `config` (limits raised for it) busy with one request of 50,000 names scored
/// in a single round (hundreds of milliseconds of LSTM work on any CPU), once that request is
/// queued; the thread that posted it returns its status and when it was answered.
fn busy_with_one_bulk_request(
    config: ServeConfig,
) -> (Server, std::thread::JoinHandle<(u16, std::time::Instant)>) {
    let server = start(ServeConfig {
        max_names: 50_000,
        max_body_bytes: 4 << 20,
        max_batch: 50_000,
        ..config
    });
    let addr = server.addr;
    let names: Vec<String> = (0..50_000)
        .map(|i| format!("z{i}kqwhjvbnrtplm.biz"))
        .collect();
    let body = serde_json::json!({ "domains": names }).to_string();
    let big = std::thread::spawn(move || {
        let reply = request(
            addr,
            "POST",
            "/v1/score",
            Some("application/json"),
            body.as_bytes(),
        );
        (reply.status, std::time::Instant::now())
    });
    wait_until_queued(addr, 50_000);
    (server, big)
}

#[test]
fn requests_that_wait_past_the_queue_timeout_get_503_with_retry_after() {
    // One scoring thread, held by the large request...
    let (server, big) = busy_with_one_bulk_request(ServeConfig {
        queue_timeout: Duration::from_millis(10),
        scoring_threads: 1,
        ..test_config()
    });
    let addr = server.addr;
    // ...so small requests queued behind it wait past the queue timeout.
    let small: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(b"GET /v1/score?domain=google.com HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").unwrap();
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all);
                String::from_utf8_lossy(&all).into_owned()
            })
        })
        .collect();
    let answers: Vec<String> = small.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(big.join().unwrap().0, 200);
    let expired: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 503"))
        .collect();
    assert!(!expired.is_empty(), "none expired: {answers:?}");
    for answer in expired {
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 1"),
            "{answer}"
        );
        assert!(answer.contains("queue timeout"), "{answer}");
    }
    assert!(metric(addr, "dga_lite_queue_expired_total") >= 1.0);
}

#[test]
fn a_second_scoring_thread_answers_small_requests_while_a_bulk_one_is_scored() {
    let (server, big) = busy_with_one_bulk_request(ServeConfig {
        scoring_threads: 2,
        ..test_config()
    });
    let addr = server.addr;
    // The bulk request holds one thread; the other scores this.
    let reply = request(addr, "GET", "/v1/score?domain=google.com", None, b"");
    let small_done = std::time::Instant::now();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let score = reply.json()["results"][0]["score"].as_f64().unwrap() as f32;
    assert_eq!(score, direct(&["google.com"])[0]);
    let (status, big_done) = big.join().unwrap();
    assert_eq!(status, 200);
    assert!(
        small_done < big_done,
        "the one-name request waited for the bulk one"
    );
}

#[test]
fn scoring_threads_out_of_range_are_refused() {
    let config = ServeConfig {
        scoring_threads: dga_lite::serve::MAX_SCORING_THREADS + 1,
        ..ServeConfig::default()
    };
    let error = config.check().unwrap_err().to_string();
    assert!(error.contains("scoring_threads"), "{error}");
    assert!(ServeConfig::default().check().is_ok());
}

#[test]
fn errors_below_the_router_are_counted_and_limits_are_shown() {
    let server = start(test_config());
    let addr = server.addr;
    // hyper answers a malformed request line itself (400, empty body); it is counted.
    let reply = send_raw(addr, b"NOT AN HTTP REQUEST\r\n\r\n");
    assert_eq!(reply.status, 400);
    let started = std::time::Instant::now();
    while metric(
        addr,
        "dga_lite_connection_errors_total{kind=\"malformed_request\"}",
    ) < 1.0
    {
        assert!(started.elapsed() < Duration::from_secs(5), "not counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        metric(addr, "dga_lite_limit{name=\"max_connections\"}"),
        64.0
    );
    assert_eq!(
        metric(addr, "dga_lite_limit{name=\"idle_timeout_seconds\"}"),
        30.0
    );
    assert!(metric(addr, "dga_lite_connections_open") >= 1.0);
}

#[test]
fn limits_out_of_range_are_refused_before_serving() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for config in [
        ServeConfig {
            header_timeout: Duration::from_secs(u64::MAX),
            ..test_config()
        },
        ServeConfig {
            max_connections: usize::MAX,
            ..test_config()
        },
        ServeConfig {
            idle_timeout: Duration::ZERO,
            ..test_config()
        },
    ] {
        let listener = listener.try_clone().unwrap();
        let result = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            serve(
                Arc::new(Scorer::cpu(embedded::default_model().unwrap())),
                listener,
                config,
                async {},
            )
            .await
        });
        let err = result.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    }
}

#[test]
fn a_large_request_is_scored_in_pieces_and_small_ones_pass_it() {
    let server = start(ServeConfig {
        max_names: 50_000,
        max_body_bytes: 4 << 20,
        max_batch: 1024,
        ..test_config()
    });
    let addr = server.addr;
    let names: Vec<String> = (0..50_000)
        .map(|i| format!("w{i}kqwhjvbnrtplm.biz"))
        .collect();
    let expected_first = direct(&[names[0].as_str(), names[49_999].as_str()]);
    let body = serde_json::json!({ "domains": names }).to_string();
    let big = std::thread::spawn(move || {
        let reply = request(
            addr,
            "POST",
            "/v1/score",
            Some("application/json"),
            body.as_bytes(),
        );
        (reply, std::time::Instant::now())
    });
    wait_until_queued(addr, 1);
    let reply = request(addr, "GET", "/v1/score?domain=google.com", None, b"");
    let small_done = std::time::Instant::now();
    assert_eq!(reply.status, 200);
    let (big_reply, big_done) = big.join().unwrap();
    assert_eq!(big_reply.status, 200);
    assert!(
        small_done < big_done,
        "the one-name request waited for the whole 50,000-name request"
    );
    // The pieces add up to the same scores as direct scoring, in order.
    let results = big_reply.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 50_000);
    for (k, i) in [0usize, 49_999].into_iter().enumerate() {
        let got = results[i]["score"].as_f64().unwrap();
        assert!((got - expected_first[k] as f64).abs() < 1e-6, "{got}");
    }
}
