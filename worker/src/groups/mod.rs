//! Consumer-group requests the worker sends over its own connections (the `kafka-protocol`
//! crate, as distributed mode's membership does) where a librdkafka client per call would cost a
//! client, its threads and a login each time, or cannot send the request at all: reading
//! committed offsets, and taking a killed sink consumer out of its group.

pub mod brokers;
pub(crate) mod committed_offsets;
pub mod previous_consumer;
