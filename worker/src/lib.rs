//! skiff-worker: a Kafka Connect-compatible worker with built-in S3 backup and restore
//! connectors. The binary is thin; everything lives here so tests can start a worker in-process.

pub mod allocator;
pub mod config;
pub mod connectors;
pub mod distributed;
pub mod groups;
pub mod herder;
pub mod logging;
pub mod rest;
pub mod runtime;
pub mod standalone;
pub mod storage;
