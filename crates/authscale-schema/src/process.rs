//! What a process has spent, read from Linux's /proc: the lab measures its
//! children with it, the load generator itself, and a node or proxy
//! exports its own as `process_cpu_seconds_total` (the name Prometheus
//! client libraries use), so a deployment the lab does not run can be
//! measured from its `/metrics`.

/// CPU seconds (user + system) process `pid` has used, from /proc.
/// Linux's USER_HZ is 100 on every mainstream architecture.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    // The scheduler's own count, in nanoseconds, summed over the threads:
    // `/proc/PID/stat`'s utime+stime come in 10 ms ticks, a ±10% error on
    // the ~100 ms a 0.1-core node uses in a one-second slice.
    if let Some(seconds) = schedstat_seconds(pid) {
        return seconds;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15.
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// Times the threads of `pid` were put on a CPU (the third field of
/// `/proc/PID/task/*/schedstat`, summed over the live threads); None where
/// the kernel keeps no schedstat.
pub fn process_runs(pid: u32) -> Option<u64> {
    schedstat_sum(pid, 2)
}

/// CPU time of every live thread of `pid` from `/proc/PID/task/*/schedstat`
/// (first field: nanoseconds on a CPU); None where the kernel has none.
fn schedstat_seconds(pid: u32) -> Option<f64> {
    schedstat_sum(pid, 0).map(|nanos| nanos as f64 / 1e9)
}

/// Field `field` of `/proc/PID/task/*/schedstat`, summed over the live
/// threads; None where no thread has one.
fn schedstat_sum(pid: u32, field: usize) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut sum: Option<u64> = None;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(n) = text
            .split_whitespace()
            .nth(field)
            .and_then(|v| v.parse::<u64>().ok())
        {
            sum = Some(sum.unwrap_or(0) + n);
        }
    }
    sum
}
