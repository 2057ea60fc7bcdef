/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Shared pieces of the DPDK 22.11 peer harnesses (bench/peers/):
 * EAL start-up without hugepages or devices, the per-frame work that makes
 * "equal work" (software parse, checksum verify, checksum write), and a
 * monotonic clock.  Everything the peers measure goes through these helpers,
 * so the bare and the equal-work variants differ only where they say so.
 */
#ifndef XDPKT_PEER_COMMON_H
#define XDPKT_PEER_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_net.h>
#include <rte_tcp.h>

#define DIE(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "error: " __VA_ARGS__);                                            \
		fputc('\n', stderr);                                                               \
		exit(2);                                                                           \
	} while (0)

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all threads): on a shared machine the rate
 * per CPU-second is steadier than the rate per wall-second. */
static inline double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char peer_runtime_dir[PATH_MAX];

/* Removes the runtime directory the EAL made (also on an error exit). */
static void peer_remove_runtime_dir(void)
{
	if (peer_runtime_dir[0] == '\0')
		return;
	DIR *d = opendir(peer_runtime_dir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char f[PATH_MAX + 256];
			snprintf(f, sizeof f, "%s/%s", peer_runtime_dir, e->d_name);
			unlink(f);
		}
		closedir(d);
	}
	rmdir(peer_runtime_dir);
	peer_runtime_dir[0] = '\0';
}

static inline void peer_eal_cleanup(void)
{
	rte_eal_cleanup();
	peer_remove_runtime_dir();
}

/* Start the EAL as a plain process: no hugepages (anonymous memory instead),
 * no PCI scan, one lcore, no shared config files (--no-shconf; --in-memory
 * is refused together with --no-huge), no telemetry socket, and a
 * per-process file prefix so two runs never collide.  peer_eal_cleanup()
 * removes the (empty) runtime directory the EAL still creates. */
static inline void peer_eal_init(const char *prog, unsigned lcore, unsigned mem_mb)
{
	char lc[16], mem[16], prefix[64];
	snprintf(lc, sizeof lc, "%u", lcore);
	snprintf(mem, sizeof mem, "%u", mem_mb);
	snprintf(prefix, sizeof prefix, "--file-prefix=xdpkt_peer_%ld", (long)getpid());
	char *eal_argv[] = {(char *)prog,        "--no-huge",       "--no-pci",
			    "-l",                lc,                "-m",
			    mem,                 "--no-shconf",     prefix,
			    "--no-telemetry",    "--log-level=error", NULL};
	int eal_argc = (int)(sizeof eal_argv / sizeof eal_argv[0]) - 1;
	if (rte_eal_init(eal_argc, eal_argv) < 0)
		DIE("rte_eal_init failed: %s", rte_strerror(rte_errno));
	snprintf(peer_runtime_dir, sizeof peer_runtime_dir, "%s", rte_eal_get_runtime_dir());
	atexit(peer_remove_runtime_dir);
}

/* Software parse of a received frame, the way an application feeding
 * rte_gro/rte_gso must fill packet_type and l2/l3/l4_len (NICs report a
 * packet type at best, never the header lengths).  Returns 1 for TCP/IPv4
 * without tunnel, 0 otherwise. */
static inline int peer_parse(struct rte_mbuf *m)
{
	struct rte_net_hdr_lens hl;
	uint32_t pt = rte_net_get_ptype(m, &hl, RTE_PTYPE_ALL_MASK);
	m->packet_type = pt;
	m->l2_len = hl.l2_len;
	m->l3_len = hl.l3_len;
	m->l4_len = hl.l4_len;
	return RTE_ETH_IS_IPV4_HDR(pt) && (pt & RTE_PTYPE_L4_MASK) == RTE_PTYPE_L4_TCP &&
	       !RTE_ETH_IS_TUNNEL_PKT(pt);
}

static inline struct rte_ipv4_hdr *peer_ip4(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, m->l2_len);
}

static inline struct rte_tcp_hdr *peer_tcp(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, m->l2_len + m->l3_len);
}

/* Equal work on the receive side: what our GRO does before it may merge a
 * segment -- the IPv4 header checksum and the TCP checksum must be valid
 * (CONFORMANCE.md: bad checksums are never merged).  Contiguous frame. */
static inline int peer_verify_tcp4(struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip = peer_ip4(m);
	if (rte_ipv4_cksum(ip) != 0) /* sum over a valid header folds to 0xffff */
		return 0;
	return rte_ipv4_udptcp_cksum_verify(ip, peer_tcp(m)) == 0;
}

/* Equal work on an output packet (GRO aggregate or GSO segment, possibly a
 * chain of mbufs): write the IPv4 header checksum and the full TCP checksum. */
static inline void peer_write_tcp4(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, l2_len);
	struct rte_tcp_hdr *tcp = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, l2_len + l3_len);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	tcp->cksum = 0;
	tcp->cksum = rte_ipv4_udptcp_cksum_mbuf(m, ip, l2_len + l3_len);
}

/* Is an output packet's checksum pair valid?  (self-check, not timed) */
static inline int peer_valid_tcp4(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, l2_len);
	if (rte_ipv4_cksum(ip) != 0)
		return 0;
	return rte_ipv4_udptcp_cksum_mbuf_verify(m, ip, l2_len + l3_len) == 0;
}

/* Copy one template frame into a fresh mbuf: the NIC's DMA into an RX
 * buffer.  Our Rust bench does the same copy (pool.packet_from). */
static inline int peer_fill(struct rte_mbuf *m, const uint8_t *data, uint32_t len)
{
	char *p = rte_pktmbuf_append(m, (uint16_t)len);
	if (p == NULL)
		return -1;
	rte_memcpy(p, data, len);
	return 0;
}

#endif
