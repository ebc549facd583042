//! `pagecast bench copy`: one file copied into another on the filesystem of `--dir`, by
//! each file → file method of the transfer engine, side by side. For each: time and
//! throughput into the page cache, the time until the copy is on disk (fdatasync), CPU
//! per GB, system calls, the method that really ran (copy_file_range may reflink, copy
//! in the kernel, or refuse), and the disk space the copy took of its own (FIEMAP's
//! shared extents; `st_blocks` where the filesystem has no extent map).

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pagecast_io::{Extents, Method, Options};
use serde_json::json;

use crate::{Error, format_size, round_order, sys};

/// What `pagecast bench copy` runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bytes of the file copied.
    pub size: u64,
    /// Runs per method; medians are reported.
    pub runs: usize,
    /// Methods, in the order shown.
    pub methods: Vec<Method>,
    /// Where the files go: the filesystem measured (the system's temporary directory
    /// by default).
    pub dir: Option<PathBuf>,
}

impl Config {
    /// 1 GiB, 3 runs, every file → file method, in the temporary directory.
    pub fn new() -> Config {
        Config {
            size: 1 << 30,
            runs: 3,
            methods: Method::FILE_TO_FILE.to_vec(),
            dir: None,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

/// One copy.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The copy call, into the page cache.
    pub copy: Duration,
    /// fdatasync(2) afterwards: until the copy is on disk.
    pub sync: Duration,
    /// CPU of the copying thread during the copy call, user + system.
    pub cpu: Duration,
    pub syscalls: u64,
    /// The method that really ran.
    pub ran: Method,
    /// Bytes of the copy whose blocks it shares with the source.
    pub shared: u64,
    /// Bytes the copy takes on disk of its own.
    pub own_space: u64,
}

/// One method's runs.
#[derive(Debug, Clone)]
pub struct Row {
    pub method: Method,
    /// Why the method cannot run here, if it cannot (without fallback).
    pub unsupported: Option<String>,
    pub samples: Vec<Sample>,
}

impl Row {
    fn median(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        crate::median(self.samples.iter().map(f)).unwrap_or(f64::NAN)
    }

    /// How the copy was really made, in words.
    pub fn how(&self) -> String {
        let Some(s) = self.samples.last() else {
            return "-".into();
        };
        match (s.ran, s.shared) {
            (Method::CopyFileRange, 0) => "copied in the kernel".into(),
            (Method::CopyFileRange, _) => "reflinked by the filesystem".into(),
            (Method::Reflink, _) => "reflink: extents shared".into(),
            (ran, _) if ran != self.method => format!("ran as {ran}"),
            _ => "copied".into(),
        }
    }
}

/// Everything a run of `bench copy` measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub size: u64,
    pub runs: usize,
    /// The directory and the filesystem it is on.
    pub dir: PathBuf,
    pub filesystem: String,
    pub rows: Vec<Row>,
}

/// Copies a `config.size` file by every method, `config.runs` times, interleaved.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, Error> {
    let dir = tempfile::Builder::new()
        .prefix("pagecast-bench-copy")
        .tempdir_in(config.dir.clone().unwrap_or_else(std::env::temp_dir))
        .map_err(|e| Error::File(config.dir.clone().unwrap_or_default(), e))?;
    let src_path = dir.path().join("source");
    progress(&format!(
        "writing the {} source file in {}",
        format_size(config.size),
        dir.path().display()
    ));
    let src = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&src_path)
        .and_then(|f| crate::transfer::fill(&f, config.size).map(|()| f))
        .map_err(|e| Error::File(src_path.clone(), e))?;
    let filesystem = filesystem_of(dir.path());
    let mut rows: Vec<Row> = config
        .methods
        .iter()
        .map(|&method| Row {
            method,
            unsupported: None,
            samples: Vec::new(),
        })
        .collect();
    for round in 1..=config.runs {
        for i in round_order(round, rows.len()) {
            let row = &mut rows[i];
            if row.unsupported.is_some() {
                continue;
            }
            progress(&format!("run {round}/{}: {}", config.runs, row.method));
            let dst_path = dir.path().join(format!("copy-{}", row.method.name()));
            match copy_once(&src, config.size, &dst_path, row.method) {
                Ok(sample) => row.samples.push(sample),
                Err(CopyError::Unsupported(why)) => row.unsupported = Some(why),
                Err(CopyError::Failed(e)) => return Err(Error::Transfer(row.method, e)),
                Err(CopyError::File(e)) => return Err(Error::File(dst_path, e)),
            }
            // The copy's space goes back before the next one.
            let _ = std::fs::remove_file(&dst_path);
        }
    }
    Ok(Report {
        size: config.size,
        runs: config.runs,
        dir: config.dir.clone().unwrap_or_else(std::env::temp_dir),
        filesystem,
        rows,
    })
}

enum CopyError {
    Unsupported(String),
    Failed(pagecast_io::Error),
    File(io::Error),
}

fn copy_once(src: &File, size: u64, dst_path: &Path, method: Method) -> Result<Sample, CopyError> {
    let dst = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst_path)
        .map_err(CopyError::File)?;
    let options = Options {
        fallback: false,
        ..Options::method(method)
    };
    let before = sys::thread_usage();
    let started = Instant::now();
    let stats = match pagecast_io::copy_file(src, 0, size, &dst, 0, &options) {
        Ok(stats) => stats,
        Err(e @ pagecast_io::Error::Unsupported { .. }) => {
            return Err(CopyError::Unsupported(e.to_string()));
        }
        Err(e) => return Err(CopyError::Failed(e)),
    };
    let copy = started.elapsed();
    let used = sys::thread_usage() - before;
    let synced = Instant::now();
    dst.sync_data().map_err(CopyError::File)?;
    let sync = synced.elapsed();
    let (shared, own_space) = match Extents::of(&dst) {
        Ok(e) => (e.shared, e.own()),
        // No extent map (tmpfs): the blocks the file holds are its own.
        Err(_) => (0, dst.metadata().map_err(CopyError::File)?.blocks() * 512),
    };
    Ok(Sample {
        copy,
        sync,
        cpu: used.user + used.sys,
        syscalls: stats.syscalls.total(),
        ran: stats.method,
        shared,
        own_space,
    })
}

/// The filesystem type of `dir`, by statfs(2) magic.
fn filesystem_of(dir: &Path) -> String {
    const NAMES: [(u64, &str); 6] = [
        (0x9123_683E, "btrfs"),
        (0x5846_5342, "xfs"),
        (0xEF53, "ext4"),
        (0x0102_1994, "tmpfs"),
        (0x2FC1_2FC1, "zfs"),
        (0x6573_5546, "fuse"),
    ];
    match rustix::fs::statfs(dir) {
        Ok(s) => {
            let magic = s.f_type as u64;
            NAMES
                .iter()
                .find(|(m, _)| *m == magic)
                .map_or_else(|| format!("{magic:#x}"), |(_, n)| n.to_string())
        }
        Err(e) => format!("unknown ({e})"),
    }
}

/// The table, and one line per claim.
pub fn text(report: &Report) -> String {
    let gb = report.size as f64 / 1e9;
    let mut out = format!(
        "\nFile-to-file copy of {} on {} ({}), medians of {} runs\n\n",
        format_size(report.size),
        report.filesystem,
        report.dir.display(),
        report.runs
    );
    out.push_str(&format!(
        "{:<16} {:>9} {:>10} {:>9} {:>10} {:>9} {:>12}  {}\n",
        "method", "copy ms", "GB/s", "fsync ms", "CPU s/GB", "syscalls", "own space", "what ran"
    ));
    for row in &report.rows {
        if let Some(why) = &row.unsupported {
            out.push_str(&format!(
                "{:<16} unsupported here: {why}\n",
                row.method.name()
            ));
            continue;
        }
        let copy = row.median(|s| s.copy.as_secs_f64());
        out.push_str(&format!(
            "{:<16} {:>9.1} {:>10.2} {:>9.1} {:>10.3} {:>9.0} {:>12}  {}\n",
            row.method.name(),
            copy * 1e3,
            gb / copy.max(1e-9),
            row.median(|s| s.sync.as_secs_f64()) * 1e3,
            row.median(|s| s.cpu.as_secs_f64()) / gb,
            row.median(|s| s.syscalls as f64),
            format_size(row.median(|s| s.own_space as f64) as u64),
            row.how(),
        ));
    }
    let find = |m: Method| {
        report
            .rows
            .iter()
            .find(|r| r.method == m && r.unsupported.is_none() && !r.samples.is_empty())
    };
    let read_write = Method::ReadWrite {
        buf: pagecast_io::DEFAULT_READ_WRITE_BUF,
    };
    if let Some(base) = find(read_write) {
        let base_copy = base.median(|s| s.copy.as_secs_f64());
        let base_cpu = base.median(|s| s.cpu.as_secs_f64());
        out.push('\n');
        for row in report.rows.iter().filter(|r| r.method != base.method) {
            if row.unsupported.is_some() || row.samples.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "{} vs read+write: {:.2}x the speed, {:.2}x the CPU, {} of its own on disk ({})\n",
                row.method,
                base_copy / row.median(|s| s.copy.as_secs_f64()).max(1e-9),
                row.median(|s| s.cpu.as_secs_f64()) / base_cpu.max(1e-9),
                format_size(row.median(|s| s.own_space as f64) as u64),
                row.how(),
            ));
        }
    }
    out.push_str(
        "\nown space = bytes of the copy's extents not shared with the source (FIEMAP), after fdatasync;\n\
         a reflink shares every whole block, so only a last partial block is its own.\n",
    );
    out
}

/// The report as JSON: medians and every run.
pub fn json(report: &Report) -> serde_json::Value {
    json!({
        "size": report.size,
        "runs": report.runs,
        "dir": report.dir,
        "filesystem": report.filesystem,
        "rows": report.rows.iter().map(|row| json!({
            "method": row.method.name(),
            "unsupported": row.unsupported,
            "ran": row.samples.last().map(|s| s.ran.name()),
            "how": row.how(),
            "copy_seconds_median": row.median(|s| s.copy.as_secs_f64()),
            "fsync_seconds_median": row.median(|s| s.sync.as_secs_f64()),
            "cpu_seconds_median": row.median(|s| s.cpu.as_secs_f64()),
            "syscalls_median": row.median(|s| s.syscalls as f64),
            "shared_bytes_median": row.median(|s| s.shared as f64),
            "own_space_bytes_median": row.median(|s| s.own_space as f64),
            "samples": row.samples.iter().map(|s| json!({
                "copy_seconds": s.copy.as_secs_f64(),
                "fsync_seconds": s.sync.as_secs_f64(),
                "cpu_seconds": s.cpu.as_secs_f64(),
                "syscalls": s.syscalls,
                "ran": s.ran.name(),
                "shared_bytes": s.shared,
                "own_space_bytes": s.own_space,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
