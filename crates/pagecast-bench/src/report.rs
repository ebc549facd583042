//! Turns a [`Report`] into what a person reads: the table, one line per classic claim
//! with the measured ratio, JSON, and an SVG chart.

use std::fmt::Write as _;

use pagecast_io::{DEFAULT_READ_WRITE_BUF, Method};
use serde_json::json;

use crate::congestion::InEffect;
use crate::receiver::ReceiverKind;
use crate::transfer::{Report, Row, Sample, Variant};
use crate::{format_size, gbps};

const BASELINE: Method = Method::ReadWrite {
    buf: DEFAULT_READ_WRITE_BUF,
};

fn per_gb(size: u64, d: std::time::Duration) -> f64 {
    d.as_secs_f64() / (size as f64 / 1e9)
}

fn label(row: &Row) -> String {
    match row.variant {
        Variant::Engine => row.method.to_string(),
        Variant::Raw => format!("{} (raw)", row.method),
    }
}

fn find(report: &Report, method: Method, variant: Variant, kind: ReceiverKind) -> Option<Sample> {
    report
        .rows
        .iter()
        .find(|r| r.method == method && r.variant == variant && r.receiver == kind)
        .and_then(Row::median)
}

/// The table and the claim lines, as printed by `pagecast bench`.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pagecast bench: {} file from the page cache over loopback TCP to a receiver process; median of {} run{}",
        format_size(report.size),
        report.runs,
        if report.runs == 1 { "" } else { "s" }
    );
    match report.cpus {
        Some((sender, receiver)) => {
            let _ = writeln!(
                out,
                "sender pinned to CPU {sender}, receivers to CPU {receiver}"
            );
        }
        None => {
            let _ = writeln!(out, "one CPU: sender and receiver share it");
        }
    }
    if let Some(congestion) = &report.congestion {
        let _ = writeln!(out, "TCP congestion control: {}", congestion.describe());
    }
    for (name, role, sg) in &report.interfaces {
        let answer = match sg {
            Ok(true) => "scatter-gather on: sendfile's last copy can be DMA by the NIC".to_owned(),
            Ok(false) => "scatter-gather off: the kernel copies into the socket buffer".to_owned(),
            Err(e) => format!("scatter-gather unknown ({e})"),
        };
        let _ = writeln!(out, "interface {name} ({role}): {answer}");
    }
    let kinds: Vec<ReceiverKind> = ReceiverKind::BOTH
        .into_iter()
        .filter(|k| report.rows.iter().any(|r| r.receiver == *k))
        .collect();
    for &kind in &kinds {
        let _ = writeln!(out, "\n{}", kind.describe());
        let _ = writeln!(
            out,
            "{:<20} {:>7} {:>12} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7}",
            "method",
            "GB/s",
            "runs' range",
            "user s/GB",
            "sys s/GB",
            "syscalls",
            "mode sw",
            "ctx sw",
            "faults",
            "copies"
        );
        for row in report.rows.iter().filter(|r| r.receiver == kind) {
            match (&row.unsupported, row.median()) {
                (None, Some(m)) => {
                    let speeds = row.samples.iter().map(|x| gbps(report.size, x.elapsed));
                    let (lo, hi) =
                        speeds.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
                    let _ = writeln!(
                        out,
                        "{:<20} {:>7.2} {:>12} {:>10.3} {:>9.3} {:>9} {:>9} {:>8} {:>8} {:>7}",
                        label(row),
                        gbps(report.size, m.elapsed),
                        format!("{lo:.2}–{hi:.2}"),
                        per_gb(report.size, m.user),
                        per_gb(report.size, m.sys),
                        m.syscalls,
                        2 * m.syscalls,
                        m.context_switches,
                        m.faults,
                        row.method.design_copies(),
                    );
                }
                (why, _) => {
                    let why = why.as_deref().unwrap_or("no runs");
                    let _ = writeln!(out, "{:<20} unsupported here: {why}", label(row));
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nmode sw = user↔kernel mode switches, 2 per syscall (the classic table's \"context switches\");\nctx sw = scheduler context switches (getrusage); copies = CPU copies per byte on the sender, by design."
    );
    let claims = claims(report);
    if !claims.is_empty() {
        let _ = writeln!(out);
        for line in claims {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// One line per classic claim, measured: each method against read+write, and with
/// raw rows, the engine against its bare loop.
pub fn claims(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for kind in ReceiverKind::BOTH {
        let Some(base) = find(report, BASELINE, Variant::Engine, kind) else {
            continue;
        };
        for method in [
            Method::Sendfile,
            Method::Splice,
            Method::IoUring,
            Method::MmapWrite,
            Method::Direct,
        ] {
            let Some(m) = find(report, method, Variant::Engine, kind) else {
                continue;
            };
            lines.push(format!(
                "{method} vs read+write ({kind} receiver): {:.2}x throughput, {:.2}x sender CPU, {:.2}x sender sys CPU, {:.2}x mode switches",
                base.elapsed.as_secs_f64() / m.elapsed.as_secs_f64(),
                ratio(m.user + m.sys, base.user + base.sys),
                ratio(m.sys, base.sys),
                m.syscalls as f64 / base.syscalls.max(1) as f64,
            ));
        }
    }
    for kind in ReceiverKind::BOTH {
        let rows = |variant| {
            report
                .rows
                .iter()
                .filter(move |r| r.receiver == kind && r.variant == variant)
        };
        for engine in rows(Variant::Engine) {
            let Some(raw) = rows(Variant::Raw).find(|r| r.method == engine.method) else {
                continue;
            };
            // A round runs a method's engine and raw rows back to back: the median of
            // the per-round ratios is steadier than the ratio of two medians.
            let pairs = || engine.samples.iter().zip(&raw.samples);
            let speed = crate::median(pairs().map(|(e, r)| ratio(r.elapsed, e.elapsed)));
            let cpu = crate::median(pairs().map(|(e, r)| ratio(e.user + e.sys, r.user + r.sys)));
            let (Some(speed), Some(cpu)) = (speed, cpu) else {
                continue;
            };
            lines.push(format!(
                "engine vs raw loop, {} ({kind} receiver): {speed:.2}x throughput, {cpu:.2}x sender CPU (median of {} paired runs)",
                engine.method,
                engine.samples.len().min(raw.samples.len()),
            ));
        }
    }
    lines
}

fn ratio(a: std::time::Duration, b: std::time::Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// The report as JSON, medians and every run.
pub fn json(report: &Report) -> serde_json::Value {
    let sample = |s: &Sample| {
        json!({
            "seconds": s.elapsed.as_secs_f64(),
            "gb_per_s": gbps(report.size, s.elapsed),
            "user_s_per_gb": per_gb(report.size, s.user),
            "sys_s_per_gb": per_gb(report.size, s.sys),
            "syscalls": s.syscalls,
            "mode_switches": 2 * s.syscalls,
            "context_switches": s.context_switches,
            "page_faults": s.faults,
        })
    };
    let rows: Vec<_> = report
        .rows
        .iter()
        .map(|r| {
            json!({
                "method": r.method.name(),
                "variant": match r.variant { Variant::Engine => "engine", Variant::Raw => "raw" },
                "receiver": r.receiver.name(),
                "design_copies": r.method.design_copies(),
                "unsupported": r.unsupported,
                "median": r.median().as_ref().map(sample),
                "runs": r.samples.iter().map(sample).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "bytes": report.size,
        "runs": report.runs,
        "cpus": report.cpus.map(|(sender, receiver)| json!({"sender": sender, "receiver": receiver})),
        "tcp_congestion": report.congestion.as_ref().map(InEffect::json),
        "interfaces": report.interfaces.iter().map(|(name, role, sg)| json!({
            "name": name,
            "role": role,
            "scatter_gather": sg.as_ref().ok(),
        })).collect::<Vec<_>>(),
        "rows": rows,
        "claims": claims(report),
    })
}

/// A chart: throughput per method and receiver, and sender CPU per GB split into user
/// and system time. Plain SVG, readable in any browser.
pub fn svg(report: &Report) -> String {
    let rows: Vec<(&Row, Sample)> = report
        .rows
        .iter()
        .filter_map(|r| r.median().map(|m| (r, m)))
        .collect();
    let panel_h = rows.len() as f64 * (BAR + GAP) + 50.0;
    let height = 2.0 * panel_h + 90.0;
    let width = LEFT + PLOT + 120.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="16" font-weight="bold">pagecast bench: {} over loopback, median of {} runs</text>"#,
        format_size(report.size),
        report.runs
    );
    let receiver_colour = |k: ReceiverKind| match k {
        ReceiverKind::ZeroCopy => "#2b6cb0",
        ReceiverKind::Ordinary => "#dd6b20",
    };
    let bars: Vec<(String, Vec<(f64, &str)>)> = rows
        .iter()
        .map(|(r, m)| {
            let speed = gbps(report.size, m.elapsed);
            (bar_name(r), vec![(speed, receiver_colour(r.receiver))])
        })
        .collect();
    panel(&mut s, 50.0, "Throughput, GB/s (longer is better)", &bars);
    let bars: Vec<(String, Vec<(f64, &str)>)> = rows
        .iter()
        .map(|(r, m)| {
            let user = per_gb(report.size, m.user);
            let sys = per_gb(report.size, m.sys);
            (bar_name(r), vec![(user, USER_COLOUR), (sys, SYS_COLOUR)])
        })
        .collect();
    let title = format!(
        r#"Sender CPU seconds per GB (shorter is better): <tspan fill="{USER_COLOUR}">user</tspan> + <tspan fill="{SYS_COLOUR}">system</tspan>"#
    );
    panel(&mut s, 50.0 + panel_h, &title, &bars);
    let _ = writeln!(
        s,
        r#"<text x="10" y="{}"><tspan fill="{}">■ zero-copy receiver</tspan>   <tspan fill="{}">■ ordinary receiver</tspan></text>"#,
        height - 20.0,
        receiver_colour(ReceiverKind::ZeroCopy),
        receiver_colour(ReceiverKind::Ordinary)
    );
    s.push_str("</svg>\n");
    s
}

const BAR: f64 = 16.0;
const GAP: f64 = 6.0;
const LEFT: f64 = 240.0;
const PLOT: f64 = 560.0;
const USER_COLOUR: &str = "#718096";
const SYS_COLOUR: &str = "#2d3748";

fn bar_name(r: &Row) -> String {
    format!("{} → {}", label(r), r.receiver)
}

/// One panel of horizontal bars, each made of stacked (value, colour) segments, scaled
/// to the longest bar and labelled with its total.
fn panel(s: &mut String, top: f64, title: &str, bars: &[(String, Vec<(f64, &str)>)]) {
    let total = |segments: &[(f64, &str)]| segments.iter().map(|(v, _)| v).sum::<f64>();
    let max = bars
        .iter()
        .map(|(_, segs)| total(segs))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let _ = writeln!(
        s,
        r#"<text x="10" y="{top}" font-weight="bold">{title}</text>"#
    );
    for (i, (name, segments)) in bars.iter().enumerate() {
        let y = top + 15.0 + i as f64 * (BAR + GAP);
        let baseline = y + BAR - 4.0;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{baseline}" text-anchor="end">{name}</text>"#,
            LEFT - 8.0
        );
        let mut x = LEFT;
        for &(value, colour) in segments {
            let w = PLOT * value / max;
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="{BAR}" fill="{colour}"/>"#
            );
            x += w;
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{baseline}">{:.3}</text>"#,
            x + 5.0,
            total(segments)
        );
    }
}
