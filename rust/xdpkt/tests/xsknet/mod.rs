//! Test network: a veth pair between two network namespaces this test process
//! creates (unique names with the pid), removed on drop even when a test fails.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Why a privileged test failed when it was run without root.
pub const NEEDS_ROOT: &str =
    "this test needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF): it creates \
network namespaces and veth pairs. It is #[ignore]d so a plain `cargo test` leaves it out; \
run it as root with `cargo test -p xdpkt --test xsk_veth --test xsk_alloc -- --ignored` \
(scripts/test.sh does when `id -u` is 0)";

/// Fails the calling test unless it runs as root. The privileged tests are
/// `#[ignore]`d, so they only run when asked for with `--ignored`; asked for
/// by a user who cannot create namespaces, they fail saying why instead of
/// passing without having tested anything.
pub fn require_root() {
    assert!(is_root(), "{NEEDS_ROOT}");
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub struct VethNs {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
}

impl VethNs {
    pub fn new() -> VethNs {
        Self::with_queues(1)
    }

    pub fn with_queues(queues: u32) -> VethNs {
        require_root();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let v = VethNs {
            ns_a: format!("xdpkt-xsk-{pid}-{n}-a"),
            ns_b: format!("xdpkt-xsk-{pid}-{n}-b"),
            if_a: format!("xk{pid}x{n}a"),
            if_b: format!("xk{pid}x{n}b"),
        };
        // Created before anything can fail so Drop always cleans up.
        ip(&["netns", "add", &v.ns_a]).expect("netns add a");
        ip(&["netns", "add", &v.ns_b]).expect("netns add b");
        for ns in [&v.ns_a, &v.ns_b] {
            // No IPv6 router solicitations / MLD reports muddying the packet counts.
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.default.disable_ipv6=1",
                    "net.ipv6.conf.all.disable_ipv6=1",
                ])
                .status();
        }
        let q = queues.to_string();
        ip(&[
            "link",
            "add",
            &v.if_a,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            &v.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            &v.if_b,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "netns",
            &v.ns_b,
        ])
        .expect("veth add");
        ip(&["-n", &v.ns_a, "link", "set", &v.if_a, "up"]).expect("up a");
        ip(&["-n", &v.ns_b, "link", "set", &v.if_b, "up"]).expect("up b");
        v
    }

    /// `ip -d link show` of an interface in its namespace.
    pub fn link_detail(&self, ns: &str, ifname: &str) -> String {
        ip(&["-n", ns, "-d", "link", "show", ifname]).unwrap_or_default()
    }

    /// True when `ip` reports an XDP program on the interface.
    pub fn has_xdp(&self, ns: &str, ifname: &str) -> bool {
        // `ip -d` lists the attached program as "prog/xdp id N" (our namespace names contain "xdp").
        self.link_detail(ns, ifname).contains("prog/xdp")
    }

    /// Waits (up to 2 s) for the XDP program to go away. Detach is synchronous with the
    /// last close of the link fd, but a child process forked by a concurrent test holds
    /// copies of our fds until it execs (they are close-on-exec), delaying that last close.
    pub fn xdp_gone(&self, ns: &str, ifname: &str) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while self.has_xdp(ns, ifname) {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        true
    }

    /// Moves the B end into namespace `ns` (up again there): two pairs whose B ends
    /// share one namespace make a two-port forwarder. This value still deletes its
    /// own namespaces on drop, which destroys the pair wherever its ends are.
    pub fn move_b_to(&self, ns: &str) {
        ip(&["-n", &self.ns_b, "link", "set", &self.if_b, "netns", ns]).expect("move b");
        ip(&["-n", ns, "link", "set", &self.if_b, "up"]).expect("up moved b");
    }

    pub fn delete_link(&self) {
        let _ = ip(&["-n", &self.ns_a, "link", "del", &self.if_a]);
    }
}

impl Drop for VethNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.ns_a]);
        let _ = ip(&["netns", "del", &self.ns_b]);
    }
}

/// Runs `f` on a dedicated thread inside network namespace `ns` (setns only moves
/// the calling thread; the test thread stays in its namespace).
pub fn in_ns<T: Send, F: FnOnce() -> T + Send>(ns: &str, f: F) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(move || {
            xdpkt::xsk::sys::setns_net(&path).expect("setns");
            f()
        })
        .join()
        .expect("netns thread panicked")
    })
}
