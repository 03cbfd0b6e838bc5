//! End-to-end tests of the leecher swarm against the in-crate test seeder,
//! over real sockets on 127.0.0.1: download-once (BEP 3 + BEP 6 `have_all`,
//! BEP 10 `reqq`), lying and hanging-up seeders, unreachable targets, a wrong
//! info hash, the load modes, several torrents in one run (Zipf popularity),
//! and the binary's exit codes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringseed_loadtest::testseed::{spawn_test_seeder, spawn_test_seeder_multi, SeederMode};
use ringseed_loadtest::{run_swarm, run_swarm_multi, Pattern, Popularity, Report, SwarmConfig};
use ringseed_proto::metainfo::{build_torrent, Metainfo};
use sha1::{Digest, Sha1};

/// Deterministic payload of `len` bytes (xorshift64).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A torrent of `data` (single file), returned as bytes and parsed.
fn torrent(name: &str, data: &[u8], piece_length: u32) -> (Vec<u8>, Metainfo) {
    let hashes: Vec<[u8; 20]> = data
        .chunks(piece_length as usize)
        .map(|c| Sha1::digest(c).into())
        .collect();
    let bytes = build_torrent(
        name,
        &[(vec![], data.len() as u64)],
        piece_length,
        &hashes,
        None,
        "loadtest tests",
    );
    let meta = Metainfo::from_bytes(&bytes).expect("valid torrent");
    (bytes, meta)
}

/// 1 MiB + 12345 bytes in 64 KiB pieces: the last piece and its last block are short.
fn sample() -> (Vec<u8>, Arc<Metainfo>, Arc<Vec<u8>>) {
    let data = payload((1 << 20) + 12_345, 42);
    let (bytes, meta) = torrent("sample.bin", &data, 64 * 1024);
    (bytes, Arc::new(meta), Arc::new(data))
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringseed-loadtest-{}-{name}", std::process::id()))
}

async fn run(meta: &Arc<Metainfo>, cfg: SwarmConfig) -> Report {
    run_swarm(meta.clone(), cfg, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_seeder_download_once_completes() {
    let (_, meta, data) = sample();
    let addr = spawn_test_seeder(meta.clone(), data.clone(), SeederMode::Honest)
        .await
        .unwrap();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 4;
    let progress_calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = progress_calls.clone();
    let r = run_swarm(meta.clone(), cfg, move |_| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .await;
    let n = meta.lengths.num_pieces() as u64;
    assert!(r.complete, "{r:#?}");
    assert_eq!(r.stop_reason, "complete");
    assert_eq!(r.pieces_verified, n);
    assert_eq!(r.pieces_failed, 0);
    assert_eq!(r.bytes, data.len() as u64);
    assert_eq!(r.errors, 0, "{:?}", r.error_examples);
    assert!(
        (1..=4).contains(&r.peers_connected),
        "{}",
        r.peers_connected
    );
    assert!(r.peers_unchoked >= 1);
    assert!(r.latency_samples > 0 && r.latency_ms.p50 > 0.0);
    assert_eq!(r.timeline.iter().sum::<u64>(), r.bytes);
    assert!(r.success());
    assert!(progress_calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "throughput_bytes_per_sec",
        "latency_ms",
        "time_to_unchoke_ms",
        "timeline",
        "cpu_seconds",
        "error_kinds",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    // Per-torrent totals only in runs of several torrents.
    assert!(json.get("torrents").is_none());
    assert!(r.torrents.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_verify_download_once_completes_with_one_peer_and_shallow_queue() {
    let (_, meta, data) = sample();
    let addr = spawn_test_seeder(meta.clone(), data.clone(), SeederMode::Honest)
        .await
        .unwrap();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 1;
    cfg.queue_depth = 1;
    cfg.verify = false;
    let r = run(&meta, cfg).await;
    assert!(r.complete, "{r:#?}");
    assert_eq!(r.pieces_verified, 0);
    assert_eq!(r.pieces_completed, meta.lengths.num_pieces() as u64);
    assert_eq!(r.bytes, data.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_seeder_fails_every_piece_three_times() {
    let (_, meta, data) = sample();
    let addr = spawn_test_seeder(meta.clone(), data, SeederMode::Lying)
        .await
        .unwrap();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 3;
    let started = Instant::now();
    let r = run(&meta, cfg).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(r.pieces_verified, 0);
    assert!(r.pieces_failed > 0);
    assert_eq!(
        r.pieces_failed,
        3 * meta.lengths.num_pieces() as u64,
        "one try and two retries per piece"
    );
    assert!(!r.complete);
    assert_eq!(r.stop_reason, "all pieces done");
    assert!(!r.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeder_closing_after_handshake_ends_the_run_quickly() {
    let (_, meta, data) = sample();
    let addr = spawn_test_seeder(meta.clone(), data, SeederMode::CloseAfterHandshake)
        .await
        .unwrap();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 4;
    let started = Instant::now();
    let r = run(&meta, cfg).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(r.errors >= 4, "{r:#?}");
    assert!(!r.complete);
    assert_eq!(r.stop_reason, "no peers left");
    assert_eq!(r.bytes, 0);
    assert!(!r.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_ends_with_connect_errors() {
    let (_, meta, _) = sample();
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = SwarmConfig::new(format!("127.0.0.1:{port}").parse().unwrap());
    cfg.peers = 5;
    cfg.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let r = run(&meta, cfg).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.errors, 5, "{r:#?}");
    assert_eq!(
        r.error_kinds.get("connect refused"),
        Some(&5),
        "{:?}",
        r.error_kinds
    );
    assert!(r.error_examples["connect refused"].contains(&port.to_string()));
    assert!(!r.complete);
    assert_eq!(r.peers_connected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_info_hash_is_reported() {
    let (_, meta, _) = sample();
    let other_data = payload(300_000, 7);
    let (_, other) = torrent("other.bin", &other_data, 32 * 1024);
    let addr = spawn_test_seeder(Arc::new(other), Arc::new(other_data), SeederMode::Honest)
        .await
        .unwrap();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 2;
    let started = Instant::now();
    let r = run(&meta, cfg).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        r.error_kinds.get("wrong info hash"),
        Some(&2),
        "{:?}",
        r.error_kinds
    );
    assert!(r.error_examples["wrong info hash"].contains(&meta.info_hash.to_hex()));
    assert!(!r.complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_mode_with_random_pattern_stops_in_time() {
    let (_, meta, data) = sample();
    let addr = spawn_test_seeder(meta.clone(), data, SeederMode::Honest)
        .await
        .unwrap();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 4;
    cfg.queue_depth = 16;
    cfg.pattern = Pattern::Random;
    cfg.duration = Some(Duration::from_secs(2));
    cfg.connect_rate = Some(20);
    let started = Instant::now();
    let r = run(&meta, cfg).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(r.stop_reason, "duration");
    assert!(
        r.bytes > data_len(&meta),
        "repeat downloads expected, got {} bytes",
        r.bytes
    );
    assert!(r.pieces_verified > 0);
    assert_eq!(r.pieces_failed, 0);
    assert_eq!(r.errors, 0, "{:?}", r.error_examples);
    assert!(!r.download_once && !r.complete);
    assert!(r.success());
    assert!(r.timeline.len() >= 2);
}

fn data_len(meta: &Metainfo) -> u64 {
    meta.lengths.total_length()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_budget_with_zipf_pattern_stops_after_the_budget() {
    let (_, meta, data) = sample();
    let addr = spawn_test_seeder(meta.clone(), data, SeederMode::Honest)
        .await
        .unwrap();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 2;
    cfg.pattern = Pattern::Zipf;
    cfg.bytes = Some(5 << 20);
    let started = Instant::now();
    let r = run(&meta, cfg).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(r.stop_reason, "bytes");
    assert!(r.bytes >= 5 << 20);
    assert_eq!(r.pieces_failed, 0);
    assert!(r.success());
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringseed-loadtest"))
}

/// Runs the binary on `torrent` and `target`; it must exit 2 saying `reason`.
fn assert_bad_input(torrent: &std::path::Path, target: &str, reason: &str) {
    let out = bin()
        .args(["--torrent", torrent.to_str().unwrap(), "--target", target])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(reason),
        "{out:?}"
    );
}

#[test]
fn binary_exits_2_for_a_garbage_torrent_or_target() {
    let garbage = temp_path("garbage.torrent");
    std::fs::write(&garbage, b"this is not a torrent").unwrap();
    assert_bad_input(&garbage, "127.0.0.1:1", "invalid torrent");
    assert_bad_input(
        &temp_path("missing.torrent"),
        "127.0.0.1:1",
        "cannot read torrent",
    );
    let (bytes, _, _) = sample();
    let good = temp_path("good.torrent");
    std::fs::write(&good, bytes).unwrap();
    assert_bad_input(&good, "not an address", "bad target");
    for p in [garbage, good] {
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_exit_codes_follow_the_outcome() {
    let (bytes, meta, data) = sample();
    let t = temp_path("exit.torrent");
    std::fs::write(&t, bytes).unwrap();
    let json = temp_path("report.json");
    let honest = spawn_test_seeder(meta.clone(), data.clone(), SeederMode::Honest)
        .await
        .unwrap();
    let lying = spawn_test_seeder(meta.clone(), data, SeederMode::Lying)
        .await
        .unwrap();
    let run_bin =
        |args: Vec<String>| tokio::task::spawn_blocking(move || bin().args(args).output().unwrap());

    let out = run_bin(vec![
        "--torrent".into(),
        t.to_str().unwrap().into(),
        "--target".into(),
        honest.to_string(),
        "--peers".into(),
        "3".into(),
        "--json".into(),
        json.to_str().unwrap().into(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(complete)"),
        "{out:?}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["complete"], true);
    assert_eq!(report["bytes"], meta.lengths.total_length());

    let out = run_bin(vec![
        "--torrent".into(),
        t.to_str().unwrap().into(),
        "--target".into(),
        lying.to_string(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("INCOMPLETE"),
        "{out:?}"
    );
    for p in [t, json] {
        let _ = std::fs::remove_file(p);
    }
}

/// A seeder that chokes every peer after every `every` blocks and unchokes it
/// again after 20 ms of silence. Non-Fast: the requests in flight are silently
/// dropped (BEP 3). Fast: they are rejected (BEP 6), piece 0 is allowed-fast
/// and is served even while choked.
async fn spawn_choking_seeder(
    meta: Arc<Metainfo>,
    data: Arc<Vec<u8>>,
    fast: bool,
    every: u32,
) -> std::net::SocketAddr {
    use ringseed_proto::wire::{parse_frame, Handshake, Message};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (meta, data) = (meta.clone(), data.clone());
            tokio::spawn(async move {
                let mut hs = Handshake::new(meta.info_hash, [9; 20]);
                hs.reserved = [0; 8];
                if fast {
                    hs.reserved[7] |= 0x04;
                }
                let mut buf = vec![0u8; 68];
                s.write_all(&hs.encode()).await?;
                s.read_exact(&mut buf).await?;
                let mut out = Vec::new();
                if fast {
                    Message::HaveAll.encode(&mut out);
                    Message::AllowedFast(0).encode(&mut out);
                } else {
                    let n = meta.lengths.num_pieces() as usize;
                    let mut bits = vec![0u8; n.div_ceil(8)];
                    for i in 0..n {
                        bits[i / 8] |= 0x80 >> (i % 8);
                    }
                    Message::Bitfield(&bits).encode(&mut out);
                    // A `have` for a piece already announced is harmless.
                    Message::Have(1).encode(&mut out);
                }
                s.write_all(&out).await?;
                let mut choked = true;
                let mut served = 0u32;
                buf.clear();
                let mut chunk = vec![0u8; 4096];
                loop {
                    let n = if choked {
                        match tokio::time::timeout(Duration::from_millis(20), s.read(&mut chunk))
                            .await
                        {
                            Ok(r) => r?,
                            Err(_) => {
                                choked = false;
                                out.clear();
                                Message::Unchoke.encode(&mut out);
                                s.write_all(&out).await?;
                                continue;
                            }
                        }
                    } else {
                        s.read(&mut chunk).await?
                    };
                    if n == 0 {
                        return Ok::<(), std::io::Error>(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    out.clear();
                    let mut used = 0;
                    while let Ok(Some((k, msg))) = parse_frame(&buf[used..], 1 << 16) {
                        used += k;
                        match msg {
                            Message::Interested => {
                                choked = false;
                                Message::Unchoke.encode(&mut out);
                            }
                            Message::Request {
                                index,
                                begin,
                                length,
                            } => {
                                if choked && !(fast && index == 0) {
                                    if fast {
                                        Message::Reject {
                                            index,
                                            begin,
                                            length,
                                        }
                                        .encode(&mut out);
                                    }
                                    continue;
                                }
                                let at = (meta.lengths.piece_offset(index) + begin as u64) as usize;
                                Message::Piece {
                                    index,
                                    begin,
                                    block: &data[at..at + length as usize],
                                }
                                .encode(&mut out);
                                served += 1;
                                if !choked && served.is_multiple_of(every) {
                                    choked = true;
                                    Message::Choke.encode(&mut out);
                                }
                            }
                            _ => {}
                        }
                    }
                    buf.drain(..used);
                    s.write_all(&out).await?;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choking_seeders_without_and_with_fast_extension_are_downloaded_completely() {
    let (_, meta, data) = sample();
    for fast in [false, true] {
        let addr = spawn_choking_seeder(meta.clone(), data.clone(), fast, 7).await;
        let mut cfg = SwarmConfig::new(addr);
        cfg.peers = 3;
        cfg.queue_depth = 8;
        let started = Instant::now();
        let r = run(&meta, cfg).await;
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(r.complete, "fast={fast}: {r:#?}");
        assert_eq!(
            r.pieces_verified,
            meta.lengths.num_pieces() as u64,
            "fast={fast}"
        );
        assert_eq!(r.pieces_failed, 0);
        assert_eq!(r.errors, 0, "fast={fast}: {:?}", r.error_examples);
        assert!(r.bytes >= data.len() as u64);
    }
}

/// A torrent's file bytes, its metainfo and its payload.
type Sample = (Vec<u8>, Arc<Metainfo>, Arc<Vec<u8>>);

/// Three torrents of different sizes and piece lengths, served by one test
/// seeder.
fn three_torrents() -> Vec<Sample> {
    [
        ("a.bin", 700_000usize, 64 * 1024u32, 1u64),
        ("b.bin", 300_001, 32 * 1024, 2),
        ("c.bin", 200_000, 16 * 1024, 3),
    ]
    .into_iter()
    .map(|(name, len, piece, seed)| {
        let data = payload(len, seed);
        let (bytes, meta) = torrent(name, &data, piece);
        (bytes, Arc::new(meta), Arc::new(data))
    })
    .collect()
}

/// An honest test seeder serving every torrent of `torrents` on one port.
async fn serve_all(torrents: &[Sample]) -> std::net::SocketAddr {
    spawn_test_seeder_multi(
        torrents
            .iter()
            .map(|(_, m, d)| (m.clone(), d.clone()))
            .collect(),
        SeederMode::Honest,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_torrents_with_zipf_popularity_all_get_verified_pieces() {
    let torrents = three_torrents();
    let addr = serve_all(&torrents).await;
    let metas: Vec<Arc<Metainfo>> = torrents.iter().map(|(_, m, _)| m.clone()).collect();
    let mut cfg = SwarmConfig::new(addr);
    cfg.peers = 7;
    cfg.queue_depth = 16;
    cfg.popularity = Popularity::Zipf(1.0);
    cfg.pattern = Pattern::Zipf;
    cfg.duration = Some(Duration::from_secs(2));
    let r = run_swarm_multi(metas.clone(), cfg, |_| {}, std::future::pending::<()>()).await;
    assert_eq!(r.stop_reason, "duration");
    assert_eq!(r.errors, 0, "{:?}", r.error_examples);
    assert_eq!(r.pieces_failed, 0);
    assert!(r.success());
    assert_eq!(
        r.pieces_total,
        metas.iter().map(|m| m.lengths.num_pieces()).sum::<u32>()
    );
    assert_eq!(r.torrents.len(), 3);
    // 7 peers, shares 1 : 1/2 : 1/3 → 3.8, 1.9, 1.3 → 4, 2, 1.
    let peers: Vec<usize> = r.torrents.iter().map(|t| t.peers).collect();
    assert_eq!(peers, vec![4, 2, 1]);
    for (t, m) in r.torrents.iter().zip(&metas) {
        assert_eq!(t.info_hash, m.info_hash.to_string());
        assert_eq!(t.name, m.name);
        assert!(t.pieces_verified > 0, "{t:?}");
        assert_eq!(t.pieces_failed, 0);
        assert!(t.bytes > 0);
    }
    assert_eq!(r.torrents.iter().map(|t| t.bytes).sum::<u64>(), r.bytes);
    assert_eq!(
        r.torrents.iter().map(|t| t.pieces_verified).sum::<u64>(),
        r.pieces_verified
    );
    assert_eq!(r.peers_connected, 7);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["torrents"].as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_downloads_every_torrent_of_a_directory_once() {
    let torrents = three_torrents();
    let dir = temp_path("torrents-dir");
    std::fs::create_dir_all(&dir).unwrap();
    for (bytes, m, _) in &torrents {
        std::fs::write(dir.join(format!("{}.torrent", m.name)), bytes).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), b"not a torrent").unwrap();
    let json = temp_path("multi.json");
    let addr = serve_all(&torrents).await;
    let args = |peers: &str| -> Vec<String> {
        vec![
            "--torrents-dir".into(),
            dir.to_str().unwrap().into(),
            "--target".into(),
            addr.to_string(),
            "--peers".into(),
            peers.into(),
            "--popularity".into(),
            "zipf:1.2".into(),
            "--json".into(),
            json.to_str().unwrap().into(),
        ]
    };
    let run_bin =
        |args: Vec<String>| tokio::task::spawn_blocking(move || bin().args(args).output().unwrap());
    let out = run_bin(args("5")).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3 torrents, zipf:1.2 popularity"),
        "{stdout}"
    );
    assert!(stdout.contains("(complete)"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["complete"], true);
    let total: u64 = torrents
        .iter()
        .map(|(_, m, _)| m.lengths.total_length())
        .sum();
    assert_eq!(report["bytes"], total);
    let per = report["torrents"].as_array().unwrap();
    assert_eq!(per.len(), 3);
    for (t, (_, m, _)) in per.iter().zip(&torrents) {
        assert_eq!(t["name"], m.name.as_str());
        assert_eq!(t["complete"], true);
        assert_eq!(t["pieces_verified"], m.lengths.num_pieces());
        assert_eq!(t["bytes"], m.lengths.total_length());
        assert!(t["peers"].as_u64().unwrap() >= 1);
    }
    // Download-once needs a peer per torrent.
    let out = run_bin(args("2")).await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one peer per torrent"));
    // The same torrent twice is refused.
    let a = dir.join("a.bin.torrent");
    let out = run_bin(vec![
        "--torrent".into(),
        a.to_str().unwrap().into(),
        "--torrent".into(),
        a.to_str().unwrap().into(),
        "--target".into(),
        addr.to_string(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("are the same torrent"));
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(json);
}
