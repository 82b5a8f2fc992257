//! Prints the CRDs of both resources as one YAML stream; `crds/*.yaml` are its committed output.
//! With a directory argument it writes `connectcluster.yaml` and `kafkaconnector.yaml` there.

use kube::CustomResourceExt;
use skiff_api::crd::{ConnectCluster, KafkaConnector};
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let documents = [
        (
            "connectcluster.yaml",
            serde_yaml_ng::to_string(&ConnectCluster::crd())?,
        ),
        (
            "kafkaconnector.yaml",
            serde_yaml_ng::to_string(&KafkaConnector::crd())?,
        ),
    ];
    match std::env::args().nth(1) {
        Some(dir) => {
            for (file, yaml) in &documents {
                std::fs::write(Path::new(&dir).join(file), yaml)?;
            }
        }
        None => {
            let stream: Vec<&str> = documents.iter().map(|(_, yaml)| yaml.as_str()).collect();
            print!("---\n{}", stream.join("---\n"));
        }
    }
    Ok(())
}
