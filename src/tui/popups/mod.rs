//! Dialogs over the screen. They get keys first; the topmost one is in charge. One file
//! per dialog; this one holds the list of them and hands keys and drawing to each.

mod add_user;
mod advisory;
mod choice;
mod confirm;
mod help;
mod input;
mod message;
mod reauth;
mod recovery;

pub use add_user::AddUser;
pub use advisory::Advisory;
pub use choice::Choice;
pub use confirm::{Confirm, ConfirmThen};
pub use help::Help;
pub use input::{InputPopup, InputThen, import_done};
pub use message::Message;
pub use reauth::Reauth;
pub use recovery::RecoveryCodes;

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::core::controls::method_name;
use crate::store::{Method, Role};
use crate::tui::app::{Ctx, Outcome};
use crate::tui::input::TextInput;
use crate::tui::keymap;
use crate::tui::pane::{Keyed, Loaded, press};
use crate::tui::pending::Pending;
use crate::tui::strings;
use crate::tui::theme::Theme;

/// A dialog: keys through its keymap like a pane's (see [`Keyed`]), plus what a dialog
/// has of its own. Adding one is a file implementing both and a variant of [`Popup`].
pub trait Dialog: Keyed {
    /// Starts the work it needs as it opens (the methods a re-authentication asks for),
    /// so that no core call runs on the UI thread.
    fn opened(&mut self, _cx: &mut Ctx) {}
    /// A key its keymap does not name (the help closes on any).
    fn unbound(&mut self, _key: KeyEvent, _cx: &mut Ctx) {}
    /// A confirmed act started from it was carried out.
    fn after(&mut self, _done: &Pending) {}
    /// The keys the footer offers while the dialog is up: its keymap's, or fewer when
    /// some do nothing now.
    fn footer(&self) -> Vec<(&'static str, &'static str)> {
        keymap::footer(self.keymap())
    }
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme);
}

/// A dialog as the stack holds it, whatever its action type.
trait AnyDialog {
    fn key(&mut self, key: KeyEvent, cx: &mut Ctx);
    fn paste(&mut self, text: &str, cx: &mut Ctx);
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx);
    fn opened(&mut self, cx: &mut Ctx);
    fn after(&mut self, done: &Pending);
    fn footer(&self) -> Vec<(&'static str, &'static str)>;
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme);
}

impl<D: Dialog> AnyDialog for D {
    /// The topmost dialog takes every key: what its keymap does not name goes nowhere else.
    fn key(&mut self, key: KeyEvent, cx: &mut Ctx) {
        if let Outcome::Ignored = press(self, key, cx) {
            self.unbound(key, cx);
        }
    }
    fn paste(&mut self, text: &str, cx: &mut Ctx) {
        crate::tui::pane::paste(self, text, cx);
    }
    fn on_result(&mut self, r: Loaded, cx: &mut Ctx) {
        Keyed::on_result(self, r, cx)
    }
    fn opened(&mut self, cx: &mut Ctx) {
        Dialog::opened(self, cx)
    }
    fn after(&mut self, done: &Pending) {
        Dialog::after(self, done)
    }
    fn footer(&self) -> Vec<(&'static str, &'static str)> {
        Dialog::footer(self)
    }
    fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        Dialog::render(self, f, area, theme)
    }
}

/// The dialogs' keys, titled, for the `?` help (the advisory and adding a user are for
/// admins).
pub fn help(admin: bool) -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut out = vec![
        (strings::HELP_CONFIRM, keymap::help(confirm::KEYS)),
        (strings::HELP_REAUTH, keymap::help(reauth::KEYS)),
        (strings::HELP_MESSAGE, keymap::help(message::KEYS)),
    ];
    if admin {
        out.push((strings::HELP_ADVISORY, keymap::help(advisory::KEYS)));
        out.push((strings::HELP_ADD_USER, keymap::help(add_user::ROLE_KEYS)));
        out.push((strings::HELP_CHOICE, keymap::help(choice::KEYS)));
    }
    out
}

/// `$body` with `$d` bound to the dialog inside `$popup`, whichever it is.
macro_rules! each_dialog {
    ($popup:expr, $d:ident => $body:expr) => {
        match $popup {
            Popup::Help($d) => $body,
            Popup::Message($d) => $body,
            Popup::Confirm($d) => $body,
            Popup::Reauth($d) => $body,
            Popup::AddUser($d) => $body,
            Popup::Input($d) => $body,
            Popup::Choice($d) => $body,
            Popup::RecoveryCodes($d) => $body,
            Popup::Advisory($d) => $body,
        }
    };
}

pub enum Popup {
    Help(Help),
    Message(Message),
    Confirm(Confirm),
    Reauth(Reauth),
    AddUser(AddUser),
    Input(InputPopup),
    Choice(Choice),
    RecoveryCodes(RecoveryCodes),
    Advisory(Advisory),
}

impl Popup {
    pub fn help(keys: Vec<(String, String)>) -> Popup {
        Popup::Help(Help { keys, scroll: 0 })
    }

    pub fn message(title: &str, lines: Vec<String>, error: bool) -> Popup {
        Popup::Message(Message {
            title: title.into(),
            lines,
            error,
            scroll: 0,
        })
    }

    /// A dangerous act starts on Cancel, so a stray Enter changes nothing.
    pub fn confirm(title: &str, lines: Vec<String>, then: Pending, danger: bool) -> Popup {
        Popup::Confirm(Confirm {
            title: title.into(),
            lines,
            checkbox: None,
            focus: usize::from(danger),
            then: ConfirmThen::Run(then),
            danger,
        })
    }

    /// The confirmation of `p`, its text from the act itself.
    pub fn confirm_pending(p: Pending) -> Popup {
        let (title, lines, danger) = p.confirmation();
        Popup::confirm(&title, lines, p, danger)
    }

    /// The same, with a note below the text (what it means for the one confirming).
    pub fn confirm_pending_noting(p: Pending, note: &str) -> Popup {
        let (title, mut lines, danger) = p.confirmation();
        lines.push(String::new());
        lines.push(note.to_string());
        Popup::confirm(&title, lines, p, danger)
    }

    /// The same, naming what the act is about ("Authenticator app \"phone\"").
    pub fn confirm_pending_about(p: Pending, what: &str) -> Popup {
        let (title, mut lines, danger) = p.confirmation();
        lines.insert(0, strings::about(what));
        Popup::confirm(&title, lines, p, danger)
    }

    pub fn confirm_method_off(method: Method, mfa_goes_off: bool) -> Popup {
        let what = strings::method_off_what(method_name(method), mfa_goes_off);
        Popup::Confirm(Confirm {
            title: if mfa_goes_off {
                strings::MFA_OFF_TITLE.into()
            } else {
                strings::method_off_title(method_name(method))
            },
            lines: vec![what, String::new(), strings::FORGET_EXPLAINED.into()],
            checkbox: Some((strings::FORGET_ALL_DEVICES.into(), false)),
            focus: 0,
            then: ConfirmThen::MethodOff(method),
            danger: true,
        })
    }

    /// Turning MFA off for the organization: one dialog, one Forget all devices for
    /// every method, and what it would unregister up front.
    pub fn confirm_mfa_off(apps: usize, emails: usize, users: usize) -> Popup {
        Popup::Confirm(Confirm {
            title: strings::MFA_OFF_TITLE.into(),
            lines: vec![
                strings::MFA_OFF_WHAT.into(),
                String::new(),
                strings::mfa_off_forget_count(apps, emails, users),
                strings::FORGET_ALL_EXPLAINED.into(),
            ],
            checkbox: Some((strings::FORGET_ALL_DEVICES.into(), false)),
            focus: 0,
            then: ConfirmThen::MfaOff,
            danger: true,
        })
    }

    pub fn confirm_quit() -> Popup {
        Popup::Confirm(Confirm {
            title: strings::QUIT_TITLE.into(),
            lines: vec![strings::QUIT_WIZARD_OPEN.into()],
            checkbox: None,
            focus: 0,
            then: ConfirmThen::Quit,
            danger: false,
        })
    }

    /// Re-authentication before `then`; the methods it asks for are read when it opens.
    pub fn reauth(then: Pending) -> Popup {
        Popup::Reauth(Reauth {
            password: TextInput::masked(),
            code: TextInput::new(),
            methods: Vec::new(),
            loaded: false,
            method: 0,
            focus: 0,
            error: None,
            then,
        })
    }

    fn dialog(&self) -> &dyn AnyDialog {
        each_dialog!(self, d => d)
    }

    fn dialog_mut(&mut self) -> &mut dyn AnyDialog {
        each_dialog!(self, d => d)
    }

    /// Starts the work the dialog needs as it opens.
    pub fn opened(&mut self, ctx: &mut Ctx) {
        self.dialog_mut().opened(ctx)
    }

    /// A confirmed act was carried out while this dialog was open.
    pub fn after(&mut self, done: &Pending) {
        self.dialog_mut().after(done)
    }

    /// A result of the work the topmost dialog started.
    pub fn on_result(&mut self, r: Loaded, ctx: &mut Ctx) {
        self.dialog_mut().on_result(r, ctx)
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        self.dialog_mut().key(key, ctx)
    }

    /// Text pasted while this dialog is on top: into its field, if it has one.
    pub fn paste(&mut self, text: &str, ctx: &mut Ctx) {
        self.dialog_mut().paste(text, ctx)
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        self.dialog().render(f, area, theme)
    }

    /// The keys the footer shows while this dialog is on top.
    pub fn footer(&self) -> Vec<(&'static str, &'static str)> {
        self.dialog().footer()
    }

    pub fn add_user() -> Popup {
        Popup::AddUser(AddUser {
            username: TextInput::new(),
            email: TextInput::new(),
            name: TextInput::new(),
            role: Role::Member,
            focus: 0,
            error: None,
        })
    }

    pub fn temp_password(user: &str) -> Popup {
        Popup::Input(InputPopup {
            title: strings::temp_password_title(user),
            label: strings::LABEL_PASSWORD.into(),
            help: strings::TEMP_PASSWORD_HELP.into(),
            input: TextInput::new(),
            then: InputThen::TempPassword(user.into()),
            error: None,
        })
    }

    pub fn import_csv() -> Popup {
        Popup::import_csv_from("")
    }

    /// The import dialog with `path` filled in (again, after a failed import).
    pub fn import_csv_from(path: &str) -> Popup {
        Popup::Input(InputPopup {
            title: strings::IMPORT_TITLE.into(),
            label: strings::LABEL_FILE.into(),
            help: strings::IMPORT_HELP.into(),
            input: TextInput::with_value(path),
            then: InputThen::ImportCsv,
            error: None,
        })
    }

    pub fn policy(key: crate::core::controls::PolicyKey, current: &str) -> Popup {
        Popup::Input(InputPopup {
            title: crate::tui::controls::policy_label(key).to_string(),
            label: strings::LABEL_VALUE.into(),
            help: strings::allowed(key.allowed()),
            input: TextInput::with_value(current),
            then: InputThen::Policy(key),
            error: None,
        })
    }

    /// The bulk acts for `users` (each is confirmed).
    pub fn bulk_choice(users: Vec<String>) -> Popup {
        Popup::Choice(Choice {
            title: format!("{} · {} user(s)", strings::BULK_TITLE, users.len()),
            options: crate::tui::pending::BulkAct::ALL
                .iter()
                .map(|a| (a.label().to_string(), Pending::Bulk(*a, users.clone())))
                .collect(),
            selected: 0,
        })
    }

    /// Where to write the roster as shown.
    pub fn export_csv(csv: String) -> Popup {
        Popup::Input(InputPopup {
            title: strings::EXPORT_TITLE.into(),
            label: strings::LABEL_FILE.into(),
            help: strings::EXPORT_HELP.into(),
            input: TextInput::new(),
            then: InputThen::ExportCsv(csv),
            error: None,
        })
    }

    pub fn role_choice(user: &str, current: Role) -> Popup {
        let roles = [Role::Admin, Role::Member, Role::Integration];
        Popup::Choice(Choice {
            title: strings::role_of(user),
            options: roles
                .iter()
                .map(|r| {
                    (
                        crate::core::users::role_name(*r).to_string(),
                        Pending::SetRole(user.into(), *r),
                    )
                })
                .collect(),
            selected: roles.iter().position(|r| *r == current).unwrap_or(0),
        })
    }

    pub fn recovery_codes(codes: Vec<String>) -> Popup {
        Popup::RecoveryCodes(RecoveryCodes { codes })
    }
}
