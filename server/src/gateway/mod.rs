//! The MCP gateway: the registry of upstream MCP servers per tenant, probing one ("test
//! connection"), a session pool with a breaker per upstream, the catalog in gateway names,
//! the governed call path every request takes (decision, rate, forwarding, audit), and the
//! MCP endpoint that real clients connect to.

mod arguments;
pub mod asks;
mod breaker;
mod calls;
mod catalog;
mod config;
mod endpoint;
mod items;
mod limits;
pub mod oauth;
mod offer;
mod parked;
mod pool;
mod probe;
mod registry;
pub mod relay;
pub mod rounds;
mod traced_http;
mod upstream;
pub mod upstream_oauth;
mod views;

pub use calls::{Called, Caller, Gateway, GatewayError};
pub use endpoint::{
    Answers, Cancels, CatalogWatch, Events, McpCaller, Owner, PollAfter, Replica, Sessions,
    resumable_by, service as mcp_service,
};
pub use limits::Limits;
pub use offer::Catalog;
pub use pool::{CallError, Pool};
pub use probe::probe;
pub use registry::{Registry, RegistryError};
pub use relay::Control;
