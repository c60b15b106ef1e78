//! The MCP gateway. So far: the registry of upstream MCP servers per tenant. The client pool,
//! breaker, catalog and MCP endpoint (issue #4) build on it.

mod registry;

pub use registry::{Registry, RegistryError};
