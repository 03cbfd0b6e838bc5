//! Every send path (`--send-mode splice|fixed|zc`, and `--direct-io`)
//! serves byte-exact blocks on real sockets to verifying leechers, with both
//! request patterns: requests kept in flight across pieces, and a whole
//! piece asked for at once. The payload makes blocks cross file boundaries
//! (tiny files, a 0-byte file, unaligned sizes), so one block is several
//! extents and a batch mixes runs of one file with blocks of many.

mod common;

use std::sync::Arc;

use common::*;
use ringseed::metainfo::Metainfo;
use ringseed_loadtest::Pipeline;

const PIECE: u32 = 64 * 1024;

fn swarm(mode: &str, direct: bool, pipeline: Pipeline) -> (ringseed_loadtest::Report, String, u32) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(
        &data.join("m"),
        &[
            ("a.bin", 3 * 1024 * 1024 + 7),
            ("b/tiny1", 10),
            ("b/tiny2", 3),
            ("b/empty", 0),
            ("c.bin", 2 * 1024 * 1024 + 4093),
            ("d.bin", 40_000),
            ("e.bin", 1024 * 1024),
        ],
    );
    let torrent = dir.path().join("m.torrent");
    ringseed_create(&data.join("m"), &torrent, PIECE);
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap());
    let mut args = vec![
        "--data",
        data.to_str().unwrap(),
        "--upload-slots",
        "0",
        "--send-mode",
        mode,
    ];
    if direct {
        args.push("--direct-io");
    }
    args.push(torrent.to_str().unwrap());
    let seeder = Seeder::start(&args);
    let mut cfg = ringseed_loadtest::SwarmConfig::new(seeder.addr);
    cfg.peers = 3;
    cfg.queue_depth = 48;
    cfg.pipeline = pipeline;
    let r = run_swarm(meta.clone(), cfg);
    (r, seeder.log_text(), meta.lengths.num_pieces())
}

fn check(mode: &str, direct: bool, expect_mode: &str) {
    for pipeline in [Pipeline::Depth, Pipeline::Piece] {
        let (r, log, pieces) = swarm(mode, direct, pipeline);
        assert!(
            r.complete
                && r.pieces_verified == pieces as u64
                && r.pieces_failed == 0
                && r.errors == 0,
            "{mode} direct={direct} {pipeline:?}: {r:?}"
        );
        assert!(
            log.contains(&format!("send_mode={expect_mode}")),
            "{mode}: shard did not start with {expect_mode}:\n{log}"
        );
        assert!(!log.contains("falling back"), "{mode}: fell back:\n{log}");
    }
}

#[test]
fn splice_serves_exact_blocks_across_file_boundaries() {
    check("splice", false, "Splice");
}

#[test]
fn fixed_serves_exact_blocks_across_file_boundaries() {
    check("fixed", false, "Fixed");
}

#[test]
fn zerocopy_send_serves_exact_blocks_across_file_boundaries() {
    check("zc", false, "Zc");
}

#[test]
fn direct_io_reads_into_registered_buffers_whatever_the_send_mode() {
    // O_DIRECT data comes through registered buffers: splice means fixed.
    check("splice", true, "Fixed");
}
