/* xdp_gen: in-kernel traffic generator and traffic sink for the AF_XDP benchmarks.
 *
 *   xdp_gen gen  IFACE [--seconds S] [--packets N] [--size B] [--batch N]
 *                      [--dst-mac M] [--src-mac M] [--src-ip A] [--dst-ip A]
 *       Runs a one-instruction XDP_TX program through BPF_PROG_TEST_RUN with
 *       BPF_F_TEST_XDP_LIVE_FRAMES: the kernel turns XDP_TX into a redirect out
 *       of IFACE (the ingress_ifindex of the fake receive queue), so on a veth
 *       every frame lands in the peer's receive queue, with no skb, no qdisc and
 *       no user/kernel copy per packet. Bounded by seconds and by packet count.
 *   xdp_gen sink IFACE [--seconds S] [--delay D]
 *       Attaches a count-and-drop XDP program (per-CPU counter) to IFACE through
 *       a BPF link, waits D seconds, then counts the frames that arrive during S
 *       seconds: the receiving-side counter for txonly and l2fwd.
 *   xdp_gen pass IFACE [--seconds S]
 *       Attaches an XDP_PASS program for S seconds (or until SIGTERM): gives a
 *       veth a NAPI context so frames redirected into it are delivered to the
 *       stack (and to AF_PACKET) instead of being dropped.
 *
 * veth note: a frame that XDP redirects (or XDP_TXes) into a veth is queued on
 * the *peer's* XDP ring, which exists only while the peer runs NAPI, i.e. has an
 * XDP program attached or GRO enabled; otherwise veth_xdp_xmit drops it
 * (counted as the sender's xdp_xmit_errors). AF_XDP receivers attach a program
 * anyway; for AF_PACKET the bench script runs `xdp_gen pass` on the receiver.
 *
 * Each mode prints one JSON line: {"impl":"xdp_gen","mode":..,"packets":..,"seconds":..,"mpps":..}.
 */
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "common.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int load_prog(const struct bpf_insn *insns, size_t n, const char *name)
{
	static char log[65536];
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, n, &o);
	if (fd < 0) {
		/* retry without a log, so a short log buffer cannot be the failure */
		fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, n, NULL);
		if (fd < 0)
			DIE("xdp_gen: loading %s failed: %s\n%s", name, strerror(errno), log);
	}
	return fd;
}

static int attach(int prog_fd, int ifindex, const char *ifname)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	int link = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lo);
	if (link < 0)
		DIE("xdp_gen: attaching XDP to %s failed: %s", ifname, strerror(errno));
	return link;
}

static unsigned long long read_percpu_sum(int map_fd, int ncpu)
{
	unsigned long long vals[ncpu], sum = 0;
	__u32 key = 0;
	if (bpf_map_lookup_elem(map_fd, &key, vals))
		DIE("xdp_gen: reading the counter failed: %s", strerror(errno));
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

static void sleep_s(double s)
{
	double end = now_s() + s;
	while (!stop_flag) {
		double left = end - now_s();
		if (left <= 0)
			break;
		struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xdp_gen gen|sink|pass IFACE [--seconds S] [--packets N] [--size B] [--batch N]\n"
		"       [--delay D] [--dst-mac M] [--src-mac M] [--src-ip A] [--dst-ip A]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double seconds = 5, delay = 0;
	unsigned long long max_packets = 0; /* 0: bounded by time only */
	unsigned size = 64, batch = 64;
	uint8_t dst_mac[6] = {2, 0, 0, 0, 0, 2}, src_mac[6] = {2, 0, 0, 0, 0, 1};
	uint32_t src_ip = 0xc6120001u, dst_ip = 0xc6120002u; /* 198.18.0.1 -> 198.18.0.2 */
	static const struct option opts[] = {
		{"seconds", required_argument, 0, 's'}, {"packets", required_argument, 0, 'n'},
		{"size", required_argument, 0, 'z'},    {"batch", required_argument, 0, 'b'},
		{"delay", required_argument, 0, 'd'},   {"dst-mac", required_argument, 0, 'D'},
		{"src-mac", required_argument, 0, 'S'}, {"src-ip", required_argument, 0, 'I'},
		{"dst-ip", required_argument, 0, 'J'},  {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': seconds = atof(optarg); break;
		case 'n': max_packets = strtoull(optarg, NULL, 0); break;
		case 'z': size = (unsigned)atoi(optarg); break;
		case 'b': batch = (unsigned)atoi(optarg); break;
		case 'd': delay = atof(optarg); break;
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
	if (seconds <= 0 || seconds > 3600)
		DIE("--seconds must be in (0, 3600]");
	if (batch == 0 || batch > 256)
		DIE("--batch must be in 1..256 (the kernel's limit for live frames)");
	int ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		DIE("xdp_gen: no interface %s in this namespace", ifname);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (!strcmp(mode, "gen")) {
		uint8_t frame[TEMPLATE_MAX];
		if (build_template(frame, size, dst_mac, src_mac, src_ip, dst_ip))
			DIE("--size must be in %d..%d", TEMPLATE_MIN, TEMPLATE_MAX);
		struct bpf_insn prog[] = {I_MOV64_IMM(BPF_REG_0, XDP_TX), I_EXIT()};
		int pfd = load_prog(prog, sizeof(prog) / sizeof(prog[0]), "xdpkt_gen_tx");
		struct xdp_md ctx = {.data = 0, .data_end = size, .ingress_ifindex = (__u32)ifindex,
				     .rx_queue_index = 0};
		/* One test-run call is ~repeat/6e6 s here (~10 ms): fine-grained enough for the time bound. */
		unsigned repeat = 1u << 16;
		unsigned long long sent = 0;
		double t0 = now_s(), deadline = t0 + seconds;
		while (!stop_flag && now_s() < deadline && (!max_packets || sent < max_packets)) {
			unsigned r = repeat;
			if (max_packets && max_packets - sent < r)
				r = (unsigned)(max_packets - sent);
			LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = frame, .data_size_in = size,
				    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = r,
				    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = batch);
			if (bpf_prog_test_run_opts(pfd, &t)) {
				if (errno == EINTR)
					continue;
				DIE("xdp_gen: BPF_PROG_TEST_RUN (live frames) failed: %s", strerror(errno));
			}
			/* The kernel may stop early on a pending signal; it does not say how
			 * far it got, so a signal-interrupted call is counted as done. */
			sent += r;
		}
		print_result("xdp_gen", "gen", sent, now_s() - t0);
		return 0;
	}

	if (!strcmp(mode, "sink") || !strcmp(mode, "pass")) {
		int pfd, map_fd = -1, ncpu = libbpf_num_possible_cpus();
		if (!strcmp(mode, "pass")) {
			struct bpf_insn prog[] = {I_MOV64_IMM(BPF_REG_0, XDP_PASS), I_EXIT()};
			pfd = load_prog(prog, 2, "xdpkt_pass");
		} else {
			map_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "xdpkt_sink", 4, 8, 1, NULL);
			if (map_fd < 0)
				DIE("xdp_gen: creating the counter map failed: %s", strerror(errno));
			struct bpf_insn prog[] = {
				I_ST_W(BPF_REG_10, -4, 0),             /* key = 0 on the stack */
				I_MOV64_REG(BPF_REG_2, BPF_REG_10),
				I_ADD64_IMM(BPF_REG_2, -4),
				I_LD_MAP_FD(BPF_REG_1, map_fd),
				I_CALL(BPF_FUNC_map_lookup_elem),
				I_JEQ_IMM(BPF_REG_0, 0, 3),            /* no slot: just drop */
				I_LDX_DW(BPF_REG_1, BPF_REG_0, 0),
				I_ADD64_IMM(BPF_REG_1, 1),
				I_STX_DW(BPF_REG_0, BPF_REG_1, 0),     /* per-CPU slot: no atomics needed */
				I_MOV64_IMM(BPF_REG_0, XDP_DROP),
				I_EXIT(),
			};
			pfd = load_prog(prog, sizeof(prog) / sizeof(prog[0]), "xdpkt_sink");
		}
		int link = attach(pfd, ifindex, ifname);
		if (map_fd < 0) {
			sleep_s(seconds);
			close(link);
			return 0;
		}
		sleep_s(delay);
		unsigned long long c0 = read_percpu_sum(map_fd, ncpu);
		double t0 = now_s();
		sleep_s(seconds);
		unsigned long long c1 = read_percpu_sum(map_fd, ncpu);
		double t1 = now_s();
		close(link);
		print_result("xdp_gen", "sink", c1 - c0, t1 - t0);
		return 0;
	}
	usage();
}
