//! Removing an annotation the operator has acted on (restart, offsets), so it runs once.

use crate::context::Context;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use skiff_api::crd::KafkaConnector;

/// Removes a handled annotation; a failure only means it is handled again next time.
pub async fn remove_annotation(ctx: &Context, kc: &KafkaConnector, annotation: &str) {
    let api: Api<KafkaConnector> =
        Api::namespaced(ctx.client.clone(), &kc.namespace().unwrap_or_default());
    let patch = serde_json::json!({"metadata": {"annotations": {annotation: null}}});
    if let Err(e) = api
        .patch(
            &kc.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        tracing::warn!(connector = %kc.name_any(), error = %e, "could not remove annotation {annotation}");
    }
}
