//! `folio admin`: tenants and API keys, straight on the metadata store (no
//! models or indexes are opened, so it also works next to a running server).

use anyhow::{Context, Result};
use folio_common::config::FolioConfig;
use folio_store::{MetadataStore, Tenant};
use serde_json::json;

use super::args::{AdminCommand, KeyCommand, TenantCommand};
use folio_app::keys::{issue_key, Role};

/// Runs one admin command.
pub async fn run(config: &FolioConfig, command: AdminCommand) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store = folio_app::runtime::open_store(config, 2).await?;
    match command {
        AdminCommand::Tenant(TenantCommand::Create { name }) => {
            let name = name.trim();
            anyhow::ensure!(
                !name.is_empty() && name.len() <= 200 && !name.chars().any(char::is_control),
                "tenant names are 1–200 printable characters"
            );
            let tenant = store.create_tenant(name).await?;
            println!("created tenant {} ({})", tenant.name, tenant.id);
        }
        AdminCommand::Tenant(TenantCommand::List) => {
            for tenant in store.list_tenants().await? {
                println!("{}  {}", tenant.id, tenant.name);
            }
        }
        AdminCommand::Key(KeyCommand::Create {
            tenant,
            role,
            name,
            json,
        }) => {
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role {role:?}: use viewer, editor or admin"))?;
            let tenant = tenant_named(&store, &tenant).await?;
            let issued = issue_key(&store, &tenant.id, role, &name).await?;
            if json {
                println!(
                    "{}",
                    json!({
                        "key": issued.key,
                        "id": issued.record.id,
                        "tenant": tenant.name,
                        "tenant_id": tenant.id,
                        "role": role,
                    })
                );
            } else {
                println!("{}", issued.key);
                eprintln!(
                    "key {} ({}) for tenant {}: store it now, it is not shown again",
                    issued.record.id,
                    role.as_str(),
                    tenant.name
                );
            }
        }
        AdminCommand::Key(KeyCommand::List { tenant }) => {
            let tenant = tenant_named(&store, &tenant).await?;
            for key in store.list_api_keys(&tenant.id).await? {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}  {:<7} {:<7} {}", key.id, key.role, state, key.name);
            }
        }
        AdminCommand::Key(KeyCommand::Revoke { tenant, id }) => {
            let tenant = tenant_named(&store, &tenant).await?;
            store.revoke_api_key(&tenant.id, &id).await?;
            println!("revoked key {id}");
        }
        AdminCommand::Backup { .. } | AdminCommand::Restore { .. } | AdminCommand::Reindex => {
            unreachable!("backup, restore and reindex are dispatched to folio_app::backup")
        }
    }
    Ok(())
}

async fn tenant_named(store: &MetadataStore, name: &str) -> Result<Tenant> {
    if name == folio_app::DEFAULT_TENANT {
        return Ok(store.ensure_tenant(name).await?);
    }
    store
        .find_tenant(name)
        .await?
        .with_context(|| format!("no tenant named {name:?}: `folio admin tenant create {name}`"))
}
