//! The command line on real files: `check` exit codes for bad metainfo
//! (nothing created outside the data directory), `create` + `check`
//! round trips, and resume data that spares a rehash on the second start.

mod common;

use std::process::Command;

use common::*;

fn check(data: &std::path::Path, torrent: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(RINGSEED)
        .arg("check")
        .arg("--data")
        .arg(data)
        .arg(torrent)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A bencoded single-file torrent with the given raw `info` body pieces.
fn torrent_with_info(info: &str) -> Vec<u8> {
    format!("d8:announce14:http://x/annou4:info{info}e").into_bytes()
}

fn files_list(path_list: &str) -> String {
    let pieces = "x".repeat(20);
    format!("d5:filesld6:lengthi10e4:path{path_list}ee4:name1:t12:piece lengthi16384e6:pieces20:{pieces}e")
}

#[test]
fn bad_metainfo_exits_2_with_a_reason_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let pieces = "x".repeat(20);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "traversal",
            torrent_with_info(&files_list("l2:..6:escapee")),
            "..",
        ),
        (
            "absolute",
            torrent_with_info(&format!(
                "d6:lengthi10e4:name4:/etc12:piece lengthi16384e6:pieces20:{pieces}e"
            )),
            "absolute",
        ),
        (
            "negative length",
            torrent_with_info(&format!(
                "d6:lengthi-5e4:name1:t12:piece lengthi16384e6:pieces20:{pieces}e"
            )),
            "length",
        ),
        (
            "zero piece length",
            torrent_with_info(&format!(
                "d6:lengthi10e4:name1:t12:piece lengthi0e6:pieces20:{pieces}e"
            )),
            "piece length",
        ),
        (
            "pieces count",
            torrent_with_info(&format!(
                "d6:lengthi99999e4:name1:t12:piece lengthi16384e6:pieces20:{pieces}e"
            )),
            "piece",
        ),
        (
            "truncated",
            torrent_with_info(&files_list("l1:a1:b"))[..60].to_vec(),
            "",
        ),
        (
            "not bencode",
            b"<html>this is not a torrent</html>".to_vec(),
            "",
        ),
    ];
    for (name, bytes, needle) in cases {
        let t = dir
            .path()
            .join(format!("{}.torrent", name.replace(' ', "_")));
        std::fs::write(&t, &bytes).unwrap();
        let (code, _, stderr) = check(&data, &t);
        assert_eq!(code, 2, "{name}: exit code; stderr: {stderr}");
        assert!(
            stderr.contains(t.file_name().unwrap().to_str().unwrap()),
            "{name}: reason names the torrent: {stderr}"
        );
        assert!(
            stderr.to_lowercase().contains(&needle.to_lowercase()),
            "{name}: reason mentions {needle:?}: {stderr}"
        );
    }
    // Nothing was created anywhere: not in the data dir, not beside it.
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    assert!(!dir.path().join("escape").exists());
}

#[test]
fn check_reports_complete_then_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("t"), &[("a", 70_000), ("b/c", 5)]);
    let torrent = dir.path().join("t.torrent");
    ringseed_create(&data.join("t"), &torrent, 16384);
    let (code, out, _) = check(&data, &torrent);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified 5/5 pieces"), "{out}");
    let mut a = std::fs::read(data.join("t/a")).unwrap();
    a[20_000] ^= 0xff;
    std::fs::write(data.join("t/a"), a).unwrap();
    let (code, out, _) = check(&data, &torrent);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verified 4/5 pieces") && out.contains("1 corrupt"),
        "{out}"
    );
}

#[test]
fn second_start_on_unchanged_data_does_not_rehash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("r"), &[("big", 3_000_000), ("small", 10)]);
    let torrent = dir.path().join("r.torrent");
    ringseed_create(&data.join("r"), &torrent, 65536);
    let state = dir.path().join("state");
    let args = [
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        torrent.to_str().unwrap(),
    ];

    let mut first = Seeder::start(&args);
    first.wait_log(
        &["torrent r", "verified 46/46 pieces", "hashed 3000010 bytes"],
        std::time::Duration::from_secs(5),
    );
    assert!(first.stop().success());

    let mut second = Seeder::start(&args);
    second.wait_log(
        &[
            "torrent r",
            "verified 46/46 pieces",
            "from resume data, nothing hashed",
        ],
        std::time::Duration::from_secs(5),
    );
    assert!(!second.log_text().contains("hashed 3000010 bytes"));
    assert!(second.stop().success());

    // Touching a file invalidates the resume data: the third start rehashes.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("r/small"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    let third = Seeder::start(&args);
    third.wait_log(
        &["torrent r", "hashed 3000010 bytes"],
        std::time::Duration::from_secs(5),
    );
}
