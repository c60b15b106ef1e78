//! Permissions on the tenant's resources, as `resource:action` strings, and the built-in
//! roles every tenant has.

use serde::{Deserialize, Serialize};

/// One thing a principal may do inside its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "tenant:read")]
    TenantRead,
    #[serde(rename = "tenant:write")]
    TenantWrite,
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "roles:read")]
    RolesRead,
    #[serde(rename = "roles:write")]
    RolesWrite,
    #[serde(rename = "upstreams:read")]
    UpstreamsRead,
    #[serde(rename = "upstreams:write")]
    UpstreamsWrite,
    #[serde(rename = "policies:read")]
    PoliciesRead,
    #[serde(rename = "policies:write")]
    PoliciesWrite,
    #[serde(rename = "workflows:read")]
    WorkflowsRead,
    #[serde(rename = "workflows:write")]
    WorkflowsWrite,
    #[serde(rename = "workflows:run")]
    WorkflowsRun,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "tools:call")]
    ToolsCall,
}

impl Permission {
    pub const ALL: [Permission; 15] = [
        Permission::TenantRead,
        Permission::TenantWrite,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::RolesRead,
        Permission::RolesWrite,
        Permission::UpstreamsRead,
        Permission::UpstreamsWrite,
        Permission::PoliciesRead,
        Permission::PoliciesWrite,
        Permission::WorkflowsRead,
        Permission::WorkflowsWrite,
        Permission::WorkflowsRun,
        Permission::AuditRead,
        Permission::ToolsCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::TenantRead => "tenant:read",
            Permission::TenantWrite => "tenant:write",
            Permission::UsersRead => "users:read",
            Permission::UsersWrite => "users:write",
            Permission::RolesRead => "roles:read",
            Permission::RolesWrite => "roles:write",
            Permission::UpstreamsRead => "upstreams:read",
            Permission::UpstreamsWrite => "upstreams:write",
            Permission::PoliciesRead => "policies:read",
            Permission::PoliciesWrite => "policies:write",
            Permission::WorkflowsRead => "workflows:read",
            Permission::WorkflowsWrite => "workflows:write",
            Permission::WorkflowsRun => "workflows:run",
            Permission::AuditRead => "audit:read",
            Permission::ToolsCall => "tools:call",
        }
    }

    pub fn parse(text: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == text)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of permissions as a bit set: union, intersection and subset tests are one
/// instruction each, which matters on every request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PermissionSet(u32);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub fn all() -> Self {
        Self::of(&Permission::ALL)
    }

    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |bits, p| bits | p.bit()))
    }

    /// Parses `resource:action` strings; unknown names are ignored (a role stored by a newer
    /// version keeps working on an older one) and reported by the caller's validation.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            names
                .into_iter()
                .filter_map(Permission::parse)
                .fold(0, |bits, p| bits | p.bit()),
        )
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_string()).collect()
    }
}

/// A role every tenant has; its permissions are defined here, not in the database, so an
/// upgrade can refine them.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinRole {
    pub name: &'static str,
    pub description: &'static str,
    pub permissions: &'static [Permission],
}

use Permission::*;

pub const BUILTIN_ROLES: [BuiltinRole; 4] = [
    BuiltinRole {
        name: "tenant_admin",
        description: "Everything within the tenant: users, roles, upstreams, policies, workflows, audit.",
        permissions: &Permission::ALL,
    },
    BuiltinRole {
        name: "operator",
        description: "Runs the gateway and workflows: upstreams, policies and workflows, reads users and audit.",
        permissions: &[
            TenantRead,
            UsersRead,
            RolesRead,
            UpstreamsRead,
            UpstreamsWrite,
            PoliciesRead,
            PoliciesWrite,
            WorkflowsRead,
            WorkflowsWrite,
            WorkflowsRun,
            AuditRead,
            ToolsCall,
        ],
    },
    BuiltinRole {
        name: "member",
        description: "Uses the tools and workflows the policies allow.",
        permissions: &[TenantRead, WorkflowsRead, WorkflowsRun, ToolsCall],
    },
    BuiltinRole {
        name: "viewer",
        description: "Reads the tenant's configuration; changes nothing and calls no tools.",
        permissions: &[
            TenantRead,
            UsersRead,
            RolesRead,
            UpstreamsRead,
            PoliciesRead,
            WorkflowsRead,
        ],
    },
];

pub fn builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_compose() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.as_str())
            );
        }
        let viewer = PermissionSet::of(builtin_role("viewer").unwrap().permissions);
        let admin = PermissionSet::of(builtin_role("tenant_admin").unwrap().permissions);
        assert!(viewer.is_subset_of(admin));
        assert!(!admin.is_subset_of(viewer));
        assert!(!viewer.contains(Permission::UsersWrite));
        assert_eq!(
            PermissionSet::parse(["users:read", "nonsense"]),
            PermissionSet::of(&[UsersRead])
        );
        assert_eq!(admin, PermissionSet::all());
        // The console's list is the same, in the same order.
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, app::api::PERMISSIONS);
    }
}
