/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * dpdk_offload: DPDK 22.11 rte_gro / rte_gso micro-benchmark, the peer of
 * rust/xdpkt/examples/offload_bench.rs.  Both read the same input pcap
 * (written by bench/gen_capture.py) and print one JSON line per measurement.
 *
 *   dpdk_offload gro IN.pcap   every frame of IN.pcap is one poll's burst,
 *                              handed to rte_gro_reassemble_burst at once;
 *                              reports input packets/s and input Gbit/s.
 *   dpdk_offload gso IN.pcap   each frame is a TCP super-frame, cut by
 *                              rte_gso_segment at --mss; reports output
 *                              segments/s and output Gbit/s (frame bytes).
 *
 * One iteration = take fresh mbufs from the pool, copy the template frames
 * into them (the NIC's DMA; the Rust side does the same copy), parse them in
 * software (rte_net_get_ptype: rte_gro/rte_gso need l2/l3/l4_len and no NIC
 * gives those), run the engine, free every output back to the pool.
 *
 * Variants: "bare" is exactly that.  "equal" adds the work our engine does
 * and DPDK's does not: GRO verifies every input's IPv4 header checksum and TCP
 * checksum before reassembly (a bad one is not merged, as in the kernel) and
 * writes the IPv4 and full TCP checksum of every aggregate; GSO writes the
 * IPv4 header checksum and full TCP checksum of every segment.
 *
 * JSON fields beyond the common ones: in_per_iter / out_per_iter (packets in
 * and out of one iteration), bad_csum (inputs that failed verification),
 * outputs_valid (every output of one untimed iteration has valid IPv4 and TCP
 * checksums: false is expected for "bare", DPDK leaves them stale), cpu_pps /
 * cpu_gbps (rates per CPU-second of the process), *_reps (each repetition).
 *
 * DPDK 22.11 has neither TCP/IPv6 GRO nor TCP/IPv6 GSO (nor USO): an IPv6 or
 * UDP input prints a {"status":"no peer"} line and exits 0.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>

#include <rte_gro.h>
#include <rte_gso.h>
#include <rte_ethdev.h>
#include <rte_version.h>

#include "peer_common.h"

#define MAX_FRAMES 4096
#define MAX_SEGS 256

struct tpl {
	uint8_t *data;
	uint32_t len;
};

static struct tpl tpls[MAX_FRAMES];
static unsigned ntpl;

static void load_pcap(const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	if (p == NULL)
		DIE("%s: %s", path, err);
	if (pcap_datalink(p) != DLT_EN10MB)
		DIE("%s: link type %d is not Ethernet", path, pcap_datalink(p));
	struct pcap_pkthdr *h;
	const u_char *d;
	int rc;
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		if (ntpl == MAX_FRAMES)
			DIE("%s: more than %d frames", path, MAX_FRAMES);
		if (h->caplen != h->len)
			DIE("%s: frame %u truncated in the capture", path, ntpl);
		tpls[ntpl].data = malloc(h->caplen);
		if (tpls[ntpl].data == NULL)
			DIE("out of memory");
		memcpy(tpls[ntpl].data, d, h->caplen);
		tpls[ntpl].len = h->caplen;
		ntpl++;
	}
	if (rc == -1)
		DIE("%s: %s", path, pcap_geterr(p));
	pcap_close(p);
	if (ntpl == 0)
		DIE("%s: no frames", path);
}

/* "v4", "v6" or "other" from the template's ethertype / protocol */
static const char *frame_ip(const struct tpl *t, int *is_tcp)
{
	*is_tcp = 0;
	if (t->len < 14 + 20)
		return "other";
	uint16_t et = (uint16_t)(t->data[12] << 8 | t->data[13]);
	if (et == RTE_ETHER_TYPE_IPV4) {
		*is_tcp = t->data[14 + 9] == IPPROTO_TCP;
		return "v4";
	}
	if (et == RTE_ETHER_TYPE_IPV6) {
		*is_tcp = t->len > 14 + 6 && t->data[14 + 6] == IPPROTO_TCP;
		return "v6";
	}
	return "other";
}

struct opts {
	const char *mode, *path, *variant;
	double duration, warmup;
	unsigned reps, mss, lcore;
};

struct result {
	uint64_t in_pkts, in_bytes, out_pkts, out_bytes, bad;
};

/* ------------------------------------------------------------------ GRO */

static struct rte_mempool *gro_pool;
static struct rte_gro_param gro_param;

static int gro_iter(int equal, int check, struct result *r)
{
	struct rte_mbuf *mb[MAX_FRAMES];
	uint16_t n = (uint16_t)ntpl;
	if (rte_pktmbuf_alloc_bulk(gro_pool, mb, n) != 0)
		DIE("mbuf pool exhausted");
	for (uint16_t i = 0; i < n; i++) {
		if (peer_fill(mb[i], tpls[i].data, tpls[i].len) != 0)
			DIE("frame %u does not fit an mbuf", i);
		int tcp4 = peer_parse(mb[i]);
		if (equal && tcp4 && !peer_verify_tcp4(mb[i])) {
			/* a segment with a bad checksum passes through unmerged */
			mb[i]->packet_type = RTE_PTYPE_UNKNOWN;
			r->bad++;
		}
		r->in_bytes += tpls[i].len;
	}
	uint16_t nb = rte_gro_reassemble_burst(mb, n, &gro_param);
	int ok = 1;
	for (uint16_t i = 0; i < nb; i++) {
		if (equal && mb[i]->nb_segs > 1)
			peer_write_tcp4(mb[i], mb[i]->l2_len, mb[i]->l3_len);
		if (check && !peer_valid_tcp4(mb[i], mb[i]->l2_len, mb[i]->l3_len))
			ok = 0;
		r->out_bytes += mb[i]->pkt_len;
	}
	rte_pktmbuf_free_bulk(mb, nb);
	r->in_pkts += n;
	r->out_pkts += nb;
	return ok;
}

static void gro_setup(void)
{
	for (unsigned i = 0; i < ntpl; i++)
		if (tpls[i].len > RTE_MBUF_DEFAULT_DATAROOM)
			DIE("gro: frame %u is %u bytes, larger than an mbuf (%u)", i, tpls[i].len,
			    RTE_MBUF_DEFAULT_DATAROOM);
	gro_pool = rte_pktmbuf_pool_create("gro", 2 * ntpl + 1024, 256, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (gro_pool == NULL)
		DIE("gro mempool: %s", rte_strerror(rte_errno));
	gro_param.gro_types = RTE_GRO_TCP_IPV4;
	/* the library caps one burst's table at RTE_GRO_MAX_BURST_ITEM_NUM */
	gro_param.max_flow_num = RTE_GRO_MAX_BURST_ITEM_NUM;
	gro_param.max_item_per_flow = RTE_GRO_MAX_BURST_ITEM_NUM;
	gro_param.socket_id = (uint16_t)rte_socket_id();
}

/* ------------------------------------------------------------------ GSO */

static struct rte_mempool *gso_in_pool, *gso_direct, *gso_indirect;
static struct rte_gso_ctx gso_ctx;
static unsigned gso_next;

static int gso_iter(int equal, int check, struct result *r)
{
	struct rte_mbuf *segs[MAX_SEGS];
	const struct tpl *t = &tpls[gso_next];
	gso_next = (gso_next + 1) % ntpl;
	struct rte_mbuf *m = rte_pktmbuf_alloc(gso_in_pool);
	if (m == NULL)
		DIE("input mbuf pool exhausted");
	if (peer_fill(m, t->data, t->len) != 0)
		DIE("super-frame does not fit an mbuf");
	if (!peer_parse(m))
		DIE("gso: input is not TCP/IPv4");
	m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4;
	m->tso_segsz = 0; /* rte_gso uses ctx.gso_size, not the mbuf's */
	uint16_t l2 = m->l2_len, l3 = m->l3_len;
	int n = rte_gso_segment(m, &gso_ctx, segs, MAX_SEGS);
	if (n < 0)
		DIE("rte_gso_segment: %s", rte_strerror(-n));
	if (n == 0) { /* fits one segment: the packet itself goes out */
		segs[0] = m;
		n = 1;
		rte_mbuf_refcnt_update(m, 1);
	}
	int ok = 1;
	for (int j = 0; j < n; j++) {
		if (equal)
			peer_write_tcp4(segs[j], l2, l3);
		if (check && !peer_valid_tcp4(segs[j], l2, l3))
			ok = 0;
		r->out_bytes += segs[j]->pkt_len;
	}
	rte_pktmbuf_free_bulk(segs, (unsigned)n);
	/* the indirect mbufs held references; this drops the caller's one */
	rte_pktmbuf_free(m);
	r->in_pkts += 1;
	r->in_bytes += t->len;
	r->out_pkts += (uint64_t)n;
	return ok;
}

static void gso_setup(unsigned mss)
{
	gso_in_pool = rte_pktmbuf_pool_create("gso_in", 64, 0, 0, UINT16_MAX, (int)rte_socket_id());
	gso_direct = rte_pktmbuf_pool_create("gso_direct", 2048, 256, 0,
					     RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	gso_indirect = rte_pktmbuf_pool_create("gso_indirect", 2048, 256, 0, 0,
					       (int)rte_socket_id());
	if (!gso_in_pool || !gso_direct || !gso_indirect)
		DIE("gso mempools: %s", rte_strerror(rte_errno));
	/* header length from the first template: every template must match */
	struct rte_mbuf *m = rte_pktmbuf_alloc(gso_in_pool);
	if (m == NULL || peer_fill(m, tpls[0].data, tpls[0].len) != 0 || !peer_parse(m))
		DIE("gso: first frame is not TCP/IPv4 or too large");
	unsigned hdr = m->l2_len + m->l3_len + m->l4_len;
	rte_pktmbuf_free(m);
	gso_ctx.direct_pool = gso_direct;
	gso_ctx.indirect_pool = gso_indirect;
	gso_ctx.flag = 0; /* incrementing IPv4 IDs, as the kernel */
	gso_ctx.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
	/* rte_gso's gso_size is the whole output frame, headers included */
	if (hdr + mss > UINT16_MAX)
		DIE("mss too large");
	gso_ctx.gso_size = (uint16_t)(hdr + mss);
}

/* ------------------------------------------------------------- driver */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void measure(const struct opts *o, int equal, const char *ip)
{
	int (*iter)(int, int, struct result *) = strcmp(o->mode, "gro") == 0 ? gro_iter : gso_iter;
	int is_gro = iter == gro_iter;

	/* self-check (not timed): outputs of one iteration, checksums valid? */
	struct result chk = {0};
	int valid = iter(equal, 1, &chk);

	struct result w = {0};
	double t0 = now_s();
	while (now_s() - t0 < o->warmup)
		iter(equal, 0, &w);

	double pps[64], gbps[64], secs[64], cpu_pps[64], cpu_gbps[64], share[64];
	uint64_t iters_total = 0;
	struct result tot = {0};
	for (unsigned rep = 0; rep < o->reps; rep++) {
		struct result r = {0};
		uint64_t it = 0;
		double start = now_s(), cstart = cpu_s(), el;
		do {
			iter(equal, 0, &r);
			it++;
			el = now_s() - start;
		} while (el < o->duration);
		double cel = cpu_s() - cstart;
		uint64_t pk = is_gro ? r.in_pkts : r.out_pkts;
		uint64_t by = is_gro ? r.in_bytes : r.out_bytes;
		pps[rep] = (double)pk / el;
		gbps[rep] = (double)by * 8.0 / el / 1e9;
		secs[rep] = el;
		cpu_pps[rep] = (double)pk / cel;
		cpu_gbps[rep] = (double)by * 8.0 / cel / 1e9;
		share[rep] = cel / el;
		iters_total += it;
		tot.in_pkts += r.in_pkts;
		tot.out_pkts += r.out_pkts;
		tot.bad += r.bad;
	}
	double sp[64], sg[64], scp[64], scg[64];
	memcpy(sp, pps, sizeof(double) * o->reps);
	memcpy(sg, gbps, sizeof(double) * o->reps);
	memcpy(scp, cpu_pps, sizeof(double) * o->reps);
	memcpy(scg, cpu_gbps, sizeof(double) * o->reps);
	qsort(sp, o->reps, sizeof(double), cmp_double);
	qsort(sg, o->reps, sizeof(double), cmp_double);
	qsort(scp, o->reps, sizeof(double), cmp_double);
	qsort(scg, o->reps, sizeof(double), cmp_double);
	printf("{\"impl\":\"dpdk\",\"mode\":\"%s\",\"variant\":\"%s\",\"ip\":\"%s\","
	       "\"pps\":%.0f,\"gbps\":%.3f,\"cpu_pps\":%.0f,\"cpu_gbps\":%.3f,"
	       "\"iters\":%" PRIu64 ",\"reps\":%u,\"duration_s\":%.3f,"
	       "\"in_per_iter\":%" PRIu64 ",\"out_per_iter\":%" PRIu64 ",\"bad_csum\":%" PRIu64
	       ",\"outputs_valid\":%s,\"pps_reps\":[",
	       o->mode, equal ? "equal" : "bare", ip, sp[o->reps / 2], sg[o->reps / 2],
	       scp[o->reps / 2], scg[o->reps / 2], iters_total,
	       o->reps, o->duration, chk.in_pkts, chk.out_pkts, tot.bad, valid ? "true" : "false");
	for (unsigned i = 0; i < o->reps; i++)
		printf("%s%.0f", i ? "," : "", pps[i]);
	printf("],\"secs_reps\":[");
	for (unsigned i = 0; i < o->reps; i++)
		printf("%s%.3f", i ? "," : "", secs[i]);
	printf("],\"cpu_share_reps\":[");
	for (unsigned i = 0; i < o->reps; i++)
		printf("%s%.3f", i ? "," : "", share[i]);
	printf("],\"dpdk\":\"%s\"}\n", rte_version());
	fflush(stdout);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s gro|gso IN.pcap [--variant bare|equal|both] [--duration S] [--reps N]\n"
		"       [--warmup S] [--mss N] [--lcore N]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {.variant = "both", .duration = 1.0, .warmup = 0.3, .reps = 3, .mss = 1448};
	static const struct option lo[] = {{"variant", required_argument, 0, 'v'},
					   {"duration", required_argument, 0, 'd'},
					   {"warmup", required_argument, 0, 'w'},
					   {"reps", required_argument, 0, 'r'},
					   {"mss", required_argument, 0, 'm'},
					   {"lcore", required_argument, 0, 'l'},
					   {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'v': o.variant = optarg; break;
		case 'd': o.duration = atof(optarg); break;
		case 'w': o.warmup = atof(optarg); break;
		case 'r': o.reps = (unsigned)atoi(optarg); break;
		case 'm': o.mss = (unsigned)atoi(optarg); break;
		case 'l': o.lcore = (unsigned)atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (argc - optind != 2)
		usage(argv[0]);
	o.mode = argv[optind];
	o.path = argv[optind + 1];
	if (strcmp(o.mode, "gro") != 0 && strcmp(o.mode, "gso") != 0)
		usage(argv[0]);
	if (o.reps < 1 || o.reps > 64 || o.duration <= 0 || o.mss < 1 || o.mss > 65000)
		DIE("bad --reps (1..64), --duration (> 0) or --mss");
	int do_bare = strcmp(o.variant, "equal") != 0;
	int do_equal = strcmp(o.variant, "bare") != 0;

	load_pcap(o.path);
	int is_tcp;
	const char *ip = frame_ip(&tpls[0], &is_tcp);
	for (unsigned i = 1; i < ntpl; i++) {
		int t2;
		if (strcmp(frame_ip(&tpls[i], &t2), ip) != 0 || t2 != is_tcp)
			DIE("%s: mixed frame types; one workload per file", o.path);
	}
	if (strcmp(ip, "v4") != 0 || !is_tcp) {
		printf("{\"impl\":\"dpdk\",\"mode\":\"%s\",\"ip\":\"%s\",\"status\":\"no peer\","
		       "\"reason\":\"DPDK 22.11 %s supports TCP/IPv4 only\"}\n",
		       o.mode, ip, strcmp(o.mode, "gro") == 0 ? "rte_gro" : "rte_gso");
		return 0;
	}
	if (strcmp(o.mode, "gro") == 0 && ntpl > UINT16_MAX)
		DIE("gro: one burst holds at most 65535 frames");

	/* GSO: 64 x 64 KB input mbufs + header pools; GRO: a few MB */
	peer_eal_init(argv[0], o.lcore, 512);
	if (strcmp(o.mode, "gro") == 0)
		gro_setup();
	else
		gso_setup(o.mss);
	if (do_bare)
		measure(&o, 0, ip);
	if (do_equal)
		measure(&o, 1, ip);
	peer_eal_cleanup();
	for (unsigned i = 0; i < ntpl; i++)
		free(tpls[i].data);
	return 0;
}
