//! A process's CPU time and resident memory, from `/proc` (Linux).

use std::time::Duration;

/// The kernel's clock tick for `/proc/<pid>/stat` times (`USER_HZ`): 100 on
/// every Linux architecture we run on.
const USER_HZ: u64 = 100;

/// CPU time (all threads) the process used so far, or `None` where `/proc`
/// cannot tell (not Linux, or the process is gone).
///
/// The sum of each live thread's `schedstat` run time (nanoseconds) where
/// the kernel has it, else `utime + stime` from `stat` (10 ms ticks). Both
/// count threads that exist when read; a node's worker threads live as
/// long as it does.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    schedstat_time(pid).or_else(|| stat_time(pid))
}

/// CPU time the calling thread used so far (`/proc/thread-self`), where
/// the kernel tells.
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` and returns its result with the CPU time this thread spent in
/// it (the wall time where the kernel does not tell): a figure that other
/// load on the machine does not inflate.
pub(crate) fn on_cpu<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let wall = std::time::Instant::now();
    let before = thread_cpu_time();
    let out = f();
    let spent = match (before, thread_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => wall.elapsed(),
    };
    (out, spent)
}

fn schedstat_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks {
        let path = task.ok()?.path().join("schedstat");
        // A thread may end between listing and reading: skip it.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

fn stat_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    // After the name: state(3) ... utime(14) stime(15); `rest` starts at 3.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// Resident set size in bytes (`VmRSS`), or `None` where `/proc` cannot
/// tell.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The CPU time a process spends from [`start`](CpuMeter::start) on.
pub(crate) struct CpuMeter {
    pid: Option<u32>,
    start: Option<Duration>,
}

impl CpuMeter {
    /// Starts measuring `pid` (`None`: a process we cannot see).
    pub(crate) fn start(pid: Option<u32>) -> Self {
        CpuMeter {
            pid,
            start: pid.and_then(cpu_time),
        }
    }

    /// CPU time used since [`start`](Self::start), where known.
    pub(crate) fn elapsed(&self) -> Option<Duration> {
        let end = cpu_time(self.pid?)?;
        end.checked_sub(self.start?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_reports_cpu_and_memory() {
        let me = std::process::id();
        let meter = CpuMeter::start(Some(me));
        // Burn a little CPU so the counter moves by at least one tick.
        let mut x = 0u64;
        let until = std::time::Instant::now() + Duration::from_millis(60);
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(meter.elapsed().unwrap() >= Duration::from_millis(10));
        // Both sources agree to within the tick.
        let (a, b) = (schedstat_time(me).unwrap(), stat_time(me).unwrap());
        assert!(a.abs_diff(b) < Duration::from_millis(100), "{a:?} vs {b:?}");
        assert!(rss_bytes(me).unwrap() > 1024 * 1024);
        assert!(cpu_time(u32::MAX).is_none());
    }
}
