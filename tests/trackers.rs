//! Trackers against real parts: Debian's opentracker (HTTP and UDP on one
//! port) with a real libtorrent leecher, and a hostile tracker (HTTP and
//! UDP servers in this file) against a real `ringseed seed` process.
//!
//! - A libtorrent leecher that knows only a `udp://` tracker URL: it
//!   announces first, then ringseed starts, learns it from opentracker over
//!   BEP 15 and dials it (source = tracker, outgoing); the download is
//!   byte-identical; pause, resume and shutdown reach opentracker as
//!   `stopped`/`started` (its scrape counts move).
//! - A dead first tier and a live second tier (BEP 12): ringseed and
//!   libtorrent both fall through to the second; the dead one shows its
//!   error and failure count; BEP 48 scrape of opentracker counts the
//!   completed download.
//! - A hostile tracker: junk, a huge body with and without
//!   `Content-Length`, a bencode bomb, interval 0 and negative, a redirect
//!   loop, a slow reply, a failure reason, 5,000 peers, UDP replies with
//!   another transaction id, the wrong action or an error, and a tracker
//!   that hangs on `stopped` at shutdown. Each is refused with a reason,
//!   counted in `/metrics`, backed off, and the good torrent keeps
//!   announcing; SIGTERM still ends the daemon within 2 s of waiting.
//!
//! Missing opentracker or python3-libtorrent: skipped outside CI, failures
//! under `CI=true`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::call;
use common::metrics::value as metric;
use common::opentracker::{self, Opentracker};
use common::wait::wait_for;
use common::*;
use ringseed::metainfo::Metainfo;
use serde_json::{json, Value};

/// Awkward multi-file content: a 0-byte file, a 1-byte file, unaligned
/// sizes, a short last piece (32 KiB pieces).
const AWKWARD: &[(&str, usize)] = &[
    ("empty.dat", 0),
    ("a/one.bin", 1),
    ("a/odd name.bin", 3_000_001),
    ("b/tiny.bin", 4_097),
    ("z.bin", 1_234_567),
];
const PIECE: u32 = 32 * 1024;

/// Writes the content under `dir/data/<name>` and makes its torrent.
fn awkward_torrent(dir: &Path, name: &str, tiers: &[Vec<String>]) -> (PathBuf, Metainfo) {
    let root = dir.join("data").join(name);
    write_tree(&root, AWKWARD);
    let bytes = ringseed::create::create_torrent(&root, Some(PIECE), tiers).unwrap();
    let t = dir.join(format!("{name}.torrent"));
    std::fs::write(&t, &bytes).unwrap();
    (t, Metainfo::from_bytes(&bytes).unwrap())
}

fn trackers_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("ringseed.toml");
    std::fs::write(&p, format!("[trackers]\n{extra}")).unwrap();
    p
}

/// `/metrics` as text ("" when it does not answer).
fn metrics_text(addr: SocketAddr) -> String {
    common::metrics::try_scrape(addr, Duration::from_secs(10)).unwrap_or_default()
}

fn trackers_of(seeder: &Seeder, ih: &str) -> Vec<Value> {
    call(seeder, "torrents.trackers.list", json!({ "info_hash": ih }))["trackers"]
        .as_array()
        .unwrap()
        .clone()
}

/// `torrents.trackers.list` once `pred` holds for it (the tracker manager
/// publishes its state once a second, so a reply may be a second old);
/// panics with the last list after 10 s.
fn wait_trackers(seeder: &Seeder, ih: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let tr = common::wait::poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let tr = trackers_of(seeder, ih);
        if pred(&tr) {
            Ok(tr)
        } else {
            Err(format!("{tr:?}"))
        }
    });
    tr.unwrap_or_else(|tr| {
        panic!(
            "torrents.trackers.list never matched in 10 s: {tr}\nseeder:\n{}",
            tail(&seeder.log_text(), 60)
        )
    })
}

/// The v1 slot of a `torrents.trackers.list` entry.
fn v1_slot(t: &Value) -> &Value {
    &t["endpoints"][0]["info_hashes"][0]
}

fn lt_download(py: &Path, torrent: &Path, save: &Path, out: &Path) -> std::process::Child {
    Command::new(py)
        .arg(lt_client())
        .arg("download")
        .arg(torrent)
        .arg(save)
        .arg("-")
        .args(["--timeout", "150"])
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::fs::File::create(out.with_extension("err")).unwrap())
        .spawn()
        .unwrap()
}

fn wait_child(child: &mut std::process::Child, timeout: Duration, logs: impl Fn() -> String) {
    let exited = common::wait::poll(timeout, Duration::from_millis(100), || {
        child.try_wait().unwrap().ok_or_else(String::new)
    });
    match exited {
        Ok(st) => assert!(st.success(), "libtorrent leecher failed ({st})\n{}", logs()),
        Err(_) => {
            let _ = child.kill();
            panic!("libtorrent leecher not done in {timeout:?}\n{}", logs());
        }
    }
}

#[test]
fn udp_tracker_only_libtorrent_leecher_is_dialled_by_the_seeder_and_stopped_reaches_the_tracker() {
    const T: &str = "udp tracker";
    let Some(py) = libtorrent_python() else {
        return;
    };
    if required(opentracker::available(), T).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let url = format!("udp://{addr}/announce");
    let (torrent, meta) = awkward_torrent(dir.path(), "udp-only", &[vec![url.clone()]]);
    let ih = meta.info_hash.to_hex();
    let ot = Opentracker::start(addr, std::slice::from_ref(&ih));

    // The leecher announces first: the seeder then learns it from the tracker.
    let save = dir.path().join("leech");
    std::fs::create_dir_all(&save).unwrap();
    let out = dir.path().join("lt.out");
    let mut lt = lt_download(&py, &torrent, &save, &out);
    wait_for("the leecher's announce", Duration::from_secs(30), || {
        ot.scrape(&meta.info_hash.0).filter(|c| c.1 >= 1)
    });

    let cfg = trackers_config(dir.path(), "scrape_interval_secs = 2\n");
    let data = dir.path().join("data");
    let mut seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
        torrent.to_str().unwrap(),
    ]);
    let maddr = seeder.metrics_addr();
    let logs = || {
        format!(
            "leecher:\n{}\n{}\nopentracker:\n{}\nseeder:\n{}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(out.with_extension("err")).unwrap_or_default(),
            ot.log_text(),
            tail(&seeder.log_text(), 80)
        )
    };
    let started = Instant::now();
    // The seeder dials the leecher: outgoing (flag 32), source tracker (1).
    // The seeder dials the leecher: outgoing (flag 32), source tracker (1),
    // seen connected in `torrents.peers.list` or, once closed (a 4 MB
    // download can end within the second between two views), in
    // `ringseed.disconnects` with source "tracker".
    let deadline = Instant::now() + Duration::from_secs(60);
    let peer = wait_for(
        "a tracker peer the seeder dialled",
        Duration::from_secs(61),
        || {
            if Instant::now() > deadline {
                panic!(
                    "no tracker peer dialled; trackers: {:?}\n{}",
                    trackers_of(&seeder, &ih),
                    logs()
                );
            }
            let peers = call(&seeder, "torrents.peers.list", json!({ "info_hash": ih }))["peers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let live = peers
                .into_iter()
                .find(|p| p["source"] == 1 && p["flags"].as_u64().unwrap_or(0) & 32 != 0);
            live.or_else(|| {
                call(&seeder, "ringseed.disconnects", json!({}))
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|d| {
                        d["source"] == "tracker"
                            && d["info_hash"] == ih.as_str()
                            && d["reason"] != "connect_failed"
                    })
                    .cloned()
            })
        },
    );
    eprintln!(
        "tracker peer dialled {:.1} s after start: {peer}",
        started.elapsed().as_secs_f64()
    );
    wait_child(&mut lt, Duration::from_secs(150), logs);
    let secs = started.elapsed().as_secs_f64();
    assert_trees_equal(&data.join("udp-only"), &save.join("udp-only"));
    eprintln!(
        "MATRIX client=libtorrent-udp-only version={} torrent=awkward result=ok seconds={secs:.1} MBps={:.2}",
        lt_version(&py),
        meta.lengths.total_length() as f64 / secs / 1e6
    );

    let tr = wait_trackers(&seeder, &ih, |tr| {
        tr.len() == 1
            && tr[0]["verified"] == true
            && v1_slot(&tr[0])["scrape_complete"].as_i64() >= Some(1)
    });
    assert_eq!(tr.len(), 1, "{tr:?}");
    assert_eq!(tr[0]["url"], url.as_str());
    assert_eq!(tr[0]["verified"], true, "{tr:?}");
    let v1 = &tr[0]["endpoints"][0]["info_hashes"][0];
    assert_eq!(v1["start_sent"], true, "{tr:?}");
    assert_eq!(v1["fails"], 0, "{tr:?}");
    assert!(v1["scrape_complete"].as_i64().unwrap() >= 1, "{tr:?}");
    let row = &common::http::torrents(&seeder)[&ih];
    assert_eq!(row["current_tracker"], url.as_str(), "{row}");
    assert!(row["num_complete"].as_i64().unwrap() >= 1, "{row}");
    // /metrics is rendered once a second too.
    let last_announce = format!("ringseed_tracker_last_announce_seconds{{info_hash=\"{ih}\"}}");
    let m = wait_for(
        "tracker series in /metrics",
        Duration::from_secs(10),
        || {
            let m = metrics_text(maddr);
            m.contains(&last_announce).then_some(m)
        },
    );
    assert!(
        metric(&m, "ringseed_tracker_announces_total{result=\"ok\"}") >= 1.0,
        "{m}"
    );

    // Pause: `stopped` reaches the tracker (one seeder fewer); resume:
    // `started` again; SIGTERM: `stopped` again, within the 2 s bound.
    let seeders = || ot.scrape(&meta.info_hash.0).map(|c| c.0);
    let before = wait_for("the seeder counted", Duration::from_secs(10), || {
        seeders().filter(|c| *c >= 1)
    });
    call(&seeder, "torrents.pause", json!({ "info_hash": ih }));
    let t = Instant::now();
    wait_for("stopped on pause", Duration::from_secs(10), || {
        seeders().filter(|c| *c == before - 1)
    });
    eprintln!(
        "pause → tracker saw stopped in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    call(&seeder, "torrents.resume", json!({ "info_hash": ih }));
    wait_for("started on resume", Duration::from_secs(10), || {
        seeders().filter(|c| *c == before)
    });
    let t = Instant::now();
    let st = seeder.stop();
    let took = t.elapsed();
    assert!(st.success(), "{st}");
    assert_eq!(
        seeders(),
        Some(before - 1),
        "stopped at shutdown reached the tracker"
    );
    eprintln!("SIGTERM → exit in {:.2} s", took.as_secs_f64());
}

fn lt_version(py: &Path) -> String {
    let o = Command::new(py)
        .args(["-c", "import libtorrent; print(libtorrent.__version__)"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn dead_first_tier_falls_through_to_the_live_second_and_scrape_counts_the_download() {
    const T: &str = "dead first tier";
    let Some(py) = libtorrent_python() else {
        return;
    };
    if required(opentracker::available(), T).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let dead = format!("http://127.0.0.1:{}/announce", free_port());
    let live = format!("http://{addr}/announce");
    let (torrent, meta) = awkward_torrent(
        dir.path(),
        "two-tiers",
        &[vec![dead.clone()], vec![live.clone()]],
    );
    assert_eq!(meta.announce_list.len(), 2);
    let ih = meta.info_hash.to_hex();
    let ot = Opentracker::start(addr, std::slice::from_ref(&ih));
    let cfg = trackers_config(dir.path(), "scrape_interval_secs = 2\n");
    let data = dir.path().join("data");
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        torrent.to_str().unwrap(),
    ]);
    wait_for("the seeder's announce", Duration::from_secs(30), || {
        ot.scrape(&meta.info_hash.0).filter(|c| c.0 >= 1)
    });
    let save = dir.path().join("leech");
    std::fs::create_dir_all(&save).unwrap();
    let out = dir.path().join("lt.out");
    let started = Instant::now();
    let mut lt = lt_download(&py, &torrent, &save, &out);
    wait_child(&mut lt, Duration::from_secs(150), || {
        format!(
            "leecher:\n{}\n{}\nseeder:\n{}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(out.with_extension("err")).unwrap_or_default(),
            tail(&seeder.log_text(), 60)
        )
    });
    let secs = started.elapsed().as_secs_f64();
    assert_trees_equal(&data.join("two-tiers"), &save.join("two-tiers"));
    eprintln!(
        "MATRIX client=libtorrent-dead-first-tier version={} torrent=awkward result=ok seconds={secs:.1} MBps={:.2}",
        lt_version(&py),
        meta.lengths.total_length() as f64 / secs / 1e6
    );
    let tr = wait_trackers(&seeder, &ih, |tr| {
        tr.len() == 2 && tr[1]["verified"] == true && v1_slot(&tr[0])["fails"].as_u64() >= Some(1)
    });
    assert_eq!(tr.len(), 2, "{tr:?}");
    let (t0, t1) = (&tr[0], &tr[1]);
    assert_eq!(
        (t0["url"].as_str(), t0["tier"].as_u64()),
        (Some(dead.as_str()), Some(0))
    );
    assert_eq!(
        (t1["url"].as_str(), t1["tier"].as_u64()),
        (Some(live.as_str()), Some(1))
    );
    let e0 = &t0["endpoints"][0]["info_hashes"][0];
    let e1 = &t1["endpoints"][0]["info_hashes"][0];
    assert!(e0["fails"].as_u64().unwrap() >= 1, "{tr:?}");
    assert!(
        e0["last_error"].as_str().unwrap().contains("network"),
        "{tr:?}"
    );
    assert_eq!(t0["verified"], false);
    assert_eq!(
        (t1["verified"].clone(), e1["start_sent"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(e1["fails"], 0);
    // BEP 48 scrape of opentracker: the completed download is counted.
    let row = wait_for("scrape downloaded ≥ 1", Duration::from_secs(20), || {
        let r = common::http::torrents(&seeder)[&ih].clone();
        (r["num_downloaded"].as_i64().unwrap_or(-1) >= 1).then_some(r)
    });
    assert_eq!(row["current_tracker"], live.as_str(), "{row}");
}

// ------------------------------------------------------- hostile tracker

/// What the hostile HTTP tracker saw: (path, query, when).
type Seen = Arc<Mutex<Vec<(String, String, Instant)>>>;

struct Hostile {
    addr: SocketAddr,
    udp: SocketAddr,
    seen: Seen,
    udp_seen: Arc<Mutex<Vec<u32>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn compact_peer(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut v = ip.to_vec();
    v.extend(port.to_be_bytes());
    v
}

/// The reply to `path` (`/<behaviour>/announce` or `/<behaviour>/scrape`).
fn hostile_reply(path: &str, query: &str, s: &mut std::net::TcpStream) {
    let behaviour = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let scrape = path.ends_with("/scrape");
    let ok = |s: &mut std::net::TcpStream, body: &[u8]| {
        let _ = s.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        let _ = s.write_all(body);
    };
    let good = b"d8:completei5e10:downloadedi9e10:incompletei3e8:intervali1e5:peers0:e";
    match behaviour {
        "good" if scrape => {
            let ih = query_info_hash(query).unwrap_or([0; 20]);
            let mut b = b"d5:filesd20:".to_vec();
            b.extend(ih);
            b.extend(b"d8:completei5e10:downloadedi11e10:incompletei3eeee");
            ok(s, &b)
        }
        "good" => ok(s, good),
        "junk" => ok(s, b"<html><body>502 Bad Gateway</body></html>"),
        "huge" => {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\nConnection: close\r\n\r\n",
            );
            let _ = s.write_all(&vec![b'x'; 1 << 20]);
        }
        "hugestream" => {
            // No Content-Length: the body runs until the connection closes.
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            let chunk = vec![b'd'; 64 * 1024];
            for _ in 0..64 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        "bomb" => {
            // 30,000 nested lists, well formed: a recursive decoder
            // without a depth limit would run out of stack.
            let mut b = b"d8:intervali5e5:peers".to_vec();
            b.extend(std::iter::repeat_n(b'l', 30_000));
            b.extend(std::iter::repeat_n(b'e', 30_000));
            b.push(b'e');
            ok(s, &b)
        }
        "zero" => ok(s, b"d8:intervali0e5:peers0:e"),
        "negative" => ok(s, b"d8:intervali-5e12:min intervali-9e5:peers0:e"),
        "redirect" => {
            let _ = s.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: /redirect/announce\r\nContent-Length: 0\r\n\r\n",
            );
        }
        "slow" => std::thread::sleep(Duration::from_secs(30)),
        "failure" => ok(s, b"d14:failure reason17:torrent is bannede"),
        "many" => {
            // 5,000 peers on 127.0.1.x that refuse connections.
            let mut peers = Vec::new();
            for i in 0..5000u32 {
                peers.extend(compact_peer(
                    [127, 0, 1, (i % 250) as u8 + 1],
                    1000 + i as u16,
                ));
            }
            let mut b = format!("d8:intervali1e5:peers{}:", peers.len()).into_bytes();
            b.extend(peers);
            b.push(b'e');
            ok(s, &b)
        }
        "stopslow" if query.contains("event=stopped") => {
            std::thread::sleep(Duration::from_secs(30))
        }
        "stopslow" => ok(s, good),
        _ => {
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
}

fn query_info_hash(query: &str) -> Option<[u8; 20]> {
    let v = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("info_hash="))?;
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(v).collect();
    bytes.try_into().ok()
}

fn start_hostile() -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Default::default();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (seen, stop) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let target = line.split(' ').nth(1).unwrap_or("").to_string();
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    seen.lock().unwrap().push((
                        path.to_string(),
                        query.to_string(),
                        Instant::now(),
                    ));
                    hostile_reply(path, query, &mut s);
                });
            }
        });
    }
    // UDP: connect answered; announces answered by the info hash's first
    // byte: 0xA1 another transaction id then the right reply, 0xA2 the
    // wrong action, 0xA3 an error.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let udp = sock.local_addr().unwrap();
    let udp_seen: Arc<Mutex<Vec<u32>>> = Default::default();
    {
        let (stop, udp_seen) = (stop.clone(), udp_seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 16 {
                    continue;
                }
                let action = u32::from_be_bytes(buf[8..12].try_into().unwrap());
                let tid: [u8; 4] = buf[12..16].try_into().unwrap();
                udp_seen.lock().unwrap().push(action);
                let mut r = Vec::new();
                match action {
                    0 => {
                        r.extend(0u32.to_be_bytes());
                        r.extend(tid);
                        r.extend(77u64.to_be_bytes());
                    }
                    1 if n >= 98 => {
                        let mut announce = 1u32.to_be_bytes().to_vec();
                        announce.extend(tid);
                        announce.extend([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4]);
                        match buf[16] {
                            0xA1 => {
                                let mut wrong = announce.clone();
                                wrong[4] ^= 0xff;
                                let _ = sock.send_to(&wrong, from);
                                r = announce;
                            }
                            0xA2 => {
                                r.extend(2u32.to_be_bytes());
                                r.extend(tid);
                                r.extend([0; 12]);
                            }
                            _ => {
                                r.extend(3u32.to_be_bytes());
                                r.extend(tid);
                                r.extend(b"go away");
                            }
                        }
                    }
                    _ => continue,
                }
                let _ = sock.send_to(&r, from);
            }
        });
    }
    Hostile {
        addr,
        udp,
        seen,
        udp_seen,
        stop,
    }
}

/// A torrent of a small file whose info hash starts with `first` (the
/// name is varied until it does), announcing to `url`.
fn torrent_with_prefix(
    dir: &Path,
    label: &str,
    url: &str,
    first: Option<u8>,
) -> (PathBuf, Metainfo) {
    for i in 0..100_000 {
        let name = format!("{label}-{i}.bin");
        let data = dir.join("data").join(&name);
        if !data.exists() {
            std::fs::create_dir_all(data.parent().unwrap()).unwrap();
            std::fs::write(&data, bytes(20_000, label.len() as u64)).unwrap();
        }
        let b =
            ringseed::create::create_torrent(&data, Some(16384), &[vec![url.to_string()]]).unwrap();
        let m = Metainfo::from_bytes(&b).unwrap();
        if first.is_none_or(|f| m.info_hash.0[0] == f) {
            let t = dir.join(format!("{label}.torrent"));
            std::fs::write(&t, &b).unwrap();
            return (t, m);
        }
        std::fs::remove_file(&data).unwrap();
    }
    panic!("no info hash starting with {first:?}");
}

#[test]
fn hostile_trackers_are_refused_counted_and_backed_off_while_the_good_one_keeps_announcing() {
    let dir = tempfile::tempdir().unwrap();
    let h = start_hostile();
    let http = [
        "good",
        "junk",
        "huge",
        "hugestream",
        "bomb",
        "zero",
        "negative",
        "redirect",
        "slow",
        "failure",
        "many",
        "stopslow",
    ];
    let mut torrents: BTreeMap<String, Metainfo> = BTreeMap::new();
    let mut paths = Vec::new();
    for b in http {
        let (t, m) = torrent_with_prefix(
            dir.path(),
            b,
            &format!("http://{}/{b}/announce", h.addr),
            None,
        );
        torrents.insert(b.to_string(), m);
        paths.push(t);
    }
    for (b, first) in [
        ("udpwrongtid", 0xA1),
        ("udpwrongaction", 0xA2),
        ("udperror", 0xA3),
    ] {
        let (t, m) = torrent_with_prefix(dir.path(), b, &format!("udp://{}", h.udp), Some(first));
        torrents.insert(b.to_string(), m);
        paths.push(t);
    }
    let cfg = trackers_config(
        dir.path(),
        "min_interval_secs = 2\nmax_interval_secs = 2\nretry_base_secs = 1\nretry_max_secs = 2\n\
         http_timeout_secs = 2\nmax_response_bytes = 65536\nmax_redirects = 3\n\
         udp_timeout_secs = 1\nudp_retries = 1\nscrape_interval_secs = 2\n\
         announces_per_second = 100\nmax_half_open = 4\nmax_peers_per_torrent = 6\n",
    );
    let data = dir.path().join("data");
    let mut args: Vec<String> = vec![
        "--data".into(),
        data.display().to_string(),
        "--config".into(),
        cfg.display().to_string(),
        "--metrics".into(),
        "127.0.0.1:0".into(),
    ];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut seeder = Seeder::start(&argv);
    let maddr = seeder.metrics_addr();
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    assert!(
        seeder.child.try_wait().unwrap().is_none(),
        "the daemon died:\n{}",
        seeder.log_text()
    );

    let count = |b: &str| {
        h.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == &format!("/{b}/announce"))
            .count()
    };
    let counts: BTreeMap<&str, usize> = http.iter().map(|b| (*b, count(b))).collect();
    eprintln!("announces seen in {window:?}: {counts:?}");
    // The good tracker answers `interval 1`, clamped to 2 s: about 5 in 10 s.
    assert!((3..=7).contains(&counts["good"]), "{counts:?}");
    // Interval 0 and negative are clamped to 2 s, never hammered.
    for b in ["zero", "negative"] {
        assert!((2..=7).contains(&counts[b]), "{b}: {counts:?}");
    }
    // Failures back off (1-2 s with jitter, plus the 2 s timeout for slow).
    for b in ["junk", "huge", "hugestream", "bomb", "failure"] {
        assert!((2..=12).contains(&counts[b]), "{b}: {counts:?}");
    }
    assert!((1..=5).contains(&counts["slow"]), "{counts:?}");
    // A redirect loop: at most 1 + 3 requests a round.
    assert!(
        counts["redirect"] >= 4 && counts["redirect"] <= 4 * 12,
        "{counts:?}"
    );

    let expect: &[(&str, &str)] = &[
        ("junk", "invalid reply: not bencode"),
        ("huge", "reply larger than 65536 bytes"),
        ("hugestream", "reply larger than 65536 bytes"),
        ("bomb", "invalid reply: not bencode"),
        ("redirect", "more than 3 redirects"),
        ("slow", "no reply within 2 s"),
        ("failure", "tracker says: torrent is banned"),
        ("udpwrongaction", "UDP reply with action 2, expected 1"),
        ("udperror", "tracker says: go away"),
    ];
    for (b, why) in expect {
        let ih = torrents[*b].info_hash.to_hex();
        let tr = trackers_of(&seeder, &ih);
        let e = &tr[0]["endpoints"][0]["info_hashes"][0];
        assert!(e["fails"].as_u64().unwrap() >= 1, "{b}: {tr:?}");
        assert!(
            e["last_error"].as_str().unwrap().contains(why),
            "{b}: want {why:?} in {tr:?}"
        );
        assert_eq!(tr[0]["verified"], false, "{b}");
    }
    let failure = trackers_of(&seeder, &torrents["failure"].info_hash.to_hex());
    assert_eq!(
        failure[0]["endpoints"][0]["info_hashes"][0]["message"],
        "torrent is banned"
    );
    for b in ["good", "zero", "negative", "many", "udpwrongtid"] {
        let ih = torrents[b].info_hash.to_hex();
        let tr = trackers_of(&seeder, &ih);
        let e = &tr[0]["endpoints"][0]["info_hashes"][0];
        assert_eq!(
            (tr[0]["verified"].clone(), e["fails"].clone()),
            (json!(true), json!(0)),
            "{b}: {tr:?}"
        );
    }
    // Swarm counts of the good tracker: its scrape says downloaded 11.
    let good = torrents["good"].info_hash.to_hex();
    let row = wait_for("good scrape", Duration::from_secs(10), || {
        let r = common::http::torrents(&seeder)[&good].clone();
        (r["num_downloaded"] == 11).then_some(r)
    });
    assert_eq!(
        (row["num_complete"].clone(), row["num_incomplete"].clone()),
        (json!(5), json!(3))
    );
    assert!(h
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|(p, _, _)| p == "/good/scrape"));

    // 5,000 peers: 500 kept, dialled at most 4 at a time (max_half_open),
    // at most 6 for the torrent; each refused address is not dialled again.
    let many = torrents["many"].info_hash.to_hex();
    let failed: Vec<Value> = call(&seeder, "ringseed.disconnects", json!({}))
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["reason"] == "connect_failed" && d["info_hash"] == many.as_str())
        .cloned()
        .collect();
    let distinct: std::collections::BTreeSet<&str> =
        failed.iter().filter_map(|d| d["peer"].as_str()).collect();
    eprintln!(
        "many: {} dials failed ({} distinct) over {} announces",
        failed.len(),
        distinct.len(),
        counts["many"]
    );
    assert!(!failed.is_empty());
    assert_eq!(distinct.len(), failed.len(), "an address was dialled twice");
    assert!(
        failed.len() <= 4 * counts["many"],
        "half-open cap: {} > 4 × {}",
        failed.len(),
        counts["many"]
    );

    // UDP: the reply with another transaction id was discarded and the
    // right one used; the server saw connects reused within 60 s.
    let m = metrics_text(maddr);
    assert!(
        metric(
            &m,
            "ringseed_tracker_udp_discarded_total{reason=\"transaction_id\"}"
        ) >= 1.0,
        "{m}"
    );
    for r in [
        "ok",
        "invalid_reply",
        "too_large",
        "redirects",
        "timeout",
        "failure_reason",
    ] {
        assert!(
            metric(
                &m,
                &format!("ringseed_tracker_announces_total{{result=\"{r}\"}}")
            ) >= 1.0,
            "{r}: {m}"
        );
    }
    let udp = h.udp_seen.lock().unwrap().clone();
    let connects = udp.iter().filter(|a| **a == 0).count();
    let announces = udp.iter().filter(|a| **a == 1).count();
    eprintln!("udp: {connects} connects, {announces} announces");
    assert!(announces > connects, "connection ids are reused: {udp:?}");
    assert!(
        m.contains(&format!(
            "ringseed_torrent_swarm_seeders{{info_hash=\"{good}\"}} 5"
        )),
        "{m}"
    );

    // Pause sends `stopped`, resume `started` again.
    let stopped = |b: &str, ev: &str| {
        h.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, q, _)| {
                p == &format!("/{b}/announce") && q.contains(&format!("event={ev}"))
            })
            .count()
    };
    assert_eq!(stopped("good", "started"), 1);
    call(&seeder, "torrents.pause", json!({ "info_hash": good }));
    wait_for("stopped on pause", Duration::from_secs(5), || {
        (stopped("good", "stopped") == 1).then_some(())
    });
    call(&seeder, "torrents.resume", json!({ "info_hash": good }));
    wait_for("started on resume", Duration::from_secs(5), || {
        (stopped("good", "started") == 2).then_some(())
    });
    // The queries carry what BEP 3 asks.
    let q = h
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|(p, q, _)| p == "/good/announce" && q.contains("event=started"))
        .unwrap()
        .1
        .clone();
    for k in [
        "info_hash=",
        "peer_id=-RG",
        "port=",
        "uploaded=0",
        "downloaded=0",
        "left=0",
        "compact=1",
        "numwant=50",
        "key=",
    ] {
        assert!(q.contains(k), "{k} missing in {q}");
    }

    // SIGTERM: the stopslow tracker never answers `stopped`; shutdown waits 2 s at most.
    let t = Instant::now();
    let st = seeder.stop();
    let took = t.elapsed();
    eprintln!(
        "SIGTERM → exit in {:.2} s with a tracker hanging on stopped",
        took.as_secs_f64()
    );
    assert!(st.success(), "{st}");
    assert!(took < Duration::from_millis(3500), "{took:?}");
    assert!(stopped("stopslow", "stopped") >= 1);
    assert!(stopped("good", "stopped") >= 2, "stopped at shutdown");
}
