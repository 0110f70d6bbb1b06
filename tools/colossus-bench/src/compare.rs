//! `colossus-bench compare`: in one run, the same objects served by a colossus node (from its
//! store) and by nginx (as plain files; `sendfile on` and `sendfile off`), and the same uploads
//! pushed to the node and to the blake3 sink. Targets run interleaved (A B C, C B A, ...) for
//! several rounds so drift on a shared machine hits every target alike; each scenario reports
//! the ratio of colossus to the best baseline, round by round, as a median with its spread.
//! The goals are those of issue 4 (docs/BENCHMARKS.md). Every object is verified once on
//! every target in an untimed warm-up; timed runs check status and length only, unless
//! `--verify`, so the client's hashing stays out of the measured latency.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use colossus::client::NodeClient;

use crate::content::Content;
use crate::load::{self, LoadConfig, Workload};
use crate::report::{self, Metric, Params, Report};
use crate::target::{self, Object, Server, UploadAuth};
use crate::workload;

/// Flags of `compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// A running colossus node (else one is started with --colossus-bin).
    #[arg(long)]
    pub node: Option<String>,
    /// Its admin token file.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Start this colossus binary (`server --dev --disable-upload-auth`) in the work dir.
    #[arg(long, conflicts_with = "node")]
    pub colossus_bin: Option<PathBuf>,
    /// nginx binary (Debian: apt-get install nginx-light).
    #[arg(long, default_value = "nginx")]
    pub nginx_bin: PathBuf,
    /// Where files, configs, logs and JSON reports go [default: a new dir under /tmp].
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Rounds of every scenario on every target.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Length of each duration-limited run, s.
    #[arg(long, default_value_t = 5.0)]
    pub duration_s: f64,
    /// Scenarios to run (comma-separated): big-c1, big-c4, big-c16, small-c64, small-c256,
    /// range-c64, upload-big, upload-many.
    #[arg(
        long,
        default_value = "big-c1,big-c4,big-c16,small-c64,small-c256,range-c64,upload-big,upload-many"
    )]
    pub scenarios: String,
    /// Size of the large object.
    #[arg(long, default_value = "1GiB", value_parser = report::parse_size)]
    pub big_size: u64,
    /// Whole-object GETs of the large object per connection in a big-* run.
    #[arg(long, default_value_t = 2)]
    pub big_per_connection: u64,
    /// Size of the small objects.
    #[arg(long, default_value = "64KiB", value_parser = report::parse_size)]
    pub small_size: u64,
    /// Number of small objects.
    #[arg(long, default_value_t = 256)]
    pub small_count: u64,
    /// Range size in range-* runs.
    #[arg(long, default_value = "1MiB", value_parser = report::parse_size)]
    pub range_bytes: u64,
    /// Object size of upload-many.
    #[arg(long, default_value = "16MiB", value_parser = report::parse_size)]
    pub many_size: u64,
    /// Concurrent uploads (and uploads) of upload-many.
    #[arg(long, default_value_t = 64)]
    pub many_count: u64,
    /// Client threads [default: cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also check multihashes (whole objects) and range bytes in timed runs. Off by default:
    /// the client's hashing would be inside the measured latency and, on a small machine,
    /// cap the rate of every target. Status and length are always checked, and the untimed
    /// warm-up verifies every object on every target either way.
    #[arg(long)]
    pub verify: bool,
    /// Upload with tokens as member 1 (//Alice) instead of without (the node must then ask
    /// for them).
    #[arg(long)]
    pub tokens: bool,
    /// Write the results as a markdown section into this file (replacing an earlier one
    /// between the compare markers), with the chart beside it.
    #[arg(long)]
    pub doc: Option<PathBuf>,
}

const LABEL_ON: &str = "nginx sendfile on";
const LABEL_OFF: &str = "nginx sendfile off";
const LABEL_COLOSSUS: &str = "colossus";
const LABEL_SINK: &str = "blake3 sink";
/// Who serves the read scenarios, in run order.
const READ_TARGETS: [&str; 3] = [LABEL_ON, LABEL_OFF, LABEL_COLOSSUS];
/// Who takes the upload scenarios, in run order.
const UPLOAD_TARGETS: [&str; 2] = [LABEL_COLOSSUS, LABEL_SINK];
const DOC_BEGIN: &str = "<!-- colossus-bench compare: begin -->";
const DOC_END: &str = "<!-- colossus-bench compare: end -->";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    BigGet,
    SmallGet,
    Range,
    UploadBig,
    UploadMany,
}

#[derive(Clone, Debug)]
struct Scenario {
    name: String,
    kind: Kind,
    connections: usize,
}

impl Scenario {
    fn parse(name: &str, a: &CompareArgs) -> Result<Self, String> {
        let (kind, connections) = match name {
            "upload-big" => (Kind::UploadBig, 1),
            "upload-many" => (Kind::UploadMany, a.many_count as usize),
            _ => {
                let (k, c) = name
                    .split_once("-c")
                    .ok_or_else(|| format!("unknown scenario {name:?}"))?;
                let c: usize = c.parse().map_err(|_| format!("bad scenario {name:?}"))?;
                let kind = match k {
                    "big" => Kind::BigGet,
                    "small" => Kind::SmallGet,
                    "range" => Kind::Range,
                    _ => return Err(format!("unknown scenario {name:?}")),
                };
                (kind, c.max(1))
            }
        };
        Ok(Self {
            name: name.to_owned(),
            kind,
            connections,
        })
    }

    fn is_upload(&self) -> bool {
        matches!(self.kind, Kind::UploadBig | Kind::UploadMany)
    }

    /// The targets this scenario runs on (colossus and its baselines).
    fn targets(&self) -> &'static [&'static str] {
        if self.is_upload() {
            &UPLOAD_TARGETS
        } else {
            &READ_TARGETS
        }
    }

    fn metric(&self) -> Metric {
        if self.kind == Kind::SmallGet {
            Metric::Requests
        } else {
            Metric::Bytes
        }
    }

    /// The least ratio to the baseline that meets the goal of issue 4.
    fn goal(&self) -> f64 {
        if self.is_upload() {
            0.75
        } else {
            1.0
        }
    }

    fn describe(&self, a: &CompareArgs) -> String {
        let h = report::human_size;
        match self.kind {
            Kind::BigGet => format!(
                "GET {} object, {}",
                h(a.big_size),
                plural(self.connections, "connection")
            ),
            Kind::SmallGet => format!(
                "GET {} objects ({} of them), {}",
                h(a.small_size),
                a.small_count,
                plural(self.connections, "connection")
            ),
            Kind::Range => format!(
                "GET {} ranges of the {} object, {}",
                h(a.range_bytes),
                h(a.big_size),
                plural(self.connections, "connection")
            ),
            Kind::UploadBig => format!("upload of one {} object, one stream", h(a.big_size)),
            Kind::UploadMany => format!(
                "{} concurrent uploads of {} objects",
                a.many_count,
                h(a.many_size)
            ),
        }
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A child process stopped when dropped: SIGTERM first (an nginx master killed outright
/// would leave its workers running), SIGKILL if it is still there after a few seconds.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        for _ in 0..500 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn wait_listening(addr: SocketAddr, what: &str) -> Result<(), String> {
    for _ in 0..500 {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("{what} does not accept connections on {addr}"))
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Starts nginx serving `root` on a free 127.0.0.1 port, `sendfile` on or off.
fn start_nginx(
    bin: &Path,
    work: &Path,
    root: &Path,
    sendfile: bool,
) -> Result<(Proc, Server), String> {
    let port = free_port()?;
    let name = if sendfile {
        "sendfile-on"
    } else {
        "sendfile-off"
    };
    let dir = work.join(format!("nginx-{name}"));
    std::fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
    let d = dir.display();
    let user = if running_as_root() {
        "user root;\n"
    } else {
        ""
    };
    let conf = format!(
        "{user}worker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 16384; }}\n\
         http {{\n  access_log off;\n  sendfile {};\n  tcp_nopush on;\n  tcp_nodelay on;\n  \
         keepalive_requests 10000000;\n  keepalive_timeout 300s;\n  \
         client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  \
         uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n  \
         server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
        if sendfile { "on" } else { "off" },
        root.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            format!(
                "starting {}: {e} (apt-get install nginx-light)",
                bin.display()
            )
        })?;
    let proc = Proc(child);
    let (server, _) = target::parse_url(&format!("http://127.0.0.1:{port}"))?;
    wait_listening(server.addr, "nginx")?;
    Ok((proc, server))
}

/// Starts a child that prints `listening on http://ADDR`; returns it and ADDR.
fn start_listening_child(mut command: Command, what: &str) -> Result<(Proc, String), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {what}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| format!("{what} did not say where it listens"))?;
    Ok((proc, format!("http://{addr}")))
}

/// Writes `content` to `path` (the same bytes the node stores).
fn write_content(path: &Path, content: Content) -> Result<(), String> {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < content.size_bytes {
        let n = (content.size_bytes - offset).min(buf.len() as u64) as usize;
        content.fill(offset, &mut buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        offset += n as u64;
    }
    file.flush().map_err(|e| e.to_string())
}

/// The same objects at nginx paths.
fn as_files(objects: &[Object], dir: &str) -> Vec<Object> {
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| Object {
            path: format!("/{dir}/{i}"),
            ..o.clone()
        })
        .collect()
}

struct Setup {
    args: CompareArgs,
    /// Files, configs, logs and JSON reports.
    work: PathBuf,
    threads: usize,
    seed: u64,
    node: Server,
    admin: NodeClient,
    auth: UploadAuth,
    big: Vec<Object>,
    small: Vec<Object>,
    nginx: Vec<(String, Server)>,
    sink: Option<Server>,
}

impl Setup {
    fn cfg(
        &self,
        server: &Server,
        connections: usize,
        count: Option<u64>,
        duration: Option<Duration>,
    ) -> LoadConfig {
        LoadConfig::quiet(
            server,
            connections,
            self.threads,
            count,
            duration,
            self.seed,
        )
    }

    fn objects_on(&self, label: &str, big: bool) -> Vec<Object> {
        let objects = if big { &self.big } else { &self.small };
        if label == LABEL_COLOSSUS {
            objects.clone()
        } else {
            as_files(objects, if big { "big" } else { "small" })
        }
    }

    /// The server behind `label`; every target a scenario names was started before the runs,
    /// so a missing one is a bug here (never quietly the node under another label).
    fn server_of(&self, label: &str) -> &Server {
        let server = match label {
            LABEL_COLOSSUS => Some(&self.node),
            LABEL_SINK => self.sink.as_ref(),
            _ => self.nginx.iter().find(|(l, _)| l == label).map(|(_, s)| s),
        };
        server.unwrap_or_else(|| panic!("no server was started for {label:?}"))
    }

    fn work_file(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// One timed run of `scenario` on the target `label`.
    fn run(&self, scenario: &Scenario, label: &str, round: usize) -> Result<Report, String> {
        let a = &self.args;
        let verify = a.verify;
        let server = self.server_of(label).clone();
        let c = scenario.connections;
        let duration = Some(Duration::from_secs_f64(a.duration_s));
        let (cfg, w, params): (LoadConfig, Arc<dyn Workload>, Params) = match scenario.kind {
            Kind::BigGet | Kind::SmallGet => {
                let big = scenario.kind == Kind::BigGet;
                let objects = self.objects_on(label, big);
                // Big bodies by count (a duration would cut the last ones), small by duration.
                let cfg = if big {
                    self.cfg(&server, c, Some(c as u64 * a.big_per_connection), None)
                } else {
                    self.cfg(&server, c, None, duration)
                };
                let p = crate::params(&cfg, &objects, verify);
                let w = workload::GetWorkload {
                    objects,
                    random: !big,
                    verify,
                };
                (cfg, Arc::new(w), p)
            }
            Kind::Range => {
                let object = self.objects_on(label, true).remove(0);
                let cfg = self.cfg(&server, c, None, duration);
                let p = Params {
                    range_bytes: Some(a.range_bytes),
                    ..crate::params(&cfg, std::slice::from_ref(&object), verify)
                };
                (
                    cfg,
                    Arc::new(workload::RangeWorkload {
                        object,
                        range_bytes: a.range_bytes,
                        offset: None,
                        align: 1,
                        verify,
                    }),
                    p,
                )
            }
            Kind::UploadBig | Kind::UploadMany => {
                let (count, size) = if scenario.kind == Kind::UploadBig {
                    (1, a.big_size)
                } else {
                    (a.many_count, a.many_size)
                };
                let seed = self.seed ^ (round as u64) << 40 ^ size;
                let uploads = if label == LABEL_SINK {
                    target::plan_sink_uploads("/", count, size, seed)
                } else {
                    target::plan_uploads(&self.node, &self.admin, &self.auth, count, size, seed)?
                };
                let cfg = self.cfg(&server, c, Some(count), None);
                let p = crate::upload_params(&cfg, uploads.len(), size);
                (
                    cfg,
                    Arc::new(workload::UploadWorkload::new(uploads, label == LABEL_SINK)),
                    p,
                )
            }
        };
        let stats = load::run(cfg, w);
        let mut r = Report::new(
            if scenario.is_upload() {
                "upload"
            } else if scenario.kind == Kind::Range {
                "range"
            } else {
                "get"
            },
            label,
            &server.origin,
            params,
            &stats,
        );
        r.scenario = scenario.name.clone();
        Ok(r)
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn score(r: &Report, metric: Metric) -> f64 {
    if r.errors > 0 {
        return 0.0; // A run with wrong answers does not score.
    }
    metric.value(r)
}

/// One line of the summary.
struct Summary {
    scenario: Scenario,
    baseline: String,
    colossus: f64,
    baseline_value: f64,
    ratios: Vec<f64>,
    p99_ratios: Vec<f64>,
    errors: u64,
}

fn summarize(scenario: &Scenario, runs: &[Report], labels: &[&str]) -> Summary {
    let metric = scenario.metric();
    let of = |label: &str| -> Vec<&Report> {
        runs.iter()
            .filter(|r| r.label == label && r.scenario == scenario.name)
            .collect()
    };
    let med = |label: &str| {
        median(
            &mut of(label)
                .iter()
                .map(|r| score(r, metric))
                .collect::<Vec<_>>(),
        )
    };
    let baselines: Vec<&str> = labels
        .iter()
        .copied()
        .filter(|l| *l != LABEL_COLOSSUS)
        .collect();
    let baseline = baselines
        .iter()
        .copied()
        .max_by(|a, b| med(a).total_cmp(&med(b)))
        .unwrap_or(LABEL_ON)
        .to_owned();
    let ours = of(LABEL_COLOSSUS);
    let theirs = of(&baseline);
    let ratios = ours
        .iter()
        .zip(theirs.iter())
        .map(|(o, t)| score(o, metric) / score(t, metric).max(1e-12))
        .collect();
    let p99_ratios = ours
        .iter()
        .zip(theirs.iter())
        .map(|(o, t)| o.latency_ms.p99 / t.latency_ms.p99.max(1e-9))
        .collect();
    Summary {
        scenario: scenario.clone(),
        colossus: med(LABEL_COLOSSUS),
        baseline_value: med(&baseline),
        baseline,
        ratios,
        p99_ratios,
        errors: runs
            .iter()
            .filter(|r| r.scenario == scenario.name)
            .map(|r| r.errors)
            .sum(),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = crate::cores();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .map_or(String::new(), |kb| {
            format!(", {:.1} GiB RAM", kb as f64 / (1 << 20) as f64)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores{mem}, Linux {}", kernel.trim())
}

fn nginx_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("-v")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_default()
}

fn date_utc() -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm); no time crate.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        s / 3600,
        s % 3600 / 60
    )
}

fn section(
    setup: &Setup,
    summaries: &[Summary],
    runs: &[Report],
    chart: &str,
    command: &str,
) -> String {
    let a = &setup.args;
    let mut out = String::new();
    let _ = writeln!(out, "{DOC_BEGIN}");
    let _ = writeln!(
        out,
        "## colossus-rs against nginx (colossus-bench compare)\n"
    );
    let _ = writeln!(out, "- Date: {}", date_utc());
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(out, "- Baselines: {} (`sendfile on` and `off`, access log off, the same bytes as plain files); the colossus-bench blake3 sink for uploads", nginx_version(&a.nginx_bin));
    let _ = writeln!(
        out,
        "- Rounds: {}, interleaved (targets in turn, order reversed every other round); duration runs {} s; timed runs check {}",
        a.rounds,
        a.duration_s,
        if a.verify {
            "status, length and every body (multihash / range bytes)"
        } else {
            "status and length only (every object verified once, untimed, in the warm-up)"
        }
    );
    let _ = writeln!(
        out,
        "- Warm-up, untimed: every object read once from every read target; each upload scenario run once on every upload target"
    );
    let _ = writeln!(out, "- Command: `{command}`\n");
    let _ = writeln!(out, "| scenario | colossus | best baseline | ratio (median of rounds) | spread | goal | holds |");
    let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---|");
    for s in summaries {
        let metric = s.scenario.metric();
        let mut ratios = s.ratios.clone();
        let ratio = median(&mut ratios);
        let spread = match (ratios.first(), ratios.last()) {
            (Some(lo), Some(hi)) => format!("{lo:.2}–{hi:.2}"),
            _ => "-".to_owned(),
        };
        let mut holds = ratio >= s.scenario.goal() && s.errors == 0;
        let mut goal = format!("≥ {:.2}", s.scenario.goal());
        let mut extra = String::new();
        if s.scenario.kind == Kind::SmallGet {
            let mut p = s.p99_ratios.clone();
            let p99 = median(&mut p);
            holds &= p99 <= 1.0;
            goal.push_str(", p99 ≤ 1.00");
            let _ = write!(extra, "; p99 ratio {p99:.2}");
        }
        if s.errors > 0 {
            let _ = write!(extra, "; {} errors", s.errors);
        }
        let _ = writeln!(
            out,
            "| {} | {} | {}: {} | {ratio:.2}{extra} | {spread} | {goal} | {} |",
            s.scenario.describe(a),
            metric.text(s.colossus),
            s.baseline,
            metric.text(s.baseline_value),
            if holds { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(out, "\n![throughput of each run]({chart})\n");
    let _ = writeln!(out, "<details><summary>Every run</summary>\n");
    out.push_str(&report::markdown(runs));
    let _ = writeln!(out, "\n</details>");
    let _ = writeln!(out, "{DOC_END}");
    out
}

/// Replaces the compare section of `doc` (or appends one).
fn write_doc(doc: &Path, text: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(doc).unwrap_or_default();
    let new = match (old.find(DOC_BEGIN), old.find(DOC_END)) {
        (Some(b), Some(e)) if b < e => format!(
            "{}{text}{}",
            &old[..b],
            &old[e + DOC_END.len()..].trim_start_matches('\n')
        ),
        _ if old.is_empty() => text.to_owned(),
        _ => format!("{}\n\n{text}", old.trim_end()),
    };
    std::fs::write(doc, new).map_err(|e| format!("{}: {e}", doc.display()))
}

/// Runs the comparison; exit code 2 when any timed run had errors (the section is written
/// anyway, marking them), like the other commands.
pub fn run(a: CompareArgs, auth: UploadAuth, seed: u64) -> Result<ExitCode, String> {
    let scenarios: Vec<Scenario> = a
        .scenarios
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Scenario::parse(s, &a))
        .collect::<Result<_, _>>()?;
    let work = match &a.workdir {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("colossus-bench-compare-{}", std::process::id())),
    };
    let root = work.join("www");
    for d in [&work, &root, &root.join("big"), &root.join("small")] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    {
        // nginx workers may run as another user: the files must be readable.
        use std::os::unix::fs::PermissionsExt as _;
        for d in [&work, &root, &root.join("big"), &root.join("small")] {
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
        }
    }
    let mut procs: Vec<Proc> = Vec::new();
    let (node_url, token_file) = match (&a.node, &a.colossus_bin) {
        (Some(url), _) => (
            url.trim_end_matches('/').to_owned(),
            a.admin_token_file
                .clone()
                .ok_or("--node needs --admin-token-file")?,
        ),
        (None, Some(bin)) => {
            let data = work.join("node-data");
            let mut cmd = Command::new(bin);
            cmd.arg("server")
                .arg("--dev")
                .arg("--data")
                .arg(&data)
                .args(["--listen", "127.0.0.1:0"]);
            if !a.tokens {
                cmd.arg("--disable-upload-auth");
            }
            let (proc, url) = start_listening_child(cmd, "colossus")?;
            procs.push(proc);
            (url, data.join("admin.token"))
        }
        (None, None) => {
            return Err("give --node (with --admin-token-file) or --colossus-bin".to_owned())
        }
    };
    let (node, _) = target::parse_url(&node_url)?;
    let token = target::admin_token(None, Some(&token_file))?.unwrap_or_default();
    let admin = NodeClient::new(&node_url, Some(token)).map_err(|e| e.to_string())?;

    let needs = |k: Kind| scenarios.iter().any(|s| s.kind == k);
    let mut big = Vec::new();
    let mut small = Vec::new();
    if needs(Kind::BigGet) || needs(Kind::Range) {
        eprintln!(
            "compare: storing the {} object on the node and as a file",
            report::human_size(a.big_size)
        );
        big = workload::prepare_objects(&node, &admin, &auth, 1, a.big_size, seed)?;
    }
    if needs(Kind::SmallGet) {
        eprintln!(
            "compare: storing {} objects of {}",
            a.small_count,
            report::human_size(a.small_size)
        );
        small =
            workload::prepare_objects(&node, &admin, &auth, a.small_count, a.small_size, seed ^ 1)?;
    }
    for (objects, dir) in [(&big, "big"), (&small, "small")] {
        for (i, o) in objects.iter().enumerate() {
            let content = o.content().ok_or("prepared objects have known content")?;
            write_content(&root.join(dir).join(i.to_string()), content)?;
        }
    }
    let mut nginx = Vec::new();
    let mut sink = None;
    let reads = scenarios.iter().any(|s| !s.is_upload());
    if reads {
        for (sendfile, label) in [(true, LABEL_ON), (false, LABEL_OFF)] {
            let (proc, server) = start_nginx(&a.nginx_bin, &work, &root, sendfile)?;
            procs.push(proc);
            nginx.push((label.to_owned(), server));
        }
    }
    if scenarios.iter().any(Scenario::is_upload) {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.args(["sink", "--listen", "127.0.0.1:0"]);
        let (proc, url) = start_listening_child(cmd, "sink")?;
        procs.push(proc);
        sink = Some(target::parse_url(&url)?.0);
    }
    let setup = Setup {
        threads: a.threads.unwrap_or_else(crate::cores),
        args: a,
        work,
        seed,
        node,
        admin,
        auth,
        big,
        small,
        nginx,
        sink,
    };

    // Warm-up: every object once from every read target, verified, untimed (page cache, and a
    // wrong server is caught before it is measured).
    for (label, big_objects) in READ_TARGETS.iter().flat_map(|l| [(*l, true), (*l, false)]) {
        if !reads {
            break;
        }
        let objects = setup.objects_on(label, big_objects);
        if objects.is_empty() {
            continue;
        }
        let server = setup.server_of(label).clone();
        let n = objects.len() as u64;
        let stats = load::run(
            setup.cfg(&server, (n as usize).min(8), Some(n), None),
            Arc::new(workload::GetWorkload {
                objects,
                random: false,
                verify: true,
            }),
        );
        if stats.error_count() > 0 {
            return Err(format!(
                "warm-up on {label} failed: {}",
                stats.error_samples.join("; ")
            ));
        }
    }

    // Upload warm-up: each upload scenario once on every upload target, untimed, with objects
    // of their own (round number past the timed ones). A fresh process's first uploads pay
    // for memory it touches for the first time (on these VMs most likely with a fault in the
    // host too: 64 x 16 MiB ran at ~1.0 GiB/s into a fresh node and ~1.55 GiB/s after),
    // which is not what an operator's long-running node sees; the sink gets the same warm-up.
    for scenario in scenarios.iter().filter(|s| s.is_upload()) {
        for label in scenario.targets() {
            eprintln!("compare: warm-up {:<12} {label} (untimed)", scenario.name);
            let r = setup.run(scenario, label, setup.args.rounds)?;
            if r.errors > 0 {
                return Err(format!(
                    "upload warm-up ({}) on {label} failed: {} errors",
                    scenario.name, r.errors
                ));
            }
        }
    }

    let mut runs: Vec<Report> = Vec::new();
    for round in 0..setup.args.rounds {
        for scenario in &scenarios {
            let mut labels = scenario.targets().to_vec();
            if round % 2 == 1 {
                labels.reverse();
            }
            for label in labels {
                let r = setup.run(scenario, label, round)?;
                eprintln!(
                    "compare: round {} {:<12} {:<20} {:>10.0} req/s {:>12}/s p99 {:.2} ms{}",
                    round + 1,
                    scenario.name,
                    label,
                    r.requests_per_s,
                    report::human_bytes(r.bytes_per_s),
                    r.latency_ms.p99,
                    if r.errors > 0 {
                        format!(" ({} errors)", r.errors)
                    } else {
                        String::new()
                    }
                );
                let path = setup.work_file(&format!(
                    "run-{}-{}-{}.json",
                    round + 1,
                    scenario.name,
                    label.replace(' ', "-")
                ));
                let _ = std::fs::write(&path, serde_json::to_string_pretty(&r).unwrap_or_default());
                runs.push(r);
            }
        }
    }
    let summaries: Vec<Summary> = scenarios
        .iter()
        .map(|s| summarize(s, &runs, s.targets()))
        .collect();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let chart_name = "bench-compare.svg";
    let chart_path = match &setup.args.doc {
        Some(doc) => doc.parent().unwrap_or(Path::new(".")).join(chart_name),
        None => setup.work_file(chart_name),
    };
    // The chart: one bar per target and scenario, the median of its rounds.
    let mut medians: Vec<Report> = Vec::new();
    for s in &scenarios {
        for label in s.targets() {
            let mut of: Vec<&Report> = runs
                .iter()
                .filter(|r| r.scenario == s.name && r.label == *label)
                .collect();
            if of.is_empty() {
                continue;
            }
            of.sort_by(|x, y| score(x, Metric::Bytes).total_cmp(&score(y, Metric::Bytes)));
            let mut m = of[of.len() / 2].clone();
            m.scenario = s.describe(&setup.args);
            m.errors = of.iter().map(|r| r.errors).sum();
            medians.push(m);
        }
    }
    std::fs::write(&chart_path, report::svg(&medians, Metric::Bytes))
        .map_err(|e| format!("{}: {e}", chart_path.display()))?;
    let text = section(&setup, &summaries, &runs, chart_name, &command);
    if let Some(doc) = &setup.args.doc {
        write_doc(doc, &text)?;
        eprintln!(
            "compare: wrote {} and {}",
            doc.display(),
            chart_path.display()
        );
    }
    crate::print_out(&text);
    drop(procs);
    let failed = runs.iter().filter(|r| r.errors > 0).count();
    if failed > 0 {
        eprintln!("compare: {failed} timed runs had errors; their numbers do not score");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_doc_sections() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("B.md");
        std::fs::write(&doc, "# Benchmarks\n\nintro\n").unwrap();
        write_doc(&doc, &format!("{DOC_BEGIN}\none\n{DOC_END}\n")).unwrap();
        write_doc(&doc, &format!("{DOC_BEGIN}\ntwo\n{DOC_END}\n")).unwrap();
        let text = std::fs::read_to_string(&doc).unwrap();
        assert!(text.starts_with("# Benchmarks\n\nintro\n"));
        assert!(text.contains("two") && !text.contains("one"), "{text}");
        assert_eq!(text.matches(DOC_BEGIN).count(), 1);
        assert!(date_utc().ends_with("UTC"));
    }
}
