//! The binary's own modules: the control CLI's client, the IPC client and
//! the demo (which links the load generator; the daemon's library does not).

pub mod client;
pub mod demo;
pub mod ipc;
