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

/// The payload `m` below `dir/data` (blocks crossing tiny, empty and
/// unaligned files) and its torrent with `piece`-byte pieces; returns the
/// data folder, the .torrent path and the metainfo.
fn payload(
    dir: &std::path::Path,
    piece: u32,
) -> (std::path::PathBuf, std::path::PathBuf, Arc<Metainfo>) {
    let data = dir.join("data");
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
    let torrent = dir.join("m.torrent");
    ringseed_create(&data.join("m"), &torrent, piece);
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap());
    (data, torrent, meta)
}

fn swarm(mode: &str, direct: bool, pipeline: Pipeline) -> (ringseed_loadtest::Report, String, u32) {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, meta) = payload(dir.path(), PIECE);
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

/// Drops the page-cache pages of every file below `root` (written back
/// first: only clean pages can go), so the seeder finds nothing cached.
fn evict_tree(root: &std::path::Path) {
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            evict_tree(&p);
            continue;
        }
        let f = std::fs::File::open(&p).unwrap();
        f.sync_all().unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    }
}

/// Blocks sent from each source (`ringseed_shard_read_blocks_total`), all shards.
fn blocks_from(metrics: &str, source: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("ringseed_shard_read_blocks_total{")
                && l.contains(&format!("source=\"{source}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The cold path (`[storage] read_cache_mib`, on by default): with the
/// payload out of the page cache, windows are read once with O_DIRECT and
/// every block is sent from the read cache, byte-exact, to verifying
/// leechers with both request patterns — across tiny, empty and unaligned
/// files (windows that span files are read through the page cache into the
/// same buffer). One file is put back in the page cache first: its blocks go
/// the warm way (cachestat), in the same batches' stream.
#[test]
fn read_cache_serves_exact_blocks_when_the_page_cache_holds_nothing() {
    for pipeline in [Pipeline::Depth, Pipeline::Piece] {
        // Below the target dir, on the disk the build uses: a tmpfs has no
        // O_DIRECT and its pages always count as cached.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let (data, torrent, meta) = payload(dir.path(), 512 * 1024);
        let seeder = Seeder::start(&[
            "--data",
            data.to_str().unwrap(),
            "--upload-slots",
            "0",
            "--metrics",
            "127.0.0.1:0",
            "--read-window-kib",
            "128",
            // What a payload far larger than RAM gets (`auto` picks
            // page_cache for these few MiB): windows read with O_DIRECT and
            // kept in the read cache.
            "--cold-reads",
            "direct",
            torrent.to_str().unwrap(),
        ]);
        // After the start-up check (which reads everything into the cache).
        seeder.wait_log(
            &["torrent m", "verified"],
            std::time::Duration::from_secs(20),
        );
        evict_tree(&data);
        // e.bin back in the page cache: its windows are hits.
        std::fs::read(data.join("m/e.bin")).unwrap();
        let mut cfg = ringseed_loadtest::SwarmConfig::new(seeder.addr);
        cfg.peers = 3;
        cfg.queue_depth = 48;
        cfg.pipeline = pipeline;
        let r = run_swarm(meta.clone(), cfg);
        assert!(
            r.complete
                && r.pieces_verified == meta.lengths.num_pieces() as u64
                && r.pieces_failed == 0
                && r.errors == 0,
            "{pipeline:?}: {r:?}"
        );
        // The shards' figures reach /metrics once a second.
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let m = common::metrics::scrape(seeder.metrics_addr());
        let (disk, cache, page) = (
            blocks_from(&m, "disk"),
            blocks_from(&m, "read_cache"),
            blocks_from(&m, "page_cache"),
        );
        // The swarm downloads the 7 MiB once (448 blocks); e.bin, cached, is
        // 64 of them. Everything else is cold: sent from windows read for
        // it (disk) or read for an earlier batch (read_cache).
        assert!(
            disk > 0.0 && page > 0.0,
            "{pipeline:?}: disk {disk}, read_cache {cache}, page_cache {page}"
        );
        assert!(
            disk + cache >= 0.6 * (disk + cache + page),
            "{pipeline:?}: most blocks come from the read cache: disk {disk}, read_cache {cache}, page_cache {page}"
        );
        assert!(
            common::metrics::value(&m, "ringseed_device_reads_total{") > 0.0,
            "{m}"
        );
    }
}
