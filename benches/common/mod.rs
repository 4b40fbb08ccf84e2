//! The standard workload every bench measures (see issue 8): event `purchase`, ten properties
//! (3 strings, 2 integers, 2 floats, a bool, a list of 3 strings, a timestamp).

use trackflow::{Properties, Value};

/// The standard event's properties for the `i`-th event.
pub fn standard_properties(i: u64) -> Properties {
    Properties::with_capacity(10)
        .with("product", "book")
        .with("category", "programming")
        .with("currency", "USD")
        .with("qty", (i % 5) as i64)
        .with("order_id", i as i64)
        .with("price", 9.9)
        .with("discount", 0.15)
        .with("vip", i.is_multiple_of(2))
        .with("tags", vec!["red", "blue", "green"])
        .with("at", Value::Time(1_700_000_000_000))
}
