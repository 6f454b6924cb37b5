//! Loading a behaviour log for the GUI, off the UI thread: the engine's
//! `data::load` (format detection, presets, cache), the column-mapping step
//! when it does not recognise the file, and the figures (`data::stats::Stats`).

use std::path::Path;
use std::sync::Arc;

use crate::data::stats::Stats;
use crate::data::{self, DataError, LoadOptions};
use crate::gui::jobs::JobSink;
use crate::gui::mapping::{self, ColumnMapping, HeaderPreview, MapError};
use crate::gui::workspace::LoadedData;

/// Share of the progress bar spent parsing rows (the rest is the figures).
const PARSE_SHARE: f32 = 0.9;

/// What a load produced.
#[derive(Debug)]
pub enum LoadOutcome {
    /// Boxed: the figures make it far larger than a preview.
    Loaded(Box<LoadedData>),
    /// The engine did not recognise the file: show the mapping step.
    NeedsMapping(HeaderPreview),
}

/// Loads `path` (with `mapping`, or letting the engine detect the format),
/// reporting progress to `sink` when given.
pub fn load(
    path: &Path,
    mapping: Option<ColumnMapping>,
    sink: Option<&JobSink<LoadOutcome>>,
) -> Result<LoadOutcome, MapError> {
    let say = |f: f32, what: &str| {
        if let Some(s) = sink {
            s.progress(f, what);
        }
    };
    let cancelled = || sink.is_some_and(|s| s.is_cancelled());
    say(0.0, "reading the log");
    let progress = sink.map(|s| {
        let s = s.clone();
        Arc::new(move |f: f32| s.progress(f * PARSE_SHARE, "parsing rows"))
            as Arc<dyn Fn(f32) + Send + Sync>
    });
    let (dataset, report) = match mapping {
        None => {
            let opts = LoadOptions {
                use_cache: true,
                progress,
                ..LoadOptions::default()
            };
            match data::load(path, &opts) {
                Ok(loaded) => loaded,
                Err(DataError::UnknownFormat { reason, .. }) => {
                    return Ok(LoadOutcome::NeedsMapping(mapping::preview(path, &reason)?));
                }
                Err(e @ DataError::MissingColumn { .. }) => {
                    return Ok(LoadOutcome::NeedsMapping(mapping::preview(
                        path,
                        &e.to_string(),
                    )?));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Some(m) if mapping::engine_can_load(&m) => {
            let opts = LoadOptions {
                use_cache: true,
                progress,
                roles: Some(m.engine_roles()),
                ..LoadOptions::default()
            };
            data::load(path, &opts)?
        }
        Some(m) => mapping::load_mapped(path, &m, &mut |f| {
            say(f * PARSE_SHARE, "parsing rows");
            !cancelled()
        })?,
    };
    if cancelled() {
        return Err(MapError::Cancelled);
    }
    say(PARSE_SHARE, "computing figures");
    let stats = Stats::compute(&dataset);
    Ok(LoadOutcome::Loaded(Box::new(LoadedData {
        path: path.to_path_buf(),
        dataset: Arc::new(dataset),
        report,
        stats,
    })))
}

/// The body of the GUI's loading job.
pub fn load_job(
    path: &Path,
    mapping: Option<ColumnMapping>,
    sink: &JobSink<LoadOutcome>,
) -> Result<LoadOutcome, String> {
    load(path, mapping, Some(sink)).map_err(|e| e.to_string())
}

/// Loads synchronously (headless rendering); a file needing a mapping is an error here.
pub fn load_blocking(path: &Path) -> anyhow::Result<LoadedData> {
    match load(path, None, None)? {
        LoadOutcome::Loaded(d) => Ok(*d),
        LoadOutcome::NeedsMapping(p) => {
            anyhow::bail!(
                "{}: {}; open it in the GUI to map its columns",
                path.display(),
                p.reason
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::formats::Role;

    #[test]
    fn unknown_header_asks_for_a_mapping_then_loads_through_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        std::fs::write(
            &path,
            "who,when,what\nu1,1511544070,i1\nu2,1511544071,i2\nu1,1511544072,i2\n",
        )
        .unwrap();
        let LoadOutcome::NeedsMapping(preview) = load(&path, None, None).unwrap() else {
            panic!("expected the mapping step")
        };
        assert_eq!(preview.headers, ["who", "when", "what"]);
        assert!(!preview.recognised());
        let mut mapping = preview.guess.clone();
        mapping.roles = vec![Role::User, Role::Time, Role::Item];
        assert!(mapping::engine_can_load(&mapping));
        let LoadOutcome::Loaded(data) = load(&path, Some(mapping), None).unwrap() else {
            panic!("expected data")
        };
        assert_eq!(
            (data.stats.users, data.stats.items, data.stats.behaviors),
            (2, 2, 3)
        );
        assert_eq!(data.report.detection, "column mapping chosen by the user");
        assert!(
            !data.report.fingerprint.is_empty(),
            "the engine path fingerprints the input"
        );
    }
}
