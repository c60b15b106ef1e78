//! What every built-in server shares: the MCP server side (rmcp's `ServerHandler`) around a
//! [`ToolSet`], and the helpers its tools answer with.
//!
//! A tool's failure the caller can act on (a bad expression, an unknown unit) is a tool
//! result with `isError: true` and a message saying what to change, so a model can correct
//! itself (MCP 2025-11-25 server/tools, "Error Handling"); only an unknown tool is a
//! JSON-RPC error (-32602).

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One built-in MCP server's tools.
pub trait ToolSet: Send + Sync + 'static {
    /// The server's name as MCP clients see it (`switchyard-math`).
    fn name(&self) -> &'static str;
    /// What the server is for, for a model deciding whether to use it.
    fn instructions(&self) -> &'static str;
    fn tools(&self) -> Vec<Tool>;
    /// Runs tool `name`; `None` if there is no such tool.
    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> Option<BoxFuture<'a, CallToolResult>>;
}

/// A [`ToolSet`] served over MCP.
pub struct Host<T: ToolSet + ?Sized>(pub Arc<T>);

impl<T: ToolSet + ?Sized> Clone for Host<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: ToolSet + ?Sized> ServerHandler for Host<T> {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new(self.0.name(), env!("CARGO_PKG_VERSION"));
        info.instructions = Some(self.0.instructions().into());
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.0.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.0.tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        match self.0.call(&request.name, arguments, context) {
            Some(call) => Ok(CallToolResponse::Complete(call.await)),
            None => Err(McpError::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            )),
        }
    }
}

/// A tool's definition from JSON Schema literals.
pub fn tool(
    name: &'static str,
    title: &str,
    description: impl Into<Cow<'static, str>>,
    input: Value,
    output: Value,
    mut annotations: ToolAnnotations,
) -> Tool {
    annotations.title = Some(title.into());
    Tool::new(name, description, Arc::new(object(input)))
        .with_title(title)
        .with_raw_output_schema(Arc::new(object(output)))
        .with_annotations(annotations)
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// Annotations of a tool that only computes: reads nothing outside its arguments, changes
/// nothing, and gives the same answer every time.
pub fn pure() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

/// The tool's arguments as `A`, or a tool error naming the field that does not fit.
pub fn arguments<A: DeserializeOwned>(arguments: JsonObject) -> Result<A, CallToolResult> {
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            failure(format!("invalid arguments: {inner}"))
        } else {
            failure(format!("invalid argument `{path}`: {inner}"))
        }
    })
}

/// A successful answer: `structured` as `structuredContent`, and as text for clients that
/// show only content (MCP 2025-11-25 server/tools, "Structured Content": the text carries
/// the same JSON).
pub fn success(structured: &impl Serialize) -> CallToolResult {
    let value = serde_json::to_value(structured).unwrap_or(Value::Null);
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

/// A failure the caller can correct, in words.
pub fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Either answer, as one value.
pub fn answer<T: Serialize>(outcome: Result<T, String>) -> CallToolResult {
    match outcome {
        Ok(value) => success(&value),
        Err(message) => failure(message),
    }
}
