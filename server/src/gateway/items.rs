//! The governed requests other than tool calls: resource reads and prompts (decided,
//! audited, through their upstream's rounds like a call), and what only looks — argument
//! completions and resource subscriptions (who may see it; not audited: nothing is used).

use std::time::Instant;

use rmcp::model::{GetPromptResult, ReadResourceResult, ResultType};
use serde_json::{Map, Value};

use super::arguments::digest;
use super::calls::{Caller, Gateway, GatewayError, Request, noted, subject, unknown};
use super::catalog::{self, qualified, split, split_resource};
use super::relay::Control;
use super::rounds::{Answer, Exchange};
use super::views::Item;
use crate::access;

impl Gateway {
    /// Reads `uri` (`switchyard://upstream/original`): decided as `upstream.original` (so
    /// `upstream.*` covers an upstream's tools, prompts and resources alike), audited.
    #[tracing::instrument(name = "gateway.resource_read", skip_all, fields(uri = offered))]
    pub async fn read_resource(
        &self,
        caller: &Caller<'_>,
        offered: &str,
        control: Control,
    ) -> Result<Answer<ReadResourceResult>, GatewayError> {
        let control = control.traced();
        let started = Instant::now();
        let uri = &self.resolve(caller, Item::Resource, offered).await?;
        let (upstream, original) =
            split_resource(uri).ok_or_else(|| unknown(Item::Resource, uri))?;
        let none = Map::new();
        let policy_name = qualified(upstream, original);
        let request = Request::new(caller, Item::Resource, uri, started);
        let governed = (self.govern(&request, &policy_name, upstream, &none, true)).await?;
        let (upstream, decision, mut detail) = governed;
        let keys = (&self.vault, &self.kv, &self.metrics);
        let exchange = Exchange::new(keys, caller, Item::Resource, uri, "", &upstream, &control);
        let send = |resend, control| {
            let (pool, scope, upstream) = (self.pool.clone(), *caller.scope, upstream.clone());
            let original = original.to_owned();
            async move {
                let read = pool.read_resource(&scope, &upstream, &original, resend, control);
                read.await
            }
        };
        let outcome = exchange.run(send).await;
        let ok = noted(&outcome, &mut detail, |_| false);
        self.settle(&request, &decision, detail, ok).await?;
        let mut result = match outcome? {
            Answer::Complete(result) => result,
            asked => return Ok(asked),
        };
        result.result_type.get_or_insert(ResultType::COMPLETE);
        // The contents name resources as the caller knows them: in gateway URIs, unless it
        // asked by the upstream's own URI (a virtual server with bare names).
        if offered == uri {
            for content in &mut result.contents {
                rename_content(content, &upstream.name);
            }
        }
        Ok(Answer::Complete(result))
    }

    /// Gets prompt `name` (`upstream.prompt`) with `arguments`: decided, audited.
    #[tracing::instrument(name = "gateway.prompt_get", skip_all, fields(prompt = name))]
    pub async fn get_prompt(
        &self,
        caller: &Caller<'_>,
        name: &str,
        arguments: Map<String, Value>,
        control: Control,
    ) -> Result<Answer<GetPromptResult>, GatewayError> {
        let control = control.traced();
        let started = Instant::now();
        let name = &self.resolve(caller, Item::Prompt, name).await?;
        let (upstream, prompt) = split(name).ok_or_else(|| unknown(Item::Prompt, name))?;
        let request = Request::new(caller, Item::Prompt, name, started);
        let governed = (self.govern(&request, name, upstream, &arguments, true)).await?;
        let (upstream, decision, mut detail) = governed;
        let keys = (&self.vault, &self.kv, &self.metrics);
        let argued = digest(&arguments);
        let exchange = Exchange::new(
            keys,
            caller,
            Item::Prompt,
            name,
            &argued,
            &upstream,
            &control,
        );
        let send = |resend, control| {
            let (pool, scope, upstream) = (self.pool.clone(), *caller.scope, upstream.clone());
            let (prompt, arguments) = (prompt.to_owned(), arguments.clone());
            async move {
                let got = pool.get_prompt(&scope, &upstream, &prompt, arguments, resend, control);
                got.await
            }
        };
        let outcome = exchange.run(send).await;
        let ok = noted(&outcome, &mut detail, |_| false);
        self.settle(&request, &decision, detail, ok).await?;
        match outcome? {
            Answer::Complete(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(Answer::Complete(result))
            }
            asked => Ok(asked),
        }
    }

    /// Completes an argument of a prompt or resource template the caller may see: the
    /// reference is resolved as the caller's endpoint names it, and sent to its upstream in
    /// the upstream's own names. Not audited: it reads suggestions, it uses nothing.
    pub async fn complete(
        &self,
        caller: &Caller<'_>,
        mut params: rmcp::model::CompleteRequestParams,
        control: Control,
    ) -> Result<rmcp::model::CompleteResult, GatewayError> {
        use rmcp::model::Reference;
        let (item, offered) = match &params.r#ref {
            Reference::Prompt(p) => (Item::Prompt, p.name.clone()),
            Reference::Resource(r) => (Item::Resource, r.uri.clone()),
            // A kind of reference this version does not know refers to nothing here.
            _ => return Err(GatewayError::Unknown("reference", String::new())),
        };
        let (upstream, own) = self.visible(caller, item, &offered).await?;
        match &mut params.r#ref {
            Reference::Prompt(p) => p.name = own,
            Reference::Resource(r) => r.uri = own,
            _ => {}
        }
        let result = self
            .pool
            .complete(caller.scope, &upstream, params, control)
            .await?;
        Ok(result)
    }

    /// Subscribes the caller's session to a resource it may read (`switchyard://…`, or its
    /// upstream's own URI on a virtual server with bare names); answers the upstream and
    /// the upstream's URI, which its `notifications/resources/updated` will name. Decided
    /// like a completion (who may see it), not audited: it reads nothing yet.
    pub async fn subscribe(
        &self,
        caller: &Caller<'_>,
        offered: &str,
        control: Control,
    ) -> Result<(uuid::Uuid, String), GatewayError> {
        let (upstream, original) = self.visible(caller, Item::Resource, offered).await?;
        self.pool
            .subscribe(caller.scope, &upstream, &original, control)
            .await?;
        Ok((upstream.id, original))
    }

    /// The enabled upstream of an item the caller may see, and the item's own name there;
    /// anything else is unknown. For what only looks (completions, subscriptions): no
    /// argument conditions, no audit.
    async fn visible(
        &self,
        caller: &Caller<'_>,
        item: Item,
        offered: &str,
    ) -> Result<(app::api::Upstream, String), GatewayError> {
        let name = self.resolve(caller, item, offered).await?;
        let (upstream, own) = match item {
            Item::Resource => split_resource(&name),
            _ => split(&name),
        }
        .ok_or_else(|| unknown(item, offered))?;
        let config = self
            .configs()
            .get(caller.scope, caller.config_version)
            .await?;
        let upstream = config
            .enabled(upstream)
            .cloned()
            .ok_or_else(|| unknown(item, offered))?;
        let subject = subject(caller.principal);
        if !access::visible(&config.rules, &subject, &qualified(&upstream.name, own)) {
            return Err(unknown(item, offered));
        }
        Ok((upstream, own.to_owned()))
    }
}

fn rename_content(content: &mut rmcp::model::ResourceContents, upstream: &str) {
    use rmcp::model::ResourceContents;
    let uri = match content {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => uri,
        // A kind of content this version does not know keeps its upstream URI.
        _ => return,
    };
    *uri = catalog::resource_uri(upstream, uri);
}
