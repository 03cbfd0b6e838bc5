//! `zc` mode's send: a batch of block buffers (read as in [`super::fixed`])
//! goes out with one `IORING_OP_SENDMSG_ZC` on the shard's side ring; the
//! buffers return to the pool when the kernel's notification says it no
//! longer needs them.

use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{opcode, types::Fd};

use crate::config::SendMode;
use crate::shard::buffers::BlockBuf;
use crate::shard::peer::Peer;
use crate::shard::side_ring::SideRing;
use crate::shard::ShardState;

/// Buffers a zerocopy send lent the kernel: back to the shard's pool when
/// dropped (after the send's notification).
struct ZcBufs {
    shard: Rc<ShardState>,
    ranges: Vec<(BlockBuf, std::ops::Range<usize>)>,
}

impl Drop for ZcBufs {
    fn drop(&mut self) {
        for (b, _) in self.ranges.drain(..) {
            self.shard.buffers.put(b);
        }
    }
}

/// What a zerocopy send must keep alive until its notification.
type ZcKeep = (Vec<libc::iovec>, Box<libc::msghdr>, ZcBufs, Rc<Peer>);

/// The buffers of a zerocopy send's keep box, taken back for more sending.
fn take_ranges(keep: Box<dyn std::any::Any>) -> Vec<(BlockBuf, std::ops::Range<usize>)> {
    let (_, _, mut bufs, _) = *keep.downcast::<ZcKeep>().expect("zc keep");
    std::mem::take(&mut bufs.ranges)
}

/// Sends the ranges with one `SENDMSG_ZC` (`MSG_WAITALL`); returns the bytes
/// sent (the caller sends any rest with `writev`). A kernel or socket that
/// refuses zerocopy switches the shard to `fixed` (0 bytes sent).
pub(super) async fn send_zc(
    shard: &Rc<ShardState>,
    side: &Rc<SideRing>,
    peer: &Rc<Peer>,
    ranges: Vec<(BlockBuf, std::ops::Range<usize>)>,
) -> (
    std::io::Result<usize>,
    Vec<(BlockBuf, std::ops::Range<usize>)>,
) {
    let iovs: Vec<libc::iovec> = ranges
        .iter()
        .map(|(b, r)| libc::iovec {
            // SAFETY: the range lies inside the buffer (a block and its headroom).
            iov_base: unsafe { b.base().add(r.start) } as *mut libc::c_void,
            iov_len: r.len(),
        })
        .collect();
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
    msg.msg_iov = iovs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iovs.len() as _;
    let op = opcode::SendMsgZc::new(Fd(peer.stream.as_raw_fd()), &*msg as *const libc::msghdr)
        .flags(libc::MSG_WAITALL as u32)
        .build();
    shard.count_op();
    let total: usize = ranges.iter().map(|(_, r)| r.len()).sum();
    let bufs = ZcBufs {
        shard: shard.clone(),
        ranges,
    };
    let keep: Box<dyn std::any::Any> = Box::new((iovs, msg, bufs, peer.clone()) as ZcKeep);
    let (res, keep) = match side.submit_early(vec![op], keep) {
        Ok(c) => c.await,
        Err((e, keep)) => {
            // Nothing was queued: send it all with writev.
            shard.send_path_failed(SendMode::Zc, &e);
            return (Ok(0), take_ranges(keep));
        }
    };
    let r = res[0].result;
    let Some(keep) = keep else {
        // The kernel still holds the memory: the buffers go back to the
        // pool when its notification arrives (ZcBufs' Drop). The send
        // took everything (MSG_WAITALL) or the connection is broken.
        return if r >= 0 && r as usize == total {
            (Ok(total), Vec::new())
        } else {
            (Err(std::io::ErrorKind::BrokenPipe.into()), Vec::new())
        };
    };
    let ranges = take_ranges(keep);
    if r >= 0 {
        return (Ok(r as usize), ranges);
    }
    let e = std::io::Error::from_raw_os_error(-r);
    if -r == libc::EOPNOTSUPP || -r == libc::EINVAL {
        shard.send_path_failed(SendMode::Zc, &e);
        return (Ok(0), ranges);
    }
    (Err(e), ranges)
}
