//! kprov's engine benchmark: the engine on the simulated cloud, with the AWS model's durations
//! and rate limits, on tokio's paused clock (a 10-minute EKS create costs no real time).
//! It prints figures; it asserts nothing. See docs/performance.md for the method and results.
//!
//! ```text
//! cargo bench --bench engine                      # everything (the scale runs in child processes)
//! cargo bench --bench engine -- prod              # reference prod plan vs its critical path
//! cargo bench --bench engine -- scale --resources 10000 [--plan-only]
//! cargo bench --bench engine -- throttled --rules 500
//! ```
//!
//! - `prod`: the repository's `plans/` prod environment, loaded through `config::load` against
//!   simulated kinds that mimic every registered AWS kind (names, schemas) with the model's
//!   durations. Apply and destroy wall time (simulated) against the plan's critical path, at
//!   `--parallelism 10` and 1. The simulated AWS enforces the model's rate limits; kprov's
//!   limiter keeps it from throttling.
//! - `scale`: synthetic plans of N resources (1% roots, 9% mid, 90% leaves, each referencing a
//!   parent): CPU time, wall time and peak heap to load, build the graph, refresh + diff,
//!   render, apply on the simulated cloud with zero durations (engine overhead per resource),
//!   and re-plan against the resulting state.
//! - `throttled`: 500 security-group rules through the EC2 resource-intensive bucket (50 burst,
//!   5/s) against its theoretical minimum.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kprov::config::{self, Stack};
use kprov::engine::{self, Model, RateLimiter, RunOptions};
use kprov::plan::{self, Plan};
use kprov::resource::sim::{SimCloud, SimKind};
use kprov::resource::{Cx, Owner, Registry};
use kprov::state::{Backend, LocalBackend, State};
use tokio_util::sync::CancellationToken;

// ── Measuring: heap (a counting allocator), CPU (getrusage), the process's peak RSS ─────────

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The process's peak resident set (VmHWM), in MiB.
fn vm_hwm_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

const MIB: f64 = 1024.0 * 1024.0;

/// One measured phase: CPU, wall, and the heap it needed at its peak above where it started.
struct Phase {
    name: &'static str,
    cpu: Duration,
    wall: Duration,
    peak_heap: f64,
    heap_after: f64,
}

fn measure<T>(name: &'static str, f: impl FnOnce() -> T) -> (T, Phase) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let (c0, w0) = (cpu_time(), Instant::now());
    let out = f();
    let (cpu, wall) = (cpu_time() - c0, w0.elapsed());
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base) as f64 / MIB;
    let after = CURRENT.load(Ordering::Relaxed) as f64 / MIB;
    (out, Phase { name, cpu, wall, peak_heap: peak, heap_after: after })
}

/// A backend that keeps nothing: the engine's own cost, without state persistence.
struct MemoryBackend;

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    async fn load(&self) -> Result<Option<State>, kprov::state::StateError> {
        Ok(None)
    }
    async fn save(&self, _state: &State) -> Result<(), kprov::state::StateError> {
        Ok(())
    }
    async fn import(&self, _state: &State) -> Result<(), kprov::state::StateError> {
        Ok(())
    }
    /// Nothing is written, so there is nothing to fence.
    fn fence(&self, _fence: kprov::state::lock::Fence) {}
    fn describe(&self) -> String {
        "memory".into()
    }
}

// ── Shared setup ────────────────────────────────────────────────────────────────────────────

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("tokio runtime")
}

fn owner(stack: &Stack) -> Owner {
    Owner { stack: stack.name.clone(), env: stack.env.clone() }
}

/// Apply (or destroy) `stack` on top of what `backend` holds; returns the plan, the report and
/// the simulated wall time.
async fn run(
    stack: &Stack,
    reg: &Registry,
    backend: &Arc<LocalBackend>,
    parallelism: usize,
    destroy: bool,
) -> (Plan, engine::Report, Duration) {
    let state = backend.load().expect("state");
    let plan = plan::make(stack, reg, state.as_ref(), &Cx::new(owner(stack)), destroy).await.expect("plan");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let state = state.unwrap_or_else(|| State::new(&stack.name, &stack.env));
    let b: Arc<dyn Backend> = backend.clone();
    let opts = RunOptions { owner: owner(stack), parallelism, cancel: CancellationToken::new() };
    let t0 = tokio::time::Instant::now();
    let report = engine::run(&plan, reg, state, b, tx, opts).await.expect("engine");
    (plan, report, t0.elapsed())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

// ── (a) The reference prod plan against its critical path ───────────────────────────────────

fn prod(plans: &Path, env: &str, latency: Duration) {
    let model = Model::builtin();
    println!(
        "## Reference plan: {} env `{env}` (simulated; API latency {} ms)\n",
        plans.display(),
        latency.as_millis()
    );
    println!("| run | parallelism | resources | wall (simulated) | critical path | wall / critical path | API calls | throttled |");
    println!("|---|---|---|---|---|---|---|---|");
    let apply_path = std::sync::Mutex::new(String::new());
    for parallelism in [10, 1] {
        let rt = paused_runtime();
        rt.block_on(async {
            let cloud = SimCloud::new();
            cloud.set_limiter(Arc::new(RateLimiter::from_model(&model).with_seed(1)));
            cloud.enforce_limits(&model);
            cloud.set_call_latency(latency);
            let reg = SimKind::mimic_registry(&cloud, &kprov::aws::offline_registry(), &model);
            let stack = config::load(plans, env, &reg).expect("the plans load against the mimic kinds");
            let dir = tempfile::tempdir().expect("tempdir");
            let backend = Arc::new(LocalBackend::for_env(dir.path(), env));
            for destroy in [false, true] {
                let calls_before = cloud.calls().len();
                let (plan, report, wall) = run(&stack, &reg, &backend, parallelism, destroy).await;
                assert!(report.ok(), "the benchmark run failed: {:?}", report.failed);
                let cp = engine::critical_path(&plan, &model.durations).expect("critical path");
                let calls = &cloud.calls()[calls_before..];
                println!(
                    "| {} | {parallelism} | {} | {} | {} | {:.3}× | {} | {} |",
                    if destroy { "destroy" } else { "apply" },
                    stack.resources.len(),
                    secs(wall),
                    secs(cp.total),
                    wall.as_secs_f64() / cp.total.as_secs_f64(),
                    calls.len(),
                    calls.iter().filter(|c| c.throttled).count(),
                );
                if parallelism == 10 && !destroy {
                    let path: Vec<String> =
                        cp.steps.iter().map(|(a, _, d)| format!("{a} ({:.0} s)", d.as_secs_f64())).collect();
                    *apply_path.lock().unwrap_or_else(|p| p.into_inner()) = path.join(" → ");
                }
            }
        });
    }
    println!("\nApply critical path: {}\n", apply_path.lock().unwrap_or_else(|p| p.into_inner()));
}

// ── (b) Scale: synthetic plans of N resources ───────────────────────────────────────────────

/// Plan files with `n` resources: 1% roots, 9% children of roots, 90% leaves under those.
fn write_synthetic(dir: &Path, n: usize) -> PathBuf {
    use std::fmt::Write as _;
    let plans = dir.join("plans");
    std::fs::create_dir_all(plans.join("env")).expect("mkdir");
    std::fs::write(plans.join("stack.toml"), "[stack]\nname = \"bench\"\n\n[variables]\nregion = \"sim-1\"\n")
        .expect("write");
    std::fs::write(plans.join("env/bench.toml"), "[variables]\n").expect("write");
    let roots = (n / 100).max(1);
    let mids = (n / 10).saturating_sub(roots).max(1);
    let mut text = String::with_capacity(n * 120);
    for i in 0..n {
        if i < roots {
            let _ = writeln!(text, "[resource.sim_net.n{i}]\nname = \"net-{i}\"\nsize = {i}\ntags = {{ Name = \"net-{i}\", Team = \"platform\" }}\n");
        } else if i < roots + mids {
            let _ = writeln!(text, "[resource.sim_sub.s{i}]\nparent = \"${{sim_net.n{}.id}}\"\nsize = {i}\ntags = {{ Name = \"sub-{i}\" }}\n", i % roots);
        } else {
            let _ = writeln!(text, "[resource.sim_leaf.l{i}]\nparent = \"${{sim_sub.s{}.id}}\"\nname = \"leaf-{i}\"\ntags = {{ Name = \"leaf-{i}\" }}\n", roots + i % mids);
        }
    }
    std::fs::write(plans.join("resources.toml"), text).expect("write");
    plans
}

fn scale(n: usize, plan_only: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let plans = write_synthetic(dir.path(), n);
    let rt = paused_runtime();
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 0, 0), ("sim_sub", 0, 0), ("sim_leaf", 0, 0)]);
    let mut phases = Vec::new();

    let (stack, p) =
        measure("load (parse, overlay, expand, validate)", || config::load(&plans, "bench", &reg).expect("load"));
    phases.push(p);
    let (graph, p) = measure("build the graph", || kprov::graph::ResourceGraph::build(&stack).expect("graph"));
    phases.push(p);
    let cx = Cx::new(owner(&stack));
    let (the_plan, p) = measure("refresh + diff (no state)", || {
        let empty = State::new(&stack.name, &stack.env);
        let refreshed = rt.block_on(plan::refresh(&reg, &cx, &empty)).expect("refresh");
        let order = graph.apply_order();
        plan::diff(plan::DiffInput { stack: &stack, registry: &reg, state: None, refreshed: &refreshed, order: &order })
    });
    phases.push(p);
    let (text, p) = measure("render the plan (text)", || plan::render::text(&the_plan));
    phases.push(p);
    let plan_cpu: Duration = phases.iter().map(|p| p.cpu).sum();
    let plan_peak = phases.iter().map(|p| p.peak_heap).fold(0.0, f64::max);
    let plan_rss = vm_hwm_mib();
    drop(text);
    if plan_only {
        println!(
            "{n} resources: plan (load + graph + diff + render) {:.3} s CPU, peak heap {:.1} MiB, process peak RSS {:.1} MiB",
            plan_cpu.as_secs_f64(),
            plan_peak,
            plan_rss
        );
        return;
    }

    // The engine alone (state kept in memory), then with the local state file as in production.
    let apply = |backend: Arc<dyn Backend>| {
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let opts = RunOptions { owner: owner(&stack), parallelism: 10, cancel: CancellationToken::new() };
            engine::run(&the_plan, &reg, State::new(&stack.name, &stack.env), backend, tx, opts).await.expect("engine")
        })
    };
    let sim_cloud_reset = || {
        for id in cloud.resources().keys() {
            cloud.remove(id);
        }
    };
    let (report, p) = measure("apply, state in memory (engine alone)", || apply(Arc::new(MemoryBackend)));
    assert!(report.ok(), "{:?}", report.failed);
    phases.push(p);
    drop(report);
    sim_cloud_reset();
    let state_dir = tempfile::tempdir().expect("tempdir");
    let backend = Arc::new(LocalBackend::for_env(state_dir.path(), "bench"));
    let (report, p) = measure("apply, local state file (engine + state writes)", || apply(backend.clone()));
    assert!(report.ok(), "{:?}", report.failed);
    phases.push(p);
    let state_serial = report.state.serial;
    drop(report);
    let (replan, p) = measure("re-plan against the state (refresh + diff, no changes)", || {
        let state = backend.load().expect("state");
        rt.block_on(plan::make(&stack, &reg, state.as_ref(), &cx, false)).expect("plan")
    });
    assert!(!replan.has_changes());
    phases.push(p);

    println!("### {n} resources\n");
    println!("| phase | CPU | wall | peak heap above start | heap after |");
    println!("|---|---|---|---|---|");
    for p in &phases {
        println!(
            "| {} | {:.3} s | {:.3} s | {:.1} MiB | {:.1} MiB |",
            p.name,
            p.cpu.as_secs_f64(),
            p.wall.as_secs_f64(),
            p.peak_heap,
            p.heap_after
        );
    }
    let per = |p: &Phase| p.cpu.as_secs_f64() * 1e6 / n as f64;
    println!(
        "\nPlan (load + graph + diff + render): {:.3} s CPU, peak heap {:.1} MiB, process peak RSS {:.1} MiB by then. Engine overhead per resource: {:.0} µs CPU alone, {:.0} µs CPU with the local state file ({} writes of the whole state). Process peak RSS at the end (VmHWM) {:.1} MiB.\n",
        plan_cpu.as_secs_f64(),
        plan_peak,
        plan_rss,
        per(&phases[4]),
        per(&phases[5]),
        state_serial,
        vm_hwm_mib()
    );
}

// ── (c) 500 security-group rules under the resource-intensive bucket ────────────────────────

fn throttled(rules: usize, latency: Duration) {
    let model = Model::builtin();
    let bucket = model.bucket("ec2", "resource_intensive").expect("the model has the bucket");
    let rt = paused_runtime();
    rt.block_on(async {
        let cloud = SimCloud::new();
        cloud.set_limiter(Arc::new(RateLimiter::from_model(&model).with_seed(1)));
        cloud.enforce_limits(&model);
        cloud.set_call_latency(latency);
        let mut reg = Registry::new();
        let real = kprov::aws::offline_registry();
        for kind in ["ec2_vpc", "ec2_security_group", "ec2_security_group_rule"] {
            let schema = real.schema(kind).expect("kind").clone();
            let (c, d) = (model.durations.of(engine::OpKind::Create, kind), model.durations.of(engine::OpKind::Delete, kind));
            reg.register(Arc::new(SimKind::mimic(kind, schema, &cloud, c, d)));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let plans = dir.path().join("plans");
        std::fs::create_dir_all(plans.join("env")).expect("mkdir");
        let mut text = String::from("[stack]\nname = \"bench\"\n\n[variables]\nregion = \"sim-1\"\n\n[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n[resource.ec2_security_group.main]\nname = \"main\"\ndescription = \"bench\"\nvpc_id = \"${ec2_vpc.main.id}\"\n\n");
        for i in 0..rules {
            use std::fmt::Write as _;
            let _ = writeln!(
                text,
                "[resource.ec2_security_group_rule.r{i}]\nsecurity_group_id = \"${{ec2_security_group.main.id}}\"\ntype = \"ingress\"\nprotocol = \"tcp\"\nfrom_port = {p}\nto_port = {p}\ncidr_ipv4 = \"10.0.0.0/8\"\n",
                p = 1000 + i
            );
        }
        std::fs::write(plans.join("main.toml"), text).expect("write");
        std::fs::write(plans.join("env/bench.toml"), "[variables]\n").expect("write");
        let stack = config::load(&plans, "bench", &reg).expect("the rules plan loads");
        let backend = Arc::new(LocalBackend::for_env(dir.path(), "bench"));
        let (plan, report, wall) = run(&stack, &reg, &backend, 10, false).await;
        let cp = engine::critical_path(&plan, &model.durations).expect("critical path");
        // Tokens: `burst` at once, then one per 1/rate s; the last of `rules` calls can go at
        // (rules − burst) / rate. Around it: what precedes the first rule and the last rule's
        // own duration (the critical path without the bucket).
        let bucket_min = Duration::from_secs_f64((rules as f64 - bucket.burst).max(0.0) / bucket.refill_per_s);
        let minimum = bucket_min + cp.total;
        let calls = cloud.calls();
        let stats = cloud.limiter().stats();
        println!("## {rules} security-group rules under the EC2 resource-intensive bucket (burst {}, {}/s; API latency {} ms)\n", bucket.burst, bucket.refill_per_s, latency.as_millis());
        println!("| wall (simulated) | bucket minimum | + chain around it | theoretical minimum | wall / minimum | failed | throttled by AWS | kprov waited for tokens |");
        println!("|---|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {} | {} | {:.3}× | {} | {} | {} |\n",
            secs(wall),
            secs(bucket_min),
            secs(cp.total),
            secs(minimum),
            wall.as_secs_f64() / minimum.as_secs_f64(),
            report.failed.len() + report.skipped.len(),
            calls.iter().filter(|c| c.throttled).count(),
            secs(stats.get("ec2").map(|s| s.waited).unwrap_or_default()),
        );
    });
}

// ── Command line ────────────────────────────────────────────────────────────────────────────

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore flags we do not know.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let latency = Duration::from_millis(arg(&args, "--call-latency-ms", 100));
    let default_plans = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plans");
    let plans: PathBuf = arg(&args, "--plans", default_plans);
    match what {
        "prod" => prod(&plans, &arg(&args, "--env", "prod".to_string()), latency),
        "scale" => scale(arg(&args, "--resources", 10_000), args.iter().any(|a| a == "--plan-only")),
        "throttled" => throttled(arg(&args, "--rules", 500), latency),
        "all" => {
            print_machine();
            prod(&plans, "prod", latency);
            println!("## Scale: synthetic plans\n");
            // Each size in a fresh process, so its peak RSS is its own.
            let me = std::env::current_exe().expect("current exe");
            for n in [1_000, 10_000] {
                let status = std::process::Command::new(&me)
                    .args(["scale", "--resources", &n.to_string()])
                    .status()
                    .expect("run the scale benchmark");
                assert!(status.success(), "scale {n} failed");
            }
            throttled(500, latency);
        }
        other => {
            eprintln!("unknown benchmark {other:?}: use all | prod | scale [--resources N] | throttled [--rules N]");
            std::process::exit(2);
        }
    }
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string())))
        .unwrap_or_default();
    println!(
        "# kprov engine benchmark\n\nmachine: {cpu}, {cores} cores, {mem} RAM; profile: {}\n",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}
