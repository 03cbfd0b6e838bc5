//! Interop with a real client: Debian's python3-libtorrent downloads from
//! `ringseed seed` over 127.0.0.1 and the files must be byte-identical.
//! Torrents come from libtorrent itself (v1 multi-file with awkward sizes;
//! hybrid v1+v2 with BEP 47 pad files) and from mktorrent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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

/// One interop case: the AWKWARD tree written as `data/NAME` in a temp dir.
struct Case {
    dir: tempfile::TempDir,
    name: &'static str,
    torrent: PathBuf,
}

impl Case {
    fn new(name: &'static str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        write_tree(&dir.path().join("data").join(name), AWKWARD);
        let torrent = dir.path().join(format!("{name}.torrent"));
        Case { dir, name, torrent }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `ringseed seed` on this case's data with `extra` flags, through `wrapper` if any.
    fn seed(&self, wrapper: &[&str], extra: &[&str]) -> Seeder {
        let (data, state) = (self.data(), self.dir.path().join("state"));
        let mut args = vec![
            "--data",
            data.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ];
        args.extend(extra);
        args.push(self.torrent.to_str().unwrap());
        Seeder::spawn(Seed::args(&args).wrapped(wrapper))
    }

    /// libtorrent downloads into `save-TAG`; every file must equal the original.
    fn download_and_compare(&self, py: &Path, seeder: &Seeder, tag: &str) {
        let save = self.dir.path().join(format!("save-{tag}"));
        lt_download(py, &self.torrent, &save, seeder);
        assert_trees_equal(&self.data().join(self.name), &save.join(self.name));
    }
}

#[test]
fn libtorrent_downloads_an_awkward_multi_file_torrent_byte_identical() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let case = Case::new("awkward");
    lt_make(
        &py,
        &case.torrent,
        &case.data().join("awkward"),
        false,
        32 * 1024,
    );
    let seeder = case.seed(&[], &["--shards", "2"]);
    let line = seeder.wait_log(&["torrent awkward", "verified"], Duration::from_secs(5));
    let n = 416_393usize.div_ceil(32 * 1024);
    assert!(line.contains(&format!("verified {n}/{n} pieces")), "{line}");
    case.download_and_compare(&py, &seeder, "lt");
}

#[test]
fn libtorrent_downloads_a_hybrid_torrent_with_pad_files_through_its_v1_info_hash() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let case = Case::new("hybrid");
    lt_make(
        &py,
        &case.torrent,
        &case.data().join("hybrid"),
        true,
        16 * 1024,
    );
    let meta =
        ringseed::metainfo::Metainfo::from_bytes(&std::fs::read(&case.torrent).unwrap()).unwrap();
    assert!(meta.hybrid, "libtorrent made a hybrid torrent");
    assert!(
        meta.files.iter().any(|f| f.pad),
        "libtorrent added pad files"
    );
    let seeder = case.seed(&[], &[]);
    let n = meta.lengths.num_pieces();
    seeder.wait_log(
        &["torrent hybrid", &format!("verified {n}/{n} pieces")],
        Duration::from_secs(5),
    );
    case.download_and_compare(&py, &seeder, "lt");
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
    let case = Case::new("mk");
    let st = Command::new("mktorrent")
        .args(["-l", "15", "-a", "http://127.0.0.1:1/announce", "-o"])
        .arg(&case.torrent)
        .arg(case.data().join("mk"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let seeder = case.seed(&[], &[]);
    case.download_and_compare(&py, &seeder, "lt");
}

#[test]
fn libtorrent_downloads_with_direct_io() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let case = Case::new("direct");
    lt_make(
        &py,
        &case.torrent,
        &case.data().join("direct"),
        false,
        32 * 1024,
    );
    let seeder = case.seed(&[], &["--direct-io"]);
    case.download_and_compare(&py, &seeder, "lt");
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
    let case = Case::new("memlock");
    lt_make(
        &py,
        &case.torrent,
        &case.data().join("memlock"),
        false,
        32 * 1024,
    );
    let wrapper = [
        "prlimit",
        "--memlock=4194304:4194304",
        "setpriv",
        "--inh-caps=-ipc_lock",
        "--bounding-set=-ipc_lock",
    ];
    for (buffers, expect_fallback) in [(Some("512"), true), (None, false)] {
        let mut extra = vec!["--shards", "2"];
        if let Some(b) = buffers {
            extra.extend(["--buffers", b]);
        }
        let seeder = case.seed(&wrapper, &extra);
        case.download_and_compare(&py, &seeder, buffers.unwrap_or("auto"));
        let log = seeder.log_text();
        assert_eq!(
            log.contains("registering block buffers failed"),
            expect_fallback,
            "{log}"
        );
        if !expect_fallback {
            let line = seeder.wait_log(&["shard started", "registered="], Duration::from_secs(1));
            assert!(!line.contains("registered=0"), "{line}");
        }
    }
}
