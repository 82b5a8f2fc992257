//! Operator metrics in the Prometheus text format: reconciles and failures per controller, and
//! whether this replica leads.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of one controller.
#[derive(Debug, Default)]
pub struct ControllerMetrics {
    reconciles: AtomicU64,
    failures: AtomicU64,
}

impl ControllerMetrics {
    /// Counts a reconcile.
    pub fn reconciled(&self) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed reconcile.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// All metrics of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The ConnectCluster controller.
    pub connect_cluster: ControllerMetrics,
    /// The KafkaConnector controller.
    pub kafka_connector: ControllerMetrics,
    /// Whether this replica holds the leader Lease.
    pub leader: AtomicBool,
}

impl Metrics {
    /// The Prometheus exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP skiff_operator_reconciles_total Reconciles started.\n");
        out.push_str("# TYPE skiff_operator_reconciles_total counter\n");
        for (name, m) in self.controllers() {
            let _ = writeln!(
                out,
                "skiff_operator_reconciles_total{{controller=\"{name}\"}} {}",
                m.reconciles.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP skiff_operator_reconcile_failures_total Reconciles that failed.\n");
        out.push_str("# TYPE skiff_operator_reconcile_failures_total counter\n");
        for (name, m) in self.controllers() {
            let _ = writeln!(
                out,
                "skiff_operator_reconcile_failures_total{{controller=\"{name}\"}} {}",
                m.failures.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP skiff_operator_leader Whether this replica leads (1) or waits (0).\n");
        out.push_str("# TYPE skiff_operator_leader gauge\n");
        let _ = writeln!(
            out,
            "skiff_operator_leader {}",
            u8::from(self.leader.load(Ordering::Relaxed))
        );
        out
    }

    fn controllers(&self) -> [(&'static str, &ControllerMetrics); 2] {
        [
            ("connectcluster", &self.connect_cluster),
            ("kafkaconnector", &self.kafka_connector),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_per_controller() {
        let m = Metrics::default();
        m.kafka_connector.reconciled();
        m.kafka_connector.failed();
        m.leader.store(true, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("skiff_operator_reconciles_total{controller=\"kafkaconnector\"} 1"));
        assert!(
            text.contains(
                "skiff_operator_reconcile_failures_total{controller=\"connectcluster\"} 0"
            )
        );
        assert!(text.contains("skiff_operator_leader 1"));
    }
}
