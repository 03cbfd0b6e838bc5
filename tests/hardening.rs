//! Faults an adversary found, each against a real daemon (as an
//! unprivileged user where root would hide the fault): the daemon stays
//! alive, a verifying leecher keeps downloading, descriptors stay bounded,
//! and no byte from outside the save path is ever served.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::wait::until;
use common::wire::*;
use common::*;
use ringseed::metainfo::{InfoHash, Metainfo};
use ringseed::wire::{Handshake, Message};

const PIECE: u32 = 64 * 1024;
const BLOCK: u32 = 16 * 1024;
/// setpriv to the `nobody` user with no capabilities (root ignores chmod).
const NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

/// A temp dir every user can enter and write (for the `nobody` daemon).
fn open_tempdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

fn chmod_tree(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chmod_tree(&e.unwrap().path(), mode);
        }
    }
}

/// `data/payload/{a,b}.bin` (1 MiB each, 64 KiB pieces) and the torrent.
fn two_files(dir: &Path) -> (std::path::PathBuf, Metainfo, Vec<u8>) {
    let root = dir.join("data/payload");
    write_tree(&root, &[("a.bin", 1 << 20), ("b.bin", 1 << 20)]);
    let torrent = dir.join("p.torrent");
    ringseed_create(&root, &torrent, PIECE);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let mut all = std::fs::read(root.join("a.bin")).unwrap();
    all.extend(std::fs::read(root.join("b.bin")).unwrap());
    chmod_tree(&dir.join("data"), 0o755);
    std::fs::set_permissions(&torrent, std::fs::Permissions::from_mode(0o644)).unwrap();
    (torrent, meta, all)
}

/// Requests every block of `pieces` from a Fast raw peer; returns
/// (blocks received, rejects). Every block received must equal `payload`.
fn fetch_all(
    seeder: &Seeder,
    meta: &Metainfo,
    payload: &[u8],
    pieces: std::ops::Range<u32>,
) -> (usize, usize) {
    let mut s = handshake(seeder.addr, meta.info_hash, true);
    send(&mut s, Message::Interested);
    read_until(&mut s, 1).expect("unchoke");
    let mut want = 0;
    let mut out = Vec::new();
    for index in pieces {
        for begin in (0..meta.lengths.piece_len(index)).step_by(BLOCK as usize) {
            Message::Request {
                index,
                begin,
                length: BLOCK,
            }
            .encode(&mut out);
            want += 1;
        }
    }
    s.write_all(&out).unwrap();
    let (mut blocks, mut rejects) = (0, 0);
    while blocks + rejects < want {
        let m = read_msg(&mut s).expect("the seeder closed a Fast peer over a read failure");
        match Message::decode(&m).unwrap() {
            Message::Piece {
                index,
                begin,
                block,
            } => {
                let off = (index * PIECE + begin) as usize;
                assert!(
                    block == &payload[off..off + block.len()],
                    "wrong bytes served for piece {index} at {begin}"
                );
                blocks += 1;
            }
            Message::Reject { .. } => rejects += 1,
            _ => {}
        }
    }
    (blocks, rejects)
}

/// The seeder's first message to a Fast peer: `have_all` (0x0E) or a bitfield.
fn first_message(seeder: &Seeder, ih: InfoHash) -> Vec<u8> {
    handshake_first(seeder.addr, ih, true).1
}

#[test]
fn a_file_swapped_for_a_symlink_out_of_the_save_path_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta, payload) = two_files(dir.path());
    let outside = dir.path().join("outside.bin");
    std::fs::write(&outside, bytes(1 << 20, 99)).unwrap();
    let seeder = Seeder::start(&[
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--upload-slots",
        "0",
        torrent.to_str().unwrap(),
    ]);
    // After the start-up check, b.bin becomes a link to a file outside.
    let b = dir.path().join("data/payload/b.bin");
    std::fs::remove_file(&b).unwrap();
    std::os::unix::fs::symlink(&outside, &b).unwrap();

    // a.bin's pieces are served; b.bin's are refused, never read through the link.
    let (blocks, rejects) = fetch_all(&seeder, &meta, &payload, 0..32);
    assert_eq!((blocks, rejects), (16 * 4, 16 * 4));
    seeder.wait_log(&["file cannot be read", "b.bin"], Duration::from_secs(5));
    // New peers are no longer offered b.bin's pieces.
    until("b.bin's pieces withdrawn", Duration::from_secs(5), || {
        let m = first_message(&seeder, meta.info_hash);
        m[0] == 5 && m[1..3] == [0xff, 0xff] && m[3..5] == [0, 0]
    });
    // The file comes back (same bytes): rechecked and announced again.
    std::fs::remove_file(&b).unwrap();
    std::fs::write(&b, &payload[1 << 20..]).unwrap();
    until("b.bin's pieces back", Duration::from_secs(15), || {
        first_message(&seeder, meta.info_hash)[0] == 0x0E
    });
    seeder.wait_log(&["file readable again"], Duration::from_secs(1));
    assert_eq!(fetch_all(&seeder, &meta, &payload, 16..32), (64, 0));
}

#[test]
fn an_unreadable_file_comes_back_without_a_restart() {
    let dir = open_tempdir();
    let (torrent, meta, payload) = two_files(dir.path());
    let state = dir.path().join("state");
    let seeder = Seeder::spawn(
        Seed::args(&[
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--upload-slots",
            "0",
            torrent.to_str().unwrap(),
        ])
        .wrapped(NOBODY),
    );
    let b = dir.path().join("data/payload/b.bin");
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o000)).unwrap();
    let (blocks, rejects) = fetch_all(&seeder, &meta, &payload, 12..20);
    assert_eq!((blocks, rejects), (16, 16));
    seeder.wait_log(
        &["file cannot be read", "b.bin", "Permission denied"],
        Duration::from_secs(5),
    );
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o644)).unwrap();
    until("b.bin readable again", Duration::from_secs(15), || {
        first_message(&seeder, meta.info_hash)[0] == 0x0E
    });
    assert_eq!(fetch_all(&seeder, &meta, &payload, 12..20), (32, 0));
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn under_a_small_descriptor_limit_peers_are_refused_and_a_leecher_keeps_downloading() {
    ringseed::rlimit::raise_nofile();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data/payload");
    write_tree(&root, &[("x.bin", 16 << 20)]);
    let torrent = dir.path().join("p.torrent");
    ringseed_create(&root, &torrent, PIECE);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let seeder = Seeder::spawn(
        Seed::args(&[
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--upload-slots",
            "0",
            torrent.to_str().unwrap(),
        ])
        .wrapped(&["prlimit", "--nofile=256:256"]),
    );
    seeder.wait_log(
        &["fitting peers and data files into the descriptor limit"],
        Duration::from_secs(1),
    );
    let pid = seeder.child.id();
    let base = fd_count(pid);
    let swarm = spawn_random_swarm(Arc::new(meta.clone()), seeder.addr, 4, 16, 8);
    std::thread::sleep(Duration::from_millis(500));
    // 1,000 connections that each complete a handshake and stay.
    let mut conns = Vec::new();
    let mut max_fds = 0;
    for i in 0..1000u32 {
        let Ok(mut s) = TcpStream::connect(seeder.addr) else {
            continue;
        };
        let mut id = *b"-XX0001-crowd0000000";
        id[13..].copy_from_slice(format!("{i:07}").as_bytes());
        let _ = s.write_all(&Handshake::new(meta.info_hash, id).encode());
        conns.push(s);
        if i % 100 == 0 {
            max_fds = max_fds.max(fd_count(pid));
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    max_fds = max_fds.max(fd_count(pid));
    assert!(max_fds < 256, "the seeder reached {max_fds} descriptors");
    // Every connection got an answer: served (its handshake) or refused (closed).
    let mut refused = 0;
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut b = [0u8; 68];
        match s.read(&mut b) {
            Ok(0) | Err(_) => refused += 1,
            Ok(_) => {}
        }
    }
    assert!(refused > 500, "only {refused} of 1000 refused");
    assert!(
        refused < 1000,
        "every connection was refused: no room left for peers"
    );
    seeder.wait_log(&["reason=too_many_peers (-17)"], Duration::from_secs(5));
    let report = swarm.join().unwrap();
    assert_eq!(report.pieces_failed, 0);
    assert!(report.pieces_verified > 0);
    let busy = report.timeline.iter().filter(|b| **b > 0).count();
    assert!(busy + 2 >= report.timeline.len(), "{:?}", report.timeline);
    drop(conns);
    until(
        "descriptors back near the baseline",
        Duration::from_secs(10),
        || fd_count(pid) <= base + 8,
    );
    eprintln!(
        "FIGURES nofile=256 connections=1000 refused={refused} fds_base={base} fds_max={max_fds} \
         fds_after={} leecher_pieces_verified={} failed={} timeline_bytes_per_s={:?}",
        fd_count(pid),
        report.pieces_verified,
        report.pieces_failed,
        report.timeline
    );
    let log = seeder.log_text();
    assert!(!log.contains("Too many open files"), "{log}");
}

#[test]
fn a_thousand_slow_metrics_clients_cannot_stop_seeding() {
    ringseed::rlimit::raise_nofile();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data/payload");
    write_tree(&root, &[("x.bin", 16 << 20)]);
    let torrent = dir.path().join("p.torrent");
    ringseed_create(&root, &torrent, PIECE);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let seeder = Seeder::spawn(
        Seed::args(&[
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
            "--upload-slots",
            "0",
            torrent.to_str().unwrap(),
        ])
        .wrapped(&["prlimit", "--nofile=1024:1024"]),
    );
    let maddr = seeder.metrics_addr();
    // 1,100 clients that connect to /metrics and never send a byte.
    let slow: Vec<TcpStream> = (0..1100)
        .filter_map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
            s.set_nonblocking(true).ok()?;
            let _ = s.connect(&maddr.into());
            Some(TcpStream::from(s))
        })
        .collect();
    let report = spawn_random_swarm(Arc::new(meta.clone()), seeder.addr, 4, 16, 6)
        .join()
        .unwrap();
    assert_eq!(report.pieces_failed, 0);
    assert_eq!(report.errors, 0, "{:?}", report.error_kinds);
    let busy = report.timeline.iter().filter(|b| **b > 0).count();
    assert!(busy + 1 >= report.timeline.len(), "{:?}", report.timeline);
    let fds = fd_count(seeder.child.id());
    assert!(fds < 300, "the seeder holds {fds} descriptors");
    eprintln!(
        "FIGURES slow_metrics_clients={} seeder_fds={fds} leecher_pieces_verified={} failed={} \
         errors={} timeline_bytes_per_s={:?}",
        slow.len(),
        report.pieces_verified,
        report.pieces_failed,
        report.errors,
        report.timeline
    );
    drop(slow);
    // The log is not flooded, and /metrics answers once the slow clients are gone.
    assert!(seeder.log_text().lines().count() < 200);
    until("/metrics answers", Duration::from_secs(30), || {
        common::metrics::try_scrape(maddr, Duration::from_secs(2)).is_some()
    });
}

#[test]
fn a_tiny_memlock_limit_as_an_unprivileged_user_still_seeds() {
    let dir = open_tempdir();
    let (torrent, meta, _) = two_files(dir.path());
    let state = dir.path().join("state");
    let mut wrapper = vec!["prlimit", "--memlock=65536:65536"];
    wrapper.extend(NOBODY);
    let seeder = Seeder::spawn(
        Seed::args(&[
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--upload-slots",
            "0",
            torrent.to_str().unwrap(),
        ])
        .wrapped(&wrapper),
    );
    let report = spawn_random_swarm(Arc::new(meta.clone()), seeder.addr, 4, 8, 3)
        .join()
        .unwrap();
    assert_eq!(report.pieces_failed, 0);
    assert!(report.pieces_verified > 0);
    let log = seeder.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("verified 32/32 pieces"), "{log}");
}

#[test]
fn fifty_connections_with_one_peer_id_keep_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta, _) = two_files(dir.path());
    let seeder = Seeder::start(&[
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--shards",
        "2",
        torrent.to_str().unwrap(),
    ]);
    let id = *b"-XX0001-samepeerid00";
    let mut conns: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = connect(seeder.addr);
            s.write_all(&Handshake::new(meta.info_hash, id).encode())
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let mut open = 0;
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 4096];
        // Drain what the seeder sent; a closed connection reads 0 at the end.
        let alive = loop {
            match s.read(&mut buf) {
                Ok(0) => break false,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    break true
                }
                Err(_) => break false,
            }
        };
        open += alive as usize;
    }
    assert_eq!(
        open,
        1,
        "connections left open with one peer id; log:\n{}",
        seeder.log_text()
    );
    let dups = seeder
        .log_text()
        .matches("reason=duplicate_peer (-16)")
        .count();
    assert_eq!(dups, 49);
}

#[test]
fn temp_files_of_an_interrupted_write_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, _, _) = two_files(dir.path());
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("session")).unwrap();
    let stale = [
        state.join("0000000000000000000000000000000000000000.resume.json.tmp4242"),
        state.join("0000000000000000000000000000000000000001.resume.tmp77"),
        state.join("session/0000000000000000000000000000000000000002.json.tmp31337"),
    ];
    for p in &stale {
        std::fs::write(p, b"half a write").unwrap();
    }
    let seeder = Seeder::start(&[
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        torrent.to_str().unwrap(),
    ]);
    for p in &stale {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    seeder.wait_log(&["removed temp files", "files=3"], Duration::from_secs(1));
}
