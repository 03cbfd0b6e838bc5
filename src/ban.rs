//! The ban list: addresses whose misbehaviour score reached 100, and until
//! when they are refused. The coordinator writes it (on a shard's
//! `ShardEvent::Ban`); every shard reads it at accept. Neither owns the
//! other, so the type lives here, beside both.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

/// Banned addresses and until when, shared by all shards (written by the
/// coordinator, read at accept).
pub(crate) type BanList = Arc<RwLock<HashMap<IpAddr, Instant>>>;
