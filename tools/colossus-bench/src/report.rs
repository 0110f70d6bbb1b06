//! Run reports: the JSON document machines read (and `report` merges), the markdown table
//! people read, and an SVG bar chart comparing runs (written by hand, no plotting library).
//! Rates count only requests that passed every check.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::load::{KindStats, RunStats, ERROR_KINDS};

/// Latency summary, milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Smallest.
    #[serde(default)]
    pub min: f64,
    /// Mean.
    pub mean: f64,
}

/// One kind of operation (reads or writes) in a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KindReport {
    /// Requests that passed every check.
    pub ok: u64,
    /// Requests that did not.
    pub errors: u64,
    /// Object bytes moved by successful requests.
    pub payload_bytes: u64,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Payload bytes per second.
    pub bytes_per_s: f64,
    /// Latency of successful requests.
    pub latency_ms: Latency,
}

/// The parameters a run was made with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Params {
    /// Busy connections.
    pub connections: usize,
    /// Client threads (io_uring runtimes).
    pub threads: usize,
    /// Request count limit.
    pub count: Option<u64>,
    /// Duration limit, s.
    pub duration_s: Option<f64>,
    /// Per-request timeout, ms.
    pub timeout_ms: u64,
    /// Distinct objects.
    pub objects: usize,
    /// Object size, when all objects have one.
    pub object_size_bytes: Option<u64>,
    /// Range size.
    pub range_bytes: Option<u64>,
    /// Share of reads (mixed).
    pub read_ratio: Option<f64>,
    /// Bodies checked against the expected multihash / content.
    pub verify: bool,
    /// Idle connections held open.
    pub idle_connections: usize,
    /// The idle connections each served one HEAD first (`--idle-warm`).
    #[serde(default)]
    pub idle_warm: bool,
}

/// A run's report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// "colossus-bench".
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// Name of the run (the server or variant), for comparisons.
    pub label: String,
    /// The workload (`get`, `range`, `upload`, `mixed`).
    pub workload: String,
    /// Scenario name grouping runs in a comparison (default: workload and its parameters).
    pub scenario: String,
    /// Server origin.
    pub target: String,
    /// Parameters.
    pub params: Params,
    /// Start time, ms since the epoch.
    pub started_unix_ms: u64,
    /// Measured time, s.
    pub elapsed_s: f64,
    /// Requests finished (scored or not).
    pub requests: u64,
    /// Requests that passed every check.
    pub ok: u64,
    /// Requests that did not.
    pub errors: u64,
    /// Errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The first error messages.
    pub error_samples: Vec<String>,
    /// Requests in flight at the deadline (not counted).
    pub cut_at_end: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Idle connections that were established.
    pub idle_established: u64,
    /// Object bytes moved by successful requests.
    pub payload_bytes: u64,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Payload bytes per second.
    pub bytes_per_s: f64,
    /// Latency of successful requests (all kinds).
    pub latency_ms: Latency,
    /// Reads alone (mixed runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<KindReport>,
    /// Writes alone (mixed runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<KindReport>,
}

fn latency(h: &crate::hist::Histogram) -> Latency {
    let ms = |ns: u64| ns as f64 / 1e6;
    Latency {
        p50: ms(h.quantile(0.50)),
        p90: ms(h.quantile(0.90)),
        p99: ms(h.quantile(0.99)),
        max: ms(h.max()),
        min: ms(h.min()),
        mean: h.mean() / 1e6,
    }
}

fn kind_report(k: &KindStats, elapsed_s: f64) -> KindReport {
    KindReport {
        ok: k.ok,
        errors: k.errors,
        payload_bytes: k.payload_bytes,
        requests_per_s: k.ok as f64 / elapsed_s,
        bytes_per_s: k.payload_bytes as f64 / elapsed_s,
        latency_ms: latency(&k.latency_ns),
    }
}

impl Report {
    /// A report of `stats`.
    pub fn new(
        workload: &str,
        label: &str,
        target: &str,
        params: Params,
        stats: &RunStats,
    ) -> Self {
        let elapsed_s = stats.elapsed.as_secs_f64().max(1e-9);
        let mut merged = stats.read.clone();
        merged.merge(&stats.write);
        let all = kind_report(&merged, elapsed_s);
        let errors_by_kind = ERROR_KINDS
            .iter()
            .zip(stats.errors.iter())
            .filter(|(_, &n)| n > 0)
            .map(|(k, &n)| (k.name().to_owned(), n))
            .collect();
        let mixed =
            stats.read.ok + stats.read.errors > 0 && stats.write.ok + stats.write.errors > 0;
        let scenario = scenario_name(workload, &params);
        Report {
            tool: "colossus-bench".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            label: label.to_owned(),
            workload: workload.to_owned(),
            scenario,
            target: target.to_owned(),
            started_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
                .saturating_sub(stats.elapsed.as_millis() as u64),
            elapsed_s,
            requests: all.ok + all.errors,
            ok: all.ok,
            errors: stats.error_count(),
            errors_by_kind,
            error_samples: stats.error_samples.clone(),
            cut_at_end: stats.cut_at_end,
            connections_opened: stats.connections_opened,
            idle_established: stats.idle_established,
            payload_bytes: all.payload_bytes,
            requests_per_s: all.requests_per_s,
            bytes_per_s: all.bytes_per_s,
            latency_ms: all.latency_ms,
            read: mixed.then(|| kind_report(&stats.read, elapsed_s)),
            write: mixed.then(|| kind_report(&stats.write, elapsed_s)),
            params,
        }
    }
}

/// A default scenario name: the workload and what shapes it.
fn scenario_name(workload: &str, p: &Params) -> String {
    let mut name = workload.to_owned();
    if let Some(s) = p.object_size_bytes {
        let _ = write!(name, " {}", human_size(s));
    }
    if let Some(r) = p.range_bytes {
        let _ = write!(name, " range {}", human_size(r));
    }
    if let Some(r) = p.read_ratio {
        let _ = write!(name, " read {:.0}%", r * 100.0);
    }
    let _ = write!(name, " c{}", p.connections);
    name
}

/// `1536` -> `1.5 KiB`, for rates.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

/// Exact sizes in their largest whole binary unit: `65536` -> `64KiB`.
pub fn human_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Parses `4096`, `64KiB`, `64k`, `1MiB`, `1G`, `1.5GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("bad size {text:?}"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("bad size unit in {text:?}")),
    };
    let value = number * multiplier as f64;
    if !(0.0..1.8e19).contains(&value) || value.fract() != 0.0 {
        return Err(format!("bad size {text:?}"));
    }
    Ok(value as u64)
}

/// A markdown table of runs, one row each.
pub fn markdown(reports: &[Report]) -> String {
    let mut out = String::new();
    out.push_str(
        "| run | scenario | requests | errors | req/s | MiB/s | p50 ms | p90 ms | p99 ms | max ms |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.label,
            r.scenario,
            r.requests,
            r.errors,
            r.requests_per_s,
            r.bytes_per_s / (1 << 20) as f64,
            r.latency_ms.p50,
            r.latency_ms.p90,
            r.latency_ms.p99,
            r.latency_ms.max,
        );
        for (name, k) in [("reads", &r.read), ("writes", &r.write)] {
            if let Some(k) = k {
                let _ = writeln!(
                    out,
                    "| {} {name} | | {} | {} | {:.0} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    r.label,
                    k.ok + k.errors,
                    k.errors,
                    k.requests_per_s,
                    k.bytes_per_s / (1 << 20) as f64,
                    k.latency_ms.p50,
                    k.latency_ms.p90,
                    k.latency_ms.p99,
                    k.latency_ms.max,
                );
            }
        }
    }
    if reports.iter().any(|r| r.errors > 0) {
        out.push_str("\nErrors by kind:\n\n");
        for r in reports.iter().filter(|r| r.errors > 0) {
            let kinds: Vec<String> = r
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(out, "- {}: {}", r.label, kinds.join(", "));
            for s in r.error_samples.iter().take(3) {
                let _ = writeln!(out, "  - {s}");
            }
        }
    }
    out
}

/// What the chart shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Payload bytes per second.
    Bytes,
    /// Successful requests per second.
    Requests,
    /// 99th percentile latency (shorter is better).
    P99,
}

impl Metric {
    /// This metric of `r`.
    pub fn value(self, r: &Report) -> f64 {
        match self {
            Metric::Bytes => r.bytes_per_s,
            Metric::Requests => r.requests_per_s,
            Metric::P99 => r.latency_ms.p99,
        }
    }

    /// `v` with its unit.
    pub fn text(self, v: f64) -> String {
        match self {
            Metric::Bytes => format!("{}/s", human_bytes(v)),
            Metric::Requests => format!("{v:.0} req/s"),
            Metric::P99 => format!("{v:.2} ms"),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Metric::Bytes => "payload bytes per second (longer is better)",
            Metric::Requests => "requests per second (longer is better)",
            Metric::P99 => "p99 latency (shorter is better)",
        }
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart: one group per scenario, one bar per run in it, bars scaled to the
/// largest in their group (scenarios differ by orders of magnitude). Runs with errors are
/// drawn hatched-red and marked, since their numbers do not score.
pub fn svg(reports: &[Report], metric: Metric) -> String {
    const WIDTH: f64 = 900.0;
    const LABEL_W: f64 = 260.0;
    const BAR_H: f64 = 18.0;
    const GAP: f64 = 6.0;
    const GROUP_GAP: f64 = 18.0;
    const TOP: f64 = 40.0;
    const PALETTE: [&str; 6] = [
        "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
    ];
    let mut groups: Vec<(&str, Vec<&Report>)> = Vec::new();
    for r in reports {
        match groups.iter_mut().find(|(s, _)| *s == r.scenario) {
            Some((_, runs)) => runs.push(r),
            None => groups.push((&r.scenario, vec![r])),
        }
    }
    let mut labels: Vec<&str> = Vec::new();
    for r in reports {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    let bars: usize = groups.iter().map(|(_, runs)| runs.len()).sum();
    let height =
        TOP + groups.len() as f64 * (BAR_H + GROUP_GAP) + bars as f64 * (BAR_H + GAP) + 20.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">colossus-bench: {}</text>"#,
        metric.title()
    );
    let mut y = TOP;
    let bar_space = WIDTH - LABEL_W - 140.0;
    for (scenario, runs) in &groups {
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.0}" font-weight="bold">{}</text>"#,
            y + 13.0,
            xml_escape(scenario)
        );
        y += BAR_H;
        let max = runs
            .iter()
            .map(|r| metric.value(r))
            .fold(0.0, f64::max)
            .max(1e-12);
        for r in runs {
            let v = metric.value(r);
            let w = (v / max * bar_space).max(1.0);
            let color_index =
                labels.iter().position(|l| *l == r.label).unwrap_or(0) % PALETTE.len();
            let fill = if r.errors > 0 {
                "#d62728"
            } else {
                PALETTE[color_index]
            };
            let _ = writeln!(
                out,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
                LABEL_W - 8.0,
                y + 13.0,
                xml_escape(&r.label)
            );
            let _ = writeln!(
                out,
                r#"<rect x="{LABEL_W}" y="{y:.0}" width="{w:.1}" height="{BAR_H}" fill="{fill}"/>"#
            );
            let note = if r.errors > 0 {
                format!(" ({} errors: not scored)", r.errors)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.0}">{}{}</text>"#,
                LABEL_W + w + 6.0,
                y + 13.0,
                xml_escape(&metric.text(v)),
                xml_escape(&note)
            );
            y += BAR_H + GAP;
        }
        y += GROUP_GAP;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{KindStats, RunStats};

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert!(parse_size("1x").is_err());
        assert!(parse_size("").is_err());
        assert_eq!(human_size(1 << 30), "1GiB");
        assert_eq!(human_size(65536), "64KiB");
        assert_eq!(human_size(1000), "1000B");
    }

    #[test]
    fn svg_has_a_bar_per_run_and_escapes_labels() {
        let mut a = Report {
            label: "nginx <sendfile>".to_owned(),
            scenario: "get 64KiB c64".to_owned(),
            bytes_per_s: 100.0,
            ..Report::default()
        };
        let mut b = a.clone();
        b.label = "colossus".to_owned();
        b.bytes_per_s = 200.0;
        b.errors = 1;
        let text = svg(&[a.clone(), b], Metric::Bytes);
        assert_eq!(text.matches("<rect x=").count(), 2);
        assert!(text.contains("nginx &lt;sendfile&gt;"));
        assert!(text.contains("not scored"));
        a.scenario = "other".to_owned();
        assert!(markdown(&[a]).contains("| nginx <sendfile> | other |"));
    }

    fn kind(latencies_ns: &[u64], ok: u64, errors: u64, payload_bytes: u64) -> KindStats {
        let mut k = KindStats::default();
        for &ns in latencies_ns {
            k.latency_ns.record(ns);
        }
        k.ok = ok;
        k.errors = errors;
        k.payload_bytes = payload_bytes;
        k
    }

    #[test]
    fn totals_are_reads_and_writes_together() {
        let mut stats = RunStats {
            read: kind(&[1_000_000, 2_000_000, 5_000_000], 3, 1, 4096),
            elapsed: std::time::Duration::from_secs(2),
            ..RunStats::default()
        };
        stats.errors[0] = 1;
        let r = Report::new("get", "l", "t", Params::default(), &stats);
        assert_eq!(
            (r.requests, r.ok, r.errors, r.payload_bytes),
            (4, 3, 1, 4096)
        );
        assert_eq!((r.requests_per_s, r.bytes_per_s), (1.5, 2048.0));
        assert!(r.read.is_none() && r.write.is_none());

        stats.write = kind(&[9_000_000], 1, 0, 1 << 20);
        let r = Report::new("mixed", "l", "t", Params::default(), &stats);
        assert_eq!(
            (r.requests, r.ok, r.payload_bytes),
            (5, 4, 4096 + (1 << 20))
        );
        assert_eq!(r.requests_per_s, 2.0);
        assert!((r.latency_ms.max - 9.0).abs() < 0.1, "{:?}", r.latency_ms);
        assert!((r.latency_ms.min - 1.0).abs() < 0.02, "{:?}", r.latency_ms);
        assert_eq!(r.read.as_ref().map(|k| k.ok), Some(3));
        assert_eq!(r.write.as_ref().map(|k| k.payload_bytes), Some(1 << 20));
    }
}
