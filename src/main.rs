use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: under the benchmark's load, glibc's malloc, free
/// and their locks took 17–19 % of the API's CPU (docs/src/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    espace_sante::cli::run(espace_sante::cli::Cli::parse()).await
}
