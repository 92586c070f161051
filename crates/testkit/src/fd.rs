//! Open-file limits for tests that hold many sockets (cargo feature
//! `node`).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Makes sure this process (and the processes it starts afterwards, which
/// inherit the limit) may hold `n` open files: raises the soft limit of
/// `RLIMIT_NOFILE` to `n` when it is lower, never above the hard limit.
///
/// # Errors
/// When the hard limit is below `n`, or the limit cannot be read or set.
pub fn ensure_open_files(n: u64) -> Result<u64, String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    if soft >= n {
        return Ok(soft);
    }
    if hard < n {
        return Err(format!(
            "this test needs {n} open files but the hard limit is {hard} (raise it: ulimit -Hn)"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, n, hard).map_err(|e| e.to_string())?;
    Ok(n)
}
