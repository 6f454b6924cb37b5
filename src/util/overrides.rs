//! `--set key=value` overrides applied to any serde config struct, with errors that list the valid keys.

/// Applies `key=value` overrides to a serde config, with an error listing valid keys.
pub fn apply_overrides<T: serde::Serialize + serde::de::DeserializeOwned>(cfg: &T, sets: &[String]) -> Result<T, String> {
    let mut v = serde_json::to_value(cfg).map_err(|e| e.to_string())?;
    let obj = v.as_object_mut().ok_or_else(|| "config is not an object".to_string())?;
    for s in sets {
        let (k, val) = s.split_once('=').ok_or_else(|| format!("--set `{s}`: expected KEY=VALUE"))?;
        let k = k.trim();
        let Some(old) = obj.get(k) else {
            let mut keys: Vec<&String> = obj.keys().collect();
            keys.sort();
            return Err(format!("--set: unknown key `{k}`; valid keys: {}", keys.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
        };
        let parsed: serde_json::Value = match old {
            serde_json::Value::String(_) => serde_json::Value::String(val.to_string()),
            _ => serde_json::from_str(val.trim()).unwrap_or_else(|_| serde_json::Value::String(val.to_string())),
        };
        obj.insert(k.to_string(), parsed);
    }
    serde_json::from_value(v.clone()).map_err(|e| format!("--set {}: bad value ({e})", sets.join(" ")))
}
