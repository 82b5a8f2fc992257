//! The PodDisruptionBudget: voluntary evictions take one worker at a time.

use super::names::{child_meta, selector_labels};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use skiff_api::crd::ConnectCluster;

/// A PDB allowing one unavailable worker.
pub fn build_pdb(cc: &ConnectCluster) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: child_meta(cc, cc.name_any()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(cc)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::test_support::cluster;

    #[test]
    fn allows_one_unavailable_worker() {
        let cc = cluster("c1");
        let pdb = build_pdb(&cc);
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(
            spec.selector.unwrap().match_labels.unwrap(),
            selector_labels(&cc)
        );
        assert!(pdb.metadata.owner_references.is_some());
    }
}
