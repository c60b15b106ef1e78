//! The catalog: what the tenant's upstreams offer, under gateway names that cannot collide.
//! Tools and prompts become `upstream.name` (upstream names have no dot); resources and
//! resource templates become `switchyard://upstream/original-uri`, which is still a URI
//! (RFC 3986 §3.3 lets a path carry the original's `:` and `//`) and still a template.

use std::time::{Duration, Instant};

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

/// How long an upstream's lists are trusted without a `list_changed` notification.
pub const LISTS_TTL: Duration = Duration::from_secs(300);

const RESOURCE_SCHEME: &str = "switchyard://";

/// What one upstream offers, as it names things, fetched at `fetched`.
#[derive(Debug)]
pub struct Lists {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    pub fetched: Instant,
}

impl Lists {
    pub fn fresh(&self, now: Instant) -> bool {
        now.duration_since(self.fetched) < LISTS_TTL
    }
}

/// `upstream.name` for a tool or prompt.
pub fn qualified(upstream: &str, name: &str) -> String {
    format!("{upstream}.{name}")
}

/// Splits `upstream.name` at the first dot: upstream names have none, tool names may.
pub fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once('.')
        .filter(|(u, t)| !u.is_empty() && !t.is_empty())
}

/// The gateway URI of an upstream's resource (or template).
pub fn resource_uri(upstream: &str, uri: &str) -> String {
    format!("{RESOURCE_SCHEME}{upstream}/{uri}")
}

/// The upstream and its own URI behind a gateway resource URI.
pub fn split_resource(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix(RESOURCE_SCHEME)?
        .split_once('/')
        .filter(|(u, rest)| !u.is_empty() && !rest.is_empty())
}

/// The tool renamed into the gateway's namespace, everything else as the upstream said.
pub fn gateway_tool(upstream: &str, tool: &Tool) -> Tool {
    let mut tool = tool.clone();
    tool.name = qualified(upstream, &tool.name).into();
    tool
}

pub fn gateway_prompt(upstream: &str, prompt: &Prompt) -> Prompt {
    let mut prompt = prompt.clone();
    prompt.name = qualified(upstream, &prompt.name);
    prompt
}

pub fn gateway_resource(upstream: &str, resource: &Resource) -> Resource {
    let mut resource = resource.clone();
    resource.uri = resource_uri(upstream, &resource.uri);
    resource
}

pub fn gateway_template(upstream: &str, template: &ResourceTemplate) -> ResourceTemplate {
    let mut template = template.clone();
    template.uri_template = resource_uri(upstream, &template.uri_template);
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_first_dot() {
        assert_eq!(split("files.read"), Some(("files", "read")));
        assert_eq!(split("web.search.news"), Some(("web", "search.news")));
        assert_eq!(split("nodot"), None);
        assert_eq!(split(".x"), None);
        assert_eq!(split("x."), None);
    }

    #[test]
    fn resource_uris_round_trip_whatever_the_original() {
        for original in [
            "test://static/resource/1",
            "file:///etc/hosts",
            "svn+ssh://host/repo",
            "urn:isbn:0451450523",
            "test://dynamic/{id}",
        ] {
            let uri = resource_uri("every_thing-2", original);
            assert_eq!(split_resource(&uri), Some(("every_thing-2", original)));
        }
        assert_eq!(split_resource("test://static/resource/1"), None);
        assert_eq!(split_resource("switchyard://"), None);
        assert_eq!(split_resource("switchyard://x"), None);
        assert_eq!(split_resource("switchyard:///x"), None);
    }
}
