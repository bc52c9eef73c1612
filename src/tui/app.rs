//! The console's state: which screen is up, the popups over it, work running in the
//! background, and how keys and results reach them.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Rect};
use ratatui::widgets::{Paragraph, Wrap};

use super::main_screen::MainScreen;
use super::pane::{Loaded, PaneId};
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

/// Work for the background: it gets the core, and returns what to do with the app.
pub type Apply = Box<dyn FnOnce(&mut App) + Send>;
pub type JobFn = Box<dyn FnOnce(&Core) -> Apply + Send>;
/// A job that is also given a way to say how far it is.
pub type ProgressJobFn = Box<dyn FnOnce(&Core, &dyn Fn(String)) -> Apply + Send>;

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
    Resize,
    Done(u64, Apply),
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
    pub db_path: PathBuf,
    pub mailer: Arc<dyn Mailer>,
    /// The RADIUS clients of config.toml, read when the console started.
    pub radius_clients: Vec<NasRow>,
    jobs: Vec<(String, Job, bool)>,
    acts: Vec<Act>,
}

type TypedFn = Box<dyn FnOnce(&Core, &dyn Fn(String)) -> Box<dyn Any + Send> + Send>;

pub enum Job {
    WithCore(JobFn),
    /// Work whose typed result goes to `target` (see [`Ctx::load`]).
    Typed {
        target: Target,
        kind: &'static str,
        f: TypedFn,
    },
    /// Long work that reports how far it is through the function it is given.
    WithProgress(ProgressJobFn),
    /// Work that makes the core itself (first-run setup).
    Raw(Box<dyn FnOnce() -> Apply + Send>),
}

impl Ctx {
    /// Runs `f` off the UI thread, showing `label` ("Signing in…") meanwhile.
    pub fn spawn(&mut self, label: &str, f: impl FnOnce(&Core) -> Apply + Send + 'static) {
        self.jobs
            .push((label.to_string(), Job::WithCore(Box::new(f)), false));
    }
    /// Runs `f` off the UI thread without blocking keys meanwhile (loading data); its
    /// result is applied whenever it arrives.
    pub fn spawn_quiet(&mut self, f: impl FnOnce(&Core) -> Apply + Send + 'static) {
        self.jobs
            .push((String::new(), Job::WithCore(Box::new(f)), true));
    }
    /// Like [`Ctx::spawn`], for long work that reports its progress in words.
    pub fn spawn_with_progress(
        &mut self,
        label: &str,
        f: impl FnOnce(&Core, &dyn Fn(String)) -> Apply + Send + 'static,
    ) {
        self.jobs
            .push((label.to_string(), Job::WithProgress(Box::new(f)), false));
    }
    pub fn spawn_raw(&mut self, label: &str, f: impl FnOnce() -> Apply + Send + 'static) {
        self.jobs
            .push((label.to_string(), Job::Raw(Box::new(f)), false));
    }
    /// Runs `f` off the UI thread without blocking keys; its result reaches the pane
    /// `pane` as a [`Loaded`] of `kind`, unless a newer request of the same kind was made
    /// meanwhile.
    pub fn load<T: Send + 'static>(
        &mut self,
        pane: PaneId,
        kind: &'static str,
        f: impl FnOnce(&Core) -> T + Send + 'static,
    ) {
        self.typed(Target::Pane(pane), kind, String::new(), true, f);
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
        self.typed(target, kind, label.to_string(), false, f);
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
        let f: TypedFn =
            Box::new(move |core, report| Box::new(f(core, report)) as Box<dyn Any + Send>);
        self.jobs
            .push((label.to_string(), Job::Typed { target, kind, f }, false));
    }
    fn typed<T: Send + 'static>(
        &mut self,
        target: Target,
        kind: &'static str,
        label: String,
        quiet: bool,
        f: impl FnOnce(&Core) -> T + Send + 'static,
    ) {
        let f: TypedFn = Box::new(move |core, _| Box::new(f(core)) as Box<dyn Any + Send>);
        self.jobs
            .push((label, Job::Typed { target, kind, f }, quiet));
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
    dirty: bool,
    /// The newest request of each kind, per target: older results are dropped.
    latest: HashMap<(Target, &'static str), u64>,
    next_seq: u64,
    /// The size of the last drawing: while it is too small, no key reaches anything.
    size: Cell<(u16, u16)>,
}

impl App {
    pub fn new(
        db_path: PathBuf,
        core: Option<Arc<Core>>,
        mailer: Arc<dyn Mailer>,
        theme: Theme,
        runner: Runner,
    ) -> Self {
        let screen = if core.is_some() {
            Screen::SignIn(SignInScreen::new())
        } else {
            Screen::Setup(SetupScreen::new())
        };
        Self {
            ctx: Ctx {
                core,
                session: None,
                theme,
                db_path,
                mailer,
                radius_clients: Vec::new(),
                jobs: Vec::new(),
                acts: Vec::new(),
            },
            screen,
            popups: Vec::new(),
            busy: None,
            notice: None,
            quit: false,
            demo_credentials: None,
            runner,
            next_job: 0,
            generation: 0,
            dirty: false,
            latest: HashMap::new(),
            next_seq: 0,
            size: Cell::new((MIN_WIDTH, MIN_HEIGHT)),
        }
    }

    pub fn core(&self) -> Option<Arc<Core>> {
        self.ctx.core.clone()
    }

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Resize => {}
            Msg::Done(QUIET, apply) => {
                apply(self);
                self.run_pending();
            }
            Msg::Done(id, apply) => {
                if self.busy.as_ref().is_some_and(|(b, _)| *b == id) {
                    self.busy = None;
                    apply(self);
                    self.run_pending();
                }
            }
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

    /// Reloads what is on screen when another process changed the database.
    fn refresh_if_changed(&mut self) {
        let Some(core) = self.core() else { return };
        if let Ok(g) = core.generation()
            && g != self.generation
        {
            self.generation = g;
            self.dirty = true;
            if let Screen::Main(m) = &mut self.screen {
                m.reload(&mut self.ctx);
                self.run_pending();
            }
        }
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
                Screen::Setup(s) => s.handle_key(key, &mut self.ctx),
                Screen::SignIn(s) => s.handle_key(key, &mut self.ctx),
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

    fn help_keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = strings::GLOBAL_KEYS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Screen::Main(m) = &self.screen {
            keys.extend(m.help());
        }
        keys
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
            for (label, job, quiet) in jobs {
                self.start(label, job, quiet);
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
                if let Some(core) = self.core() {
                    self.generation = core.generation().unwrap_or(0);
                    self.screen =
                        Screen::Main(Box::new(MainScreen::new(session, &core, &mut self.ctx)));
                }
            }
            Act::SignOut => {
                self.popups.clear();
                self.ctx.session = None;
                self.screen = Screen::SignIn(SignInScreen::new());
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
                    self.popups.push(Popup::message("Not done", vec![s], true));
                } else {
                    self.notice = Some((s, true));
                }
            }
        }
    }

    fn start(&mut self, label: String, job: Job, quiet: bool) {
        if let Job::Typed { target, kind, f } = job {
            return self.start_typed(label, target, kind, f, quiet);
        }
        type Run = Box<dyn FnOnce(&dyn Fn(String)) -> Apply + Send>;
        let run: Run = match job {
            Job::Raw(f) => Box::new(move |_| f()),
            Job::WithCore(f) => {
                let Some(core) = self.core() else { return };
                Box::new(move |_| f(&core))
            }
            Job::WithProgress(f) => {
                let Some(core) = self.core() else { return };
                Box::new(move |report| f(&core, report))
            }
            Job::Typed { .. } => return,
        };
        let id = if quiet {
            QUIET
        } else {
            self.next_job += 1;
            self.busy = Some((self.next_job, label));
            self.next_job
        };
        match &self.runner {
            Runner::Inline => {
                let apply = run(&|_| {});
                self.update(Msg::Done(id, apply));
            }
            Runner::Threads(tx) => {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let progress = tx.clone();
                    let report = move |s: String| {
                        let _ = progress.send(Msg::Progress(id, s));
                    };
                    let _ = tx.send(Msg::Done(id, run(&report)));
                });
            }
        }
    }

    fn start_typed(
        &mut self,
        label: String,
        target: Target,
        kind: &'static str,
        f: TypedFn,
        quiet: bool,
    ) {
        let Some(core) = self.core() else { return };
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
                let msg = done(f(&core, &|_| {}));
                self.update(msg);
            }
            Runner::Threads(tx) => {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let progress = tx.clone();
                    let report = move |s: String| {
                        let _ = progress.send(Msg::Progress(id, s));
                    };
                    let _ = tx.send(done(f(&core, &report)));
                });
            }
        }
    }

    /// Whether a tick changed something on screen (and forget it).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Installs the core once first-run setup has created the database.
    pub fn set_core(&mut self, core: Arc<Core>) {
        self.ctx.core = Some(core);
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
            Screen::Main(m) => m.render(f, area, &theme, status),
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
