//! `pluto tool inspect PATH.wasm` and `pluto tool call PATH.wasm TOOL JSON`: a tool component's
//! tools and imports, and one call of it in the sandbox under a policy. `example:NAME` names a
//! built-in example component instead of a file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::compose::SandboxArgs;

/// `pluto tool …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List a component's tools (with their schemas) and the interfaces it imports.
    Inspect {
        /// The component: a `.wasm` file of the `tool-component` world (`wit/sandbox`), or
        /// `example:NAME` for a built-in example (`example:text`, `example:fetch`).
        path: String,
    },
    /// Run one call of a component's tool in the sandbox and print its content and details.
    Call {
        /// The component: a `.wasm` file or `example:NAME`.
        path: String,
        /// The tool.
        tool: String,
        /// The arguments, as JSON.
        #[arg(default_value = "{}")]
        arguments: String,
        /// The policy to run under (a name in --policies; default: `default`).
        #[arg(long, value_name = "NAME", default_value = "default")]
        policy: String,
        /// The folder `{workspace}` grants mean (default: the current folder).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
}

/// The component's bytes and its name (the file stem, or the example's name).
fn read(path: &str) -> anyhow::Result<(std::borrow::Cow<'static, [u8]>, String)> {
    if let Some(name) = path.strip_prefix("example:") {
        return Ok((crate::compose::example(name)?.into(), name.to_owned()));
    }
    let file = PathBuf::from(path);
    let wasm = std::fs::read(&file).with_context(|| format!("reading {path}"))?;
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component")
        .to_owned();
    Ok((wasm.into(), name))
}

/// Runs `pluto tool …`.
pub async fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Inspect { path } => {
            let (wasm, name) = read(path)?;
            let sandbox = crate::compose::process_sandbox()?;
            let component = sandbox
                .load(&name, &wasm)
                .await
                .with_context(|| format!("{path} is not a usable tool component"))?;
            println!("tools:");
            for d in component.definitions() {
                println!("  {name}__{}: {}", d.name, d.description);
                println!("    input: {}", d.input_schema);
            }
            println!("imports:");
            for import in component.imports() {
                println!("  {import}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Call {
            path,
            tool,
            arguments,
            policy: policy_name,
            workspace,
            sandbox: sandbox_args,
        } => {
            serde_json::from_str::<serde_json::Value>(arguments)
                .with_context(|| format!("the arguments `{arguments}` are not JSON"))?;
            let policies = sandbox_args.policy_set();
            let policy = policies
                .get(policy_name)
                .with_context(|| format!("no policy named `{policy_name}`"))?
                .clone();
            let workspace = match workspace {
                Some(dir) => dir.clone(),
                None => std::env::current_dir()?,
            };
            let (wasm, name) = read(path)?;
            let sandbox = crate::compose::process_sandbox()?;
            let component = sandbox
                .load(&name, &wasm)
                .await
                .with_context(|| format!("{path} is not a usable tool component"))?;
            let missing = pluto_sandbox::ungranted(component.imports(), &policy);
            if !missing.is_empty() {
                anyhow::bail!(
                    "{path} cannot run under policy `{policy_name}`: {}",
                    missing.join("; ")
                );
            }
            if !component.definitions().iter().any(|d| &d.name == tool) {
                let names: Vec<&str> = component
                    .definitions()
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect();
                anyhow::bail!(
                    "the component has no tool `{tool}`; its tools are: {}",
                    names.join(", ")
                );
            }
            let env = |k: &str| std::env::var(k).ok();
            let result = sandbox
                .call(&component, &policy, &workspace, &env, tool, arguments)
                .await;
            println!("{}", result.content);
            if !result.details.is_null() {
                eprintln!("details: {}", result.details);
            }
            Ok(if result.is_error {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
