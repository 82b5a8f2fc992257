//! The records of the three internal topics, byte for byte as Apache Kafka Connect 4.x writes
//! them (string keys; JSON values with schemas disabled), so Skiff and Connect workers can read
//! each other's topics. Pure: no I/O.

use crate::config::properties::Properties;
use crate::runtime::offsets::JsonMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skiff_api::rest::{State, TargetState};

/// A record of the config topic, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigRecord {
    /// `connector-<name>`: the connector's configuration; `None` means deleted.
    Connector(String, Option<Properties>),
    /// `task-<name>-<n>`: one task's configuration, applied when the commit arrives.
    Task(String, u32, Properties),
    /// `commit-<name>`: the connector's task configurations written so far are complete.
    Commit(String, u32),
    /// `target-state-<name>`; `None` when removed.
    Target(String, Option<TargetState>),
    /// `restart-connector-<name>`.
    Restart(String, RestartRequest),
    /// Anything else Connect writes (session keys, fencing, logger levels): kept out of the way.
    Other,
}

/// A restart request as the config topic carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRequest {
    #[serde(rename = "include-tasks", default)]
    pub include_tasks: bool,
    #[serde(rename = "only-failed", default)]
    pub only_failed: bool,
}

#[derive(Serialize, Deserialize)]
struct PropertiesValue {
    properties: Properties,
}

#[derive(Serialize, Deserialize)]
struct CommitValue {
    tasks: u32,
}

#[derive(Serialize, Deserialize)]
struct TargetValue {
    state: String,
    #[serde(rename = "state.v2", default, skip_serializing_if = "Option::is_none")]
    state_v2: Option<String>,
}

/// The config topic key of a connector's configuration.
pub fn connector_key(name: &str) -> String {
    format!("connector-{name}")
}

/// The config topic key of one task's configuration.
pub fn task_key(name: &str, task: u32) -> String {
    format!("task-{name}-{task}")
}

/// The config topic key that commits a connector's task configurations.
pub fn commit_key(name: &str) -> String {
    format!("commit-{name}")
}

/// The config topic key of a connector's target state.
pub fn target_key(name: &str) -> String {
    format!("target-state-{name}")
}

/// The config topic key of a connector's restart request.
pub fn restart_key(name: &str) -> String {
    format!("restart-connector-{name}")
}

fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs of strings and numbers cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// `{"properties":{...}}`: a connector or task configuration.
pub fn properties_value(config: &Properties) -> Vec<u8> {
    to_vec(&PropertiesValue {
        properties: config.clone(),
    })
}

/// `{"tasks":N}`.
pub fn commit_value(tasks: u32) -> Vec<u8> {
    to_vec(&CommitValue { tasks })
}

/// `{"state":...,"state.v2":...}`: STOPPED is written as PAUSED in `state` for old readers.
pub fn target_value(target: TargetState) -> Vec<u8> {
    let (v1, v2) = match target {
        TargetState::Running => ("STARTED", "STARTED"),
        TargetState::Paused => ("PAUSED", "PAUSED"),
        TargetState::Stopped => ("PAUSED", "STOPPED"),
    };
    to_vec(&TargetValue {
        state: v1.into(),
        state_v2: Some(v2.into()),
    })
}

/// `{"include-tasks":...,"only-failed":...}`.
pub fn restart_value(r: RestartRequest) -> Vec<u8> {
    to_vec(&r)
}

fn parse_target(s: &str) -> Option<TargetState> {
    match s {
        "STARTED" => Some(TargetState::Running),
        "PAUSED" => Some(TargetState::Paused),
        "STOPPED" => Some(TargetState::Stopped),
        _ => None,
    }
}

/// Decodes one config topic record; a malformed value of a known key is an error naming it.
pub fn decode_config(key: &str, value: Option<&[u8]>) -> Result<ConfigRecord, String> {
    let bad = |e: serde_json::Error| format!("config topic record '{key}' is malformed: {e}");
    if let Some(name) = key.strip_prefix("connector-") {
        let props = match value {
            None => None,
            Some(v) => Some(
                serde_json::from_slice::<PropertiesValue>(v)
                    .map_err(bad)?
                    .properties,
            ),
        };
        return Ok(ConfigRecord::Connector(name.to_string(), props));
    }
    if let Some(rest) = key.strip_prefix("task-") {
        let Some((name, n)) = rest.rsplit_once('-') else {
            return Ok(ConfigRecord::Other);
        };
        let (Ok(n), Some(v)) = (n.parse::<u32>(), value) else {
            return Ok(ConfigRecord::Other);
        };
        let props = serde_json::from_slice::<PropertiesValue>(v)
            .map_err(bad)?
            .properties;
        return Ok(ConfigRecord::Task(name.to_string(), n, props));
    }
    if let Some(name) = key.strip_prefix("commit-") {
        let Some(v) = value else {
            return Ok(ConfigRecord::Other);
        };
        let c: CommitValue = serde_json::from_slice(v).map_err(bad)?;
        return Ok(ConfigRecord::Commit(name.to_string(), c.tasks));
    }
    if let Some(name) = key.strip_prefix("target-state-") {
        let target = match value {
            None => None,
            Some(v) => {
                let t: TargetValue = serde_json::from_slice(v).map_err(bad)?;
                let s = t.state_v2.as_deref().unwrap_or(&t.state);
                Some(parse_target(s).ok_or_else(|| {
                    format!("config topic record '{key}' has an unknown state '{s}'")
                })?)
            }
        };
        return Ok(ConfigRecord::Target(name.to_string(), target));
    }
    if let Some(name) = key.strip_prefix("restart-connector-") {
        let Some(v) = value else {
            return Ok(ConfigRecord::Other);
        };
        let r: RestartRequest = serde_json::from_slice(v).map_err(bad)?;
        return Ok(ConfigRecord::Restart(name.to_string(), r));
    }
    Ok(ConfigRecord::Other)
}

/// A connector or task status record (`status-connector-<name>`, `status-task-<name>-<n>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusValue {
    pub state: String,
    pub trace: Option<String>,
    pub worker_id: String,
    pub generation: i32,
}

impl StatusValue {
    /// The REST state; `None` for DESTROYED and states this version does not know.
    pub fn rest_state(&self) -> Option<State> {
        serde_json::from_value(Value::String(self.state.clone())).ok()
    }
}

/// What a status topic key names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusKey {
    Connector(String),
    Task(String, u32),
}

impl StatusKey {
    /// The key as written to the topic.
    pub fn encode(&self) -> String {
        match self {
            StatusKey::Connector(n) => format!("status-connector-{n}"),
            StatusKey::Task(n, t) => format!("status-task-{n}-{t}"),
        }
    }

    /// Parses a status topic key; `None` for other keys (topic tracking records).
    pub fn decode(key: &str) -> Option<StatusKey> {
        if let Some(n) = key.strip_prefix("status-connector-") {
            return Some(StatusKey::Connector(n.to_string()));
        }
        let rest = key.strip_prefix("status-task-")?;
        let (n, t) = rest.rsplit_once('-')?;
        Some(StatusKey::Task(n.to_string(), t.parse().ok()?))
    }
}

/// Encodes a status value.
pub fn status_value(v: &StatusValue) -> Vec<u8> {
    to_vec(v)
}

/// The offsets topic key `["<connector>",{partition}]`.
pub fn offset_key(connector: &str, partition: &JsonMap) -> Vec<u8> {
    to_vec(&(connector, partition))
}

/// Decodes an offsets topic record; `None` for keys that are not `[name, {partition}]`.
pub fn decode_offset(
    key: &[u8],
    value: Option<&[u8]>,
) -> Option<(String, JsonMap, Option<JsonMap>)> {
    let (connector, partition): (String, JsonMap) = serde_json::from_slice(key).ok()?;
    let offset = match value {
        None => None,
        Some(v) => Some(serde_json::from_slice::<JsonMap>(v).ok()?),
    };
    Some((connector, partition, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;
    use serde_json::json;

    #[test]
    fn values_are_byte_equal_to_apache_connect() {
        let cfg = props(&[("connector.class", "FileStreamSink"), ("tasks.max", "1")]);
        assert_eq!(
            String::from_utf8(properties_value(&cfg)).unwrap(),
            r#"{"properties":{"connector.class":"FileStreamSink","tasks.max":"1"}}"#
        );
        assert_eq!(commit_value(3), br#"{"tasks":3}"#);
        assert_eq!(
            target_value(TargetState::Running),
            br#"{"state":"STARTED","state.v2":"STARTED"}"#
        );
        assert_eq!(
            target_value(TargetState::Paused),
            br#"{"state":"PAUSED","state.v2":"PAUSED"}"#
        );
        assert_eq!(
            target_value(TargetState::Stopped),
            br#"{"state":"PAUSED","state.v2":"STOPPED"}"#
        );
        assert_eq!(
            restart_value(RestartRequest {
                include_tasks: true,
                only_failed: false
            }),
            br#"{"include-tasks":true,"only-failed":false}"#
        );
        let st = StatusValue {
            state: "RUNNING".into(),
            trace: None,
            worker_id: "10.0.0.1:8083".into(),
            generation: 4,
        };
        assert_eq!(
            status_value(&st),
            br#"{"state":"RUNNING","trace":null,"worker_id":"10.0.0.1:8083","generation":4}"#
        );
        let part = json!({"source": "t/0"}).as_object().unwrap().clone();
        assert_eq!(offset_key("c", &part), br#"["c",{"source":"t/0"}]"#);
    }

    #[test]
    fn config_records_decode() {
        let v = properties_value(&props(&[("a", "b")]));
        assert_eq!(
            decode_config("task-my-conn-12", Some(&v)).unwrap(),
            ConfigRecord::Task("my-conn".into(), 12, props(&[("a", "b")]))
        );
        assert_eq!(
            decode_config("connector-x", None).unwrap(),
            ConfigRecord::Connector("x".into(), None)
        );
        assert_eq!(
            decode_config("commit-x", Some(br#"{"tasks":2}"#)).unwrap(),
            ConfigRecord::Commit("x".into(), 2)
        );
        // Connect 2.x wrote only `state`.
        assert_eq!(
            decode_config("target-state-x", Some(br#"{"state":"PAUSED"}"#)).unwrap(),
            ConfigRecord::Target("x".into(), Some(TargetState::Paused))
        );
        assert_eq!(
            decode_config(
                "target-state-x",
                Some(br#"{"state":"PAUSED","state.v2":"STOPPED"}"#)
            )
            .unwrap(),
            ConfigRecord::Target("x".into(), Some(TargetState::Stopped))
        );
        assert_eq!(
            decode_config("session-key", Some(br#"{"key":"abc"}"#)).unwrap(),
            ConfigRecord::Other
        );
        assert!(
            decode_config("connector-x", Some(b"not json"))
                .unwrap_err()
                .contains("connector-x")
        );
    }

    #[test]
    fn status_and_offset_keys_round_trip() {
        for k in [
            StatusKey::Connector("a-b".into()),
            StatusKey::Task("a-b".into(), 3),
        ] {
            assert_eq!(StatusKey::decode(&k.encode()), Some(k));
        }
        assert_eq!(StatusKey::decode("status-topic-t:connector-c"), None);
        let (c, p, o) = decode_offset(
            br#"["c",{"source":"t/0"}]"#,
            Some(br#"{"lastReadOffset":5}"#),
        )
        .unwrap();
        assert_eq!(c, "c");
        assert_eq!(p["source"], "t/0");
        assert_eq!(o.unwrap()["lastReadOffset"], 5);
    }
}
