/* Shared helpers for the benchmark peers: raw BPF instruction encoding,
 * the UDP/IPv4 template frame, clocks, and the one-line JSON result.
 * Everything here is written for this project; the peers exist only to give
 * `xdpkt bench` something honest to be compared with. */
#ifndef XDPKT_PEERS_COMMON_H
#define XDPKT_PEERS_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/bpf.h>

/* --- BPF instruction encoding (struct bpf_insn from the uapi header). --- */
static inline struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
	return i;
}
#define I_MOV64_IMM(dst, imm) insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define I_MOV64_REG(dst, src) insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define I_ADD64_IMM(dst, imm) insn(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)
#define I_LDX_W(dst, src, off) insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define I_LDX_DW(dst, src, off) insn(BPF_LDX | BPF_MEM | BPF_DW, dst, src, off, 0)
#define I_STX_DW(dst, src, off) insn(BPF_STX | BPF_MEM | BPF_DW, dst, src, off, 0)
#define I_ST_W(dst, off, imm) insn(BPF_ST | BPF_MEM | BPF_W, dst, 0, off, imm)
#define I_JEQ_IMM(dst, imm, off) insn(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm)
#define I_CALL(fn) insn(BPF_JMP | BPF_CALL, 0, 0, 0, fn)
#define I_EXIT() insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* A map fd is a 64-bit immediate split over two slots; src_reg marks it as a map fd. */
#define I_LD_MAP_FD(dst, fd) \
	insn(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd), insn(0, 0, 0, 0, 0)

/* offsetof(struct xdp_md, rx_queue_index) */
#define XDP_MD_RX_QUEUE_INDEX 16

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void print_result(const char *impl, const char *mode, unsigned long long packets,
				double seconds)
{
	double mpps = seconds > 0 ? (double)packets / seconds / 1e6 : 0.0;
	printf("{\"impl\":\"%s\",\"mode\":\"%s\",\"packets\":%llu,\"seconds\":%.3f,\"mpps\":%.4f}\n",
	       impl, mode, packets, seconds, mpps);
	fflush(stdout);
}

static inline uint16_t csum_fold32(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint32_t csum_add_bytes(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* Minimum and maximum frame sizes the template builder accepts (no FCS). */
#define TEMPLATE_MIN 60
#define TEMPLATE_MAX 1514

/* Build an Ethernet/IPv4/UDP frame of `size` bytes (60..1514) from src to dst
 * in 198.18.0.0/15, UDP 9 -> 9 (discard), full IPv4 and UDP checksums.
 * Returns 0, or -1 if the size is out of range. */
static inline int build_template(uint8_t *buf, size_t size, const uint8_t dst_mac[6],
				 const uint8_t src_mac[6], uint32_t src_ip, uint32_t dst_ip)
{
	if (size < TEMPLATE_MIN || size > TEMPLATE_MAX)
		return -1;
	memset(buf, 0, size);
	memcpy(buf, dst_mac, 6);
	memcpy(buf + 6, src_mac, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	uint8_t *ip = buf + 14;
	size_t ip_len = size - 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;   /* TTL */
	ip[9] = 17;   /* UDP */
	uint32_t s = htonl(src_ip), d = htonl(dst_ip);
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	uint16_t ipsum = csum_fold32(csum_add_bytes(0, ip, 20));
	ip[10] = (uint8_t)(ipsum >> 8);
	ip[11] = (uint8_t)ipsum;
	uint8_t *udp = ip + 20;
	size_t udp_len = ip_len - 20;
	udp[1] = 9;
	udp[3] = 9;
	udp[4] = (uint8_t)(udp_len >> 8);
	udp[5] = (uint8_t)udp_len;
	for (size_t i = 8; i < udp_len; i++)
		udp[i] = (uint8_t)i;
	uint32_t sum = csum_add_bytes(0, ip + 12, 8); /* pseudo header: addresses */
	sum += 17 + (uint32_t)udp_len;
	sum = csum_add_bytes(sum, udp, udp_len);
	uint16_t us = csum_fold32(sum);
	if (us == 0)
		us = 0xffff; /* RFC 768: a computed zero is sent as all ones */
	udp[6] = (uint8_t)(us >> 8);
	udp[7] = (uint8_t)us;
	return 0;
}

/* "02:00:00:00:00:01" -> 6 bytes; returns 0 or -1. */
static inline int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -1;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

/* Dotted quad in 198.18.0.0/15 only (network safety rule). Returns 0 or -1. */
static inline int parse_bench_ip(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	uint32_t h = ntohl(a.s_addr);
	if ((h & 0xfffe0000u) != 0xc6120000u)
		return -1;
	*out = h;
	return 0;
}

static inline void swap_macs(uint8_t *frame)
{
	uint8_t tmp[6];
	memcpy(tmp, frame, 6);
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, tmp, 6);
}

#define DIE(...)                                      \
	do {                                          \
		fprintf(stderr, __VA_ARGS__);         \
		fputc('\n', stderr);                  \
		exit(1);                              \
	} while (0)

#endif
