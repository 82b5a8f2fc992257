//! Which namespaces the operator watches: one, a list, or all.

use k8s_openapi::NamespaceResourceScope;
use kube::{Api, Client, Resource};

/// The namespaces to watch; empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchScope {
    /// Namespaces to watch, or empty for the whole cluster.
    pub namespaces: Vec<String>,
}

impl WatchScope {
    /// One entry per controller instance to run: `None` for the whole cluster.
    pub fn targets(&self) -> Vec<Option<String>> {
        if self.namespaces.is_empty() {
            vec![None]
        } else {
            self.namespaces.iter().cloned().map(Some).collect()
        }
    }
}

/// An API of kind `K` in `namespace`, or across all namespaces.
pub fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scope_means_all_namespaces() {
        assert_eq!(WatchScope::default().targets(), vec![None]);
        let scope = WatchScope {
            namespaces: vec!["a".into(), "b".into()],
        };
        assert_eq!(scope.targets(), vec![Some("a".into()), Some("b".into())]);
    }
}
