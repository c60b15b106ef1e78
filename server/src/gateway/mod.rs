//! The MCP gateway. So far: the registry of upstream MCP servers per tenant, and probing one
//! ("test connection"). The client pool,
//! breaker, catalog and MCP endpoint (issue #4) build on it.

mod probe;
mod registry;

pub use probe::probe;
pub use registry::{Registry, RegistryError};
