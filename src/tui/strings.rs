//! The words the console shows, in one place.

pub const APP: &str = "mfa-console";

pub const GLOBAL_KEYS: &[(&str, &str)] = &[
    ("↑/↓ j/k", "move"),
    ("Tab / Shift-Tab", "switch between navigation and pane"),
    ("Enter", "open / choose / submit"),
    ("Space", "toggle"),
    ("Esc", "back / cancel"),
    ("/", "filter"),
    ("?", "this help"),
    ("q", "quit (asks first while a wizard is open)"),
    ("Ctrl-C", "quit at once"),
];

pub fn too_small(w: u16, h: u16) -> String {
    format!(
        "This window is {w}×{h}. Please enlarge it to at least {}×{} characters.",
        super::app::MIN_WIDTH,
        super::app::MIN_HEIGHT
    )
}

pub const NOT_CONFIGURED: &str = "⚠ not configured";
pub const CONFIGURED: &str = "✓ configured";
pub const INTEGRATION: &str = "⚙ integration";

pub const EMAIL_WEAKER: &str = "Email codes are weaker than an authenticator app: mailboxes are shared, forwarded and phished. Prefer the app where you can.";
pub const INTEGRATION_ADVISORY: &str = "MFA can break integrations that sign in as a person. These accounts have never signed in to the console and may be integrations; give each its own user with the role integration (never asked for a code):";
pub const FORGET_EXPLAINED: &str = "Checked: every authenticator and email address enrolled for this method is unregistered, with all trusted devices. Unchecked: enrollments stay and work again if the method comes back.";
pub const RECOVERY_EXPLAINED: &str = "Save these recovery codes now (print or store them in a password manager). Each works once when your app is not at hand. They are not shown again.";
pub const WIZARD_LEAVE: &str = "Esc leaves without saving anything.";

pub const NOW_INTEGRATION: &str = "Signed out: this account is now an integration account, which signs in through `mfa-console verify`, not the console.";

/// An administrator changed the signed-in user's role meanwhile.
pub fn role_changed(role: &str) -> String {
    if role == "admin" {
        "Your role is now admin: the administration panes are open to you.".into()
    } else {
        format!("Your role is now {role}: the administration panes are closed.")
    }
}
