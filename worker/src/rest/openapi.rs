//! `GET /openapi.json`: an OpenAPI 3 document of this API, for clients, code generators and
//! fuzzers. Hand-written (`openapi.json` next to this file); a test keeps it in step with the
//! routes.

use super::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The document, as served.
const DOCUMENT: &str = include_str!("openapi.json");

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
    use std::collections::BTreeSet;

    /// The source of every module that adds routes to the router.
    const ROUTE_SOURCES: &[&str] = &[
        include_str!("root.rs"),
        include_str!("connectors.rs"),
        include_str!("plugins.rs"),
        include_str!("admin.rs"),
        include_str!("metrics.rs"),
        include_str!("openapi.rs"),
    ];

    /// `(METHOD, path)` of every `.route(path, method(handler)...)` call in the route modules.
    fn routed() -> BTreeSet<(String, String)> {
        let route =
            regex::Regex::new(r#"\.route\(\s*"([^"]+)",\s*((?:\.?[a-z]+\([a-z_]+\))+),?\s*\)"#)
                .unwrap();
        let method = regex::Regex::new(r"([a-z]+)\([a-z_]+\)").unwrap();
        let mut out = BTreeSet::new();
        for src in ROUTE_SOURCES {
            for r in route.captures_iter(src) {
                for m in method.captures_iter(&r[2]) {
                    out.insert((m[1].to_ascii_uppercase(), r[1].to_string()));
                }
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut out = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                out.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routed = routed();
        let call = regex::Regex::new(r#"\.route\(\s*""#).unwrap();
        let call_sites: usize = ROUTE_SOURCES
            .iter()
            .map(|s| call.find_iter(s).count())
            .sum();
        let paths: BTreeSet<&String> = routed.iter().map(|(_, p)| p).collect();
        assert_eq!(
            paths.len(),
            call_sites,
            "a .route(...) call the scan cannot read: {routed:?}"
        );
        assert!(routed.contains(&("GET".into(), "/openapi.json".into())));
        let documented = documented();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "openapi.json documents routes the router does not have: {extra:?}"
        );
    }

    #[test]
    fn every_reference_resolves_and_every_operation_has_an_id() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let refs = regex::Regex::new(r##""\$ref":\s*"#/components/schemas/([A-Za-z]+)""##).unwrap();
        for r in refs.captures_iter(DOCUMENT) {
            assert!(
                schemas.contains_key(&r[1]),
                "unresolved reference to {}",
                &r[1]
            );
        }
        let mut ids = BTreeSet::new();
        for ops in doc["paths"].as_object().unwrap().values() {
            for op in ops.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{id} has no responses"
                );
            }
        }
    }
}
