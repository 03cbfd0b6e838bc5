//! The seed choker: which interested peers of one torrent get an upload slot.
//!
//! Pure and deterministic: peer facts and the time go in, the set of peers to
//! unchoke comes out; no clock, no socket. The three algorithms carry
//! libtorrent's names for its seed choking algorithms:
//!
//! - `round_robin` (default): rotate slots so every interested peer gets a
//!   turn. A peer keeps its slot until it has been unchoked for a full
//!   unchoke interval *and* received at least one piece's worth of data; then
//!   it goes to the back of the line, behind the peers that waited longest.
//! - `fastest_upload`: the peers we uploaded to fastest in the last interval
//!   keep the slots (maximises throughput, can starve slow peers).
//! - `anti_leech`: prefer peers that have just started or are about to finish
//!   (score highest at 0 % and 100 % progress, lowest at 50 %), so that
//!   peers with most of the data finish and peers with little get started.
//!
//! Uninterested peers are never unchoked. The optimistic unchoke (one extra
//! slot, rotated every optimistic interval to the choked interested peer that
//! waited longest) is chosen by [`pick_optimistic`].

use std::time::{Duration, Instant};

pub use crate::config::ChokerAlgorithm;

/// What the choker needs to know of one peer.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub key: u64,
    pub interested: bool,
    /// Currently unchoked by a regular slot.
    pub unchoked: bool,
    /// When the peer was last unchoked (`None`: never).
    pub unchoked_at: Option<Instant>,
    /// When the peer last became interested (the time it started waiting).
    pub interested_at: Instant,
    /// Payload bytes sent to it since its last unchoke.
    pub uploaded_since_unchoke: u64,
    /// Payload upload rate over the last interval, bytes/s.
    pub upload_rate: u64,
    /// The peer's completion, 0..=1000 (per mille of pieces it has).
    pub progress_permille: u32,
}

/// Runs one choking round for one torrent: returns the keys of the peers that
/// hold a regular upload slot after the round (at most `slots`; `slots == 0`
/// means unlimited). Ties are broken by key so the result is deterministic.
pub fn rechoke(
    algo: ChokerAlgorithm,
    slots: usize,
    peers: &[Candidate],
    now: Instant,
    interval: Duration,
    piece_length: u32,
) -> Vec<u64> {
    let mut c: Vec<&Candidate> = peers.iter().filter(|p| p.interested).collect();
    if slots == 0 || c.len() <= slots {
        let mut all: Vec<u64> = c.iter().map(|p| p.key).collect();
        all.sort_unstable();
        return all;
    }
    match algo {
        ChokerAlgorithm::RoundRobin => {
            // A slot holder "has had its turn" once it was unchoked for an interval
            // and received a piece's worth. Others keep their slot; the rest wait in
            // order of how long they have waited (unchoked_at, else interested_at).
            let had_turn = |p: &Candidate| {
                p.unchoked
                    && p.unchoked_at
                        .is_some_and(|t| now.saturating_duration_since(t) >= interval)
                    && p.uploaded_since_unchoke >= piece_length as u64
            };
            c.sort_by_key(|p| {
                let keeps = p.unchoked && !had_turn(p);
                let waited_since = if p.unchoked {
                    p.unchoked_at.unwrap_or(p.interested_at)
                } else {
                    p.interested_at
                        .min(p.unchoked_at.unwrap_or(p.interested_at))
                };
                (!keeps, had_turn(p), waited_since, p.key)
            });
        }
        ChokerAlgorithm::FastestUpload => {
            c.sort_by_key(|p| (std::cmp::Reverse(p.upload_rate), !p.unchoked, p.key));
        }
        ChokerAlgorithm::AntiLeech => {
            c.sort_by_key(|p| {
                let dist = (p.progress_permille as i64 - 500).unsigned_abs();
                (std::cmp::Reverse(dist), !p.unchoked, p.key)
            });
        }
    }
    let mut out: Vec<u64> = c.iter().take(slots).map(|p| p.key).collect();
    out.sort_unstable();
    out
}

/// Picks the optimistic unchoke among interested peers not in `regular`:
/// the one that has waited longest (earliest `interested_at`, then key).
pub(crate) fn pick_optimistic(peers: &[Candidate], regular: &[u64]) -> Option<u64> {
    peers
        .iter()
        .filter(|p| p.interested && regular.binary_search(&p.key).is_err())
        .min_by_key(|p| {
            (
                p.unchoked_at
                    .unwrap_or(p.interested_at)
                    .min(p.interested_at),
                p.key,
            )
        })
        .map(|p| p.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(key: u64, t0: Instant) -> Candidate {
        Candidate {
            key,
            interested: true,
            unchoked: false,
            unchoked_at: None,
            interested_at: t0 + Duration::from_millis(key),
            uploaded_since_unchoke: 0,
            upload_rate: 0,
            progress_permille: 0,
        }
    }

    const I: Duration = Duration::from_secs(10);

    #[test]
    fn uninterested_peers_are_never_unchoked() {
        let t0 = Instant::now();
        let mut peers: Vec<Candidate> = (0..5).map(|k| cand(k, t0)).collect();
        peers[2].interested = false;
        for algo in [
            ChokerAlgorithm::RoundRobin,
            ChokerAlgorithm::FastestUpload,
            ChokerAlgorithm::AntiLeech,
        ] {
            let r = rechoke(algo, 10, &peers, t0, I, 16384);
            assert!(!r.contains(&2));
            let r = rechoke(algo, 2, &peers, t0, I, 16384);
            assert!(!r.contains(&2) && r.len() == 2);
        }
        assert_ne!(pick_optimistic(&peers, &[0, 1, 3, 4]), Some(2));
    }

    #[test]
    fn round_robin_rotates_peers_that_had_their_turn() {
        let t0 = Instant::now();
        let mut peers: Vec<Candidate> = (0..4).map(|k| cand(k, t0)).collect();
        let r1 = rechoke(ChokerAlgorithm::RoundRobin, 2, &peers, t0, I, 16384);
        assert_eq!(r1, vec![0, 1]);
        // 0 and 1 got a full interval and a piece's worth: 2 and 3 get their turn.
        let t1 = t0 + I;
        for p in peers.iter_mut().take(2) {
            p.unchoked = true;
            p.unchoked_at = Some(t0);
            p.uploaded_since_unchoke = 1 << 20;
        }
        assert_eq!(
            rechoke(ChokerAlgorithm::RoundRobin, 2, &peers, t1, I, 16384),
            vec![2, 3]
        );
        // A slot holder that has not yet received a piece's worth keeps its slot.
        peers[0].uploaded_since_unchoke = 100;
        assert_eq!(
            rechoke(ChokerAlgorithm::RoundRobin, 2, &peers, t1, I, 16384),
            vec![0, 2]
        );
    }

    #[test]
    fn fastest_upload_keeps_the_fastest() {
        let t0 = Instant::now();
        let mut peers: Vec<Candidate> = (0..4).map(|k| cand(k, t0)).collect();
        peers[3].upload_rate = 900;
        peers[1].upload_rate = 500;
        assert_eq!(
            rechoke(ChokerAlgorithm::FastestUpload, 2, &peers, t0, I, 16384),
            vec![1, 3]
        );
    }

    #[test]
    fn anti_leech_prefers_new_and_nearly_done_peers() {
        let t0 = Instant::now();
        let mut peers: Vec<Candidate> = (0..4).map(|k| cand(k, t0)).collect();
        peers[0].progress_permille = 500;
        peers[1].progress_permille = 990;
        peers[2].progress_permille = 10;
        peers[3].progress_permille = 600;
        assert_eq!(
            rechoke(ChokerAlgorithm::AntiLeech, 2, &peers, t0, I, 16384),
            vec![1, 2]
        );
    }

    #[test]
    fn unlimited_slots_unchoke_every_interested_peer() {
        let t0 = Instant::now();
        let peers: Vec<Candidate> = (0..50).map(|k| cand(k, t0)).collect();
        assert_eq!(
            rechoke(ChokerAlgorithm::RoundRobin, 0, &peers, t0, I, 16384).len(),
            50
        );
    }
}
