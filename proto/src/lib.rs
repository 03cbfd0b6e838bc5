pub mod metainfo;
pub mod tracker;
pub mod wire;
