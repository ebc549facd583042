//! Kafka's own load tools in `pagecast bench broker --peer kafka`: ProducerPerformance
//! and ConsumerPerformance (behind kafka-producer-perf-test and
//! kafka-consumer-perf-test), unmodified, from the classpath of the repository's
//! `scripts/kafka`, against each broker of the run in turn.
//!
//! The producer runs with the Java client's defaults (batch.size 16384, linger.ms 5, no
//! compression) and the run's `acks`, as an application that changes nothing would;
//! the consumer with ConsumerPerformance's own settings (it turns CRC checks off).
//! Their figures are taken as they print them: the producer's records/s and latency
//! percentiles over its own run, the consumer's fetch time (without its group join).
//! Both count record values, not batch bytes. The broker's CPU over each tool's run comes
//! from /proc, as for the built-in load.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Error;
use crate::broker::{Broker, Config, Phase, Run, TOPIC, Target, create_topic};

/// Most bytes of record values each tool moves per run: the Java producer makes a
/// record at a time, so it gets a smaller volume than the built-in client.
pub(crate) const MAX_BYTES: u64 = 256 << 20;

/// The name of the tools' rows.
pub const CLIENT: &str = "kafka-perf";

/// One run of both tools against a fresh broker `target`.
pub(crate) fn run(
    config: &Config,
    dir: &Path,
    target: &Target,
    script: &Path,
) -> Result<Run, Error> {
    let broker = Broker::start(config, dir, target)?;
    create_topic(broker.addr, config.partitions)?;
    let records = (config.bytes.min(MAX_BYTES) / config.record_size as u64).max(1);
    let bootstrap = broker.addr.to_string();
    let acks = match config.acks {
        -1 => "all".to_owned(),
        n => n.to_string(),
    };

    let before = broker.cpu();
    let printed = tool(
        script,
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            TOPIC,
            "--num-records",
            &records.to_string(),
            "--record-size",
            &config.record_size.to_string(),
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
            &format!("acks={acks}"),
        ],
    )?;
    let mut produce = producer_summary(&printed, config.record_size)?;
    produce.broker_cpu = broker.cpu().saturating_sub(before);
    // ProducerPerformance counts only the sends that succeeded, and exits 0 either way.
    if produce.records != records {
        return Err(Error::Receiver(format!(
            "ProducerPerformance sent {} of its {records} records",
            produce.records
        )));
    }

    let before = broker.cpu();
    let printed = tool(
        script,
        "org.apache.kafka.tools.ConsumerPerformance",
        &[
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            TOPIC,
            "--messages",
            &records.to_string(),
            "--timeout",
            "60000",
        ],
    )?;
    let mut decoding = consumer_summary(&printed, config.record_size)?;
    decoding.broker_cpu = broker.cpu().saturating_sub(before);
    if decoding.records < records {
        return Err(Error::Receiver(format!(
            "ConsumerPerformance read {} of the {records} records sent",
            decoding.records
        )));
    }
    let peak_rss_kib = broker.peak_rss_kib();
    let start = broker.start;
    broker.stop();
    Ok(Run {
        produce,
        decoding,
        peak_rss_kib,
        start,
        ..Run::default()
    })
}

/// Runs Kafka class `class` with `args` by `script run`; returns what it printed.
fn tool(script: &Path, class: &str, args: &[&str]) -> Result<String, Error> {
    let name = class.rsplit('.').next().unwrap_or(class);
    let out = Command::new(script)
        .arg("run")
        .arg(class)
        .args(args)
        // The tools format their figures in the default locale: a decimal point, here.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Receiver(format!("{} run {name}: {e}", script.display())))?;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(Error::Receiver(format!(
            "{name} failed ({}): {}{}",
            out.status,
            printed,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(printed)
}

/// The produce phase from ProducerPerformance's last line: "N records sent, R
/// records/sec (M MB/sec), A ms avg latency, X ms max latency, P ms 50th, Q ms 95th, S
/// ms 99th, T ms 99.9th."
fn producer_summary(printed: &str, record_size: usize) -> Result<Phase, Error> {
    let line = printed
        .lines()
        .rev()
        .find(|l| l.contains(" records sent, ") && l.contains(" 99.9th"))
        .ok_or_else(|| {
            Error::Receiver(format!("ProducerPerformance printed no summary: {printed}"))
        })?;
    let parts: Vec<&str> = line.trim_end_matches('.').split(", ").collect();
    let number = |part: Option<&&str>| part.and_then(|p| p.split(' ').next()?.parse::<f64>().ok());
    let ending = |suffix: &str| number(parts.iter().find(|p| p.ends_with(suffix)));
    let (Some(records), Some(per_s), Some(p50), Some(p99), Some(p999)) = (
        number(parts.first()),
        number(parts.get(1)),
        ending(" ms 50th"),
        ending(" ms 99th"),
        ending(" ms 99.9th"),
    ) else {
        return Err(Error::Receiver(format!(
            "ProducerPerformance's summary unread: {line}"
        )));
    };
    let records = records as u64;
    let elapsed = seconds(records as f64 / per_s)
        .ok_or_else(|| Error::Receiver(format!("ProducerPerformance's rate unread: {line}")))?;
    Ok(Phase {
        elapsed,
        bytes: records * record_size as u64,
        records,
        reported_latency_ms: Some([p50, p99, p999]),
        ..Phase::default()
    })
}

/// The consume phase from ConsumerPerformance's line of figures (after its header:
/// start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
/// rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec): the records and the
/// fetch time.
fn consumer_summary(printed: &str, record_size: usize) -> Result<Phase, Error> {
    let fields: Vec<&str> = printed
        .lines()
        .rev()
        .map(|l| l.split(", ").collect::<Vec<_>>())
        .find(|f| f.len() == 10 && f[4].parse::<u64>().is_ok())
        .ok_or_else(|| {
            Error::Receiver(format!("ConsumerPerformance printed no figures: {printed}"))
        })?;
    let (Ok(records), Ok(fetch_ms)) = (fields[4].parse::<u64>(), fields[7].parse::<f64>()) else {
        return Err(Error::Receiver(format!(
            "ConsumerPerformance's figures unread: {fields:?}"
        )));
    };
    // Its clock is the wall clock, which may step: a time that is not positive is refused.
    let elapsed = seconds(fetch_ms / 1e3)
        .ok_or_else(|| Error::Receiver(format!("ConsumerPerformance's fetch time: {fields:?}")))?;
    Ok(Phase {
        elapsed,
        bytes: records * record_size as u64,
        records,
        ..Phase::default()
    })
}

/// `secs` as a duration, if it is a positive, finite number of seconds.
fn seconds(secs: f64) -> Option<Duration> {
    (secs > 0.0)
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_summaries_are_read_as_kafka_4_prints_them() {
        let producer = "907742 records sent, 181512.1 records/sec (17.31 MB/sec), 748.2 ms avg latency, 1088.0 ms max latency.\n\
            2000000 records sent, 252270.4 records/sec (24.06 MB/sec), 810.93 ms avg latency, 1088.00 ms max latency, 910 ms 50th, 1055 ms 95th, 1080 ms 99th, 1085 ms 99.9th.\n";
        let p = producer_summary(producer, 100).unwrap();
        assert_eq!(p.records, 2_000_000);
        assert_eq!(p.bytes, 200_000_000);
        assert!((p.records_per_s() - 252_270.4).abs() < 1.0);
        assert_eq!(p.latency_ms(99.0), 1080.0);
        assert_eq!(p.latency_ms(99.9), 1085.0);

        let consumer = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n\
            2026-12-04 01:47:46:491, 2026-12-04 01:47:51:469, 190.7349, 38.3156, 2000000, 401767.7782, 3578, 1400, 136.2392, 1428571.4286\n";
        let c = consumer_summary(consumer, 100).unwrap();
        assert_eq!(c.records, 2_000_000);
        assert_eq!(c.elapsed, Duration::from_millis(1400));
        assert!(producer_summary("nothing", 100).is_err());
        assert!(consumer_summary("start.time, end.time\n", 100).is_err());
        let stepped = consumer.replace(", 1400, ", ", -3, ");
        assert!(consumer_summary(&stepped, 100).is_err());
    }
}
