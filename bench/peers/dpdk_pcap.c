/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * dpdk_pcap: the whole-file job of `xdpkt gro|gso IN.pcap OUT.pcap`, done with
 * DPDK 22.11's engines and libpcap -- the peer of the CLI comparison.
 *
 *   dpdk_pcap gro IN.pcap OUT.pcap [--burst N]
 *       reads N frames at a time (one "poll"), rte_gro_reassemble_burst,
 *       writes the aggregates and the frames it left alone.
 *   dpdk_pcap gso IN.pcap OUT.pcap [--mss N]
 *       every TCP/IPv4 frame whose payload exceeds the MSS is cut by
 *       rte_gso_segment; everything else is written unchanged.
 *
 * Always with equal work (the CLI writes valid frames): GRO verifies the
 * IPv4 and TCP checksum of every TCP/IPv4 input (bad ones pass through
 * unmerged) and writes both checksums of every aggregate; GSO writes both
 * checksums of every segment.  Frames are copied into mbufs (as the CLI
 * copies them into its frame pool) and chained outputs are linearised into
 * one buffer for pcap_dump (as the CLI writes contiguous frames).
 *
 * A summary line goes to stderr: frames in/out, seconds inside the loop.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>

#include <rte_ethdev.h>
#include <rte_gro.h>
#include <rte_gso.h>

#include "peer_common.h"

#define MAX_BURST 1024
#define MAX_SEGS 256
#define SNAPLEN 262144

struct ts_priv {
	struct timeval ts;
};

static uint8_t linear[SNAPLEN];
static uint64_t frames_in, frames_out, bytes_out, passed, bad_csum;

static void dump(pcap_dumper_t *d, struct rte_mbuf *m, const struct timeval *ts)
{
	struct pcap_pkthdr h;
	const uint8_t *p;
	if (m->nb_segs == 1) {
		p = rte_pktmbuf_mtod(m, const uint8_t *);
	} else {
		p = rte_pktmbuf_read(m, 0, m->pkt_len, linear);
		if (p == NULL)
			DIE("cannot linearise an output of %u bytes", m->pkt_len);
	}
	h.ts = *ts;
	h.caplen = h.len = m->pkt_len;
	pcap_dump((u_char *)d, &h, p);
	frames_out++;
	bytes_out += m->pkt_len;
}

static struct timeval *ts_of(struct rte_mbuf *m)
{
	return &((struct ts_priv *)rte_mbuf_to_priv(m))->ts;
}

static void run_gro(pcap_t *in, pcap_dumper_t *out, unsigned burst)
{
	struct rte_mempool *pool = rte_pktmbuf_pool_create(
		"pcap_gro", 4 * MAX_BURST, 256, sizeof(struct ts_priv), RTE_MBUF_DEFAULT_BUF_SIZE,
		(int)rte_socket_id());
	if (pool == NULL)
		DIE("mempool: %s", rte_strerror(rte_errno));
	struct rte_gro_param param = {
		.gro_types = RTE_GRO_TCP_IPV4,
		.max_flow_num = RTE_GRO_MAX_BURST_ITEM_NUM,
		.max_item_per_flow = RTE_GRO_MAX_BURST_ITEM_NUM,
		.socket_id = (uint16_t)rte_socket_id(),
	};
	struct rte_mbuf *mb[MAX_BURST];
	struct pcap_pkthdr *h;
	const u_char *d;
	int rc = 1;
	while (rc == 1) {
		uint16_t n = 0;
		while (n < burst && (rc = pcap_next_ex(in, &h, &d)) == 1) {
			frames_in++;
			struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
			if (m == NULL)
				DIE("mbuf pool exhausted");
			*ts_of(m) = h->ts;
			if (h->caplen > RTE_MBUF_DEFAULT_DATAROOM || h->caplen != h->len) {
				/* too big for an mbuf, or truncated: written unchanged,
				 * ahead of the burst it arrived in (never in our inputs) */
				struct pcap_pkthdr hh = *h;
				pcap_dump((u_char *)out, &hh, d);
				frames_out++;
				bytes_out += h->caplen;
				passed++;
				rte_pktmbuf_free(m);
				continue;
			}
			peer_fill(m, d, h->caplen);
			if (peer_parse(m) && !peer_verify_tcp4(m)) {
				m->packet_type = RTE_PTYPE_UNKNOWN;
				bad_csum++;
			}
			mb[n++] = m;
		}
		if (rc == -1)
			DIE("read: %s", pcap_geterr(in));
		if (n == 0)
			break;
		uint16_t nb = rte_gro_reassemble_burst(mb, n, &param);
		for (uint16_t i = 0; i < nb; i++) {
			if (mb[i]->nb_segs > 1)
				peer_write_tcp4(mb[i], mb[i]->l2_len, mb[i]->l3_len);
			dump(out, mb[i], ts_of(mb[i]));
		}
		rte_pktmbuf_free_bulk(mb, nb);
	}
}

static void run_gso(pcap_t *in, pcap_dumper_t *out, unsigned mss)
{
	struct rte_mempool *in_pool = rte_pktmbuf_pool_create("pcap_gso_in", 64, 0, 0, UINT16_MAX,
							      (int)rte_socket_id());
	struct rte_mempool *direct = rte_pktmbuf_pool_create(
		"pcap_gso_direct", 2048, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	struct rte_mempool *indirect =
		rte_pktmbuf_pool_create("pcap_gso_indirect", 2048, 256, 0, 0, (int)rte_socket_id());
	if (!in_pool || !direct || !indirect)
		DIE("mempools: %s", rte_strerror(rte_errno));
	struct rte_gso_ctx ctx = {
		.direct_pool = direct,
		.indirect_pool = indirect,
		.flag = 0,
		.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO,
	};
	struct rte_mbuf *segs[MAX_SEGS];
	struct pcap_pkthdr *h;
	const u_char *d;
	int rc;
	while ((rc = pcap_next_ex(in, &h, &d)) == 1) {
		frames_in++;
		if (h->caplen != h->len || h->caplen > UINT16_MAX - RTE_PKTMBUF_HEADROOM) {
			/* truncated or larger than any mbuf: written unchanged */
			struct pcap_pkthdr hh = *h;
			pcap_dump((u_char *)out, &hh, d);
			frames_out++;
			bytes_out += h->caplen;
			passed++;
			continue;
		}
		struct rte_mbuf *m = rte_pktmbuf_alloc(in_pool);
		if (m == NULL)
			DIE("input mbuf pool exhausted");
		peer_fill(m, d, h->caplen);
		int n = 0;
		uint16_t l2 = 0, l3 = 0;
		if (peer_parse(m)) {
			l2 = m->l2_len;
			l3 = m->l3_len;
			unsigned hdr = (unsigned)l2 + l3 + m->l4_len;
			if (m->pkt_len > hdr + mss) {
				m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4;
				ctx.gso_size = (uint16_t)(hdr + mss);
				n = rte_gso_segment(m, &ctx, segs, MAX_SEGS);
				if (n < 0)
					DIE("rte_gso_segment: %s", rte_strerror(-n));
			}
		}
		if (n == 0) {
			dump(out, m, &h->ts);
			passed++;
		} else {
			for (int j = 0; j < n; j++) {
				peer_write_tcp4(segs[j], l2, l3);
				dump(out, segs[j], &h->ts);
			}
			rte_pktmbuf_free_bulk(segs, (unsigned)n);
		}
		rte_pktmbuf_free(m);
	}
	if (rc == -1)
		DIE("read: %s", pcap_geterr(in));
}

int main(int argc, char **argv)
{
	unsigned burst = 64, mss = 1448, lcore = 0;
	static const struct option lo[] = {{"burst", required_argument, 0, 'b'},
					   {"mss", required_argument, 0, 'm'},
					   {"lcore", required_argument, 0, 'l'},
					   {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b': burst = (unsigned)atoi(optarg); break;
		case 'm': mss = (unsigned)atoi(optarg); break;
		case 'l': lcore = (unsigned)atoi(optarg); break;
		default: goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	const char *mode = argv[optind], *inp = argv[optind + 1], *outp = argv[optind + 2];
	int gro = strcmp(mode, "gro") == 0;
	if (!gro && strcmp(mode, "gso") != 0)
		goto usage;
	if (burst < 1 || burst > MAX_BURST || mss < 1 || mss > 65000)
		DIE("--burst must be 1..%d, --mss 1..65000", MAX_BURST);

	char err[PCAP_ERRBUF_SIZE];
	pcap_t *in = pcap_open_offline(inp, err);
	if (in == NULL)
		DIE("%s: %s", inp, err);
	if (pcap_datalink(in) != DLT_EN10MB)
		DIE("%s: link type %d is not Ethernet", inp, pcap_datalink(in));
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, SNAPLEN);
	pcap_dumper_t *out = pcap_dump_open(dead, outp);
	if (out == NULL)
		DIE("%s: %s", outp, pcap_geterr(dead));

	peer_eal_init(argv[0], lcore, 512);
	double t0 = now_s();
	if (gro)
		run_gro(in, out, burst);
	else
		run_gso(in, out, mss);
	pcap_dump_close(out);
	double el = now_s() - t0;
	pcap_close(dead);
	pcap_close(in);
	fprintf(stderr,
		"dpdk_pcap %s: %" PRIu64 " frames in, %" PRIu64 " frames out (%" PRIu64
		" bytes), %" PRIu64 " passed unchanged, %" PRIu64 " bad checksums, %.3f s\n",
		mode, frames_in, frames_out, bytes_out, passed, bad_csum, el);
	peer_eal_cleanup();
	return 0;
usage:
	fprintf(stderr, "usage: %s gro|gso IN.pcap OUT.pcap [--burst N] [--mss N] [--lcore N]\n",
		argv[0]);
	return 2;
}
