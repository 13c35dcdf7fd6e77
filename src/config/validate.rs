//! From parsed documents to a typed [`Config`]: deserialize every section (collecting serde
//! errors per section and per subscriber entry), then check values, names and references, and
//! resolve references into IDs and shared `Arc`s. Every problem is recorded with its position;
//! nothing stops at the first.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::DeValue;

use super::Config;
use super::document::{Document, Seg, deserialize_collect, path_string, segs};
use super::error::{ConfigErrors, Diagnostic};
use super::model::*;
use super::schema::*;
use super::secret::{PBKDF2_RECOMMENDED_ITERATIONS, Secret, SecretBytes};
use super::subscribers::{
    AddressAssignment, Contract, Subscriber, SubscriberRange, SubscriberSettings, SubscriberTable,
    ranges_overlap, realm_of,
};
use super::units::{Ipv4Range, show_duration};

const MAIN: usize = 0;
const SUBS: usize = 1;

/// Top-level keys of the main file.
const MAIN_KEYS: &[&str] = &[
    "daemon",
    "l2tp",
    "ppp",
    "lns",
    "lac",
    "planner",
    "disconnect",
    "subscribers",
    "subscriber",
    "subscriber_range",
    "billing",
];

/// Top-level keys of a subscribers file.
const SUBS_KEYS: &[&str] = &["subscriber", "subscriber_range"];

/// Where a problem is: a fixed key path, a spanned value, or a key inside a spanned element.
#[derive(Debug, Clone)]
enum Loc {
    Path(Vec<Seg>),
    Span(Range<usize>),
    In(Range<usize>, Vec<Seg>),
}

fn at(path: &str) -> Loc {
    Loc::Path(segs(path))
}

/// The value's own position, or `fallback` when the value is a default (empty span).
fn span_or<T>(s: &Spanned<T>, fallback: &str) -> Loc {
    let span = s.span();
    if span.is_empty() {
        at(fallback)
    } else {
        Loc::Span(span)
    }
}

/// A key inside a spanned element (a `[[table]]` entry or inline table).
fn inside(span: &Range<usize>, rel: &str) -> Loc {
    Loc::In(span.clone(), segs(rel))
}

/// Everything read from the files, before checking.
#[derive(Default)]
struct Raw {
    daemon: DaemonConfig,
    l2tp: L2tpConfig,
    ppp: PppConfig,
    lns: LnsSection,
    lac: LacSection,
    planner: PlannerConfig,
    disconnect: DisconnectSection,
    subscribers: SubscribersSection,
    billing: BillingSection,
    subscriber: Vec<(usize, Range<usize>, SubscriberEntry)>,
    ranges: Vec<(usize, Range<usize>, SubscriberRangeEntry)>,
}

struct Ctx<'a> {
    docs: &'a [Document<'a>],
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Some subscriber entry lost parts to errors (so "nobody uses this line" may be false).
    subscribers_incomplete: bool,
    /// Where each `[[lac.lines]]` entry is, by `LineId`, for warnings raised later.
    line_spans: Vec<Range<usize>>,
    /// How many of `errors` came from deserialization (they come first): only those cut values
    /// out of the tree.
    serde_errors: usize,
    /// The distinct sets of services condition F watches (each costs the data plane one bit).
    watch_sets: HashSet<Vec<u32>>,
}

/// Loads a configuration from `text`. `base_dir` resolves relative paths (the subscribers file,
/// `daemon.state_dir`, `daemon.ctl_socket`); `None` leaves them relative to the working directory.
pub(crate) fn load(
    origin: Arc<str>,
    text: &str,
    base_dir: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let (main, syntax) = Document::parse(origin.clone(), text);
    if !syntax.is_empty() {
        // A broken file parses into a partial tree; checking it would report ghosts.
        return Err(finish(syntax, Vec::new()));
    }

    // Read the subscribers file first, so that its document can live next to the main one.
    let subs_name = main
        .root_table()
        .get("subscribers")
        .and_then(|s| s.get_ref().get("file"))
        .and_then(|f| f.get_ref().as_str())
        .filter(|f| !f.trim().is_empty())
        .map(str::to_owned);
    let subs_path = subs_name
        .as_ref()
        .map(|n| resolve_path(base_dir, Path::new(n)));
    let subs_text = subs_path.as_ref().map(std::fs::read_to_string);

    let mut docs = vec![main];
    let mut early = Vec::new();
    if let (Some(path), Some(result)) = (&subs_path, &subs_text) {
        match result {
            Ok(text) => {
                let (doc, syntax) = Document::parse(path.display().to_string().into(), text);
                early.extend(syntax);
                docs.push(doc);
            }
            Err(e) => {
                let offset = docs[MAIN].offset_of(&segs("subscribers.file"));
                early.push(docs[MAIN].diagnostic(
                    offset,
                    "subscribers.file".into(),
                    format!("cannot read subscribers file {}: {e}", path.display()),
                ));
            }
        }
    }
    if !early.is_empty() {
        return Err(finish(early, Vec::new()));
    }

    let mut ctx = Ctx {
        docs: &docs,
        errors: Vec::new(),
        warnings: Vec::new(),
        subscribers_incomplete: false,
        line_spans: Vec::new(),
        serde_errors: 0,
        watch_sets: HashSet::new(),
    };
    let raw = ctx.read(docs.len() > SUBS);
    ctx.serde_errors = ctx.errors.len();
    let config = ctx.build(raw, origin, base_dir, subs_path);
    if ctx.errors.is_empty() {
        let mut config = config;
        let mut warnings = ctx.warnings;
        sort(&mut warnings, &docs);
        config.warnings = warnings;
        Ok(config)
    } else {
        let mut errors = ctx.errors;
        let mut warnings = ctx.warnings;
        sort(&mut errors, &docs);
        sort(&mut warnings, &docs);
        Err(ConfigErrors { errors, warnings })
    }
}

fn finish(errors: Vec<Diagnostic>, warnings: Vec<Diagnostic>) -> ConfigErrors {
    ConfigErrors { errors, warnings }
}

fn sort(diags: &mut [Diagnostic], docs: &[Document<'_>]) {
    let order: HashMap<&str, usize> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (&*d.file, i))
        .collect();
    diags.sort_by_key(|d| {
        (
            order.get(&*d.file).copied().unwrap_or(usize::MAX),
            d.position,
        )
    });
}

fn resolve_path(base: Option<&Path>, p: &Path) -> PathBuf {
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    }
}

impl<'a> Ctx<'a> {
    // -----------------------------------------------------------------------------------------
    // Reporting

    fn locate(&self, doc: usize, loc: &Loc) -> (String, Option<usize>) {
        let d = &self.docs[doc];
        match loc {
            Loc::Path(p) => (path_string(p), d.offset_of(p)),
            Loc::Span(s) => (
                d.path_of_span(s)
                    .map(|p| path_string(&p))
                    .unwrap_or_default(),
                Some(s.start),
            ),
            Loc::In(s, rel) => {
                let mut full = d.path_of_span(s).unwrap_or_default();
                full.extend(rel.iter().cloned());
                let offset = d.offset_of(&full).or(Some(s.start));
                (path_string(&full), offset)
            }
        }
    }

    fn diag(&self, doc: usize, loc: &Loc, message: String) -> Diagnostic {
        let (key, offset) = self.locate(doc, loc);
        self.docs[doc].diagnostic(offset, key, message)
    }

    fn error(&mut self, doc: usize, loc: Loc, message: impl Into<String>) {
        let d = self.diag(doc, &loc, message.into());
        self.errors.push(d);
    }

    fn warn(&mut self, doc: usize, loc: Loc, message: impl Into<String>) {
        let d = self.diag(doc, &loc, message.into());
        self.warnings.push(d);
    }

    /// `FILE:LINE:COL` of a location, for "first defined at" messages.
    fn where_is(&self, doc: usize, loc: &Loc) -> String {
        let d = self.diag(doc, loc, String::new());
        match d.position {
            Some((l, c)) => format!("{}:{l}:{c}", d.file),
            None => d.file.to_string(),
        }
    }

    /// Reports every repeated name among `items` (a location and a name each).
    fn unique<'n>(&mut self, what: &str, items: impl IntoIterator<Item = (usize, Loc, &'n str)>) {
        let mut seen: HashMap<&'n str, (usize, Loc)> = HashMap::new();
        for (doc, loc, name) in items {
            if let Some((d0, l0)) = seen.get(name) {
                let first = self.where_is(*d0, l0);
                self.error(
                    doc,
                    loc,
                    format!("duplicate {what} `{name}`; first defined at {first}"),
                );
            } else {
                seen.insert(name, (doc, loc));
            }
        }
    }

    fn unknown(
        &mut self,
        doc: usize,
        loc: Loc,
        kind: &str,
        name: &str,
        list: &'static str,
        known: Vec<&str>,
    ) {
        if self.damaged(list) {
            // The referenced item may be one that was cut out by an earlier error.
            return;
        }
        let known = if known.is_empty() {
            format!("no {kind} is defined")
        } else {
            format!(
                "defined: {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        self.error(doc, loc, format!("unknown {kind} `{name}`; {known}"));
    }

    /// Whether an error was already reported at or below this location. Checks on values that
    /// were cut out (and replaced by defaults or left empty) would report ghosts.
    fn touched(&self, doc: usize, loc: &Loc) -> bool {
        let (key, _) = self.locate(doc, loc);
        let file = &self.docs[doc].file;
        self.errors[..self.serde_errors].iter().any(|e| {
            e.file == *file
                && e.key.strip_prefix(key.as_str()).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
                })
        })
    }

    /// Whether the main file's list at `path` (e.g. `lns.pools`) lost anything to an error: an
    /// error at the list, inside it, or at a table that holds it.
    fn damaged(&self, path: &str) -> bool {
        let file = &self.docs[MAIN].file;
        let related = |a: &str, b: &str| {
            a.strip_prefix(b).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            })
        };
        self.errors[..self.serde_errors]
            .iter()
            .any(|e| e.file == *file && (related(&e.key, path) || related(path, &e.key)))
    }

    fn positive(&mut self, doc: usize, loc: Loc, d: Duration) -> bool {
        if d.is_zero() {
            self.error(doc, loc, "must be greater than zero");
            false
        } else {
            true
        }
    }

    fn name(&mut self, doc: usize, loc: Loc, name: &str) -> bool {
        if name.trim().is_empty() {
            self.error(doc, loc, "must not be empty");
            false
        } else if name.chars().any(char::is_control) {
            self.error(doc, loc, "must not contain control characters");
            false
        } else {
            true
        }
    }

    // -----------------------------------------------------------------------------------------
    // Reading

    fn read(&mut self, with_subs: bool) -> Raw {
        let mut raw = Raw::default();
        let docs = self.docs;
        for (key, value) in docs[MAIN].root_table().iter() {
            match key.get_ref().as_ref() {
                "daemon" => raw.daemon = self.section(MAIN, "daemon", value),
                "l2tp" => raw.l2tp = self.section(MAIN, "l2tp", value),
                "ppp" => raw.ppp = self.section(MAIN, "ppp", value),
                "lns" => raw.lns = self.section(MAIN, "lns", value),
                "lac" => raw.lac = self.section(MAIN, "lac", value),
                "planner" => raw.planner = self.section(MAIN, "planner", value),
                "disconnect" => raw.disconnect = self.section(MAIN, "disconnect", value),
                "subscribers" => raw.subscribers = self.section(MAIN, "subscribers", value),
                "billing" => raw.billing = self.section(MAIN, "billing", value),
                "subscriber" => self.entries(MAIN, "subscriber", value, &mut raw.subscriber),
                "subscriber_range" => {
                    self.entries(MAIN, "subscriber_range", value, &mut raw.ranges)
                }
                other => self.unknown_top(MAIN, key, other, MAIN_KEYS),
            }
        }
        if with_subs {
            for (key, value) in docs[SUBS].root_table().iter() {
                match key.get_ref().as_ref() {
                    "subscriber" => self.entries(SUBS, "subscriber", value, &mut raw.subscriber),
                    "subscriber_range" => {
                        self.entries(SUBS, "subscriber_range", value, &mut raw.ranges)
                    }
                    other => self.unknown_top(SUBS, key, other, SUBS_KEYS),
                }
            }
        }
        raw
    }

    fn unknown_top(
        &mut self,
        doc: usize,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        name: &str,
        allowed: &[&str],
    ) {
        let list = allowed
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let d = &self.docs[doc];
        let diag = d.diagnostic(
            Some(key.span().start),
            path_string(&[Seg::from(name)]),
            format!("unknown key `{name}`, expected one of {list}"),
        );
        self.errors.push(diag);
    }

    fn section<T: DeserializeOwned + Default>(
        &mut self,
        doc: usize,
        name: &'static str,
        value: &Spanned<DeValue<'_>>,
    ) -> T {
        deserialize_collect::<T>(&self.docs[doc], value, &[Seg::from(name)], &mut self.errors)
            .value
            .unwrap_or_default()
    }

    fn entries<T: DeserializeOwned>(
        &mut self,
        doc: usize,
        name: &'static str,
        value: &Spanned<DeValue<'_>>,
        out: &mut Vec<(usize, Range<usize>, T)>,
    ) {
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                doc,
                at(name),
                format!("expected an array of tables: write [[{name}]]"),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let path = [Seg::from(name), Seg::Index(i)];
            let c = deserialize_collect::<T>(&self.docs[doc], item, &path, &mut self.errors);
            if !c.complete {
                self.subscribers_incomplete = true;
            }
            if let Some(v) = c.value {
                out.push((doc, item.span(), v));
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Building

    fn build(
        &mut self,
        raw: Raw,
        origin: Arc<str>,
        base_dir: Option<&Path>,
        subscribers_file: Option<PathBuf>,
    ) -> Config {
        let daemon = self.daemon(raw.daemon, base_dir);
        self.l2tp(&raw.l2tp);
        self.ppp(&raw.ppp);
        self.planner(&raw.planner);
        let billing = self.billing(raw.billing);
        let disconnect = self.disconnect(raw.disconnect);
        let lns = self.lns(raw.lns);
        let lac = self.lac(raw.lac, &lns, &billing);
        let subscribers = self.subscribers(
            &raw.subscribers,
            raw.subscriber,
            raw.ranges,
            &raw.ppp,
            &lns,
            &lac,
            &disconnect,
            &billing,
        );
        if !lns.enabled && !lac.enabled {
            self.warn(
                MAIN,
                at(""),
                "neither [lns] nor [lac] is enabled: the daemon has nothing to run",
            );
        }
        Config {
            origin,
            subscribers_file,
            daemon,
            l2tp: raw.l2tp,
            ppp: raw.ppp,
            lns,
            lac,
            planner: raw.planner,
            disconnect,
            subscribers: Arc::new(subscribers),
            billing,
            warnings: Vec::new(),
        }
    }

    fn daemon(&mut self, mut d: DaemonConfig, base: Option<&Path>) -> DaemonConfig {
        for setting in [&mut d.state_dir, &mut d.ctl_socket] {
            if let PathSetting::Path(p) = setting {
                *p = resolve_path(base, p);
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&d.log_level) {
            self.error(
                MAIN,
                at("daemon.log_level"),
                format!("invalid log filter {:?}: {e}", d.log_level),
            );
        }
        self.positive(MAIN, at("daemon.shutdown_grace"), d.shutdown_grace);
        self.positive(
            MAIN,
            at("daemon.malformed_log_interval"),
            d.malformed_log_interval,
        );
        d
    }

    fn l2tp(&mut self, c: &L2tpConfig) {
        for (key, v) in [
            ("l2tp.hostname", &c.hostname),
            ("l2tp.vendor_name", &c.vendor_name),
        ] {
            if self.name(MAIN, at(key), v) && v.len() > 255 {
                self.error(MAIN, at(key), "longer than 255 bytes");
            }
        }
        self.positive(MAIN, at("l2tp.retransmit_initial"), c.retransmit_initial);
        self.positive(MAIN, at("l2tp.hello_interval"), c.hello_interval);
        let timers_ok = ![
            "l2tp.ack_delay",
            "l2tp.retransmit_initial",
            "l2tp.retransmit_cap",
        ]
        .iter()
        .any(|k| self.touched(MAIN, &at(k)));
        if timers_ok && c.ack_delay >= c.retransmit_initial {
            self.error(
                MAIN,
                at("l2tp.ack_delay"),
                format!(
                    "must be shorter than l2tp.retransmit_initial ({}), or the peer retransmits before we acknowledge",
                    show_duration(c.retransmit_initial)
                ),
            );
        }
        if timers_ok && c.retransmit_cap < c.retransmit_initial {
            self.error(
                MAIN,
                at("l2tp.retransmit_cap"),
                format!(
                    "must not be shorter than l2tp.retransmit_initial ({})",
                    show_duration(c.retransmit_initial)
                ),
            );
        }
        for key in ["l2tp.socket_recv_buffer", "l2tp.socket_send_buffer"] {
            let v = if key.ends_with("recv_buffer") {
                c.socket_recv_buffer
            } else {
                c.socket_send_buffer
            };
            if !(4096..=i32::MAX as u64).contains(&v) {
                self.error(
                    MAIN,
                    at(key),
                    format!("out of range: expected 4096 to {} bytes, got {v}", i32::MAX),
                );
            }
        }
    }

    fn ppp(&mut self, c: &PppConfig) {
        if c.auth.is_empty() && !self.touched(MAIN, &at("ppp.auth")) {
            self.error(
                MAIN,
                at("ppp.auth"),
                "list at least one of \"chap-md5\", \"pap\"",
            );
        }
        let mut seen = HashSet::new();
        for (i, m) in c.auth.iter().enumerate() {
            if !seen.insert(*m) {
                self.error(
                    MAIN,
                    Loc::Path(vec![Seg::from("ppp"), Seg::from("auth"), Seg::Index(i)]),
                    "listed twice",
                );
            }
        }
        self.positive(MAIN, at("ppp.restart_timer"), c.restart_timer);
        self.positive(MAIN, at("ppp.auth_timeout"), c.auth_timeout);
    }

    fn planner(&mut self, c: &PlannerConfig) {
        self.positive(MAIN, at("planner.replan_interval"), c.replan_interval);
        self.positive(MAIN, at("planner.move_timeout"), c.move_timeout);
        let s = &c.service_level;
        self.positive(MAIN, at("planner.service_level.window"), s.window);
        self.positive(MAIN, at("planner.service_level.hold"), s.hold);
        let percents_ok = ["lower_percent", "target_percent", "raise_percent"]
            .iter()
            .all(|k| !self.touched(MAIN, &at(&format!("planner.service_level.{k}"))));
        if percents_ok
            && !(s.lower_percent < s.target_percent && s.target_percent < s.raise_percent)
        {
            self.error(
                MAIN,
                at("planner.service_level.target_percent"),
                format!(
                    "thresholds must satisfy lower_percent < target_percent < raise_percent, got {} < {} < {}",
                    s.lower_percent, s.target_percent, s.raise_percent
                ),
            );
        }
        if s.min == 0 {
            self.error(
                MAIN,
                at("planner.service_level.min"),
                "must be greater than zero",
            );
        }
        let bounds_ok = ["min", "max"]
            .iter()
            .all(|k| !self.touched(MAIN, &at(&format!("planner.service_level.{k}"))));
        if bounds_ok && s.min > s.max {
            self.error(
                MAIN,
                at("planner.service_level.max"),
                "must not be below planner.service_level.min",
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // [billing]

    fn contract_fee(
        &mut self,
        doc: usize,
        loc: impl Fn(&str) -> Loc,
        e: &ContractFeeEntry,
    ) -> Option<ContractFee> {
        match (e.fixed, e.metered, e.unit) {
            (Some(f), None, None) => Some(ContractFee::Fixed(f)),
            (None, Some(amount), Some(unit)) => Some(ContractFee::Metered { amount, unit }),
            (None, Some(_), None) => {
                self.error(doc, loc("unit"), "a metered fee needs a unit: \"minute\", \"hour\", \"megabyte\" or \"gigabyte\"");
                None
            }
            (Some(_), Some(_), _) => {
                self.error(doc, loc("metered"), "set either fixed or metered, not both");
                None
            }
            (Some(_), None, Some(_)) => {
                self.error(doc, loc("unit"), "unit applies to a metered fee only");
                None
            }
            (None, None, Some(_)) => {
                self.error(doc, loc("unit"), "unit without metered");
                None
            }
            (None, None, None) => Some(ContractFee::Fixed(0)),
        }
    }

    fn billing(&mut self, b: BillingSection) -> BillingConfig {
        if b.currency.len() != 3 || !b.currency.bytes().all(|c| c.is_ascii_uppercase()) {
            self.error(
                MAIN,
                at("billing.currency"),
                format!(
                    "expected an ISO 4217 code such as \"EUR\", got {:?}",
                    b.currency
                ),
            );
        }
        let period_offset_seconds = match parse_offset(&b.period_offset) {
            Some(s) => s,
            None => {
                self.error(
                    MAIN,
                    at("billing.period_offset"),
                    format!(
                        "expected a UTC offset such as \"+00:00\" or \"-05:00\", got {:?}",
                        b.period_offset
                    ),
                );
                0
            }
        };
        let t = &b.tariff;
        let supplementary_fee = self
            .contract_fee(
                MAIN,
                |k| at(&format!("billing.tariff.supplementary_fee.{k}")),
                &t.supplementary_fee,
            )
            .unwrap_or(ContractFee::Fixed(0));
        let tariff = Tariff {
            tunnel_hour: t.tunnel_hour,
            line_month: t.line_month,
            consolidation_fee: ConsolidationFee {
                per: t.consolidation_fee.per,
                amount: t.consolidation_fee.amount,
            },
            supplementary_fee,
        };

        self.unique(
            "plan name",
            b.plans
                .iter()
                .map(|p| (MAIN, inside(&p.span(), "name"), p.get_ref().name.as_str())),
        );
        let mut plans = Vec::new();
        for p in &b.plans {
            let span = p.span();
            let e = p.get_ref();
            self.name(MAIN, inside(&span, "name"), &e.name);
            plans.push(Plan {
                id: PlanId(plans.len() as u32),
                name: e.name.as_str().into(),
                monthly: e.monthly,
                time: e.time.as_ref().map(|t| TimeRate {
                    amount: t.amount,
                    per: t.per,
                }),
                volume: e.volume.as_ref().map(|v| VolumeRate {
                    amount: v.amount,
                    per: v.per,
                }),
            });
        }

        self.unique(
            "account",
            b.accounts.iter().map(|a| {
                (
                    MAIN,
                    inside(&a.span(), "account"),
                    a.get_ref().account.as_str(),
                )
            }),
        );
        let mut accounts = Vec::new();
        for a in &b.accounts {
            let span = a.span();
            let e = a.get_ref();
            self.name(MAIN, inside(&span, "account"), &e.account);
            let fee = e.supplementary_fee.as_ref().and_then(|f| {
                self.contract_fee(
                    MAIN,
                    |k| inside(&span, &format!("supplementary_fee.{k}")),
                    f,
                )
            });
            accounts.push(Account {
                account: e.account.as_str().into(),
                display_name: e.display_name.clone(),
                supplementary_fee: fee,
            });
        }

        let l = &b.ledger;
        self.positive(
            MAIN,
            at("billing.ledger.commit_interval"),
            l.commit_interval,
        );
        self.positive(
            MAIN,
            at("billing.ledger.rotate_interval"),
            l.rotate_interval,
        );
        self.positive(
            MAIN,
            at("billing.ledger.interim_interval"),
            l.interim_interval,
        );
        if l.rotate_size < 64 << 10 {
            self.error(
                MAIN,
                at("billing.ledger.rotate_size"),
                format!("must be at least 64KiB, got {} bytes", l.rotate_size),
            );
        }
        if l.directory.as_os_str().is_empty() {
            self.error(MAIN, at("billing.ledger.directory"), "must not be empty");
        }

        BillingConfig {
            currency: b.currency,
            minor_digits: b.minor_digits,
            period_offset_seconds,
            tariff,
            plans,
            accounts,
            ledger: b.ledger,
        }
    }

    // -----------------------------------------------------------------------------------------
    // [disconnect]

    fn disconnect(&mut self, d: DisconnectSection) -> DisconnectConfig {
        if d.sampling_interval < Duration::from_millis(10)
            || d.sampling_interval > Duration::from_secs(60)
        {
            self.error(
                MAIN,
                at("disconnect.sampling_interval"),
                format!(
                    "out of range: expected 10ms to 60s, got {}",
                    show_duration(d.sampling_interval)
                ),
            );
        }

        self.unique(
            "service name",
            d.services
                .iter()
                .map(|s| (MAIN, inside(&s.span(), "name"), s.get_ref().name.as_str())),
        );
        let mut services: Vec<AppService> = Vec::new();
        let mut service_spans = Vec::new();
        if d.services.len() > crate::dataplane::classifier::MAX_SERVICES {
            self.error(
                MAIN,
                at("disconnect.services"),
                format!(
                    "{} services, at most {} are supported",
                    d.services.len(),
                    crate::dataplane::classifier::MAX_SERVICES
                ),
            );
        }
        for s in &d.services {
            let span = s.span();
            let e = s.get_ref();
            self.name(MAIN, inside(&span, "name"), &e.name);
            if e.address.0.addr().is_ipv6() {
                self.error(
                    MAIN,
                    inside(&span, "address"),
                    "must be an IPv4 address or network: the data plane classifies IPv4",
                );
            }
            self.positive(
                MAIN,
                inside(&span, "server_idle_timeout"),
                e.server_idle_timeout,
            );
            let svc = AppService {
                id: ServiceId(services.len() as u32),
                name: e.name.as_str().into(),
                network: e.address.0,
                protocol: e.protocol,
                ports: e.port,
                server_idle_timeout: e.server_idle_timeout,
            };
            // Overlapping services would make a packet belong to two services; the classifier
            // needs one answer.
            if let Some((j, other)) = services.iter().enumerate().find(|(_, o)| {
                o.protocol == svc.protocol
                    && o.ports.overlaps(&svc.ports)
                    && (o.network.contains(&svc.network.network())
                        || svc.network.contains(&o.network.network()))
            }) {
                let first = self.where_is(MAIN, &inside(&service_spans[j], "address"));
                let msg = format!(
                    "service `{}` ({} {} port {}) overlaps service `{}` ({} {} port {}) defined at {first}",
                    svc.name,
                    svc.network,
                    proto(svc.protocol),
                    svc.ports,
                    other.name,
                    other.network,
                    proto(other.protocol),
                    other.ports
                );
                self.error(MAIN, inside(&span, "address"), msg);
            }
            services.push(svc);
            service_spans.push(span);
        }

        self.unique(
            "server list name",
            d.server_lists
                .iter()
                .map(|s| (MAIN, inside(&s.span(), "name"), s.get_ref().name.as_str())),
        );
        let mut server_lists = Vec::new();
        if d.server_lists.len() > crate::dataplane::classifier::MAX_SERVER_SETS {
            self.error(
                MAIN,
                at("disconnect.server_lists"),
                format!(
                    "{} server lists, at most {} are supported (one bit each in a session's counters)",
                    d.server_lists.len(),
                    crate::dataplane::classifier::MAX_SERVER_SETS
                ),
            );
        }
        for l in &d.server_lists {
            let span = l.span();
            let e = l.get_ref();
            self.name(MAIN, inside(&span, "name"), &e.name);
            for server in &e.servers {
                if server.get_ref().0.addr().is_ipv6() {
                    self.error(
                        MAIN,
                        Loc::Span(server.span()),
                        "must be an IPv4 address or network: the data plane classifies IPv4",
                    );
                }
            }
            if e.servers.is_empty() && !self.touched(MAIN, &inside(&span, "servers")) {
                self.error(MAIN, inside(&span, "servers"), "list at least one server");
            }
            server_lists.push(Arc::new(ServerList {
                name: e.name.as_str().into(),
                networks: e.servers.iter().map(|s| s.get_ref().0).collect(),
            }));
        }

        let mut partial = DisconnectConfig {
            sampling_interval: d.sampling_interval,
            services,
            server_lists,
            profiles: Vec::new(),
        };
        self.unique(
            "profile name",
            d.profiles
                .iter()
                .map(|p| (MAIN, inside(&p.span(), "name"), p.get_ref().name.as_str())),
        );
        let mut profiles = Vec::new();
        for p in d.profiles {
            let span = p.span();
            let e = p.into_inner();
            self.name(MAIN, inside(&span, "name"), &e.name);
            let name: Arc<str> = e.name.as_str().into();
            let mut c = self.conditions(MAIN, &span, "", &ConditionsEntry::from(e), &partial);
            self.one_server_list(MAIN, &span, "", &c);
            c.profile = Some(name);
            profiles.push(Arc::new(c));
        }
        partial.profiles = profiles;
        partial
    }

    /// Resolves and checks one set of conditions written at `prefix` inside the element at `span`.
    fn conditions(
        &mut self,
        doc: usize,
        span: &Range<usize>,
        prefix: &str,
        c: &ConditionsEntry,
        disc: &DisconnectConfig,
    ) -> DisconnectConditions {
        let key = |k: &str| -> Loc {
            if prefix.is_empty() {
                inside(span, k)
            } else {
                inside(span, &format!("{prefix}.{k}"))
            }
        };
        let mut out = DisconnectConditions::default();
        if let Some(t) = c.session_time {
            self.positive(doc, key("session_time"), t);
            out.session_time = Some(t);
        }
        if let Some(i) = &c.idle {
            self.positive(doc, key("idle.time"), i.time);
            if i.min_rate == Some(0) {
                self.error(
                    doc,
                    key("idle.min_rate"),
                    "must be greater than zero (omit it to count every packet)",
                );
            }
            let servers = i
                .servers
                .as_deref()
                .and_then(|n| self.server_list(doc, key("idle.servers"), n, disc));
            out.idle = Some(IdleCondition {
                time: i.time,
                direction: i.direction,
                servers,
                min_rate: i.min_rate,
            });
        }
        if let Some(v) = &c.volume {
            if !self.touched(doc, &key("volume"))
                && v.from_subscriber_bytes.is_none()
                && v.to_subscriber_bytes.is_none()
                && v.from_subscriber_packets.is_none()
                && v.to_subscriber_packets.is_none()
            {
                self.error(
                    doc,
                    key("volume"),
                    "set at least one of from_subscriber_bytes, to_subscriber_bytes, from_subscriber_packets, to_subscriber_packets",
                );
            }
            for (k, val) in [
                ("volume.from_subscriber_bytes", v.from_subscriber_bytes),
                ("volume.to_subscriber_bytes", v.to_subscriber_bytes),
            ] {
                if val == Some(0) {
                    self.error(doc, key(k), "must not be zero");
                }
            }
            let servers = v
                .servers
                .as_deref()
                .and_then(|n| self.server_list(doc, key("volume.servers"), n, disc));
            out.volume = Some(VolumeCondition {
                from_subscriber_bytes: v.from_subscriber_bytes,
                to_subscriber_bytes: v.to_subscriber_bytes,
                from_subscriber_packets: v.from_subscriber_packets,
                to_subscriber_packets: v.to_subscriber_packets,
                servers,
            });
        }
        if let Some(l) = &c.logins {
            if !self.touched(doc, &key("logins"))
                && l.per_access_point.is_none()
                && l.per_server.is_none()
                && l.per_subscriber.is_none()
            {
                self.error(
                    doc,
                    key("logins"),
                    "set at least one of per_access_point, per_server, per_subscriber",
                );
            }
            out.logins = Some(LoginCondition {
                per_access_point: l.per_access_point,
                per_server: l.per_server,
                per_subscriber: l.per_subscriber,
                victim: l.victim,
                policy: l.policy,
            });
        }
        if let Some(t) = &c.traffic {
            if self.positive(doc, key("traffic.window"), t.window)
                && t.window < disc.sampling_interval
            {
                self.error(
                    doc,
                    key("traffic.window"),
                    format!(
                        "shorter than disconnect.sampling_interval ({}): the rate cannot be measured",
                        show_duration(disc.sampling_interval)
                    ),
                );
            }
            out.traffic = Some(TrafficCondition {
                percent: t.percent,
                window: t.window,
            });
        }
        if let Some(a) = &c.app_timeout {
            self.positive(doc, key("app_timeout.guard"), a.guard);
            let mut ids = Vec::new();
            if a.services.is_empty() {
                if disc.services.is_empty() && !self.damaged("disconnect.services") {
                    self.error(
                        doc,
                        key("app_timeout"),
                        "needs [[disconnect.services]] to watch; none is defined",
                    );
                }
                ids.extend(disc.services.iter().map(|s| s.id));
            } else {
                for s in &a.services {
                    match disc.services.iter().find(|x| *x.name == **s.get_ref()) {
                        Some(x) => ids.push(x.id),
                        None => {
                            let known = disc.services.iter().map(|x| &*x.name).collect();
                            self.unknown(
                                doc,
                                Loc::Span(s.span()),
                                "service",
                                s.get_ref(),
                                "disconnect.services",
                                known,
                            );
                        }
                    }
                }
            }
            for id in &ids {
                let s = disc.service(*id);
                if !a.guard.is_zero() && a.guard >= s.server_idle_timeout {
                    let msg = format!(
                        "guard {} is not shorter than service `{}`'s server_idle_timeout {}",
                        show_duration(a.guard),
                        s.name,
                        show_duration(s.server_idle_timeout)
                    );
                    self.error(doc, key("app_timeout.guard"), msg);
                }
            }
            let mut set: Vec<u32> = ids.iter().map(|i| i.0).collect();
            set.sort_unstable();
            set.dedup();
            if !self.watch_sets.contains(&set) {
                if self.watch_sets.len() == crate::dataplane::classifier::MAX_WATCH_GROUPS {
                    self.error(
                        doc,
                        key("app_timeout.services"),
                        format!(
                            "more than {} distinct sets of watched services across profiles and \
                             subscribers; reuse a profile's set",
                            crate::dataplane::classifier::MAX_WATCH_GROUPS
                        ),
                    );
                } else {
                    self.watch_sets.insert(set);
                }
            }
            out.app_timeout = Some(AppTimeoutCondition {
                guard: a.guard,
                services: ids,
            });
        }
        out
    }

    fn server_list(
        &mut self,
        doc: usize,
        loc: Loc,
        name: &str,
        disc: &DisconnectConfig,
    ) -> Option<Arc<ServerList>> {
        let found = disc.server_list(name).cloned();
        if found.is_none() {
            let known = disc.server_lists.iter().map(|l| &*l.name).collect();
            self.unknown(
                doc,
                loc,
                "server list",
                name,
                "disconnect.server_lists",
                known,
            );
        }
        found
    }

    /// B and C may count only listed-server traffic, but a session keeps one set of
    /// listed-server counters: both must name the same list.
    fn one_server_list(
        &mut self,
        doc: usize,
        span: &Range<usize>,
        prefix: &str,
        c: &DisconnectConditions,
    ) {
        let idle = c.idle.as_ref().and_then(|i| i.servers.as_ref());
        let volume = c.volume.as_ref().and_then(|v| v.servers.as_ref());
        if let (Some(a), Some(b)) = (idle, volume)
            && a.name != b.name
        {
            let key = if prefix.is_empty() {
                "volume.servers".to_owned()
            } else {
                format!("{prefix}.volume.servers")
            };
            let loc = if self.docs[doc]
                .offset_of(&{
                    let mut p = self.docs[doc].path_of_span(span).unwrap_or_default();
                    p.extend(segs(&key));
                    p
                })
                .is_some()
            {
                inside(span, &key)
            } else {
                // Inherited from the profile: point at the subscriber entry.
                Loc::Span(span.clone())
            };
            self.error(
                doc,
                loc,
                format!(
                    "idle counts server list `{}` but volume counts `{}`: a session counts one \
                     list's traffic, so both must name the same list",
                    a.name, b.name
                ),
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // [lns]

    fn allowed_peers(
        &mut self,
        what: &str,
        list: &[Spanned<AllowedPeerEntry>],
    ) -> Vec<AllowedPeer> {
        self.unique(
            what,
            list.iter()
                .map(|p| (MAIN, inside(&p.span(), "name"), p.get_ref().name.as_str())),
        );
        let mut out: Vec<AllowedPeer> = Vec::new();
        let mut spans: Vec<Range<usize>> = Vec::new();
        for p in list {
            let span = p.span();
            let e = p.get_ref();
            self.name(MAIN, inside(&span, "name"), &e.name);
            if let Some(j) = out.iter().position(|o| o.network == e.address.0) {
                let first = self.where_is(MAIN, &inside(&spans[j], "address"));
                self.error(
                    MAIN,
                    inside(&span, "address"),
                    format!(
                        "network {} is already given to peer `{}` at {first}",
                        e.address.0, out[j].name
                    ),
                );
            }
            if e.secret.as_deref() == Some("") {
                self.error(
                    MAIN,
                    inside(&span, "secret"),
                    "empty secret; omit the key for no tunnel authentication",
                );
            }
            if e.secret.is_none() && !e.address.0.addr().is_loopback() {
                self.warn(
                    MAIN,
                    inside(&span, "address"),
                    format!(
                        "peer `{}` has no secret: any host in {} can open tunnels without authentication",
                        e.name, e.address.0
                    ),
                );
            }
            if e.hostname.as_deref() == Some("") {
                self.error(MAIN, inside(&span, "hostname"), "must not be empty");
            }
            out.push(AllowedPeer {
                name: e.name.as_str().into(),
                network: e.address.0,
                secret: e
                    .secret
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(SecretBytes::new),
                hostname: e.hostname.clone(),
                max_tunnels: e.max_tunnels,
            });
            spans.push(span);
        }
        out
    }

    fn listen(&mut self, key: &str, list: &[Spanned<super::units::Endpoint>]) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for l in list {
            let a = l.get_ref().0;
            let loc = span_or(l, key);
            if a.port() == 0 {
                self.error(MAIN, loc, "port 0 is not a listening port");
            } else if out.iter().any(|o| sockets_conflict(*o, a)) {
                self.error(
                    MAIN,
                    loc,
                    format!("{a} conflicts with an earlier entry of {key}"),
                );
            } else {
                out.push(a);
            }
        }
        out
    }

    fn lns(&mut self, s: LnsSection) -> LnsConfig {
        if s.enabled && s.listen.is_empty() && !self.touched(MAIN, &at("lns.listen")) {
            self.error(
                MAIN,
                at("lns.listen"),
                "the LNS needs at least one listen address",
            );
        }
        let listen = self.listen("lns.listen", &s.listen);
        let peers = self.allowed_peers("LNS peer name", &s.peers);
        if s.enabled && s.peers.is_empty() && !self.damaged("lns.peers") {
            self.warn(
                MAIN,
                at("lns"),
                "no [[lns.peers]]: every tunnel will be refused",
            );
        }
        if s.max_sessions_per_tunnel > s.max_sessions
            && !self.touched(MAIN, &at("lns.max_sessions_per_tunnel"))
            && !self.touched(MAIN, &at("lns.max_sessions"))
        {
            self.error(
                MAIN,
                at("lns.max_sessions_per_tunnel"),
                format!("larger than lns.max_sessions ({})", s.max_sessions),
            );
        }

        let mut dns = Vec::new();
        if s.dns.len() > 2 {
            self.error(
                MAIN,
                at("lns.dns"),
                format!(
                    "IPCP carries at most two DNS servers (RFC 1877), got {}",
                    s.dns.len()
                ),
            );
        }
        for d in &s.dns {
            match d.get_ref().trim().parse::<Ipv4Addr>() {
                Ok(a) => dns.push(a),
                Err(_) => self.error(
                    MAIN,
                    Loc::Span(d.span()),
                    format!("invalid IPv4 address {:?}", d.get_ref()),
                ),
            }
        }
        self.interface_name(MAIN, at("lns.tun.name"), &s.tun.name);

        // Pools.
        self.unique(
            "pool name",
            s.pools
                .iter()
                .map(|p| (MAIN, inside(&p.span(), "name"), p.get_ref().name.as_str())),
        );
        let mut pools: Vec<Pool> = Vec::new();
        let mut realm_pools: HashMap<String, PoolId> = HashMap::new();
        let mut realm_locs: HashMap<String, Loc> = HashMap::new();
        let mut default_loc: Option<(Loc, Arc<str>)> = None;
        for p in &s.pools {
            let span = p.span();
            let e = p.get_ref();
            self.name(MAIN, inside(&span, "name"), &e.name);
            let id = PoolId(pools.len() as u32);
            if e.ranges.is_empty() && !self.touched(MAIN, &inside(&span, "ranges")) {
                self.error(MAIN, inside(&span, "ranges"), "list at least one range");
            }
            // Ranges within one pool must not overlap each other.
            for (i, r) in e.ranges.iter().enumerate() {
                if let Some(j) = e.ranges[..i]
                    .iter()
                    .position(|o| o.get_ref().overlaps(r.get_ref()))
                {
                    self.error(
                        MAIN,
                        Loc::Span(r.span()),
                        format!(
                            "range {} overlaps range {} of the same pool",
                            r.get_ref(),
                            e.ranges[j].get_ref()
                        ),
                    );
                }
            }
            for x in &e.exclude {
                if !e.ranges.iter().any(|r| r.get_ref().overlaps(x.get_ref())) {
                    self.warn(
                        MAIN,
                        Loc::Span(x.span()),
                        format!(
                            "exclusion {} lies outside the pool's ranges and has no effect",
                            x.get_ref()
                        ),
                    );
                }
            }
            let mut realms = Vec::new();
            for r in &e.realms {
                let Some(realm) = self.realm(MAIN, Loc::Span(r.span()), r.get_ref(), false) else {
                    continue;
                };
                if let Some(&other) = realm_pools.get(&realm) {
                    let first = self.where_is(MAIN, &realm_locs[&realm]);
                    let other_name = pools[other.index()].name.clone();
                    self.error(
                        MAIN,
                        Loc::Span(r.span()),
                        format!(
                            "realm `{realm}` is already served by pool `{other_name}` at {first}"
                        ),
                    );
                    continue;
                }
                realm_pools.insert(realm.clone(), id);
                realm_locs.insert(realm.clone(), Loc::Span(r.span()));
                realms.push(realm);
            }
            if e.default {
                if let Some((loc, name)) = &default_loc {
                    let first = self.where_is(MAIN, loc);
                    let msg = format!("pool `{name}` at {first} is already the default pool");
                    self.error(MAIN, inside(&span, "default"), msg);
                } else {
                    default_loc = Some((inside(&span, "default"), e.name.as_str().into()));
                }
            }
            let pool = Pool::new(
                id,
                e.name.as_str().into(),
                e.ranges.iter().map(|r| *r.get_ref()).collect(),
                e.exclude.iter().map(|r| *r.get_ref()).collect(),
                realms,
                e.default,
            );
            if !e.ranges.is_empty() && pool.size() == 0 {
                self.error(
                    MAIN,
                    inside(&span, "exclude"),
                    "the exclusions leave no address in the pool",
                );
            }
            // Pools must not overlap: an address would belong to two pools.
            for other in &pools {
                if let Some(addr) = first_common(pool.assignable(), other.assignable()) {
                    let loc = e
                        .ranges
                        .iter()
                        .find(|r| r.get_ref().contains(addr))
                        .map(|r| Loc::Span(r.span()))
                        .unwrap_or_else(|| inside(&span, "ranges"));
                    self.error(
                        MAIN,
                        loc,
                        format!(
                            "pool `{}` overlaps pool `{}` (both hold {addr})",
                            pool.name, other.name
                        ),
                    );
                }
            }
            pools.push(pool);
        }
        if let Some(p) = pools.iter().find(|p| p.contains(s.local_address)) {
            let msg = format!(
                "the LNS's own address {} lies inside pool `{}`; exclude it from the pool",
                s.local_address, p.name
            );
            self.error(MAIN, at("lns.local_address"), msg);
        }
        if s.enabled && s.pools.is_empty() && !self.damaged("lns.pools") {
            self.warn(
                MAIN,
                at("lns"),
                "no [[lns.pools]]: only subscribers with a static address can be served",
            );
        }

        LnsConfig {
            enabled: s.enabled,
            listen,
            peers,
            max_tunnels: s.max_tunnels,
            max_sessions_per_tunnel: s.max_sessions_per_tunnel as u16,
            max_sessions: s.max_sessions,
            local_address: s.local_address,
            dns,
            tun: s.tun,
            pools,
            resume: s.resume,
            realm_pools,
        }
    }

    fn interface_name(&mut self, doc: usize, loc: Loc, name: &str) -> bool {
        let ok = !name.is_empty()
            && name.len() <= 15
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
        if !ok {
            self.error(doc, loc, format!("invalid interface name {name:?}: 1 to 15 printable characters, no '/', ':' or spaces"));
        }
        ok
    }

    /// Normalises a realm to lowercase; `*` is accepted only where `wildcard` says so.
    fn realm(&mut self, doc: usize, loc: Loc, r: &str, wildcard: bool) -> Option<String> {
        let t = r.trim();
        if wildcard && t == "*" {
            return Some("*".into());
        }
        if t.is_empty()
            || t.contains('@')
            || t.chars().any(|c| c.is_whitespace() || c.is_control())
            || t == "*"
        {
            let hint = if wildcard {
                " (or \"*\" for the catch-all)"
            } else {
                ""
            };
            self.error(
                doc,
                loc,
                format!("invalid realm {r:?}: expected a domain such as \"example.net\"{hint}"),
            );
            return None;
        }
        Some(t.to_ascii_lowercase())
    }

    // -----------------------------------------------------------------------------------------
    // [lac]

    fn lac(&mut self, s: LacSection, lns: &LnsConfig, billing: &BillingConfig) -> LacConfig {
        self.positive(MAIN, at("lac.empty_tunnel_linger"), s.empty_tunnel_linger);
        self.positive(MAIN, at("lac.setup_timeout"), s.setup_timeout);
        if s.enabled && s.lines.is_empty() && !self.touched(MAIN, &at("lac.lines")) {
            self.error(MAIN, at("lac"), "the LAC needs at least one [[lac.lines]]");
        }
        if s.enabled && s.peers.is_empty() && !self.touched(MAIN, &at("lac.peers")) {
            self.error(MAIN, at("lac"), "the LAC needs at least one [[lac.peers]]");
        }

        self.unique(
            "line name",
            s.lines
                .iter()
                .map(|l| (MAIN, inside(&l.span(), "name"), l.get_ref().name.as_str())),
        );
        let mut lines: Vec<Line> = Vec::new();
        self.line_spans.clear();
        for l in &s.lines {
            let span = l.span();
            let e = l.get_ref();
            self.name(MAIN, inside(&span, "name"), &e.name);
            if e.capacity == 0 {
                self.error(MAIN, inside(&span, "capacity"), "must be greater than zero");
            }
            if let Some(dev) = &e.device {
                self.interface_name(MAIN, inside(&span, "device"), dev);
            }
            if let Some(acct) = &e.private_account {
                self.name(MAIN, inside(&span, "private_account"), acct);
            }
            if let Some(j) = lines
                .iter()
                .position(|o| o.bind == e.bind && o.device == e.device)
            {
                let first = self.where_is(MAIN, &inside(&self.line_spans[j], "bind"));
                let msg = format!(
                    "line `{}` uses the same bind address {} as line `{}` at {first}; tunnels on them could not be told apart",
                    e.name, e.bind, lines[j].name
                );
                self.error(MAIN, inside(&span, "bind"), msg);
            }
            lines.push(Line {
                id: LineId(lines.len() as u32),
                name: e.name.as_str().into(),
                bind: e.bind,
                device: e.device.clone(),
                capacity: e.capacity,
                cost_per_month: e.cost_per_month.unwrap_or(billing.tariff.line_month),
                private_account: e.private_account.as_deref().map(Arc::from),
            });
            self.line_spans.push(span);
        }

        let dialin_listen = if s.dialin.enabled {
            if s.dialin.listen.is_empty() && !self.touched(MAIN, &at("lac.dialin.listen")) {
                self.error(
                    MAIN,
                    at("lac.dialin.listen"),
                    "the dial-in front-end needs at least one listen address",
                );
            }
            self.listen("lac.dialin.listen", &s.dialin.listen)
        } else {
            s.dialin.listen.iter().map(|l| l.get_ref().0).collect()
        };
        if s.enabled && s.dialin.enabled && lns.enabled {
            for (l, a) in s.dialin.listen.iter().zip(&dialin_listen) {
                if let Some(o) = lns.listen.iter().find(|o| sockets_conflict(**o, *a)) {
                    self.error(
                        MAIN,
                        span_or(l, "lac.dialin.listen"),
                        format!("{a} conflicts with lns.listen {o}"),
                    );
                }
            }
        }

        self.unique(
            "LAC peer name",
            s.peers
                .iter()
                .map(|p| (MAIN, inside(&p.span(), "name"), p.get_ref().name.as_str())),
        );
        let mut peers = Vec::new();
        let mut any_catch_all = false;
        for p in &s.peers {
            let span = p.span();
            let e = p.get_ref();
            self.name(MAIN, inside(&span, "name"), &e.name);
            let addr = e.address.0;
            if addr.port() == 0 || addr.ip().is_unspecified() {
                self.error(
                    MAIN,
                    inside(&span, "address"),
                    format!("{addr} is not an address a tunnel can be sent to"),
                );
            }
            // Sending to our own dial-in listener would loop. A wildcard listener is ours for
            // loopback and for the lines' own addresses.
            let ours = |d: &SocketAddr| {
                d.port() == addr.port()
                    && (d.ip() == addr.ip()
                        || (d.ip().is_unspecified()
                            && (addr.ip().is_loopback()
                                || lines.iter().any(|l| l.bind == addr.ip()))))
            };
            if s.dialin.enabled && dialin_listen.iter().any(ours) {
                self.error(
                    MAIN,
                    inside(&span, "address"),
                    format!(
                        "{addr} is our own dial-in front-end: sessions would loop back into it"
                    ),
                );
            }
            if e.tunnel_capacity == 0 {
                self.error(
                    MAIN,
                    inside(&span, "tunnel_capacity"),
                    "must be greater than zero",
                );
            }
            if e.secret.as_deref() == Some("") {
                self.error(
                    MAIN,
                    inside(&span, "secret"),
                    "empty secret; omit the key for no tunnel authentication",
                );
            }
            let mut realms: Vec<RealmMatch> = Vec::new();
            if e.realms.is_empty() && !self.touched(MAIN, &inside(&span, "realms")) {
                self.error(
                    MAIN,
                    inside(&span, "realms"),
                    "list at least one realm, or \"*\"",
                );
            }
            for r in &e.realms {
                let Some(realm) = self.realm(MAIN, span_or(r, ""), r.get_ref(), true) else {
                    continue;
                };
                let m = if realm == "*" {
                    RealmMatch::Any
                } else {
                    RealmMatch::Exact(realm)
                };
                if realms.contains(&m) {
                    self.error(MAIN, span_or(r, ""), "listed twice");
                    continue;
                }
                any_catch_all |= m == RealmMatch::Any;
                realms.push(m);
            }
            let mut line_ids = Vec::new();
            for l in &e.lines {
                match lines.iter().find(|x| *x.name == **l.get_ref()) {
                    Some(x) if !line_ids.contains(&x.id) => line_ids.push(x.id),
                    Some(_) => self.error(MAIN, Loc::Span(l.span()), "listed twice"),
                    None => {
                        let known = lines.iter().map(|x| &*x.name).collect();
                        self.unknown(
                            MAIN,
                            Loc::Span(l.span()),
                            "line",
                            l.get_ref(),
                            "lac.lines",
                            known,
                        );
                    }
                }
            }
            if e.lines.is_empty() {
                line_ids = lines.iter().map(|l| l.id).collect();
            }
            peers.push(LacPeer {
                id: LacPeerId(peers.len() as u32),
                name: e.name.as_str().into(),
                address: addr,
                realms,
                preference: e.preference,
                weight: e.weight,
                secret: e
                    .secret
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(SecretBytes::new),
                tunnel_capacity: e.tunnel_capacity,
                max_sessions_per_tunnel: e.max_sessions_per_tunnel as u16,
                max_tunnels: e.max_tunnels,
                lines: line_ids,
                hold_down: e.hold_down.unwrap_or(s.hold_down),
            });
        }
        if s.enabled && !s.peers.is_empty() && !any_catch_all && !self.damaged("lac.peers") {
            self.warn(
                MAIN,
                at("lac.peers"),
                "no LAC peer serves the catch-all realm \"*\": logins without a realm, or with a realm no peer lists, will be refused",
            );
        }

        // PPPoE.
        let pp = &s.pppoe;
        let mut seen_if = HashSet::new();
        for i in &pp.interfaces {
            if self.interface_name(MAIN, Loc::Span(i.span()), i.get_ref())
                && !seen_if.insert(i.get_ref().clone())
            {
                self.error(MAIN, Loc::Span(i.span()), "listed twice");
            }
        }
        if pp.ac_name.is_empty() || pp.ac_name.len() > 255 {
            self.error(MAIN, at("lac.pppoe.ac_name"), "must be 1 to 255 bytes");
        }
        let mut seen_sn = HashSet::new();
        for n in &pp.service_names {
            if n.get_ref().is_empty() {
                self.error(
                    MAIN,
                    Loc::Span(n.span()),
                    "an empty Service-Name means \"any\"; leave service_names empty instead",
                );
            } else if !seen_sn.insert(n.get_ref().clone()) {
                self.error(MAIN, Loc::Span(n.span()), "listed twice");
            }
        }
        let cookie_secret = pp.cookie_secret.as_deref().and_then(|h| match hex::decode(h.trim()) {
            Ok(b) if b.len() == PPPOE_COOKIE_SECRET_LEN => Some(SecretBytes::new(b)),
            Ok(b) => {
                self.error(
                    MAIN,
                    at("lac.pppoe.cookie_secret"),
                    format!("{} bytes; the key is exactly {PPPOE_COOKIE_SECRET_LEN} bytes (64 hex digits)", b.len()),
                );
                None
            }
            Err(_) => {
                self.error(MAIN, at("lac.pppoe.cookie_secret"), "expected hex digits");
                None
            }
        });
        if pp.max_sessions_per_mac > pp.max_sessions_per_interface
            && !self.touched(MAIN, &at("lac.pppoe.max_sessions_per_mac"))
            && !self.touched(MAIN, &at("lac.pppoe.max_sessions_per_interface"))
        {
            self.error(
                MAIN,
                at("lac.pppoe.max_sessions_per_mac"),
                "larger than lac.pppoe.max_sessions_per_interface",
            );
        }
        let pppoe = PppoeConfig {
            interfaces: pp.interfaces.iter().map(|i| i.get_ref().clone()).collect(),
            ac_name: pp.ac_name.clone(),
            service_names: pp
                .service_names
                .iter()
                .map(|n| n.get_ref().clone())
                .collect(),
            max_sessions_per_mac: pp.max_sessions_per_mac,
            max_sessions_per_interface: pp.max_sessions_per_interface,
            cookie_secret,
            cookie_bucket: pp.cookie_bucket,
            unknown_session_padt_per_second: pp.unknown_session_padt_per_second,
        };
        self.positive(MAIN, at("lac.pppoe.cookie_bucket"), pp.cookie_bucket);

        let dialin_peers = self.allowed_peers("dial-in peer name", &s.dialin.peers);
        if s.enabled
            && s.dialin.enabled
            && s.dialin.peers.is_empty()
            && !self.damaged("lac.dialin.peers")
        {
            self.warn(
                MAIN,
                at("lac.dialin"),
                "no [[lac.dialin.peers]]: every dial-in tunnel will be refused",
            );
        }
        let dialin = DialinConfig {
            enabled: s.dialin.enabled,
            listen: dialin_listen,
            peers: dialin_peers,
            max_tunnels: s.dialin.max_tunnels,
            max_sessions_per_tunnel: s.dialin.max_sessions_per_tunnel as u16,
        };

        LacConfig {
            enabled: s.enabled,
            lines,
            peers,
            empty_tunnel_linger: s.empty_tunnel_linger,
            setup_timeout: s.setup_timeout,
            pppoe,
            dialin,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Subscribers

    fn secret(
        &mut self,
        doc: usize,
        span: &Range<usize>,
        clear: Option<&str>,
        hash: Option<&str>,
    ) -> Option<Secret> {
        match (clear, hash) {
            (Some(_), Some(_)) => {
                self.error(
                    doc,
                    inside(span, "secret_hash"),
                    "set either secret or secret_hash, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    doc,
                    inside(span, "secret"),
                    "missing: set secret (cleartext) or secret_hash",
                );
                None
            }
            (Some(c), None) => {
                if c.is_empty() {
                    self.error(doc, inside(span, "secret"), "must not be empty");
                    None
                } else if c.len() > 255 {
                    self.error(
                        doc,
                        inside(span, "secret"),
                        "longer than 255 bytes, which PAP cannot carry",
                    );
                    None
                } else {
                    Some(Secret::cleartext_from(c))
                }
            }
            (None, Some(h)) => match Secret::parse_hash(h) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.error(doc, inside(span, "secret_hash"), e);
                    None
                }
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn subscribers(
        &mut self,
        section: &SubscribersSection,
        entries: Vec<(usize, Range<usize>, SubscriberEntry)>,
        ranges: Vec<(usize, Range<usize>, SubscriberRangeEntry)>,
        ppp: &PppConfig,
        lns: &LnsConfig,
        lac: &LacConfig,
        disc: &DisconnectConfig,
        billing: &BillingConfig,
    ) -> SubscriberTable {
        let default_profile = section.default_disconnect_profile.as_deref().and_then(|n| {
            let found = disc.profile(n).cloned();
            if found.is_none() {
                let known = disc
                    .profiles
                    .iter()
                    .filter_map(|p| p.profile.as_deref())
                    .collect();
                self.unknown(
                    MAIN,
                    at("subscribers.default_disconnect_profile"),
                    "disconnect profile",
                    n,
                    "disconnect.profiles",
                    known,
                );
            }
            found
        });
        if section.file.as_deref().is_some_and(|f| f.trim().is_empty()) {
            self.error(
                MAIN,
                at("subscribers.file"),
                "empty file name; omit the key for no subscribers file",
            );
        }
        if section.default_service_level == 0 {
            self.error(
                MAIN,
                at("subscribers.default_service_level"),
                "must be greater than zero",
            );
        }
        let shared = Shared {
            section,
            lns,
            disc,
            billing,
            default_profile,
        };
        let mut hashed: Vec<(usize, Loc)> = Vec::new();

        self.unique(
            "subscriber name",
            entries
                .iter()
                .map(|(doc, span, e)| (*doc, inside(span, "name"), e.name.as_str())),
        );
        let mut statics: HashMap<Ipv4Addr, (usize, Loc, String)> = HashMap::new();
        let mut explicit = Vec::new();
        for (doc, span, e) in &entries {
            let (doc, span) = (*doc, span);
            if self.name(doc, inside(span, "name"), &e.name) && e.name.len() > 255 {
                self.error(
                    doc,
                    inside(span, "name"),
                    "longer than 255 bytes, which PAP and CHAP cannot carry",
                );
            }
            let secret = self.secret(doc, span, e.secret.as_deref(), e.secret_hash.as_deref());
            if secret.as_ref().is_some_and(Secret::is_hashed) {
                hashed.push((doc, inside(span, "secret_hash")));
                self.weak_hash(doc, span, secret.as_ref());
            }
            let realm = match &e.realm {
                Some(r) => self.realm(doc, inside(span, "realm"), r, false),
                None => realm_of(&e.name),
            };
            // A static address.
            let static_addr =
                e.address
                    .as_ref()
                    .and_then(|a| match a.get_ref().trim().parse::<Ipv4Addr>() {
                        Ok(ip) => Some(ip),
                        Err(_) => {
                            self.error(
                                doc,
                                Loc::Span(a.span()),
                                format!("invalid IPv4 address {:?}", a.get_ref()),
                            );
                            None
                        }
                    });
            if let Some(ip) = static_addr {
                let loc = inside(span, "address");
                if e.pool.is_some() {
                    self.error(
                        doc,
                        inside(span, "pool"),
                        "set either address (static) or pool, not both",
                    );
                }
                if lns.enabled {
                    if let Some(p) = lns.pool_of_address(ip) {
                        let msg = format!(
                            "static address {ip} lies inside pool `{}`; exclude it from the pool or pick another",
                            lns.pool(p).name
                        );
                        self.error(doc, loc.clone(), msg);
                    }
                    if ip == lns.local_address {
                        self.error(
                            doc,
                            loc.clone(),
                            format!(
                                "static address {ip} is the LNS's own address (lns.local_address)"
                            ),
                        );
                    }
                }
                if let Some((d0, l0, other)) = statics.get(&ip) {
                    let first = self.where_is(*d0, l0);
                    self.error(doc, loc, format!("static address {ip} is already given to subscriber `{other}` at {first}"));
                } else {
                    statics.insert(ip, (doc, loc, e.name.clone()));
                }
            }
            let settings = self.settings(
                doc,
                span,
                &shared,
                SettingsInput {
                    realm,
                    static_addr,
                    service_level: e.service_level,
                    pool: e.pool.as_deref(),
                    profile: e.disconnect_profile.as_deref(),
                    inline: e.disconnect.as_ref(),
                    order: e.disconnect_order,
                    contract: e.contract.as_ref(),
                },
            );
            if let Some(secret) = secret {
                explicit.push(Subscriber {
                    name: e.name.as_str().into(),
                    secret,
                    settings: Arc::new(settings),
                });
            }
        }

        let mut built_ranges: Vec<(usize, Range<usize>, SubscriberRange)> = Vec::new();
        for (doc, span, e) in &ranges {
            let (doc, span) = (*doc, span);
            let secret = self.secret(doc, span, e.secret.as_deref(), e.secret_hash.as_deref());
            if secret.as_ref().is_some_and(Secret::is_hashed) {
                hashed.push((doc, inside(span, "secret_hash")));
                self.weak_hash(doc, span, secret.as_ref());
            }
            if e.prefix.is_empty() && e.suffix.is_empty() {
                // Names would be bare numbers; allowed, but say so plainly if it is a slip.
                self.warn(
                    doc,
                    inside(span, "prefix"),
                    "empty prefix and suffix: the subscribers' names are bare numbers",
                );
            }
            if e.prefix
                .chars()
                .chain(e.suffix.chars())
                .any(|c| c.is_control())
            {
                self.error(
                    doc,
                    inside(span, "prefix"),
                    "must not contain control characters",
                );
            }
            let realm = match &e.realm {
                Some(r) => self.realm(doc, inside(span, "realm"), r, false),
                None => realm_of(&e.suffix),
            };
            let settings = self.settings(
                doc,
                span,
                &shared,
                SettingsInput {
                    realm,
                    static_addr: None,
                    service_level: e.service_level,
                    pool: e.pool.as_deref(),
                    profile: e.disconnect_profile.as_deref(),
                    inline: e.disconnect.as_ref(),
                    order: e.disconnect_order,
                    contract: e.contract.as_ref(),
                },
            );
            if let AddressAssignment::Pool(p) = settings.address {
                let pool = lns.pool(p);
                if pool.size() < e.count {
                    let msg = format!(
                        "{} subscribers draw from pool `{}`, which holds {} addresses: logins beyond that are refused",
                        e.count,
                        pool.name,
                        pool.size()
                    );
                    self.warn(doc, inside(span, "count"), msg);
                }
            }
            let Some(secret) = secret else { continue };
            let range = SubscriberRange {
                prefix: e.prefix.clone(),
                suffix: e.suffix.clone(),
                first: e.first,
                count: e.count,
                secret,
                settings: Arc::new(settings),
            };
            for (d0, s0, other) in &built_ranges {
                if let Some(clash) = range_clash(other, &range) {
                    let first = self.where_is(*d0, &inside(s0, "prefix"));
                    let msg = match clash {
                        RangeClash::Name(name) => format!(
                            "subscriber `{name}` would belong to this range and the range at {first}"
                        ),
                        RangeClash::Unchecked => format!(
                            "this range and the range at {first} have nesting prefixes and over a million names each, so their names cannot be checked for overlap; use prefixes that do not start with one another"
                        ),
                    };
                    self.error(doc, inside(span, "prefix"), msg);
                    break;
                }
            }
            built_ranges.push((doc, span.clone(), range));
        }
        for (doc, span, e) in &entries {
            if let Some((d0, s0, _)) = built_ranges
                .iter()
                .find(|(_, _, r)| r.number_of(&e.name).is_some())
            {
                let first = self.where_is(*d0, &inside(s0, "prefix"));
                self.error(
                    *doc,
                    inside(span, "name"),
                    format!(
                        "subscriber `{}` is also generated by the subscriber_range at {first}",
                        e.name
                    ),
                );
            }
        }

        // Hashed secrets against the authentication protocols (RFC 1994 §2: CHAP needs cleartext).
        if let Some((doc, loc)) = hashed.first().cloned() {
            if !ppp.auth.contains(&AuthMethod::Pap) {
                for (doc, loc) in hashed {
                    self.error(
                        doc,
                        loc,
                        "a hashed secret works with PAP only, but ppp.auth does not allow \"pap\"; store the cleartext in `secret` or add \"pap\" to ppp.auth",
                    );
                }
            } else if ppp.auth.first() == Some(&AuthMethod::ChapMd5) {
                let n = hashed.len();
                let entries = if n == 1 {
                    "1 subscriber entry has".to_owned()
                } else {
                    format!("{n} subscriber entries have")
                };
                self.warn(
                    doc,
                    loc,
                    format!(
                        "{entries} a hashed secret, but ppp.auth requests chap-md5 first: such subscribers can log in only if their client refuses CHAP and accepts PAP; put \"pap\" first in ppp.auth or store cleartext secrets"
                    ),
                );
            }
        }

        // Supplementary contracts need a private line for their account (claim 17).
        if lac.enabled {
            let mut reported = HashSet::new();
            for (doc, span, e) in &entries {
                let Some(c) = &e.contract else { continue };
                if !c.supplementary {
                    continue;
                }
                let account = c.account.clone().unwrap_or_else(|| e.name.clone());
                if lac.private_lines(&account).next().is_none() && reported.insert(account.clone())
                {
                    self.error(
                        *doc,
                        inside(span, "contract.supplementary"),
                        format!("account `{account}` has a supplementary contract but no [[lac.lines]] has private_account = \"{account}\""),
                    );
                }
            }
            for (doc, span, e) in &ranges {
                if e.contract.as_ref().is_some_and(|c| c.supplementary) {
                    let Some(account) = e.contract.as_ref().and_then(|c| c.account.clone()) else {
                        self.error(
                            *doc,
                            inside(span, "contract.account"),
                            "a range with a supplementary contract must name the shared paying account",
                        );
                        continue;
                    };
                    if lac.private_lines(&account).next().is_none()
                        && reported.insert(account.clone())
                    {
                        self.error(
                            *doc,
                            inside(span, "contract.supplementary"),
                            format!("account `{account}` has a supplementary contract but no [[lac.lines]] has private_account = \"{account}\""),
                        );
                    }
                }
            }
            for l in &lac.lines {
                let Some(acct) = &l.private_account else {
                    continue;
                };
                let used = explicit.iter().any(|s| {
                    s.settings.contract.supplementary
                        && s.settings.contract.account.as_deref().unwrap_or(&s.name) == &**acct
                }) || built_ranges.iter().any(|(_, _, r)| {
                    r.settings.contract.supplementary
                        && r.settings.contract.account.as_deref() == Some(&**acct)
                });
                if !used && !self.subscribers_incomplete {
                    self.warn(
                        MAIN,
                        inside(&self.line_spans[l.id.index()], "private_account"),
                        format!("line `{}` is private to account `{acct}`, but no subscriber of that account has a supplementary contract", l.name),
                    );
                }
            }
        }

        SubscriberTable::new(
            explicit,
            built_ranges.into_iter().map(|(_, _, r)| r).collect(),
        )
    }

    fn weak_hash(&mut self, doc: usize, span: &Range<usize>, secret: Option<&Secret>) {
        if let Some(Secret::Pbkdf2Sha256 { iterations, .. }) = secret
            && *iterations < PBKDF2_RECOMMENDED_ITERATIONS
        {
            self.warn(
                    doc,
                    inside(span, "secret_hash"),
                    format!("{iterations} PBKDF2 iterations is cheap to brute-force; use at least {PBKDF2_RECOMMENDED_ITERATIONS}"),
                );
        }
    }

    fn settings(
        &mut self,
        doc: usize,
        span: &Range<usize>,
        sh: &Shared<'_>,
        input: SettingsInput<'_>,
    ) -> SubscriberSettings {
        let service_level = input
            .service_level
            .unwrap_or(sh.section.default_service_level);
        if input.service_level == Some(0) {
            self.error(
                doc,
                inside(span, "service_level"),
                "must be greater than zero",
            );
        }

        let address = if let Some(ip) = input.static_addr {
            AddressAssignment::Static(ip)
        } else if !sh.lns.enabled {
            // Pools belong to the LNS; a LAC-only configuration may share a subscribers file
            // with an LNS and keeps pool names unresolved.
            AddressAssignment::Unassigned
        } else if let Some(name) = input.pool {
            match sh.lns.pool_by_name(name) {
                Some(p) => AddressAssignment::Pool(p.id),
                None => {
                    let known = sh.lns.pools.iter().map(|p| &*p.name).collect();
                    self.unknown(doc, inside(span, "pool"), "pool", name, "lns.pools", known);
                    AddressAssignment::Unassigned
                }
            }
        } else {
            sh.lns
                .pool_for_realm(input.realm.as_deref())
                .map_or(AddressAssignment::Unassigned, AddressAssignment::Pool)
        };

        let profile = match input.profile {
            Some(name) => {
                let found = sh.disc.profile(name).cloned();
                if found.is_none() {
                    let known = sh
                        .disc
                        .profiles
                        .iter()
                        .filter_map(|p| p.profile.as_deref())
                        .collect();
                    self.unknown(
                        doc,
                        inside(span, "disconnect_profile"),
                        "disconnect profile",
                        name,
                        "disconnect.profiles",
                        known,
                    );
                }
                found
            }
            None => sh.default_profile.clone(),
        };
        let disconnect = match input.inline {
            None => profile.unwrap_or_default(),
            Some(inline) => {
                let own = self.conditions(doc, span, "disconnect", inline, sh.disc);
                let base = profile.as_deref().cloned().unwrap_or_default();
                let merged = DisconnectConditions {
                    profile: base.profile,
                    session_time: own.session_time.or(base.session_time),
                    idle: own.idle.or(base.idle),
                    volume: own.volume.or(base.volume),
                    logins: own.logins.or(base.logins),
                    traffic: own.traffic.or(base.traffic),
                    app_timeout: own.app_timeout.or(base.app_timeout),
                };
                self.one_server_list(doc, span, "disconnect", &merged);
                Arc::new(merged)
            }
        };

        let c = input.contract.cloned().unwrap_or_default();
        if let Some(a) = &c.account {
            self.name(doc, inside(span, "contract.account"), a);
        }
        let plan = c
            .plan
            .as_deref()
            .and_then(|name| match sh.billing.plan_by_name(name) {
                Some(p) => Some(p.id),
                None => {
                    let known = sh.billing.plans.iter().map(|p| &*p.name).collect();
                    self.unknown(
                        doc,
                        inside(span, "contract.plan"),
                        "plan",
                        name,
                        "billing.plans",
                        known,
                    );
                    None
                }
            });
        SubscriberSettings {
            realm: input.realm,
            service_level,
            address,
            disconnect,
            disconnect_order: input.order.unwrap_or(sh.section.default_disconnect_order),
            contract: Contract {
                account: c.account.as_deref().map(Arc::from),
                consolidation: c.consolidation,
                supplementary: c.supplementary,
                plan,
            },
        }
    }
}

struct Shared<'s> {
    section: &'s SubscribersSection,
    lns: &'s LnsConfig,
    disc: &'s DisconnectConfig,
    billing: &'s BillingConfig,
    default_profile: Option<Arc<DisconnectConditions>>,
}

struct SettingsInput<'i> {
    realm: Option<String>,
    static_addr: Option<Ipv4Addr>,
    service_level: Option<u64>,
    pool: Option<&'i str>,
    profile: Option<&'i str>,
    inline: Option<&'i ConditionsEntry>,
    order: Option<u32>,
    contract: Option<&'i ContractEntry>,
}

/// Why two ranges cannot both stand.
enum RangeClash {
    /// This name belongs to both.
    Name(String),
    /// Their names nest (one prefix starts the other) and both are too large to enumerate.
    Unchecked,
}

/// Range overlap with the enumeration bounded: ranges whose names could collide only in odd ways
/// (one prefix extending another) are enumerated up to a million names; beyond that the pair is
/// refused rather than guessed about.
fn range_clash(a: &SubscriberRange, b: &SubscriberRange) -> Option<RangeClash> {
    const LIMIT: u64 = 1_000_000;
    let same_shape = a.prefix == b.prefix && a.suffix == b.suffix;
    let nested = (a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix))
        && (a.suffix.ends_with(&b.suffix) || b.suffix.ends_with(&a.suffix));
    if !same_shape && nested && a.count.min(b.count) > LIMIT {
        return Some(RangeClash::Unchecked);
    }
    ranges_overlap(a, b).map(RangeClash::Name)
}

fn first_common(a: &[Ipv4Range], b: &[Ipv4Range]) -> Option<Ipv4Addr> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].overlaps(&b[j]) {
            return Some(a[i].first.max(b[j].first));
        }
        if a[i].last < b[j].last {
            i += 1
        } else {
            j += 1
        }
    }
    None
}

fn sockets_conflict(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && (a.ip() == b.ip()
            || (a.is_ipv4() == b.is_ipv4() && (a.ip().is_unspecified() || b.ip().is_unspecified())))
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Parses `+HH:MM`, `-HH:MM` or `Z` into seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+09:00"), Some(9 * 3600));
        assert_eq!(parse_offset("-05:30"), Some(-(5 * 3600 + 1800)));
        assert_eq!(parse_offset("Z"), Some(0));
        assert_eq!(parse_offset("+24:00"), None);
        assert_eq!(parse_offset("0900"), None);
    }

    #[test]
    fn socket_conflicts() {
        let a: SocketAddr = "0.0.0.0:1701".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1701".parse().unwrap();
        let c: SocketAddr = "127.0.0.1:1702".parse().unwrap();
        let d: SocketAddr = "[::]:1701".parse().unwrap();
        assert!(sockets_conflict(a, b));
        assert!(!sockets_conflict(b, c));
        assert!(!sockets_conflict(d, b));
    }
}
