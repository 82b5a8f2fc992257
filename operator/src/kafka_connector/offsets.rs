//! Offsets by annotation, as Strimzi does it: `skiff.dev/connector-offsets: list` writes the
//! connector's offsets into the ConfigMap of `spec.listOffsets`; `alter` sets them from the
//! ConfigMap of `spec.alterOffsets`; `reset` deletes them. Alter and reset only run on a stopped
//! connector (`spec.state: stopped`), which is what the REST API itself demands. The annotation
//! is removed once the request is done or refused, with an Event saying which.

use super::annotations::remove_annotation;
use crate::apply::FIELD_MANAGER;
use crate::connect_rest::{ConnectRest, RestError};
use crate::context::Context;
use crate::events;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::Value;
use skiff_api::crd::{ConnectorTargetState, KafkaConnector, OFFSETS_ANNOTATION, OFFSETS_KEY};
use skiff_api::rest::State;
use std::collections::BTreeMap;

/// What the annotation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetsAction {
    /// Write the offsets into `spec.listOffsets.toConfigMap`.
    List,
    /// Set the offsets from `spec.alterOffsets.fromConfigMap`.
    Alter,
    /// Delete the offsets, so the connector starts from scratch.
    Reset,
}

/// Parses the annotation's value.
pub fn parse_offsets_action(value: &str) -> Result<OffsetsAction, String> {
    match value.trim() {
        "list" => Ok(OffsetsAction::List),
        "alter" => Ok(OffsetsAction::Alter),
        "reset" => Ok(OffsetsAction::Reset),
        other => Err(format!(
            "{OFFSETS_ANNOTATION}: unknown value {other:?} (list, alter or reset)"
        )),
    }
}

/// What to do with a request now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsPlan {
    /// Run it, with the ConfigMap it writes to or reads from.
    Run(OffsetsAction, Option<String>),
    /// The connector is still stopping: keep the annotation and try again.
    Wait,
    /// Refuse it with this message and drop the annotation.
    Refuse(String),
}

/// Decides about a request from the spec and the connector's actual state (`None`: absent).
pub fn plan(kc: &KafkaConnector, action: OffsetsAction, actual: Option<State>) -> OffsetsPlan {
    let config_map = match action {
        OffsetsAction::List => match &kc.spec.list_offsets {
            Some(list) => Some(list.to_config_map.name.clone()),
            None => {
                return OffsetsPlan::Refuse(
                    "set spec.listOffsets.toConfigMap.name to the ConfigMap to write the offsets to"
                        .into(),
                );
            }
        },
        OffsetsAction::Alter => match &kc.spec.alter_offsets {
            Some(alter) => Some(alter.from_config_map.name.clone()),
            None => {
                return OffsetsPlan::Refuse(
                    "set spec.alterOffsets.fromConfigMap.name to the ConfigMap holding the offsets"
                        .into(),
                );
            }
        },
        OffsetsAction::Reset => None,
    };
    if actual.is_none() {
        return OffsetsPlan::Refuse("the connector does not exist on its cluster".into());
    }
    if action != OffsetsAction::List {
        if kc.spec.state != ConnectorTargetState::Stopped {
            return OffsetsPlan::Refuse(
                "offsets can only be altered or reset while the connector is stopped: set spec.state: stopped".into(),
            );
        }
        if actual != Some(State::Stopped) {
            return OffsetsPlan::Wait;
        }
    }
    OffsetsPlan::Run(action, config_map)
}

/// The ConfigMap `list` writes: the REST API's offsets document, owned by the connector so it
/// goes with it.
pub fn offsets_config_map(kc: &KafkaConnector, name: &str, offsets: &Value) -> ConfigMap {
    let text = serde_json::to_string_pretty(offsets).unwrap_or_else(|_| offsets.to_string());
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: kc.namespace(),
            owner_references: kc.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(OFFSETS_KEY.to_owned(), text)])),
        ..Default::default()
    }
}

/// Whether a ConfigMap belongs to the connector (an earlier `list` wrote it), so `list` may
/// overwrite it.
pub fn owned_by(cm: &ConfigMap, kc: &KafkaConnector) -> bool {
    let uid = kc.metadata.uid.as_deref();
    cm.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "KafkaConnector" && Some(o.uid.as_str()) == uid)
}

/// The offsets document an `alter` sends, read from the ConfigMap and checked for the shape the
/// REST API expects.
pub fn offsets_from_config_map(cm: &ConfigMap) -> Result<Value, String> {
    let name = cm.name_any();
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(OFFSETS_KEY))
        .ok_or_else(|| {
            format!("ConfigMap {name} has no key {OFFSETS_KEY}; write it with `list` first")
        })?;
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| format!("ConfigMap {name} key {OFFSETS_KEY} is not JSON: {e}"))?;
    if !doc["offsets"].is_array() {
        return Err(format!(
            "ConfigMap {name} key {OFFSETS_KEY} needs an \"offsets\" array of {{\"partition\": ..., \"offset\": ...}}"
        ));
    }
    Ok(doc)
}

/// Carries out the annotation's request, if there is one. A refusal from the cluster (4xx) is
/// reported and the annotation dropped; an unreachable cluster is an error, and the annotation
/// stays for the next attempt.
pub async fn offsets_request(
    kc: &KafkaConnector,
    ctx: &Context,
    rest: &ConnectRest,
    name: &str,
    actual: Option<State>,
) -> Result<(), RestError> {
    let Some(value) = kc.annotations().get(OFFSETS_ANNOTATION) else {
        return Ok(());
    };
    let reference = kc.object_ref(&());
    let outcome = match parse_offsets_action(value).map(|a| plan(kc, a, actual)) {
        Err(e) => Err(e),
        Ok(OffsetsPlan::Wait) => return Ok(()),
        Ok(OffsetsPlan::Refuse(why)) => Err(why),
        Ok(OffsetsPlan::Run(action, config_map)) => {
            match run(kc, ctx, rest, name, action, config_map.as_deref()).await {
                Ok(done) => Ok(done),
                Err(Failure::Refused(why)) => Err(why),
                Err(Failure::Rest(e)) if e.status().is_some_and(|s| s < 500) => Err(e.to_string()),
                Err(Failure::Rest(e)) => return Err(e),
                Err(Failure::Kube(kube::Error::Api(e)))
                    if (400..500).contains(&e.code) && e.code != 409 && e.code != 429 =>
                {
                    Err(e.message)
                }
                Err(Failure::Kube(e)) => {
                    tracing::warn!(connector = name, error = %e, "offsets request postponed");
                    return Ok(());
                }
            }
        }
    };
    match outcome {
        Ok((reason, note)) => {
            events::publish(ctx, &reference, true, reason, &note, "Offsets").await
        }
        Err(why) => {
            let note = format!("{value} offsets refused: {why}");
            events::publish(ctx, &reference, false, "OffsetsRefused", &note, "Offsets").await
        }
    }
    remove_annotation(ctx, kc, OFFSETS_ANNOTATION).await;
    Ok(())
}

/// Why a request could not be carried out.
enum Failure {
    Refused(String),
    Rest(RestError),
    Kube(kube::Error),
}

impl From<RestError> for Failure {
    fn from(e: RestError) -> Self {
        Failure::Rest(e)
    }
}

/// Performs a planned request; returns the Event reason and note.
async fn run(
    kc: &KafkaConnector,
    ctx: &Context,
    rest: &ConnectRest,
    name: &str,
    action: OffsetsAction,
    config_map: Option<&str>,
) -> Result<(&'static str, String), Failure> {
    let ns = kc.namespace().unwrap_or_default();
    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    match (action, config_map) {
        (OffsetsAction::List, Some(cm)) => {
            let foreign = config_maps
                .get_opt(cm)
                .await
                .map_err(Failure::Kube)?
                .is_some_and(|existing| !owned_by(&existing, kc));
            if foreign {
                return Err(Failure::Refused(format!(
                    "ConfigMap {cm} exists and was not written by this connector's list; name a new ConfigMap in spec.listOffsets.toConfigMap"
                )));
            }
            let offsets = rest.offsets(name).await?;
            let count = offsets["offsets"].as_array().map_or(0, Vec::len);
            config_maps
                .patch(
                    cm,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&offsets_config_map(kc, cm, &offsets)),
                )
                .await
                .map_err(Failure::Kube)?;
            Ok((
                "OffsetsListed",
                format!("{count} partition offsets written to ConfigMap {cm}"),
            ))
        }
        (OffsetsAction::Alter, Some(cm)) => {
            let Some(map) = config_maps.get_opt(cm).await.map_err(Failure::Kube)? else {
                return Err(Failure::Refused(format!("ConfigMap {cm} does not exist")));
            };
            let offsets = offsets_from_config_map(&map).map_err(Failure::Refused)?;
            let message = rest.alter_offsets(name, &offsets).await?;
            Ok(("OffsetsAltered", format!("from ConfigMap {cm}: {message}")))
        }
        (OffsetsAction::Reset, _) => Ok(("OffsetsReset", rest.reset_offsets(name).await?)),
        (_, None) => Err(Failure::Refused("no ConfigMap named".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_connector::test_support::connector;
    use serde_json::json;
    use skiff_api::crd::{AlterOffsets, ConfigMapRef, ListOffsets};

    fn with_config_maps(state: ConnectorTargetState) -> KafkaConnector {
        let mut kc = connector("c1");
        kc.metadata.uid = Some("uid-1".into());
        kc.spec.state = state;
        kc.spec.list_offsets = Some(ListOffsets {
            to_config_map: ConfigMapRef { name: "out".into() },
        });
        kc.spec.alter_offsets = Some(AlterOffsets {
            from_config_map: ConfigMapRef { name: "in".into() },
        });
        kc
    }

    #[test]
    fn annotation_values() {
        assert_eq!(parse_offsets_action("list"), Ok(OffsetsAction::List));
        assert_eq!(parse_offsets_action(" alter "), Ok(OffsetsAction::Alter));
        assert_eq!(parse_offsets_action("reset"), Ok(OffsetsAction::Reset));
        let e = parse_offsets_action("delete").unwrap_err();
        assert!(e.contains("list, alter or reset"), "{e}");
    }

    #[test]
    fn listing_works_in_any_state_and_needs_its_config_map() {
        let kc = with_config_maps(ConnectorTargetState::Running);
        assert_eq!(
            plan(&kc, OffsetsAction::List, Some(State::Running)),
            OffsetsPlan::Run(OffsetsAction::List, Some("out".into()))
        );
        let mut bare = kc.clone();
        bare.spec.list_offsets = None;
        let OffsetsPlan::Refuse(why) = plan(&bare, OffsetsAction::List, Some(State::Running))
        else {
            panic!("listing without a ConfigMap must be refused");
        };
        assert!(why.contains("spec.listOffsets.toConfigMap.name"), "{why}");
        assert!(matches!(
            plan(&kc, OffsetsAction::List, None),
            OffsetsPlan::Refuse(_)
        ));
    }

    #[test]
    fn altering_and_resetting_need_a_stopped_connector() {
        let running = with_config_maps(ConnectorTargetState::Running);
        for action in [OffsetsAction::Alter, OffsetsAction::Reset] {
            let OffsetsPlan::Refuse(why) = plan(&running, action, Some(State::Running)) else {
                panic!("{action:?} on a running connector must be refused");
            };
            assert!(why.contains("spec.state: stopped"), "{why}");
        }
        let stopped = with_config_maps(ConnectorTargetState::Stopped);
        assert_eq!(
            plan(&stopped, OffsetsAction::Alter, Some(State::Running)),
            OffsetsPlan::Wait,
            "still stopping"
        );
        assert_eq!(
            plan(&stopped, OffsetsAction::Alter, Some(State::Stopped)),
            OffsetsPlan::Run(OffsetsAction::Alter, Some("in".into()))
        );
        assert_eq!(
            plan(&stopped, OffsetsAction::Reset, Some(State::Stopped)),
            OffsetsPlan::Run(OffsetsAction::Reset, None)
        );
        let mut bare = stopped.clone();
        bare.spec.alter_offsets = None;
        assert!(matches!(
            plan(&bare, OffsetsAction::Alter, Some(State::Stopped)),
            OffsetsPlan::Refuse(_)
        ));
    }

    #[test]
    fn listed_offsets_round_trip_through_the_config_map() {
        let kc = with_config_maps(ConnectorTargetState::Stopped);
        let doc = json!({"offsets": [{"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"kafka_offset": 5}}]});
        let cm = offsets_config_map(&kc, "out", &doc);
        assert_eq!(cm.metadata.namespace.as_deref(), Some("ns"));
        let owner = &cm.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("KafkaConnector", "c1")
        );
        assert_eq!(offsets_from_config_map(&cm).unwrap(), doc);
        assert!(owned_by(&cm, &kc), "list may overwrite its own ConfigMap");
        let mut foreign = cm.clone();
        foreign.metadata.owner_references = None;
        assert!(!owned_by(&foreign, &kc), "nor anyone else's");
    }

    #[test]
    fn bad_config_maps_name_the_key_and_the_fix() {
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("in".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = offsets_from_config_map(&cm).unwrap_err();
        assert!(e.contains("no key offsets.json"), "{e}");
        cm.data = Some(BTreeMap::from([(OFFSETS_KEY.into(), "{".into())]));
        assert!(
            offsets_from_config_map(&cm)
                .unwrap_err()
                .contains("not JSON")
        );
        cm.data = Some(BTreeMap::from([(OFFSETS_KEY.into(), "{}".into())]));
        assert!(
            offsets_from_config_map(&cm)
                .unwrap_err()
                .contains("\"offsets\" array")
        );
    }
}
