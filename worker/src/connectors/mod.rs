//! The built-in connector plugins: the S3 backup sink and restore source (under Instaclustr's
//! class names and Skiff's own) and Apache's FileStream pair. Each plugin names its class, type,
//! settings, how it splits into tasks and how a task runs.

pub mod backup_metadata;
pub mod backup_progress;
pub mod backup_upload;
pub mod config_def;
pub mod converters;
pub mod file;
pub mod gaps;
pub mod offset_ranges;
pub mod record_errors;
pub mod retention;
pub mod s3_sink;
pub mod s3_source;

use crate::config::properties::Properties;
use crate::runtime::sink::{Subscription, anchored};
use crate::runtime::{TaskContext, TaskError};
use config_def::{ConfigDef, ConfigType, Importance};
use skiff_api::rest::{ConnectorType, PluginInfo};

/// A connector plugin built into the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    S3Sink,
    S3Source,
    FileSink,
    FileSource,
}

/// Class names the plugins answer to, first the canonical one of each listing.
const CLASSES: &[(&str, Plugin)] = &[
    (
        "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector",
        Plugin::S3Sink,
    ),
    ("dev.skiff.connect.s3.S3BackupSinkConnector", Plugin::S3Sink),
    (
        "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceConnector",
        Plugin::S3Source,
    ),
    (
        "dev.skiff.connect.s3.S3RestoreSourceConnector",
        Plugin::S3Source,
    ),
    (
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
        Plugin::FileSink,
    ),
    (
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        Plugin::FileSource,
    ),
];

/// Settings every connector has.
const COMMON_DEFS: &[ConfigDef] = &[
    ConfigDef::required(
        "name",
        ConfigType::String,
        "Common",
        "Globally unique name to use for this connector.",
    ),
    ConfigDef::required(
        "connector.class",
        ConfigType::String,
        "Common",
        "Name or alias of the class for this connector.",
    ),
    ConfigDef::optional(
        "tasks.max",
        ConfigType::Int,
        Some("1"),
        "Common",
        "Maximum number of tasks to use for this connector.",
    )
    .importance(Importance::High),
    ConfigDef::optional(
        "key.converter",
        ConfigType::Class,
        None,
        "Common",
        "Converter class for keys (ByteArrayConverter, StringConverter or JsonConverter; default: the worker's); Skiff's S3 connectors always move bytes untouched.",
    )
    .importance(Importance::Low),
    ConfigDef::optional(
        "value.converter",
        ConfigType::Class,
        None,
        "Common",
        "Converter class for values (ByteArrayConverter, StringConverter or JsonConverter; default: the worker's); Skiff's S3 connectors always move bytes untouched.",
    )
    .importance(Importance::Low),
    ConfigDef::optional(
        "header.converter",
        ConfigType::Class,
        None,
        "Common",
        "Converter class for headers.",
    )
    .importance(Importance::Low),
    ConfigDef::optional(
        "errors.tolerance",
        ConfigType::String,
        Some("none"),
        "Error Handling",
        "Behavior for tolerating errors during connector operation: none fails the task on a record it cannot convert, all skips it. The S3 connectors never convert, so none of their records can fail.",
    )
    .one_of(&["none", "all"]),
    ConfigDef::optional(
        "errors.log.enable",
        ConfigType::Boolean,
        Some("false"),
        "Error Handling",
        "Log each error with its record.",
    ),
];

/// Settings every sink has.
const SINK_DEFS: &[ConfigDef] = &[
    ConfigDef::optional("topics", ConfigType::List, Some(""), "Common", "Comma-separated topics to consume.").importance(Importance::High),
    ConfigDef::optional("topics.regex", ConfigType::String, Some(""), "Common", "Regular expression of topics to consume (the whole name must match); picks up topics created later.").importance(Importance::High),
    ConfigDef::optional("errors.deadletterqueue.topic.name", ConfigType::String, Some(""), "Error Handling", "Topic the records a sink task cannot convert are written to, as they were read, when errors.tolerance=all; created when missing. May not be a topic the connector reads."),
    ConfigDef::optional("errors.deadletterqueue.topic.replication.factor", ConfigType::Short, Some("3"), "Error Handling", "Replication factor of the dead letter queue topic when it is created; -1 for the broker's default."),
    ConfigDef::optional("errors.deadletterqueue.context.headers.enable", ConfigType::Boolean, Some("false"), "Error Handling", "Add __connect.errors.* headers (topic, partition, offset, connector, task, stage, message) to dead letters."),
];

impl Plugin {
    /// Finds a plugin by full class name, simple class name, or simple name without the
    /// `Connector` suffix, as Connect accepts them.
    pub fn find(class: &str) -> Option<Plugin> {
        let class = class.trim();
        CLASSES.iter().find_map(|(full, p)| {
            let simple = full.rsplit('.').next().unwrap_or(full);
            let alias = simple.strip_suffix("Connector").unwrap_or(simple);
            (class == *full || class == simple || class == alias).then_some(*p)
        })
    }

    /// Every plugin listing (one per class name), for `GET /connector-plugins`.
    pub fn listings() -> Vec<PluginInfo> {
        let mut out: Vec<PluginInfo> = CLASSES
            .iter()
            .map(|(class, p)| PluginInfo {
                class: class.to_string(),
                plugin_type: match p.kind() {
                    ConnectorType::Sink => "sink",
                    _ => "source",
                }
                .to_string(),
                version: Some(p.version().to_string()),
            })
            .collect();
        out.sort_by(|a, b| a.class.cmp(&b.class));
        out
    }

    /// Sink or source.
    pub fn kind(self) -> ConnectorType {
        match self {
            Plugin::S3Sink | Plugin::FileSink => ConnectorType::Sink,
            Plugin::S3Source | Plugin::FileSource => ConnectorType::Source,
        }
    }

    /// The plugin's version, as listed.
    pub fn version(self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Every setting the plugin understands, common ones first.
    pub fn defs(self) -> Vec<ConfigDef> {
        let mut defs: Vec<ConfigDef> = COMMON_DEFS.to_vec();
        if self.kind() == ConnectorType::Sink {
            defs.extend_from_slice(SINK_DEFS);
        }
        defs.extend_from_slice(match self {
            Plugin::S3Sink => s3_sink::DEFS,
            Plugin::S3Source => s3_source::DEFS,
            Plugin::FileSink => file::SINK_DEFS,
            Plugin::FileSource => file::SOURCE_DEFS,
        });
        defs
    }

    /// Checks a configuration without I/O: every definition's type and choices, and the
    /// plugin's own rules. Returns `(key, message)` pairs.
    pub fn validate(self, config: &Properties) -> Vec<(String, String)> {
        let mut errors: Vec<(String, String)> = Vec::new();
        for def in self.defs() {
            for e in def.check(config.get(def.name).map(String::as_str)) {
                errors.push((def.name.to_string(), e));
            }
        }
        errors.extend(self.rule_errors(config));
        errors
    }

    /// The plugin's rules beyond each key's type and choices (which [`ConfigDef::check`] covers).
    pub fn rule_errors(self, config: &Properties) -> Vec<(String, String)> {
        let mut errors: Vec<(String, String)> = Vec::new();
        if let Some(n) = config
            .get("tasks.max")
            .and_then(|v| v.trim().parse::<i32>().ok())
            && n < 1
        {
            errors.push((
                "tasks.max".into(),
                format!("Invalid value {n} for configuration tasks.max: must be at least 1"),
            ));
        }
        if self.kind() == ConnectorType::Sink
            && let Err((key, message)) = subscription(config)
        {
            // Connect reports a missing or doubled subscription on both keys.
            if key == "topics" {
                errors.push(("topics.regex".into(), message.clone()));
            }
            errors.push((key, message));
        }
        if self.kind() == ConnectorType::Sink {
            errors.extend(record_errors::rule_errors(config));
        }
        for key in ["key.converter", "value.converter"] {
            if let Some(error) = config
                .get(key)
                .and_then(|class| converters::class_error(key, class))
            {
                errors.push((key.into(), error));
            }
        }
        errors.extend(match self {
            Plugin::S3Sink => s3_sink::validate(config),
            Plugin::S3Source => s3_source::validate(config),
            Plugin::FileSink | Plugin::FileSource => Vec::new(),
        });
        errors
    }

    /// Splits the connector into at most `max_tasks` task configurations. `resolved` has its
    /// `${...}` references resolved (the S3 source lists the bucket with it); the returned
    /// configurations keep the unresolved values of `config`, so secrets stay references.
    pub async fn task_configs(
        self,
        config: &Properties,
        resolved: &Properties,
        max_tasks: u32,
    ) -> Result<Vec<Properties>, TaskError> {
        match self {
            Plugin::S3Source => s3_source::task_configs(config, resolved, max_tasks).await,
            Plugin::FileSource => Ok(vec![config.clone()]),
            Plugin::S3Sink | Plugin::FileSink => {
                Ok((0..max_tasks.max(1)).map(|_| config.clone()).collect())
            }
        }
    }

    /// Runs one task until it is asked to stop or fails. `config` is resolved.
    pub async fn run_task(self, ctx: TaskContext, config: Properties) -> Result<(), TaskError> {
        match self {
            Plugin::S3Sink => s3_sink::run_task(ctx, config).await,
            Plugin::S3Source => s3_source::run_task(ctx, config).await,
            Plugin::FileSink => file::run_sink_task(ctx, config).await,
            Plugin::FileSource => file::run_source_task(ctx, config).await,
        }
    }
}

/// The topics a sink reads: exactly one of `topics` and `topics.regex`.
pub fn subscription(config: &Properties) -> Result<Subscription, (String, String)> {
    let topics: Vec<String> = config
        .get("topics")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let regex = config
        .get("topics.regex")
        .map(|r| r.trim())
        .filter(|r| !r.is_empty());
    match (topics.is_empty(), regex) {
        (false, Some(_)) => Err((
            "topics".into(),
            "topics and topics.regex are mutually exclusive options, but both are set.".into(),
        )),
        (true, None) => Err((
            "topics".into(),
            "Must configure one of topics or topics.regex".into(),
        )),
        (false, None) => Ok(Subscription::Topics(topics)),
        (true, Some(re)) => anchored(re)
            .map(Subscription::Regex)
            .map_err(|e| ("topics.regex".into(), format!("Invalid regex '{re}': {e}"))),
    }
}

/// Reads an optional numeric setting, naming the key when it is not a number.
pub fn number<T: std::str::FromStr>(
    config: &Properties,
    key: &str,
    default: T,
) -> Result<T, TaskError> {
    match config.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| TaskError::Config(format!("'{key}' must be a number, not '{v}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn plugins_are_found_by_class_simple_name_and_alias() {
        assert_eq!(
            Plugin::find("com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector"),
            Some(Plugin::S3Sink)
        );
        assert_eq!(
            Plugin::find("AwsStorageSourceConnector"),
            Some(Plugin::S3Source)
        );
        assert_eq!(Plugin::find("FileStreamSink"), Some(Plugin::FileSink));
        assert_eq!(Plugin::find("com.example.Nope"), None);
    }

    #[test]
    fn sink_needs_exactly_one_of_topics_and_regex() {
        let both = props(&[("topics", "a"), ("topics.regex", ".*")]);
        assert!(subscription(&both).is_err());
        assert!(subscription(&props(&[])).is_err());
        assert!(
            matches!(subscription(&props(&[("topics", "a, b")])), Ok(Subscription::Topics(t)) if t == ["a", "b"])
        );
        let bad = subscription(&props(&[("topics.regex", "(")]))
            .err()
            .unwrap();
        assert_eq!(bad.0, "topics.regex");
    }

    #[test]
    fn validation_names_each_bad_key() {
        let cfg = props(&[
            ("connector.class", "AwsStorageSinkConnector"),
            ("name", "b"),
            ("tasks.max", "zero"),
            ("topics", "t"),
        ]);
        let errs = Plugin::S3Sink.validate(&cfg);
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"tasks.max"), "{errs:?}");
        assert!(keys.contains(&"aws.s3.bucket"), "{errs:?}");
    }
}
