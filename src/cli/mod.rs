//! The `passerelle` command line: `serve`, `check-config`, `directory`, `audit`, `audience`,
//! `metadata` (`refresh`), `store` (`export`, `import` in `cli::backup`), `demo`.

mod backup;
mod school;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::app::AppState;
use crate::clock::SystemClock;
use crate::config::{self, Config, StoreConfig};
use crate::store::{MemoryStore, RedisStore, Store};
use crate::trace::{JsonLinesSink, TraceSink};

#[derive(Debug, Parser)]
#[command(
    name = "passerelle",
    version,
    about = "Open-source, GAR-compatible access and audience gateway for digital educational resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file (default: $PASSERELLE_CONFIG, then config/passerelle.toml).
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Validate a configuration and print every problem at once; exit 0 only when valid.
    CheckConfig {
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// ENT directory feed.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// The tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Audience figures.
    #[command(subcommand)]
    Audience(AudienceCommand),
    /// Backups of the store's durable data.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Partners' SAML metadata.
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Run the whole system on this machine: gateway, demo ENT, demo resources.
    Demo {
        /// Port of the gateway (the demo ENT and resources take the next ones).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// How the demo ENT authenticates users to the gateway: saml or oidc.
        #[arg(long, default_value = "saml", value_parser = ["saml", "oidc"])]
        ent_protocol: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Fetch partners' metadata now (every partner, or ENTITY: `ent:<idENT>`,
    /// `provider:<key>`, the bare id or key, or the entityID), check it, and keep it as the last
    /// good copy in the store and on disk: running nodes take it at their next round
    /// (`metadata.poll_seconds`). Exit 0 only when every refresh succeeded.
    Refresh {
        entity: Option<String>,
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every node's chain and signed checkpoints; report the first record where anything
    /// was changed, removed or reordered. Exit 0 only when every chain is intact.
    Verify {
        /// The audit directory (default: audit.dir of the configuration).
        dir: Option<PathBuf>,
        /// Configuration whose gateway certificate (keys.signing_certificate_file) verifies the
        /// checkpoints.
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// The gateway's certificate (PEM), instead of reading the configuration.
        #[arg(long)]
        certificate: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Write the durable data (directories, school bindings, catalogue, subscriptions,
    /// assignments) of the configured store as one JSON file.
    Export {
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// The file written (standard output when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Restore an export into the configured store, which must be empty.
    Import {
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// A file written by `passerelle store export`.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AudienceCommand {
    /// Print a report from the configured store (all scopes; the operator is at ministry level).
    Report {
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// First day, YYYY-MM-DD (default: 29 days before --to).
        #[arg(long)]
        from: Option<String>,
        /// Last day, included, YYYY-MM-DD (default: today in audience.timezone).
        #[arg(long)]
        to: Option<String>,
        /// Breakdown: total, resource, provider, uai, ent, profile, channel or device.
        #[arg(long, default_value = "resource")]
        by: String,
        /// day, month or total.
        #[arg(long, default_value = "day")]
        period: String,
        /// all, provider:<key>, ent:<idENT> or school:<UAI>.
        #[arg(long, default_value = "all")]
        scope: String,
        /// csv or json.
        #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Replace an ENT's directory with an export (GAR-ENT XML files: Etab, Eleve, Enseignant,
    /// Groupe, RespAff), atomically: nothing changes unless every file is valid.
    Import {
        /// The ENT project (idENT) the export belongs to.
        #[arg(long)]
        ent: String,
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// The export's XML files, or `.tar.gz` archives with their `.md5` beside them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Bind a school to another ENT: the only way a school changes ENT (imports never take
    /// another ENT's school). Recorded in the audit log; the new ENT's next import serves it.
    MoveSchool {
        /// The school's UAI.
        #[arg(long)]
        uai: String,
        /// The ENT project (idENT) it moves to.
        #[arg(long)]
        to: String,
        /// Who decided the move (a name, a ticket), recorded in the audit log.
        #[arg(long)]
        by: String,
        #[arg(long, env = "PASSERELLE_CONFIG", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Write a synthetic export (GAR-ENT v1.7, or GAR-ENT-1D v1.4 with --primary) for trials
    /// and measurements.
    Generate {
        #[arg(long)]
        ent: String,
        #[arg(long, default_value_t = 10)]
        schools: u32,
        #[arg(long, default_value_t = 400)]
        pupils_per_school: u32,
        /// Primary schools (écoles, GAR-ENT-1D schema) instead of secondary schools.
        #[arg(long)]
        primary: bool,
        /// The directory the files are written to (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with(config::env::PREFIX))
        .collect()
}

/// Runs the command; the returned code is the process exit status.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::CheckConfig { config } => match config::load(&config, env_vars()).await {
            Ok(c) => {
                println!(
                    "{}: valid ({} ENT(s), {} provider(s), {} resource(s), store: {})",
                    config.display(),
                    c.ents.len(),
                    c.providers.len(),
                    c.providers
                        .values()
                        .map(|p| p.resources.len())
                        .sum::<usize>(),
                    match &c.store {
                        StoreConfig::Memory => "memory",
                        StoreConfig::Redis { .. } => "redis",
                    }
                );
                Ok(0)
            }
            Err(e) => {
                eprintln!("{}: {e}", config.display());
                Ok(1)
            }
        },
        Command::Serve { config } => {
            let cfg = match config::load(&config, env_vars()).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    return Ok(1);
                }
            };
            serve(cfg).await?;
            Ok(0)
        }
        Command::Directory(DirectoryCommand::Import { ent, config, files }) => {
            let cfg = match config::load(&config, env_vars()).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    return Ok(1);
                }
            };
            let ent: crate::domain::IdEnt =
                ent.parse().map_err(|e| anyhow::anyhow!("--ent: {e}"))?;
            if !cfg.ents.contains_key(&ent) {
                eprintln!(
                    "--ent {ent}: not an ENT of {} (configure [ents.{ent}])",
                    config.display()
                );
                return Ok(1);
            }
            if cfg.store == StoreConfig::Memory {
                eprintln!("warning: the configuration has no store.redis_url: the import goes to an in-memory store and is lost when this command ends");
            }
            let store = open_store(&cfg).await?;
            let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
            let rules = cfg.import_rules(&cfg.ents[&ent]);
            match crate::feed::import_files(store.as_ref(), &ent, &paths, &rules).await {
                Ok(s) => {
                    println!("directory of {ent} replaced: {} school(s), {} person(s), {} class(es) and group(s)", s.schools, s.persons, s.groups);
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("import refused, the previous directory is kept: {e}");
                    Ok(1)
                }
            }
        }
        Command::Directory(DirectoryCommand::MoveSchool {
            uai,
            to,
            by,
            config,
        }) => school::move_school(&config, &uai, &to, &by).await,
        Command::Directory(DirectoryCommand::Generate {
            ent,
            schools,
            pupils_per_school,
            primary,
            out,
        }) => {
            std::fs::create_dir_all(&out)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
            let shape = crate::feed::generate::Shape {
                schools,
                pupils_per_school,
                degree: if primary {
                    crate::domain::Degree::Primary
                } else {
                    crate::domain::Degree::Secondary
                },
            };
            let files = crate::feed::generate::write_export(&out, &ent, shape)
                .map_err(|e| anyhow::anyhow!("cannot write the export: {e}"))?;
            println!("wrote {} file(s) into {}", files.len(), out.display());
            Ok(0)
        }
        Command::Audit(AuditCommand::Verify {
            dir,
            config,
            certificate,
        }) => audit_verify(dir, &config, certificate).await,
        Command::Audience(AudienceCommand::Report {
            config,
            from,
            to,
            by,
            period,
            scope,
            format,
        }) => {
            let cfg = match config::load(&config, env_vars()).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    return Ok(1);
                }
            };
            let mut p = std::collections::HashMap::from([
                ("by".to_string(), by),
                ("period".to_string(), period),
                ("scope".to_string(), scope),
            ]);
            p.extend(from.map(|f| ("from".to_string(), f)));
            p.extend(to.map(|t| ("to".to_string(), t)));
            audience_report(cfg, &p, &format).await
        }
        Command::Store(StoreCommand::Export { config, out }) => backup::export(&config, out).await,
        Command::Store(StoreCommand::Import { config, file }) => {
            backup::import(&config, &file).await
        }
        Command::Metadata(MetadataCommand::Refresh { entity, config }) => {
            metadata_refresh(&config, entity.as_deref()).await
        }
        Command::Demo { port, ent_protocol } => {
            crate::demo::run(port, ent_protocol == "oidc").await?;
            Ok(0)
        }
    }
}

async fn metadata_refresh(config: &std::path::Path, entity: Option<&str>) -> anyhow::Result<i32> {
    let cfg = match config::load(config, env_vars()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", config.display());
            return Ok(1);
        }
    };
    let store = open_store(&cfg).await?;
    let lines: Arc<dyn TraceSink> = Arc::new(
        JsonLinesSink::open(&cfg.trace_path, cfg.node_name.clone())
            .map_err(|e| anyhow::anyhow!("cannot open trace.path {}: {e}", cfg.trace_path))?,
    );
    let state = AppState::new(cfg, store, Arc::new(SystemClock), lines);
    let partners = &state.partners;
    let chosen: Vec<_> = match entity {
        Some(name) => match partners.find(name) {
            Some(p) => vec![p.clone()],
            None => {
                eprintln!("no partner named {name} has a metadata source");
                return Ok(1);
            }
        },
        None => partners.all().cloned().collect(),
    };
    let mut code = 0;
    for p in chosen {
        partners.sync(&p).await;
        match partners
            .refresh(&p, crate::partners::Reason::Operator)
            .await
        {
            Ok(true) => println!("{}: refreshed, keys or endpoints changed", p.key),
            Ok(false) => println!("{}: refreshed, no change", p.key),
            Err(e) => {
                println!("{}: refused, the last good copy is kept: {e}", p.key);
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn audit_verify(
    dir: Option<PathBuf>,
    config: &std::path::Path,
    certificate: Option<PathBuf>,
) -> anyhow::Result<i32> {
    let (pem, cfg_dir) = match (&certificate, &dir) {
        (Some(c), Some(_)) => (
            std::fs::read(c).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", c.display()))?,
            None,
        ),
        _ => {
            let cfg = match config::load(config, env_vars()).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    return Ok(1);
                }
            };
            let pem = match &certificate {
                Some(c) => std::fs::read(c)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", c.display()))?,
                None => cfg.signing_key.get().certificate_pem()?,
            };
            (pem, cfg.audit.map(|a| a.dir))
        }
    };
    let key = openssl::x509::X509::from_pem(&pem)
        .and_then(|c| c.public_key())
        .map_err(|e| anyhow::anyhow!("not a PEM certificate: {e}"))?;
    let Some(dir) = dir.or(cfg_dir) else {
        eprintln!("no audit directory: give one, or configure audit.dir");
        return Ok(1);
    };
    let ok = crate::audit::verify::print_report(&dir, &key, &mut std::io::stdout())
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
    Ok(if ok { 0 } else { 1 })
}

/// Opens the configured store.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &cfg.store {
        StoreConfig::Memory => {
            tracing::warn!("no store configured: using the in-memory store (single node only; data is lost at restart). Set store.redis_url for production.");
            Arc::new(MemoryStore::new())
        }
        StoreConfig::Redis {
            url,
            cluster,
            prefix,
        } => {
            let store = RedisStore::connect_with(url, *cluster, prefix, &cfg.store_settings)
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to Redis (store.redis_url): {e}"))?;
            tracing::info!(cluster = *cluster, "using the Redis store");
            Arc::new(store)
        }
    })
}

async fn audience_report(
    cfg: Config,
    p: &std::collections::HashMap<String, String>,
    format: &str,
) -> anyhow::Result<i32> {
    if cfg.store == StoreConfig::Memory {
        eprintln!("warning: the configuration has no store.redis_url: an in-memory store has no figures to report");
    }
    let store = open_store(&cfg).await?;
    let state = AppState::new(
        cfg,
        store,
        Arc::new(SystemClock),
        Arc::new(crate::trace::MemorySink::new()),
    );
    let req = match crate::http::audience_request_for_operator(&state, p) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("report refused: {m}");
            return Ok(1);
        }
    };
    let report = crate::audience::report::build(state.store.as_ref(), &req).await?;
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::audience::report::to_csv(&report));
    }
    Ok(0)
}

/// Builds the state, seeds the store, and serves until Ctrl-C / SIGTERM.
/// SIGHUP reads the configuration again and takes its keys and certificates (`app::reload`);
/// an invalid configuration is refused, every problem logged, the running one kept.
fn reload_on_sighup(state: &AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be watched: reload with POST /admin/reload");
            return;
        };
        let state = state.clone();
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                if let Err(e) = state.reload().await {
                    tracing::error!(error = %e, "SIGHUP: reload refused; fix the problems named and send SIGHUP again");
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
}

pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let store = open_store(&cfg).await?;
    let lines: Arc<dyn TraceSink> = Arc::new(
        JsonLinesSink::open(&cfg.trace_path, cfg.node_name.clone())
            .map_err(|e| anyhow::anyhow!("cannot open trace.path {}: {e}", cfg.trace_path))?,
    );
    let audit = match &cfg.audit {
        Some(a) => Some(Arc::new(
            crate::audit::AuditLog::open(
                a.clone(),
                &cfg.node_name,
                cfg.signing_key.get().key.clone(),
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the audit log in {} (audit.dir): {e}",
                    a.dir.display()
                )
            })?,
        )),
        None => {
            tracing::warn!("no [audit] section: decisions are traced but not kept in a tamper-evident audit log");
            None
        }
    };
    let trace: Arc<dyn TraceSink> = match &audit {
        Some(a) => Arc::new(crate::trace::FanOut(vec![
            lines,
            a.clone() as Arc<dyn TraceSink>,
        ])),
        None => lines,
    };
    let listen = cfg.listen;
    let base = cfg.public_base_url.clone();
    let state = AppState::new(cfg, store, Arc::new(SystemClock), trace);
    state.trace_configuration();
    state.seed().await?;
    let _metadata_task = state.partners.spawn();
    let _logout_outbox = state.spawn_logout_outbox();
    let _audience_tasks = state
        .audience
        .spawn(state.store.clone(), state.clock.clone())
        .await;
    let (audience, store_at_exit) = (state.audience.clone(), state.store.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (server.listen): {e}"))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let tls_task = match state.config.tls.clone() {
        Some(tls) => {
            let tls_listener = tokio::net::TcpListener::bind(tls.listen)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot listen on {} (server.tls.listen): {e}", tls.listen)
                })?;
            tracing::info!(listen = %tls.listen, "mutual-TLS listener for the web services");
            Some(tokio::spawn(crate::http::tls::serve_tls(
                tls_listener,
                tls.server,
                state.clone(),
                until(stopped.clone()),
            )))
        }
        None => None,
    };
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        let _ = stop.send(true);
    });
    reload_on_sighup(&state);
    if let (Some(a), Some(interval)) = (
        &audit,
        state.config.audit.as_ref().map(|s| s.checkpoint_interval),
    ) {
        let (a, clock, mut rx) = (a.clone(), state.clock.clone(), stopped.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = rx.wait_for(|s| *s) => break,
                }
                if let Err(e) = a.checkpoint(clock.now()) {
                    tracing::error!(error = %e, "audit checkpoint could not be written: check audit.dir");
                }
            }
        });
    }
    tracing::info!(%listen, public_base_url = %base, "passerelle is serving");
    let clock = state.clock.clone();
    crate::http::serve(listener, state, until(stopped)).await?;
    if let Some(t) = tls_task {
        let _ = t.await;
    }
    // Accesses still in the local buffer go to the store before the process ends.
    match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        audience.flush(store_at_exit.as_ref(), clock.now()),
    )
    .await
    {
        Ok(Ok(())) => {}
        _ => tracing::error!(
            lost = audience.buffered(),
            "audience events could not reach the store before shutdown: check store.redis_url"
        ),
    }
    if let Some(a) = audit {
        a.checkpoint(clock.now()).map_err(|e| {
            anyhow::anyhow!("the shutdown audit checkpoint could not be written: {e}")
        })?;
    }
    Ok(())
}
