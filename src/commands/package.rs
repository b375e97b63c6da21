//! `visiobook package --out DIR`.

use std::path::Path;

use anyhow::Context;
use visiobook_runtime::Settings;

use crate::registry;

pub fn run(_settings: Settings, out: &Path) -> anyhow::Result<()> {
    let registry = registry::functions()?;
    let binary = std::env::current_exe().context("cannot find the running binary")?;
    let written = visiobook_host::package::write_package(&registry, out, &binary)?;
    tracing::info!(out = %out.display(), functions = written.len(), "function app package written");
    #[expect(clippy::print_stdout, reason = "the command reports what it wrote")]
    {
        println!("{}", out.display());
    }
    Ok(())
}
