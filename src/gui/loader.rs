//! Loading a behaviour log for the GUI, off the UI thread: detect the header,
//! ask for a mapping when it is unknown, parse, and compute the Data panel's
//! figures. The one place to switch to the engine's `data::load` when it lands.

use std::path::Path;
use std::sync::Arc;

use crate::gui::jobs::JobSink;
use crate::gui::mapping::{self, ColumnMapping, ColumnRole, HeaderPreview, MapError};
use crate::gui::summary::DataSummary;
use crate::gui::workspace::LoadedData;

/// Share of the progress bar spent parsing rows (the rest is the figures).
const PARSE_SHARE: f32 = 0.9;

/// What a load produced.
#[derive(Debug)]
pub enum LoadOutcome {
    Loaded(LoadedData),
    /// The header is unknown: show the mapping step.
    NeedsMapping(HeaderPreview),
}

/// Loads `path` (with `mapping`, or detecting the header), reporting progress
/// through `progress(fraction, message)`; `progress` returns false to cancel.
pub fn load(
    path: &Path,
    mapping: Option<ColumnMapping>,
    progress: &mut dyn FnMut(f32, &str) -> bool,
) -> Result<LoadOutcome, MapError> {
    progress(0.0, "reading the header");
    let (mapping, recognised) = match mapping {
        Some(m) => (m, None),
        None => {
            let preview = mapping::preview(path)?;
            if !preview.recognised() {
                return Ok(LoadOutcome::NeedsMapping(preview));
            }
            let named: Vec<String> = preview
                .headers
                .iter()
                .zip(&preview.guess.roles)
                .filter(|(_, r)| **r != ColumnRole::Ignore)
                .map(|(h, r)| if h.eq_ignore_ascii_case(r.name()) { h.clone() } else { format!("{h} → {}", r.name()) })
                .collect();
            (preview.guess, Some(named))
        }
    };
    let (dataset, mut info) = mapping::load_mapped(path, &mapping, &mut |f| progress(f * PARSE_SHARE, "parsing rows"))?;
    if let Some(named) = recognised {
        info.format = "native log (delimited, header)".into();
        info.detection = format!("the header names the columns: {}", named.join(", "));
    }
    if !progress(PARSE_SHARE, "computing figures") {
        return Err(MapError::Cancelled);
    }
    let summary = DataSummary::compute(&dataset);
    Ok(LoadOutcome::Loaded(LoadedData { path: path.to_path_buf(), dataset: Arc::new(dataset), info, summary }))
}

/// The body of the GUI's loading job.
pub fn load_job(path: &Path, mapping: Option<ColumnMapping>, sink: &JobSink<LoadOutcome>) -> Result<LoadOutcome, String> {
    load(path, mapping, &mut |f, msg| {
        sink.progress(f, msg);
        !sink.is_cancelled()
    })
    .map_err(|e| e.to_string())
}

/// Loads synchronously (headless rendering); a file needing a mapping is an error here.
pub fn load_blocking(path: &Path) -> anyhow::Result<LoadedData> {
    match load(path, None, &mut |_, _| true)? {
        LoadOutcome::Loaded(d) => Ok(d),
        LoadOutcome::NeedsMapping(p) => anyhow::bail!(
            "{}: header not recognised ({}); open it in the GUI to map its columns",
            path.display(),
            p.headers.join(", ")
        ),
    }
}
