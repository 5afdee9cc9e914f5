//! The table (Markdown) and the plot (SVG, written by hand: two panels, throughput and p99
//! against concurrency, the API beside its baseline).

use std::fmt::Write as _;
use std::path::Path;

use crate::drive::Sample;
use crate::load::Population;

/// One concurrency level of a figure.
#[derive(Debug)]
pub struct Point {
    pub clients: usize,
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub base_rate: f64,
    pub base_p99: f64,
    pub bare_rate: Option<f64>,
    /// The machine's load average (one minute) before and after the point.
    pub load: (f64, f64),
    /// How much the baseline moved between its two runs (a fraction of the larger).
    pub drift: f64,
    /// How many times the point was measured (more than once: its baseline moved).
    pub tries: u32,
    /// The API process's CPU time per answered request, in milliseconds.
    pub cpu_ms: f64,
}

impl Point {
    pub fn of(clients: usize, api: &Sample, base: &Sample, bare: Option<&Sample>) -> Self {
        Self {
            clients,
            rate: api.rate(),
            p50: api.percentile_ms(50.0),
            p99: api.percentile_ms(99.0),
            errors: api.errors + base.errors,
            first_error: api.first_error.clone().or_else(|| base.first_error.clone()),
            base_rate: base.rate(),
            base_p99: base.percentile_ms(99.0),
            bare_rate: bare.map(Sample::rate),
            load: (f64::NAN, f64::NAN),
            drift: 0.0,
            tries: 1,
            cpu_ms: f64::NAN,
        }
    }

    fn ratio(&self) -> f64 {
        100.0 * self.rate / self.base_rate.max(1e-9)
    }
}

/// An API operation against its baseline, at several concurrencies.
#[derive(Debug)]
pub struct Figure {
    pub name: String,
    pub baseline: String,
    pub points: Vec<Point>,
}

impl Figure {
    pub fn new(name: &str, baseline: &str) -> Self {
        Self {
            name: name.to_owned(),
            baseline: baseline.to_owned(),
            points: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct FanoutFigure {
    pub subscriptions: usize,
    pub bytes_per_subscription: f64,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub delivered: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub lost: u64,
    pub duplicated: u64,
    pub feed_errors: u64,
    pub first_error: Option<String>,
}

#[derive(Debug)]
pub struct LedgerFigure {
    pub events: u64,
    pub broken: usize,
    /// `ledger verify` from PostgreSQL, events per second.
    pub verify_rate: f64,
    /// The chain checks alone (canonical encoding, SHA-256, links) over rows already read.
    pub memory_rate: f64,
    pub raw_rate: f64,
}

/// Feed and consultation at 32 clients with a pool of `size` connections.
#[derive(Debug)]
pub struct PoolPoint {
    pub size: u32,
    pub feed_rate: f64,
    pub feed_p99: f64,
    pub record_rate: f64,
    pub record_p99: f64,
    pub errors: u64,
}

/// Round trips to the database per request, by operation.
#[derive(Debug, Default)]
pub struct Statements(pub Vec<(String, f64)>);

#[derive(Debug)]
pub struct Report {
    scale: f64,
    patients: usize,
    practitioners: usize,
    documents: u64,
    events: u64,
    load_secs: f64,
    uptime_before: String,
    pub figures: Vec<Figure>,
    pub fanout: Option<FanoutFigure>,
    pub contents: Option<crate::contents::ContentsFigure>,
    pub checkpoints: Option<crate::checkpoints::CheckpointFigure>,
    pub ledger: Option<LedgerFigure>,
    pub statements: Statements,
    pub pool: Vec<PoolPoint>,
    pub total_secs: f64,
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().take(3).collect();
            format!("load average {}", f.join(", "))
        })
        .unwrap_or_default()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Report {
    pub fn new(scale: f64, population: &Population, load_secs: f64) -> Self {
        Self {
            scale,
            patients: population.patients(),
            practitioners: population.practitioners.len(),
            documents: population.documents,
            events: population.events,
            load_secs,
            uptime_before: uptime(),
            figures: Vec::new(),
            fanout: None,
            contents: None,
            checkpoints: None,
            ledger: None,
            statements: Statements::default(),
            pool: Vec::new(),
            total_secs: 0.0,
        }
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("latest.md"), self.markdown())?;
        std::fs::write(dir.join("latest.svg"), self.svg())
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
        let _ = writeln!(md, "# espace-sante benchmark, {now}\n");
        let _ = writeln!(
            md,
            "Scale {}: {} patients, {} practitioners, {} documents, {} ledger events ({}). \
             {} cores; the load generator, the API and PostgreSQL share them. Machine load when \
             the measures began: {}; at the end: {}. A load average above the core count means \
             other work was running: the figures were then taken under contention, and ratios \
             (API and baseline measured in the same minute) are what to compare. Whole run: {:.0} s.\n",
            self.scale,
            self.patients,
            self.practitioners,
            self.documents,
            self.events,
            if self.events == 0 {
                "not loaded: only parts on databases of their own ran".to_owned()
            } else {
                format!("loaded in {:.0} s", self.load_secs)
            },
            cores(),
            self.uptime_before,
            uptime(),
            self.total_secs,
        );
        let _ = writeln!(md, "## Against the targets\n");
        let _ = writeln!(md, "| target | measured | met |\n| --- | --- | --- |");
        let mut target = |name: &str, measured: String, met: bool| {
            let _ = writeln!(
                md,
                "| {name} | {measured} | {} |",
                if met { "yes" } else { "**no**" }
            );
        };
        // The targets of issue 20, each at the concurrencies it names.
        let ratio_at = |name: &str, clients: usize| {
            self.figures
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.points.iter().find(|p| p.clients == clients))
        };
        for (name, label, at_least) in [
            (
                "feedDocument",
                "`feedDocument` 1 KiB ≥ 80 % of the three-insert transaction",
                80.0,
            ),
            (
                "patientRecord(first: 20), spread",
                "traced `patientRecord(first: 20)` ≥ 60 % of audit insert + select 20",
                60.0,
            ),
        ] {
            for clients in [8, 32] {
                if let Some(p) = ratio_at(name, clients) {
                    target(
                        &format!("{label}, {clients} clients"),
                        format!("{:.0} %", p.ratio()),
                        p.ratio() >= at_least,
                    );
                }
            }
        }
        if let Some(p) = ratio_at("patientRecord(first: 20), spread", 32) {
            target(
                "traced read p99 ≤ 25 ms at 32 clients",
                format!("{:.1} ms", p.p99),
                p.p99 <= 25.0,
            );
        }
        for (name, at_most) in [("feedDocument", 6.0), ("patientRecord", 4.0)] {
            if let Some((_, count)) = self.statements.0.iter().find(|(n, _)| n == name) {
                target(
                    &format!("`{name}` ≤ {at_most} database round trips"),
                    format!("{count:.1}"),
                    *count <= at_most,
                );
            }
        }
        if let Some(f) = &self.fanout {
            target(
                &format!(
                    "≤ 12 KB of server memory per idle subscription ({} open)",
                    f.subscriptions
                ),
                format!("{:.1} KB", f.bytes_per_subscription / 1000.0),
                f.bytes_per_subscription <= 12_000.0,
            );
            target(
                "fan-out p99 ≤ 50 ms at 1,000 events/s, none lost or duplicated",
                format!(
                    "p99 {:.1} ms at {:.0}/s, {} lost, {} duplicated",
                    f.p99_ms, f.achieved_rate, f.lost, f.duplicated
                ),
                f.p99_ms <= 50.0
                    && f.lost == 0
                    && f.duplicated == 0
                    && f.achieved_rate >= 0.95 * f.target_rate,
            );
        }
        if let Some(c) = &self.contents {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            target(
                "feeding a 20 MiB document raises server memory ≤ 4 MiB over idle",
                format!(
                    "{:.1} MiB as a multipart upload ({:.1} MiB as base64 in JSON)",
                    mib(c.upload_20mib),
                    mib(c.base64_20mib)
                ),
                c.upload_20mib <= 4 * 1024 * 1024,
            );
            target(
                "exporting a 500 MiB record raises it ≤ 32 MiB; three at once < 64 MiB",
                format!(
                    "{:.1} MiB for one, {:.1} MiB for three ({} bytes each archive)",
                    mib(c.one_export),
                    mib(c.three_exports),
                    c.exported.first().copied().unwrap_or(0)
                ),
                c.one_export <= 32 * 1024 * 1024
                    && c.three_exports < 64 * 1024 * 1024
                    && c.exported.iter().all(|b| *b >= c.record_bytes),
            );
        }
        if let Some(c) = &self.checkpoints {
            // In proportion to what moved: 1,000 moved chains cost the same among all the
            // patients as among a tenth of them.
            let at = |chains: u64, moved: u64| {
                c.moved
                    .iter()
                    .find(|p| p.chains == chains && p.moved == moved)
                    .map(|p| p.secs * 1e3)
            };
            let all = c.moved.iter().map(|p| p.chains).max().unwrap_or(0);
            let tenth = c.first.as_ref().map_or(0, |p| p.moved);
            if let (Some(small), Some(large)) = (at(tenth, 1_000), at(all, 1_000)) {
                target(
                    &format!(
                        "a checkpoint over 1,000 moved chains among {all} patients costs in proportion to the 1,000"
                    ),
                    format!(
                        "{large:.1} ms among {all}, {small:.1} ms among {tenth}; every chain \
                         (the first checkpoint, {tenth} chains): {:.0} ms",
                        c.first.as_ref().map_or(0.0, |p| p.secs * 1e3)
                    ),
                    large <= 2.0 * small,
                );
            }
            target(
                &format!(
                    "a consistency proof at {} checkpoints answers in < 5 ms",
                    c.checkpoints
                ),
                format!(
                    "p50 {:.2} ms, p99 {:.2} ms over HTTP ({} requests)",
                    c.consistency.p50, c.consistency.p99, c.consistency.count
                ),
                c.consistency.p99 < 5.0,
            );
        }
        if let Some(l) = &self.ledger {
            // The verification proper (encode, hash, link) against the hashing alone, on the
            // same rows in memory; reading them from PostgreSQL is reported beside it.
            let ratio = 100.0 * l.memory_rate / l.raw_rate.max(1e-9);
            target(
                "ledger verification ≥ 50 % of raw SHA-256",
                format!(
                    "{ratio:.0} % (rows in memory; {:.0} % with the reading from PostgreSQL)",
                    100.0 * l.verify_rate / l.raw_rate.max(1e-9)
                ),
                ratio >= 50.0,
            );
        }

        if !self.figures.is_empty() {
            let _ = writeln!(
                md,
                "\n## Throughput and latency, each beside its baseline\n"
            );
            let _ = writeln!(
                md,
                "Each point runs the baseline, the API, then the baseline again; the ratio is against both \
                 baseline runs. A point whose baseline moved more than 20 % between its runs is measured \
                 again (at most three times in all): `tries` says how often.\n"
            );
            let _ = writeln!(
                md,
                "| operation | clients | API req/s | p50 ms | p99 ms | baseline | baseline tps | baseline p99 ms | ratio | bare select tps | errors | API CPU ms/req | load before → after | baseline moved | tries |\n\
                 | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for figure in &self.figures {
                for p in &figure.points {
                    let _ = writeln!(
                        md,
                        "| `{}` | {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {:.0} % | {} | {} | {:.2} | {:.2} → {:.2} | {:.0} % | {} |",
                        figure.name,
                        p.clients,
                        p.rate,
                        p.p50,
                        p.p99,
                        figure.baseline,
                        p.base_rate,
                        p.base_p99,
                        p.ratio(),
                        p.bare_rate.map_or("—".to_owned(), |r| format!("{r:.0}")),
                        p.errors,
                        p.cpu_ms,
                        p.load.0,
                        p.load.1,
                        100.0 * p.drift,
                        p.tries,
                    );
                }
            }
        }
        let errors: Vec<String> = self
            .figures
            .iter()
            .flat_map(|f| &f.points)
            .filter_map(|p| p.first_error.clone())
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(md, "\nFirst errors: {}", errors.join("; "));
        }
        if let Some(f) = &self.fanout {
            let _ = writeln!(md, "\n## Fan-out\n");
            let _ = writeln!(
                md,
                "{} idle `notifications` subscriptions (one websocket each): {:.1} KB of server memory each \
                 (resident memory before and after). Then {:.0} documents/s asked, {:.0}/s achieved, round robin \
                 over the subscribed patients: {} frames matched to their feed's acknowledgement, latency \
                 p50 {:.1} ms, p99 {:.1} ms (a frame that beat the HTTP answer counts 0); {} lost, {} duplicated; \
                 {} feeds failed{}.",
                f.subscriptions,
                f.bytes_per_subscription / 1000.0,
                f.target_rate,
                f.achieved_rate,
                f.delivered,
                f.p50_ms,
                f.p99_ms,
                f.lost,
                f.duplicated,
                f.feed_errors,
                f.first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (first: {e})")),
            );
        }
        if let Some(c) = &self.checkpoints {
            let _ = writeln!(md, "\n## Signed checkpoints\n");
            let _ = writeln!(
                md,
                "On a database of their own: chains of announced patients, logged by the API's \
                 `create_checkpoint`. The first checkpoint logs every chain, as each checkpoint did \
                 before the log grew with change; each one after logs the chains that moved.\n\n\
                 | chains in the log | moved | checkpoint ms | µs per moved chain |\n| ---: | ---: | ---: | ---: |"
            );
            for p in c.first.iter().chain(&c.moved) {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.1} | {:.0} |",
                    p.chains,
                    p.moved,
                    p.secs * 1e3,
                    p.secs * 1e6 / p.moved.max(1) as f64
                );
            }
            let _ = writeln!(
                md,
                "\nThe log then grown to {} checkpoints ({} leaves), one moved chain each: {:.0} \
                 checkpoints/s; its tables take {:.0} MiB. Consistency proofs between random \
                 checkpoints, `GET /ledger/checkpoints/consistency` over HTTP, one client: p50 {:.2} ms, \
                 p99 {:.2} ms, max {:.2} ms ({} requests). Inclusion proofs of a random patient's head \
                 in the latest checkpoint, in process: p50 {:.2} ms, p99 {:.2} ms ({}).",
                c.checkpoints,
                c.leaves,
                c.growth_rate,
                c.log_bytes as f64 / (1024.0 * 1024.0),
                c.consistency.p50,
                c.consistency.p99,
                c.consistency.max,
                c.consistency.count,
                c.inclusion.p50,
                c.inclusion.p99,
                c.inclusion.count,
            );
        }
        if let Some(l) = &self.ledger {
            let _ = writeln!(md, "\n## Ledger verification\n");
            let _ = writeln!(
                md,
                "`ledger verify` (every chain, read from PostgreSQL and re-hashed): {} events, {} broken chains, \
                 {:.0} events/s ({:.0} % of raw SHA-256). The chain checks alone over the same rows in memory \
                 (canonical encoding, SHA-256, links): {:.0} events/s; raw SHA-256 over the same canonical bytes: \
                 {:.0} events/s; ratio {:.0} %.",
                l.events,
                l.broken,
                l.verify_rate,
                100.0 * l.verify_rate / l.raw_rate.max(1e-9),
                l.memory_rate,
                l.raw_rate,
                100.0 * l.memory_rate / l.raw_rate.max(1e-9)
            );
        }
        if !self.pool.is_empty() {
            let _ = writeln!(md, "\n## Pool size (32 clients)\n");
            let _ = writeln!(
                md,
                "| connections | feed req/s | feed p99 ms | patientRecord req/s | patientRecord p99 ms | errors |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            let find = |name: &str| {
                self.figures
                    .iter()
                    .find(|f| f.name == name)
                    .and_then(|f| f.points.iter().find(|p| p.clients == 32))
            };
            if let (Some(feed), Some(record)) = (
                find("feedDocument"),
                find("patientRecord(first: 20), spread"),
            ) {
                let _ = writeln!(
                    md,
                    "| 20 (the figures above) | {:.0} | {:.1} | {:.0} | {:.1} | {} |",
                    feed.rate,
                    feed.p99,
                    record.rate,
                    record.p99,
                    feed.errors + record.errors
                );
            }
            for p in &self.pool {
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {:.1} | {:.0} | {:.1} | {} |",
                    p.size, p.feed_rate, p.feed_p99, p.record_rate, p.record_p99, p.errors
                );
            }
        }
        if !self.statements.0.is_empty() {
            let _ = writeln!(md, "\n## Database round trips per request\n");
            let _ = writeln!(
                md,
                "Counted by a proxy between a second server and PostgreSQL (`Sync` and `Query` messages, BEGIN and COMMIT included), one request at a time:\n"
            );
            for (name, count) in &self.statements.0 {
                let _ = writeln!(md, "- {name}: {count:.1}");
            }
        }
        md
    }

    fn svg(&self) -> String {
        const W: f64 = 900.0;
        const H: f64 = 380.0;
        let series: Vec<(&Figure, &str)> = self
            .figures
            .iter()
            .filter(|f| f.points.len() > 1)
            .zip(["#1f77b4", "#d62728", "#2ca02c", "#9467bd"])
            .collect();
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        let panels: [Panel; 2] = [
            (
                "throughput (req/s; dashed: baseline tps)",
                |p| p.rate,
                |p| Some(p.base_rate),
            ),
            (
                "p99 latency (ms; dashed: baseline)",
                |p| p.p99,
                |p| Some(p.base_p99),
            ),
        ];
        for (i, (title, value, base)) in panels.iter().enumerate() {
            let (x0, y0, w, h) = (60.0 + i as f64 * W / 2.0, 40.0, W / 2.0 - 90.0, H - 110.0);
            let max = series
                .iter()
                .flat_map(|(f, _)| &f.points)
                .flat_map(|p| [value(p), base(p).unwrap_or(0.0)])
                .filter(|v| v.is_finite())
                .fold(1.0, f64::max)
                * 1.1;
            let xs = |clients: usize| x0 + w * (clients as f64).log2().max(0.0) / 6.0;
            let ys = |v: f64| y0 + h - h * v / max;
            let _ = writeln!(
                svg,
                "<text x=\"{x0}\" y=\"25\" font-size=\"13\">{title}</text>"
            );
            let _ = writeln!(
                svg,
                "<rect x=\"{x0}\" y=\"{y0}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#999\"/>"
            );
            for clients in [1, 8, 32, 64] {
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{clients}</text>",
                    xs(clients),
                    y0 + h + 15.0
                );
            }
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">clients</text>",
                x0 + w / 2.0,
                y0 + h + 30.0
            );
            for k in 0..=4 {
                let v = max * f64::from(k) / 4.0;
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>",
                    x0 - 4.0,
                    ys(v) + 4.0
                );
            }
            for (figure, colour) in &series {
                for (dashed, get) in [(false, Some(*value)), (true, None)] {
                    let points: Vec<String> = figure
                        .points
                        .iter()
                        .filter_map(|p| {
                            let v = match get {
                                Some(g) => g(p),
                                None => base(p)?,
                            };
                            v.is_finite()
                                .then(|| format!("{:.1},{:.1}", xs(p.clients), ys(v)))
                        })
                        .collect();
                    let dash = if dashed {
                        " stroke-dasharray=\"5,4\""
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        svg,
                        "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                        points.join(" ")
                    );
                }
            }
        }
        for (k, (figure, colour)) in series.iter().enumerate() {
            let y = H - 35.0 + 14.0 * (k as f64 % 2.0);
            let x = 60.0 + 420.0 * (k / 2) as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"{:.1}\" width=\"12\" height=\"4\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                y - 4.0,
                x + 16.0,
                y,
                xml(&figure.name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// A panel of the plot: its title, the API's value of a point, the baseline's.
type Panel = (&'static str, fn(&Point) -> f64, fn(&Point) -> Option<f64>);

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
