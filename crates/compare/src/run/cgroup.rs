//! A CPU budget for the server compare starts (`--server-cpus N`): a cgroup of its own with a
//! CFS quota of N cores, and the throttling the kernel counted in it during each measurement.
//!
//! Linux offers two cgroup interfaces, and a machine may mount either or both:
//!
//! - v2, the unified hierarchy (a `cgroup2` mount): one tree for every controller. A group's
//!   `cpu.max` holds "QUOTA PERIOD" in µs; it exists only when the parent hands the cpu
//!   controller to its children (`cpu` in the parent's `cgroup.subtree_control`). A process's
//!   threads are all in one group, moved together through `cgroup.procs`. `cpu.stat` counts
//!   `nr_periods`, `nr_throttled` and `throttled_usec`.
//! - v1: a tree per controller (or per set of them), each a `cgroup` mount whose options name
//!   its controllers. The `cpu` controller's groups take `cpu.cfs_quota_us` and
//!   `cpu.cfs_period_us`; each thread has its own group (`tasks` moves one thread,
//!   `cgroup.procs` a whole process). `cpu.stat` counts `nr_periods`, `nr_throttled` and
//!   `throttled_time` in ns.
//!
//! Hybrid systems mount both, and the cpu controller then belongs to v1 (v2 lists no `cpu`).
//! We use v2 when our own group hands the cpu controller on, else v1's cpu controller, and
//! refuse with what is missing when neither can be written. The mounts come from
//! `/proc/self/mountinfo` and our group from `/proc/self/cgroup`; the server's group is made
//! under ours, named `rpc-vs-rest-compare-<pid>-<n>`, and removed when dropped.
//!
//! The server must start inside: its runtime sizes itself (worker threads, `per-core`'s
//! runtimes) from the quota it sees when it starts, so a server moved in afterwards would have
//! sized itself for the whole machine. Without `pre_exec` (unsafe) the child cannot join by
//! itself, but a child starts in its parent's group: [`CpuGroup::spawn_inside`] puts the
//! spawning thread (v1) or compare (v2, where a process's threads cannot be split) into the
//! group for the moment of the spawn, and back.

use std::{
    io,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use anyhow::Context as _;

/// Test hook: the file read in place of `/proc/self/mountinfo`, so that a test can show
/// compare a machine without cgroups (an empty file) and see its refusal.
const MOUNTINFO_ENV: &str = "RPC_VS_REST_MOUNTINFO";

/// The CFS period the quota is a share of: the kernel's default, 100 ms.
pub(crate) const PERIOD_US: u64 = 100_000;

/// The smallest quota the kernel accepts, 1 ms per period.
const MIN_QUOTA_US: u64 = 1_000;

/// Which cgroup interface holds the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

impl Version {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// The group compare made for its server, with a CPU quota; removed when dropped (after the
/// server has exited: a group with processes cannot be removed).
#[derive(Debug)]
pub(crate) struct CpuGroup {
    version: Version,
    /// The group's directory.
    dir: PathBuf,
    /// The group compare is in, which this one was made under: where the spawning thread
    /// goes back to.
    home: PathBuf,
    /// The group's path as `/proc/PID/cgroup` writes it, to check a process is inside.
    name_in_proc: String,
    quota_us: u64,
}

impl CpuGroup {
    /// A new group under compare's own with a quota of `cpus` cores, in v2 if our group hands
    /// the cpu controller on, else in v1's cpu controller; an error naming what is missing
    /// when neither can be written.
    pub(crate) fn create(cpus: f64) -> anyhow::Result<Self> {
        let quota_us = quota_us(cpus)?;
        let mountinfo_path = std::env::var_os(MOUNTINFO_ENV)
            .map_or_else(|| PathBuf::from("/proc/self/mountinfo"), PathBuf::from);
        let mountinfo = std::fs::read_to_string(&mountinfo_path)
            .with_context(|| format!("--server-cpus: cannot read {}", mountinfo_path.display()))?;
        let memberships = std::fs::read_to_string("/proc/self/cgroup")
            .context("--server-cpus: cannot read /proc/self/cgroup")?;
        let mounts = mounts(&mountinfo);
        let mut missing = Vec::new();
        for version in [Version::V2, Version::V1] {
            match Self::create_in(version, &mounts, &memberships, quota_us) {
                Ok(group) => return Ok(group),
                Err(why) => missing.push(why),
            }
        }
        anyhow::bail!(
            "--server-cpus needs a writable cgroup: no cgroup v2 with the cpu controller and no \
             v1 cpu controller that compare can write ({}; mounts read from {})",
            missing.join("; "),
            mountinfo_path.display()
        )
    }

    /// The group in one interface, or why not (in words, with the OS error where there is one).
    fn create_in(
        version: Version,
        mounts: &[Mount],
        memberships: &str,
        quota_us: u64,
    ) -> Result<Self, String> {
        let (mount, own) = match version {
            Version::V2 => {
                let mount = mounts
                    .iter()
                    .find(|mount| mount.fstype == "cgroup2")
                    .ok_or("v2: no cgroup2 mount")?;
                let own =
                    membership(memberships, |controllers, id| id == "0" && controllers.is_empty())
                        .ok_or("v2: /proc/self/cgroup has no v2 line (0::)")?;
                (mount, own)
            }
            Version::V1 => {
                let mount = mounts
                    .iter()
                    .find(|mount| {
                        mount.fstype == "cgroup" && has_token(&mount.super_options, "cpu")
                    })
                    .ok_or("v1: no cgroup mount with the cpu controller")?;
                let own = membership(memberships, |controllers, _| has_token(controllers, "cpu"))
                    .ok_or("v1: /proc/self/cgroup names no group of the cpu controller")?;
                (mount, own)
            }
        };
        let v = version.as_str();
        // Mounted at a group below the hierarchy's root (a container's view), the mount shows
        // that group; our path is then below the mount's root.
        let below_mount = match mount.root.as_str() {
            "/" => own.as_str(),
            root => own.strip_prefix(root).ok_or_else(|| {
                format!("{v}: our group {own} is outside the mount of {}", mount.root)
            })?,
        };
        let home = match below_mount.trim_start_matches('/') {
            "" => mount.point.clone(),
            below => mount.point.join(below),
        };
        if version == Version::V2 {
            let delegated = read_trimmed(&home.join("cgroup.subtree_control"))
                .map_err(|error| format!("v2: {}: {error}", home.display()))?;
            if !has_token(&delegated.replace(' ', ","), "cpu") {
                let available = read_trimmed(&home.join("cgroup.controllers")).unwrap_or_default();
                return Err(format!(
                    "v2: the cpu controller is not enabled for the groups under {} (its \
                     cgroup.subtree_control is {delegated:?}, cgroup.controllers {available:?})",
                    home.display()
                ));
            }
        }
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "rpc-vs-rest-compare-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let dir = home.join(&name);
        std::fs::create_dir(&dir)
            .map_err(|error| format!("{v}: cannot make {}: {error}", dir.display()))?;
        let group = Self {
            version,
            dir,
            home,
            name_in_proc: format!("{}/{name}", own.trim_end_matches('/')),
            quota_us,
        };
        // Dropped on error, which removes the group made above.
        group.write_quota().map_err(|error| format!("{v}: {error}"))?;
        Ok(group)
    }

    fn write_quota(&self) -> anyhow::Result<()> {
        match self.version {
            Version::V2 => {
                write(&self.dir.join("cpu.max"), &format!("{} {PERIOD_US}", self.quota_us))
            }
            Version::V1 => {
                // The period first: a quota is checked against the period in force.
                write(&self.dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                write(&self.dir.join("cpu.cfs_quota_us"), &self.quota_us.to_string())
            }
        }
    }

    pub(crate) fn version(&self) -> Version {
        self.version
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn quota_us(&self) -> u64 {
        self.quota_us
    }

    /// Runs `spawn`, which starts a process, with the calling thread inside the group, so that
    /// the process begins its life there (see the module's comment); then takes the thread
    /// back home. `spawn` must not await: the thread moved is the one that runs it.
    pub(crate) fn spawn_inside<T>(&self, spawn: impl FnOnce() -> T) -> anyhow::Result<T> {
        // v1 moves the one thread (`tasks`); v2 only moves whole processes, so compare itself
        // stands in the group for the moment of the spawn.
        let (file, id) = match self.version {
            Version::V1 => ("tasks", nix::unistd::gettid().as_raw().to_string()),
            Version::V2 => ("cgroup.procs", std::process::id().to_string()),
        };
        write(&self.dir.join(file), &id).context("cannot enter the server's cgroup to start it")?;
        let spawned = spawn();
        write(&self.home.join(file), &id).with_context(|| {
            format!(
                "cannot leave the server's cgroup for {} after starting it",
                self.home.display()
            )
        })?;
        Ok(spawned)
    }

    /// Checks that every thread of process `pid` is in the group.
    pub(crate) fn check_holds(&self, pid: u32) -> anyhow::Result<()> {
        for task in tasks(pid)? {
            let Ok(memberships) = std::fs::read_to_string(task.join("cgroup")) else {
                continue; // the thread ended meanwhile
            };
            let group = match self.version {
                Version::V2 => {
                    membership(&memberships, |controllers, id| id == "0" && controllers.is_empty())
                }
                Version::V1 => {
                    membership(&memberships, |controllers, _| has_token(controllers, "cpu"))
                }
            };
            if group.as_deref() != Some(self.name_in_proc.as_str()) {
                anyhow::bail!(
                    "the server's thread {} is in the cgroup {group:?}, not in {}: its CPU quota \
                     would not hold",
                    task.display(),
                    self.name_in_proc
                );
            }
        }
        Ok(())
    }

    /// The group's throttling counters so far.
    pub(crate) fn cpu_stat(&self) -> Option<CpuStat> {
        let text = std::fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
        CpuStat::parse(&text, self.version)
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A group empties a moment after its last process is reaped; retry for a while.
        for _ in 0..50 {
            match std::fs::remove_dir(&self.dir) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => return,
            }
        }
        eprintln!("compare: could not remove the server's cgroup {}", self.dir.display());
    }
}

/// The quota of `cpus` cores in µs per [`PERIOD_US`]; refused below what the kernel takes.
pub(crate) fn quota_us(cpus: f64) -> anyhow::Result<u64> {
    let quota = cpus * PERIOD_US as f64;
    if !quota.is_finite() || quota.round() < MIN_QUOTA_US as f64 {
        anyhow::bail!(
            "{cpus}: a number of cores, at least {} (the kernel's smallest quota, 1 ms per 100 ms)",
            MIN_QUOTA_US as f64 / PERIOD_US as f64
        );
    }
    Ok(quota.round() as u64)
}

/// A group's throttling counters, as its `cpu.stat` has them so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuStat {
    periods: u64,
    throttled_periods: u64,
    throttled: Duration,
}

impl CpuStat {
    fn parse(text: &str, version: Version) -> Option<Self> {
        let value = |key: &str| {
            text.lines().find_map(|line| {
                line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse::<u64>().ok()
            })
        };
        let throttled = match version {
            Version::V2 => Duration::from_micros(value("throttled_usec")?),
            Version::V1 => Duration::from_nanos(value("throttled_time")?),
        };
        Some(Self {
            periods: value("nr_periods")?,
            throttled_periods: value("nr_throttled")?,
            throttled,
        })
    }

    /// What was counted between `before` and now (`self`).
    pub(crate) fn since(self, before: Self) -> Throttling {
        Throttling {
            periods: self.periods.saturating_sub(before.periods),
            throttled_periods: self.throttled_periods.saturating_sub(before.throttled_periods),
            throttled_ms: self.throttled.saturating_sub(before.throttled).as_secs_f64() * 1000.0,
        }
    }
}

/// How a CPU quota held the server back during one measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Throttling {
    /// Quota periods (100 ms each) in which the server ran.
    pub periods: u64,
    /// Those in which it used up its quota and waited for the next period.
    pub throttled_periods: u64,
    /// The time its threads waited so, summed over them.
    pub throttled_ms: f64,
}

/// One line of mountinfo: where a filesystem is mounted and what it is.
#[derive(Debug)]
struct Mount {
    /// The directory of the filesystem that is mounted (for cgroups: the group shown there).
    root: String,
    point: PathBuf,
    fstype: String,
    super_options: String,
}

/// The mounts of a mountinfo text: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL…] - TYPE
/// SOURCE SUPER_OPTIONS`.
fn mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut before = before.split(' ');
            let (root, point) = (before.nth(3)?, before.next()?);
            let mut after = after.split(' ');
            let (fstype, _source, super_options) = (after.next()?, after.next()?, after.next()?);
            Some(Mount {
                root: unescape(root),
                point: PathBuf::from(unescape(point)),
                fstype: fstype.into(),
                super_options: super_options.into(),
            })
        })
        .collect()
}

/// Mountinfo writes a space, tab, newline and backslash in a path as `\040`-style octal.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out += &rest[..at];
        let code = rest.get(at + 1..at + 4).and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out + rest
}

/// The group path of the first `ID:CONTROLLERS:PATH` line of a `/proc/PID/cgroup` text that
/// `wanted(controllers, id)` picks.
fn membership(text: &str, wanted: impl Fn(&str, &str) -> bool) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        wanted(controllers, id).then(|| path.to_owned())
    })
}

/// Whether a comma-separated list holds `token` ("rw,cpu,cpuacct" holds "cpu").
fn has_token(list: &str, token: &str) -> bool {
    list.split(',').any(|item| item == token)
}

/// The directories of a process's threads, `/proc/PID/task/TID`.
pub(crate) fn tasks(pid: u32) -> anyhow::Result<Vec<PathBuf>> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).with_context(|| format!("cannot list {dir}"))?;
    Ok(entries.filter_map(|entry| Some(entry.ok()?.path())).collect())
}

fn read_trimmed(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path).map(|text| text.trim().to_owned())
}

fn write(path: &Path, value: &str) -> anyhow::Result<()> {
    std::fs::write(path, value)
        .with_context(|| format!("cannot write {value:?} to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
50 31 0:40 /docker/abc /mnt/with\\040space rw - cgroup cgroup rw,cpu,cpuacct";

    #[test]
    fn mounts_are_read_with_their_type_root_and_options() {
        let mounts = mounts(MOUNTINFO);
        assert_eq!(mounts.len(), 5);
        let cpu = &mounts[1];
        assert_eq!(
            (cpu.root.as_str(), cpu.point.as_path()),
            ("/", Path::new("/sys/fs/cgroup/cpu"))
        );
        assert!(cpu.fstype == "cgroup" && has_token(&cpu.super_options, "cpu"));
        assert!(!has_token(&mounts[2].super_options, "cpu"), "cpuacct is not cpu");
        assert_eq!(mounts[3].fstype, "cgroup2", "optional fields are skipped");
        assert_eq!(mounts[4].point, Path::new("/mnt/with space"));
        assert_eq!(mounts[4].root, "/docker/abc");
    }

    #[test]
    fn our_group_is_read_per_interface() {
        let text = "4:memory:/a\n1:cpu,cpuacct:/b/c\n0::/d";
        assert_eq!(membership(text, |c, _| has_token(c, "cpu")).as_deref(), Some("/b/c"));
        assert_eq!(membership(text, |c, id| id == "0" && c.is_empty()).as_deref(), Some("/d"));
    }

    #[test]
    fn throttling_is_the_difference_of_two_readings() {
        let v1 = "nr_periods 10\nnr_throttled 4\nthrottled_time 2500000\nnr_bursts 0";
        let before = CpuStat::parse(v1, Version::V1).unwrap();
        let v1 = "nr_periods 30\nnr_throttled 14\nthrottled_time 12500000\nnr_bursts 0";
        let after = CpuStat::parse(v1, Version::V1).unwrap();
        let throttling = after.since(before);
        assert_eq!((throttling.periods, throttling.throttled_periods), (20, 10));
        assert!((throttling.throttled_ms - 10.0).abs() < 1e-9);
        let v2 = "usage_usec 1\nnr_periods 3\nnr_throttled 2\nthrottled_usec 1500\nnr_bursts 0";
        let v2 = CpuStat::parse(v2, Version::V2).unwrap();
        assert_eq!(v2.throttled, Duration::from_micros(1500));
        assert_eq!(CpuStat::parse("usage_usec 1", Version::V2), None);
    }

    #[test]
    fn quotas_are_shares_of_the_period() {
        assert_eq!(quota_us(0.5).unwrap(), 50_000);
        assert_eq!(quota_us(2.0).unwrap(), 200_000);
        assert!(quota_us(0.001).is_err());
        assert!(quota_us(f64::NAN).is_err());
        assert!(quota_us(-1.0).is_err());
    }

    #[test]
    fn no_cgroup_mounts_name_both_interfaces() {
        let memberships = "0::/";
        let v2 = CpuGroup::create_in(Version::V2, &[], memberships, 20_000).unwrap_err();
        let v1 = CpuGroup::create_in(Version::V1, &[], memberships, 20_000).unwrap_err();
        assert!(v2.contains("no cgroup2 mount"), "{v2}");
        assert!(v1.contains("no cgroup mount with the cpu controller"), "{v1}");
    }
}
