//! The MCP gateway: the registry of upstream MCP servers per tenant, probing one ("test
//! connection"), a session pool with a breaker per upstream, and the call path every tool
//! call takes (catalog filtered by policy, decision, forwarding, audit). The MCP endpoint
//! comes next. The client pool,
//! breaker, catalog and MCP endpoint (issue #4) build on it.

mod breaker;
mod calls;
mod pool;
mod probe;
mod registry;

pub use calls::{Gateway, GatewayError};
pub use pool::{CallError, Pool};
pub use probe::probe;
pub use registry::{Registry, RegistryError};
