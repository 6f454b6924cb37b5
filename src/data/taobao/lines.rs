//! The fast line parsers of the Taobao reader: they take runs of well-formed lines
//! (`u,i,c,behavior,ts` then `\n` or `\r\n`, ids of up to 8 digits, times of up to
//! 11, so always within the years 0000-9999) and stop at the first line they cannot
//! take, which then goes to the careful parser. Two of them: a portable one that reads 8 bytes at a time, and on
//! x86-64 CPUs with AVX2 one that finds every separator of a line in one step.

use super::{Action, Fields, Sink};

/// Parses the well-formed lines from `at` on into `sink` with the fastest parser this CPU
/// has; returns where it stopped (the first line it could not take, or the end), or None
/// when the sink refused a row.
pub(super) fn fast_lines<S: Sink>(bytes: &[u8], at: usize, sink: &mut S) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the CPU has every feature `avx2::lines` is compiled for.
        return unsafe { avx2::lines(bytes, at, sink) };
    }
    word_lines(bytes, at, sink)
}

/// [`fast_lines`] with the portable word parser.
pub(super) fn word_lines<S: Sink>(bytes: &[u8], mut at: usize, sink: &mut S) -> Option<usize> {
    let mut n = 0;
    while let Some((f, next)) = fast_line(bytes, at) {
        if !sink.put(f) {
            return None;
        }
        n += 1;
        at = next;
    }
    sink.tally().lines += n;
    Some(at)
}

/// Parses the well-formed line starting at `at` (`u,i,c,behavior,ts` then `\n` or
/// `\r\n`); returns its fields and where the next line starts, or None when the line
/// needs the careful parser (as do the last line or two of a piece, where the word
/// loads would run past its end).
///
/// Reads 8 bytes at a time: each field's length comes from a bit mask of its non-digit
/// bytes and its value from a few multiplications, so the loop does not branch once per
/// byte (field lengths vary from line to line and such branches mispredict). Ids of more
/// than 8 digits and times of more than 11 take the careful path.
#[inline(always)]
pub(super) fn fast_line(bytes: &[u8], at: usize) -> Option<(Fields, usize)> {
    let window = bytes.get(at..at + LINE_WINDOW)?;
    word_line(window.try_into().ok()?).map(|(f, len)| (f, at + len))
}

/// Bytes [`word_line`] looks at: the longest line it accepts (8 + 8 + 8 digits, `cart`,
/// 11 digits, separators, `\r\n`) plus the tail of its last 8-byte load.
pub(super) const LINE_WINDOW: usize = 64;

/// The 8 bytes at `at` as a little-endian word, each minus `'0'` (digits become 0..=9).
#[inline]
fn word(w: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = w.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b) ^ 0x3030_3030_3030_3030)
}

/// How many leading bytes of `x` (from [`word`]) are digits (8 when all are).
#[inline]
fn digit_count(x: u64) -> usize {
    // A byte's high bit ends up set when it is not 0..=9 ('0'..='9' before the xor); the
    // low 7 bits are added separately so that no carry crosses into the next byte.
    let not_digit = (((x & 0x7F7F_7F7F_7F7F_7F7F) + 0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080;
    not_digit.trailing_zeros() as usize / 8
}

/// The value of the first `len` (1..=8) digits of `x` (from [`word`]).
#[inline(always)]
fn digits_value(x: u64, len: usize) -> u64 {
    // Shift the digits to the top so the number reads as 8 digits with leading zeros, then
    // combine pairs, fours and eights in three multiply steps.
    let v = x << (8 * (8 - len));
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let lo = (v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let hi = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    lo.wrapping_add(hi) >> 32
}

/// An id of 1..=8 digits at `at` ended by a comma: (value, index of the comma).
#[inline]
fn word_id(w: &[u8; LINE_WINDOW], at: usize) -> Option<(u64, usize)> {
    let x = word(w, at)?;
    let len = digit_count(x);
    (len >= 1 && w.get(at + len) == Some(&b',')).then(|| (digits_value(x, len), at + len))
}

/// [`fast_line`] on the window at a line start: (fields, length of the line with its end).
#[inline(always)]
fn word_line(w: &[u8; LINE_WINDOW]) -> Option<(Fields, usize)> {
    let (user, at) = word_id(w, 0)?;
    let (item, at) = word_id(w, at + 1)?;
    let (cat, at) = word_id(w, at + 1)?;
    let at = at + 1;
    let tag: [u8; 4] = w.get(at..at + 4)?.try_into().ok()?;
    let (action, at) = match &tag {
        [b'p', b'v', b',', _] => (Action::Click, at + 3),
        b"buy," => (Action::Buy, at + 4),
        b"fav," => (Action::Fav, at + 4),
        b"cart" if w.get(at + 4) == Some(&b',') => (Action::Cart, at + 5),
        _ => return None,
    };
    let x = word(w, at)?;
    let (ts, end) = match digit_count(x) {
        0 => return None,
        8 => {
            const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];
            let y = word(w, at + 8)?;
            match digit_count(y) {
                0 => (digits_value(x, 8), at + 8),
                len @ 1..=3 => (digits_value(x, 8) * POW10[len] + digits_value(y, len), at + 8 + len),
                _ => return None,
            }
        }
        len => (digits_value(x, len), at + len),
    };
    let next = match (w.get(end), w.get(end + 1)) {
        (Some(b'\n'), _) => end + 1,
        (Some(b'\r'), Some(b'\n')) => end + 2,
        _ => return None,
    };
    Some((Fields { user, item, cat, action: action as u8, ts: ts as i64 }, next))
}

/// The AVX2 parser: one line's 64-byte window is compared with `,`, `\n` and the digits
/// in a few vector instructions, and the separators' positions come from the bit masks,
/// so no field waits for the previous one's length; the values come from the same
/// multiply steps as the word parser's.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::{__m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8, _mm256_set1_epi8, _mm256_sub_epi8};

    use super::{Action, Fields, Sink, digits_value, word};

    /// Bytes [`line`] looks at: a 64-byte line window and the tail of an 8-byte load at its end.
    pub(in super::super) const WINDOW: usize = 72;

    /// Whether this CPU can run [`lines`] (the answer is cached by the standard library).
    pub(in super::super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("bmi1") && std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("popcnt")
    }

    /// [`super::fast_lines`] with the AVX2 parser.
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt")]
    pub(in super::super) fn lines<S: Sink>(bytes: &[u8], mut at: usize, sink: &mut S) -> Option<usize> {
        let mut n = 0;
        while let Some(w) = bytes.get(at..at + WINDOW).and_then(|w| <&[u8; WINDOW]>::try_from(w).ok()) {
            // SAFETY: this function runs only where the CPU has AVX2.
            let Some((f, len)) = (unsafe { line(w) }) else { break };
            if !sink.put(f) {
                return None;
            }
            n += 1;
            at += len;
        }
        sink.tally().lines += n;
        Some(at)
    }

    /// The 64 bytes of `w` that equal `c`, as a bit mask.
    #[inline(always)]
    unsafe fn equal(a: __m256i, b: __m256i, c: u8) -> u64 {
        // SAFETY: the caller runs on a CPU with AVX2.
        unsafe { both(_mm256_cmpeq_epi8(a, _mm256_set1_epi8(c as i8)), _mm256_cmpeq_epi8(b, _mm256_set1_epi8(c as i8))) }
    }

    /// The 64 bytes of `w` that are ASCII digits, as a bit mask.
    #[inline(always)]
    unsafe fn digits(a: __m256i, b: __m256i) -> u64 {
        // SAFETY: the caller runs on a CPU with AVX2.
        unsafe {
            let zero = _mm256_set1_epi8(b'0' as i8);
            let (da, db) = (_mm256_sub_epi8(a, zero), _mm256_sub_epi8(b, zero));
            let nine = _mm256_set1_epi8(9);
            both(_mm256_cmpeq_epi8(_mm256_min_epu8(da, nine), da), _mm256_cmpeq_epi8(_mm256_min_epu8(db, nine), db))
        }
    }

    /// The low `n` bits of `x` (all of them from 64 on; one `bzhi` with BMI2).
    #[inline(always)]
    fn low_bits(x: u64, n: u32) -> u64 {
        if n >= 64 { x } else { x & ((1 << n) - 1) }
    }

    /// The byte masks `x` (bytes 0..32) and `y` (32..64) as 64 bits.
    #[inline(always)]
    unsafe fn both(x: __m256i, y: __m256i) -> u64 {
        // SAFETY: the caller runs on a CPU with AVX2.
        unsafe { u64::from(_mm256_movemask_epi8(x) as u32) | u64::from(_mm256_movemask_epi8(y) as u32) << 32 }
    }

    /// The well-formed line at the start of `w`: (fields, length with its line end).
    ///
    /// # Safety
    /// The CPU must have the features [`available`] checks. Not a `target_feature`
    /// function itself so that it inlines into [`lines`], which is.
    #[inline(always)]
    pub(in super::super) unsafe fn line(w: &[u8; WINDOW]) -> Option<(Fields, usize)> {
        const fn tag(s: &[u8]) -> u64 {
            let mut t = (s.len() as u64) << 32;
            let mut i = 0;
            while i < s.len() {
                t |= (s[i] as u64) << (8 * i);
                i += 1;
            }
            t
        }
        const PV: u64 = tag(b"pv");
        const CART: u64 = tag(b"cart");
        const FAV: u64 = tag(b"fav");
        const BUY: u64 = tag(b"buy");
        let p = w.as_ptr().cast::<__m256i>();
        // SAFETY: the two loads read bytes 0..64 of the 72-byte window; the caller
        // guarantees AVX2, BMI1 and BMI2.
        let (a, b) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
        let digits = unsafe { digits(a, b) };
        let end = unsafe { equal(a, b, b'\n') }.trailing_zeros();
        let commas = low_bits(unsafe { equal(a, b, b',') }, end);
        if end == 64 || commas.count_ones() != 4 {
            return None;
        }
        let s0 = commas.trailing_zeros();
        let c = commas & (commas - 1);
        let s1 = c.trailing_zeros();
        let c = c & (c - 1);
        let s2 = c.trailing_zeros();
        let s3 = (c & (c - 1)).trailing_zeros();
        let end = end as usize;
        // A `\r` before the `\n` ends the time field (as the careful parser strips it).
        let te = end - usize::from(w.get(end.wrapping_sub(1)) == Some(&b'\r'));
        // Every byte but the commas and the behavior is a digit.
        let behavior = low_bits(!0, s3 + 1) & !low_bits(!0, s2);
        let want = low_bits(!0, te as u32) & !behavior & !(1 << s0) & !(1 << s1);
        let (s0, s1, s2, s3) = (s0 as usize, s1 as usize, s2 as usize, s3 as usize);
        let (l1, l2, la, lt) = (s1 - s0 - 1, s2 - s1 - 1, s3 - s2 - 1, te.wrapping_sub(s3 + 1));
        let ok = (digits & want == want) & ((s0.wrapping_sub(1) | l1.wrapping_sub(1) | l2.wrapping_sub(1)) < 8) & (lt.wrapping_sub(1) < 11) & (la.wrapping_sub(2) < 3);
        if !ok {
            return None;
        }
        let raw = w.get(s2 + 1..s2 + 5).and_then(|t| <[u8; 4]>::try_from(t).ok()).map_or(0, u32::from_le_bytes);
        let action = match u64::from(raw) & low_bits(!0, 8 * la as u32) | (la as u64) << 32 {
            PV => Action::Click,
            CART => Action::Cart,
            FAV => Action::Fav,
            BUY => Action::Buy,
            _ => return None,
        };
        // Every load lies inside the window (a field starts before byte 64).
        let word = |at: usize| word(w, at).unwrap_or(0);
        let user = digits_value(word(0), s0);
        let item = digits_value(word(s0 + 1), l1);
        let cat = digits_value(word(s1 + 1), l2);
        let ts = if lt <= 8 { digits_value(word(s3 + 1), lt) } else { digits_value(word(s3 + 1), lt - 8) * 100_000_000 + digits_value(word(te - 8), 8) };
        Some((Fields { user, item, cat, action: action as u8, ts: ts as i64 }, end + 1))
    }
}
