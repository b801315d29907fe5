//! Tools that run in the sandbox: each tool of a component, called in a fresh instance under
//! the agent's sandbox policy.

use std::sync::Arc;

use async_trait::async_trait;
use pluto_core::{ToolContext, ToolDef, ToolResult};
use pluto_paf::Policy;
use pluto_sandbox::{Component, Sandbox};
use serde_json::Value;

use crate::toolbox::Tool;

/// How sandboxed calls read the host's environment (only variables the policy allows are asked).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// One tool of a sandboxed component.
pub struct SandboxedTool {
    sandbox: Arc<Sandbox>,
    component: Arc<Component>,
    definition: ToolDef,
    policy: Arc<Policy>,
    env: Env,
}

/// The tools of `component`, each run in `sandbox` under `policy`.
pub fn tools(
    sandbox: &Arc<Sandbox>,
    component: &Arc<Component>,
    policy: &Arc<Policy>,
    env: &Env,
) -> Vec<Arc<dyn Tool>> {
    component
        .definitions()
        .iter()
        .map(|definition| {
            Arc::new(SandboxedTool {
                sandbox: sandbox.clone(),
                component: component.clone(),
                definition: definition.clone(),
                policy: policy.clone(),
                env: env.clone(),
            }) as Arc<dyn Tool>
        })
        .collect()
}

#[async_trait]
impl Tool for SandboxedTool {
    fn definition(&self) -> ToolDef {
        self.definition.clone()
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        let env = &*self.env;
        self.sandbox
            .call(
                &self.component,
                &self.policy,
                &ctx.workspace,
                env,
                &self.definition.name,
                &args.to_string(),
            )
            .await
    }
}
