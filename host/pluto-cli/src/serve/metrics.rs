//! Prometheus metrics: requests by route and status, run durations, tool calls by tool and
//! outcome, provider latency and tokens, active streams and runs, cache sizes.

use std::sync::Arc;
use std::time::Instant;

use pluto_core::Event;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    agent: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    direction: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    runs: Histograms<RunLabels>,
    tools: Family<ToolLabels, Counter>,
    provider: Histogram,
    tokens: Family<TokenLabels, Counter>,
    /// SSE streams open now.
    pub streams: Gauge,
    /// Runs in progress now.
    pub active_runs: Gauge,
    /// Prepared agents in the cache.
    pub agent_cache: Gauge,
    /// Client connections open now.
    pub connections: Gauge,
    /// Connections turned away at the cap (`--max-connections`).
    pub connections_refused: Counter,
    /// Whether series carry agent and tool names (they may name tenants' own).
    names: bool,
}

impl Metrics {
    /// Registers every metric; `names`: label runs and tool calls with agent and tool names
    /// (otherwise `*`).
    pub fn new(names: bool) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("pluto");
        let requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let runs: Histograms<RunLabels> = Family::new_with_constructor(seconds);
        registry.register(
            "run_duration_seconds",
            "Run durations by agent and outcome",
            runs.clone(),
        );
        let tools = Family::<ToolLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Tool calls by tool and outcome",
            tools.clone(),
        );
        let provider = seconds();
        registry.register(
            "provider_turn_seconds",
            "Time from a turn's request to the provider's complete answer",
            provider.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "provider_tokens",
            "Tokens read and written by the providers",
            tokens.clone(),
        );
        let streams = Gauge::default();
        registry.register("active_streams", "SSE streams open", streams.clone());
        let active_runs = Gauge::default();
        registry.register("active_runs", "Runs in progress", active_runs.clone());
        let agent_cache = Gauge::default();
        registry.register(
            "agent_cache_entries",
            "Prepared agents in the cache",
            agent_cache.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Client connections open",
            connections.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections turned away at the connection cap (only health checks served)",
            connections_refused.clone(),
        );
        Arc::new(Metrics {
            registry,
            connections,
            connections_refused,
            requests,
            runs,
            tools,
            provider,
            tokens,
            streams,
            active_runs,
            agent_cache,
            names,
        })
    }

    /// An agent or tool name as a label value: itself, or `*` when names are left out.
    fn name(&self, name: &str) -> String {
        if self.names {
            name.to_owned()
        } else {
            "*".to_owned()
        }
    }

    /// Counts a request.
    pub fn request(&self, route: &str, method: &str, status: u16) {
        self.requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Follows one run's events into the metrics.
pub struct RunTimer {
    agent: String,
    started: Instant,
    turn: Instant,
}

impl RunTimer {
    /// A run of `agent`, starting now.
    pub fn new(agent: &str) -> Self {
        RunTimer {
            agent: agent.to_owned(),
            started: Instant::now(),
            turn: Instant::now(),
        }
    }

    /// Counts what `event` says.
    pub fn observe(&mut self, m: &Metrics, event: &Event) {
        let outcome = match event {
            Event::RunStarted { .. } => {
                m.active_runs.inc();
                return;
            }
            Event::TurnStarted { .. } => {
                self.turn = Instant::now();
                return;
            }
            Event::MessageCompleted { .. } => {
                m.provider.observe(self.turn.elapsed().as_secs_f64());
                return;
            }
            Event::ToolCompleted { name, is_error, .. } => {
                let outcome = if *is_error { "error" } else { "ok" };
                m.tools
                    .get_or_create(&ToolLabels {
                        tool: m.name(name),
                        outcome: outcome.into(),
                    })
                    .inc();
                return;
            }
            Event::TurnCompleted { usage, .. } => {
                for (direction, n) in [
                    ("input", usage.input_tokens),
                    ("output", usage.output_tokens),
                ] {
                    m.tokens
                        .get_or_create(&TokenLabels {
                            direction: direction.into(),
                        })
                        .inc_by(n);
                }
                return;
            }
            Event::RunCompleted { .. } => "completed",
            Event::RunFailed { .. } => "failed",
            Event::RunCancelled { .. } => "cancelled",
            Event::MessageDelta { .. } | Event::ToolStarted { .. } => return,
        };
        m.active_runs.dec();
        m.runs
            .get_or_create(&RunLabels {
                agent: m.name(&self.agent),
                outcome: outcome.into(),
            })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Decrements a gauge when dropped.
pub struct GaugeGuard(pub Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
