//! `Batch`: the skb list. An ordered run of packets handed between stages.
//!
//! A batch has a fixed capacity chosen up front and never grows, so the
//! datapath reuses the same batches poll after poll without allocating.

use crate::packet::Packet;

/// An ordered, bounded list of packets.
#[derive(Debug)]
pub struct Batch {
    pkts: Vec<Packet>,
    cap: usize,
}

impl Batch {
    /// A batch that holds at most `cap` packets (allocates once, here).
    pub fn with_capacity(cap: usize) -> Batch {
        Batch {
            pkts: Vec::with_capacity(cap),
            cap,
        }
    }
    pub fn capacity(&self) -> usize {
        self.cap
    }
    pub fn len(&self) -> usize {
        self.pkts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }
    pub fn is_full(&self) -> bool {
        self.pkts.len() >= self.cap
    }
    /// Free slots left.
    pub fn room(&self) -> usize {
        self.cap - self.pkts.len()
    }
    /// Appends a packet; hands it back when the batch is full.
    #[inline]
    pub fn push(&mut self, p: Packet) -> Result<(), Packet> {
        if self.pkts.len() >= self.cap {
            return Err(p);
        }
        self.pkts.push(p);
        Ok(())
    }
    pub fn iter(&self) -> core::slice::Iter<'_, Packet> {
        self.pkts.iter()
    }
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, Packet> {
        self.pkts.iter_mut()
    }
    pub fn get(&self, i: usize) -> Option<&Packet> {
        self.pkts.get(i)
    }
    /// Takes every packet out, in order, keeping the capacity.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Packet> {
        self.pkts.drain(..)
    }
    /// Takes the first `n` packets out (all of them when `n >= len`), in order,
    /// leaving the rest in the batch.
    pub fn drain_front(&mut self, n: usize) -> std::vec::Drain<'_, Packet> {
        let n = n.min(self.pkts.len());
        self.pkts.drain(..n)
    }
    /// Reverses the order of the packets in place (a stage that pops from the
    /// back reverses once to take them in order).
    pub fn reverse(&mut self) {
        self.pkts.reverse();
    }
    /// Moves packets from the front of this batch to the back of `dst`, in order,
    /// as many as `dst` has room for. Returns how many moved.
    pub fn move_front_into(&mut self, dst: &mut Batch) -> usize {
        let k = self.pkts.len().min(dst.room());
        dst.pkts.extend(self.pkts.drain(..k));
        k
    }
    /// Removes and returns the last packet.
    pub fn pop(&mut self) -> Option<Packet> {
        self.pkts.pop()
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = &'a Packet;
    type IntoIter = core::slice::Iter<'a, Packet>;
    fn into_iter(self) -> Self::IntoIter {
        self.pkts.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::FramePool;

    #[test]
    fn bounded_and_reusable() {
        let mut pool = FramePool::heap(8, 64);
        let mut b = Batch::with_capacity(2);
        b.push(pool.packet_from(&[1]).unwrap()).unwrap();
        b.push(pool.packet_from(&[2]).unwrap()).unwrap();
        let extra = pool.packet_from(&[3]).unwrap();
        let back = b.push(extra).unwrap_err();
        pool.release(back);
        assert!(b.is_full());
        for p in b.drain() {
            pool.release(p);
        }
        assert_eq!(b.capacity(), 2);
        assert_eq!(pool.free_count(), 8);
    }
}
