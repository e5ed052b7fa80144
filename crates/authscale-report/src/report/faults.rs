//! The report's sections on revocation, fault runs and durability, and
//! the names their charts share.

use std::fmt::Write;

use authscale_schema::Run;

/// The file name stem of a fault run's charts.
pub(super) fn fault_stem(f: &authscale_schema::FaultRun) -> String {
    match f.persistence {
        authscale_schema::Persistence::None => format!("fault-{}-{}", f.mode, f.kind),
        other => format!("fault-{}-{}-{other}", f.mode, f.kind),
    }
}

/// A fault as the report names it: the kind, and for a store outage what
/// the store kept.
pub(super) fn fault_name(f: &authscale_schema::FaultRun) -> String {
    match (f.kind, f.persistence) {
        (authscale_schema::FaultKind::StoreOutage, authscale_schema::Persistence::Aof) => {
            format!("{} (AOF)", f.kind)
        }
        _ => f.kind.to_string(),
    }
}

/// How long a logged-out credential kept working, per mode, as probed.
pub(super) fn revocation_section(out: &mut String, run: &Run) {
    if run.revocations.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Revocation latency\n");
    let _ = writeln!(
        out,
        "After a logout, every node was probed directly (every ~10 ms) with the logged-out credential until it refused it, for at most the probe window.\n"
    );
    crate::md::table_head(
        out,
        "mode | >N | >nodes accepting before | >refused by every node after | notes",
    );
    for r in &run.revocations {
        let still = r.per_node_ms.iter().filter(|n| n.is_none()).count();
        let after = match r.latency_ms {
            Some(ms) => format!("{ms:.0} ms"),
            None => format!("not within {:.0} s", r.window_ms / 1000.0),
        };
        let mut notes = Vec::new();
        if still > 0 {
            notes.push(format!(
                "still accepted by {still} of {} nodes at the end of the window",
                r.nodes
            ));
        }
        if let Some(s) = r.token_expires_in_s {
            notes.push(format!("the token expires {s} s after the logout"));
        }
        if r.accepted_before < r.nodes {
            notes.push(format!(
                "only {} of {} nodes knew the credential (node-local sessions)",
                r.accepted_before, r.nodes
            ));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {after} | {} |",
            r.mode,
            r.nodes,
            r.accepted_before,
            notes.join("; ")
        );
    }
}

/// Per fault run: what failed, how fast it recovered, what was forgotten.
pub(super) fn fault_section(out: &mut String, run: &Run) {
    if run.faults.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Fault runs\n");
    let _ = writeln!(
        out,
        "Closed-loop load through the proxy; at the shaded time the store is killed (and restarted empty, or from its append-only file: AOF) or one node is killed (and restarted on its port). Failed: 5xx, timeouts and connection errors. Credentials lost: 401 answers from the fault on, each sending a user back to log in. Recovery: seconds from the end of the fault until every later second answered at least 99% of its requests.\n"
    );
    crate::md::table_head(
        out,
        "mode | fault | >nodes | >requests | >failed | >failed during the fault | >recovery | >credentials lost (401s)",
    );
    for f in &run.faults {
        let _ = writeln!(
            out,
            "| {} | {} ({:.0} s at {:.0} s) | {} | {} | {} ({:.2}%) | {} | {} | {} |",
            f.mode,
            fault_name(f),
            f.length_s,
            f.at_s,
            f.nodes,
            f.requests,
            f.failed,
            100.0 * f.failed as f64 / f.requests.max(1) as f64,
            f.failed_during_fault,
            f.recovery_s
                .map_or("not within the run".into(), |s| format!("{s:.0} s")),
            f.sessions_lost
        );
    }
    durability_table(out, run);
    for f in &run.faults {
        let stem = fault_stem(f);
        let name = fault_name(f);
        let _ = writeln!(
            out,
            "\n![{} {name} success]({stem}-success.svg)\n![{} {name} p99]({stem}-p99.svg)",
            f.mode, f.mode
        );
    }
}

/// Per fault run: what the system remembered across it, counted by real
/// requests (runs recorded before this was measured say so).
pub(super) fn durability_table(out: &mut String, run: &Run) {
    let _ = writeln!(out, "\n### Auth state across the fault\n");
    let _ = writeln!(
        out,
        "Before each fault the lab logged users out and kept others logged in; after it (the load over), it tried every revoked credential on every node and every kept one through the proxy. Revocations lost: logged-out credentials some node accepted again. Sessions lost: kept users refused. A logout counts as checked only when every node refused it before the fault (plain tokens are not revoked by a logout).\n"
    );
    crate::md::table_head(
        out,
        "mode | fault | store persistence | >revocations lost / checked | >sessions lost / checked | >logouts that revoked nothing | >unanswered after the fault",
    );
    for f in &run.faults {
        let figures = match &f.durability {
            Some(d) => format!(
                "{} / {} | {} / {} | {} of {} | {}",
                d.revocations_lost,
                d.revocations_checked,
                d.sessions_lost,
                d.sessions_checked,
                d.logged_out - d.revocations_checked.min(d.logged_out),
                d.logged_out,
                d.unanswered
            ),
            None => "not measured | not measured | — | —".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {figures} |",
            f.mode, f.kind, f.persistence
        );
    }
}
