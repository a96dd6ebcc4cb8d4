use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = slamon::cli::Cli::parse();
    slamon::cli::init_tracing(cli.log_format);
    slamon::cli::main(cli)
}
