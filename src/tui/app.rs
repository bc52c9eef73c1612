//! The console's state: which screen is up, the popups over it, work running in the
//! background, and how keys and results reach them.

use crate::store::Location;
use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::Sender;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Rect};
use ratatui::widgets::{Paragraph, Wrap};

use super::main_screen::MainScreen;
use super::pane::{Keyed, Loaded, PaneId, paste, press};
use super::popups::Popup;
use super::setup::SetupScreen;
use super::signin::SignInScreen;
use super::strings;
use super::theme::Theme;
use crate::core::{Core, Session};
use crate::mail::Mailer;

pub const MIN_WIDTH: u16 = 80;
/// The id of background loads, which never block keys.
const QUIET: u64 = 0;
pub const MIN_HEIGHT: u16 = 24;

/// What a key did.
pub enum Outcome {
    Ignored,
    Consumed,
}

/// Where a typed result goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A pane of the main screen, by its id.
    Pane(PaneId),
    /// The end of a confirmed act (see `pending`).
    Pending,
    /// The topmost dialog (its work runs while it is up).
    Popup,
    /// The sign-in screen.
    SignIn,
    /// First-run setup.
    Setup,
    /// The main screen itself (the session and organization, read again).
    Main,
    /// The app (whether another process changed the database).
    App,
}

/// A typed result on its way: who asked, what kind of request, and which request of that
/// kind it answers (only the newest is delivered).
pub struct Typed {
    pub target: Target,
    pub kind: &'static str,
    pub seq: u64,
    pub payload: Box<dyn Any + Send>,
}

/// Messages the event loop receives.
pub enum Msg {
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste): typed into the field in use, as
    /// text, never as keys.
    Paste(String),
    Resize,
    /// Background work of a pane or a confirmed act finished (busy id, result).
    Loaded(u64, Typed),
    /// Work in progress says how far it is (replaces its "working…" label).
    Progress(u64, String),
    Tick,
    /// The process was asked to end (SIGTERM, SIGHUP): leave as if the user quit.
    Quit,
}

/// App-level requests made by screens and popups while handling a key.
pub enum Act {
    Quit,
    /// Quit, but ask first (a wizard is open).
    AskQuit,
    Push(Popup),
    /// Close the topmost popup.
    Pop,
    /// Close every popup (they were opened under a role the user no longer has).
    CloseAll,
    SignedIn(Session),
    SignOut,
    Notice(String),
    Error(String),
    /// Something changed: what shows is read again.
    Reload,
}

/// A RADIUS client (NAS) as config.toml names it, for the Clients pane.
#[derive(Clone, Debug, Default)]
pub struct NasRow {
    pub name: String,
    pub mode: &'static str,
    pub address: String,
}

/// What screens and popups can reach while they handle a key.
pub struct Ctx {
    pub core: Option<Arc<Core>>,
    pub session: Option<Session>,
    pub theme: Theme,
    /// The database: a file, or a PostgreSQL database.
    pub db: Location,
    pub mailer: Arc<dyn Mailer>,
    /// The RADIUS clients of config.toml, read when the console started.
    pub radius_clients: Vec<NasRow>,
    jobs: Vec<Job>,
    acts: Vec<Act>,
}

type Payload = Box<dyn Any + Send>;
type TypedFn = Box<dyn FnOnce(&Core, &dyn Fn(String)) -> Payload + Send>;

/// Work for the background: its typed result goes to `target` as a [`Loaded`] of `kind`.
pub struct Job {
    target: Target,
    kind: &'static str,
    /// Shown while it runs ("Signing in…"), holding keys; empty: a quiet load.
    label: String,
    work: Work,
}

enum Work {
    /// Given the core, and a way to say how far it is.
    WithCore(TypedFn),
    /// Work that makes the core itself (first-run setup).
    Raw(Box<dyn FnOnce() -> Payload + Send>),
}

impl Ctx {
    /// Runs `f` off the UI thread without blocking keys; its result reaches the pane
    /// `pane` as a [`Loaded`] of `kind`, unless a newer request of the same kind was made
    /// meanwhile.
    pub fn load<T: Send + 'static>(
        &mut self,
        pane: PaneId,
        kind: &'static str,
        f: impl FnOnce(&Core) -> T + Send + 'static,
    ) {
        self.load_to(Target::Pane(pane), kind, f);
    }
    /// Like [`Ctx::load`], for a result to any `target`.
    pub fn load_to<T: Send + 'static>(
        &mut self,
        target: Target,
        kind: &'static str,
        f: impl FnOnce(&Core) -> T + Send + 'static,
    ) {
        self.typed(target, kind, String::new(), f);
    }
    /// Like [`Ctx::load`], showing `label` and holding keys until the result is in (a
    /// change being saved).
    pub fn run<T: Send + 'static>(
        &mut self,
        target: Target,
        kind: &'static str,
        label: &str,
        f: impl FnOnce(&Core) -> T + Send + 'static,
    ) {
        self.typed(target, kind, label.to_string(), f);
    }
    /// Like [`Ctx::run`], for long work that says how far it is through the function it
    /// is given (shown instead of `label`).
    pub fn run_with_progress<T: Send + 'static>(
        &mut self,
        target: Target,
        kind: &'static str,
        label: &str,
        f: impl FnOnce(&Core, &dyn Fn(String)) -> T + Send + 'static,
    ) {
        self.push(
            target,
            kind,
            label.to_string(),
            Work::WithCore(Box::new(move |core, report| Box::new(f(core, report)))),
        );
    }
    /// Like [`Ctx::run`], for the work that creates the core (first-run setup).
    pub fn run_raw<T: Send + 'static>(
        &mut self,
        target: Target,
        kind: &'static str,
        label: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) {
        self.push(
            target,
            kind,
            label.to_string(),
            Work::Raw(Box::new(move || Box::new(f()))),
        );
    }
    fn typed<T: Send + 'static>(
        &mut self,
        target: Target,
        kind: &'static str,
        label: String,
        f: impl FnOnce(&Core) -> T + Send + 'static,
    ) {
        self.push(
            target,
            kind,
            label,
            Work::WithCore(Box::new(move |core, _| Box::new(f(core)))),
        );
    }
    fn push(&mut self, target: Target, kind: &'static str, label: String, work: Work) {
        self.jobs.push(Job {
            target,
            kind,
            label,
            work,
        });
    }
    pub fn act(&mut self, a: Act) {
        self.acts.push(a);
    }
    pub fn core(&self) -> Option<&Arc<Core>> {
        self.core.as_ref()
    }
}

pub enum Screen {
    Setup(SetupScreen),
    SignIn(SignInScreen),
    Main(Box<MainScreen>),
}

/// How jobs run: on a thread (the console) or at once (tests and snapshots).
pub enum Runner {
    Threads(Sender<Msg>),
    Inline,
}

pub struct App {
    pub ctx: Ctx,
    pub screen: Screen,
    pub popups: Vec<Popup>,
    pub busy: Option<(u64, String)>,
    pub notice: Option<(String, bool)>,
    pub quit: bool,
    pub demo_credentials: Option<(String, String)>,
    runner: Runner,
    next_job: u64,
    generation: u64,
    /// A check of the generation is on its way (one at a time, however slow the store).
    checking: bool,
    /// The next generation read is the one at sign-in: recorded, nothing reloaded.
    baseline: bool,
    dirty: bool,
    /// The newest request of each kind, per target: older results are dropped.
    latest: HashMap<(Target, &'static str), u64>,
    next_seq: u64,
    /// The size of the last drawing: while it is too small, no key reaches anything.
    size: Cell<(u16, u16)>,
}

impl App {
    pub fn new(
        db: impl Into<Location>,
        core: Option<Arc<Core>>,
        mailer: Arc<dyn Mailer>,
        theme: Theme,
        runner: Runner,
    ) -> Self {
        let has_core = core.is_some();
        let mut app = Self {
            ctx: Ctx {
                core,
                session: None,
                theme,
                db: db.into(),
                mailer,
                radius_clients: Vec::new(),
                jobs: Vec::new(),
                acts: Vec::new(),
            },
            screen: Screen::Setup(SetupScreen::new()),
            popups: Vec::new(),
            busy: None,
            notice: None,
            quit: false,
            demo_credentials: None,
            runner,
            next_job: 0,
            generation: 0,
            checking: false,
            baseline: false,
            dirty: false,
            latest: HashMap::new(),
            next_seq: 0,
            size: Cell::new((MIN_WIDTH, MIN_HEIGHT)),
        };
        app.screen = if has_core {
            Screen::SignIn(SignInScreen::opened(&mut app.ctx))
        } else {
            Screen::Setup(SetupScreen::new())
        };
        app.run_pending();
        app
    }

    pub fn core(&self) -> Option<Arc<Core>> {
        self.ctx.core.clone()
    }

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Paste(text) => self.on_paste(&text),
            Msg::Resize => {}
            Msg::Loaded(busy, typed) => {
                if busy != QUIET {
                    if self.busy.as_ref().is_none_or(|(b, _)| *b != busy) {
                        return;
                    }
                    self.busy = None;
                }
                if self.latest.get(&(typed.target, typed.kind)) == Some(&typed.seq) {
                    self.latest.remove(&(typed.target, typed.kind));
                    self.deliver(typed);
                }
                self.run_pending();
            }
            Msg::Progress(id, text) => {
                if let Some((b, label)) = &mut self.busy
                    && *b == id
                {
                    *label = text;
                }
            }
            Msg::Tick => self.refresh_if_changed(),
            Msg::Quit => self.quit = true,
        }
    }

    /// Hands a typed result to the one who asked for it.
    fn deliver(&mut self, typed: Typed) {
        let loaded = Loaded::from_box(typed.kind, typed.payload);
        match typed.target {
            Target::Pane(id) => {
                if let Screen::Main(m) = &mut self.screen {
                    m.on_result(id, loaded, &mut self.ctx);
                }
            }
            Target::Pending => super::pending::finish(self, loaded),
            Target::SignIn => {
                if let Screen::SignIn(s) = &mut self.screen {
                    s.on_result(loaded, &mut self.ctx);
                }
            }
            Target::Setup => {
                if let Screen::Setup(s) = &mut self.screen {
                    s.on_result(loaded, &mut self.ctx);
                }
            }
            Target::Main => {
                if let Screen::Main(m) = &mut self.screen {
                    m.reloaded(loaded, &mut self.ctx);
                }
            }
            Target::App => {
                self.checking = false;
                let Some(Ok(g)) = loaded.take::<crate::core::Result<u64>>() else {
                    return;
                };
                if std::mem::take(&mut self.baseline) {
                    self.generation = g;
                } else if g != self.generation {
                    self.generation = g;
                    self.dirty = true;
                    if let Screen::Main(m) = &mut self.screen {
                        m.reload(&mut self.ctx);
                    }
                }
            }
            Target::Popup => {
                if let Some(p) = self.popups.last_mut() {
                    p.on_result(loaded, &mut self.ctx);
                }
            }
        }
    }

    /// Whether the window is too small to show anything but "enlarge it".
    pub fn too_small(&self) -> bool {
        let (w, h) = self.size.get();
        w < MIN_WIDTH || h < MIN_HEIGHT
    }

    /// Reloads what is on screen when another process changed the database (read off
    /// the UI thread, like every core call).
    fn refresh_if_changed(&mut self) {
        if self.core().is_none() || self.checking {
            return;
        }
        self.checking = true;
        self.ctx
            .load_to(Target::App, "generation", |core| core.generation());
        self.run_pending();
    }

    /// Pasted text goes where typed text would, through the same gate as keys.
    pub fn on_paste(&mut self, text: &str) {
        if self.too_small() || self.busy.is_some() {
            return;
        }
        self.notice = None;
        if let Some(p) = self.popups.last_mut() {
            p.paste(text, &mut self.ctx);
        } else {
            match &mut self.screen {
                Screen::Setup(s) => {
                    paste(s, text, &mut self.ctx);
                }
                Screen::SignIn(s) => {
                    paste(s, text, &mut self.ctx);
                }
                Screen::Main(m) => m.paste(text, &mut self.ctx),
            }
        }
        self.run_pending();
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind != KeyEventKind::Press {
            return;
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        // One gate: while the window is too small, nothing on the hidden screen (a dialog,
        // a password field) gets a key.
        if self.too_small() {
            return;
        }
        self.notice = None;
        if self.busy.is_some() {
            // While work runs, Esc abandons it; other keys wait.
            if key.code == KeyCode::Esc {
                self.busy = None;
            }
            return;
        }
        let handled = if let Some(p) = self.popups.last_mut() {
            p.handle_key(key, &mut self.ctx);
            Outcome::Consumed
        } else {
            match &mut self.screen {
                Screen::Setup(s) => press(s, key, &mut self.ctx),
                Screen::SignIn(s) => press(s, key, &mut self.ctx),
                Screen::Main(m) => m.handle_key(key, &mut self.ctx),
            }
        };
        // A key the focused part declined: the global ones.
        if matches!(handled, Outcome::Ignored) {
            match key.code {
                KeyCode::Char('q') => {
                    let wizard = matches!(&self.screen, Screen::Main(m) if m.unsaved());
                    self.ctx.act(if wizard { Act::AskQuit } else { Act::Quit });
                }
                KeyCode::Char('?') => self.ctx.act(Act::Push(Popup::help(self.help_keys()))),
                _ => {}
            }
        }
        self.run_pending();
    }

    /// The `?` help: on the main screen the pane in view first (see `MainScreen::help`).
    fn help_keys(&self) -> Vec<(String, String)> {
        match &self.screen {
            Screen::Main(m) => m.help(),
            _ => strings::GLOBAL_KEYS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Carries out what handlers asked for, and starts their background work.
    pub fn run_pending(&mut self) {
        loop {
            let acts = std::mem::take(&mut self.ctx.acts);
            let jobs = std::mem::take(&mut self.ctx.jobs);
            if acts.is_empty() && jobs.is_empty() {
                break;
            }
            for a in acts {
                self.apply_act(a);
            }
            for job in jobs {
                self.start(job);
            }
        }
    }

    fn apply_act(&mut self, a: Act) {
        match a {
            Act::Quit => self.quit = true,
            Act::AskQuit => self.popups.push(Popup::confirm_quit()),
            Act::Push(mut p) => {
                p.opened(&mut self.ctx);
                self.popups.push(p);
            }
            Act::Pop => {
                self.popups.pop();
            }
            Act::CloseAll => self.popups.clear(),
            Act::SignedIn(session) => {
                self.popups.clear();
                self.ctx.session = Some(session.clone());
                if self.core().is_some() {
                    self.screen = Screen::Main(Box::new(MainScreen::new(session, &mut self.ctx)));
                    self.baseline = true;
                    self.checking = true;
                    self.ctx
                        .load_to(Target::App, "generation", |core| core.generation());
                }
            }
            Act::SignOut => {
                self.popups.clear();
                self.ctx.session = None;
                self.screen = Screen::SignIn(SignInScreen::opened(&mut self.ctx));
            }
            Act::Notice(s) => self.notice = Some((s, false)),
            Act::Reload => {
                if let Screen::Main(m) = &mut self.screen {
                    m.reload(&mut self.ctx);
                }
            }
            Act::Error(s) => {
                tracing::warn!("console: {s}");
                // A long explanation gets a dialog rather than a cut-off status line.
                if s.chars().count() > 76 {
                    self.popups
                        .push(Popup::message(strings::NOT_DONE_TITLE, vec![s], true));
                } else {
                    self.notice = Some((s, true));
                }
            }
        }
    }

    fn start(&mut self, job: Job) {
        let Job {
            target,
            kind,
            label,
            work,
        } = job;
        type Run = Box<dyn FnOnce(&dyn Fn(String)) -> Payload + Send>;
        let f: Run = match work {
            Work::WithCore(f) => {
                let Some(core) = self.core() else { return };
                Box::new(move |report| f(&core, report))
            }
            Work::Raw(f) => Box::new(move |_| f()),
        };
        let quiet = label.is_empty();
        self.next_seq += 1;
        let seq = self.next_seq;
        self.latest.insert((target, kind), seq);
        let id = if quiet {
            QUIET
        } else {
            self.next_job += 1;
            self.busy = Some((self.next_job, label));
            self.next_job
        };
        let done = move |payload| {
            Msg::Loaded(
                id,
                Typed {
                    target,
                    kind,
                    seq,
                    payload,
                },
            )
        };
        match &self.runner {
            Runner::Inline => {
                let msg = done(f(&|_| {}));
                self.update(msg);
            }
            Runner::Threads(tx) => {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let progress = tx.clone();
                    let report = move |s: String| {
                        let _ = progress.send(Msg::Progress(id, s));
                    };
                    let _ = tx.send(done(f(&report)));
                });
            }
        }
    }

    /// Whether a tick changed something on screen (and forget it).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    pub fn render(&self, f: &mut Frame) {
        let area = f.area();
        let theme = self.ctx.theme;
        self.size.set((area.width, area.height));
        if self.too_small() {
            let msg = strings::too_small(area.width, area.height);
            let y = area.height / 2;
            let r = Rect::new(
                area.x,
                area.y + y.saturating_sub(1),
                area.width,
                3.min(area.height),
            );
            f.render_widget(
                Paragraph::new(msg)
                    .alignment(Alignment::Center)
                    .wrap(Wrap { trim: true }),
                r,
            );
            return;
        }
        let status = self.status_line();
        match &self.screen {
            Screen::Setup(s) => s.render(f, area, &theme, self, status),
            Screen::SignIn(s) => s.render(f, area, &theme, self, status),
            Screen::Main(m) => {
                let dialog_keys = self.popups.last().map(|p| p.footer());
                m.render(f, area, &theme, status, dialog_keys)
            }
        }
        for p in &self.popups {
            p.render(f, area, &theme);
        }
    }

    /// The line under the pane: work in progress, or the last notice.
    fn status_line(&self) -> Option<(String, bool)> {
        if let Some((_, label)) = &self.busy {
            return Some((format!("⏳ {label} (Esc to stop waiting)"), false));
        }
        self.notice.clone()
    }
}
