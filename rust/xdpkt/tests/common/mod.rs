#[allow(dead_code)]
pub mod counting;
#[allow(dead_code)]
pub mod frames;
