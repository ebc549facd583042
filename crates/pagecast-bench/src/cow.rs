//! `pagecast bench cow`: copy-on-write in memory, the literature's third kind of
//! zero-copy, measured. A `MAP_PRIVATE` mapping of a cached file shares the page cache
//! while it is read; the first write to a page faults and copies that one page. Beside
//! it: a `MAP_SHARED` mapping written in place (no copy, but the file changes), and a
//! read into a private buffer, the copy made in advance.
//!
//! Copies are counted, not inferred: a page copied on write is an anonymous page of
//! the process, so the growth of `RssAnon` (/proc/self/status) in pages is the number
//! of pages copied. Faults are getrusage's minor and major faults of this thread.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::{Error, format_size, sys};

/// What `pagecast bench cow` runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bytes of the mapped file.
    pub size: u64,
    /// Runs per case; medians are reported.
    pub runs: usize,
    /// Percentages of the pages written.
    pub percents: Vec<u32>,
    /// Where the file goes (the system's temporary directory by default).
    pub dir: Option<PathBuf>,
}

impl Config {
    /// 256 MiB, 3 runs, writes to 1%, 10% and 100% of the pages.
    pub fn new() -> Config {
        Config {
            size: 256 << 20,
            runs: 3,
            percents: vec![1, 10, 100],
            dir: None,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

/// How the file's pages are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `MAP_PRIVATE`: shared until written, then copied a page at a time.
    Private,
    /// `MAP_SHARED` of a scratch copy, written in place.
    Shared,
    /// pread of the whole file into a buffer first, then written there.
    Buffer,
}

impl Way {
    pub const ALL: [Way; 3] = [Way::Private, Way::Shared, Way::Buffer];

    pub fn name(self) -> &'static str {
        match self {
            Way::Private => "MAP_PRIVATE",
            Way::Shared => "MAP_SHARED",
            Way::Buffer => "read into buffer",
        }
    }
}

/// One measured phase: faults, pages copied and time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phase {
    pub faults: u64,
    pub pages_copied: u64,
    pub time: Duration,
}

/// One run of one case.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Bringing every page in: mapping reads, or the pread into the buffer.
    pub read: Phase,
    /// Writing one byte into each chosen page.
    pub write: Phase,
    /// Whether the file's bytes were the same afterwards.
    pub file_unchanged: bool,
}

/// One way at one percentage.
#[derive(Debug, Clone)]
pub struct Row {
    pub way: Way,
    pub percent: u32,
    pub pages_written: u64,
    pub samples: Vec<Sample>,
}

impl Row {
    fn median(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        crate::median(self.samples.iter().map(f)).unwrap_or(f64::NAN)
    }

    /// Median write-phase faults.
    pub fn write_faults(&self) -> f64 {
        self.median(|s| s.write.faults as f64)
    }

    /// Median pages copied while writing.
    pub fn write_copies(&self) -> f64 {
        self.median(|s| s.write.pages_copied as f64)
    }

    /// Median pages copied while reading.
    pub fn read_copies(&self) -> f64 {
        self.median(|s| s.read.pages_copied as f64)
    }

    /// Median microseconds per page written.
    pub fn us_per_page_written(&self) -> f64 {
        self.median(|s| s.write.time.as_secs_f64() * 1e6 / self.pages_written.max(1) as f64)
    }
}

/// Everything `bench cow` measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub size: u64,
    pub pages: u64,
    pub runs: usize,
    pub rows: Vec<Row>,
}

/// Runs every way at every percentage, `config.runs` times.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, Error> {
    sys::fresh_pages_for_large_buffers();
    let dir = tempfile::Builder::new()
        .prefix("pagecast-bench-cow")
        .tempdir_in(config.dir.clone().unwrap_or_else(std::env::temp_dir))
        .map_err(|e| Error::File(config.dir.clone().unwrap_or_default(), e))?;
    let path = dir.path().join("mapped");
    let file_error = |e| Error::File(path.clone(), e);
    progress(&format!("writing the {} file", format_size(config.size)));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|f| crate::transfer::fill(&f, config.size).map(|()| f))
        .map_err(file_error)?;
    let size = usize::try_from(config.size).map_err(|_| {
        file_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "larger than the address space",
        ))
    })?;
    let page = rustix::param::page_size();
    let pages = size.div_ceil(page);
    let original = checksum(&file, size).map_err(file_error)?;
    let scratch_path = dir.path().join("scratch");
    let mut rows = Vec::new();
    for way in Way::ALL {
        for &percent in &config.percents {
            let chosen = chosen_pages(pages, percent);
            rows.push(Row {
                way,
                percent,
                pages_written: chosen.len() as u64,
                samples: Vec::new(),
            });
        }
    }
    for round in 1..=config.runs {
        for row in &mut rows {
            progress(&format!(
                "run {round}/{}: {} writing {}% of the pages",
                config.runs,
                row.way.name(),
                row.percent
            ));
            let chosen = chosen_pages(pages, row.percent);
            let sample = match row.way {
                Way::Private => mapped(&file, size, true, &chosen),
                Way::Shared => {
                    let scratch = scratch_copy(&file, &scratch_path, config.size)
                        .map_err(|e| Error::File(scratch_path.clone(), e))?;
                    mapped(&scratch, size, false, &chosen)
                }
                Way::Buffer => buffered(&file, size, page, &chosen),
            }
            .map_err(file_error)?;
            let unchanged = checksum(&file, size).map_err(file_error)? == original;
            row.samples.push(Sample {
                file_unchanged: unchanged,
                ..sample
            });
        }
    }
    Ok(Report {
        size: config.size,
        pages: pages as u64,
        runs: config.runs,
        rows,
    })
}

/// Every page whose number, spread evenly, falls in the first `percent` of each 100.
fn chosen_pages(pages: usize, percent: u32) -> Vec<usize> {
    let every = 100 / percent.clamp(1, 100) as usize;
    (0..pages).step_by(every.max(1)).collect()
}

/// Anonymous resident pages of this process: the pages it has copied or allocated.
fn anon_pages() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok(kib * 1024 / rustix::param::page_size() as u64)
}

/// Runs `f` and measures its faults, anonymous pages gained and time.
fn phase(f: impl FnOnce()) -> std::io::Result<Phase> {
    let anon = anon_pages()?;
    let before = sys::thread_usage();
    let started = Instant::now();
    f();
    let time = started.elapsed();
    let used = sys::thread_usage() - before;
    Ok(Phase {
        faults: used.faults,
        pages_copied: anon_pages()?.saturating_sub(anon),
        time,
    })
}

fn mapped(file: &File, size: usize, private: bool, chosen: &[usize]) -> std::io::Result<Sample> {
    let mut map = sys::PageMapping::new(file.as_fd(), size, private)?;
    let mut sum = 0u8;
    let read = phase(|| {
        for i in 0..map.pages() {
            sum = sum.wrapping_add(map.read_page(i));
        }
    })?;
    let write = phase(|| {
        for &i in chosen {
            let b = map.read_page(i);
            map.write_page(i, b.wrapping_add(1));
        }
    })?;
    std::hint::black_box(sum);
    Ok(Sample {
        read,
        write,
        file_unchanged: true,
    })
}

fn buffered(file: &File, size: usize, page: usize, chosen: &[usize]) -> std::io::Result<Sample> {
    let mut buf: Vec<u8> = Vec::new();
    let mut result = Ok(());
    let read = phase(|| {
        buf = vec![0u8; size];
        result = file.read_exact_at(&mut buf, 0);
    })?;
    result?;
    let write = phase(|| {
        for &i in chosen {
            let at = i * page;
            buf[at] = buf[at].wrapping_add(1);
        }
    })?;
    std::hint::black_box(&buf);
    Ok(Sample {
        read,
        write,
        file_unchanged: true,
    })
}

/// A copy of the file to write through `MAP_SHARED`, so the measured file never
/// changes; its pages are read back so the shared mapping starts from a warm cache.
fn scratch_copy(file: &File, path: &std::path::Path, size: u64) -> std::io::Result<File> {
    let _ = std::fs::remove_file(path);
    let scratch = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    pagecast_io::copy_file(file, 0, size, &scratch, 0, &pagecast_io::copy_options())
        .map_err(std::io::Error::other)?;
    let mut sink = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < size {
        let n = scratch.read_at(&mut sink, at)?;
        if n == 0 {
            break;
        }
        at += n as u64;
    }
    Ok(scratch)
}

/// A checksum of the file's bytes as read from it (not through any mapping).
fn checksum(file: &File, size: usize) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut sum = 0xcbf2_9ce4_8422_2325u64;
    let mut at = 0usize;
    while at < size {
        let n = (size - at).min(buf.len());
        file.read_exact_at(&mut buf[..n], at as u64)?;
        for word in buf[..n].chunks(8) {
            let mut w = [0u8; 8];
            w[..word.len()].copy_from_slice(word);
            sum = (sum ^ u64::from_le_bytes(w)).wrapping_mul(0x0100_0000_01b3);
        }
        at += n;
    }
    Ok(sum)
}

/// The table, then one line per claim.
pub fn text(report: &Report) -> String {
    let mut out = format!(
        "\nCopy-on-write in memory: a {} cached file ({} pages), medians of {} runs\n\n",
        format_size(report.size),
        report.pages,
        report.runs
    );
    out.push_str(&format!(
        "{:<17} {:>7} {:>8} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}\n",
        "way",
        "written",
        "pages",
        "read faults",
        "read copies",
        "write faults",
        "write copies",
        "µs/page",
        "file same"
    ));
    for row in &report.rows {
        out.push_str(&format!(
            "{:<17} {:>6}% {:>8} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>10.3} {:>10}\n",
            row.way.name(),
            row.percent,
            row.pages_written,
            row.median(|s| s.read.faults as f64),
            row.read_copies(),
            row.write_faults(),
            row.write_copies(),
            row.us_per_page_written(),
            if row.samples.iter().all(|s| s.file_unchanged) {
                "yes"
            } else {
                "no"
            },
        ));
    }
    out.push('\n');
    for row in report.rows.iter().filter(|r| r.way == Way::Private) {
        out.push_str(&format!(
            "MAP_PRIVATE, {}% written: reading all {} pages copied {:.0}; writing {} pages took {:.0} faults and copied {:.0} pages, {:.2} µs each, when written\n",
            row.percent,
            report.pages,
            row.read_copies(),
            row.pages_written,
            row.write_faults(),
            row.write_copies(),
            row.us_per_page_written(),
        ));
    }
    for way in [Way::Shared, Way::Buffer] {
        if let Some(row) = report
            .rows
            .iter()
            .find(|r| r.way == way && r.percent == 100)
        {
            let line = match way {
                Way::Shared => format!(
                    "MAP_SHARED, 100% written in place: {:.0} faults, {:.0} pages copied, and the file itself changes\n",
                    row.write_faults(),
                    row.write_copies()
                ),
                _ => format!(
                    "read into a buffer: all {} pages copied in advance ({:.0} new pages, {:.1} ms), whatever is written later\n",
                    report.pages,
                    row.read_copies(),
                    row.median(|s| s.read.time.as_secs_f64()) * 1e3
                ),
            };
            out.push_str(&line);
        }
    }
    out.push_str(
        "\ncopies = growth of RssAnon in pages (a page copied on write is anonymous); faults = getrusage minor + major.\n",
    );
    out
}

/// The report as JSON.
pub fn json(report: &Report) -> serde_json::Value {
    let phase = |p: &Phase| {
        json!({
            "faults": p.faults,
            "pages_copied": p.pages_copied,
            "seconds": p.time.as_secs_f64(),
        })
    };
    json!({
        "size": report.size,
        "pages": report.pages,
        "runs": report.runs,
        "rows": report.rows.iter().map(|row| json!({
            "way": row.way.name(),
            "percent": row.percent,
            "pages_written": row.pages_written,
            "write_faults_median": row.write_faults(),
            "write_copies_median": row.write_copies(),
            "read_copies_median": row.read_copies(),
            "us_per_page_written_median": row.us_per_page_written(),
            "file_unchanged": row.samples.iter().all(|s| s.file_unchanged),
            "samples": row.samples.iter().map(|s| json!({
                "read": phase(&s.read),
                "write": phase(&s.write),
                "file_unchanged": s.file_unchanged,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
