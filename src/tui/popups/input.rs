//! A one-field dialog: a policy value, a temporary password, a file to import or to
//! export to.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Dialog, Popup};
use crate::core::CoreError;
use crate::tui::app::{Act, Ctx, Outcome, Target};
use crate::tui::input::TextInput;
use crate::tui::keymap::{self, KeyBinding, bind};
use crate::tui::pane::{Keyed, Loaded};
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame, key_line};

pub struct InputPopup {
    pub(super) title: String,
    pub(super) label: String,
    pub(super) help: String,
    pub(super) input: TextInput,
    pub(super) then: InputThen,
    /// What is wrong with the value typed; the dialog stays open with it.
    pub(super) error: Option<String>,
}

pub enum InputThen {
    ImportCsv,
    /// The roster as shown, to write to the file typed.
    ExportCsv(String),
    TempPassword(String),
    Policy(crate::core::controls::PolicyKey),
}

impl InputPopup {
    /// What is wrong with `value`, checked before anything is confirmed or sent.
    fn refusal(&self, value: &str) -> Option<String> {
        match &self.then {
            InputThen::TempPassword(user) => crate::core::password::check_new(value, user).err(),
            InputThen::Policy(k) => {
                let mut scratch = crate::store::Policy::default();
                k.apply(&mut scratch, value.trim()).err().map(|_| {
                    strings::policy_refused(
                        value.trim(),
                        crate::tui::controls::policy_label(*k),
                        k.allowed(),
                    )
                })
            }
            InputThen::ImportCsv | InputThen::ExportCsv(_) if value.trim().is_empty() => {
                Some(strings::FILE_NEEDED.into())
            }
            InputThen::ImportCsv | InputThen::ExportCsv(_) => None,
        }
    }

    fn submit(&mut self, cx: &mut Ctx) {
        let value = self.input.value().to_string();
        if let Some(e) = self.refusal(&value) {
            self.error = Some(e);
            return;
        }
        cx.act(Act::Pop);
        if matches!(self.then, InputThen::ImportCsv) {
            self.input.clear();
            start_import(cx, std::path::PathBuf::from(value.trim()));
            return;
        }
        let p = match &self.then {
            InputThen::ImportCsv => return,
            InputThen::ExportCsv(csv) => Pending::Export {
                path: std::path::PathBuf::from(value.trim()),
                csv: csv.clone(),
            },
            InputThen::TempPassword(u) => {
                Pending::TempPassword(u.clone(), zeroize::Zeroizing::new(value))
            }
            InputThen::Policy(k) => Pending::SetPolicy { key: *k, value },
        };
        self.input.clear();
        // A temporary password is confirmed like the other acts on a user.
        if matches!(p, Pending::TempPassword(..)) {
            cx.act(Act::Push(Popup::confirm_pending(p)));
            return;
        }
        p.run(cx);
    }
}

/// What a key does in a one-field dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Save,
    Cancel,
}

pub const KEYS: &[KeyBinding<Action>] = &[
    bind(
        keymap::ENTER,
        "Enter",
        strings::KEY_SAVE,
        true,
        Action::Save,
    ),
    bind(
        keymap::ESC,
        "Esc",
        strings::KEY_CANCEL,
        true,
        Action::Cancel,
    ),
];

impl Keyed for InputPopup {
    type Action = Action;
    fn keymap(&self) -> &'static [KeyBinding<Action>] {
        KEYS
    }
    fn typing(&mut self) -> Option<&mut TextInput> {
        Some(&mut self.input)
    }
    /// The value is being mended: the complaint about it goes.
    fn typed(&mut self, _cx: &mut Ctx) {
        self.error = None;
    }
    fn handle(&mut self, a: Action, cx: &mut Ctx) -> Outcome {
        match a {
            Action::Cancel => cx.act(Act::Pop),
            Action::Save => self.submit(cx),
        }
        Outcome::Consumed
    }
}

impl Dialog for InputPopup {
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 66, 8);
        let inner = frame(f, r, &self.title, theme, false);
        let rows = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(inner);
        f.render_widget(
            Paragraph::new(self.help.clone()).wrap(Wrap { trim: true }),
            rows[0],
        );
        self.input.render(f, rows[1], &self.label, true, theme);
        if let Some(e) = &self.error {
            f.render_widget(
                Paragraph::new(Line::styled(e.clone(), theme.error())).wrap(Wrap { trim: true }),
                rows[2],
            );
        }
        f.render_widget(
            Paragraph::new(key_line(&keymap::footer(KEYS), theme)),
            rows[3],
        );
    }
}

/// Imports a CSV file in the background, with its progress in the status line.
fn start_import(ctx: &mut Ctx, path: std::path::PathBuf) {
    use crate::core::import::{CodeDelivery, Phase, read_file};
    let Some(session) = ctx.session.clone() else {
        return;
    };
    ctx.run_with_progress(
        Target::Pane(crate::tui::users::ID),
        "import",
        strings::READING_FILE,
        move |core, report| {
            let result = read_file(&path).and_then(|rows| {
                core.import_users(
                    crate::core::Actor::User(&session),
                    rows,
                    CodeDelivery::Mail,
                    &mut |phase, done, total| {
                        let what = match phase {
                            Phase::Writing => strings::IMPORT_WRITING,
                            Phase::Mailing => strings::IMPORT_MAILING,
                        };
                        report(format!("{what}: {done} of {total}…"));
                    },
                )
            });
            (path, result)
        },
    );
}

type Imported = (
    std::path::PathBuf,
    Result<crate::core::import::ImportReport, CoreError>,
);

/// The end of an import started from the Users pane: what was done, or every row to fix
/// with the path kept in its field.
pub fn import_done(r: Loaded, ctx: &mut Ctx) {
    let Some((path, result)) = r.take::<Imported>() else {
        return;
    };
    match result {
        Ok(r) => {
            let mut lines = vec![strings::imported(r.added, &ctx.mailer.describe())];
            if r.mail_failures > 0 {
                lines.push(strings::import_mail_failures(
                    r.mail_failures,
                    &r.first_mail_error.unwrap_or_default(),
                ));
            }
            ctx.act(Act::Push(Popup::message(
                strings::IMPORT_DONE_TITLE,
                lines,
                r.mail_failures > 0,
            )));
            ctx.act(Act::Reload);
        }
        Err(CoreError::ImportRejected { errors, total, .. }) => {
            let mut lines = vec![strings::import_rejected(total, errors.len()), String::new()];
            lines.extend(errors);
            ctx.act(Act::Push(Popup::import_csv_from(&path.to_string_lossy())));
            ctx.act(Act::Push(Popup::message(
                strings::NOTHING_IMPORTED_TITLE,
                lines,
                true,
            )));
        }
        Err(e) => {
            ctx.act(Act::Push(Popup::import_csv_from(&path.to_string_lossy())));
            ctx.act(Act::Push(Popup::message(
                strings::NOTHING_IMPORTED_TITLE,
                vec![e.to_string()],
                true,
            )));
        }
    }
}
