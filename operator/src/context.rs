//! What every reconcile needs: the Kubernetes client, an Event recorder, the REST client, metrics
//! and the failure backoff. One instance per operator process.

use crate::backoff::Backoff;
use crate::connect_cluster::names::default_image;
use crate::metrics::Metrics;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use std::sync::Arc;
use std::time::Duration;

/// Shared state of the controllers.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// HTTP client for Connect REST APIs.
    pub http: reqwest::Client,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// Per-object retry delays.
    pub backoff: Backoff,
    /// How often a healthy resource is checked again (drift repair).
    pub resync: Duration,
    /// The image of workers whose `ConnectCluster` names none (`--worker-image`): where a
    /// registry keeps the images, the operator's default would not be found.
    pub worker_image: String,
}

impl Context {
    /// A context reporting Events as `skiff-operator` (instance `instance`, e.g. the pod name).
    pub fn new(
        client: Client,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
        instance: Option<String>,
        resync: Duration,
    ) -> Self {
        let reporter = Reporter {
            controller: "skiff-operator".into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            http,
            metrics,
            backoff: Backoff::default(),
            resync,
            worker_image: default_image(),
        }
    }
}
