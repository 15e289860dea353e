//! `folio models fetch|check`.

use anyhow::Result;
use folio_app::models;
use folio_common::config::FolioConfig;

use super::args::ModelsCommand;

pub fn run(config: &FolioConfig, command: &ModelsCommand) -> Result<()> {
    match command {
        ModelsCommand::Fetch { force, with } => {
            for line in models::fetch(&config.models.dir, *force)? {
                println!("{line}");
            }
            for name in with {
                println!(
                    "{}",
                    models::fetch_optional(&config.models.dir, name, *force)?
                );
            }
            println!("models are in {}", config.models.dir.display());
        }
        ModelsCommand::Check => {
            let mut missing = 0;
            for (file, ok) in models::check(&config.models.dir) {
                println!("{}  {}", if ok { "ok     " } else { "MISSING" }, file);
                missing += usize::from(!ok);
            }
            if missing > 0 {
                anyhow::bail!(
                    "{missing} model file(s) missing or corrupt: run `folio models fetch`"
                );
            }
        }
    }
    Ok(())
}
