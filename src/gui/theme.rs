//! Colours, spacing and type for the whole GUI: one dark theme (default) and
//! one light, the stage colours (pre-train / post-train / CTR), the token
//! colours (condition / item / query) and the action colours.
//!
//! Panels never invent a colour or a size: they ask [`Palette::of`] and use
//! the constants here, so the window stays consistent when the theme changes.

use egui::{Color32, CornerRadius, FontFamily, FontId, Stroke, TextStyle, Theme, Visuals};

use crate::data::Action;

/// Width of the left navigation.
pub const NAV_WIDTH: f32 = 150.0;
/// Height of the top bar.
pub const TOP_BAR_HEIGHT: f32 = 38.0;
/// Height of the bottom status bar.
pub const STATUS_BAR_HEIGHT: f32 = 28.0;
/// Width of a panel's left settings column.
pub const SIDE_COLUMN_WIDTH: f32 = 300.0;
/// Width of a panel's right detail column.
pub const DETAIL_COLUMN_WIDTH: f32 = 440.0;
/// Height of one table row.
pub const ROW_HEIGHT: f32 = 20.0;
/// Small gap (between a label and its value).
pub const GAP_S: f32 = 4.0;
/// Normal gap (between widgets).
pub const GAP_M: f32 = 8.0;
/// Large gap (between sections).
pub const GAP_L: f32 = 16.0;
/// Corner radius of cards and chips.
pub const RADIUS: u8 = 4;
/// Body text size in points.
pub const BODY_SIZE: f32 = 13.5;
/// Small text (badges, axis labels) in points.
pub const SMALL_SIZE: f32 = 11.0;
/// Monospace (ids) in points.
pub const MONO_SIZE: f32 = 12.5;
/// Section headings in points.
pub const HEADING_SIZE: f32 = 17.0;
/// Big numbers on stat cards in points.
pub const METRIC_SIZE: f32 = 20.0;

/// The three stages of the flow, each with its own colour everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    PreTrain,
    PostTrain,
    Ctr,
}

/// The three token types, each with its own colour everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Condition,
    Item,
    Query,
}

/// Every semantic colour of one theme.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palette {
    pub dark: bool,
    /// Window background.
    pub bg: Color32,
    /// Side panels and bars.
    pub panel: Color32,
    /// Cards and inputs.
    pub card: Color32,
    pub card_stroke: Color32,
    pub text: Color32,
    pub text_strong: Color32,
    pub text_weak: Color32,
    /// The one colour for actions (primary buttons, selection, links).
    pub accent: Color32,
    pub positive: Color32,
    pub negative: Color32,
    pub warning: Color32,
    pub error: Color32,
    pub stage_pretrain: Color32,
    pub stage_posttrain: Color32,
    pub stage_ctr: Color32,
    pub token_condition: Color32,
    pub token_item: Color32,
    pub token_query: Color32,
}

impl Palette {
    /// The dark theme (the default).
    pub const DARK: Palette = Palette {
        dark: true,
        bg: Color32::from_rgb(0x0f, 0x11, 0x14),
        panel: Color32::from_rgb(0x16, 0x19, 0x1d),
        card: Color32::from_rgb(0x1c, 0x20, 0x25),
        card_stroke: Color32::from_rgb(0x2a, 0x2f, 0x36),
        text: Color32::from_rgb(0xc4, 0xc9, 0xd0),
        text_strong: Color32::from_rgb(0xee, 0xf1, 0xf4),
        text_weak: Color32::from_rgb(0x80, 0x88, 0x93),
        accent: Color32::from_rgb(0x4d, 0x8d, 0xff),
        positive: Color32::from_rgb(0x4c, 0xc3, 0x8a),
        negative: Color32::from_rgb(0xf0, 0x6a, 0x6a),
        warning: Color32::from_rgb(0xe8, 0xb3, 0x4a),
        error: Color32::from_rgb(0xf0, 0x6a, 0x6a),
        stage_pretrain: Color32::from_rgb(0x9d, 0x8c, 0xff),
        stage_posttrain: Color32::from_rgb(0x3f, 0xc1, 0xd9),
        stage_ctr: Color32::from_rgb(0xf2, 0x8c, 0x5a),
        token_condition: Color32::from_rgb(0xe0, 0xb0, 0x50),
        token_item: Color32::from_rgb(0x5c, 0xb8, 0xff),
        token_query: Color32::from_rgb(0xe0, 0x70, 0xd8),
    };

    /// The light theme.
    pub const LIGHT: Palette = Palette {
        dark: false,
        bg: Color32::from_rgb(0xf6, 0xf7, 0xf9),
        panel: Color32::from_rgb(0xec, 0xee, 0xf1),
        card: Color32::from_rgb(0xff, 0xff, 0xff),
        card_stroke: Color32::from_rgb(0xd5, 0xd9, 0xdf),
        text: Color32::from_rgb(0x2c, 0x31, 0x38),
        text_strong: Color32::from_rgb(0x0d, 0x10, 0x14),
        text_weak: Color32::from_rgb(0x6b, 0x73, 0x7d),
        accent: Color32::from_rgb(0x1f, 0x6f, 0xeb),
        positive: Color32::from_rgb(0x1a, 0x8a, 0x55),
        negative: Color32::from_rgb(0xc9, 0x3c, 0x3c),
        warning: Color32::from_rgb(0xa8, 0x6a, 0x00),
        error: Color32::from_rgb(0xc9, 0x3c, 0x3c),
        stage_pretrain: Color32::from_rgb(0x6a, 0x55, 0xe0),
        stage_posttrain: Color32::from_rgb(0x12, 0x8a, 0xa3),
        stage_ctr: Color32::from_rgb(0xd0, 0x62, 0x2c),
        token_condition: Color32::from_rgb(0xa8, 0x78, 0x10),
        token_item: Color32::from_rgb(0x1f, 0x74, 0xc8),
        token_query: Color32::from_rgb(0xb0, 0x3a, 0xa8),
    };

    /// The palette of the theme `ui` is drawn with.
    pub fn of(ui: &egui::Ui) -> Palette {
        if ui.visuals().dark_mode {
            Palette::DARK
        } else {
            Palette::LIGHT
        }
    }

    /// Colour of a stage.
    pub fn stage(&self, stage: Stage) -> Color32 {
        match stage {
            Stage::PreTrain => self.stage_pretrain,
            Stage::PostTrain => self.stage_posttrain,
            Stage::Ctr => self.stage_ctr,
        }
    }

    /// Colour of a token type.
    pub fn token(&self, kind: TokenKind) -> Color32 {
        match kind {
            TokenKind::Condition => self.token_condition,
            TokenKind::Item => self.token_item,
            TokenKind::Query => self.token_query,
        }
    }

    /// Colour of an action (chips, strip plot, bars).
    pub fn action(&self, action: Action) -> Color32 {
        match action {
            Action::Impression => self.text_weak,
            Action::Click => self.accent,
            Action::Cart => self.warning,
            Action::Fav => self.token_query,
            Action::Buy => self.positive,
            Action::Other => self.stage_pretrain,
        }
    }

    /// A faint fill of `colour` for chip and badge backgrounds.
    pub fn tint(&self, colour: Color32) -> Color32 {
        colour.gamma_multiply(if self.dark { 0.18 } else { 0.14 })
    }
}

/// Colours for up to eight runs overlaid in one plot; a run keeps its colour everywhere.
pub fn series_colour(index: usize) -> Color32 {
    const SERIES: [Color32; 8] = [
        Color32::from_rgb(0x4d, 0x8d, 0xff),
        Color32::from_rgb(0xf2, 0x8c, 0x5a),
        Color32::from_rgb(0x4c, 0xc3, 0x8a),
        Color32::from_rgb(0xe0, 0x70, 0xd8),
        Color32::from_rgb(0xe0, 0xb0, 0x50),
        Color32::from_rgb(0x3f, 0xc1, 0xd9),
        Color32::from_rgb(0x9d, 0x8c, 0xff),
        Color32::from_rgb(0xb0, 0xb8, 0xc0),
    ];
    SERIES[index % SERIES.len()]
}

/// The colour of a run, fixed by its name so it is the same in every plot, table and session.
pub fn run_colour(name: &str) -> Color32 {
    series_colour(xxhash_rust::xxh3::xxh3_64(name.as_bytes()) as usize)
}

/// Font for big numbers on stat cards.
pub fn metric_font() -> FontId {
    FontId::new(METRIC_SIZE, FontFamily::Proportional)
}

/// Font for ids and other fixed-width values.
pub fn mono_font() -> FontId {
    FontId::new(MONO_SIZE, FontFamily::Monospace)
}

fn visuals(p: &Palette) -> Visuals {
    let mut v = if p.dark {
        Visuals::dark()
    } else {
        Visuals::light()
    };
    v.panel_fill = p.bg;
    v.window_fill = p.panel;
    v.extreme_bg_color = if p.dark {
        Color32::from_rgb(0x0b, 0x0d, 0x10)
    } else {
        Color32::WHITE
    };
    v.faint_bg_color = p.card;
    v.code_bg_color = p.card;
    v.hyperlink_color = p.accent;
    v.warn_fg_color = p.warning;
    v.error_fg_color = p.error;
    v.selection.bg_fill = p.accent.gamma_multiply(if p.dark { 0.45 } else { 0.3 });
    v.selection.stroke = Stroke::new(1.0, p.text_strong);
    v.window_stroke = Stroke::new(1.0, p.card_stroke);
    v.window_corner_radius = CornerRadius::same(6);
    let w = &mut v.widgets;
    w.noninteractive.bg_fill = p.panel;
    w.noninteractive.weak_bg_fill = p.panel;
    w.noninteractive.bg_stroke = Stroke::new(1.0, p.card_stroke);
    w.noninteractive.fg_stroke = Stroke::new(1.0, p.text);
    w.inactive.fg_stroke = Stroke::new(1.0, p.text);
    w.inactive.weak_bg_fill = p.card;
    w.inactive.bg_fill = p.card;
    w.inactive.bg_stroke = Stroke::new(1.0, p.card_stroke);
    w.hovered.fg_stroke = Stroke::new(1.0, p.text_strong);
    w.active.fg_stroke = Stroke::new(1.0, p.text_strong);
    for wv in [
        &mut w.noninteractive,
        &mut w.inactive,
        &mut w.hovered,
        &mut w.active,
        &mut w.open,
    ] {
        wv.corner_radius = CornerRadius::same(RADIUS);
    }
    v
}

/// The default fonts, with Hack after Ubuntu in the proportional family so the
/// symbols the panels use (● ○ ◐ ▶ → ▸) render everywhere, headless included.
fn fonts() -> egui::FontDefinitions {
    let mut fonts = egui::FontDefinitions::default();
    if let Some(family) = fonts.families.get_mut(&FontFamily::Proportional) {
        family.insert(1.min(family.len()), "Hack".to_owned());
    }
    fonts
}

/// Installs both themes' visuals and the shared text sizes and spacing, and selects `dark` or light.
pub fn install(ctx: &egui::Context, dark: bool) {
    ctx.set_fonts(fonts());
    ctx.set_visuals_of(Theme::Dark, visuals(&Palette::DARK));
    ctx.set_visuals_of(Theme::Light, visuals(&Palette::LIGHT));
    ctx.all_styles_mut(|style| {
        use FontFamily::{Monospace, Proportional};
        style.text_styles = [
            (TextStyle::Small, FontId::new(SMALL_SIZE, Proportional)),
            (TextStyle::Body, FontId::new(BODY_SIZE, Proportional)),
            (TextStyle::Button, FontId::new(BODY_SIZE, Proportional)),
            (TextStyle::Heading, FontId::new(HEADING_SIZE, Proportional)),
            (TextStyle::Monospace, FontId::new(MONO_SIZE, Monospace)),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(GAP_M, 6.0);
        style.spacing.button_padding = egui::vec2(8.0, 3.0);
        style.spacing.interact_size.y = 22.0;
    });
    set_dark(ctx, dark);
}

/// Switches between the dark and the light theme.
pub fn set_dark(ctx: &egui::Context, dark: bool) {
    ctx.set_theme(if dark { Theme::Dark } else { Theme::Light });
}
