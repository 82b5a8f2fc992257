//! Declarative definitions of connector settings: what `GET /connector-plugins/{p}/config`
//! lists and what validation checks, with a message per key that names the fix.

use crate::config::display_value;
use crate::config::properties::Properties;
use skiff_api::rest::{ConfigInfo, ConfigInfos, ConfigKeyInfo, ConfigValueInfo};

/// The type of a setting, with Connect's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    String,
    Short,
    Int,
    Long,
    Boolean,
    Password,
    List,
    Class,
}

impl ConfigType {
    fn name(self) -> &'static str {
        match self {
            ConfigType::String => "STRING",
            ConfigType::Short => "SHORT",
            ConfigType::Int => "INT",
            ConfigType::Long => "LONG",
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::Password => "PASSWORD",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
        }
    }
}

/// How much a setting matters, with Connect's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    High,
    Medium,
    Low,
}

/// One setting a connector understands.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    /// `None` with `required` means the user must set it.
    pub default: Option<&'static str>,
    pub required: bool,
    pub importance: Importance,
    pub doc: &'static str,
    pub group: &'static str,
    /// Allowed values, when the setting is an enumeration.
    pub choices: &'static [&'static str],
}

impl ConfigDef {
    /// A setting the user must give.
    pub const fn required(
        name: &'static str,
        ty: ConfigType,
        group: &'static str,
        doc: &'static str,
    ) -> Self {
        ConfigDef {
            name,
            ty,
            default: None,
            required: true,
            importance: Importance::High,
            doc,
            group,
            choices: &[],
        }
    }

    /// An optional setting with a default (`None`: no default, unset is fine).
    pub const fn optional(
        name: &'static str,
        ty: ConfigType,
        default: Option<&'static str>,
        group: &'static str,
        doc: &'static str,
    ) -> Self {
        ConfigDef {
            name,
            ty,
            default,
            required: false,
            importance: Importance::Medium,
            doc,
            group,
            choices: &[],
        }
    }

    /// Sets how much the setting matters, as Connect lists it for the same key.
    pub const fn importance(mut self, importance: Importance) -> Self {
        self.importance = importance;
        self
    }

    /// Restricts the setting to a list of values.
    pub const fn one_of(mut self, choices: &'static [&'static str]) -> Self {
        self.choices = choices;
        self
    }

    /// Errors for one value: type and choice checks. Connector-specific checks add more.
    pub fn check(&self, value: Option<&str>) -> Vec<String> {
        let Some(v) = value else {
            return if self.required {
                vec![format!(
                    "Missing required configuration \"{}\" which has no default value.",
                    self.name
                )]
            } else {
                Vec::new()
            };
        };
        let bad_type = match self.ty {
            ConfigType::Short => v.trim().parse::<i16>().is_err(),
            ConfigType::Int => v.trim().parse::<i32>().is_err(),
            ConfigType::Long => v.trim().parse::<i64>().is_err(),
            ConfigType::Boolean => {
                !v.trim().eq_ignore_ascii_case("true") && !v.trim().eq_ignore_ascii_case("false")
            }
            _ => false,
        };
        if bad_type {
            let expected = match self.ty {
                ConfigType::Short => "a short integer",
                ConfigType::Int => "an integer",
                ConfigType::Long => "a long integer",
                _ => "true or false",
            };
            return vec![format!(
                "Invalid value {v} for configuration {}: must be {expected}",
                self.name
            )];
        }
        if !self.choices.is_empty()
            && !self
                .choices
                .iter()
                .any(|c| c.eq_ignore_ascii_case(v.trim()))
        {
            return vec![format!(
                "Invalid value {v} for configuration {}: must be one of {}",
                self.name,
                self.choices.join(", ")
            )];
        }
        Vec::new()
    }

    /// The definition as the REST API shows it.
    pub fn key_info(&self, order: i32) -> ConfigKeyInfo {
        ConfigKeyInfo {
            name: self.name.to_string(),
            config_type: self.ty.name().to_string(),
            required: self.required,
            default_value: self.default.map(str::to_string),
            importance: match self.importance {
                Importance::High => "HIGH",
                Importance::Medium => "MEDIUM",
                Importance::Low => "LOW",
            }
            .to_string(),
            documentation: self.doc.to_string(),
            group: Some(self.group.to_string()),
            order,
            width: "NONE".to_string(),
            display_name: self.name.to_string(),
            dependents: Vec::new(),
        }
    }
}

/// Builds the ConfigInfos body: every definition with its value and errors, plus errors for
/// keys that have no definition (`extra_errors`, keyed by setting name).
pub fn config_infos(
    class: &str,
    defs: &[ConfigDef],
    config: &Properties,
    extra_errors: &[(String, String)],
) -> ConfigInfos {
    let mut groups: Vec<String> = Vec::new();
    let mut configs = Vec::new();
    let mut error_count = 0u32;
    for (i, def) in defs.iter().enumerate() {
        if !groups.iter().any(|g| g == def.group) {
            groups.push(def.group.to_string());
        }
        let given = config.get(def.name).map(String::as_str);
        let mut errors = def.check(given);
        errors.extend(
            extra_errors
                .iter()
                .filter(|(k, _)| k == def.name)
                .map(|(_, e)| e.clone()),
        );
        error_count += errors.len() as u32;
        let shown = match (def.ty, given) {
            (ConfigType::Password, Some(_)) => Some("[hidden]".to_string()),
            (_, g) => g
                .map(str::to_string)
                .or_else(|| def.default.map(str::to_string)),
        };
        configs.push(ConfigInfo {
            definition: def.key_info(i as i32 + 1),
            value: ConfigValueInfo {
                name: def.name.to_string(),
                value: shown,
                recommended_values: def.choices.iter().map(|c| c.to_string()).collect(),
                errors,
                visible: true,
            },
        });
    }
    for (key, err) in extra_errors {
        if !defs.iter().any(|d| d.name == key) {
            error_count += 1;
            configs.push(ConfigInfo {
                definition: undefined_key_info(key),
                value: ConfigValueInfo {
                    name: key.clone(),
                    value: config.get(key).map(|v| display_value(key, v).to_string()),
                    recommended_values: Vec::new(),
                    errors: vec![err.clone()],
                    visible: true,
                },
            });
        }
    }
    ConfigInfos {
        name: class.to_string(),
        error_count,
        groups,
        configs,
    }
}

/// The definition shown for a key the connector does not define (an error is reported on it).
fn undefined_key_info(key: &str) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name: key.to_string(),
        config_type: "STRING".to_string(),
        required: false,
        default_value: None,
        importance: "LOW".to_string(),
        documentation: String::new(),
        group: None,
        order: -1,
        width: "NONE".to_string(),
        display_name: key.to_string(),
        dependents: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn an_error_on_a_secret_key_outside_the_definitions_does_not_show_its_value() {
        let key = "consumer.override.sasl.jaas.config";
        let config = props(&[(key, "PlainLoginModule required password=\"s3cret\";")]);
        let infos = config_infos("C", &[], &config, &[(key.into(), "refused".into())]);
        assert_eq!(infos.error_count, 1);
        assert_eq!(infos.configs[0].value.value.as_deref(), Some("[hidden]"));
    }
}
