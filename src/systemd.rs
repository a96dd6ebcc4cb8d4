//! The systemd notify protocol (`sd_notify(3)`): tells the service manager when the daemon is
//! ready, reloading, stopping, and that it is still alive (the watchdog).
//!
//! Every message is a datagram sent to the socket named by `NOTIFY_SOCKET`, which systemd sets
//! for `Type=notify` and `Type=notify-reload` units. When that variable is unset (not under
//! systemd, or another unit type) every function here is a no-op. Failures to notify are logged
//! at debug level and never fatal: the daemon works the same without a service manager.
//!
//! The daemon calls [`ready`] once it serves `/metrics` and runs its monitors, wraps a config
//! reload (SIGHUP) in [`reloading`] and [`reloaded`], calls [`stopping`] when shutdown starts,
//! and runs [`watchdog`] for its whole life.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

/// Sends the states, logging (at debug level) rather than returning a failure.
fn send(what: &str, states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "systemd notify ({what}) failed");
    }
}

/// Startup is finished: `READY=1`, with a status line for `systemctl status`.
pub fn ready() {
    send(
        "ready",
        &[NotifyState::Ready, NotifyState::Status("running")],
    );
}

/// A config reload starts: `RELOADING=1` with `MONOTONIC_USEC` (required by
/// `Type=notify-reload` on systemd 253 and later, ignored by `Type=notify`). Follow it with
/// [`reloaded`] whether or not the reload succeeded.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(
            "reloading",
            &[
                NotifyState::Reloading,
                now,
                NotifyState::Status("reloading the config"),
            ],
        ),
        Err(e) => {
            tracing::debug!(error = %e, "reading CLOCK_MONOTONIC failed");
            send(
                "reloading",
                &[
                    NotifyState::Reloading,
                    NotifyState::Status("reloading the config"),
                ],
            );
        }
    }
}

/// The reload is over (applied or rejected): `READY=1` again.
pub fn reloaded() {
    send(
        "reloaded",
        &[NotifyState::Ready, NotifyState::Status("running")],
    );
}

/// Shutdown starts: `STOPPING=1`.
pub fn stopping() {
    send(
        "stopping",
        &[NotifyState::Stopping, NotifyState::Status("stopping")],
    );
}

/// A free-form status line shown by `systemctl status` (`STATUS=...`).
pub fn status(msg: &str) {
    send("status", &[NotifyState::Status(msg)]);
}

/// Keeps the systemd watchdog (`WatchdogSec=`) fed: sends `WATCHDOG=1` every half interval
/// until `stop` is cancelled. Returns at once when the watchdog is not enabled for this process.
///
/// The pings come from a task on the daemon's runtime, so a wedged runtime stops them and
/// systemd restarts the service.
pub async fn watchdog(stop: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = (interval / 2).max(Duration::from_millis(1));
    tracing::debug!(?interval, "systemd watchdog enabled");
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => send("watchdog", &[NotifyState::Watchdog]),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;

    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// One test on purpose: the environment is process-global, so `NOTIFY_SOCKET`,
    /// `WATCHDOG_USEC` and `WATCHDOG_PID` are set and unset here only, and no other test in this
    /// crate reads them.
    #[test]
    fn notifies_the_socket_named_by_notify_socket() {
        let dir = std::env::temp_dir().join(format!("slamon-sd-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();

        // SAFETY: no other test reads or writes these variables (see above).
        unsafe {
            std::env::set_var("NOTIFY_SOCKET", &path);
            std::env::remove_var("WATCHDOG_USEC");
            std::env::remove_var("WATCHDOG_PID");
        }
        ready();
        let ready_msg = recv(&sock);
        reloading();
        let reloading_msg = recv(&sock);
        reloaded();
        let reloaded_msg = recv(&sock);
        stopping();
        let stopping_msg = recv(&sock);
        status("probing 3 monitors");
        let status_msg = recv(&sock);

        // Watchdog off: returns at once without a ping.
        let off = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), watchdog(CancellationToken::new())).await
        });
        // Watchdog on (40 ms): pings every 20 ms until stopped.
        unsafe {
            std::env::set_var("WATCHDOG_USEC", "40000");
            std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        }
        rt.block_on(async {
            let stop = CancellationToken::new();
            let task = tokio::spawn(watchdog(stop.clone()));
            tokio::time::sleep(Duration::from_millis(70)).await;
            stop.cancel();
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("watchdog stops when cancelled")
                .unwrap();
        });
        let mut pings = Vec::new();
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        while let Ok(n) = sock.recv(&mut buf) {
            pings.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }

        // NOTIFY_SOCKET unset: a no-op, nothing arrives.
        unsafe {
            std::env::remove_var("NOTIFY_SOCKET");
            std::env::remove_var("WATCHDOG_USEC");
            std::env::remove_var("WATCHDOG_PID");
        }
        ready();
        let leftover = sock.recv(&mut buf);
        let _ = std::fs::remove_dir_all(&dir);

        assert!(ready_msg.lines().any(|l| l == "READY=1"), "{ready_msg:?}");
        assert!(ready_msg.lines().any(|l| l.starts_with("STATUS=")));
        let lines: Vec<&str> = reloading_msg.lines().collect();
        assert!(lines.contains(&"RELOADING=1"), "{reloading_msg:?}");
        let usec = lines
            .iter()
            .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
            .expect("MONOTONIC_USEC");
        assert!(usec.parse::<u64>().unwrap() > 0);
        assert!(reloaded_msg.lines().any(|l| l == "READY=1"));
        assert!(stopping_msg.lines().any(|l| l == "STOPPING=1"));
        assert_eq!(status_msg, "STATUS=probing 3 monitors\n");
        assert!(off.is_ok(), "watchdog did not return while disabled");
        assert!(pings.len() >= 2, "{pings:?}");
        assert!(pings.iter().all(|p| p == "WATCHDOG=1\n"), "{pings:?}");
        assert!(leftover.is_err(), "sent without NOTIFY_SOCKET");
    }
}
