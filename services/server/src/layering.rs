//! The dependency rule between Folio's crates, and between the front ends in
//! this one, checked on the manifests and sources: a lower crate never depends
//! on a higher one, and no front end imports another.

use std::collections::BTreeMap;
use std::path::Path;

/// Each workspace crate's layer: a crate may depend only on crates of lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("folio-common", 0),
    ("folio-store", 1),
    ("folio-index", 1),
    ("folio-llm", 1),
    ("folio-ingest", 2),
    ("folio-query", 2),
    ("folio-app", 3),
    ("folio-eval", 4),
    ("folio-server", 5),
];

fn services() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every manifest under `services/`: `(crate name, manifest)`.
fn manifests() -> Vec<(String, toml::Value)> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(services()).expect("services/ is readable");
    for entry in entries {
        let manifest = entry.expect("a directory entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let value: toml::Value = text.parse().expect("a manifest parses");
        let name = value["package"]["name"]
            .as_str()
            .expect("a package name")
            .to_string();
        found.push((name, value));
    }
    found
}

/// `crate name → its folio-* dependencies` (normal and build, not dev).
fn folio_dependencies() -> BTreeMap<String, Vec<String>> {
    let mut found = BTreeMap::new();
    for (name, manifest) in manifests() {
        let mut dependencies = Vec::new();
        for table in ["dependencies", "build-dependencies"] {
            if let Some(deps) = manifest.get(table).and_then(|t| t.as_table()) {
                dependencies.extend(deps.keys().filter(|k| k.starts_with("folio-")).cloned());
            }
        }
        found.insert(name, dependencies);
    }
    found
}

fn layer(name: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(crate_name, _)| *crate_name == name)
        .map(|(_, layer)| *layer)
        .unwrap_or_else(|| panic!("{name} has no layer in LAYERS: add it (and to ARCHITECTURE.md)"))
}

#[test]
fn every_crate_depends_only_on_lower_layers() {
    let crates = folio_dependencies();
    assert!(crates.len() >= LAYERS.len(), "found {crates:?}");
    for (name, dependencies) in &crates {
        for dependency in dependencies {
            assert!(
                layer(dependency) < layer(name),
                "{name} (layer {}) depends on {dependency} (layer {}): a lower crate must \
                 not depend on a higher one",
                layer(name),
                layer(dependency)
            );
        }
    }
}

/// The HTTP API's description (OpenAPI, utoipa) and its framework (axum) are
/// the HTTP layer's: every crate below the front ends says what it computes,
/// not how the API shows it.
#[test]
fn only_the_front_end_knows_the_http_api() {
    for (name, value) in manifests() {
        if name == "folio-server" {
            continue;
        }
        let dependencies = value.get("dependencies").and_then(|t| t.as_table());
        for framework in ["utoipa", "utoipa-axum", "axum"] {
            assert!(
                !dependencies.is_some_and(|deps| deps.contains_key(framework)),
                "{name} depends on {framework}: response types and routes belong to folio-server"
            );
        }
    }
}

/// Rust sources under a directory, recursively.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            found.push((path.display().to_string(), text));
        }
    }
    found
}

#[test]
fn no_front_end_imports_another() {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    for (path, text) in sources(&src.join("http")) {
        assert!(
            !text.contains("commands::") && !text.contains("folio_eval"),
            "{path}: the HTTP layer calls folio-app, not the CLI or the eval"
        );
    }
    for (path, text) in sources(&src.join("commands")) {
        // `serve` starts the HTTP front end; no other command touches it.
        if path.ends_with("serve.rs") {
            continue;
        }
        assert!(
            !text.contains("http::"),
            "{path}: a CLI command calls folio-app, not the HTTP layer"
        );
    }
    let app = services().join("app/src");
    for (path, text) in sources(&app) {
        assert!(
            !text.contains("axum") && !text.contains("folio_server"),
            "{path}: the application layer knows no front end"
        );
    }
}
