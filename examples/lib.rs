//! Nothing but a home for trackflow's examples (`cargo run --example quickstart`): a package of
//! their own, so that running one compiles trackflow and what that example needs, not the test
//! and benchmark tooling.
