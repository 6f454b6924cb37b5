//! The synthetic search-advertising world (`lumlab sample`): a catalogue,
//! queries with intents, users with slowly drifting long-term tastes and
//! short-term session intents, feed and search behaviour over ~60 days, and ad
//! impressions in the last days clicked with a known probability.
//!
//! Why it is built this way (DESIGN §2): the long-term taste (categories,
//! favourite brands, price band) shows through the whole history but is
//! diluted in the recent window by unrelated short-term intents, so a model
//! that reads the long sequence (LUM) has information a recent-window CTR
//! baseline lacks. The true click probability of every impression is written
//! to `truth.csv`, which bounds every model (the oracle AUC), with the parts of
//! its logit (`rel`, `aff_long`, `aff_short`, and `aff_long` split into
//! `a_cat`, `a_brand`, `a_band`), so that one can measure how much of the
//! click signal is long-term taste, and how much of it varies within a user.

use crate::util::{Rng, atomic_write_with};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Every knob of the generator; recorded in `world.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct WorldConfig {
    pub users: usize,
    pub seed: u64,
    pub categories: usize,
    pub brands: usize,
    pub brands_per_category: usize,
    pub items_per_category: usize,
    /// Days of history.
    pub days: u32,
    /// Ad impressions fall in the last this-many days.
    pub impression_days: u32,
    /// Median and 90th percentile of behaviours per user (log-normal).
    pub seq_median: f64,
    pub seq_p90: f64,
    /// Mean behaviours per session.
    pub session_mean: f64,
    /// Probability that a session's intent comes from the long-term taste (else uniform).
    pub p_long_intent: f64,
    /// Probability that an ad session continues the user's latest intent.
    pub p_ad_continues_intent: f64,
    pub p_search_session: f64,
    /// Brand preference strength when choosing items (favourite brands weight 1 + this).
    pub brand_boost: f64,
    pub price_boost: f64,
    /// s.d. of the log-normal item popularity (0 = uniform).
    pub popularity_sd: f64,
    /// Daily s.d. of the random walk of long-term category log-weights (drift).
    pub drift_sd: f64,
    /// Ad search sessions per user in the impression days: uniform on 1..=this.
    /// Four, not two: with at most two, most users had a single result page in
    /// the 2-day CTR test window, so GAUC(user) was per-page ranking, where the
    /// long-term taste (mostly *which categories* a user clicks in) can barely
    /// help; measured with the long-history sanity features on the 2000-user
    /// world, 3 CTR seeds: GAUC(user) gain +0.005 ± 0.004 with two, +0.010 ± 0.003 with four.
    pub ad_sessions_max: u32,
    pub ads_per_session: usize,
    /// Share of a session's ads taken from the query's category.
    pub ads_on_topic: f64,
    /// Click model: p = sigmoid(b0 + b_rel*rel + b_long*aff_long + b_short*aff_short - b_pos*ln(pos)).
    pub b0: f64,
    pub b_rel: f64,
    pub b_long: f64,
    pub b_short: f64,
    pub b_pos: f64,
    /// Recent behaviours that define aff_short.
    pub short_window: usize,
    /// Unix time of day 0.
    pub start_ts: i64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            users: 2000,
            seed: 42,
            categories: 24,
            brands: 40,
            brands_per_category: 10,
            items_per_category: 400,
            days: 60,
            impression_days: 7,
            seq_median: 150.0,
            seq_p90: 400.0,
            session_mean: 6.0,
            p_long_intent: 0.35,
            p_ad_continues_intent: 0.5,
            p_search_session: 0.4,
            brand_boost: 4.0,
            price_boost: 1.0,
            popularity_sd: 1.0,
            drift_sd: 0.05,
            ad_sessions_max: 4,
            ads_per_session: 10,
            ads_on_topic: 0.6,
            b0: -3.6,
            b_rel: 2.0,
            b_long: 3.0,
            b_short: 1.0,
            b_pos: 0.5,
            short_window: 10,
            start_ts: 1_760_000_000,
        }
    }
}

impl WorldConfig {
    /// A small world for tests: fewer users and shorter histories, same mechanism.
    pub fn small(users: usize, seed: u64) -> Self {
        Self { users, seed, items_per_category: 60, seq_median: 40.0, seq_p90: 90.0, ..Self::default() }
    }
}

/// What `generate` wrote, with the oracle metrics from the true click probabilities.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WorldSummary {
    pub config: WorldConfig,
    pub users: usize,
    pub items: usize,
    pub queries: usize,
    pub behaviors: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub ctr: f64,
    /// AUC of the true probabilities against the sampled labels (the best any model can expect).
    pub oracle_auc: f64,
    /// Logloss of the true probabilities.
    pub oracle_logloss: f64,
    pub files: Vec<String>,
}

const CATEGORIES: [&str; 24] = [
    "running shoes", "hiking boots", "yoga mats", "coffee makers", "office chairs", "gaming mice",
    "mechanical keyboards", "wireless earbuds", "smart watches", "phone cases", "travel backpacks", "sunglasses",
    "face cream", "lipstick", "baby strollers", "dog food", "cat toys", "tea sets",
    "frying pans", "desk lamps", "bed sheets", "rain jackets", "board games", "water bottles",
];
const WORDS: [&str; 16] = [
    "lightweight", "classic", "premium", "compact", "eco", "pro", "mini", "deluxe",
    "ultra", "soft", "durable", "portable", "vintage", "sport", "smart", "family",
];
const BRANDS: [&str; 40] = [
    "Nova", "Apex", "Lumo", "Vela", "Orin", "Kest", "Zeno", "Tarn", "Mira", "Bolt",
    "Fenn", "Ryo", "Sola", "Quill", "Haze", "Ivo", "Juno", "Kora", "Lark", "Moss",
    "Nyx", "Opal", "Pike", "Rune", "Sage", "Tove", "Umi", "Vex", "Wren", "Yara",
    "Zest", "Aris", "Brio", "Cleo", "Dax", "Echo", "Faro", "Gala", "Hale", "Iris",
];
const PRICE_BANDS: [&str; 3] = ["cheap", "mid", "premium"];

struct Item {
    title: String,
    category: usize,
    brand: usize,
    price: f32,
    band: usize,
    /// Log-normal popularity: a few items get most of the traffic, as in real catalogues.
    popularity: f64,
}

struct Query {
    text: String,
    category: usize,
    brand: Option<usize>,
    band: Option<usize>,
}

struct Catalogue {
    items: Vec<Item>,
    /// Items of each category.
    by_cat: Vec<Vec<usize>>,
    queries: Vec<Query>,
    /// Query ids of each category.
    cat_queries: Vec<Vec<usize>>,
}

fn category_name(c: usize) -> String {
    if c < CATEGORIES.len() { CATEGORIES[c].to_string() } else { format!("{} {}", CATEGORIES[c % CATEGORIES.len()], c / CATEGORIES.len() + 1) }
}

fn brand_name(b: usize) -> String {
    if b < BRANDS.len() { BRANDS[b].to_string() } else { format!("{}{}", BRANDS[b % BRANDS.len()], b / BRANDS.len() + 1) }
}

fn build_catalogue(cfg: &WorldConfig) -> Catalogue {
    let mut rng = Rng::fork(cfg.seed, u64::MAX);
    let nb = cfg.brands.max(1);
    let mut items = Vec::new();
    let mut by_cat = Vec::new();
    let mut queries = Vec::new();
    let mut cat_queries = Vec::new();
    for c in 0..cfg.categories {
        let cname = category_name(c);
        let mut brands: Vec<usize> = (0..nb).collect();
        rng.shuffle(&mut brands);
        brands.truncate(cfg.brands_per_category.clamp(1, nb));
        let tier: Vec<f64> = brands.iter().map(|_| [0.7, 1.0, 1.5][rng.index(3)]).collect();
        let words: Vec<&str> = (0..6).map(|_| WORDS[rng.index(WORDS.len())]).collect();
        let base_price = (15.0 * (1.0 + rng.f64() * 25.0)).round();
        let start = items.len();
        let mut prices = Vec::new();
        for _ in 0..cfg.items_per_category {
            let bi = rng.index(brands.len());
            let price = base_price * tier[bi] * (0.25 * rng.normal()).exp();
            let (w1, w2) = (words[rng.index(words.len())], words[rng.index(words.len())]);
            let title = if w1 == w2 { format!("{} {w1} {cname}", brand_name(brands[bi])) } else { format!("{} {w1} {cname} {w2}", brand_name(brands[bi])) };
            prices.push(price);
            let popularity = (cfg.popularity_sd * rng.normal()).exp();
            items.push(Item { title, category: c, brand: brands[bi], price: (price * 100.0).round() as f32 / 100.0, band: 0, popularity });
        }
        // Price bands are terciles within the category.
        let mut sorted = prices.clone();
        sorted.sort_by(f64::total_cmp);
        let (t1, t2) = (sorted[sorted.len() / 3], sorted[2 * sorted.len() / 3]);
        for (k, p) in prices.iter().enumerate() {
            items[start + k].band = if *p < t1 { 0 } else if *p < t2 { 1 } else { 2 };
        }
        by_cat.push((start..items.len()).collect());
        let mut qs = vec![queries.len()];
        queries.push(Query { text: cname.clone(), category: c, brand: None, band: None });
        for band in [0, 2] {
            qs.push(queries.len());
            queries.push(Query { text: format!("{} {cname}", PRICE_BANDS[band]), category: c, brand: None, band: Some(band) });
        }
        for &b in &brands {
            qs.push(queries.len());
            queries.push(Query { text: format!("{} {cname}", brand_name(b).to_lowercase()), category: c, brand: Some(b), band: None });
        }
        cat_queries.push(qs);
    }
    Catalogue { items, by_cat, queries, cat_queries }
}

/// A user's hidden taste.
struct Taste {
    /// Log-weights over categories (drift as a random walk).
    logw: Vec<f64>,
    fav_brands: Vec<usize>,
    band: usize,
}

impl Taste {
    fn new(cfg: &WorldConfig, rng: &mut Rng) -> Taste {
        let mut logw = vec![-3.0f64; cfg.categories];
        for (k, w) in [0.0, -0.5, -1.0].iter().enumerate() {
            let c = rng.index(cfg.categories);
            logw[c] = logw[c].max(*w - 0.01 * k as f64);
        }
        let nb = cfg.brands.max(1);
        let fav_brands = (0..3).map(|_| rng.index(nb)).collect();
        Taste { logw, fav_brands, band: rng.index(3) }
    }
    fn weights(&self) -> Vec<f64> {
        self.logw.iter().map(|l| l.exp()).collect()
    }
    fn drift(&mut self, days: f64, sd: f64, rng: &mut Rng) {
        let s = sd * days.max(0.0).sqrt();
        for l in &mut self.logw {
            *l += s * rng.normal();
        }
    }
    /// aff_long in [0, 1]: category weight (relative to the top one), favourite brand, price band.
    fn affinity(&self, it: &Item) -> f64 {
        self.affinity_parts(it).iter().sum()
    }
    /// The category, brand and price-band parts of aff_long.
    fn affinity_parts(&self, it: &Item) -> [f64; 3] {
        let max = self.logw.iter().copied().fold(f64::MIN, f64::max);
        let cat = (self.logw[it.category] - max).exp();
        [0.45 * cat, 0.4 * (self.fav_brands.contains(&it.brand) as u8 as f64), 0.15 * ((it.band == self.band) as u8 as f64)]
    }
}

fn relevance(q: &Query, it: &Item) -> f64 {
    if it.category != q.category {
        return 0.0;
    }
    let brand_ok = q.brand.is_none_or(|b| b == it.brand);
    let band_ok = q.band.is_none_or(|b| b == it.band);
    0.6 + 0.2 * brand_ok as u8 as f64 + 0.2 * band_ok as u8 as f64
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Chooses an item of category `c` the way this user would.
fn pick_item(cat: &Catalogue, cfg: &WorldConfig, taste: &Taste, c: usize, want_brand: Option<usize>, rng: &mut Rng) -> usize {
    let cands = &cat.by_cat[c];
    let w: Vec<f64> = cands
        .iter()
        .map(|&i| {
            let it = &cat.items[i];
            let mut w = 1.0;
            if taste.fav_brands.contains(&it.brand) {
                w += cfg.brand_boost;
            }
            if it.band == taste.band {
                w += cfg.price_boost;
            }
            if want_brand == Some(it.brand) {
                w *= 8.0;
            }
            w * it.popularity
        })
        .collect();
    cands[rng.weighted(&w)]
}

fn pick_query(cat: &Catalogue, taste: &Taste, c: usize, rng: &mut Rng) -> usize {
    let qs = &cat.cat_queries[c];
    let r = rng.f64();
    if r < 0.4 {
        return qs[0];
    }
    if r < 0.6 {
        let want = if taste.band == 1 { [0, 2][rng.index(2)] } else { taste.band };
        return qs[if want == 0 { 1 } else { 2 }];
    }
    // Brand query: a favourite brand when the category stocks one.
    let favs: Vec<usize> = qs[3..].iter().copied().filter(|&q| cat.queries[q].brand.is_some_and(|b| taste.fav_brands.contains(&b))).collect();
    if !favs.is_empty() && rng.chance(0.6) {
        return favs[rng.index(favs.len())];
    }
    qs[3 + rng.index(qs.len() - 3)]
}

/// One output row of behaviors.csv (and truth.csv for impressions).
struct Event {
    ts: i64,
    item: usize,
    action: &'static str,
    query: Option<usize>,
    search: bool,
    position: u8,
    label: i8,
    p_click: f64,
    /// The parts of the click logit (rel, aff_long, aff_short) and of aff_long
    /// (category, brand, price band), written to truth.csv; impressions only.
    parts: [f64; 6],
}

fn weighted_action(rng: &mut Rng) -> &'static str {
    match rng.f64() {
        x if x < 0.85 => "click",
        x if x < 0.92 => "cart",
        x if x < 0.97 => "fav",
        _ => "buy",
    }
}

fn simulate_user(cfg: &WorldConfig, cat: &Catalogue, u: usize) -> Vec<Event> {
    let mut rng = Rng::fork(cfg.seed, u as u64);
    let mut taste = Taste::new(cfg, &mut rng);
    let day = 86_400i64;
    let horizon = cfg.days as i64 * day;
    let sigma = (cfg.seq_p90 / cfg.seq_median).ln().max(0.01) / 1.2816;
    let n_beh = ((cfg.seq_median.ln() + sigma * rng.normal()).exp().round() as usize).clamp(4, 5000);
    let n_sessions = ((n_beh as f64 / cfg.session_mean).ceil() as usize).max(1);
    // Organic sessions spread over the whole period; ad sessions in the last days.
    let mut starts: Vec<(i64, bool)> = (0..n_sessions).map(|_| ((rng.f64() * horizon as f64) as i64, false)).collect();
    let ad_from = horizon - cfg.impression_days.min(cfg.days) as i64 * day;
    let n_ads = 1 + rng.below(cfg.ad_sessions_max.max(1) as u64) as usize;
    for _ in 0..n_ads {
        starts.push((ad_from + (rng.f64() * (horizon - ad_from) as f64) as i64, true));
    }
    starts.sort_by_key(|s| s.0);
    let mut events: Vec<Event> = Vec::with_capacity(n_beh + n_ads * (cfg.ads_per_session + 3));
    let mut last_day = 0.0;
    let mut last_intent: Option<usize> = None;
    let mut left = n_beh;
    let mut recent_cats: Vec<usize> = Vec::new();
    for (start, is_ad) in starts {
        let now_day = start as f64 / day as f64;
        taste.drift(now_day - last_day, cfg.drift_sd, &mut rng);
        last_day = now_day;
        let fresh_intent = |rng: &mut Rng, taste: &Taste| {
            if rng.chance(cfg.p_long_intent) { rng.weighted(&taste.weights()) } else { rng.index(cfg.categories) }
        };
        let mut t = start + cfg.start_ts;
        if is_ad {
            let intent = match last_intent {
                Some(c) if rng.chance(cfg.p_ad_continues_intent) => c,
                _ => fresh_intent(&mut rng, &taste),
            };
            let q = pick_query(cat, &taste, intent, &mut rng);
            let short: Vec<usize> = recent_cats.iter().rev().take(cfg.short_window).copied().collect();
            let mut ads: Vec<usize> = Vec::new();
            while ads.len() < cfg.ads_per_session {
                let c = if rng.chance(cfg.ads_on_topic) { intent } else { rng.index(cfg.categories) };
                let brand = cat.queries[q].brand.filter(|_| c == intent && rng.chance(0.5));
                let it = match brand {
                    Some(b) => {
                        let of_brand: Vec<usize> = cat.by_cat[c].iter().copied().filter(|&i| cat.items[i].brand == b).collect();
                        if of_brand.is_empty() { cat.by_cat[c][rng.index(cat.by_cat[c].len())] } else { of_brand[rng.index(of_brand.len())] }
                    }
                    None => cat.by_cat[c][rng.index(cat.by_cat[c].len())],
                };
                if !ads.contains(&it) {
                    ads.push(it);
                }
            }
            let mut clicks = Vec::new();
            for (k, &it) in ads.iter().enumerate() {
                let item = &cat.items[it];
                let pos = k + 1;
                let aff_short = if short.is_empty() { 0.0 } else { short.iter().filter(|&&c| c == item.category).count() as f64 / short.len() as f64 };
                let z = cfg.b0 + cfg.b_rel * relevance(&cat.queries[q], item) + cfg.b_long * taste.affinity(item) + cfg.b_short * aff_short
                    - cfg.b_pos * (pos as f64).ln();
                let p = sigmoid(z);
                let clicked = rng.chance(p);
                let ap = taste.affinity_parts(item);
                let parts = [relevance(&cat.queries[q], item), taste.affinity(item), aff_short, ap[0], ap[1], ap[2]];
                events.push(Event { ts: t, item: it, action: "impression", query: Some(q), search: true, position: pos as u8, label: clicked as i8, p_click: p, parts });
                if clicked {
                    clicks.push((it, pos));
                }
            }
            for (it, pos) in clicks {
                t += 5 + rng.below(60) as i64;
                events.push(Event { ts: t, item: it, action: "click", query: Some(q), search: true, position: pos as u8, label: -1, p_click: f64::NAN, parts: [f64::NAN; 6] });
                recent_cats.push(cat.items[it].category);
            }
            last_intent = Some(intent);
            continue;
        }
        if left == 0 {
            continue;
        }
        let intent = fresh_intent(&mut rng, &taste);
        last_intent = Some(intent);
        let len = (1 + rng.below((2.0 * cfg.session_mean) as u64) as usize).min(left);
        left -= len;
        let search = rng.chance(cfg.p_search_session);
        let query = search.then(|| pick_query(cat, &taste, intent, &mut rng));
        for _ in 0..len {
            let want = query.and_then(|q| cat.queries[q].brand);
            let it = pick_item(cat, cfg, &taste, intent, want, &mut rng);
            events.push(Event { ts: t, item: it, action: weighted_action(&mut rng), query, search, position: 0, label: -1, p_click: f64::NAN, parts: [f64::NAN; 6] });
            recent_cats.push(intent);
            t += 10 + rng.below(120) as i64;
        }
    }
    events
}

fn user_id(u: usize) -> String {
    format!("u{u:06}")
}

fn item_id(i: usize) -> String {
    format!("i{i:05}")
}

/// Users simulated per batch (bounds memory for 100k+ users).
const BATCH_USERS: usize = 2048;

/// Writes the world into `out_dir`: behaviors.csv, items.csv, truth.csv, world.json.
/// Same config (seed included) gives byte-identical files.
pub fn generate(cfg: &WorldConfig, out_dir: &Path, progress: Option<&dyn Fn(f32)>) -> anyhow::Result<WorldSummary> {
    anyhow::ensure!(cfg.users > 0, "--users must be at least 1");
    anyhow::ensure!(cfg.categories > 0 && cfg.items_per_category > 0, "the world needs at least one category with items");
    anyhow::ensure!(cfg.days > 0 && cfg.ads_per_session > 0, "days and ads_per_session must be positive");
    std::fs::create_dir_all(out_dir).map_err(|e| anyhow::anyhow!("{}: {e}", out_dir.display()))?;
    let cat = build_catalogue(cfg);
    let items_path = out_dir.join("items.csv");
    atomic_write_with(&items_path, |w| {
        writeln!(w, "item_id,title,category,brand,price")?;
        for (i, it) in cat.items.iter().enumerate() {
            writeln!(w, "{},{},{},{},{:.2}", item_id(i), it.title, category_name(it.category), brand_name(it.brand), it.price)?;
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", items_path.display()))?;

    let (mut behaviors, mut impressions, mut clicks) = (0u64, 0u64, 0u64);
    let mut probs = Vec::new();
    let mut labels = Vec::new();
    let beh_path = out_dir.join("behaviors.csv");
    let truth_path = out_dir.join("truth.csv");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let mut truth_buf = String::new();
    atomic_write_with(&beh_path, |w| {
        writeln!(w, "user_id,timestamp,item_id,action,query,scenario,position,label")?;
        truth_buf.push_str("user_id,timestamp,item_id,query,position,p_click,label,rel,aff_long,aff_short,a_cat,a_brand,a_band\n");
        for batch_start in (0..cfg.users).step_by(BATCH_USERS) {
            let batch_end = (batch_start + BATCH_USERS).min(cfg.users);
            // Users are independent streams, so they can be simulated in parallel and written in order.
            let per_thread = (batch_end - batch_start).div_ceil(threads);
            let texts: Vec<(String, String, Vec<(f64, bool)>, u64)> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let cat = &cat;
                        s.spawn(move || {
                            let (mut beh, mut truth, mut pl, mut n) = (String::new(), String::new(), Vec::new(), 0u64);
                            let lo = batch_start + t * per_thread;
                            for u in lo..(lo + per_thread).min(batch_end) {
                                for e in simulate_user(cfg, cat, u) {
                                    n += 1;
                                    let q = e.query.map(|q| cat.queries[q].text.as_str()).unwrap_or("");
                                    let scen = if e.search { "search" } else { "feed" };
                                    let pos = if e.position > 0 { e.position.to_string() } else { String::new() };
                                    let label = if e.label >= 0 { e.label.to_string() } else { String::new() };
                                    let _ = writeln!(beh, "{},{},{},{},{q},{scen},{pos},{label}", user_id(u), e.ts, item_id(e.item), e.action);
                                    if e.action == "impression" {
                                        let [rel, long, short, pc, pb, pd] = e.parts;
                                        let _ = writeln!(truth, "{},{},{},{q},{},{:.6},{},{rel:.4},{long:.4},{short:.4},{pc:.4},{pb:.4},{pd:.4}", user_id(u), e.ts, item_id(e.item), e.position, e.p_click, e.label);
                                        pl.push((e.p_click, e.label == 1));
                                    }
                                }
                            }
                            (beh, truth, pl, n)
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap_or_else(|_| (String::new(), String::new(), Vec::new(), 0))).collect()
            });
            for (beh, truth, pl, n) in texts {
                w.write_all(beh.as_bytes())?;
                truth_buf.push_str(&truth);
                behaviors += n;
                for (p, l) in pl {
                    impressions += 1;
                    clicks += l as u64;
                    probs.push(p);
                    labels.push(l);
                }
            }
            if let Some(p) = progress {
                p(batch_end as f32 / cfg.users as f32);
            }
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", beh_path.display()))?;
    crate::util::atomic_write(&truth_path, truth_buf.as_bytes()).map_err(|e| anyhow::anyhow!("{}: {e}", truth_path.display()))?;
    let logloss = probs.iter().zip(&labels).map(|(p, l)| {
        let p = p.clamp(1e-7, 1.0 - 1e-7);
        if *l { -p.ln() } else { -(1.0 - p).ln() }
    }).sum::<f64>() / probs.len().max(1) as f64;
    let summary = WorldSummary {
        config: cfg.clone(),
        users: cfg.users,
        items: cat.items.len(),
        queries: cat.queries.len(),
        behaviors,
        impressions,
        clicks,
        ctr: clicks as f64 / impressions.max(1) as f64,
        oracle_auc: {
            let p32: Vec<f32> = probs.iter().map(|&p| p as f32).collect();
            crate::eval::ctr::auc(&labels, &p32).unwrap_or(f64::NAN)
        },
        oracle_logloss: logloss,
        files: vec!["behaviors.csv".into(), "items.csv".into(), "truth.csv".into(), "world.json".into()],
    };
    let world_path = out_dir.join("world.json");
    let json = serde_json::to_string_pretty(&summary)?;
    crate::util::atomic_write(&world_path, format!("{json}\n").as_bytes()).map_err(|e| anyhow::anyhow!("{}: {e}", world_path.display()))?;
    Ok(summary)
}

/// The true click probability of each impression, keyed by (user, timestamp, item, position).
pub fn read_truth(path: &Path) -> anyhow::Result<std::collections::HashMap<(String, i64, String, u8), f64>> {
    let mut out = std::collections::HashMap::new();
    let mut rdr = csv::Reader::from_path(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 2))?;
        let bad = || anyhow::anyhow!("{}:{}: malformed truth row", path.display(), i + 2);
        let ts: i64 = rec.get(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let pos: u8 = rec.get(4).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let p: f64 = rec.get(5).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        out.insert((rec.get(0).unwrap_or("").to_string(), ts, rec.get(2).unwrap_or("").to_string(), pos), p);
    }
    Ok(out)
}
