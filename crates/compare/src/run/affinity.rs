//! The cores the server compare starts may run on (`--server-cores 0-1,4`): its CPU affinity,
//! in force from its first instruction.
//!
//! Affinity belongs to each thread, and a new thread or process takes its creator's. Set on
//! the child by pid after the spawn, it would reach only the threads that exist by then (and
//! the runtime sizes itself from the affinity it sees at start); `pre_exec` would set it in the
//! child before `exec`, but is unsafe. So [`CoreList::spawn_on`] narrows the spawning thread's
//! own affinity for the moment of the spawn and restores it: the child inherits it at birth,
//! and every thread it makes inherits it from there. No outside tool (`taskset`) is needed,
//! and no thread can be missed. [`CoreList::check_holds`] checks the result on every thread.

use std::{fmt, str::FromStr};

use anyhow::Context as _;
use nix::{
    sched::{CpuSet, sched_getaffinity, sched_setaffinity},
    unistd::Pid,
};

/// A set of cores, written as Linux writes them: `0`, `0-3`, `0,2`, `0-3,8-11`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreList(Vec<usize>);

impl FromStr for CoreList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid =
            || format!("{text:?}: cores as 0, 0-3 or 0,2 (comma-separated numbers and ranges)");
        let mut cores = Vec::new();
        for range in text.split(',').map(str::trim) {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            let first: usize = first.trim().parse().map_err(|_| invalid())?;
            let last: usize = last.trim().parse().map_err(|_| invalid())?;
            if first > last {
                return Err(format!("{text:?}: the range {range} runs backwards"));
            }
            cores.extend(first..=last);
        }
        cores.sort_unstable();
        cores.dedup();
        Ok(Self(cores))
    }
}

impl fmt::Display for CoreList {
    /// Consecutive cores as ranges: `0-3,8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for &core in &self.0 {
            match ranges.last_mut() {
                Some((_, last)) if *last + 1 == core => *last = core,
                _ => ranges.push((core, core)),
            }
        }
        let ranges: Vec<String> = ranges
            .iter()
            .map(|&(first, last)| match first == last {
                true => first.to_string(),
                false => format!("{first}-{last}"),
            })
            .collect();
        f.write_str(&ranges.join(","))
    }
}

impl CoreList {
    /// How many cores.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether a core is in both lists.
    pub(crate) fn shares_a_core_with(&self, other: &CoreList) -> bool {
        self.0.iter().any(|core| other.0.contains(core))
    }

    /// Refuses cores compare itself may not run on (which the kernel would refuse too, or
    /// silently drop from a mask that keeps others).
    pub(crate) fn check_allowed(&self) -> anyhow::Result<()> {
        let own = own_cores()?;
        if let Some(core) = self.0.iter().find(|core| !own.0.contains(core)) {
            anyhow::bail!(
                "--server-cores {self}: core {core} is not among the cores compare may run on ({own})"
            );
        }
        Ok(())
    }

    /// Runs `spawn`, which starts a process, with the calling thread's affinity narrowed to
    /// these cores, then restores it (see the module's comment). `spawn` must not await: the
    /// thread narrowed is the one that runs it.
    pub(crate) fn spawn_on<T>(&self, spawn: impl FnOnce() -> T) -> anyhow::Result<T> {
        let this_thread = Pid::from_raw(0);
        let before =
            sched_getaffinity(this_thread).context("cannot read compare's CPU affinity")?;
        let mut narrowed = CpuSet::new();
        for &core in &self.0 {
            narrowed.set(core).with_context(|| format!("--server-cores: no core {core}"))?;
        }
        sched_setaffinity(this_thread, &narrowed)
            .with_context(|| format!("cannot set the CPU affinity {self}"))?;
        let spawned = spawn();
        sched_setaffinity(this_thread, &before)
            .context("cannot restore compare's CPU affinity after starting the server")?;
        Ok(spawned)
    }

    /// Narrows the calling thread to these cores, for good: threads it starts afterwards
    /// inherit them.
    pub(crate) fn pin_this_thread(&self) -> anyhow::Result<()> {
        let mut cores = CpuSet::new();
        for &core in &self.0 {
            cores.set(core).with_context(|| format!("no core {core}"))?;
        }
        sched_setaffinity(Pid::from_raw(0), &cores)
            .with_context(|| format!("cannot set compare's CPU affinity to {self}"))
    }

    /// Checks that no thread of process `pid` may run on another core.
    pub(crate) fn check_holds(&self, pid: u32) -> anyhow::Result<()> {
        for task in super::cgroup::tasks(pid)? {
            let Some(allowed) = allowed(&task.join("status")) else {
                continue; // the thread ended meanwhile
            };
            if allowed.0.iter().any(|core| !self.0.contains(core)) {
                anyhow::bail!(
                    "the server's thread {} may run on cores {allowed}, not only on {self}",
                    task.display()
                );
            }
        }
        Ok(())
    }
}

/// The cores compare may run on, split in two (the server's half first, the larger where
/// they do not divide evenly); `None` with one core, which cannot be split.
pub(crate) fn halves() -> anyhow::Result<Option<(CoreList, CoreList)>> {
    let own = own_cores()?;
    if own.len() < 2 {
        return Ok(None);
    }
    let (server, client) = own.0.split_at(own.len().div_ceil(2));
    Ok(Some((CoreList(server.to_vec()), CoreList(client.to_vec()))))
}

/// The cores the calling thread may run on.
fn own_cores() -> anyhow::Result<CoreList> {
    let own = sched_getaffinity(Pid::from_raw(0)).context("cannot read compare's CPU affinity")?;
    Ok(CoreList((0..CpuSet::count()).filter(|&core| own.is_set(core).unwrap_or(false)).collect()))
}

/// The cores a process may run on (`self`, or a pid), from its `Cpus_allowed_list`.
pub(crate) fn of_process(pid: &str) -> Option<CoreList> {
    allowed(std::path::Path::new(&format!("/proc/{pid}/status")))
}

/// A thread's `Cpus_allowed_list`, from its `status` file.
fn allowed(status: &std::path::Path) -> Option<CoreList> {
    let status = std::fs::read_to_string(status).ok()?;
    status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_and_written_as_linux_writes_them() {
        let list: CoreList = "3,0-1, 8-9,2".parse().unwrap();
        assert_eq!(list.0, [0, 1, 2, 3, 8, 9]);
        assert_eq!(list.to_string(), "0-3,8-9");
        assert_eq!("0".parse::<CoreList>().unwrap().to_string(), "0");
        assert_eq!("0,2".parse::<CoreList>().unwrap().to_string(), "0,2");
        for bad in ["", "a", "1-", "-1", "3-1", "0,,1"] {
            assert!(bad.parse::<CoreList>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cores_outside_our_own_are_refused() {
        let own = own_cores().unwrap();
        assert!(own.check_allowed().is_ok());
        let beyond = CoreList(vec![CpuSet::count() + 1]);
        let error = beyond.check_allowed().unwrap_err().to_string();
        assert!(error.contains("not among the cores compare may run on"), "{error}");
    }

    #[test]
    fn a_spawned_process_starts_on_the_cores_and_the_spawner_keeps_its_own() {
        let own = own_cores().unwrap();
        let first = CoreList(vec![own.0[0]]);
        let mut child = first
            .spawn_on(|| std::process::Command::new("sleep").arg("5").spawn())
            .unwrap()
            .unwrap();
        let held = first.check_holds(child.id());
        let _ = child.kill();
        let _ = child.wait();
        held.unwrap();
        assert_eq!(own_cores().unwrap(), own);
    }
}
