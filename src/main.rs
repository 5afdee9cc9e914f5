use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    espace_sante::cli::run(espace_sante::cli::Cli::parse()).await
}
