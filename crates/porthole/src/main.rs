//! The `porthole` command line: a thin layer over the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use porthole_agent::{AgentConfig, StreamConfig, ViewMode};

mod image_assistant;
mod image_import;

#[derive(Parser)]
#[command(
    name = "porthole",
    version,
    about = "Self-hosted application streaming"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one app in a private X server and stream it to a browser tab.
    Stream {
        /// Address to serve the web client and the streaming socket on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Initial screen size; the browser's viewport replaces it when it connects.
        #[arg(long, default_value = "1280x720", value_parser = parse_size)]
        size: (u32, u32),
        /// `app`: the app's windows fill the browser; `desktop`: movable windows on a desktop.
        #[arg(long, value_enum, default_value_t = View::App)]
        view: View,
        /// The application and its arguments.
        #[arg(required = true, last = true)]
        app: Vec<String>,
    },
    /// Run the control plane: the AppStream-compatible admin API, the web
    /// client and the streaming gateway on one port, with sandboxed instances.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Where the database (SQLite), credentials and logs live.
        #[arg(long, default_value = "porthole-data")]
        data_dir: PathBuf,
        /// A `postgres://` URL to keep state in PostgreSQL instead of SQLite.
        #[arg(long)]
        database: Option<String>,
        /// Where instances' runtime directories (agent sockets) are made.
        #[arg(long, default_value = "/run/porthole")]
        runtime_dir: PathBuf,
        /// Serve HTTPS even on loopback (always on beyond loopback). Without
        /// --tls-cert, a self-signed certificate is made in the data directory.
        #[arg(long)]
        tls: bool,
        /// PEM certificate chain to serve HTTPS with.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Send user messages (welcome, stack assigned) through this SMTP
        /// server: smtp://host:port, smtps://user:password@host:465, ...
        /// Without it they stay as .eml files in <data-dir>/outbox.
        #[arg(long)]
        smtp_url: Option<String>,
        /// The sender address of user messages.
        #[arg(long)]
        mail_from: Option<String>,
        /// A TOML file with the identity providers users may sign in with
        /// (OpenID Connect); see the README's "Signing in" section.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serve one instance's display on a Unix socket (run inside an instance's sandbox).
    Agent {
        /// The Unix socket to serve the streaming protocol and app launches on.
        #[arg(long)]
        socket: PathBuf,
        #[arg(long, default_value = "1280x720", value_parser = parse_size)]
        size: (u32, u32),
        #[arg(long, value_enum, default_value_t = View::App)]
        view: View,
    },
    /// Manage images: `porthole image import --name NAME SOURCE`.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Run a command on the instance's image root (the agent starts apps through it
    /// when the image is not the host's).
    #[command(hide = true)]
    /// The catalog tool inside an image builder (also installed there as
    /// `image-assistant` and `AppStreamImageAssistant`).
    ImageAssistant {
        #[command(subcommand)]
        command: image_assistant::AssistantCommand,
    },
    EnterRoot {
        /// The app's working directory in the image (relative to HOME); HOME when
        /// absent or missing.
        #[arg(long)]
        cwd: Option<PathBuf>,
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Import an OCI image (a layout directory, or the archive `docker save` or
    /// `skopeo copy ... oci-archive:FILE` made) into a running server as an image.
    /// Its catalog comes from the label io.porthole.applications, the file
    /// /etc/porthole/applications.json, or its .desktop entries.
    Import {
        /// The image's name (what fleets name in ImageName).
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// The server's URL, as for `aws appstream --endpoint-url`.
        #[arg(long, default_value = "http://127.0.0.1:8443")]
        endpoint: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// A shared-credentials file with the admin key, used unless
        /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set.
        #[arg(long, default_value = "porthole-data/credentials")]
        credentials: PathBuf,
        /// Accept the server's self-signed certificate.
        #[arg(long)]
        insecure: bool,
        source: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum View {
    App,
    Desktop,
}

impl From<View> for ViewMode {
    fn from(view: View) -> Self {
        match view {
            View::App => ViewMode::App,
            View::Desktop => ViewMode::Desktop,
        }
    }
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .context("expected WIDTHxHEIGHT, e.g. 1280x720")?;
    let (w, h): (u32, u32) = (w.parse().context("width")?, h.parse().context("height")?);
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        bail!("screen size must be between 64x64 and 8192x8192");
    }
    Ok((w, h))
}

/// `image-assistant ...`: what an image builder's PATH runs (app_root.rs's links to this
/// executable).
#[derive(Parser)]
#[command(
    name = "image-assistant",
    about = "Add applications to this image builder's catalog and make an image of it"
)]
struct AssistantCli {
    #[command(subcommand)]
    command: image_assistant::AssistantCommand,
}

fn main() -> ExitCode {
    let invoked_as = std::env::args_os().next().map(PathBuf::from);
    let invoked_as = invoked_as.as_deref().and_then(std::path::Path::file_name);
    if invoked_as.is_some_and(|name| name == "image-assistant" || name == "AppStreamImageAssistant")
    {
        return image_assistant::run(AssistantCli::parse().command);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTHOLE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colors only for a person at a terminal: logs in files (instances',
        // the server's under systemd or a test) stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("porthole: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        // Single-threaded: no runtime may have started.
        Command::EnterRoot { cwd, command } => {
            match porthole_sandbox::enter_app_root(&command, cwd.as_deref())? {}
        }
        Command::ImageAssistant { command } => Ok(image_assistant::run(command)),
        Command::Stream {
            listen,
            size,
            view,
            app,
        } => {
            let config = StreamConfig {
                listen,
                width: size.0,
                height: size.1,
                view: view.into(),
                command: app,
            };
            let status = runtime()?.block_on(porthole_agent::run_stream(config))?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Serve {
            listen,
            data_dir,
            database,
            runtime_dir,
            tls,
            tls_cert,
            tls_key,
            smtp_url,
            mail_from,
            config,
        } => {
            let file = match config {
                Some(path) => porthole_server::FileConfig::load(&path)?,
                None => porthole_server::FileConfig::default(),
            };
            let certificate = tls_cert
                .zip(tls_key)
                .map(|(cert, key)| porthole_server::CertificateFiles { cert, key });
            let config = porthole_server::ServeConfig {
                listen,
                data_dir,
                database,
                runtime_dir,
                tls,
                certificate,
                smtp_url,
                mail_from,
                file,
            };
            runtime()?.block_on(porthole_server::serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Image {
            command:
                ImageCommand::Import {
                    name,
                    display_name,
                    description,
                    endpoint,
                    region,
                    credentials,
                    insecure,
                    source,
                },
        } => {
            let args = image_import::ImportArgs {
                source,
                name,
                display_name,
                description,
                endpoint,
                region,
                credentials_file: credentials,
                insecure,
            };
            let answer = runtime()?.block_on(image_import::import(args))?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent { socket, size, view } => {
            let config = AgentConfig {
                socket,
                width: size.0,
                height: size.1,
                view: view.into(),
            };
            runtime()?.block_on(porthole_agent::run_agent(config))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
