//! The CTR run's settings ([`CtrConfig`], saved as the run's `config.json`)
//! and the LUM feature switch ([`FeatureSet`], `--set features=interest,sim`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One LUM feature of the +LUM model (DESIGN §1 "CTR model").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LumFeature {
    /// o(u,q): the frozen LUM interest vector of the user under the query.
    Interest,
    /// cos(o(u,q), e_t): the interest against the target item's LUM embedding.
    Sim,
    /// SimTier: histogram of cos(e_t, e_h) over the user's history items h.
    Simtier,
}

impl LumFeature {
    /// Every feature, in the order their columns are laid out.
    pub const ALL: [LumFeature; 3] = [LumFeature::Interest, LumFeature::Sim, LumFeature::Simtier];

    /// The lower-case name used in `--set features=...` and reports.
    pub fn name(self) -> &'static str {
        match self {
            LumFeature::Interest => "interest",
            LumFeature::Sim => "sim",
            LumFeature::Simtier => "simtier",
        }
    }

    /// Parses a name (case-insensitive).
    pub fn parse(s: &str) -> Option<LumFeature> {
        LumFeature::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// A non-empty set of LUM features, kept in [`LumFeature::ALL`] order.
/// Serialised as one comma-separated string (`"interest,sim,simtier"`) so
/// that `--set features=sim` works like any other key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureSet(Vec<LumFeature>);

impl FeatureSet {
    /// All three features.
    pub fn all() -> Self {
        FeatureSet(LumFeature::ALL.to_vec())
    }

    /// One feature alone (an ablation).
    pub fn only(f: LumFeature) -> Self {
        FeatureSet(vec![f])
    }

    /// Parses `interest,sim,simtier` (any order, any subset, at least one).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let f = LumFeature::parse(part).ok_or_else(|| {
                format!("unknown LUM feature `{part}`; expected a comma-separated subset of interest,sim,simtier")
            })?;
            out.push(f);
        }
        if out.is_empty() {
            return Err("features: name at least one of interest,sim,simtier".to_string());
        }
        out.sort();
        out.dedup();
        Ok(FeatureSet(out))
    }

    /// The features, in column order.
    pub fn features(&self) -> &[LumFeature] {
        &self.0
    }

    /// Whether `f` is in the set.
    pub fn has(&self, f: LumFeature) -> bool {
        self.0.contains(&f)
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a parsed set; present for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for FeatureSet {
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|x| x.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl Serialize for FeatureSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FeatureSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FeatureSet::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Every setting of a CTR run; recorded verbatim in the run's `config.json`.
/// Defaults were chosen on the default 2000-user sample world (see the CTR
/// notes in the report); every one can be changed with `--set key=value`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtrConfig {
    /// Run kind recorded in `run.json` (always `ctr`).
    pub kind: String,
    /// Seeds parameter initialisation and the shuffling of training samples;
    /// every model of the run uses the same seed and the same data order.
    pub seed: u64,
    /// Recent behaviours the DIN attention reads: the last this-many
    /// non-impression behaviours strictly before the impression's timestamp.
    pub history_len: usize,
    /// Test split: impressions in the last this-many days (measured back from
    /// the last labelled impression) are test, the rest train.
    pub test_days: f64,
    /// Width of every id embedding (user, query, item, category, brand, position).
    pub emb_dim: usize,
    /// Hidden width of the DIN attention unit.
    pub attn_hidden: usize,
    /// Width of the first MLP layer; the second is half of it.
    pub mlp_hidden: usize,
    /// Passes over the training split (the fixed budget). One by default:
    /// CTR models with sparse id embeddings overfit from the second epoch on
    /// (the "one-epoch phenomenon", Zhang et al., CIKM 2022); measured on the
    /// sample world, test AUC fell at every later epoch with every
    /// regulariser tried (embedding L2, dropout, smaller lr, larger batches).
    pub epochs: usize,
    /// Samples per optimisation step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Standard deviation of the initial embeddings.
    pub init_sd: f64,
    /// Positions above this share the last position embedding.
    pub max_position: usize,
    /// LUM features of the +LUM model.
    pub features: FeatureSet,
    /// Also train one model per feature alone (ablations), same budget.
    pub ablations: bool,
    /// SimTier: number of equal-width tiers on [-1, 1]. Twenty (width 0.1),
    /// not ten: the LUM's item embeddings put 99% of same-category pairs at
    /// cosine 0.91-1.0 but 5% of cross-category pairs at 0.8-0.9 (measured
    /// on the sample world after the flow's pre-training), so a 0.2-wide top
    /// tier mixes the target's own category with its neighbours. Chosen on a
    /// second world (seed 43), 3 CTR seeds: +LUM AUC gain +0.0096 ± 0.0031
    /// with 10 tiers, +0.0138 ± 0.0008 with 20, +0.0138 ± 0.0012 with 40.
    pub simtier_bins: usize,
    /// SimTier reads at most this many most recent history items before the
    /// impression; 0 = the whole history (the long sequence the LUM read).
    pub simtier_history: usize,
    /// Whiten the item embeddings (centre on the item mean, unit variance along
    /// every principal direction; see `ctr::whiten`) before SimTier's
    /// item-to-item cosines. Without it the category dominates every cosine
    /// and SimTier cannot see brand or price taste. A config.json without this
    /// key predates whitening and reads as `false` (raw cosines), so an old
    /// run's settings reproduce it.
    #[serde(default)]
    pub whiten: bool,
    /// `cpu`, `cuda`, `cuda:N`, `metal` or `auto` (CUDA/Metal need the cargo feature).
    pub device: String,
    /// A training-loss row goes to `metrics.jsonl` every this-many steps.
    pub log_every: usize,
}

impl Default for CtrConfig {
    fn default() -> Self {
        Self {
            kind: "ctr".to_string(),
            seed: 7,
            history_len: 50,
            test_days: 2.0,
            emb_dim: 16,
            attn_hidden: 32,
            mlp_hidden: 64,
            epochs: 1,
            batch_size: 128,
            lr: 2e-3,
            weight_decay: 1e-2,
            init_sd: 0.05,
            max_position: 32,
            features: FeatureSet::all(),
            ablations: false,
            simtier_bins: 20,
            simtier_history: 0,
            whiten: true,
            device: "cpu".to_string(),
            log_every: 10,
        }
    }
}

/// A setting outside its valid range.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("ctr config: {0}")]
pub struct ConfigError(pub String);

impl CtrConfig {
    /// Small, fast models for tests and demos (width 8, history 10).
    pub fn tiny() -> Self {
        Self { emb_dim: 8, attn_hidden: 8, mlp_hidden: 16, history_len: 10, batch_size: 64, ..Self::default() }
    }

    /// Rejects settings no run can use, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError(m));
        if self.history_len == 0 {
            return bad("history_len must be at least 1".into());
        }
        if !(self.test_days.is_finite() && self.test_days > 0.0) {
            return bad(format!(
                "test_days must be a positive number of days, got {}",
                self.test_days
            ));
        }
        for (k, v) in [
            ("emb_dim", self.emb_dim),
            ("attn_hidden", self.attn_hidden),
            ("mlp_hidden", self.mlp_hidden),
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("max_position", self.max_position),
            ("simtier_bins", self.simtier_bins),
            ("log_every", self.log_every),
        ] {
            if v == 0 {
                return bad(format!("{k} must be at least 1"));
            }
        }
        if self.mlp_hidden < 2 {
            return bad("mlp_hidden must be at least 2 (the second layer is half of it)".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be positive, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "weight_decay must be >= 0, got {}",
                self.weight_decay
            ));
        }
        if !(self.init_sd.is_finite() && self.init_sd > 0.0) {
            return bad(format!("init_sd must be positive, got {}", self.init_sd));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_set_parses_and_round_trips() {
        assert_eq!(
            FeatureSet::parse("simtier, interest").unwrap().to_string(),
            "interest,simtier"
        );
        assert_eq!(
            FeatureSet::parse("SIM,sim").unwrap(),
            FeatureSet::only(LumFeature::Sim)
        );
        assert!(FeatureSet::parse("").is_err());
        assert!(
            FeatureSet::parse("interest,bogus")
                .unwrap_err()
                .contains("bogus")
        );
        let cfg = CtrConfig::default();
        let v = serde_json::to_value(&cfg).unwrap();
        assert_eq!(v["features"], "interest,sim,simtier");
        assert_eq!(serde_json::from_value::<CtrConfig>(v).unwrap(), cfg);
    }

    #[test]
    fn set_overrides_reach_the_config() {
        let sets = vec![
            "features=sim".to_string(),
            "epochs=5".to_string(),
            "test_days=1.5".to_string(),
        ];
        let cfg = crate::util::apply_overrides(&CtrConfig::default(), &sets).unwrap();
        assert_eq!(cfg.features, FeatureSet::only(LumFeature::Sim));
        assert_eq!((cfg.epochs, cfg.test_days), (5, 1.5));
        let e =
            crate::util::apply_overrides(&CtrConfig::default(), &["features=colour".to_string()])
                .unwrap_err();
        assert!(format!("{e:#}").contains("colour"), "{e:#}");
    }

    #[test]
    fn validate_names_the_bad_key() {
        let cfg = CtrConfig {
            batch_size: 0,
            ..CtrConfig::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("batch_size")
        );
        assert!(
            CtrConfig {
                test_days: -1.0,
                ..CtrConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(CtrConfig::default().validate().is_ok());
    }
}
