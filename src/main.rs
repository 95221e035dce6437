use clap::{Parser, Subcommand};
use liveagent_graphql::config::{self, LogFormat, Overrides, Settings};
use liveagent_graphql::model::ApiVersion;
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc (see Cargo.toml): memory freed when subscribers leave goes back
/// to the system within seconds.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// GraphQL gateway in front of the Live Agent OData analytics endpoint.
#[derive(Parser)]
#[command(name = "liveagent-graphql", version)]
struct Cli {
    /// TOML config file; flags and environment override its keys
    #[arg(long, global = true, env = "CONFIG_FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (the default)
    Serve,
    /// Print the GraphQL SDL the gateway serves for an endpoint version
    PrintSchema,
    /// Exit 0 when the gateway at the listen address answers /healthz (for
    /// container health checks: the runtime image has no curl)
    Healthcheck,
    /// Print the SHA-256 of a client API key, for `api_keys` in the config
    /// (service mode); without KEY, reads it from standard input
    HashKey {
        /// The client key (omit to read it from stdin, out of shell history)
        key: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashKey { key }) = &cli.command {
        return hash_key(key.as_deref());
    }
    let settings = match config::load(cli.config.as_deref(), &cli.overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            let version = settings
                .upstream
                .configured_version
                .unwrap_or(ApiVersion::V1_1);
            match liveagent_graphql::schema::sdl(version) {
                Ok(sdl) => {
                    print!("{sdl}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Healthcheck => healthcheck(&settings).await,
        Command::HashKey { .. } => ExitCode::SUCCESS,
        Command::Serve => serve(&settings, cli.config, cli.overrides).await,
    }
}

/// Serves with traces exported when the environment names an OTLP
/// endpoint; the spans still queued go out before the process ends. A
/// SIGHUP reads the same file and flags again (the API keys and trusted
/// documents then in force).
async fn serve(settings: &Settings, file: Option<PathBuf>, overrides: Overrides) -> ExitCode {
    let traces = match liveagent_graphql::telemetry::init() {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let load = move || config::load(file.as_deref(), &overrides);
    let served = liveagent_graphql::server::serve_reloading(settings, Box::new(load)).await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `LOG` (default `info`), as text or as one
/// JSON object a line.
fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("LOG").unwrap_or_else(|_| "info".into());
    // Colours only on a terminal: piped logs stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn hash_key(key: Option<&str>) -> ExitCode {
    let key = match key {
        Some(k) => k.to_string(),
        None => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().read_line(&mut line) {
                eprintln!("error: cannot read the key from stdin: {e}");
                return ExitCode::FAILURE;
            }
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if key.trim().is_empty() {
        eprintln!("error: the key is empty");
        return ExitCode::FAILURE;
    }
    println!("{}", liveagent_graphql::server::hash_key(&key));
    ExitCode::SUCCESS
}

async fn healthcheck(settings: &Settings) -> ExitCode {
    let addr = settings.listen;
    // A wildcard listen address is reached on loopback.
    let host = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let ok = match client {
        Ok(c) => c
            .get(format!("http://{host}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
