//! The words the console shows, in one place.

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
pub const INTEGRATION_ADVISORY: &str = "MFA can break integrations that sign in as a person. These accounts act like integrations (they signed in through verify or the API without a code in the last 30 days, or their names look like services); make each an integration user (never asked for a code):";
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

pub const PASSWORDS_DIFFER: &str = "The two passwords differ: type them again.";
pub const CANCEL: &str = "Cancel";
pub const LOADING: &str = "Loading…";
pub const LOADING_ROSTER: &str = "Loading the roster…";
pub const NEVER: &str = "never";

// --- the main screen ---
pub const MUST_ENROLL_NOW: &str =
    "MFA is required and your grace period has ended: set up a method now.";
pub fn must_enroll(days: i64) -> String {
    format!("MFA is required: set it up now ({days} day(s) of grace left).")
}
pub fn signed_in_with_recovery(left: usize) -> String {
    format!("Signed in with a recovery code: {left} left. Make new ones in Configure my MFA (g).")
}
pub const ACCOUNT_ENDED: &str = "Signed out: this account was disabled or removed.";
pub const HELP_SIGN_IN_CODE: &str = "Sign-in (code step)";
pub fn signed_in_as(user: &str) -> String {
    format!("Signed in as {user}.")
}
pub const HOME_MFA_ON: &str = "Your organization uses multi-factor authentication: open \"Configure my MFA\" to set up or change your methods.";
pub const HOME_MFA_OFF: &str =
    "Multi-factor authentication is off for your organization: there is nothing to configure.";
pub const PRESS_ENTER_TO_SIGN_OUT: &str = "Press Enter to sign out.";

// --- Clients ---
pub const CLIENTS_HELP: &str = "Clients (read-only: `mfa-console client` changes them)";
pub const NO_CLIENTS: &str = "No API clients yet. Applications and hosts ask `mfa-console serve` with a key of their own; add one at the command line (the key is shown once):";
pub const CLIENT_ADD_COMMAND: &str = "  mfa-console client add NAME --mode MODE";
pub const CLIENT_ADD_MODES: &str = "  MODE: code-only or password-and-code";
pub const CLIENTS_PAM: &str = "Local PAM modules need no key: they use the service's Unix socket.";
pub fn clients_summary(n: usize) -> String {
    format!(
        "{n} client(s); requests and refusals today (UTC). Add, rotate or remove them with `mfa-console client`."
    )
}
pub fn client_detail(name: &str, created: &str, last: &str) -> String {
    format!("{name}: created {created}, last request {last}.")
}

// --- Audit log ---
pub fn audit_summary(
    shown: usize,
    read: usize,
    total: u64,
    kind: Option<&str>,
    range: &str,
) -> String {
    let filtered = kind.is_some() || range != "all time";
    if filtered {
        format!(
            "{shown} of {read} events · {} · {range}",
            kind.unwrap_or("every kind")
        )
    } else if total as usize > read {
        format!("Newest {read} of {total} events; `mfa-console audit` has them all.")
    } else {
        format!("{read} events, newest first. Enter for details.")
    }
}
pub fn audit_event_title(seq: u64) -> String {
    format!("Audit event {seq}")
}
pub fn audit_event_lines(
    time: &str,
    actor: &str,
    kind: &str,
    subject: &str,
    details: &str,
) -> Vec<String> {
    vec![
        format!("Time     {time}"),
        format!("Actor    {actor}"),
        format!("Event    {kind}"),
        format!("Subject  {subject}"),
        String::new(),
        if details.is_empty() {
            "No details.".to_string()
        } else {
            details.to_string()
        },
    ]
}

// --- Security Controls ---
pub const CONTROLS_LOCKED: &str = "MFA is on: confirm it is you (your password, and a code if you have MFA) to open Security Controls. Press Enter.";
pub const METHOD_HINT: &str = "Space turns the method on or off.";
pub fn allowed(what: &str) -> String {
    format!("Allowed: {what}.")
}
pub const NO_INTEGRATIONS: &str = "  (no account looks like an integration)";
pub const USERS_WILL_SEE_WIZARD: &str = "Users will then see \"Configure my MFA\".";
pub fn method_on_title(m: crate::store::Method) -> &'static str {
    match m {
        crate::store::Method::Authenticator => "Turn on the authenticator app method",
        crate::store::Method::Email => "Turn on email codes",
    }
}
pub const CHANGE_POLICY: &str = "Change the policy";
pub fn policy_change(label: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        format!("Set {label} to {new} for the whole organization?")
    } else {
        format!("{label}: {old} → {new}, for the whole organization?")
    }
}

// --- Users ---
pub const PROFILE_HELP: &str = "A user's profile";
pub const ROSTER_TOOLS: &str = "/ filter · n only not configured · s sort · a add user";
pub fn roster_share(configured: usize, people: usize, pct: f64) -> String {
    format!("{configured} of {people} configured · {pct:.1} %")
}
pub fn roster_share_short(pct: f64) -> String {
    format!("{pct:.1} % configured")
}
pub fn roster_shown(shown: usize, only_not_configured: bool, sort: &str, desc: bool) -> String {
    format!(
        "{shown} shown{} · by {sort} {}",
        if only_not_configured { " (n)" } else { "" },
        if desc { "↓" } else { "↑" }
    )
}

// --- Configure my MFA ---
pub const WIZARD_METHOD_OFF: &str =
    "An administrator turned this method off meanwhile: nothing was saved.";
pub const PREPARING_QR: &str = "Preparing the QR code…";
pub const CHECKING_CODE: &str = "Checking the code…";
pub const SENDING_CODE: &str = "Sending a code…";
pub const LEFT_WIZARD: &str = "Left the wizard; nothing was saved.";
pub const APP_SAVED: &str = "Authenticator app saved: you will be asked for its code at sign-in.";
pub const EMAIL_SAVED: &str = "Email verification saved: codes will go to this address.";
pub const WIZARD_EMAIL_CODE_HELP: &str = "Configure my MFA (email code step)";
pub fn sign_in_again_after(msg: &str) -> String {
    format!("{msg} Sign out and in again to continue.")
}

// --- confirmations (built from the act) ---
pub fn about(what: &str) -> String {
    format!("{what}:")
}
pub fn reset_mfa_what(u: &str) -> String {
    format!(
        "Remove every MFA credential of {u}: authenticators, email verification, recovery codes, pending codes and remembered devices."
    )
}
pub const RESET_MFA_EFFECT: &str =
    "It takes effect at once; they will be told by mail and must configure MFA again.";
pub fn unlock_what(u: &str) -> String {
    format!("Let {u} sign in again now?")
}
pub fn disable_what(u: &str) -> String {
    format!("{u} will not be able to sign in until enabled again.")
}
pub fn enable_what(u: &str) -> String {
    format!("Let {u} sign in again?")
}
pub fn role_what(u: &str, role: crate::store::Role) -> String {
    use crate::store::Role;
    match role {
        Role::Admin => format!("Make {u} an administrator (Security Controls, every user)?"),
        Role::Integration => format!(
            "Make {u} an integration user? It is never asked for a code and cannot use the console."
        ),
        Role::Member => format!("Make {u} a member?"),
    }
}
pub fn temp_password_what(u: &str) -> String {
    format!(
        "Set the temporary password for {u}? Their current password stops working at once; they must change this one at their next sign-in."
    )
}
pub fn delete_what(u: &str) -> String {
    format!("Delete {u} and all of their MFA settings? This cannot be undone.")
}
pub const REMOVE_ENROLLMENT: &str = "Remove it? You will not be asked for its codes any more.";
pub const REGENERATE_RECOVERY: &str =
    "Make 10 new recovery codes? The old ones stop working at once.";
pub const TYPE_THE_CODE: &str = "2. Type the 6-digit code it shows:";
pub const ENTER_TO_CLOSE: &str = "Enter to close";
pub fn message_scroll(first: usize, of: usize) -> String {
    format!("line {first} of {of} · ↑↓ PgUp/PgDn scroll · Enter to close")
}
pub const IMPORT_HELP: &str = "Header: username,email,name,role. All or nothing; each user is invited and gets an activation code by mail.";
pub fn import_rejected(total: usize, kept: usize) -> String {
    if total > kept {
        format!(
            "{total} rows have errors (the first {kept} are listed); nothing was imported. Fix them and import again:"
        )
    } else {
        format!("{total} row(s) with errors; nothing was imported. Fix them and import again:")
    }
}
pub fn mailed_through(how: &str) -> String {
    format!("It was also sent through {how}.")
}
pub fn not_mailed(e: &str) -> String {
    format!("It could not be mailed: {e}")
}
pub fn resend_activation_what(u: &str) -> String {
    format!("Make a new activation code for {u} and mail it? The old code stops working.")
}
pub fn temp_password_shown(u: &str, pw: &str) -> Vec<String> {
    vec![
        format!("The temporary password of {u} (shown once):"),
        String::new(),
        format!("    {pw}"),
        String::new(),
        "Hand it over in person or by phone; they must change it at their next sign-in.".into(),
    ]
}
pub fn activation_shown(u: &str, code: &str, mail: &str) -> Vec<String> {
    vec![
        format!("The new activation code of {u} (shown once):"),
        String::new(),
        format!("    {code}"),
        String::new(),
        mail.to_string(),
        "They sign in with it once (Ctrl-A or F2 on the sign-in screen) to choose a password."
            .into(),
    ]
}

// --- My account ---
pub const MY_METHODS: &str = "My methods";
pub const NO_METHODS: &str = "  none yet";
pub fn recovery_left(n: usize) -> String {
    format!("  recovery codes left: {n}")
}
pub const CHANGE_PASSWORD_TITLE: &str = "Change my password";
pub const PASSWORD_FIELDS: [&str; 3] = ["Current    ", "New        ", "New again  "];
pub const SAVING_PASSWORD: &str = "Saving the password…";
pub const PASSWORD_CHANGED: &str = "Your password is changed.";

// --- Turning MFA off ---
pub const MFA_OFF_TITLE: &str = "Turn MFA off";
pub const MFA_OFF_WHAT: &str =
    "Turn every method off? MFA will be disabled for the organization: nobody is asked for a code.";
pub const MFA_NOW_OFF: &str = "MFA is now off for the organization.";
pub fn mfa_off_forget_count(apps: usize, emails: usize, users: usize) -> String {
    format!(
        "Forget all devices will unregister {apps} authenticator(s) and {emails} email address(es) of {users} user(s)."
    )
}

// --- Bulk actions and export ---
pub fn bulk_what(act: &str, users: &[String]) -> String {
    let shown: Vec<&str> = users.iter().take(5).map(String::as_str).collect();
    let more = if users.len() > 5 {
        format!(" and {} more", users.len() - 5)
    } else {
        String::new()
    };
    format!(
        "{act} for {} user(s): {}{more}?",
        users.len(),
        shown.join(", ")
    )
}
pub fn bulk_done(act: &str, done: usize, failed: usize, first: Option<&str>) -> String {
    match first {
        None => format!("{act}: done for {done} user(s)."),
        Some(e) => format!("{act}: done for {done}, failed for {failed} (first: {e})."),
    }
}
pub fn reminders_done(sent: usize, skipped: usize, failed: usize) -> String {
    format!(
        "Reminders: {sent} sent, {skipped} skipped (configured, invited or not a person), {failed} not mailed."
    )
}
pub const BULK_TITLE: &str = "For the marked users";
pub fn remind_all_what(n: usize) -> String {
    format!("Mail a reminder to configure MFA to everyone who has not: {n} user(s)?")
}
pub fn export_what(path: &str) -> String {
    format!("Write the roster as shown (filter and order) to {path}?")
}
pub fn exported(path: &str) -> String {
    format!("The roster as shown was written to {path} (mode 0600).")
}
pub const EXPORT_HELP: &str = "A new CSV file: username, name, email, role, status, MFA, methods, last sign-in. It is not overwritten if it exists.";
pub fn marked(n: usize) -> String {
    format!(" · {n} marked")
}
pub const NOBODY_TO_REMIND: &str = "Everyone who should has configured MFA: nobody to remind.";
pub const REMIND_ALL_TITLE: &str = "Remind everyone not configured";
pub const CHECKING: &str = "Checking…";
pub fn code_sent_to(addr: &str) -> String {
    format!("A code was sent to {addr}.")
}
pub const ADDING_USER: &str = "Adding the user…";
pub fn user_added(u: &str) -> String {
    format!("{u} was added as an invited user.")
}
pub fn activation_code_line(code: &str) -> String {
    format!("Activation code: {code}")
}
pub const ACTIVATE_HOW: &str =
    "They sign in with it once (Ctrl-A or F2 on the sign-in screen) to choose a password.";
pub const READING_FILE: &str = "Reading the file…";
pub fn imported(n: usize, how: &str) -> String {
    format!("{n} user(s) imported as invited; activation codes went to {how}.")
}
pub fn import_mail_failures(n: usize, first: &str) -> String {
    format!("{n} mail(s) could not be sent: {first}")
}
pub const SIGNING_IN: &str = "Signing in…";
pub const ACTIVATING: &str = "Activating your account…";
pub fn sign_in_code_sent(addr: &str, expires: &str) -> String {
    format!("A code was sent to {addr}; it expires at {expires}.")
}
pub const REMEMBER_TITLE: &str = "Remember this terminal";
pub fn remember_what(days: u32) -> String {
    format!(
        "Skip the code when you sign in from this terminal (this account of this computer) for the next {days} day(s)? Choose only on a computer that is yours."
    )
}
pub const RADIUS_CLIENTS: &str =
    "RADIUS clients (config.toml; their requests are in the audit log)";
pub fn more_radius(n: usize) -> String {
    format!("  … and {n} more (`mfa-console client list`)")
}
pub const HELP_CONFIRM: &str = "A confirmation";
pub const FORGET_ALL_EXPLAINED: &str = "Checked: every authenticator and email address is unregistered, with all trusted devices. Unchecked: enrollments stay and work again if MFA comes back.";
pub const HELP_ADVISORY: &str = "Turning a method on (the integration advisory)";

// Dialogs: what their keys do (the footer and the `?` help).
pub const KEY_CANCEL: &str = "cancel";
pub const KEY_CONFIRM: &str = "confirm";
pub const KEY_SAVE: &str = "save";
pub const KEY_CLOSE: &str = "close";
pub const KEY_SCROLL: &str = "scroll";
pub const KEY_SCROLL_PAGE: &str = "scroll a page";
pub const KEY_SCROLL_ENDS: &str = "first / last line";
pub const KEY_CHOOSE: &str = "choose";
pub const KEY_CHOICE_GO_ON: &str = "go on (confirmed next)";
pub const KEY_NEXT_FIELD: &str = "next field";
pub const KEY_OTHER_METHOD: &str = "other method";
pub const KEY_SEND_CODE: &str = "send code";
pub const KEY_NEXT_OR_ADD: &str = "next / add";
pub const KEY_CHANGE_ROLE: &str = "change the role";
pub const KEY_HELP_SCROLL: &str = "scroll (any other key closes)";
pub const KEY_RECOVERY_SAVED: &str = "I have saved them";

// Dialogs: titles and sentences.
pub const HELP_TITLE: &str = "Keys · ↑↓ scroll · any other key closes";
pub const HELP_REAUTH: &str = "Confirming it is you (re-authentication)";
pub const HELP_MESSAGE: &str = "A message";
pub const HELP_ADD_USER: &str = "Adding a user";
pub const HELP_CHOICE: &str = "A choice (a role, a bulk action)";
pub const RECOVERY_TITLE: &str = "Recovery codes";
pub const RECOVERY_KEEP: &str = "Keep the recovery codes somewhere safe: they are not shown again.";
pub const REAUTH_TITLE: &str = "Confirm it is you";
pub const REAUTH_WITH_CODE: &str =
    "Re-enter your password and a code to continue; this lasts a few minutes.";
pub const REAUTH_PASSWORD: &str = "Re-enter your password to continue; this lasts a few minutes.";
pub const REAUTH_PASSWORD_LABEL: &str = "Password              ";
pub const REAUTH_CODE_APP: &str = "Code (app or recovery)";
pub const REAUTH_CODE_EMAIL: &str = "Code (email or recovery)";
pub const LOCKED_TITLE: &str = "Locked";
pub const ADD_USER_TITLE: &str = "Add user";
pub const ADD_USER_INVITED: &str = "Invited: an activation code lets them choose a password.";
pub const ROLE_HINT: &str = "  (Space / ←→ to change)";
pub const USER_ADDED_TITLE: &str = "User added";
pub const IMPORT_WRITING: &str = "Adding users";
pub const IMPORT_MAILING: &str = "Mailing activation codes";
pub const IMPORT_DONE_TITLE: &str = "Import done";
pub const NOTHING_IMPORTED_TITLE: &str = "Nothing imported";

// Sign-in and first-run setup.
pub const KEY_CONTINUE: &str = "continue";
pub const KEY_ACTIVATE: &str = "activate an invited account";
pub const KEY_QUIT: &str = "quit";
pub const KEY_BACK: &str = "back";
pub const KEY_RECOVERY: &str = "use a recovery code";
pub const KEY_USE_CODE: &str = "use a code";
pub const KEY_NEXT_OR_CREATE: &str = "next / create";
pub const KEY_MOVE: &str = "move";
pub fn use_method(name: &str) -> String {
    format!("use {name}")
}
pub const HELP_SIGN_IN: &str = "Sign-in";
pub fn sign_in_title(org: &str) -> String {
    format!("{org} · sign in")
}
pub const SIGN_IN_INTRO: &str = "Sign in with your username and password.";
pub const LABEL_USERNAME: &str = "Username";
pub const LABEL_PASSWORD: &str = "Password";
pub fn demo_sign_in(user: &str, password: &str) -> String {
    format!("Demo organization: sign in as {user} with the password {password}")
}
pub const CODE_INTRO_RECOVERY: &str = "Type one of your recovery codes (each works once).";
pub const LABEL_RECOVERY: &str = "Recovery code";
pub const CODE_INTRO_APP: &str = "Type the 6-digit code your authenticator app shows now.";
pub const LABEL_APP_CODE: &str = "App code     ";
pub fn code_intro_email(masked: Option<&str>) -> String {
    format!(
        "Press Ctrl-E (or F3) to email a code to {}, then type it.",
        masked.unwrap_or("your address")
    )
}
pub const LABEL_EMAIL_CODE: &str = "Email code   ";
pub const NEW_PASSWORD_INTRO: &str =
    "Your administrator gave you a temporary password. Choose your own (12 characters or more).";
pub const LABEL_NEW_PASSWORD: &str = "New password";
pub const LABEL_AGAIN: &str = "Again       ";
pub const ACTIVATE_INTRO: &str =
    "Invited? Enter your username, the activation code you were given, and choose a password.";
pub const ACTIVATE_LABELS: [&str; 4] = [
    "Username       ",
    "Activation code",
    "New password   ",
    "Again          ",
];
pub const SETUP_TITLE: &str = "mfa-console · first run";
pub const SETUP_LABELS: [&str; 6] = [
    "Organization ",
    "Admin user   ",
    "Admin email  ",
    "Admin name   ",
    "Password     ",
    "Again        ",
];
pub const CREATING_ORG: &str = "Creating the organization…";
pub fn setup_intro(db: &str) -> String {
    format!(
        "No database at {db} yet. Name your organization (authenticator apps show it) and create the first administrator."
    )
}
pub fn setup_passwords(mail: &str) -> String {
    format!(
        "Passwords: 12 characters or more; a few words make a good one. Mail (activation and verification codes) goes to {mail}."
    )
}

// Confirmations and one-field dialogs.
pub const CONFIRM: &str = "Confirm";
pub const FORGET_ALL_DEVICES: &str = "Forget all devices";
pub fn checkbox(mark: &str, label: &str) -> String {
    format!("{mark} {label}   (Space to toggle)")
}
pub fn method_off_what(method: &str, mfa_goes_off: bool) -> String {
    if mfa_goes_off {
        format!(
            "Turn off the {method} method? MFA will be disabled for the organization: nobody is asked for a code."
        )
    } else {
        format!("Turn off the {method} method?")
    }
}
pub fn method_off_title(method: &str) -> String {
    format!("Turn the {method} method off")
}
pub const QUIT_TITLE: &str = "Quit";
pub const QUIT_WIZARD_OPEN: &str =
    "The MFA wizard is open; quitting leaves it without saving. Quit anyway?";
pub fn temp_password_title(user: &str) -> String {
    format!("Temporary password for {user}")
}
pub const TEMP_PASSWORD_HELP: &str = "12 characters or more, shown as you type so you can hand it over; the user must change it at their next sign-in.";
pub const IMPORT_TITLE: &str = "Import users from a CSV file";
pub const EXPORT_TITLE: &str = "Export the roster to a CSV file";
pub const LABEL_FILE: &str = "File";
pub const LABEL_VALUE: &str = "Value";
pub fn role_of(user: &str) -> String {
    format!("Role of {user}")
}
pub const NOT_DONE_TITLE: &str = "Not done";

// Audit log: time ranges.
pub const RANGE_ALL: &str = "all time";
pub const RANGE_HOUR: &str = "last hour";
pub const RANGE_DAY: &str = "last day";
pub const RANGE_WEEK: &str = "last 7 days";
pub fn range_custom(from: &str, to: &str) -> String {
    format!("{from} .. {to}")
}
pub const KEY_TYPE_RANGE: &str = "type a range of time (dates, times in UTC)";
pub const KEY_SHOW_RANGE: &str = "show that range";
pub const LABEL_RANGE: &str = "From .. to";
pub const RANGE_HINT: &str = "e.g. 2026-11-28 .. 2026-11-29 18:00 (UTC)";
pub const KEY_LEAVE_UNSAVED: &str = "leave without saving";

// Confirmed acts: what they did, their titles, and the work in progress.
pub fn forgotten(n: usize) -> String {
    format!(" {n} enrollment(s) forgotten.")
}
pub fn method_now(method: &str, on: bool, mfa_enabled: bool) -> String {
    format!(
        "The {method} method is now {}. MFA is {}.",
        if on { "on" } else { "off" },
        if mfa_enabled { "enabled" } else { "disabled" }
    )
}
pub fn policy_now(name: &str, value: &str) -> String {
    format!("{name} is now {value}.")
}
pub fn nothing_to_reset(user: &str) -> String {
    format!("{user} had no MFA set up: nothing to reset.")
}
pub fn mfa_reset(user: &str) -> String {
    format!("MFA reset for {user}.")
}
pub fn unlocked(user: &str) -> String {
    format!("{user} unlocked.")
}
pub fn disabled_now(user: &str, disabled: bool) -> String {
    format!("{user} {}.", if disabled { "disabled" } else { "enabled" })
}
pub fn role_now(user: &str, role: &str) -> String {
    format!("{user} is now {role}.")
}
pub fn temp_password_set(user: &str) -> String {
    format!("Temporary password set for {user}; they must change it at their next sign-in.")
}
pub fn deleted(user: &str) -> String {
    format!("{user} deleted.")
}
pub const ENROLLMENT_REMOVED: &str = "Enrollment removed.";
pub const TERMINAL_REMEMBERED: &str =
    "This terminal is remembered: no code is asked here until it expires.";
pub fn not_remembered(e: &str) -> String {
    format!("the terminal could not be remembered: {e}")
}
pub const REMEMBERING_OFF: &str = "Remembering terminals is off in Security Controls.";
pub const TITLE_CHANGE_ROLE: &str = "Change role";
pub const TITLE_SET_TEMP_PASSWORD: &str = "Set temporary password";
pub const TITLE_DELETE_USER: &str = "Delete user";
pub const TITLE_EXPORT: &str = "Export";
pub const TITLE_GENERATE_TEMP_PASSWORD: &str = "Generate a temporary password";
pub const TITLE_RESEND_ACTIVATION: &str = "Resend the activation code";
pub const TITLE_REMOVE_ENROLLMENT: &str = "Remove enrollment";
pub const TITLE_NEW_RECOVERY: &str = "New recovery codes";
pub const OPENING_CONTROLS: &str = "Opening Security Controls…";
pub const SAVING_CONTROLS: &str = "Saving Security Controls…";
pub const SAVING_POLICY: &str = "Saving the policy…";
pub const SETTING_TEMP_PASSWORD: &str = "Setting the temporary password…";
pub const WORKING: &str = "Working…";

// Configure my MFA.
pub const WIZARD_NONE_YET: &str = "You have not configured MFA yet.";
pub const WIZARD_YOUR_METHODS: &str = "Your methods";
pub const WIZARD_ADD_APP: &str =
    "Add an authenticator app (Google/Microsoft Authenticator, Authy, Duo, Okta Verify…)";
pub const WIZARD_ADD_EMAIL: &str = "Set up email codes (weaker than an app)";
pub const WIZARD_REMOVE: &str = "Remove the selected method";
pub const WIZARD_REGENERATE: &str = "Regenerate recovery codes";
pub const WIZARD_ENROLLMENT_CODE: &str = "Your organization asks for an enrollment code from an administrator before your first method. Type it here.";
pub const LABEL_ENROLLMENT_CODE: &str = "Enrollment code";
pub fn wizard_email_address() -> String {
    format!(
        "Codes will go to this address; change it if needed. Enter sends a code to it. {WIZARD_LEAVE}"
    )
}
pub const LABEL_EMAIL: &str = "Email";
pub fn wizard_code_sent(address: &str, expires: &str) -> String {
    format!(
        "A code was sent to {address}; it expires at {expires}. Type it to finish (F3 sends another). {WIZARD_LEAVE}"
    )
}
pub const LABEL_CODE: &str = "Code";
pub const QR_NOT_DRAWN: &str = "The QR code could not be drawn; type the secret instead.";
pub const WIZARD_APP_TITLE: &str = "Add an authenticator app";
pub const WIZARD_SCAN: &str = "1. Scan the QR code with your app.";
pub const WIZARD_OR_TYPE: &str = "   Or type this secret:";
pub const WIZARD_ACCOUNT: &str = "   account: ";
pub const LABEL_QR_CODE_FIELD: &str = "  Code";
pub const RANGE_CAPPED: &str =
    " · the newest of a longer range; `mfa-console audit` lists every event";
pub const LOCKED_SIGNED_OUT: &str =
    "You are signed out. Another administrator can unlock the account sooner.";
/// A signed-in user's password or code not right: nobody is signing in, and the username
/// is known, so the sign-in's generic wording does not fit.
pub fn reauth_refusal(e: &crate::core::CoreError) -> String {
    match e {
        crate::core::CoreError::Refused => "The password or code is not right.".into(),
        other => other.to_string(),
    }
}
pub fn policy_refused(value: &str, label: &str, allowed: &str) -> String {
    format!("\"{value}\" is not allowed for {label}: use {allowed}.")
}
pub const FILE_NEEDED: &str = "Type the path of a file.";
pub fn not_locked(user: &str) -> String {
    format!("{user} was not locked: nothing to do.")
}
pub const DISABLE_SELF: &str = "Your own account: you are signed out as soon as it is disabled, and only another administrator (or `mfa-console user set NAME --enable`) can enable it again.";
