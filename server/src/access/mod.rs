//! Access control: permissions, the built-in roles, and (with the gateway) tool policies.
//! A principal's permissions are the union of its roles' permissions; an API key narrows
//! them to its scopes; a platform administrator holds every permission in every tenant.

mod permission;
mod policy;

pub use permission::{BUILTIN_ROLES, BuiltinRole, Permission, PermissionSet, builtin_role};
pub use policy::{
    Applies, Condition, Decision, Effect, Glob, Rule, Subject, decide, explain, visible,
};

use crate::store::{PolicyRow, RoleRow, Store, StoreError};
use crate::tenancy::TenantScope;

/// A stored rule as an evaluable one; `None` for a row this version cannot read (rows are
/// validated on write, so only a downgrade could produce one).
pub fn compile(row: &PolicyRow) -> Option<Rule> {
    let effect = match row.effect.as_str() {
        "allow" => Effect::Allow,
        "deny" => Effect::Deny,
        _ => return None,
    };
    let conditions = row
        .conditions
        .0
        .iter()
        .map(|c| serde_json::from_value::<Condition>(c.clone()).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Rule {
        id: row.id,
        name: row.name.clone(),
        effect,
        pattern: Glob::new(&row.tool_pattern).ok()?,
        role: row.role.clone(),
        conditions,
        priority: row.priority,
        confirm: row.confirm,
    })
}

/// The tenant's rules, ready for [`decide`].
pub async fn load_rules(store: &Store, scope: &TenantScope) -> Result<Vec<Rule>, StoreError> {
    let rows = store.list_policies(scope).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let rule = compile(row);
            if rule.is_none() {
                tracing::error!(policy = %row.id, "skipping an unreadable tool policy");
            }
            rule
        })
        .collect())
}

/// The union of what `roles` grant.
pub fn granted_by(roles: &[RoleRow]) -> PermissionSet {
    roles
        .iter()
        .fold(PermissionSet::EMPTY, |set, r| set.union(r.permission_set()))
}
