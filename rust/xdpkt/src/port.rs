//! [`Port`]: a software NIC over AF_XDP. One socket per queue (channel), all on
//! one UMEM, each queue with its own [`Napi`] (GRO on receive, GSO on
//! transmit), and — while forwarding — one pinned worker thread per queue.
//!
//! A Port owns its queues while idle; [`Forwarder::start`] moves the queues of
//! two Ports (sharing one UMEM) onto worker threads, and [`Forwarder::stop`]
//! gives them back with every frame accounted for. Live settings (GRO, GSO,
//! coalescing) reach the workers through [`Control`] between two polls, so
//! they change without stopping traffic. Counters are published by each
//! worker into [`PortShared`] every few milliseconds and at stop.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::gro::GroConfig;
use crate::napi::{Napi, NapiConfig, QueueCounters};
use crate::rss::Rss;
use crate::xsk::socket::SharedUmem;
use crate::xsk::{sys, Error, Mode, Places, ShareUmem, SocketStats, XskConfig, XskSocket};

/// What one default channel stands for (`PortConfig::per`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuPer {
    Package,
    /// One channel per physical core (hyperthreads share one).
    #[default]
    Core,
    Thread,
}

impl CpuPer {
    pub fn parse(s: &str) -> Option<CpuPer> {
        Some(match s {
            "package" => CpuPer::Package,
            "core" => CpuPer::Core,
            "thread" => CpuPer::Thread,
            _ => return None,
        })
    }
}

/// The CPUs a Port's workers are pinned to, one per unit of `per`: the first
/// online CPU of each package, core or thread, in CPU order
/// (`/sys/devices/system/cpu/cpuN/topology`). Never empty.
pub fn cpu_units(per: CpuPer) -> Vec<usize> {
    let mut seen: Vec<(i64, i64)> = Vec::new();
    let mut cpus = Vec::new();
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    for cpu in parse_cpu_list(online.trim()) {
        let base = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let read = |f: &str| -> i64 {
            std::fs::read_to_string(format!("{base}/{f}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(-1)
        };
        let key = match per {
            CpuPer::Package => (read("physical_package_id"), 0),
            CpuPer::Core => (read("physical_package_id"), read("core_id")),
            CpuPer::Thread => (cpu as i64, 0),
        };
        if !seen.contains(&key) {
            seen.push(key);
            cpus.push(cpu);
        }
    }
    if cpus.is_empty() {
        cpus.push(0);
    }
    cpus
}

/// Parses a kernel CPU list ("0-3,8,10-11").
pub fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let mut it = part.splitn(2, '-');
        let a = it.next().and_then(|x| x.trim().parse::<usize>().ok());
        let b = it.next().map(|x| x.trim().parse::<usize>().ok());
        match (a, b) {
            (Some(a), None) => out.push(a),
            (Some(a), Some(Some(b))) if b >= a && b - a < 4096 => out.extend(a..=b),
            _ => {}
        }
    }
    out
}

/// Port settings. See `docs/port.md` for each knob's ethtool name.
#[derive(Debug, Clone)]
pub struct PortConfig {
    pub ifname: String,
    /// Queues to open; `None`: one per `per` unit, capped by the device's queues.
    pub channels: Option<u32>,
    pub per: CpuPer,
    pub napi: NapiConfig,
    /// `None`: the interface's MTU.
    pub mtu: Option<u32>,
    pub mode: Mode,
    pub ring_size: u32,
    pub frames: u32,
    pub frame_size: usize,
    pub need_wakeup: bool,
    /// Pin each worker to its CPU.
    pub pin: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            ifname: String::new(),
            channels: None,
            per: CpuPer::Core,
            napi: NapiConfig::default(),
            mtu: None,
            mode: Mode::Auto,
            ring_size: 2048,
            frames: 16384,
            frame_size: 4096,
            need_wakeup: true,
            pin: true,
        }
    }
}

/// Live settings, changed between polls (ethtool `-K` and `-C` on a running Port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub gro: Option<GroConfig>,
    pub gso: bool,
    pub budget: u32,
    pub rx_usecs: u32,
    pub adaptive: bool,
    pub busy_usecs: u32,
}

/// Settings the workers pick up at their next poll.
#[derive(Debug)]
pub struct Control {
    generation: AtomicU64,
    live: Mutex<Live>,
}

impl Control {
    fn new(live: Live) -> Control {
        Control {
            generation: AtomicU64::new(0),
            live: Mutex::new(live),
        }
    }
    pub fn get(&self) -> Live {
        *lock(&self.live)
    }
    pub fn set(&self, live: Live) {
        *lock(&self.live) = live;
        self.generation.fetch_add(1, Ordering::Release);
    }
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// What a Port shares with its workers: published counters and the live settings.
#[derive(Debug)]
pub struct PortShared {
    pub counters: Vec<Mutex<QueueCounters>>,
    pub xsk: Vec<Mutex<SocketStats>>,
    pub control: Control,
    /// Test hook: the next super-frame forwarded gets one payload byte flipped.
    pub fault: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One queue: its socket and its poll state.
pub struct Lane {
    pub sock: XskSocket,
    pub napi: Napi,
    pub queue: u32,
    generation: u64,
}

impl Lane {
    fn apply(&mut self, umem: &SharedUmem, shared: &PortShared) {
        if shared.fault.load(Ordering::Relaxed) && shared.fault.swap(false, Ordering::AcqRel) {
            self.napi.corrupt_next = true;
        }
        let ctl = &shared.control;
        let g = ctl.generation();
        if g == self.generation {
            return;
        }
        self.generation = g;
        let live = ctl.get();
        if live.gro != self.napi.config().gro {
            let mut u = lock(umem);
            self.napi.set_gro(u.pool(), live.gro);
        }
        self.napi.set_gso(live.gso);
        self.napi
            .set_coalesce(live.budget, live.rx_usecs, live.adaptive, live.busy_usecs);
    }

    fn publish(&mut self, shared: &PortShared, i: usize, with_kernel: bool) {
        if let Some(c) = shared.counters.get(i) {
            *lock(c) = self.napi.snapshot();
        }
        if with_kernel {
            if let (Some(x), Ok(st)) = (shared.xsk.get(i), self.sock.stats()) {
                *lock(x) = st;
            }
        }
    }
}

/// A software NIC on one interface.
pub struct Port {
    ifname: String,
    mtu: u32,
    umem: SharedUmem,
    lanes: Vec<Lane>,
    shared: Arc<PortShared>,
    cpus: Vec<usize>,
    cfg: PortConfig,
    notes: Vec<String>,
    /// The lanes are on a forwarder's workers.
    forwarding: bool,
    /// Software RSS over the channels (veth has no hardware RSS): which TX queue
    /// a flow sent with [`Port::xmit_flows`] takes, hence (veth) which RX queue
    /// of the peer it lands on.
    rss: Rss,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("ifname", &self.ifname)
            .field("channels", &self.shared.counters.len())
            .finish()
    }
}

impl Port {
    /// Opens every queue of the port. With `share`, the port's sockets join that
    /// port's UMEM (frames move between the two without a copy: what forwarding needs).
    /// Must run in the interface's network namespace.
    pub fn open(cfg: &PortConfig, share: Option<&ShareUmem>) -> Result<Port, Error> {
        let ifname = cfg.ifname.as_str();
        let b = cfg.napi.budget;
        if !(1..=4096).contains(&b) {
            return Err(Error::Config("budget must be between 1 and 4096"));
        }
        if sys::if_nametoindex(ifname) == 0 {
            return Err(Error::NoSuchInterface {
                ifname: crate::xsk::IfName::new(ifname),
            });
        }
        let queues = crate::ethtool::rx_queue_count(ifname).unwrap_or(1);
        let cpus = cpu_units(cfg.per);
        let channels = match cfg.channels {
            Some(0) => return Err(Error::Config("channels must be at least 1")),
            Some(n) if n > queues => {
                return Err(Error::NoSuchQueue {
                    ifname: crate::xsk::IfName::new(ifname),
                    queue: n - 1,
                    queues,
                })
            }
            Some(n) => n,
            None => (cpus.len() as u32).min(queues).max(1),
        };
        let mtu = match cfg.mtu {
            Some(m) if (68..=65535).contains(&m) => m,
            Some(_) => return Err(Error::Config("mtu must be between 68 and 65535")),
            None => crate::ethtool::if_mtu(ifname).unwrap_or(1500),
        };
        let xcfg = XskConfig {
            mode: cfg.mode,
            frames: cfg.frames,
            frame_size: cfg.frame_size,
            ring_size: cfg.ring_size,
            need_wakeup: cfg.need_wakeup,
            // Each queue lends the kernel at most one ring of frames, and a port's queues
            // together at most a quarter of the UMEM: a second port shares it (forwarding),
            // and the rest is for held aggregates, GSO segments and frames in flight.
            fill_frames: Some(cfg.ring_size.min(cfg.frames / (4 * channels.max(1)))),
            ..XskConfig::default()
        };
        let mut napi_cfg = cfg.napi;
        napi_cfg.mtu = mtu;
        let mut lanes: Vec<Lane> = Vec::with_capacity(channels as usize);
        let mut notes = Vec::new();
        for q in 0..channels {
            let sock = match (lanes.first(), share) {
                (Some(first), _) => XskSocket::open_shared(ifname, q, &xcfg, &first.sock)?,
                (None, Some(other)) => XskSocket::open_sharing(ifname, q, &xcfg, other)?,
                (None, None) => XskSocket::open(ifname, q, &xcfg)?,
            };
            notes.extend(sock.notes().iter().cloned());
            lanes.push(Lane {
                napi: Napi::new(napi_cfg, cfg.ring_size as usize),
                sock,
                queue: q,
                generation: 0,
            });
        }
        let umem = lanes
            .first()
            .ok_or(Error::Config("no queue opened"))?
            .sock
            .umem()?;
        let live = Live {
            gro: napi_cfg.gro,
            gso: napi_cfg.gso,
            budget: napi_cfg.budget,
            rx_usecs: napi_cfg.rx_usecs,
            adaptive: napi_cfg.adaptive,
            busy_usecs: napi_cfg.busy_usecs,
        };
        let n = lanes.len();
        let shared = Arc::new(PortShared {
            counters: (0..n)
                .map(|_| Mutex::new(QueueCounters::default()))
                .collect(),
            xsk: (0..n).map(|_| Mutex::new(SocketStats::default())).collect(),
            control: Control::new(live),
            fault: AtomicBool::new(false),
        });
        let rss = Rss::new(n as u32).map_err(|_| Error::Config("no channel for RSS"))?;
        Ok(Port {
            rss,
            ifname: ifname.to_string(),
            mtu,
            umem,
            lanes,
            shared,
            cpus,
            cfg: cfg.clone(),
            notes,
            forwarding: false,
        })
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }
    /// What [`Port::open`] needs to put another port on this port's UMEM.
    pub fn share(&self) -> Result<ShareUmem, Error> {
        match self.lanes.first() {
            Some(l) => l.sock.share(),
            None => Err(Error::Config(
                "the port to share a UMEM with is forwarding or closed",
            )),
        }
    }
    pub fn mtu(&self) -> u32 {
        self.mtu
    }
    pub fn channels(&self) -> usize {
        self.shared.counters.len()
    }
    pub fn config(&self) -> &PortConfig {
        &self.cfg
    }
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }
    pub fn umem(&self) -> SharedUmem {
        self.umem.clone()
    }
    pub fn shared(&self) -> &Arc<PortShared> {
        &self.shared
    }
    pub fn is_forwarding(&self) -> bool {
        self.forwarding
    }
    /// The mode obtained (the first queue's; all queues of a port share it).
    pub fn mode(&self) -> Option<Mode> {
        self.lanes.first().and_then(|l| l.sock.mode().ok())
    }
    /// Changes live settings; running workers apply them at their next poll, an
    /// idle port at its next `recv`/`send`.
    pub fn set_live(&self, live: Live) -> Result<(), Error> {
        if !(1..=4096).contains(&live.budget) {
            return Err(Error::Config("budget must be between 1 and 4096"));
        }
        self.shared.control.set(live);
        Ok(())
    }
    pub fn live(&self) -> Live {
        self.shared.control.get()
    }

    /// Counters per queue (as last published while forwarding).
    pub fn counters(&mut self) -> Vec<QueueCounters> {
        if !self.forwarding {
            for (i, l) in self.lanes.iter_mut().enumerate() {
                l.publish(&self.shared, i, true);
            }
        }
        self.shared.counters.iter().map(|c| *lock(c)).collect()
    }
    /// Socket statistics per queue (rings, kernel `XDP_STATISTICS`).
    pub fn socket_stats(&mut self) -> Vec<SocketStats> {
        if !self.forwarding {
            for (i, l) in self.lanes.iter_mut().enumerate() {
                l.publish(&self.shared, i, true);
            }
        }
        self.shared.xsk.iter().map(|c| *lock(c)).collect()
    }
    /// Where the UMEM's frames are (every frame in exactly one place).
    pub fn places(&mut self) -> Result<Places, Error> {
        match self.lanes.first_mut() {
            Some(l) => l.sock.places(),
            None => Err(Error::Config(
                "the port is forwarding: stop it to count frames",
            )),
        }
    }

    fn idle_lanes(&mut self) -> Result<&mut Vec<Lane>, Error> {
        if self.forwarding {
            return Err(Error::Config(
                "the port is forwarding; stop() it before recv/send",
            ));
        }
        if self.lanes.is_empty() {
            return Err(Error::Closed);
        }
        Ok(&mut self.lanes)
    }

    /// One NAPI poll round over every queue into `out` (GRO applied): at most
    /// `budget` packets per queue, and no more than `out` has room for. Returns the
    /// packets delivered. Does not block.
    pub fn poll(&mut self, out: &mut Batch) -> Result<usize, Error> {
        let umem = self.umem.clone();
        let shared = self.shared.clone();
        let lanes = self.idle_lanes()?;
        let mut got = 0;
        for l in lanes.iter_mut() {
            l.apply(&umem, &shared);
            let budget = (l.napi.config().budget as usize).min(out.room() / 2);
            if budget == 0 {
                break;
            }
            let n = l.sock.recv(&mut l.napi.rx, budget)?;
            if n == 0 && l.napi.held() == 0 && l.napi.out.is_empty() {
                continue;
            }
            let mut u = lock(&umem);
            l.napi.receive(u.pool(), n < budget);
            let k = l.napi.out.move_front_into(out);
            l.napi.counters.rx_delivered += k as u64;
            got += k;
        }
        Ok(got)
    }

    /// Sleeps until a queue is readable or a held GRO aggregate is due, at most
    /// `timeout`. Returns whether a queue is readable.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        let lanes = self.idle_lanes()?;
        let mut ms = timeout.as_millis().min(100) as i32;
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(lanes.len());
        for l in lanes.iter_mut() {
            if let Some(h) = l.napi.hold_usecs() {
                ms = ms.min((h / 1000).max(1) as i32);
            }
            fds.push(libc::pollfd {
                fd: l.sock.raw_fd()?,
                events: libc::POLLIN,
                revents: 0,
            });
            l.napi.counters.poll_syscalls += 1;
            l.napi.counters.napi_sleeps += 1;
        }
        let n = sys::poll_fds(&mut fds, ms).map_err(|e| Error::os("poll", e))?;
        Ok(n > 0)
    }

    /// Transmits `batch` on queue `queue`: super-frames are cut by GSO to the wire
    /// MSS, everything goes onto the TX ring in as few reservations as the ring
    /// allows. Waits until every frame completed. Returns the frames put on the
    /// wire (segments count one each); dropped frames are counted.
    pub fn xmit(&mut self, queue: usize, batch: &mut Batch) -> Result<usize, Error> {
        let umem = self.umem.clone();
        let shared = self.shared.clone();
        let lanes = self.idle_lanes()?;
        let n = lanes.len();
        let l = lanes
            .get_mut(queue % n)
            .ok_or(Error::Config("no such queue"))?;
        l.apply(&umem, &shared);
        let mut sent = 0;
        while !batch.is_empty() {
            // Into the staging batch as far as it has room, then out in one go.
            batch.move_front_into(&mut l.napi.out);
            sent += drain_lane(l, &umem)?;
        }
        l.sock.flush()?;
        Ok(sent)
    }

    /// The software RSS context (key, indirection table).
    pub fn rss(&self) -> &Rss {
        &self.rss
    }
    pub fn rss_mut(&mut self) -> &mut Rss {
        &mut self.rss
    }

    /// Transmits `batch` with each packet on the queue software RSS picks for its
    /// flow (Toeplitz over the 5-tuple, 128-entry table): one flow, one queue,
    /// in order. GSO as in [`Port::xmit`]. Returns the frames put on the wire.
    pub fn xmit_flows(&mut self, batch: &mut Batch) -> Result<usize, Error> {
        let umem = self.umem.clone();
        let shared = self.shared.clone();
        let rss = self.rss.clone();
        let lanes = self.idle_lanes()?;
        let n = lanes.len();
        for l in lanes.iter_mut() {
            l.apply(&umem, &shared);
        }
        let mut sent = 0;
        while !batch.is_empty() {
            {
                let mut u = lock(&umem);
                batch.reverse();
                while let Some(p) = batch.pop() {
                    let q = (rss.queue_for_frame(u.pool_ref().head(&p)) as usize) % n;
                    let Some(l) = lanes.get_mut(q) else {
                        u.pool().release(p);
                        continue;
                    };
                    if let Err(p) = l.napi.out.push(p) {
                        // This queue's staging is full: send what is staged first.
                        // (`batch` has room: `p` was just popped from it.)
                        if let Err(p) = batch.push(p) {
                            l.napi.counters.tx_errors += 1;
                            u.pool().release(p);
                        }
                        break;
                    }
                }
                batch.reverse();
            }
            for l in lanes.iter_mut() {
                sent += drain_lane(l, &umem)?;
            }
        }
        for l in lanes.iter_mut() {
            l.sock.flush()?;
        }
        Ok(sent)
    }

    /// Closes every queue (frames back to the UMEM, XDP program detached with
    /// the last socket).
    pub fn close(&mut self) {
        for l in self.lanes.iter_mut() {
            let umem = self.umem.clone();
            let mut u = lock(&umem);
            l.napi.flush(u.pool());
            for p in l.napi.out.drain().chain(l.napi.tx.drain()) {
                u.pool().release(p);
            }
            drop(u);
            l.sock.close();
        }
        self.lanes.clear();
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.close();
    }
}

/// Stages everything in a lane's `out` (GSO as needed) and puts it on the lane's
/// TX ring, a TX batch at a time. Returns the frames that left.
fn drain_lane(l: &mut Lane, umem: &SharedUmem) -> Result<usize, Error> {
    let mut sent = 0;
    loop {
        let done = {
            let mut u = lock(umem);
            l.napi.stage_tx(u.pool())
        };
        sent += xmit_lane(l)?;
        if done {
            return Ok(sent);
        }
    }
}

/// Puts a lane's TX batch on its ring; counts what left and what was lost.
fn xmit_lane(l: &mut Lane) -> Result<usize, Error> {
    if l.napi.tx.is_empty() {
        return Ok(0);
    }
    let want = l.napi.tx.len();
    let bytes: u64 = l.napi.tx.iter().map(|p| p.len() as u64).sum();
    match l.sock.transmit(&mut l.napi.tx) {
        Ok(n) => {
            l.napi.counters.tx_packets += n as u64;
            l.napi.counters.tx_bytes += bytes;
            // Oversize frames the socket dropped (it counts them as tx_oversize).
            l.napi.counters.tx_mtu_drops += (want - n) as u64;
            Ok(n)
        }
        Err(e) => {
            // transmit returned the unsent frames to the pool.
            l.napi.counters.tx_errors += want as u64;
            Err(e)
        }
    }
}

/// Which way packets go between the two ports of a forwarder.
#[derive(Debug)]
pub struct Directions {
    pub a_to_b: AtomicBool,
    pub b_to_a: AtomicBool,
}

/// Two ports joined: queue i of A and queue i of B served by worker i, pinned to
/// its CPU; each direction RX → GRO → GSO → TX, no Python per packet.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    wake: Arc<std::os::fd::OwnedFd>,
    dirs: Arc<Directions>,
    workers: Vec<JoinHandle<(Lane, Lane, Option<Error>)>>,
    /// Always `Some` until `stop` hands the ports back.
    a: Option<Port>,
    b: Option<Port>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("a", &self.a.as_ref().map(|p| p.ifname.clone()))
            .field("b", &self.b.as_ref().map(|p| p.ifname.clone()))
            .finish()
    }
}

impl Forwarder {
    /// Starts forwarding A → B (and B → A with `both_ways`). The ports must share
    /// one UMEM and have the same number of channels. On error the ports come back.
    #[allow(clippy::result_large_err)]
    pub fn start(
        mut a: Port,
        mut b: Port,
        both_ways: bool,
    ) -> Result<Forwarder, (Port, Port, Error)> {
        if !Arc::ptr_eq(&a.umem, &b.umem) {
            return Err((
                a,
                b,
                Error::Config(
                    "forward_to needs ports sharing one UMEM: open the second port with share_umem=the first",
                ),
            ));
        }
        if a.lanes.len() != b.lanes.len() || a.lanes.is_empty() {
            return Err((
                a,
                b,
                Error::Config("forward_to needs the same number of channels on both ports"),
            ));
        }
        let wake = match sys::eventfd() {
            Ok(fd) => Arc::new(fd),
            Err(e) => return Err((a, b, Error::os("eventfd", e))),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let dirs = Arc::new(Directions {
            a_to_b: AtomicBool::new(true),
            b_to_a: AtomicBool::new(both_ways),
        });
        let mut workers = Vec::new();
        let cpus = a.cpus.clone();
        let lanes: Vec<(Lane, Lane)> = a.lanes.drain(..).zip(b.lanes.drain(..)).collect();
        a.forwarding = true;
        b.forwarding = true;
        for (i, (mut la, mut lb)) in lanes.into_iter().enumerate() {
            for l in [&mut la, &mut lb] {
                let _ = l.sock.set_fill_low_water(true);
            }
            let w = Worker {
                i,
                cpu: a.cfg.pin.then(|| cpus[i % cpus.len()]),
                stop: stop.clone(),
                wake: wake.clone(),
                dirs: dirs.clone(),
                umem: a.umem.clone(),
                sa: a.shared.clone(),
                sb: b.shared.clone(),
            };
            let h = std::thread::Builder::new()
                .name(format!("xdpkt-fwd-{i}"))
                .spawn(move || w.run(la, lb));
            match h {
                Ok(h) => workers.push(h),
                Err(_) => {
                    let f = Forwarder {
                        stop,
                        wake,
                        dirs,
                        workers,
                        a: Some(a),
                        b: Some(b),
                    };
                    let (a, b, _) = f.stop();
                    return Err((a, b, Error::Config("could not start a worker thread")));
                }
            }
        }
        Ok(Forwarder {
            stop,
            wake,
            dirs,
            workers,
            a: Some(a),
            b: Some(b),
        })
    }

    pub fn directions(&self) -> &Directions {
        &self.dirs
    }
    pub fn a(&self) -> Option<&Port> {
        self.a.as_ref()
    }
    pub fn b(&self) -> Option<&Port> {
        self.b.as_ref()
    }
    pub fn a_mut(&mut self) -> Option<&mut Port> {
        self.a.as_mut()
    }
    pub fn b_mut(&mut self) -> Option<&mut Port> {
        self.b.as_mut()
    }

    /// Any worker that stopped on its own (an error: interface gone).
    pub fn finished(&self) -> bool {
        self.workers.iter().any(|w| w.is_finished())
    }

    fn halt(&mut self) -> Option<Error> {
        self.stop.store(true, Ordering::Release);
        sys::eventfd_signal(&self.wake);
        let mut err = None;
        for h in self.workers.drain(..) {
            match h.join() {
                Ok((mut la, mut lb, e)) => {
                    for l in [&mut la, &mut lb] {
                        let _ = l.sock.set_fill_low_water(false);
                    }
                    if let Some(a) = self.a.as_mut() {
                        a.lanes.push(la);
                    }
                    if let Some(b) = self.b.as_mut() {
                        b.lanes.push(lb);
                    }
                    err = err.or(e);
                }
                Err(_) => err = err.or(Some(Error::Config("a forwarding worker panicked"))),
            }
        }
        for p in [self.a.as_mut(), self.b.as_mut()].into_iter().flatten() {
            p.lanes.sort_by_key(|l| l.queue);
            p.forwarding = false;
        }
        err
    }

    /// Stops the workers (each flushes GRO and drains its TX) and gives the ports
    /// back, with the error that stopped a worker early, if any.
    pub fn stop(mut self) -> (Port, Port, Option<Error>) {
        let e = self.halt();
        match (self.a.take(), self.b.take()) {
            (Some(a), Some(b)) => (a, b, e),
            // `a` and `b` are only taken here, by value: unreachable.
            _ => unreachable!("forwarder ports taken twice"),
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.halt();
        }
    }
}

/// Longest the adaptive loop spins after the last packet before it sleeps.
const SPIN_CAP_US: u64 = 1000;
/// Shortest: a probe of a poll or two, so that spinning can prove useful again.
const SPIN_FLOOR_US: u64 = 1;

struct Worker {
    i: usize,
    cpu: Option<usize>,
    stop: Arc<AtomicBool>,
    wake: Arc<std::os::fd::OwnedFd>,
    dirs: Arc<Directions>,
    umem: SharedUmem,
    sa: Arc<PortShared>,
    sb: Arc<PortShared>,
}

/// One direction of one poll: RX of `src` → GRO → GSO → TX of `dst`.
/// Returns the packets received.
fn pass(src: &mut Lane, dst: &mut Lane, umem: &SharedUmem, route: bool) -> Result<usize, Error> {
    let budget = src.napi.config().budget as usize;
    // Frames that arrived on `src` and left on `dst` go back onto `src`'s fill ring in the
    // order they completed (l2fwd's recycling; the kernel walks them in that order).
    dst.sock.recycle_completions_to(&mut src.sock)?;
    let n = src.sock.recv(&mut src.napi.rx, budget)?;
    if n == 0 && src.napi.held() == 0 && src.napi.out.is_empty() {
        return Ok(0);
    }
    let mut u = lock(umem);
    src.napi.receive(u.pool(), n < budget);
    if !route {
        let k = src.napi.out.len() as u64;
        src.napi.counters.rx_no_route += k;
        for p in src.napi.out.drain() {
            u.pool().release(p);
        }
        return Ok(n);
    }
    loop {
        let done = src.napi.stage_tx_for(u.pool(), &mut dst.napi);
        drop(u);
        xmit_to(src, dst)?;
        if done {
            return Ok(n);
        }
        u = lock(umem);
    }
}

/// `src`'s staged TX batch onto `dst`'s TX ring; counted on `src` (where the
/// frames were staged) as its forwarded packets.
fn xmit_to(src: &mut Lane, dst: &mut Lane) -> Result<(), Error> {
    if src.napi.tx.is_empty() {
        return Ok(());
    }
    let want = src.napi.tx.len();
    let bytes: u64 = src.napi.tx.iter().map(|p| p.len() as u64).sum();
    match dst.sock.transmit(&mut src.napi.tx) {
        Ok(n) => {
            dst.napi.counters.tx_packets += n as u64;
            dst.napi.counters.tx_bytes += bytes;
            dst.napi.counters.tx_mtu_drops += (want - n) as u64;
            Ok(())
        }
        Err(e) => {
            dst.napi.counters.tx_errors += want as u64;
            Err(e)
        }
    }
}

impl Worker {
    fn run(self, mut a: Lane, mut b: Lane) -> (Lane, Lane, Option<Error>) {
        if let Some(cpu) = self.cpu {
            let _ = sys::pin_to_cpu(cpu);
        }
        let err = self.serve(&mut a, &mut b).err();
        // Stop: flush what GRO holds through to the wire, then wait for completions.
        let _ = self.finish(&mut a, &mut b);
        a.publish(&self.sa, self.i, true);
        b.publish(&self.sb, self.i, true);
        (a, b, err)
    }

    fn finish(&self, a: &mut Lane, b: &mut Lane) -> Result<(), Error> {
        self.finish_dir(a, b, self.dirs.a_to_b.load(Ordering::Acquire))?;
        self.finish_dir(b, a, self.dirs.b_to_a.load(Ordering::Acquire))?;
        a.sock.flush()?;
        b.sock.flush()?;
        Ok(())
    }

    fn finish_dir(&self, src: &mut Lane, dst: &mut Lane, route: bool) -> Result<(), Error> {
        let mut u = lock(&self.umem);
        src.napi.flush(u.pool());
        if !route {
            src.napi.counters.rx_no_route += src.napi.out.len() as u64;
            for p in src.napi.out.drain() {
                u.pool().release(p);
            }
            return Ok(());
        }
        loop {
            let done = src.napi.stage_tx_for(u.pool(), &mut dst.napi);
            drop(u);
            xmit_to(src, dst)?;
            if done {
                return Ok(());
            }
            u = lock(&self.umem);
        }
    }

    fn serve(&self, a: &mut Lane, b: &mut Lane) -> Result<(), Error> {
        let mut last_work = Instant::now();
        let mut last_pub = Instant::now();
        let mut last_kernel = Instant::now();
        let mut busy = true;
        let mut spin_us = a.napi.config().busy_usecs as u64;
        // An empty poll happened since the last one that found packets.
        let mut spun = false;
        let wake_fd: RawFd = std::os::fd::AsRawFd::as_raw_fd(&*self.wake);
        while !self.stop.load(Ordering::Acquire) {
            a.apply(&self.umem, &self.sa);
            b.apply(&self.umem, &self.sb);
            let ab = self.dirs.a_to_b.load(Ordering::Relaxed);
            let ba = self.dirs.b_to_a.load(Ordering::Relaxed);
            let work = pass(a, b, &self.umem, ab)? + pass(b, a, &self.umem, ba)?;
            let now = Instant::now();
            if now.duration_since(last_pub) >= Duration::from_millis(5) {
                let kernel = now.duration_since(last_kernel) >= Duration::from_millis(100);
                a.publish(&self.sa, self.i, kernel);
                b.publish(&self.sb, self.i, kernel);
                if kernel {
                    last_kernel = now;
                }
                last_pub = now;
            }
            let cfg = *a.napi.config();
            // The window adapts between 1 µs (a probe of a poll or two) and 1 ms, starting
            // from `busy_usecs`.
            let floor = SPIN_FLOOR_US;
            if work > 0 {
                if !busy {
                    busy = true;
                    a.napi.counters.adaptive_to_busy += 1;
                }
                // Adaptive: the spin window grows only when spinning itself found packets
                // (the producer runs elsewhere and keeps up), and shrinks back towards
                // `busy_usecs` each time a window passes empty. A producer that needs
                // this CPU (veth NAPI, an IRQ here) never feeds a spinning worker, so the
                // window shrinks to its floor and the worker sleeps, letting it run.
                if spun {
                    spin_us = (spin_us * 2).min(SPIN_CAP_US);
                }
                spun = false;
                last_work = now;
                continue;
            }
            spin_us = spin_us.clamp(floor, SPIN_CAP_US);
            if cfg.adaptive && now.duration_since(last_work) < Duration::from_micros(spin_us) {
                spun = true;
                a.napi.counters.napi_busy_polls += 1;
                // Yield, not a bare spin: on veth (and a NIC whose IRQ shares this CPU) the
                // kernel context that fills our RX ring may need this very CPU; a worker that
                // never yields starves its own producer (measured: 0.11 vs 0.39 Mpps under
                // SCHED_FIFO on the NAPI thread's CPU).
                std::thread::yield_now();
                continue;
            }
            spun = false;
            if busy {
                busy = false;
                if cfg.adaptive {
                    a.napi.counters.adaptive_to_sleep += 1;
                    spin_us = (spin_us / 2).max(floor);
                }
            }
            // Frames in flight: copy mode transmits only inside sendto, so kick
            // before sleeping and sleep briefly while completions are due.
            let in_flight = a.sock.tx_outstanding()? + b.sock.tx_outstanding()?;
            if in_flight > 0 {
                a.sock.kick_tx()?;
                b.sock.kick_tx()?;
                a.sock.reap()?;
                b.sock.reap()?;
            }
            let mut ms: i32 = if in_flight > 0 { 1 } else { 100 };
            for l in [&*a, &*b] {
                if let Some(h) = l.napi.hold_usecs() {
                    ms = ms.min((h / 1000).max(1) as i32);
                }
            }
            let mut fds = [
                libc::pollfd {
                    fd: a.sock.raw_fd()?,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: b.sock.raw_fd()?,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: wake_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            a.napi.counters.napi_sleeps += 1;
            a.napi.counters.poll_syscalls += 1;
            let n = sys::poll_fds(&mut fds, ms).map_err(|e| Error::os("poll", e))?;
            if n > 0 && (fds[0].revents | fds[1].revents) & libc::POLLIN != 0 {
                a.napi.counters.napi_wakeups += 1;
            }
            for f in &fds[..2] {
                if f.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                    return Err(Error::InterfaceGone {
                        ifname: crate::xsk::IfName::new(""),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("x,2"), vec![2]);
        assert_eq!(parse_cpu_list("5-3"), Vec::<usize>::new());
    }

    #[test]
    fn cpu_units_never_empty() {
        for per in [CpuPer::Package, CpuPer::Core, CpuPer::Thread] {
            assert!(!cpu_units(per).is_empty());
        }
        assert!(cpu_units(CpuPer::Core).len() <= cpu_units(CpuPer::Thread).len());
        assert!(cpu_units(CpuPer::Package).len() <= cpu_units(CpuPer::Core).len());
    }
}
