//! GRO counters, including why packets were passed through unmerged.

/// Counters of one [`Gro`](super::Gro) engine.
///
/// `packets_in` = packets handed to `receive`; `packets_out` = packets
/// delivered (pass-through, single held packets and aggregates). Once nothing
/// is held, `packets_in == packets_out + merged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroStats {
    /// Packets received.
    pub packets_in: u64,
    /// Packets delivered (aggregates count once).
    pub packets_out: u64,
    /// Segments merged into an aggregate (not counting each aggregate's first segment).
    pub merged: u64,
    /// Aggregates delivered (packets built from two or more segments).
    pub aggregates: u64,
    /// Held packets flushed early because the flow table was full.
    pub evicted: u64,
    /// Packets delivered at once, never held (see [`GroStats::reasons`]).
    pub passthrough: u64,
    counts: [u64; REASONS.len()],
}

/// Stable short names of the pass-through reasons, in reporting order.
///
/// The first group are GRO decisions; the second group are the
/// [`ParseError::reason`](crate::wire::ParseError::reason) names of malformed frames.
pub const REASONS: [&str; 27] = [
    // GRO decisions: well-formed, but not aggregated.
    "ipv4_options",
    "ip_csum",
    "tcp_csum",
    "udp_csum",
    "udp_csum_zero",
    "udp_len_mismatch",
    "ipv4_padding",
    "ipv6_payload_len_mismatch",
    "pure_ack",
    "tcp_flags",
    "not_tcp",
    "nonlinear",
    "gso",
    "no_room",
    // Malformed frames (ParseError::reason()).
    "truncated",
    "not_ip",
    "vlan_tags",
    "ip_version",
    "ipv4_header_len",
    "ipv4_total_len",
    "ipv6_payload_len",
    "not_tcp_udp",
    "tcp_header_len",
    "udp_len",
    "fragment",
    "ipv6_extension",
    // Any reason name not listed above (a ParseError variant added later).
    "other",
];

impl Default for GroStats {
    fn default() -> Self {
        GroStats {
            packets_in: 0,
            packets_out: 0,
            merged: 0,
            aggregates: 0,
            evicted: 0,
            passthrough: 0,
            counts: [0; REASONS.len()],
        }
    }
}

impl GroStats {
    /// Every pass-through reason with its count (zeros included), in a stable order.
    pub fn reasons(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REASONS
            .iter()
            .zip(self.counts.iter())
            .map(|(n, c)| (*n, *c))
    }

    /// The count for one reason name (0 for an unknown name).
    pub fn reason(&self, name: &str) -> u64 {
        REASONS
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Adds another engine's counters (a queue's GRO engine is replaced when GRO is
    /// switched off and on; its totals carry over).
    pub fn add(&mut self, o: &GroStats) {
        self.packets_in += o.packets_in;
        self.packets_out += o.packets_out;
        self.merged += o.merged;
        self.aggregates += o.aggregates;
        self.evicted += o.evicted;
        self.passthrough += o.passthrough;
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += *b;
        }
    }

    /// Counts one pass-through packet under `name`.
    pub(crate) fn bump(&mut self, name: &'static str) {
        self.passthrough += 1;
        let i = REASONS
            .iter()
            .position(|n| *n == name)
            .unwrap_or(REASONS.len() - 1);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ParseError;

    #[test]
    fn parse_reasons_are_listed() {
        // wire's own test pins ParseError::REASONS to the variants, one name each.
        let mut s = GroStats::default();
        for r in ParseError::REASONS {
            assert!(REASONS.contains(&r), "{r} missing");
            s.bump(r);
        }
        assert_eq!(s.passthrough, 12);
        assert_eq!(s.reason("other"), 0);
        assert_eq!(s.reasons().map(|(_, c)| c).sum::<u64>(), 12);
    }
}
