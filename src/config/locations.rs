//! Where each key of a config file was written, so problems found after
//! parsing (an unknown connector, a bad schedule, a missing secret) are
//! reported as `file:line: message` like parse errors are.

use std::collections::HashMap;

use toml::de::{DeTable, DeValue};

use super::line_of;

/// Lines of config keys by path: `scheduler.timezone`, `sources[1]`,
/// `sources[1].connector`, `sources[1].params.headers.Authorization`.
#[derive(Debug, Clone, Default)]
pub struct ConfigLocations {
    file: Option<String>,
    lines: HashMap<String, usize>,
}

impl ConfigLocations {
    pub fn from_text(file: &str, text: &str) -> ConfigLocations {
        let mut lines = HashMap::new();
        if let Ok(doc) = DeTable::parse(text) {
            walk(doc.get_ref(), "", text, &mut lines);
        }
        ConfigLocations {
            file: Some(file.to_string()),
            lines,
        }
    }

    /// `file:line: ` for `path` or its nearest located parent; `file: ` when
    /// nothing is located; empty for built-in defaults.
    pub fn prefix(&self, path: &str) -> String {
        let Some(file) = &self.file else {
            return String::new();
        };
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return format!("{file}:{line}: ");
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return format!("{file}: "),
            }
        }
    }
}

fn walk(table: &DeTable<'_>, prefix: &str, text: &str, lines: &mut HashMap<String, usize>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        lines.insert(path.clone(), line_of(text, key.span().start));
        match value.get_ref() {
            DeValue::Table(t) => walk(t, &path, text, lines),
            DeValue::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    if let DeValue::Table(t) = item.get_ref() {
                        let item_path = format!("{path}[{i}]");
                        // `[[sources]]` headers sit on the line before the item's first key.
                        let line = t
                            .iter()
                            .map(|(k, _)| line_of(text, k.span().start))
                            .min()
                            .map_or_else(
                                || line_of(text, item.span().start),
                                |l| l.saturating_sub(1).max(1),
                            );
                        lines.insert(item_path.clone(), line);
                        walk(t, &item_path, text, lines);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[scheduler]\ntimezone = \"Mars/Base\"\n\n[[sources]]\nname = \"a\"\nconnector = \"x\"\n\n[[sources]]\nname = \"b\"\n[sources.params]\nurl = \"u\"\n";

    #[test]
    fn locates_keys_items_and_nested_params() {
        let l = ConfigLocations::from_text("okrd.toml", TEXT);
        assert_eq!(l.prefix("scheduler.timezone"), "okrd.toml:2: ");
        assert_eq!(l.prefix("sources[0].connector"), "okrd.toml:6: ");
        assert_eq!(l.prefix("sources[1]"), "okrd.toml:8: ");
        assert_eq!(l.prefix("sources[1].params.url"), "okrd.toml:11: ");
        // A key that is not written falls back to its parent.
        assert_eq!(l.prefix("sources[1].schedule"), "okrd.toml:8: ");
        assert_eq!(l.prefix("nothing.here"), "okrd.toml: ");
        assert_eq!(ConfigLocations::default().prefix("x"), "");
    }
}
