//! Project automation. Placeholder until the xtask commands land.
fn main() {}
