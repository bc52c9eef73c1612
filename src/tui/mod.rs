//! The full-screen console.

pub mod app;
pub mod audit;
pub mod clients;
pub mod controls;
pub mod home;
pub mod input;
pub mod keymap;
pub mod list;
pub mod main_screen;
pub mod overview;
pub mod pane;
pub mod pending;
pub mod popups;
pub mod roster;
pub mod setup;
pub mod sign_out;
pub mod signin;
pub mod strings;
pub mod theme;
pub mod trusted;
pub mod users;
pub mod widgets;
pub mod wizard;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};

use self::app::{App, Msg, Runner};
use self::theme::Theme;
use crate::core::Core;
use crate::mail::Mailer;

/// Restores the terminal however the console ends (errors and panics included).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        // A terminal that is gone cannot be restored; that is no reason to stop (and not
        // a message anyone could read).
        let _ = ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::event::DisableBracketedPaste
        );
        let _ = ratatui::try_restore();
    }
}

/// Opens the console on `db` (first-run setup when it does not exist) and runs it until
/// the user quits.
pub fn run(
    db: crate::store::Location,
    core: Option<Arc<Core>>,
    mailer: Arc<dyn Mailer>,
    demo_credentials: Option<(String, String)>,
    radius_clients: Vec<app::NasRow>,
) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    // Pasted text arrives as one piece, not as keys (a line break in it is no Enter).
    // A terminal without it still works, key by key.
    let _ = ratatui::crossterm::execute!(
        std::io::stdout(),
        ratatui::crossterm::event::EnableBracketedPaste
    );
    // A storage-engine panic on a damaged file is an error shown in the console, not a
    // reason to restore the terminal: keep the store's filter outside ratatui's hook.
    crate::store::guard::reinstall();
    let _guard = TerminalGuard;
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut app = App::new(
        db,
        core,
        mailer,
        Theme::from_env(),
        Runner::Threads(tx.clone()),
    );
    app.demo_credentials = demo_credentials;
    app.ctx.radius_clients = radius_clients;

    // Input arrives on its own thread; the loop below sleeps until a message comes.
    let input_tx = tx.clone();
    std::thread::spawn(move || {
        loop {
            match event::read() {
                Ok(Event::Key(k)) => {
                    if input_tx.send(Msg::Key(k)).is_err() {
                        break;
                    }
                }
                Ok(Event::Paste(text)) => {
                    if input_tx.send(Msg::Paste(text)).is_err() {
                        break;
                    }
                }
                Ok(Event::Resize(_, _)) => {
                    if input_tx.send(Msg::Resize).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                // The terminal is gone (closed window, killed session): leave as if the
                // user quit, so a demo's folder is removed.
                Err(_) => {
                    let _ = input_tx.send(Msg::Quit);
                    break;
                }
            }
        }
    });

    // Asked to end (the terminal closed, or `kill`): quit the normal way, so the terminal
    // is restored and a demo's folder removed.
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        let quit_tx = tx.clone();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = quit_tx.send(Msg::Quit);
            }
        });
    }

    terminal.draw(|f| app.render(f))?;
    while !app.quit {
        // Once a second, look whether another process changed the database.
        let msg = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => Msg::Tick,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        // The change check's answer shows nothing by itself: a change it finds marks the
        // app dirty, and what it reloads comes back as messages that draw.
        let quiet = |m: &Msg| {
            matches!(m, Msg::Tick) || matches!(m, Msg::Loaded(_, t) if t.target == app::Target::App)
        };
        let mut redraw = !quiet(&msg);
        app.update(msg);
        // Draw the batch of messages that arrived meanwhile once.
        while let Ok(m) = rx.try_recv() {
            redraw |= !quiet(&m);
            app.update(m);
        }
        if redraw || app.take_dirty() {
            terminal.draw(|f| app.render(f))?;
        }
    }
    Ok(())
}
