//! What `/proc` tells about a process: CPU time and resident memory.

/// `utime + stime` of a process in microseconds (clock ticks of 10 ms, the
/// `USER_HZ` of Linux), or `None` when it cannot be read.
pub(crate) fn cpu_us(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 of stat(5) (state) is fields[0]; utime is 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000)
}

/// Resident set size of a process in KiB (`VmRSS`), or `None`.
pub(crate) fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The machine's TCP sockets as `/proc/net/sockstat` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpStat {
    /// Sockets in use.
    pub(crate) inuse: u64,
    /// Pages (4 KiB here) of socket buffers, every TCP socket of the
    /// machine.
    pub(crate) mem_pages: u64,
}

/// `TCP: inuse .. mem ..` of `/proc/net/sockstat`, or `None`.
pub(crate) fn sockstat_tcp() -> Option<TcpStat> {
    parse_sockstat(&std::fs::read_to_string("/proc/net/sockstat").ok()?)
}

fn parse_sockstat(text: &str) -> Option<TcpStat> {
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let value = |name: &str| -> Option<u64> {
        let at = fields.iter().position(|f| *f == name)?;
        fields.get(at + 1)?.parse().ok()
    };
    Some(TcpStat {
        inuse: value("inuse")?,
        mem_pages: value("mem")?,
    })
}

/// How many threads of a process are running or runnable (state `R` in
/// `/proc/PID/task/*/stat`), or `None` when the process is gone.
pub(crate) fn running_threads(pid: u32) -> Option<usize> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut running = 0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        if state_of(&stat) == Some('R') {
            running += 1;
        }
    }
    Some(running)
}

/// Whether a process has exited: it is gone, or a zombie waiting for its
/// parent to collect its status.
pub(crate) fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => matches!(state_of(&stat), Some('Z' | 'X')),
        Err(_) => true,
    }
}

/// The state letter of a `stat` line (the field after the command name).
fn state_of(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(state_of("12 (tokio-rt (x) y) S 1 2"), Some('S'));
        assert_eq!(state_of("12 (a) R 1"), Some('R'));
        assert_eq!(state_of("garbage"), None);
        assert!(!has_exited(std::process::id()));
        assert!(running_threads(std::process::id()).is_some_and(|n| n >= 1));
    }

    #[test]
    fn sockstat() {
        let text =
            "sockets: used 290\nTCP: inuse 27 orphan 0 tw 4 alloc 30 mem 12\nUDP: inuse 2 mem 1\n";
        assert_eq!(
            parse_sockstat(text),
            Some(TcpStat {
                inuse: 27,
                mem_pages: 12
            })
        );
        assert_eq!(parse_sockstat("UDP: inuse 2 mem 1\n"), None);
    }
}
