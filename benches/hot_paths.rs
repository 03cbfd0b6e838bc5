//! Criterion benchmarks of ringseed's hot parts, each with a throughput:
//! wire message decode/encode (messages/s), metainfo parse of a 100k-piece
//! torrent (bytes/s), piece hashing with the sha1 crate (bytes/s; compare
//! with `openssl speed -evp sha1`), the block-serving path (an io_uring
//! `read_fixed_at` into a registered buffer plus the piece header, bytes/s),
//! and one choking round over 10,000 peers (peers/s).

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringseed::coordinator::choker::{rechoke, Candidate, ChokerAlgorithm};
use ringseed::metainfo::{build_torrent, Metainfo};
use ringseed::wire::{parse_frame, piece_header, Message};
use sha1::{Digest, Sha1};

fn wire(c: &mut Criterion) {
    let mut frames = Vec::new();
    for i in 0..1000u32 {
        Message::Request {
            index: i,
            begin: (i % 16) * 16384,
            length: 16384,
        }
        .encode(&mut frames);
    }
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("decode_1000_requests", |b| {
        b.iter(|| {
            let mut off = 0;
            let mut n = 0u32;
            while let Ok(Some((used, m))) = parse_frame(&frames[off..], 1 << 16) {
                if let Message::Request { length, .. } = m {
                    n = n.wrapping_add(length);
                }
                off += used;
            }
            black_box(n)
        })
    });
    g.bench_function("encode_1000_requests", |b| {
        let mut out = Vec::with_capacity(frames.len());
        b.iter(|| {
            out.clear();
            for i in 0..1000u32 {
                Message::Request {
                    index: i,
                    begin: 0,
                    length: 16384,
                }
                .encode(&mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

fn metainfo(c: &mut Criterion) {
    let n = 100_000usize;
    let hashes = vec![[7u8; 20]; n];
    let files: Vec<(Vec<String>, u64)> = (0..100)
        .map(|i| (vec![format!("f{i:03}")], (n as u64 * 16384) / 100))
        .collect();
    let bytes = build_torrent("big", &files, 16384, &hashes, None, "bench");
    let mut g = c.benchmark_group("metainfo");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_100k_pieces", |b| {
        b.iter(|| black_box(Metainfo::from_bytes(&bytes).unwrap().lengths.num_pieces()))
    });
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let piece = vec![0x5au8; 1 << 20];
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(piece.len() as u64));
    g.bench_function("sha1_1MiB_piece", |b| {
        b.iter(|| black_box(Sha1::digest(&piece)))
    });
    g.finish();
}

fn block_path(c: &mut Criterion) {
    use tokio_uring::buf::fixed::FixedBufPool;
    use tokio_uring::buf::BoundedBuf;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, vec![0xa5u8; 64 << 20]).unwrap();
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Bytes(16384));
    g.bench_function("read_fixed_at_16KiB_plus_header", |b| {
        b.iter_custom(|iters| {
            tokio_uring::start(async {
                let pool = FixedBufPool::new((0..4).map(|_| vec![0u8; 16384 + 13]));
                pool.register().unwrap();
                let file = tokio_uring::fs::File::open(&path).await.unwrap();
                let blocks = (64u64 << 20) / 16384;
                let start = Instant::now();
                for i in 0..iters {
                    let buf = pool.try_next(16384 + 13).unwrap();
                    let (res, slice) = file
                        .read_fixed_at(buf.slice(13..), (i % blocks) * 16384)
                        .await;
                    let mut buf = slice.into_inner();
                    assert_eq!(res.unwrap(), 16384);
                    buf[..13].copy_from_slice(&piece_header(i as u32, 0, 16384));
                    black_box(&buf[..]);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn choking(c: &mut Criterion) {
    let now = Instant::now();
    let peers: Vec<Candidate> = (0..10_000u64)
        .map(|k| Candidate {
            key: k,
            interested: k % 3 != 0,
            unchoked: k % 50 == 0,
            unchoked_at: (k % 50 == 0).then_some(now - Duration::from_secs(20)),
            interested_at: now - Duration::from_millis(k),
            uploaded_since_unchoke: k * 1000,
            upload_rate: (k * 7919) % 100_000,
            progress_permille: (k % 1001) as u32,
        })
        .collect();
    let mut g = c.benchmark_group("choke");
    g.throughput(Throughput::Elements(peers.len() as u64));
    for algo in [
        ChokerAlgorithm::RoundRobin,
        ChokerAlgorithm::FastestUpload,
        ChokerAlgorithm::AntiLeech,
    ] {
        g.bench_function(format!("round_10k_peers_{algo}"), |b| {
            b.iter(|| {
                black_box(rechoke(algo, 8, &peers, now, Duration::from_secs(10), 1 << 20).len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, wire, metainfo, hashing, block_path, choking);
criterion_main!(benches);
