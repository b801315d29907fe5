//! Where a provider is and how to authenticate: from the manifest and the environment.

use pluto_core::ProviderError;
use pluto_paf::manifest::ProviderKind;

/// A provider's base URL and API key.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The base URL, without a trailing `/`.
    pub base_url: String,
    /// The API key, if one is needed.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

struct Conventions {
    name: &'static str,
    key_var: Option<&'static str>,
    url_var: &'static str,
    default_url: &'static str,
}

fn conventions(kind: ProviderKind) -> Conventions {
    match kind {
        ProviderKind::Openrouter => Conventions {
            name: "openrouter",
            key_var: Some("OPENROUTER_API_KEY"),
            url_var: "OPENROUTER_BASE_URL",
            default_url: "https://openrouter.ai/api/v1",
        },
        ProviderKind::Openai => Conventions {
            name: "openai",
            key_var: Some("OPENAI_API_KEY"),
            url_var: "OPENAI_BASE_URL",
            default_url: "https://api.openai.com/v1",
        },
        ProviderKind::Anthropic => Conventions {
            name: "anthropic",
            key_var: Some("ANTHROPIC_API_KEY"),
            url_var: "ANTHROPIC_BASE_URL",
            default_url: "https://api.anthropic.com",
        },
        ProviderKind::Ollama => Conventions {
            name: "ollama",
            key_var: None,
            url_var: "OLLAMA_HOST",
            default_url: "http://127.0.0.1:11434",
        },
    }
}

impl Endpoint {
    /// Resolves the endpoint of `kind`: `base_url` (the manifest's, already resolved) wins over
    /// the provider's URL variable, which wins over the default. The key comes from the
    /// provider's key variable; it is required when talking to the provider's own default
    /// endpoint (a compatible server elsewhere may need none).
    pub fn resolve(
        kind: ProviderKind,
        base_url: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Endpoint, ProviderError> {
        let c = conventions(kind);
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let url = base_url
            .map(str::to_owned)
            .or_else(|| nonempty(env(c.url_var)))
            .unwrap_or_else(|| c.default_url.to_owned());
        let mut url = url.trim().trim_end_matches('/').to_owned();
        if !url.contains("://") {
            // OLLAMA_HOST is often written as host:port.
            url = format!("http://{url}");
        }
        let api_key = c.key_var.and_then(|v| nonempty(env(v)));
        if let Some(var) = c.key_var
            && api_key.is_none()
            && url == c.default_url
        {
            return Err(ProviderError::MissingKey {
                provider: c.name,
                var,
            });
        }
        Ok(Endpoint {
            base_url: url,
            api_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_need_keys_and_name_the_variable() {
        let err = Endpoint::resolve(ProviderKind::Openrouter, None, env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OPENROUTER_API_KEY is not set: the agent's provider `openrouter` needs an API key (export OPENROUTER_API_KEY=...)"
        );
        let ok = Endpoint::resolve(
            ProviderKind::Anthropic,
            None,
            env(&[("ANTHROPIC_API_KEY", "k")]),
        )
        .unwrap();
        assert_eq!(ok.base_url, "https://api.anthropic.com");
        assert_eq!(
            format!("{ok:?}"),
            "Endpoint { base_url: \"https://api.anthropic.com\", api_key: Some(\"<set>\") }"
        );
    }

    #[test]
    fn overrides_win_in_order() {
        let vars = [("OPENAI_BASE_URL", "http://localhost:8000/v1/")];
        let e = Endpoint::resolve(ProviderKind::Openai, None, env(&vars)).unwrap();
        assert_eq!(
            (e.base_url.as_str(), e.api_key),
            ("http://localhost:8000/v1", None)
        );
        let e = Endpoint::resolve(ProviderKind::Openai, Some("http://m:1/v1"), env(&vars)).unwrap();
        assert_eq!(e.base_url, "http://m:1/v1");
        let e = Endpoint::resolve(
            ProviderKind::Ollama,
            None,
            env(&[("OLLAMA_HOST", "10.0.0.5:11434")]),
        )
        .unwrap();
        assert_eq!(e.base_url, "http://10.0.0.5:11434");
        let e = Endpoint::resolve(ProviderKind::Ollama, None, env(&[])).unwrap();
        assert_eq!(e.base_url, "http://127.0.0.1:11434");
    }
}
