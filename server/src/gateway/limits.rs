//! Resource limits for stdio upstreams (issue #4 point 2): the resident memory and the CPU
//! time of the child and every process it started (`npx` starts `node`, shells start more).
//!
//! A watchdog reads `/proc` once a second; a tree over a limit is killed with SIGKILL, which
//! the pool sees as a lost session (the breaker counts it; the next call starts a new child
//! after backoff). Reading `/proc` rather than setting `RLIMIT_AS` keeps runtimes that reserve
//! large address spaces (V8, the JVM) working, and covers grandchildren too. Off Linux there
//! is no `/proc`, and the watchdog ends at once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use app::api::Connection;

/// Linux reports CPU time in clock ticks of `sysconf(_SC_CLK_TCK)`, which is 100 on every
/// architecture Linux supports today (the kernel's USER_HZ).
const TICKS_PER_SECOND: u64 = 100;
const POLL: Duration = Duration::from_secs(1);

/// What a stdio upstream may use; `None`: unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: Option<u32>,
    pub cpu_seconds: Option<u32>,
}

impl Limits {
    /// The upstream's own limits, else these defaults (0 in the defaults: unlimited).
    pub fn for_connection(self, connection: &Connection) -> Limits {
        let nonzero = |v: Option<u32>| v.filter(|v| *v > 0);
        match connection {
            Connection::Stdio {
                memory_mb,
                cpu_seconds,
                ..
            } => Limits {
                memory_mb: nonzero(memory_mb.or(self.memory_mb)),
                cpu_seconds: nonzero(cpu_seconds.or(self.cpu_seconds)),
            },
            Connection::StreamableHttp { .. } | Connection::Builtin { .. } => Limits::default(),
        }
    }

    fn is_unlimited(&self) -> bool {
        self.memory_mb.is_none() && self.cpu_seconds.is_none()
    }
}

/// Resident memory and CPU time of one process.
#[derive(Clone, Copy, Default)]
struct Usage {
    rss_kib: u64,
    cpu_ticks: u64,
}

/// `(parent pid, usage)` from `/proc/<pid>/stat` and `status`.
async fn read(pid: u32) -> Option<(u32, Usage)> {
    let stat = tokio::fs::read_to_string(format!("/proc/{pid}/stat"))
        .await
        .ok()?;
    // The command name is in parentheses and may hold anything: fields follow the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state(3) ppid(4) … utime(14) stime(15), numbered from 1 as in proc(5).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = tokio::fs::read_to_string(format!("/proc/{pid}/status"))
        .await
        .ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some((
        ppid,
        Usage {
            rss_kib,
            cpu_ticks: utime + stime,
        },
    ))
}

/// `root` and its descendants, with their usage; empty once `root` has exited.
async fn tree(root: u32) -> Vec<(u32, Usage)> {
    let Ok(mut entries) = tokio::fs::read_dir("/proc").await else {
        return Vec::new();
    };
    let mut all: HashMap<u32, (u32, Usage)> = HashMap::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(found) = read(pid).await {
            all.insert(pid, found);
        }
    }
    let Some(&(_, usage)) = all.get(&root) else {
        return Vec::new();
    };
    let mut members = vec![(root, usage)];
    let mut known: HashSet<u32> = HashSet::from([root]);
    // Parents before children is not guaranteed: repeat until nothing is added.
    loop {
        let before = members.len();
        for (pid, (ppid, usage)) in &all {
            if known.contains(ppid) && known.insert(*pid) {
                members.push((*pid, *usage));
            }
        }
        if members.len() == before {
            return members;
        }
    }
}

/// Why a tree is over its limits, if it is.
fn over(limits: &Limits, members: &[(u32, Usage)]) -> Option<String> {
    let rss_mib = members.iter().map(|(_, u)| u.rss_kib).sum::<u64>() / 1024;
    let cpu_s = members.iter().map(|(_, u)| u.cpu_ticks).sum::<u64>() / TICKS_PER_SECOND;
    if let Some(limit) = limits.memory_mb
        && rss_mib > u64::from(limit)
    {
        return Some(format!(
            "memory limit: {rss_mib} MiB resident > {limit} MiB"
        ));
    }
    if let Some(limit) = limits.cpu_seconds
        && cpu_s > u64::from(limit)
    {
        return Some(format!("CPU time limit: {cpu_s} s > {limit} s"));
    }
    None
}

/// Watches the process tree of `pid` until it exits; kills it when over `limits`. Returns
/// the reason it was killed, if it was.
pub async fn watch(pid: u32, limits: Limits, upstream: String) -> Option<String> {
    if limits.is_unlimited() {
        return None;
    }
    loop {
        tokio::time::sleep(POLL).await;
        let members = tree(pid).await;
        if members.is_empty() {
            return None;
        }
        if let Some(reason) = over(&limits, &members) {
            tracing::warn!(%upstream, pid, %reason, "killing a stdio upstream over its limits");
            let pids: Vec<String> = members.iter().map(|(p, _)| p.to_string()).collect();
            let killed = tokio::process::Command::new("kill")
                .arg("-KILL")
                .args(&pids)
                .status()
                .await;
            if let Err(error) = killed {
                tracing::error!(%upstream, %error, "cannot run kill");
            }
            return Some(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn this_process_is_its_own_tree_with_its_usage() {
        let me = std::process::id();
        let members = tree(me).await;
        assert_eq!(members[0].0, me);
        assert!(members[0].1.rss_kib > 0);
        let limits = Limits {
            memory_mb: Some(1),
            cpu_seconds: None,
        };
        assert!(over(&limits, &members).unwrap().starts_with("memory limit"));
        assert!(over(&Limits::default(), &members).is_none());
    }

    #[test]
    fn an_upstream_overrides_the_defaults_and_zero_is_unlimited() {
        let defaults = Limits {
            memory_mb: Some(1024),
            cpu_seconds: Some(0),
        };
        let stdio = |memory_mb| Connection::Stdio {
            command: "x".into(),
            args: vec![],
            env: Default::default(),
            working_dir: None,
            memory_mb,
            cpu_seconds: None,
        };
        let own = defaults.for_connection(&stdio(Some(256)));
        assert_eq!((own.memory_mb, own.cpu_seconds), (Some(256), None));
        assert_eq!(defaults.for_connection(&stdio(None)).memory_mb, Some(1024));
        assert_eq!(defaults.for_connection(&stdio(Some(0))).memory_mb, None);
    }
}
