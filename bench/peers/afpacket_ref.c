/* afpacket_ref: the AF_PACKET reference peer.
 *
 *   afpacket_ref rxdrop|txonly|l2fwd IFACE [--seconds S] [--size B] [--batch N] [--busy]
 *                [--dst-mac M] [--src-mac M] [--src-ip A] [--dst-ip A]
 *
 * rxdrop: a TPACKET_V3 receive ring (64 blocks of 1 MiB, 10 ms block timeout);
 *         each block the kernel retires is counted (num_pkts) and handed back.
 * txonly: sendmmsg() of `batch` copies of a UDP/IPv4 template per call, with
 *         PACKET_QDISC_BYPASS (straight to the driver, as pktgen-style senders do).
 * l2fwd:  frames from the TPACKET_V3 ring get their MAC addresses swapped in place
 *         and go back out with sendmmsg() (iovecs point into the ring block, which
 *         is released after the send), also with PACKET_QDISC_BYPASS.
 * By default the loop sleeps in poll() when there is nothing to do; --busy spins.
 * PACKET_IGNORE_OUTGOING keeps the socket from seeing its own transmissions.
 *
 * Result: one JSON line {"impl":"afpacket","mode":..,"packets":..,"seconds":..,"mpps":..};
 * packets = received (rxdrop), accepted by sendmmsg (txonly), sent back (l2fwd).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_packet.h>

#include "common.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define BLOCK_SIZE (1u << 20)
#define BLOCK_NR 64u
#define FRAME_SZ 2048u
#define MAX_BATCH 1024

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int open_socket(int ifindex, int rx_ring, int busy, uint8_t **ring_out)
{
	int fd = socket(AF_PACKET, SOCK_RAW, rx_ring ? htons(ETH_P_ALL) : 0);
	if (fd < 0)
		DIE("afpacket_ref: socket(AF_PACKET) failed: %s", strerror(errno));
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
		DIE("afpacket_ref: PACKET_QDISC_BYPASS failed: %s", strerror(errno));
	if (rx_ring) {
		setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
		int v = TPACKET_V3;
		if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
			DIE("afpacket_ref: TPACKET_V3 failed: %s", strerror(errno));
		struct tpacket_req3 req = {.tp_block_size = BLOCK_SIZE, .tp_block_nr = BLOCK_NR,
					   .tp_frame_size = FRAME_SZ,
					   .tp_frame_nr = BLOCK_SIZE / FRAME_SZ * BLOCK_NR,
					   .tp_retire_blk_tov = 10, .tp_feature_req_word = 0};
		if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
			DIE("afpacket_ref: PACKET_RX_RING failed: %s", strerror(errno));
		*ring_out = mmap(NULL, (size_t)BLOCK_SIZE * BLOCK_NR, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
		if (*ring_out == MAP_FAILED)
			*ring_out = mmap(NULL, (size_t)BLOCK_SIZE * BLOCK_NR, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, fd, 0);
		if (*ring_out == MAP_FAILED)
			DIE("afpacket_ref: mmap of the ring failed: %s", strerror(errno));
	}
	(void)busy;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = rx_ring ? htons(ETH_P_ALL) : 0,
				  .sll_ifindex = ifindex};
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		DIE("afpacket_ref: bind failed: %s", strerror(errno));
	return fd;
}

/* Wait for the next block to belong to user space. Returns it, or NULL at the deadline. */
static struct tpacket_block_desc *next_block(int fd, uint8_t *ring, unsigned cur, int busy, double deadline)
{
	struct tpacket_block_desc *b = (struct tpacket_block_desc *)(ring + (size_t)cur * BLOCK_SIZE);
	unsigned spins = 0;
	while (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
		if (stop_flag)
			return NULL;
		if (busy) {
			if ((++spins & 1023) == 0 && now_s() >= deadline)
				return NULL;
			continue;
		}
		if (now_s() >= deadline)
			return NULL;
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLERR};
		poll(&p, 1, 50);
	}
	return b;
}

static void release_block(struct tpacket_block_desc *b)
{
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

static unsigned long long send_all(int fd, struct mmsghdr *msgs, unsigned n)
{
	unsigned done = 0;
	while (done < n && !stop_flag) {
		int r = sendmmsg(fd, msgs + done, n - done, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			DIE("afpacket_ref: sendmmsg failed: %s", strerror(errno));
		}
		done += (unsigned)r;
	}
	return done;
}

int main(int argc, char **argv)
{
	double seconds = 5;
	unsigned size = 64, batch = 64;
	int busy = 0;
	uint8_t dst_mac[6] = {2, 0, 0, 0, 0, 1}, src_mac[6] = {2, 0, 0, 0, 0, 2};
	uint32_t src_ip = 0xc6120002u, dst_ip = 0xc6120001u;
	static const struct option opts[] = {
		{"seconds", required_argument, 0, 's'}, {"size", required_argument, 0, 'z'},
		{"batch", required_argument, 0, 'b'},   {"busy", no_argument, 0, 'B'},
		{"dst-mac", required_argument, 0, 'D'}, {"src-mac", required_argument, 0, 'S'},
		{"src-ip", required_argument, 0, 'I'},  {"dst-ip", required_argument, 0, 'J'},
		{0, 0, 0, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': seconds = atof(optarg); break;
		case 'z': size = (unsigned)atoi(optarg); break;
		case 'b': batch = (unsigned)atoi(optarg); break;
		case 'B': busy = 1; break;
		case 'D': if (parse_mac(optarg, dst_mac)) DIE("bad --dst-mac %s", optarg); break;
		case 'S': if (parse_mac(optarg, src_mac)) DIE("bad --src-mac %s", optarg); break;
		case 'I': if (parse_bench_ip(optarg, &src_ip)) DIE("--src-ip must be in 198.18.0.0/15"); break;
		case 'J': if (parse_bench_ip(optarg, &dst_ip)) DIE("--dst-ip must be in 198.18.0.0/15"); break;
		default: goto bad;
		}
	}
	if (argc - optind != 2)
		goto bad;
	const char *mode = argv[optind], *ifname = argv[optind + 1];
	int m_rx = !strcmp(mode, "rxdrop"), m_tx = !strcmp(mode, "txonly"), m_fwd = !strcmp(mode, "l2fwd");
	if (!m_rx && !m_tx && !m_fwd)
		goto bad;
	if (seconds <= 0 || seconds > 3600)
		DIE("--seconds must be in (0, 3600]");
	if (batch == 0 || batch > MAX_BATCH)
		DIE("--batch must be in 1..%d", MAX_BATCH);
	int ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		DIE("afpacket_ref: no interface %s in this namespace", ifname);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iovs[MAX_BATCH];
	unsigned long long count = 0;
	uint8_t *ring = NULL;
	int fd = open_socket(ifindex, !m_tx, busy, &ring);
	double t0 = now_s(), deadline = t0 + seconds;

	if (m_tx) {
		static uint8_t frame[TEMPLATE_MAX];
		if (build_template(frame, size, dst_mac, src_mac, src_ip, dst_ip))
			DIE("--size must be in %d..%d", TEMPLATE_MIN, TEMPLATE_MAX);
		for (unsigned i = 0; i < batch; i++) {
			iovs[i].iov_base = frame;
			iovs[i].iov_len = size;
			msgs[i].msg_hdr.msg_iov = &iovs[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		while (!stop_flag && now_s() < deadline) {
			int r = sendmmsg(fd, msgs, batch, 0);
			if (r < 0) {
				if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
					if (!busy) {
						struct pollfd p = {.fd = fd, .events = POLLOUT};
						poll(&p, 1, 10);
					}
					continue;
				}
				DIE("afpacket_ref: sendmmsg failed: %s", strerror(errno));
			}
			count += (unsigned)r;
		}
	} else {
		unsigned cur = 0;
		struct tpacket_block_desc *b;
		while ((b = next_block(fd, ring, cur, busy, deadline)) != NULL) {
			unsigned n = b->hdr.bh1.num_pkts;
			if (m_rx) {
				count += n;
			} else {
				struct tpacket3_hdr *h =
					(struct tpacket3_hdr *)((uint8_t *)b + b->hdr.bh1.offset_to_first_pkt);
				unsigned k = 0;
				for (unsigned i = 0; i < n; i++) {
					uint8_t *data = (uint8_t *)h + h->tp_mac;
					swap_macs(data);
					iovs[k].iov_base = data;
					iovs[k].iov_len = h->tp_snaplen;
					msgs[k].msg_hdr.msg_iov = &iovs[k];
					msgs[k].msg_hdr.msg_iovlen = 1;
					if (++k == batch) {
						count += send_all(fd, msgs, k);
						k = 0;
					}
					h = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
				}
				if (k)
					count += send_all(fd, msgs, k);
			}
			release_block(b);
			cur = (cur + 1) % BLOCK_NR;
			if (now_s() >= deadline)
				break;
		}
	}
	double el = now_s() - t0;
	print_result("afpacket", mode, count, el);
	if (!m_tx) {
		struct tpacket_stats_v3 st;
		socklen_t sl = sizeof(st);
		if (!getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl))
			fprintf(stderr, "afpacket_ref: tp_packets=%u tp_drops=%u tp_freeze_q_cnt=%u\n",
				st.tp_packets, st.tp_drops, st.tp_freeze_q_cnt);
		munmap(ring, (size_t)BLOCK_SIZE * BLOCK_NR);
	}
	close(fd);
	return 0;
bad:
	fprintf(stderr, "usage: afpacket_ref rxdrop|txonly|l2fwd IFACE [--seconds S] [--size B] [--batch N]\n"
			"       [--busy] [--dst-mac M] [--src-mac M] [--src-ip A] [--dst-ip A]\n");
	return 2;
}
