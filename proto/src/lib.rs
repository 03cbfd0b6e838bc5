pub mod metainfo;
pub mod wire;
