//! Server-side apply under the operator's single field manager, so that fields it stops setting
//! are removed and fields others own (an HPA's replicas) are left alone.

use crate::error::Result;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "skiff-operator";

/// Applies `obj` (a complete desired object) and returns the object as stored.
pub async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Ok(api
        .patch(&obj.name_any(), &params, &Patch::Apply(obj))
        .await?)
}

/// Applies the `status` of a resource through its status subresource.
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Ok(api
        .patch_status(name, &params, &Patch::Apply(&body))
        .await?)
}
