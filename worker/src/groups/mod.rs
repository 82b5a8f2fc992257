//! Consumer-group requests the worker sends over its own connections (the `kafka-protocol`
//! crate, as distributed mode's membership does) where a librdkafka client per call would cost a
//! client, its threads and a login each time, or cannot send the request at all: reading
//! committed offsets, and removing a sink task's static member when the task goes away.

pub mod brokers;
pub(crate) mod committed_offsets;
pub mod static_member;
