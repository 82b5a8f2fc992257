//! Record fixtures shared by tests, benchmarks and the demo: a varied record set, producing it
//! in order, reading a topic back, and comparing two record sets field by field.

use crate::servers::{Kafka, kafka};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header as KafkaHeader, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use skiff_format::{Header, Record, TimestampType};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Records by partition, in offset order.
pub type RecordSet = BTreeMap<i32, Vec<Record>>;

/// How long one read or write of a fixture may take before the caller fails.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A varied record set: keys, null keys, tombstones, empty values, binary, null and repeated
/// headers, and increasing create-time timestamps. Offsets are 0.. per partition.
pub fn sample_records(partitions: i32, per_partition: usize) -> RecordSet {
    let base = 1_700_000_000_000i64;
    (0..partitions)
        .map(|p| {
            let recs = (0..per_partition)
                .map(|i| {
                    let n = p as usize * 100_000 + i;
                    let key = (i % 7 != 3).then(|| format!("key-{n}").into_bytes());
                    let value = match i % 11 {
                        5 => None,
                        6 => Some(Vec::new()),
                        _ => Some(format!("value-{n}-{}", "x".repeat(i % 50)).into_bytes()),
                    };
                    let headers = match i % 5 {
                        0 => vec![],
                        1 => vec![Header {
                            key: "bin".into(),
                            value: Some(vec![0, 255, 1, 254]),
                        }],
                        2 => vec![
                            Header {
                                key: "null".into(),
                                value: None,
                            },
                            Header {
                                key: "dup".into(),
                                value: Some(b"a".to_vec()),
                            },
                            Header {
                                key: "dup".into(),
                                value: Some(b"b".to_vec()),
                            },
                        ],
                        _ => vec![Header {
                            key: "trace".into(),
                            value: Some(format!("t{n}").into_bytes()),
                        }],
                    };
                    Record {
                        offset: i as i64,
                        timestamp: base + n as i64,
                        timestamp_type: TimestampType::CreateTime,
                        key,
                        value,
                        headers,
                    }
                })
                .collect();
            (p, recs)
        })
        .collect()
}

/// Produces records to their partitions, in order, with an idempotent producer, and waits for
/// every acknowledgement.
pub async fn produce(topic: &str, records: &RecordSet) -> Result<(), rdkafka::error::KafkaError> {
    produce_to(kafka(), topic, records).await
}

/// [`produce`] to another cluster (e.g. [`crate::kafka_three`]).
pub async fn produce_to(
    cluster: &Kafka,
    topic: &str,
    records: &RecordSet,
) -> Result<(), rdkafka::error::KafkaError> {
    let producer: FutureProducer = cluster
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    let mut pending = Vec::new();
    for (p, recs) in records {
        for r in recs {
            let mut headers = OwnedHeaders::new();
            for h in &r.headers {
                headers = headers.insert(KafkaHeader {
                    key: &h.key,
                    value: h.value.as_deref(),
                });
            }
            let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .partition(*p)
                .timestamp(r.timestamp)
                .headers(headers);
            if let Some(k) = &r.key {
                fr = fr.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                fr = fr.payload(v.as_slice());
            }
            // `send_result` enqueues now; awaiting `send` one by one would send one at a time.
            loop {
                match producer.send_result(fr) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        back,
                    )) => {
                        fr = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(e),
                }
            }
        }
    }
    for delivery in pending {
        match tokio::time::timeout(IO_TIMEOUT, delivery).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err((e, _)))) => return Err(e),
            Ok(Err(_)) | Err(_) => {
                return Err(rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::MessageTimedOut,
                ));
            }
        }
    }
    Ok(())
}

/// Reads every record of a topic's first `partitions` partitions, from the start to the end
/// offsets they have now.
pub fn consume_all(topic: &str, partitions: i32) -> Result<RecordSet, rdkafka::error::KafkaError> {
    consume_all_from(kafka(), topic, partitions)
}

/// [`consume_all`] from another cluster (e.g. [`crate::kafka_three`]).
pub fn consume_all_from(
    cluster: &Kafka,
    topic: &str,
    partitions: i32,
) -> Result<RecordSet, rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = cluster
        .client_config()
        .set("group.id", "skiff-testenv-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(low))?;
        consumer.assign(&tpl)?;
        let mut recs = Vec::new();
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut next = low;
        while next < high && Instant::now() < deadline {
            let Some(m) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let m = m?;
            next = m.offset() + 1;
            let (timestamp, timestamp_type) = match m.timestamp() {
                rdkafka::Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
                rdkafka::Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
                rdkafka::Timestamp::NotAvailable => (-1, TimestampType::NotAvailable),
            };
            let headers = m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| Header {
                            key: h.key.to_string(),
                            value: h.value.map(<[u8]>::to_vec),
                        })
                        .collect()
                })
                .unwrap_or_default();
            recs.push(Record {
                offset: m.offset(),
                timestamp,
                timestamp_type,
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
        out.insert(p, recs);
    }
    Ok(out)
}

/// Every difference between two record sets (partition, order, key, value, headers, timestamp,
/// and offsets when `offsets`); empty when they are the same.
pub fn differences(expected: &RecordSet, actual: &RecordSet, offsets: bool) -> Vec<String> {
    let mut out = Vec::new();
    if expected.keys().ne(actual.keys()) {
        out.push(format!(
            "partitions differ: expected {:?}, found {:?}",
            expected.keys().collect::<Vec<_>>(),
            actual.keys().collect::<Vec<_>>()
        ));
        return out;
    }
    for (p, exp) in expected {
        let act = &actual[p];
        if exp.len() != act.len() {
            out.push(format!(
                "partition {p}: {} records expected, {} found",
                exp.len(),
                act.len()
            ));
        }
        for (i, (e, a)) in exp.iter().zip(act).enumerate() {
            let mut fields = Vec::new();
            if offsets && e.offset != a.offset {
                fields.push("offset");
            }
            if e.key != a.key {
                fields.push("key");
            }
            if e.value != a.value {
                fields.push("value");
            }
            if e.headers != a.headers {
                fields.push("headers");
            }
            if e.timestamp != a.timestamp {
                fields.push("timestamp");
            }
            if !fields.is_empty() {
                out.push(format!(
                    "partition {p} record {i}: {} differ",
                    fields.join(", ")
                ));
            }
        }
    }
    out
}
