//! The sandbox: one engine per process, components compiled once, a fresh store per call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pluto_core::{ToolDef, ToolResult};
use pluto_paf::Policy;
use tokio::sync::Semaphore;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    Trap,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::ToolComponentPre;
use crate::bindings::exports::pluto::sandbox::tool::ContentPart;
use crate::host::Host;
use crate::limits::MemoryLimiter;
use crate::net::NetHooks;
use crate::wasi::EnvLookup;

/// How often the epoch advances; wall-time limits are counted in these ticks.
pub(crate) const TICK: Duration = Duration::from_millis(10);
/// The most data one call may pass from the guest to the host (strings, lists) in all.
const HOSTCALL_FUEL: usize = 16 << 20;
/// The most resources (open files, streams…) one call may hold at once.
const MAX_RESOURCES: usize = 10_000;
/// Extra time the outer timeout allows beyond the epoch deadline, for a blocked host call.
const GRACE: Duration = Duration::from_millis(500);

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where compiled components are cached (keyed by content hash and engine version);
    /// `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// The most instances alive at once; further calls wait for a slot. Long-running programs
    /// (wasm MCP servers) may hold at most half of them.
    pub max_instances: u32,
    /// The largest linear memory any guest may have (the pool reserves this much address
    /// space per memory); a policy's `limits.memory` caps each call below it.
    pub max_memory: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            cache_dir: None,
            max_instances: 64,
            max_memory: 1 << 30,
        }
    }
}

/// Why the sandbox or a component could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The engine could not be created.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
    /// A component could not be compiled or linked.
    #[error("cannot load component `{name}`: {message}")]
    Component {
        /// The component.
        name: String,
        /// Why.
        message: String,
    },
}

/// A compiled, linked component, ready to instantiate.
pub struct Component {
    name: String,
    pre: ToolComponentPre<Host>,
    definitions: Vec<ToolDef>,
    imports: Vec<String>,
}

impl Component {
    /// The component's name (its tools' group).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tools it offers, as it described them when it was loaded.
    pub fn definitions(&self) -> &[ToolDef] {
        &self.definitions
    }

    /// The interfaces it imports (`wasi:filesystem/types@0.2.x`, …), to compare with what a
    /// policy grants ([`ungranted`]).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

/// Stops the epoch ticker when the sandbox goes.
struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The process's sandbox: its engine, linker and instance slots.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<Host>,
    slots: Arc<Semaphore>,
    programs: Arc<Semaphore>,
    _ticker: Ticker,
}

impl Sandbox {
    /// Creates the engine (pooling allocator, async, epoch interruption) and starts its ticker.
    pub fn new(config: &SandboxConfig) -> Result<Sandbox, SandboxError> {
        let engine_error = |e: wasmtime::Error| SandboxError::Engine(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::new();
        let n = config.max_instances;
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(config.max_memory);
        let mut c = Config::new();
        c.wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(dir) = &config.cache_dir {
            let mut cache = CacheConfig::new();
            cache.with_directory(dir);
            c.cache(Some(Cache::new(cache).map_err(engine_error)?));
        }
        let engine = Engine::new(&c).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        crate::confine::add_to_linker(&mut linker).map_err(engine_error)?;

        let stop = Arc::new(AtomicBool::new(false));
        let (ticking, stopped) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("pluto-sandbox-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| SandboxError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Sandbox {
            engine,
            linker,
            slots: Arc::new(Semaphore::new(n as usize)),
            // Long-running programs may take half the slots; calls always have the rest.
            programs: Arc::new(Semaphore::new((n as usize / 2).max(1))),
            _ticker: Ticker(stop),
        })
    }

    /// The interfaces `compiled` imports, sorted.
    pub(crate) fn import_names(&self, compiled: &wasmtime::component::Component) -> Vec<String> {
        let mut names: Vec<String> = compiled
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        names.sort();
        names
    }

    /// Compiles (or loads from the cache) and links component `wasm`, and asks it once which
    /// tools it offers — with no folder, variable or network granted.
    pub async fn load(&self, name: &str, wasm: &[u8]) -> Result<Arc<Component>, SandboxError> {
        let err = |message: String| SandboxError::Component {
            name: name.to_owned(),
            message,
        };
        let compiled = wasmtime::component::Component::new(&self.engine, wasm)
            .map_err(|e| err(format!("{e:#}")))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&compiled)
            .map_err(|e| err(format!("{e:#}")))?;
        let pre = ToolComponentPre::new(instance_pre).map_err(|e| {
            err(format!(
                "it is not a tool component: it must export `pluto:sandbox/tool@0.1.0` (the `tool-component` world of wit/sandbox); a program with a `fn main` that speaks MCP is used as `mcp: NAME` with `wasm:` ({e:#})"
            ))
        })?;
        let mut component = Component {
            name: name.to_owned(),
            pre,
            definitions: Vec::new(),
            imports: self.import_names(&compiled),
        };

        let nothing = Policy::default();
        let (mut store, _stdout, stderr) = self
            .store(&nothing, Path::new("/nonexistent"), &|_| None)
            .map_err(err)?;
        let described = async {
            let instance = component.pre.instantiate_async(&mut store).await?;
            instance
                .pluto_sandbox_tool()
                .call_describe(&mut store)
                .await
        }
        .await
        .map_err(|e| {
            err(format!(
                "`describe` failed: {}{}",
                root_cause(&e),
                last_output(&stderr)
            ))
        })?;
        for d in described {
            check_tool_name(&d.name, &component.definitions).map_err(err)?;
            let schema: serde_json::Value = serde_json::from_str(&d.input_schema).map_err(|e| {
                err(format!(
                    "tool `{}` has an input schema that is not JSON: {e}",
                    d.name
                ))
            })?;
            if !schema.is_object() {
                return Err(err(format!(
                    "tool `{}` has an input schema that is not a JSON object",
                    d.name
                )));
            }
            component.definitions.push(ToolDef {
                name: d.name,
                description: d.description,
                input_schema: schema,
            });
        }
        Ok(Arc::new(component))
    }

    /// A fresh store for one call under `policy`, with its captured stdout and stderr.
    fn store(
        &self,
        policy: &Policy,
        workspace: &Path,
        env: &EnvLookup<'_>,
    ) -> Result<(Store<Host>, MemoryOutputPipe, MemoryOutputPipe), String> {
        let output = usize::try_from(policy.limits.output.0).unwrap_or(usize::MAX);
        let (stdout, stderr) = (MemoryOutputPipe::new(output), MemoryOutputPipe::new(output));
        let mut wasi = crate::wasi::context(policy, workspace, env)?;
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        let mut store = self.store_with(policy, workspace, wasi.build());
        let ticks = policy.limits.timeout.0.as_millis() / TICK.as_millis() + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        Ok((store, stdout, stderr))
    }

    /// A store with WASI context `wasi` and the limits of `policy` (memory, host-call fuel,
    /// resources); the caller sets how the epoch deadline acts.
    pub(crate) fn store_with(
        &self,
        policy: &Policy,
        workspace: &Path,
        wasi: wasmtime_wasi::WasiCtx,
    ) -> Store<Host> {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let memory =
            MemoryLimiter::new(usize::try_from(policy.limits.memory.0).unwrap_or(usize::MAX));
        let net = NetHooks {
            network: Arc::new(policy.network.clone()),
        };
        let mut store = Store::new(
            &self.engine,
            Host {
                wasi,
                http: WasiHttpCtx::new(),
                net,
                table,
                memory,
                allow_hard_links: policy.allow_hard_links,
                disk: crate::quota::DiskBudget::for_call(policy, workspace),
            },
        );
        store.limiter(|host| &mut host.memory);
        store.set_hostcall_fuel(HOSTCALL_FUEL);
        store
    }

    /// The engine, for the other parts of the sandbox.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker with WASI and `wasi:http`.
    pub(crate) fn linker(&self) -> &Linker<Host> {
        &self.linker
    }

    /// The instance slots: a running program holds one for its life.
    pub(crate) fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    /// The share of the slots long-running programs may hold.
    pub(crate) fn programs(&self) -> &Arc<Semaphore> {
        &self.programs
    }

    /// Runs `tool` of `component` with `arguments` under `policy`, in a fresh instance. Every
    /// failure — a refused grant, a trap, a limit — is a tool error naming the cause.
    pub async fn call(
        &self,
        component: &Component,
        policy: &Policy,
        workspace: &Path,
        env: &EnvLookup<'_>,
        tool: &str,
        arguments: &str,
    ) -> ToolResult {
        // A burst waits here for a slot instead of failing in the pool.
        let Ok(_slot) = self.slots.acquire().await else {
            return ToolResult::error("the sandbox is shutting down");
        };
        let timeout = policy.limits.timeout.0;
        let (mut store, _stdout, stderr) = match self.store(policy, workspace, env) {
            Ok(s) => s,
            Err(e) => return ToolResult::error(e),
        };
        let work = async {
            let instance = component.pre.instantiate_async(&mut store).await?;
            instance
                .pluto_sandbox_tool()
                .call_call(&mut store, tool, arguments)
                .await
        };
        let outcome = tokio::time::timeout(timeout + GRACE, work).await;
        let limits = &policy.limits;
        let result = match outcome {
            Err(_) => return ToolResult::error(format!("timeout after {:?}", timeout)),
            Ok(Err(e)) => {
                if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    return ToolResult::error(format!("timeout after {:?}", timeout));
                }
                if store.data().memory.exceeded {
                    return ToolResult::error(format!("memory limit {} exceeded", limits.memory));
                }
                tracing::info!(component = component.name(), tool, error = %format!("{e:#}"), "sandboxed call failed");
                return ToolResult::error(format!(
                    "the sandboxed tool failed: {}{}",
                    root_cause(&e),
                    last_output(&stderr)
                ));
            }
            Ok(Ok(result)) => result,
        };
        let mut content = String::new();
        for part in result.content {
            match part {
                ContentPart::Text(t) => content.push_str(&t),
                ContentPart::Image(i) => {
                    content.push_str(&format!("[image: {}, {} bytes]", i.mime_type, i.data.len()))
                }
            }
        }
        let cap = usize::try_from(limits.output.0).unwrap_or(usize::MAX);
        if content.len() > cap {
            let mut end = cap;
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            content.truncate(end);
            content.push_str(&format!("\n[output truncated at {}]", limits.output));
        }
        // The guest sees a refused write as an I/O error; say which limit it was.
        if let Some(budget) = store.data().disk.as_ref().filter(|b| b.refused()) {
            content.push_str(&format!(
                "\n[the sandbox policy's disk quota ({}) is reached: writes past it were refused]",
                budget.describe()
            ));
        }
        let mut details: serde_json::Value = serde_json::from_str(&result.details)
            .unwrap_or(serde_json::Value::String(result.details));
        if let Some(map) = details.as_object_mut() {
            map.insert("mode".into(), "sandbox".into());
        }
        ToolResult {
            content,
            details,
            is_error: result.is_error,
        }
    }
}

/// A tool name every model API and MCP client takes: 1 to 64 of `a-z A-Z 0-9 _ -`, unique
/// within the component.
fn check_tool_name(name: &str, seen: &[ToolDef]) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(format!(
            "it declares a tool named `{name}`: a tool name is 1 to 64 letters, digits, `_` or `-`"
        ));
    }
    if seen.iter().any(|d| d.name == name) {
        return Err(format!("it declares tool `{name}` twice"));
    }
    Ok(())
}

/// What the guest printed last (a panic message, typically), which says why it failed.
fn last_output(stderr: &MemoryOutputPipe) -> String {
    let printed = String::from_utf8_lossy(&stderr.contents()).into_owned();
    let tail: String = printed
        .trim()
        .chars()
        .rev()
        .take(500)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if tail.is_empty() {
        String::new()
    } else {
        format!("\nits last output: {tail}")
    }
}

fn root_cause(e: &wasmtime::Error) -> String {
    e.root_cause().to_string()
}

/// What a component imports that `policy` grants nothing for: one message per capability, naming
/// the import and the policy line that would grant it. A component must not be loaded when this
/// is not empty (it would only fail at its first call, with a vaguer error).
pub fn ungranted(imports: &[String], policy: &Policy) -> Vec<String> {
    let name = policy
        .name
        .as_ref()
        .map_or("(inline)".to_owned(), |n| n.as_str().to_owned());
    let mut out = Vec::new();
    let first = |prefix: &str| imports.iter().find(|i| i.starts_with(prefix));
    if let (true, Some(i)) = (policy.filesystem.is_empty(), first("wasi:filesystem/")) {
        out.push(format!(
            "it imports `{i}`, but policy `{name}` grants no folder: add `filesystem: [{{ path: \"{{workspace}}\", access: [read] }}]`"
        ));
    }
    if policy.network.allow.is_empty() {
        for prefix in ["wasi:http/outgoing-handler", "wasi:sockets/"] {
            if let Some(i) = first(prefix) {
                out.push(format!(
                    "it imports `{i}`, but policy `{name}` allows no network: add `network: {{ allow: [\"api.example.com\"] }}` naming the hosts it may reach"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ungranted_imports_name_the_import_and_the_line_to_add() {
        let nothing = Policy::default();
        let imports = vec![
            "wasi:cli/environment@0.2.6".to_owned(),
            "wasi:http/outgoing-handler@0.2.6".to_owned(),
            "wasi:sockets/tcp@0.2.6".to_owned(),
        ];
        let missing = ungranted(&imports, &nothing);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(
            missing[0].contains("`wasi:http/outgoing-handler@0.2.6`"),
            "{missing:?}"
        );
        assert!(missing[0].contains("add `network: { allow:"), "{missing:?}");
        assert!(missing[1].contains("wasi:sockets/tcp"), "{missing:?}");
        let pure = vec!["wasi:io/streams@0.2.6".to_owned()];
        assert!(ungranted(&pure, &nothing).is_empty());
        assert!(
            ungranted(
                &["wasi:filesystem/types@0.2.6".to_owned()],
                &Policy::builtin_default()
            )
            .is_empty()
        );
    }
}
