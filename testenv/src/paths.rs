//! Where the repository and the test environment's state live, as `tests/testenv/lib.sh` sees it.

use std::path::PathBuf;

/// The workspace root: this crate sits one folder below it.
pub(crate) fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), PathBuf::from)
}

/// The folder holding `<component>.env` files and each server's data and logs.
pub(crate) fn state_dir() -> PathBuf {
    std::env::var_os("SKIFF_TESTENV_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target").join("testenv"))
}
