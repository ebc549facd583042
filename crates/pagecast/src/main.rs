//! `pagecast`: parses arguments and hands over to the libraries.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use pagecast_bench::receiver::{self, RECEIVER_SUBCOMMAND, ReceiverKind};
use pagecast_bench::{report, transfer};
use pagecast_io::Method;

#[derive(Parser)]
#[command(
    name = "pagecast",
    version,
    about = "Moves bytes from the page cache to the network without copying them, and measures it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure every transfer method side by side on this machine.
    Bench(BenchArgs),
    /// The benchmark's receiving process (started by `pagecast bench`).
    #[command(name = RECEIVER_SUBCOMMAND, hide = true)]
    Receiver {
        /// zero-copy or ordinary.
        kind: ReceiverKind,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Size of the test file: bytes, or with a suffix K, M, G, T (powers of 1024).
    #[arg(long, default_value = "1G", value_parser = pagecast_bench::parse_size)]
    size: u64,
    /// Methods to measure, comma-separated: read+write, direct, mmap+write, sendfile,
    /// splice, io_uring; or all.
    #[arg(long, default_value = "all")]
    method: String,
    /// Receiver: zero-copy (splice into /dev/null), ordinary (read into a buffer), or both.
    #[arg(long, default_value = "both")]
    receiver: String,
    /// Runs per method and receiver; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Also run each method's system calls in a bare loop, to show the engine's overhead.
    #[arg(long)]
    raw: bool,
    /// Print JSON on standard output instead of the table.
    #[arg(long)]
    json: bool,
    /// Write a chart to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Directory for the test file (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench(args),
        Command::Receiver { kind } => {
            receiver::run(kind, std::io::stdout()).context("benchmark receiver")
        }
    }
}

fn parse_methods(list: &str) -> anyhow::Result<Vec<Method>> {
    if list == "all" {
        return Ok(Method::ALL.to_vec());
    }
    let mut methods = Vec::new();
    for name in list.split(',').map(str::trim) {
        let method: Method = name.parse()?;
        if method == Method::Auto {
            bail!("--method auto is not measured: name the methods to compare");
        }
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Ok(methods)
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let program =
        std::env::current_exe().context("find the pagecast executable to start the receiver")?;
    let mut config = transfer::Config::new(program);
    config.size = args.size;
    config.methods = parse_methods(&args.method)?;
    config.receivers = match args.receiver.as_str() {
        "both" => ReceiverKind::BOTH.to_vec(),
        one => vec![one.parse().map_err(anyhow::Error::msg)?],
    };
    config.runs = args.runs as usize;
    config.raw = args.raw;
    config.dir = args.dir;

    let report = transfer::run(&config, |line| eprintln!("{line}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report::json(&report))?);
    } else {
        print!("{}", report::text(&report));
    }
    if let Some(path) = args.svg {
        std::fs::write(&path, report::svg(&report))
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(())
}
