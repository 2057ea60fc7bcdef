/* xsk_ref: the AF_XDP reference peer, written against Debian's libxdp (xsk.h)
 * for the socket, UMEM and ring helpers.
 *
 *   xsk_ref rxdrop|txonly|l2fwd IFACE [--queue Q] [--seconds S] [--size B] [--batch N]
 *           [--busy] [--zerocopy|--copy] [--prog own|libxdp|auto]
 *           [--dst-mac M] [--src-mac M] [--src-ip A] [--dst-ip A]
 *
 * The modes are those of the kernel's xdpsock sample: rxdrop counts and recycles,
 * txonly sends a fixed UDP/IPv4 template as fast as the ring allows, l2fwd swaps
 * the MAC addresses and sends each received frame back out of the same queue.
 * need_wakeup is always on. By default the loop is wakeup-driven: it works while
 * there is work and sleeps in poll() when there is none (on a 2-core machine a
 * spinning receiver that shares a CPU with its sender starves it); --busy spins.
 *
 * The XDP program: --prog libxdp lets libxdp load its default program (which
 * needs BTF support that Debian's libxdp 1.3.1 and this kernel do not agree on);
 * --prog own (the default of --prog auto when libxdp's fails) inhibits that and
 * loads a 5-instruction XSKMAP redirect program (bpf_redirect_map keyed by
 * rx_queue_index, XDP_PASS when the queue has no socket) attached via a BPF link.
 *
 * Result: one JSON line {"impl":"libxdp","mode":..,"packets":..,"seconds":..,"mpps":..};
 * packets = received (rxdrop), completed by the kernel (txonly), sent back (l2fwd).
 */
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include <linux/if_link.h>

#include "common.h"

#define NUM_FRAMES 4096
#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define RX_RING 2048
#define TX_RING 2048
#define FILL_RING 4096 /* holds every frame, so refilling never waits */
#define COMP_RING 2048
#define MAX_BATCH 2048

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct ctx {
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	void *area;
	int fd;
	int busy;
	unsigned batch;
	unsigned outstanding_tx; /* frames on the TX ring or not yet completed */
	/* txonly frame stack */
	__u64 free_frames[NUM_FRAMES];
	unsigned nfree;
};

static int own_redirect_prog(int ifindex, const char *ifname, int *map_fd_out, int *link_out)
{
	int map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "xdpkt_ref_xsks", 4, 4, 64, NULL);
	if (map_fd < 0)
		DIE("xsk_ref: creating the XSKMAP failed: %s", strerror(errno));
	struct bpf_insn prog[] = {
		I_LDX_W(BPF_REG_2, BPF_REG_1, XDP_MD_RX_QUEUE_INDEX), /* key = rx_queue_index */
		I_LD_MAP_FD(BPF_REG_1, map_fd),
		I_MOV64_IMM(BPF_REG_3, XDP_PASS), /* low bits of flags: action when no socket */
		I_CALL(BPF_FUNC_redirect_map),
		I_EXIT(),
	};
	int pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdpkt_ref_redir", "GPL", prog,
				sizeof(prog) / sizeof(prog[0]), NULL);
	if (pfd < 0)
		DIE("xsk_ref: loading the redirect program failed: %s", strerror(errno));
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	int link = bpf_link_create(pfd, ifindex, BPF_XDP, &lo);
	if (link < 0)
		DIE("xsk_ref: attaching XDP to %s failed: %s", ifname, strerror(errno));
	close(pfd);
	*map_fd_out = map_fd;
	*link_out = link;
	return 0;
}

static inline void kick_tx(struct ctx *c)
{
	if (sendto(c->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN && errno != EBUSY &&
	    errno != ENOBUFS && errno != ENETDOWN)
		DIE("xsk_ref: sendto kick failed: %s", strerror(errno));
}

static inline void wait_io(struct ctx *c, short events)
{
	if (c->busy)
		return;
	struct pollfd p = {.fd = c->fd, .events = events};
	poll(&p, 1, 100);
}

/* Reap completions; txonly returns frames to the free stack, l2fwd to the fill ring. */
static unsigned reap(struct ctx *c, int to_fill)
{
	__u32 idx_cq, idx_fq = 0;
	unsigned n = xsk_ring_cons__peek(&c->cq, MAX_BATCH, &idx_cq);
	if (!n)
		return 0;
	if (to_fill) {
		while (xsk_ring_prod__reserve(&c->fq, n, &idx_fq) != n) {
			/* cannot happen: the fill ring is as large as the UMEM */
			if (stop_flag)
				return 0;
		}
		for (unsigned i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&c->fq, idx_fq + i) = *xsk_ring_cons__comp_addr(&c->cq, idx_cq + i);
		xsk_ring_prod__submit(&c->fq, n);
	} else {
		for (unsigned i = 0; i < n; i++)
			c->free_frames[c->nfree++] = *xsk_ring_cons__comp_addr(&c->cq, idx_cq + i);
	}
	xsk_ring_cons__release(&c->cq, n);
	c->outstanding_tx -= n;
	return n;
}

static unsigned long long run_rxdrop(struct ctx *c, double deadline)
{
	unsigned long long count = 0;
	unsigned iter = 0;
	while (!stop_flag) {
		if ((++iter & 63) == 0 && now_s() >= deadline)
			break;
		__u32 idx_rx, idx_fq;
		unsigned n = xsk_ring_cons__peek(&c->rx, c->batch, &idx_rx);
		if (!n) {
			if (xsk_ring_prod__needs_wakeup(&c->fq) || c->busy)
				recvfrom(c->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			wait_io(c, POLLIN);
			if (now_s() >= deadline)
				break;
			continue;
		}
		while (xsk_ring_prod__reserve(&c->fq, n, &idx_fq) != n)
			; /* the fill ring holds every frame */
		for (unsigned i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&c->fq, idx_fq + i) = xsk_ring_cons__rx_desc(&c->rx, idx_rx + i)->addr;
		xsk_ring_prod__submit(&c->fq, n);
		xsk_ring_cons__release(&c->rx, n);
		count += n;
	}
	return count;
}

static unsigned long long run_txonly(struct ctx *c, double deadline, unsigned size)
{
	unsigned long long done = 0;
	unsigned iter = 0;
	while (!stop_flag) {
		if ((++iter & 63) == 0 && now_s() >= deadline)
			break;
		done += reap(c, 0);
		unsigned n = c->batch < c->nfree ? c->batch : c->nfree;
		__u32 idx;
		if (n && xsk_ring_prod__reserve(&c->tx, n, &idx) == n) {
			for (unsigned i = 0; i < n; i++) {
				struct xdp_desc *d = xsk_ring_prod__tx_desc(&c->tx, idx + i);
				d->addr = c->free_frames[--c->nfree];
				d->len = size;
			}
			xsk_ring_prod__submit(&c->tx, n);
			c->outstanding_tx += n;
		} else if (!c->busy) {
			/* nothing can be queued until something completes: sleep on it */
			kick_tx(c);
			wait_io(c, POLLOUT);
			if (now_s() >= deadline)
				break;
			continue;
		}
		if (xsk_ring_prod__needs_wakeup(&c->tx) || c->busy)
			kick_tx(c);
	}
	return done;
}

static unsigned long long run_l2fwd(struct ctx *c, double deadline)
{
	unsigned long long fwd = 0;
	unsigned iter = 0;
	while (!stop_flag) {
		if ((++iter & 63) == 0 && now_s() >= deadline)
			break;
		fwd += reap(c, 1);
		__u32 idx_rx, idx_tx;
		unsigned n = xsk_ring_cons__peek(&c->rx, c->batch, &idx_rx);
		if (!n) {
			if (c->outstanding_tx && (xsk_ring_prod__needs_wakeup(&c->tx) || c->busy))
				kick_tx(c);
			if (xsk_ring_prod__needs_wakeup(&c->fq) || c->busy)
				recvfrom(c->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			wait_io(c, POLLIN);
			if (now_s() >= deadline)
				break;
			continue;
		}
		while (xsk_ring_prod__reserve(&c->tx, n, &idx_tx) != n) {
			/* TX ring full: push it out and take completions back */
			kick_tx(c);
			fwd += reap(c, 1);
			if (stop_flag)
				return fwd;
		}
		for (unsigned i = 0; i < n; i++) {
			const struct xdp_desc *r = xsk_ring_cons__rx_desc(&c->rx, idx_rx + i);
			struct xdp_desc *t = xsk_ring_prod__tx_desc(&c->tx, idx_tx + i);
			swap_macs(xsk_umem__get_data(c->area, r->addr));
			t->addr = r->addr;
			t->len = r->len;
		}
		xsk_ring_prod__submit(&c->tx, n);
		xsk_ring_cons__release(&c->rx, n);
		c->outstanding_tx += n;
		if (xsk_ring_prod__needs_wakeup(&c->tx) || c->busy)
			kick_tx(c);
	}
	return fwd;
}

static void usage(void)
{
	fprintf(stderr, "usage: xsk_ref rxdrop|txonly|l2fwd IFACE [--queue Q] [--seconds S] [--size B]\n"
			"       [--batch N] [--busy] [--zerocopy|--copy] [--prog own|libxdp|auto]\n"
			"       [--dst-mac M] [--src-mac M] [--src-ip A] [--dst-ip A]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double seconds = 5;
	unsigned size = 64, batch = 64, queue = 0;
	int busy = 0;
	__u16 copy_flag = XDP_COPY;
	const char *prog_choice = "auto";
	uint8_t dst_mac[6] = {2, 0, 0, 0, 0, 1}, src_mac[6] = {2, 0, 0, 0, 0, 2};
	uint32_t src_ip = 0xc6120002u, dst_ip = 0xc6120001u;
	static const struct option opts[] = {
		{"seconds", required_argument, 0, 's'}, {"size", required_argument, 0, 'z'},
		{"batch", required_argument, 0, 'b'},   {"queue", required_argument, 0, 'q'},
		{"busy", no_argument, 0, 'B'},          {"zerocopy", no_argument, 0, 'Z'},
		{"copy", no_argument, 0, 'C'},          {"prog", required_argument, 0, 'p'},
		{"dst-mac", required_argument, 0, 'D'}, {"src-mac", required_argument, 0, 'S'},
		{"src-ip", required_argument, 0, 'I'},  {"dst-ip", required_argument, 0, 'J'},
		{0, 0, 0, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': seconds = atof(optarg); break;
		case 'z': size = (unsigned)atoi(optarg); break;
		case 'b': batch = (unsigned)atoi(optarg); break;
		case 'q': queue = (unsigned)atoi(optarg); break;
		case 'B': busy = 1; break;
		case 'Z': copy_flag = XDP_ZEROCOPY; break;
		case 'C': copy_flag = XDP_COPY; break;
		case 'p': prog_choice = optarg; break;
		case 'D': if (parse_mac(optarg, dst_mac)) DIE("bad --dst-mac %s", optarg); break;
		case 'S': if (parse_mac(optarg, src_mac)) DIE("bad --src-mac %s", optarg); break;
		case 'I': if (parse_bench_ip(optarg, &src_ip)) DIE("--src-ip must be in 198.18.0.0/15"); break;
		case 'J': if (parse_bench_ip(optarg, &dst_ip)) DIE("--dst-ip must be in 198.18.0.0/15"); break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	const char *mode = argv[optind], *ifname = argv[optind + 1];
	int m_rx = !strcmp(mode, "rxdrop"), m_tx = !strcmp(mode, "txonly"), m_fwd = !strcmp(mode, "l2fwd");
	if (!m_rx && !m_tx && !m_fwd)
		usage();
	if (seconds <= 0 || seconds > 3600)
		DIE("--seconds must be in (0, 3600]");
	if (batch == 0 || batch > MAX_BATCH)
		DIE("--batch must be in 1..%d", MAX_BATCH);
	int ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		DIE("xsk_ref: no interface %s in this namespace", ifname);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
	setrlimit(RLIMIT_MEMLOCK, &r);

	static struct ctx c;
	c.busy = busy;
	c.batch = batch;
	size_t area_len = (size_t)NUM_FRAMES * FRAME_SIZE;
	c.area = mmap(NULL, area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (c.area == MAP_FAILED)
		DIE("xsk_ref: mmap of the UMEM failed: %s", strerror(errno));
	struct xsk_umem_config ucfg = {.fill_size = FILL_RING, .comp_size = COMP_RING,
				       .frame_size = FRAME_SIZE, .frame_headroom = 0, .flags = 0};
	int err = xsk_umem__create(&c.umem, c.area, area_len, &c.fq, &c.cq, &ucfg);
	if (err)
		DIE("xsk_ref: xsk_umem__create failed: %s", strerror(-err));

	struct xsk_socket_config scfg = {.rx_size = RX_RING, .tx_size = TX_RING, .xdp_flags = 0,
					 .bind_flags = (__u16)(copy_flag | XDP_USE_NEED_WAKEUP)};
	int use_own = !strcmp(prog_choice, "own");
	if (!use_own && strcmp(prog_choice, "libxdp") && strcmp(prog_choice, "auto"))
		usage();
	err = 1;
	if (!use_own) {
		scfg.libxdp_flags = 0;
		err = xsk_socket__create(&c.xsk, ifname, queue, c.umem, &c.rx, &c.tx, &scfg);
		if (err && !strcmp(prog_choice, "libxdp"))
			DIE("xsk_ref: xsk_socket__create with libxdp's program failed: %s", strerror(-err));
		if (err)
			fprintf(stderr, "xsk_ref: libxdp's default program failed (%s); loading our own\n",
				strerror(-err));
	}
	int map_fd = -1, link = -1;
	if (err) {
		own_redirect_prog(ifindex, ifname, &map_fd, &link);
		scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
		/* The kernel releases a queue asynchronously after the previous socket on it
		 * closes: EBUSY for a few tens of milliseconds. Retry for up to a second. */
		for (int tries = 0; tries < 100; tries++) {
			err = xsk_socket__create(&c.xsk, ifname, queue, c.umem, &c.rx, &c.tx, &scfg);
			if (err != -EBUSY)
				break;
			usleep(10000);
		}
		if (err)
			DIE("xsk_ref: xsk_socket__create failed: %s", strerror(-err));
		c.fd = xsk_socket__fd(c.xsk);
		if (bpf_map_update_elem(map_fd, &queue, &c.fd, 0))
			DIE("xsk_ref: adding the socket to the XSKMAP failed: %s", strerror(errno));
	}
	c.fd = xsk_socket__fd(c.xsk);

	if (m_tx) {
		uint8_t frame[TEMPLATE_MAX];
		if (build_template(frame, size, dst_mac, src_mac, src_ip, dst_ip))
			DIE("--size must be in %d..%d", TEMPLATE_MIN, TEMPLATE_MAX);
		for (unsigned i = 0; i < NUM_FRAMES; i++) {
			memcpy((char *)c.area + (size_t)i * FRAME_SIZE, frame, size);
			c.free_frames[c.nfree++] = (__u64)i * FRAME_SIZE;
		}
	} else {
		__u32 idx;
		if (xsk_ring_prod__reserve(&c.fq, NUM_FRAMES, &idx) != NUM_FRAMES)
			DIE("xsk_ref: could not populate the fill ring");
		for (unsigned i = 0; i < NUM_FRAMES; i++)
			*xsk_ring_prod__fill_addr(&c.fq, idx + i) = (__u64)i * FRAME_SIZE;
		xsk_ring_prod__submit(&c.fq, NUM_FRAMES);
	}

	double t0 = now_s(), deadline = t0 + seconds;
	unsigned long long n = m_rx ? run_rxdrop(&c, deadline) : m_tx ? run_txonly(&c, deadline, size)
								      : run_l2fwd(&c, deadline);
	double el = now_s() - t0;
	print_result("libxdp", mode, n, el);
	struct xdp_statistics st;
	socklen_t sl = sizeof(st);
	if (!getsockopt(c.fd, SOL_XDP, XDP_STATISTICS, &st, &sl))
		fprintf(stderr,
			"xsk_ref: rx_dropped=%llu rx_invalid_descs=%llu tx_invalid_descs=%llu rx_ring_full=%llu "
			"rx_fill_ring_empty_descs=%llu tx_ring_empty_descs=%llu\n",
			(unsigned long long)st.rx_dropped, (unsigned long long)st.rx_invalid_descs,
			(unsigned long long)st.tx_invalid_descs, (unsigned long long)st.rx_ring_full,
			(unsigned long long)st.rx_fill_ring_empty_descs,
			(unsigned long long)st.tx_ring_empty_descs);

	xsk_socket__delete(c.xsk);
	xsk_umem__delete(c.umem);
	if (link >= 0)
		close(link);
	if (map_fd >= 0)
		close(map_fd);
	munmap(c.area, area_len);
	return 0;
}
