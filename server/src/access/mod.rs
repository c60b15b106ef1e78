//! Access control: permissions, the built-in roles, and (with the gateway) tool policies.
//! A principal's permissions are the union of its roles' permissions; an API key narrows
//! them to its scopes; a platform administrator holds every permission in every tenant.

mod permission;

pub use permission::{BUILTIN_ROLES, BuiltinRole, Permission, PermissionSet, builtin_role};
