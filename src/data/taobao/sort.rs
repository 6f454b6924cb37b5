//! The per-user time sort of the Taobao reader: each user's rows (contiguous in the
//! file) are sorted by time with a stable sort, in place, on all cores. Users of up to
//! 256 rows go through the AVX2 sorting network of `bitonic` where the CPU has it, the
//! rest through the standard library's sort; while the items are being interned, the
//! other thread sorts the first users' times and actions ([`presort_users`]).

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::bitonic;
use super::take_front;

/// The per-user sort cuts the rows into about this many parts per thread, so that a busy
/// core delays only a small part.
const PIECES_PER_THREAD: usize = 4;

/// The users [`presort_users`] sorted: the first `sorted.len()` users, each one's rows in
/// time order when `sorted[u]`, with `order` giving the position its rows came from.
#[derive(Default)]
pub(super) struct Presorted {
    sorted: Vec<bool>,
    order: Vec<u8>,
}

/// Sorts the times and actions of users from the first on, until `stop()` (checked
/// between users) or the last; users the sorting network cannot take are left alone.
pub(super) fn presort_users(offsets: &[u32], ts: &mut [u32], action: &mut [u8], stop: impl Fn() -> bool) -> Presorted {
    let mut done = Presorted { sorted: Vec::new(), order: vec![0; ts.len()] };
    let mut keys = SortKeys::default();
    for w in offsets.windows(2) {
        if stop() {
            break;
        }
        let r = w[0] as usize..w[1] as usize;
        // Users already in order are left to the cheap check of the sort proper.
        if ts[r.clone()].windows(2).all(|p| p[0] <= p[1]) {
            done.sorted.push(false);
            continue;
        }
        done.sorted.push(keys.sort_times(&mut ts[r.clone()], &mut action[r.clone()], &mut done.order[r]));
    }
    done
}

/// Sorts the rows of each user (`offsets[u]..offsets[u + 1]`) by time with a stable
/// sort, in place and in parallel, and makes times relative to `base`; the users in
/// `pre` only have their items put in the order found.
pub(super) fn sort_users(offsets: &[u32], ts: &mut [u32], item: &mut [u32], action: &mut [u8], base: u32, pre: &Presorted) {
    let n_users = offsets.len().saturating_sub(1);
    let total = ts.len();
    let parts = rayon::current_num_threads().max(1) * PIECES_PER_THREAD;
    // Runs of whole users holding about equal numbers of rows.
    let mut cuts = vec![0usize];
    for p in 1..parts {
        let u = offsets.partition_point(|&o| (o as usize) < total * p / parts).min(n_users);
        if u > *cuts.last().unwrap_or(&0) {
            cuts.push(u);
        }
    }
    if n_users > *cuts.last().unwrap_or(&0) {
        cuts.push(n_users);
    }
    let mut jobs = Vec::with_capacity(cuts.len());
    let (mut ts, mut item, mut action) = (ts, item, action);
    for w in cuts.windows(2) {
        let offs = &offsets[w[0]..=w[1]];
        let n = (offs[offs.len() - 1] - offs[0]) as usize;
        let sorted = pre.sorted.get(w[0]..w[1].min(pre.sorted.len())).unwrap_or(&[]);
        jobs.push((offs, sorted, take_front(&mut ts, n), take_front(&mut item, n), take_front(&mut action, n)));
    }
    jobs.into_par_iter().for_each(|(offs, sorted, ts, item, action)| sort_part(offs, sorted, &pre.order, ts, item, action, base));
}

/// [`sort_users`] for one run of users; `offs` are absolute, the columns start at `offs[0]`;
/// `sorted` flags its first users as presorted, `order` is the whole file's.
fn sort_part(offs: &[u32], sorted: &[bool], order: &[u8], ts: &mut [u32], item: &mut [u32], action: &mut [u8], base: u32) {
    let start = offs.first().copied().unwrap_or(0);
    let mut keys = SortKeys::default();
    for (u, w) in offs.windows(2).enumerate() {
        let (s, e) = ((w[0] - start) as usize, (w[1] - start) as usize);
        if sorted.get(u) == Some(&true) {
            keys.apply_order(&mut item[s..e], &order[w[0] as usize..w[1] as usize]);
            continue;
        }
        let t = &mut ts[s..e];
        if t.windows(2).all(|p| p[0] <= p[1]) {
            continue;
        }
        keys.sort(t, &mut item[s..e], &mut action[s..e]);
    }
    for x in ts.iter_mut() {
        *x = x.saturating_sub(base);
    }
}

/// Scratch space of [`sort_part`], reused from user to user.
#[derive(Default)]
struct SortKeys {
    keys: Vec<u64>,
    items: Vec<u32>,
    actions: Vec<u8>,
    /// Where each row of a user sorted by the network came from.
    order: Vec<u8>,
    /// 32-bit keys for the sorting network.
    #[cfg(target_arch = "x86_64")]
    small: Vec<u32>,
}

impl SortKeys {
    /// Sorts one user's rows by time (stable). Each key is (time, position): unique, so an
    /// unstable sort gives the stable order.
    fn sort(&mut self, t: &mut [u32], item: &mut [u32], action: &mut [u8]) {
        if !self.sort_small(t, item, action) {
            self.sort_wide(t, item, action);
        }
    }

    /// [`Self::sort`] through the AVX2 sorting network, when the CPU has it and the keys
    /// (time since the user's first, position) fit 32 bits: at most [`bitonic::MAX`] rows
    /// spanning less than 2^24 seconds (194 days) or more when fewer rows. False when not.
    fn sort_small(&mut self, t: &mut [u32], item: &mut [u32], action: &mut [u8]) -> bool {
        let mut order = std::mem::take(&mut self.order);
        order.resize(t.len(), 0);
        let done = self.sort_times(t, action, &mut order);
        if done {
            self.apply_order(item, &order);
        }
        self.order = order;
        done
    }

    /// The sorting network's keys of `t` sorted, in `self.small[..t.len()]`: returns
    /// (bits of the position, the earliest time), or None when it cannot take them.
    #[cfg(target_arch = "x86_64")]
    fn sorted_keys(&mut self, t: &[u32]) -> Option<(u32, u32)> {
        let n = t.len();
        if !(2..=bitonic::MAX).contains(&n) || !bitonic::available() {
            return None;
        }
        let (lo, hi) = t.iter().fold((u32::MAX, 0), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let shift = usize::BITS - (n - 1).leading_zeros();
        // Keys stay below u32::MAX, the padding.
        if u64::from(hi - lo) >= (1u64 << (32 - shift)) - 1 {
            return None;
        }
        let size = n.next_power_of_two().max(8);
        self.small.resize(bitonic::MAX, 0);
        let keys = <&mut [u32; bitonic::MAX]>::try_from(&mut self.small[..]).ok()?;
        for (j, (k, &x)) in keys.iter_mut().zip(t.iter()).enumerate() {
            *k = (x - lo) << shift | j as u32;
        }
        keys[n..size].fill(u32::MAX);
        // SAFETY: `available` said the CPU has AVX2.
        unsafe { bitonic::sort(keys, size) };
        Some((shift, lo))
    }

    /// [`Self::sort`] of the times and actions only, writing where each row came from
    /// into `order` (for [`Self::apply_order`] on the items later); false, having changed
    /// nothing, when the sorting network cannot take the user.
    fn sort_times(&mut self, t: &mut [u32], action: &mut [u8], order: &mut [u8]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some((shift, lo)) = self.sorted_keys(t) {
            let mask = (1u32 << shift) - 1;
            let Self { actions, small, .. } = self;
            let keys = &small[..t.len()];
            actions.clear();
            actions.extend(keys.iter().map(|&k| action[(k & mask) as usize]));
            action.copy_from_slice(actions);
            // At most 256 rows: a position fits a byte.
            for ((x, o), &k) in t.iter_mut().zip(order.iter_mut()).zip(keys) {
                *x = (k >> shift) + lo;
                *o = (k & mask) as u8;
            }
            return true;
        }
        let _ = (t, action, order);
        false
    }

    /// Puts `item` in the `order` [`Self::sort_times`] found.
    fn apply_order(&mut self, item: &mut [u32], order: &[u8]) {
        self.items.clear();
        self.items.extend(order.iter().map(|&j| item[usize::from(j)]));
        item.copy_from_slice(&self.items);
    }

    /// [`Self::sort`] with 64-bit keys and the standard library's sort: any user.
    fn sort_wide(&mut self, t: &mut [u32], item: &mut [u32], action: &mut [u8]) {
        let Self { keys, items, actions, .. } = self;
        keys.clear();
        keys.extend(t.iter().enumerate().map(|(j, &x)| u64::from(x) << 32 | j as u64));
        keys.sort_unstable();
        items.clear();
        items.extend(keys.iter().map(|&k| item[(k as u32) as usize]));
        actions.clear();
        actions.extend(keys.iter().map(|&k| action[(k as u32) as usize]));
        item.copy_from_slice(items);
        action.copy_from_slice(actions);
        for (x, &k) in t.iter_mut().zip(keys.iter()) {
            *x = (k >> 32) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_sort_is_stable() {
        let mut rng = crate::util::rng::Rng::new(3);
        let mut keys = SortKeys::default();
        // Short and long users, narrow and wide time spans, many ties and none.
        for (n, span) in [(2, 3), (7, 1), (100, 1000), (300, 1 << 22), (300, 1 << 24), (5, u32::MAX as u64)] {
            let mut t: Vec<u32> = (0..n).map(|_| rng.below(span) as u32).collect();
            let mut item: Vec<u32> = (0..n as u32).collect();
            let mut action: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut want: Vec<(u32, u32)> = t.iter().copied().zip(item.iter().copied()).collect();
            want.sort_by_key(|p| p.0);
            keys.sort(&mut t, &mut item, &mut action);
            let got: Vec<(u32, u32)> = t.iter().copied().zip(item.iter().copied()).collect();
            assert_eq!(got, want, "n {n} span {span}");
            assert!(item.iter().zip(&action).all(|(&i, &a)| a == i as u8));
        }
    }
}
