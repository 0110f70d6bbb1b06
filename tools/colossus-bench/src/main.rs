//! colossus-bench: load generator and report tool for servers of objects by URL (a colossus
//! node or any static file server) and for the colossus upload flow. A request scores only
//! when its checks pass: status and body length always, the bytes themselves (multihash of
//! whole objects, content of ranges) only with --verify, so without it a body of the right
//! length but wrong bytes still scores. See docs/BENCHMARKS.md.

mod compare;
mod content;
mod hist;
mod http;
mod load;
mod report;
mod sink;
mod target;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use colossus::client::NodeClient;

use load::{LoadConfig, Workload};
use report::{Metric, Params, Report};
use target::{Object, Server};

#[derive(Parser)]
#[command(
    name = "colossus-bench",
    version,
    about = "Load generator and report tool for colossus storage nodes and any HTTP object server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// GET whole objects (colossus object ids, or plain URLs of any server).
    Get(GetArgs),
    /// GET byte ranges of one large object.
    Range(RangeArgs),
    /// Upload objects through the full flow (ledger object, token, multipart POST), or to a sink.
    Upload(UploadArgs),
    /// Reads and uploads in a given ratio.
    Mixed(MixedArgs),
    /// An HTTP server that hashes request bodies with blake3 and discards them (upload ceiling).
    Sink(SinkArgs),
    /// Print a markdown table of JSON reports; draw an SVG bar chart comparing them.
    Report(ReportArgs),
    /// colossus against nginx (sendfile on/off) on the same objects, and uploads against the
    /// sink, interleaved over several rounds; prints ratios and writes a BENCHMARKS section.
    Compare(compare::CompareArgs),
}

/// Load shape and limits.
#[derive(Args, Clone)]
struct LoadArgs {
    /// Busy keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 16)]
    connections: usize,
    /// Client threads, one io_uring runtime each [default: number of cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Stop after this many requests.
    #[arg(long, conflicts_with = "duration_s")]
    count: Option<u64>,
    /// Stop after this many seconds [default: 10 unless --count].
    #[arg(long)]
    duration_s: Option<f64>,
    /// Longest a request may take (connect, send, whole answer), ms.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Read buffer per connection.
    #[arg(long, default_value = "256KiB", value_parser = report::parse_size)]
    read_buffer: u64,
    /// Upload bodies are written in pieces of this size.
    #[arg(long, default_value = "1MiB", value_parser = report::parse_size)]
    write_chunk: u64,
    /// Extra connections opened and held idle for the whole run.
    #[arg(long, default_value_t = 0)]
    idle_connections: usize,
    /// Idle connections first send one HEAD (of the first object) and read its answer, so
    /// they idle as keep-alive connections that have served a request.
    #[arg(long)]
    idle_warm: bool,
    /// Seed of random choices and generated content [default: random].
    #[arg(long)]
    seed: Option<u64>,
}

/// Where the report goes.
#[derive(Args, Clone)]
struct OutputArgs {
    /// Print the JSON report on stdout instead of the markdown table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Name of this run in reports and charts [default: the target].
    #[arg(long)]
    label: Option<String>,
    /// Scenario name grouping runs in charts [default: workload and parameters].
    #[arg(long)]
    scenario: Option<String>,
    /// No progress line.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// The colossus node and its admin API.
#[derive(Args, Clone)]
struct NodeArgs {
    /// Base URL of a colossus node, e.g. http://127.0.0.1:3333.
    #[arg(long)]
    node: Option<String>,
    /// File holding the node's admin token (<data>/admin.token).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// The node's admin token.
    #[arg(long, conflicts_with = "admin_token_file")]
    admin_token: Option<String>,
}

/// How uploads are made.
#[derive(Args, Clone)]
struct AuthArgs {
    /// Upload without a token (for nodes run with --disable-upload-auth).
    #[arg(long)]
    no_token: bool,
    /// Member id the upload tokens are requested for.
    #[arg(long, default_value_t = 1)]
    member_id: u64,
    /// Secret URI of that member's controller key (sr25519).
    #[arg(long, default_value = "//Alice")]
    member_uri: String,
    /// Bag of the created objects.
    #[arg(long, default_value = "dynamic:channel:1")]
    bag: String,
    /// Bucket to upload to [default: the first the node accepts uploads in].
    #[arg(long)]
    bucket_id: Option<u64>,
}

/// Which objects are read.
#[derive(Args, Clone)]
struct ObjectsArgs {
    /// Object ids on --node: `1,2,5-9`.
    #[arg(long)]
    ids: Option<String>,
    /// Plain URL of an object (repeatable; all on one server).
    #[arg(long)]
    url: Vec<String>,
    /// File of `URL [SIZE [MULTIHASH]]` lines.
    #[arg(long)]
    urls_file: Option<PathBuf>,
    /// Objects from a manifest written by --save-manifest.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Upload this many objects of generated content first (untimed) and read those.
    #[arg(long)]
    prepare_count: Option<u64>,
    /// Size of the prepared objects.
    #[arg(long, value_parser = report::parse_size)]
    prepare_size: Option<u64>,
    /// Write the objects read (with their content seeds) to this manifest.
    #[arg(long)]
    save_manifest: Option<PathBuf>,
    /// Check bodies against the expected multihash (whole objects) or content (ranges).
    #[arg(long)]
    verify: bool,
    /// Pick objects at random (default: round-robin).
    #[arg(long)]
    random: bool,
}

#[derive(Args)]
struct GetArgs {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    objects: ObjectsArgs,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct RangeArgs {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    objects: ObjectsArgs,
    /// Bytes per range.
    #[arg(long, value_parser = report::parse_size)]
    range_bytes: u64,
    /// Fixed first byte of every range [default: random].
    #[arg(long)]
    offset: Option<u64>,
    /// Random offsets are multiples of this.
    #[arg(long, default_value = "1", value_parser = report::parse_size)]
    align: u64,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct UploadArgs {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    auth: AuthArgs,
    /// Size of each uploaded object.
    #[arg(long, value_parser = report::parse_size)]
    object_size: u64,
    /// Upload to a sink (`colossus-bench sink`) at this URL instead of a node.
    #[arg(long, conflicts_with_all = ["node", "admin_token_file", "admin_token"])]
    sink_url: Option<String>,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct MixedArgs {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    objects: ObjectsArgs,
    /// Share of reads, 0..=1.
    #[arg(long, default_value_t = 0.9)]
    read_ratio: f64,
    /// Size of uploaded objects [default: --prepare-size].
    #[arg(long, value_parser = report::parse_size)]
    object_size: Option<u64>,
    /// Objects created for uploads; the run ends when they are used up [default: from
    /// --count and --read-ratio; required with --duration-s].
    #[arg(long)]
    write_pool: Option<u64>,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Threads, one io_uring runtime and SO_REUSEPORT listener each [default: cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Exit after this many seconds (printing the totals) [default: run until killed].
    #[arg(long)]
    duration_s: Option<f64>,
}

#[derive(Args)]
struct ReportArgs {
    /// JSON reports (from --out or --json).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write an SVG bar chart here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// What the chart shows.
    #[arg(long, value_enum, default_value_t = Metric::Bytes)]
    metric: Metric,
}

/// Cores of this machine (1 when unknown): the default number of client threads.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

/// The node's admin client and resolved address.
struct NodeSetup {
    server: Server,
    url: String,
    admin: Option<NodeClient>,
}

fn node_setup(args: &NodeArgs) -> Result<Option<NodeSetup>, String> {
    let Some(url) = &args.node else {
        return Ok(None);
    };
    let url = url.trim_end_matches('/').to_owned();
    let (server, _) = target::parse_url(&url)?;
    let token = target::admin_token(
        args.admin_token.as_deref(),
        args.admin_token_file.as_deref(),
    )?;
    let admin = match token {
        Some(t) => Some(NodeClient::new(&url, Some(t)).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(Some(NodeSetup { server, url, admin }))
}

fn need_admin<'a>(node: &'a NodeSetup, why: &str) -> Result<&'a NodeClient, String> {
    node.admin
        .as_ref()
        .ok_or_else(|| format!("{why} needs the node's admin token (--admin-token-file)"))
}

fn upload_auth(a: &AuthArgs) -> Result<target::UploadAuth, String> {
    target::UploadAuth::new(&a.bag, a.bucket_id, a.no_token, &a.member_uri, a.member_id)
}

/// Uploads `count` objects of `size` (untimed, verified) and returns them as read targets.
fn prepare_objects(
    node: &NodeSetup,
    auth: &AuthArgs,
    count: u64,
    size: u64,
    seed: u64,
) -> Result<Vec<Object>, String> {
    let admin = need_admin(node, "--prepare-count")?;
    eprintln!(
        "colossus-bench: preparing {count} objects of {} on {}",
        report::human_size(size),
        node.url
    );
    workload::prepare_objects(&node.server, admin, &upload_auth(auth)?, count, size, seed)
}

/// The objects a read workload reads and the server they are on.
fn resolve_objects(
    node: Option<&NodeSetup>,
    auth: &AuthArgs,
    o: &ObjectsArgs,
    seed: u64,
) -> Result<(Server, Vec<Object>), String> {
    let mut server: Option<Server> = node.map(|n| n.server.clone());
    let mut objects = Vec::new();
    let mut same_server = |s: Server| -> Result<(), String> {
        match &server {
            Some(existing) if existing.addr != s.addr => Err(format!(
                "all objects must be on one server ({} and {})",
                existing.origin, s.origin
            )),
            Some(_) => Ok(()),
            None => {
                server = Some(s);
                Ok(())
            }
        }
    };
    if let Some(count) = o.prepare_count {
        let node = node.ok_or("--prepare-count needs --node")?;
        let size = o
            .prepare_size
            .ok_or("--prepare-count needs --prepare-size")?;
        objects.extend(prepare_objects(node, auth, count, size, seed)?);
    }
    if let Some(ids) = &o.ids {
        let node = node.ok_or("--ids needs --node")?;
        objects.extend(target::node_objects(
            &node.server,
            &target::parse_ids(ids)?,
            node.admin.as_ref(),
        )?);
    }
    if let Some(path) = &o.manifest {
        let manifest = target::read_manifest(path)?;
        if !manifest.node.is_empty() && node.is_none() {
            let (s, _) = target::parse_url(&manifest.node)?;
            same_server(s)?;
        }
        objects.extend(manifest.objects);
    }
    let mut urls: Vec<target::UrlLine> = o.url.iter().map(|u| (u.clone(), None, None)).collect();
    if let Some(f) = &o.urls_file {
        urls.extend(target::read_urls_file(f)?);
    }
    for (url, size, multihash) in urls {
        let (s, path) = target::parse_url(&url)?;
        same_server(s)?;
        let mut object = Object {
            id: None,
            path,
            size_bytes: size,
            multihash,
            seed: None,
            digest: None,
        };
        object.decode()?;
        objects.push(object);
    }
    if objects.is_empty() {
        return Err(
            "no objects: give --ids, --url, --urls-file, --manifest or --prepare-count".to_owned(),
        );
    }
    let server = server.ok_or("no server: give --node or --url")?;
    if let Some(path) = &o.save_manifest {
        target::write_manifest(
            path,
            &target::Manifest {
                node: node
                    .map(|n| n.url.clone())
                    .unwrap_or_else(|| server.origin.clone()),
                objects: objects.clone(),
            },
        )?;
    }
    Ok((server, objects))
}

fn load_config(
    server: &Server,
    l: &LoadArgs,
    output: &OutputArgs,
    seed: u64,
    default_count: Option<u64>,
) -> LoadConfig {
    let count = l.count.or(if l.duration_s.is_none() {
        default_count
    } else {
        None
    });
    let duration = match (count, l.duration_s) {
        (_, Some(s)) => Some(Duration::from_secs_f64(s.max(0.001))),
        (Some(_), None) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    LoadConfig {
        timeout: Duration::from_millis(l.timeout_ms.max(1)),
        read_buffer_bytes: l.read_buffer as usize,
        write_chunk_bytes: l.write_chunk as usize,
        idle_connections: l.idle_connections,
        idle_warm: l.idle_warm,
        progress: !output.quiet,
        ..LoadConfig::quiet(
            server,
            l.connections.max(1),
            l.threads.unwrap_or_else(cores).max(1),
            count,
            duration,
            seed,
        )
    }
}

/// The parameters of a read run of `objects` under `cfg`.
fn params(cfg: &LoadConfig, objects: &[Object], verify: bool) -> Params {
    let sizes: Vec<Option<u64>> = objects.iter().map(|o| o.size_bytes).collect();
    let object_size_bytes = match sizes.first() {
        Some(Some(s)) if sizes.iter().all(|x| *x == Some(*s)) => Some(*s),
        _ => None,
    };
    Params {
        connections: cfg.connections,
        threads: cfg.threads.clamp(1, cfg.connections),
        count: cfg.count,
        duration_s: cfg.duration.map(|d| d.as_secs_f64()),
        timeout_ms: cfg.timeout.as_millis() as u64,
        objects: objects.len(),
        object_size_bytes,
        range_bytes: None,
        read_ratio: None,
        verify,
        idle_connections: cfg.idle_connections,
        idle_warm: cfg.idle_warm,
    }
}

/// The parameters of an upload run of `uploads` objects of `size_bytes` (always checked: the
/// answer must carry the object's multihash or the sink's byte count).
fn upload_params(cfg: &LoadConfig, uploads: usize, size_bytes: u64) -> Params {
    Params {
        objects: uploads,
        object_size_bytes: Some(size_bytes),
        ..params(cfg, &[], true)
    }
}

/// Runs, prints and saves; the exit code is 2 when any request did not score.
fn execute(
    workload_name: &str,
    server: &Server,
    cfg: LoadConfig,
    params: Params,
    output: &OutputArgs,
    workload: Arc<dyn Workload>,
) -> Result<ExitCode, String> {
    let stats = load::run(cfg, workload);
    let label = output
        .label
        .clone()
        .unwrap_or_else(|| server.origin.clone());
    let mut report = Report::new(workload_name, &label, &server.origin, params, &stats);
    if let Some(s) = &output.scenario {
        report.scenario = s.clone();
    }
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    if let Some(path) = &output.out {
        std::fs::write(path, format!("{json}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // A closed stdout (`| head`) must not turn a finished run into a panic.
    let text = if output.json {
        format!("{json}\n")
    } else {
        report::markdown(std::slice::from_ref(&report))
    };
    print_out(&text);
    Ok(if report.errors > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_out(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn run_get(a: GetArgs) -> Result<ExitCode, String> {
    let seed = a.load.seed.unwrap_or_else(random_seed);
    let node = node_setup(&a.node)?;
    let (server, objects) = resolve_objects(node.as_ref(), &a.auth, &a.objects, seed)?;
    let cfg = load_config(&server, &a.load, &a.output, seed, None);
    let p = params(&cfg, &objects, a.objects.verify);
    let w = workload::GetWorkload {
        objects,
        random: a.objects.random,
        verify: a.objects.verify,
    };
    execute("get", &server, cfg, p, &a.output, Arc::new(w))
}

fn run_range(a: RangeArgs) -> Result<ExitCode, String> {
    let seed = a.load.seed.unwrap_or_else(random_seed);
    let node = node_setup(&a.node)?;
    let (server, mut objects) = resolve_objects(node.as_ref(), &a.auth, &a.objects, seed)?;
    if objects.len() != 1 {
        return Err(format!("range reads one object; {} given", objects.len()));
    }
    let mut object = objects.remove(0);
    if object.size_bytes.is_none() {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        object.size_bytes =
            Some(target::head(&agent, &format!("{}{}", server.origin, object.path))?.0);
    }
    let size = object.size_bytes.unwrap_or(0);
    if a.range_bytes == 0 || a.range_bytes > size {
        return Err(format!(
            "--range-bytes must be 1..={size} (the object size)"
        ));
    }
    if a.offset.is_some_and(|o| o + a.range_bytes > size) {
        return Err("--offset + --range-bytes is past the end of the object".to_owned());
    }
    let cfg = load_config(&server, &a.load, &a.output, seed, None);
    let mut p = params(&cfg, std::slice::from_ref(&object), a.objects.verify);
    p.range_bytes = Some(a.range_bytes);
    if a.objects.verify && object.content().is_none() {
        eprintln!("colossus-bench: the object's content is unknown; ranges are checked by length and Content-Range only");
    }
    let w = workload::RangeWorkload {
        object,
        range_bytes: a.range_bytes,
        offset: a.offset,
        align: a.align,
        verify: a.objects.verify,
    };
    execute("range", &server, cfg, p, &a.output, Arc::new(w))
}

fn run_upload(a: UploadArgs) -> Result<ExitCode, String> {
    let seed = a.load.seed.unwrap_or_else(random_seed);
    let default_count = a.load.connections as u64;
    if a.load.duration_s.is_some() {
        return Err("upload takes --count (the objects are created before the run)".to_owned());
    }
    let count = a.load.count.unwrap_or(default_count);
    let (server, uploads, sink) = match &a.sink_url {
        Some(url) => {
            let (server, path) = target::parse_url(url)?;
            (
                server,
                target::plan_sink_uploads(&path, count, a.object_size, seed),
                true,
            )
        }
        None => {
            let node = node_setup(&a.node)?.ok_or("give --node (or --sink-url)")?;
            let admin = need_admin(&node, "upload")?;
            eprintln!("colossus-bench: creating {count} objects in the ledger");
            let uploads = target::plan_uploads(
                &node.server,
                admin,
                &upload_auth(&a.auth)?,
                count,
                a.object_size,
                seed,
            )?;
            (node.server, uploads, false)
        }
    };
    let cfg = load_config(&server, &a.load, &a.output, seed, Some(count));
    let p = upload_params(&cfg, uploads.len(), a.object_size);
    let w = workload::UploadWorkload::new(uploads, sink);
    execute("upload", &server, cfg, p, &a.output, Arc::new(w))
}

fn run_mixed(a: MixedArgs) -> Result<ExitCode, String> {
    let seed = a.load.seed.unwrap_or_else(random_seed);
    if !(0.0..=1.0).contains(&a.read_ratio) {
        return Err("--read-ratio must be between 0 and 1".to_owned());
    }
    let node = node_setup(&a.node)?.ok_or("mixed needs --node")?;
    let admin = need_admin(&node, "mixed")?;
    let size = a
        .object_size
        .or(a.objects.prepare_size)
        .ok_or("give --object-size (or --prepare-size)")?;
    let pool = match (a.write_pool, a.load.count) {
        (Some(p), _) => p,
        (None, Some(count)) => {
            // Expected writes plus five standard deviations, so the pool rarely ends the run.
            let expected = count as f64 * (1.0 - a.read_ratio);
            let sd = (count as f64 * a.read_ratio * (1.0 - a.read_ratio)).sqrt();
            (expected + 5.0 * sd).ceil() as u64 + 1
        }
        (None, None) => return Err("mixed with --duration-s needs --write-pool".to_owned()),
    };
    let (server, objects) = resolve_objects(Some(&node), &a.auth, &a.objects, seed)?;
    eprintln!("colossus-bench: creating {pool} objects for uploads");
    let uploads = target::plan_uploads(
        &node.server,
        admin,
        &upload_auth(&a.auth)?,
        pool,
        size,
        seed ^ 0x5EED,
    )?;
    let cfg = load_config(&server, &a.load, &a.output, seed, None);
    let mut p = params(&cfg, &objects, a.objects.verify);
    p.read_ratio = Some(a.read_ratio);
    let w = workload::MixedWorkload {
        reads: workload::GetWorkload {
            objects,
            random: a.objects.random,
            verify: a.objects.verify,
        },
        writes: workload::UploadWorkload::new(uploads, false),
        read_ratio: a.read_ratio,
        next_write: AtomicU64::new(0),
    };
    execute("mixed", &server, cfg, p, &a.output, Arc::new(w))
}

fn run_sink(a: SinkArgs) -> Result<ExitCode, String> {
    let threads = a.threads.unwrap_or_else(cores);
    let duration = a.duration_s.map(Duration::from_secs_f64);
    let totals = sink::serve(a.listen, threads, duration, |addr| {
        use std::io::Write as _;
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })
    .map_err(|e| format!("sink on {}: {e}", a.listen))?;
    println!(
        "{{\"requests\":{},\"bytes\":{}}}",
        totals.requests.load(std::sync::atomic::Ordering::Relaxed),
        totals.bytes.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(ExitCode::SUCCESS)
}

fn run_report(a: ReportArgs) -> Result<ExitCode, String> {
    let mut reports = Vec::new();
    for f in &a.files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let r: Report = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        reports.push(r);
    }
    print_out(&report::markdown(&reports));
    if let Some(path) = &a.svg {
        std::fs::write(path, report::svg(&reports, a.metric))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Get(a) => run_get(a),
        Command::Range(a) => run_range(a),
        Command::Upload(a) => run_upload(a),
        Command::Mixed(a) => run_mixed(a),
        Command::Sink(a) => run_sink(a),
        Command::Report(a) => run_report(a),
        Command::Compare(a) => {
            target::UploadAuth::new("dynamic:channel:1", None, !a.tokens, "//Alice", 1)
                .and_then(|auth| compare::run(a, auth, random_seed()))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("colossus-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
