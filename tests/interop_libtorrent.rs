//! Interop with a real client: Debian's python3-libtorrent downloads from
//! `ringseed seed` over 127.0.0.1 and the files must be byte-identical.
//! Torrents come from libtorrent itself (v1 multi-file with awkward sizes;
//! hybrid v1+v2 with BEP 47 pad files) and from mktorrent.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A multi-file tree with a 0-byte file, sizes not aligned to pieces and a short last piece.
const AWKWARD: &[(&str, usize)] = &[
    ("a.bin", 100_000),
    ("empty.dat", 0),
    ("sub/b.bin", 16_385),
    ("sub/deeper/c.bin", 1),
    ("z.bin", 300_007),
];

fn lt_download(py: &Path, torrent: &Path, save: &Path, seeder: &Seeder) -> String {
    let out = Command::new(py)
        .arg(lt_client())
        .arg("download")
        .arg(torrent)
        .arg(save)
        .arg(seeder.addr.to_string())
        .args(["--timeout", "90"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "libtorrent download failed: {}\n{}\nseeder log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        seeder.log_text()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lt_make(py: &Path, torrent: &Path, root: &Path, hybrid: bool, piece_size: u32) {
    let mut cmd = Command::new(py);
    cmd.arg(lt_client())
        .arg("make")
        .arg(torrent)
        .arg(root)
        .args(["--piece-size", &piece_size.to_string()]);
    if hybrid {
        cmd.arg("--hybrid");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "libtorrent make failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn libtorrent_downloads_an_awkward_multi_file_torrent_byte_identical() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("awkward"), AWKWARD);
    let torrent = dir.path().join("awkward.torrent");
    lt_make(&py, &torrent, &data.join("awkward"), false, 32 * 1024);
    let state = dir.path().join("state");
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--shards",
        "2",
        torrent.to_str().unwrap(),
    ]);
    let line = seeder.wait_log(
        &["torrent awkward", "verified"],
        std::time::Duration::from_secs(5),
    );
    let n = 416_393usize.div_ceil(32 * 1024);
    assert!(line.contains(&format!("verified {n}/{n} pieces")), "{line}");
    let save = dir.path().join("save");
    lt_download(&py, &torrent, &save, &seeder);
    assert_trees_equal(&data.join("awkward"), &save.join("awkward"));
}

#[test]
fn libtorrent_downloads_a_hybrid_torrent_with_pad_files_through_its_v1_info_hash() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("hybrid"), AWKWARD);
    let torrent = dir.path().join("hybrid.torrent");
    lt_make(&py, &torrent, &data.join("hybrid"), true, 16 * 1024);
    let meta = ringseed::metainfo::Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    assert!(meta.hybrid, "libtorrent made a hybrid torrent");
    assert!(
        meta.files.iter().any(|f| f.pad),
        "libtorrent added pad files"
    );
    let state = dir.path().join("state");
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        torrent.to_str().unwrap(),
    ]);
    let n = meta.lengths.num_pieces();
    seeder.wait_log(
        &["torrent hybrid", &format!("verified {n}/{n} pieces")],
        std::time::Duration::from_secs(5),
    );
    let save = dir.path().join("save");
    lt_download(&py, &torrent, &save, &seeder);
    assert_trees_equal(&data.join("hybrid"), &save.join("hybrid"));
}

#[test]
fn libtorrent_downloads_a_mktorrent_torrent() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    if Command::new("mktorrent").arg("-h").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("mktorrent is required in CI");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("mk"), AWKWARD);
    let torrent = dir.path().join("mk.torrent");
    let st = Command::new("mktorrent")
        .args(["-l", "15", "-a", "http://127.0.0.1:1/announce", "-o"])
        .arg(&torrent)
        .arg(data.join("mk"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let state = dir.path().join("state");
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        torrent.to_str().unwrap(),
    ]);
    let save = dir.path().join("save");
    lt_download(&py, &torrent, &save, &seeder);
    assert_trees_equal(&data.join("mk"), &save.join("mk"));
}

#[test]
fn libtorrent_downloads_with_direct_io() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("direct"), AWKWARD);
    let torrent = dir.path().join("direct.torrent");
    lt_make(&py, &torrent, &data.join("direct"), false, 32 * 1024);
    let state = dir.path().join("state");
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--direct-io",
        torrent.to_str().unwrap(),
    ]);
    let save = dir.path().join("save");
    lt_download(&py, &torrent, &save, &seeder);
    assert_trees_equal(&data.join("direct"), &save.join("direct"));
    assert!(
        !seeder.log_text().contains("cannot open file"),
        "O_DIRECT open failed:\n{}",
        seeder.log_text()
    );
}

/// Without CAP_IPC_LOCK and with a 4 MiB RLIMIT_MEMLOCK, registering 512
/// buffers per shard fails: the seeder warns and serves from plain buffers;
/// with the default sizing it registers what the limit allows.
#[test]
fn registration_beyond_memlock_falls_back_to_plain_buffers() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("memlock"), AWKWARD);
    let torrent = dir.path().join("memlock.torrent");
    lt_make(&py, &torrent, &data.join("memlock"), false, 32 * 1024);
    let wrapper = [
        "prlimit",
        "--memlock=4194304:4194304",
        "setpriv",
        "--inh-caps=-ipc_lock",
        "--bounding-set=-ipc_lock",
    ];
    for (buffers, expect_fallback) in [(Some("512"), true), (None, false)] {
        let state = dir.path().join("state");
        let mut args = vec![
            "--data",
            data.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--shards",
            "2",
        ];
        if let Some(b) = buffers {
            args.extend(["--buffers", b]);
        }
        args.push(torrent.to_str().unwrap());
        let seeder = Seeder::start_wrapped(&wrapper, &args);
        let save = dir
            .path()
            .join(format!("save-{}", buffers.unwrap_or("auto")));
        lt_download(&py, &torrent, &save, &seeder);
        assert_trees_equal(&data.join("memlock"), &save.join("memlock"));
        let log = seeder.log_text();
        assert_eq!(
            log.contains("registering block buffers failed"),
            expect_fallback,
            "{log}"
        );
        if !expect_fallback {
            let line = seeder.wait_log(
                &["shard started", "registered="],
                std::time::Duration::from_secs(1),
            );
            assert!(!line.contains("registered=0"), "{line}");
        }
    }
}
