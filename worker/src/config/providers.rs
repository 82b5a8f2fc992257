//! Config providers as in Kafka (`config.providers=file,env,dir`): `${file:/path:key}` reads a
//! key of a properties file, `${env:VAR}` an environment variable, `${dir:/path:file}` a file's
//! contents. References are resolved when a task starts, so Kubernetes Secrets mounted as files
//! or env vars work; the REST API keeps showing the `${...}` form.

use super::ConfigError;
use super::properties::{Properties, parse_properties};
use std::collections::BTreeMap;
use std::path::Path;

/// Which built-in provider an alias names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    File,
    Env,
    Dir,
}

impl ProviderKind {
    /// Maps Kafka's provider class names (and Skiff's short names) to a kind.
    fn from_class(class: &str) -> Option<Self> {
        match class {
            "org.apache.kafka.common.config.provider.FileConfigProvider" | "file" => {
                Some(ProviderKind::File)
            }
            "org.apache.kafka.common.config.provider.EnvVarConfigProvider" | "env" => {
                Some(ProviderKind::Env)
            }
            "org.apache.kafka.common.config.provider.DirectoryConfigProvider" | "dir" => {
                Some(ProviderKind::Dir)
            }
            _ => None,
        }
    }
}

/// The providers a worker configured, by alias.
#[derive(Debug, Clone, Default)]
pub struct ConfigProviders {
    by_alias: BTreeMap<String, ProviderKind>,
}

/// True when `value` contains a `${alias:...}` reference.
pub fn is_reference(value: &str) -> bool {
    value.contains("${") && value.contains('}')
}

impl ConfigProviders {
    /// Reads `config.providers` and `config.providers.<alias>.class` from worker properties.
    /// An alias without a class defaults to the built-in provider of the same name.
    pub fn from_worker(props: &Properties) -> Result<Self, ConfigError> {
        let mut by_alias = BTreeMap::new();
        let Some(list) = props.get("config.providers") else {
            return Ok(ConfigProviders::default());
        };
        for alias in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let class_key = format!("config.providers.{alias}.class");
            let class = props.get(&class_key).map(String::as_str).unwrap_or(alias);
            let kind = ProviderKind::from_class(class).ok_or_else(|| {
                ConfigError::invalid(
                    &class_key,
                    format!(
                        "unknown config provider class '{class}'; Skiff has FileConfigProvider, \
                         EnvVarConfigProvider and DirectoryConfigProvider built in"
                    ),
                )
            })?;
            by_alias.insert(alias.to_string(), kind);
        }
        Ok(ConfigProviders { by_alias })
    }

    /// Resolves every `${alias:...}` reference in every value. A reference to an unknown alias
    /// is left as it is (as Kafka does); one that cannot be read is an error naming the key.
    pub fn resolve(&self, config: &Properties) -> Result<Properties, ConfigError> {
        config
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve_value(k, v)?)))
            .collect()
    }

    fn resolve_value(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let inner = &after[..end];
            match self.lookup(key, inner)? {
                Some(resolved) => out.push_str(&resolved),
                None => {
                    out.push_str("${");
                    out.push_str(inner);
                    out.push('}');
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `inner` is `alias:path:key` or `alias:key`.
    fn lookup(&self, key: &str, inner: &str) -> Result<Option<String>, ConfigError> {
        let Some((alias, spec)) = inner.split_once(':') else {
            return Ok(None);
        };
        let Some(kind) = self.by_alias.get(alias) else {
            return Ok(None);
        };
        let (path, item) = match spec.rsplit_once(':') {
            Some((p, k)) => (Some(p), k),
            None => (None, spec),
        };
        let fail = |message: String| ConfigError::invalid(key, message);
        match kind {
            ProviderKind::Env => std::env::var(item).map(Some).map_err(|_| {
                fail(format!(
                    "environment variable '{item}' named by ${{{alias}:...}} is not set"
                ))
            }),
            ProviderKind::File => {
                let path = path.ok_or_else(|| {
                    fail(format!(
                        "${{{alias}:...}} needs a path: ${{{alias}:/path/file:key}}"
                    ))
                })?;
                let text = std::fs::read_to_string(path)
                    .map_err(|e| fail(format!("cannot read '{path}': {e}")))?;
                let props = parse_properties(&text, path)?;
                props
                    .get(item)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| fail(format!("'{path}' has no key '{item}'")))
            }
            ProviderKind::Dir => {
                let dir = path.ok_or_else(|| {
                    fail(format!(
                        "${{{alias}:...}} needs a folder: ${{{alias}:/folder:file}}"
                    ))
                })?;
                let file = Path::new(dir).join(item);
                std::fs::read_to_string(&file)
                    .map(Some)
                    .map_err(|e| fail(format!("cannot read '{}': {e}", file.display())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers() -> ConfigProviders {
        let mut p = Properties::new();
        p.insert("config.providers".into(), "file,env,dir".into());
        p.insert(
            "config.providers.file.class".into(),
            "org.apache.kafka.common.config.provider.FileConfigProvider".into(),
        );
        p.insert(
            "config.providers.env.class".into(),
            "org.apache.kafka.common.config.provider.EnvVarConfigProvider".into(),
        );
        p.insert(
            "config.providers.dir.class".into(),
            "org.apache.kafka.common.config.provider.DirectoryConfigProvider".into(),
        );
        ConfigProviders::from_worker(&p).unwrap()
    }

    #[test]
    fn resolves_file_env_and_dir_references() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds.properties");
        std::fs::write(&file, "secret=s3cr3t\n").unwrap();
        std::fs::write(dir.path().join("token"), "tok").unwrap();
        // SAFETY: this test is the only one that touches this variable.
        unsafe { std::env::set_var("SKIFF_TEST_PROVIDER_VAR", "fromenv") };
        let mut c = Properties::new();
        c.insert("a".into(), format!("${{file:{}:secret}}", file.display()));
        c.insert("b".into(), "x-${env:SKIFF_TEST_PROVIDER_VAR}-y".into());
        c.insert(
            "c".into(),
            format!("${{dir:{}:token}}", dir.path().display()),
        );
        c.insert("d".into(), "${unknown:thing}".into());
        let r = providers().resolve(&c).unwrap();
        assert_eq!(r["a"], "s3cr3t");
        assert_eq!(r["b"], "x-fromenv-y");
        assert_eq!(r["c"], "tok");
        assert_eq!(r["d"], "${unknown:thing}");
    }

    #[test]
    fn missing_sources_are_errors_naming_the_key() {
        let mut c = Properties::new();
        c.insert(
            "aws.secretKey".into(),
            "${env:SKIFF_SURELY_UNSET_VAR}".into(),
        );
        let err = providers().resolve(&c).unwrap_err().to_string();
        assert!(
            err.contains("aws.secretKey") && err.contains("SKIFF_SURELY_UNSET_VAR"),
            "{err}"
        );
        c.insert("aws.secretKey".into(), "${file:/nonexistent/x:k}".into());
        assert!(providers().resolve(&c).is_err());
    }

    #[test]
    fn unknown_provider_class_is_refused() {
        let mut p = Properties::new();
        p.insert("config.providers".into(), "vault".into());
        p.insert(
            "config.providers.vault.class".into(),
            "com.example.Vault".into(),
        );
        let err = ConfigProviders::from_worker(&p).unwrap_err().to_string();
        assert!(err.contains("config.providers.vault.class"), "{err}");
    }
}
