//! The connector catalog: the manifests embedded from `connectors/` at build
//! time, plus any in the extra directories of `[connectors] dirs`, where a
//! manifest with a catalog name replaces the built-in one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Declarative;
use super::manifest::Manifest;
use crate::connectors::Connector;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// The manifest file name inside a connector folder.
pub const MANIFEST_FILE: &str = "connector.toml";

/// Loaded manifests by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    manifests: BTreeMap<String, Arc<Manifest>>,
}

impl Catalog {
    /// The built-in catalog alone.
    pub fn embedded() -> Result<Catalog, Vec<String>> {
        let mut catalog = Catalog::default();
        let mut problems = Vec::new();
        for (folder, text) in embedded::CONNECTORS {
            let origin = format!("connectors/{folder}/{MANIFEST_FILE}");
            catalog.add(folder, text, &origin, &mut problems);
        }
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(problems)
        }
    }

    /// The built-in catalog with the manifests found in `dirs`: each folder
    /// `<dir>/<name>/connector.toml`.
    pub fn load(dirs: &[PathBuf]) -> Result<Catalog, Vec<String>> {
        let mut catalog = Catalog::embedded()?;
        let mut problems = Vec::new();
        for dir in dirs {
            catalog.add_dir(dir, &mut problems);
        }
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(problems)
        }
    }

    fn add_dir(&mut self, dir: &Path, problems: &mut Vec<String>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!(
                    "connectors.dirs: cannot read {}: {e}",
                    dir.display()
                ));
                return;
            }
        };
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        folders.sort();
        if folders.is_empty() {
            problems.push(format!(
                "connectors.dirs: {} holds no <name>/{MANIFEST_FILE}",
                dir.display()
            ));
        }
        for folder in folders {
            let file = folder.join(MANIFEST_FILE);
            let name = folder
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => self.add(&name, &text, &file.display().to_string(), problems),
                Err(e) => problems.push(format!("{}: {e}", file.display())),
            }
        }
    }

    fn add(&mut self, folder: &str, text: &str, origin: &str, problems: &mut Vec<String>) {
        match Manifest::parse(text, origin) {
            Ok(m) if m.name != folder => problems.push(format!(
                "{origin}: name `{}` must equal its folder name `{folder}`",
                m.name
            )),
            Ok(m) => {
                self.manifests.insert(m.name.clone(), Arc::new(m));
            }
            Err(e) => problems.push(e),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Manifest>> {
        self.manifests.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.manifests.keys().map(String::as_str)
    }

    /// A new connector instance for one source.
    pub fn connector(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.get(name)
            .map(|m| Arc::new(Declarative::new(m.clone())) as Arc<dyn Connector>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_manifest_loads() {
        let c = Catalog::embedded().unwrap_or_else(|p| panic!("{}", p.join("\n")));
        assert!(c.names().count() >= 1);
    }

    #[test]
    fn user_dirs_add_and_replace_connectors() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("acme_stats");
        std::fs::create_dir(&one).unwrap();
        std::fs::write(
            one.join(MANIFEST_FILE),
            "name = \"acme_stats\"\n[request]\nurl = \"https://acme.example/stats\"\n[extract]\nvalue = \"$.n\"\n",
        )
        .unwrap();
        let c = Catalog::load(&[dir.path().to_path_buf()]).unwrap();
        assert!(c.connector("acme_stats").is_some());

        let wrong = dir.path().join("other");
        std::fs::create_dir(&wrong).unwrap();
        std::fs::write(
            wrong.join(MANIFEST_FILE),
            "name = \"x\"\n[request]\nurl = \"u\"\n[extract]\nvalue = \"$.n\"\n",
        )
        .unwrap();
        let e = Catalog::load(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(e[0].contains("must equal its folder name `other`"), "{e:?}");

        let e = Catalog::load(&[dir.path().join("missing")]).unwrap_err();
        assert!(e[0].contains("cannot read"), "{e:?}");
    }
}
