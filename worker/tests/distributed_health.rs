//! `GET /health` of a distributed worker, as KIP-1017 has it: healthy while in its group; once
//! it has been out of its group for longer than 2 x `rebalance.timeout.ms` +
//! `session.timeout.ms` (here: cut off from Kafka), 500 `unhealthy` with the reason, so probes
//! and people see a stuck worker; healthy again once it is back.

mod common;

use common::*;
use serde_json::json;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_out_of_its_group_too_long_is_unhealthy_until_it_is_back() {
    let group = skiff_testenv::unique_name("health");
    let topic = skiff_testenv::unique_name("health");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    let proxies = kafka_cut_proxies().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Out of the group for longer than 2 x 8 s + 6 s is stuck.
    let extra = format!(
        "bootstrap.servers={}\nrebalance.timeout.ms=8000\n",
        skiff_testenv::kafka().proxied.bootstrap
    );
    let _worker = spawn_distributed_with(dir.path(), &group, port, &extra);
    let url = format!("http://127.0.0.1:{port}");
    // The worker accepts a connector only once it leads its group.
    let sink = json!({
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": dir.path().join("out").display().to_string(), "topics": topic});
    create_when_led(&url, "health-sink", sink).await;
    // The cut must find the herder idle: cut while it still writes the task configurations,
    // it reports that stage as stuck after 10 s, before the group check's 22 s (seen in CI).
    eventually(60, "the sink's task to run", || async {
        (task_states(&url, "health-sink").await == ["RUNNING"]).then_some(())
    })
    .await;
    assert_eq!(health(&url).await.map(|h| h.0), Some(200));

    for p in &proxies {
        p.set_enabled(false).await.unwrap();
    }
    let cut_at = Instant::now();
    let (seen_after, body) = eventually(60, "the cut-off worker to report unhealthy", || async {
        let (status, body) = health(&url).await?;
        (status == 500).then(|| (cut_at.elapsed(), body))
    })
    .await;
    println!("unhealthy {seen_after:?} after the cut: {body}");
    assert_eq!(body["status"], "unhealthy", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("member of group {group}"))
            && message.contains("rebalance.timeout.ms + session.timeout.ms = 22 s")
            && message.contains("last problem: "),
        "{message}"
    );
    // Its last heartbeat was answered at most two heartbeat intervals (1 s) before the cut.
    assert!(
        seen_after.as_secs_f64() >= 19.0,
        "unhealthy after {seen_after:?}, before 22 s out of the group"
    );

    for p in &proxies {
        p.set_enabled(true).await.unwrap();
    }
    eventually(60, "the worker back in its group to be healthy", || async {
        let (status, body) = health(&url).await?;
        (status == 200 && body["status"] == "healthy").then_some(())
    })
    .await;
}

/// Two workers given the same `group.instance.id` (a misconfiguration): the coordinator fences
/// one of them (the first, unless a heartbeat of the first lands between the second's removal of
/// its previous incarnation and its join), and that one says so on `/health` instead of retrying
/// unseen, while the other stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fenced_by_its_own_instance_id_says_so() {
    let group = skiff_testenv::unique_name("health-dup");
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let extra = "group.instance.id=same-pod\nrebalance.timeout.ms=8000\n";
    let _a = spawn_distributed_with(dir.path(), &group, port_a, extra);
    let url_a = format!("http://127.0.0.1:{port_a}");
    let connector = json!({
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": dir.path().join("in").display().to_string(),
        "topic": skiff_testenv::unique_name("health-dup")});
    create_when_led(&url_a, "health-dup-source", connector).await;
    let _b = spawn_distributed_with(dir.path(), &group, port_b, extra);
    let url_b = format!("http://127.0.0.1:{port_b}");
    let message = eventually(
        60,
        "one worker to report unhealthy, the other healthy",
        || async {
            let (a, b) = (health(&url_a).await?, health(&url_b).await?);
            let fenced = match (a.0, b.0) {
                (500, 200) => a.1,
                (200, 500) => b.1,
                _ => return None,
            };
            Some(fenced["message"].as_str().unwrap_or_default().to_string())
        },
    )
    .await;
    assert!(
        message.contains("FencedInstanceId") && message.contains("same group.instance.id"),
        "{message}"
    );
}
