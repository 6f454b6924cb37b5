//! One file per panel. A panel holds only its UI state (selection, zoom, text
//! fields); it reads the [`Workspace`] through [`PanelCx`] and asks for
//! changes by pushing [`Command`]s.

pub mod attention;
pub mod data;
pub mod flow;
pub mod ranking;
pub mod runs;
pub mod tokens;
pub mod train;

use crate::gui::command::Command;
use crate::gui::workspace::{PanelId, Workspace};

/// What a panel gets each frame.
pub struct PanelCx<'a> {
    pub workspace: &'a Workspace,
    pub commands: &'a mut Vec<Command>,
}

impl PanelCx<'_> {
    /// Queues a command for app.rs.
    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }
}

/// A view of the workbench.
pub trait Panel {
    /// Which panel this is.
    fn id(&self) -> PanelId;
    /// The navigation label.
    fn title(&self) -> &'static str {
        self.id().title()
    }
    /// What the panel still needs, in one sentence (a dot in the navigation when `Some`).
    fn missing(&self, _workspace: &Workspace) -> Option<&'static str> {
        None
    }
    /// Draws the panel into the central area.
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut PanelCx<'_>);
}

/// Every panel, in [`PanelId::ALL`] order.
pub fn all_panels() -> Vec<Box<dyn Panel>> {
    vec![
        Box::new(flow::FlowPanel),
        Box::new(data::DataPanel::default()),
        Box::new(tokens::TokensPanel::default()),
        Box::new(train::TrainPanel::default()),
        Box::new(attention::AttentionPanel::default()),
        Box::new(ranking::RankingPanel::default()),
        Box::new(runs::RunsPanel::default()),
    ]
}
