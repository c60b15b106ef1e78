//! What one endpoint offers one caller: the items of the tenant's enabled upstreams that their
//! tool filters offer and the policies let the caller use, in gateway names; through a virtual
//! server, only its selection, named its way. A call through a virtual server is first
//! resolved from the name the client used back to the gateway's.

use std::collections::HashMap;

use app::api::{CatalogEntry, CatalogList, CatalogTool, ToolList, UpstreamFault};
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};
use serde_json::Value;

use super::calls::{Caller, Gateway, GatewayError, subject};
use super::catalog::{self, qualified, resource_uri, split, split_resource};
use super::config::TenantConfig;
use super::views::{Item, View, template_matches};
use crate::access;

/// What the caller may use, as its endpoint names it, and the upstreams that did not answer.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    pub unavailable: Vec<UpstreamFault>,
    /// Offered name → gateway name, where a virtual server renamed an item.
    renamed: HashMap<(Item, String), String>,
}

impl Gateway {
    /// Everything the caller's endpoint offers it.
    pub async fn catalog(&self, caller: &Caller<'_>) -> Result<Catalog, GatewayError> {
        let config = self
            .configs()
            .get(caller.scope, caller.config_version)
            .await?;
        let all = self.everything(caller, &config).await;
        match caller.server {
            None => Ok(all),
            Some(name) => {
                let view = config
                    .view(name)
                    .ok_or_else(|| GatewayError::Unknown("virtual server", name.to_owned()))?;
                Ok(select(view, all))
            }
        }
    }

    /// Whether the tenant has an enabled virtual server `name` (at the configuration version
    /// read with the tenant).
    pub async fn serves(
        &self,
        scope: &crate::tenancy::TenantScope,
        config_version: i64,
        name: &str,
    ) -> Result<bool, GatewayError> {
        let config = self.configs().get(scope, Some(config_version)).await?;
        Ok(config.view(name).is_some())
    }

    /// The caller's tools in the REST API's form (the tenant's endpoint, gateway names).
    pub async fn tools(&self, caller: &Caller<'_>) -> Result<ToolList, GatewayError> {
        let catalog = self.catalog(caller).await?;
        let items = catalog
            .tools
            .into_iter()
            .map(|tool| CatalogTool {
                upstream: split(&tool.name).map_or("", |(u, _)| u).to_owned(),
                description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
                input_schema: Value::Object((*tool.input_schema).clone()),
                read_only: tool
                    .annotations
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false),
                name: tool.name.to_string(),
            })
            .collect();
        Ok(ToolList {
            items,
            unavailable: catalog.unavailable,
        })
    }

    /// Everything the caller may use, as REST catalog entries (the tenant's endpoint).
    pub async fn entries(&self, caller: &Caller<'_>) -> Result<CatalogList, GatewayError> {
        let catalog = self.catalog(caller).await?;
        let upstream_of = |name: &str| split(name).map_or("", |(u, _)| u).to_owned();
        let uri_upstream = |uri: &str| split_resource(uri).map_or("", |(u, _)| u).to_owned();
        let text = |d: Option<&str>| d.unwrap_or_default().to_owned();
        let entry =
            |kind: &str, name: String, upstream: String, description: String| CatalogEntry {
                kind: kind.to_owned(),
                name,
                upstream,
                description,
            };
        let mut items = Vec::new();
        for t in &catalog.tools {
            let description = text(t.description.as_deref());
            items.push(entry(
                "tool",
                t.name.to_string(),
                upstream_of(&t.name),
                description,
            ));
        }
        for p in &catalog.prompts {
            let description = text(p.description.as_deref());
            items.push(entry(
                "prompt",
                p.name.clone(),
                upstream_of(&p.name),
                description,
            ));
        }
        for r in &catalog.resources {
            let description = text(r.description.as_deref());
            items.push(entry(
                "resource",
                r.uri.clone(),
                uri_upstream(&r.uri),
                description,
            ));
        }
        for t in &catalog.templates {
            let (uri, description) = (t.uri_template.clone(), text(t.description.as_deref()));
            items.push(entry(
                "template",
                uri.clone(),
                uri_upstream(&uri),
                description,
            ));
        }
        Ok(CatalogList {
            items,
            unavailable: catalog.unavailable,
        })
    }

    /// The gateway name of what a client named `offered` through its endpoint. The tenant's
    /// endpoint uses gateway names already; a virtual server answers only for what it offers
    /// this caller (anything else is unknown, as if it did not exist).
    pub(super) async fn resolve(
        &self,
        caller: &Caller<'_>,
        item: Item,
        offered: &str,
    ) -> Result<String, GatewayError> {
        if caller.server.is_none() {
            return Ok(offered.to_owned());
        }
        let catalog = self.catalog(caller).await?;
        let unknown = || GatewayError::Unknown(item.noun(), offered.to_owned());
        if let Some(name) = catalog.renamed.get(&(item, offered.to_owned())) {
            return Ok(name.clone());
        }
        let listed = match item {
            Item::Tool => catalog.tools.iter().any(|t| t.name == offered),
            Item::Prompt => catalog.prompts.iter().any(|p| p.name == offered),
            Item::Resource => catalog.resources.iter().any(|r| r.uri == offered),
        };
        if listed {
            return Ok(offered.to_owned());
        }
        if item != Item::Resource {
            return Err(unknown());
        }
        // A URI from one of the offered templates: the upstreams whose templates match it.
        let mut owners: Vec<String> = catalog
            .templates
            .iter()
            .filter(|t| template_matches(&t.uri_template, offered))
            .filter_map(|t| {
                let gateway = catalog
                    .renamed
                    .get(&(Item::Resource, t.uri_template.clone()))
                    .unwrap_or(&t.uri_template);
                split_resource(gateway).map(|(upstream, _)| upstream.to_owned())
            })
            .collect();
        owners.dedup();
        match owners.as_slice() {
            [_] if split_resource(offered).is_some() => Ok(offered.to_owned()),
            [upstream] => Ok(resource_uri(upstream, offered)),
            _ => Err(unknown()),
        }
    }

    /// The tenant endpoint's catalog: every enabled upstream's filtered items the caller may
    /// use, in gateway names.
    async fn everything(&self, caller: &Caller<'_>, config: &TenantConfig) -> Catalog {
        let subject = subject(caller.principal);
        let visible = |name: &str| access::visible(&config.rules, &subject, name);
        let upstreams: Vec<_> = config.upstreams.iter().filter(|u| u.enabled).collect();
        // Every upstream at once: the slowest, not the sum, bounds the answer.
        let pool = self.pool();
        let listed = upstreams.iter().map(|u| pool.lists(caller.scope, u));
        let listed = futures::future::join_all(listed).await;
        let mut out = Catalog::default();
        for (upstream, lists) in upstreams.iter().zip(listed) {
            let lists = match lists {
                Ok(lists) => lists,
                Err(e) => {
                    out.unavailable.push(UpstreamFault {
                        upstream: upstream.name.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let name = upstream.name.as_str();
            let offered = lists
                .tools
                .iter()
                .filter(|t| config.offers(upstream, &t.name));
            let tools = offered.map(|t| catalog::gateway_tool(name, t));
            out.tools.extend(tools.filter(|t| visible(&t.name)));
            let prompts = lists
                .prompts
                .iter()
                .map(|p| catalog::gateway_prompt(name, p));
            out.prompts.extend(prompts.filter(|p| visible(&p.name)));
            let resources = lists.resources.iter();
            let resources = resources.filter(|r| visible(&qualified(name, &r.uri)));
            out.resources
                .extend(resources.map(|r| catalog::gateway_resource(name, r)));
            let templates = lists.templates.iter();
            let templates = templates.filter(|t| visible(&qualified(name, &t.uri_template)));
            out.templates
                .extend(templates.map(|t| catalog::gateway_template(name, t)));
        }
        out
    }
}

/// `all` narrowed to the view's selection and, for bare names, renamed.
fn select(view: &View, all: Catalog) -> Catalog {
    let policy_name = |uri: &str| {
        split_resource(uri).map_or_else(String::new, |(u, original)| qualified(u, original))
    };
    let mut out = Catalog {
        tools: all.tools,
        prompts: all.prompts,
        resources: all.resources,
        templates: all.templates,
        unavailable: all.unavailable,
        renamed: HashMap::new(),
    };
    out.tools.retain(|t| view.selects(Item::Tool, &t.name));
    out.prompts.retain(|p| view.selects(Item::Prompt, &p.name));
    out.resources
        .retain(|r| view.selects(Item::Resource, &policy_name(&r.uri)));
    out.templates
        .retain(|t| view.selects(Item::Resource, &policy_name(&t.uri_template)));
    if view.server.bare_names {
        let tools = bare(Item::Tool, out.tools.iter().map(|t| t.name.as_ref()));
        for tool in &mut out.tools {
            if let Some(own) = tools.get(tool.name.as_ref()) {
                out.renamed
                    .insert((Item::Tool, own.clone()), tool.name.to_string());
                tool.name = own.clone().into();
            }
        }
        let prompts = bare(Item::Prompt, out.prompts.iter().map(|p| p.name.as_str()));
        for prompt in &mut out.prompts {
            if let Some(own) = prompts.get(&prompt.name) {
                let gateway = std::mem::replace(&mut prompt.name, own.clone());
                out.renamed.insert((Item::Prompt, own.clone()), gateway);
            }
        }
        // Resources and templates share one space of URIs.
        let uris = out.resources.iter().map(|r| r.uri.as_str());
        let uris = uris.chain(out.templates.iter().map(|t| t.uri_template.as_str()));
        let uris = bare(Item::Resource, uris);
        for uri in out
            .resources
            .iter_mut()
            .map(|r| &mut r.uri)
            .chain(out.templates.iter_mut().map(|t| &mut t.uri_template))
        {
            if let Some(own) = uris.get(uri.as_str()) {
                let gateway = std::mem::replace(uri, own.clone());
                out.renamed.insert((Item::Resource, own.clone()), gateway);
            }
        }
    }
    out
}

/// Bare naming: gateway name → the upstream's own name, for each item whose own name no
/// other item of its kind shares; those that share one keep the gateway's, which cannot
/// collide, and no own name may take a gateway name kept that way.
fn bare<'a>(item: Item, gateway_names: impl Iterator<Item = &'a str>) -> HashMap<String, String> {
    let own = |name: &str| match item {
        Item::Resource => split_resource(name).map(|(_, o)| o.to_owned()),
        _ => split(name).map(|(_, o)| o.to_owned()),
    };
    let names: Vec<(&str, String)> = gateway_names
        .filter_map(|g| own(g).map(|o| (g, o)))
        .collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, o) in &names {
        *count.entry(o.as_str()).or_default() += 1;
    }
    let kept: std::collections::HashSet<&str> = names
        .iter()
        .filter(|(_, o)| count[o.as_str()] > 1)
        .map(|(g, _)| *g)
        .collect();
    names
        .iter()
        .filter(|(_, o)| count[o.as_str()] == 1 && !kept.contains(o.as_str()))
        .map(|(g, o)| ((*g).to_owned(), o.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_kept_unique() {
        let names = ["a.echo", "b.echo", "a.add", "c.a.echo", "d.x"];
        let bare = bare(Item::Tool, names.into_iter());
        // `echo` is shared: both keep their gateway names; `a.echo` (c's own) would shadow
        // the kept `a.echo`, so it keeps `c.a.echo`.
        assert_eq!(bare.get("a.add").map(String::as_str), Some("add"));
        assert_eq!(bare.get("d.x").map(String::as_str), Some("x"));
        assert!(!bare.contains_key("a.echo") && !bare.contains_key("b.echo"));
        assert!(!bare.contains_key("c.a.echo"));
    }

    #[test]
    fn bare_uris_are_the_upstreams_own() {
        let uris = [
            "switchyard://fx/test://static-text",
            "switchyard://fx/test://template/{id}/data",
        ];
        let bare = bare(Item::Resource, uris.into_iter());
        assert_eq!(bare[uris[0]], "test://static-text");
        assert_eq!(bare[uris[1]], "test://template/{id}/data");
    }
}
