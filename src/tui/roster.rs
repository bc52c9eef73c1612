//! The roster as the console holds it: compact enough for 100,000 users in a few tens of
//! megabytes, with every sort order and a lowercased search text prepared once, off the
//! UI thread, so that no keystroke sorts or lowercases everyone again.

use std::cmp::Ordering;

use crate::core::{UserRow, UserStatus};

/// One user: offsets into the roster's text, and the small facts the roster shows.
#[derive(Clone, Copy, Debug)]
struct Entry {
    text: u32,
    username_len: u16,
    name_len: u16,
    email_len: u16,
    search: u32,
    role: u8,
    status: UserStatus,
    configured: bool,
    /// Bit 0: authenticator, bit 1: email.
    methods: u8,
    last_sign_in: Option<i64>,
    grace_days_left: Option<i32>,
}

/// A borrowed view of one user in the roster.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub role: &'static str,
    pub status: UserStatus,
    pub configured: bool,
    pub methods: u8,
    pub last_sign_in: Option<i64>,
    pub grace_days_left: Option<i32>,
}

impl Row<'_> {
    pub fn is_integration(&self) -> bool {
        self.role == "integration"
    }
    /// Not configured, and MFA applies to this user.
    pub fn needs_mfa(&self) -> bool {
        !self.configured && !self.is_integration()
    }
    /// `app`, `email`, `app+email`.
    pub fn methods_text(&self) -> &'static str {
        match self.methods {
            1 => "app",
            2 => "email",
            3 => "app+email",
            _ => "",
        }
    }
}

const ROLES: [&str; 3] = ["admin", "member", "integration"];

/// Sort orders, by `SortBy as usize`.
pub const ORDERS: usize = 6;

#[derive(Default)]
pub struct Roster {
    entries: Vec<Entry>,
    /// username, name and email of every user, back to back.
    text: String,
    /// Lowercased `username \u{1} name \u{1} email` of every user, back to back.
    search: String,
    /// Row indices in each sort order, ascending.
    orders: [Vec<u32>; ORDERS],
    pub people: usize,
    pub configured: usize,
    /// The longest username and name, in characters, so columns fit what they hold.
    pub longest_username: usize,
    pub longest_name: usize,
}

impl Roster {
    /// Takes rows one at a time (as the core streams them).
    pub fn push(&mut self, r: UserRow) {
        let text = self.text.len() as u32;
        // Rows hold the real text; what is drawn has control characters escaped.
        let clip = |s: &str| -> String {
            crate::core::text::escape_control(s)
                .chars()
                .take(200)
                .collect()
        };
        let (u, n, e) = (clip(&r.username), clip(&r.name), clip(&r.email));
        self.longest_username = self.longest_username.max(u.chars().count());
        self.longest_name = self.longest_name.max(n.chars().count());
        self.text.push_str(&u);
        self.text.push_str(&n);
        self.text.push_str(&e);
        let search = self.search.len() as u32;
        for part in [&u, "\u{1}", &n, "\u{1}", &e] {
            self.search
                .extend(part.chars().flat_map(char::to_lowercase));
        }
        let mut methods = 0;
        for m in &r.methods {
            methods |= if *m == "authenticator" { 1 } else { 2 };
        }
        if !r.is_integration() {
            self.people += 1;
            if r.configured {
                self.configured += 1;
            }
        }
        self.entries.push(Entry {
            text,
            username_len: u.len() as u16,
            name_len: n.len() as u16,
            email_len: e.len() as u16,
            search,
            role: ROLES.iter().position(|x| *x == r.role).unwrap_or(1) as u8,
            status: r.status,
            configured: r.configured,
            methods,
            last_sign_in: r.last_sign_in,
            grace_days_left: r
                .grace_days_left
                .map(|d| d.clamp(0, i32::MAX as i64) as i32),
        });
    }

    /// Prepares the sort orders once everyone is in.
    pub fn finish(mut self) -> Roster {
        self.entries.shrink_to_fit();
        self.text.shrink_to_fit();
        self.search.shrink_to_fit();
        let n = self.entries.len() as u32;
        let caseless = |a: &str, b: &str| -> Ordering {
            a.bytes()
                .map(|c| c.to_ascii_lowercase())
                .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
        };
        let sorted = |cmp: &dyn Fn(&Row, &Row) -> Ordering| {
            let mut v: Vec<u32> = (0..n).collect();
            v.sort_by(|a, b| {
                cmp(&self.row(*a), &self.row(*b))
                    .then_with(|| caseless(self.row(*a).username, self.row(*b).username))
            });
            v
        };
        let by_username = sorted(&|_, _| Ordering::Equal);
        let by_mfa = sorted(&|a, b| {
            (a.configured || a.is_integration(), a.is_integration())
                .cmp(&(b.configured || b.is_integration(), b.is_integration()))
        });
        let by_name = sorted(&|a, b| caseless(a.name, b.name));
        let by_email = sorted(&|a, b| caseless(a.email, b.email));
        let by_role = sorted(&|a, b| a.role.cmp(b.role));
        let by_last = sorted(&|a, b| b.last_sign_in.cmp(&a.last_sign_in));
        self.orders = [by_username, by_mfa, by_name, by_email, by_role, by_last];
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn order(&self, sort: usize) -> &[u32] {
        self.orders.get(sort).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn row(&self, i: u32) -> Row<'_> {
        let e = self.entries[i as usize];
        let t = e.text as usize;
        let (u, n, m) = (
            e.username_len as usize,
            e.name_len as usize,
            e.email_len as usize,
        );
        let get = |a: usize, b: usize| self.text.get(a..b).unwrap_or("");
        Row {
            username: get(t, t + u),
            name: get(t + u, t + u + n),
            email: get(t + u + n, t + u + n + m),
            role: ROLES.get(e.role as usize).copied().unwrap_or("member"),
            status: e.status,
            configured: e.configured,
            methods: e.methods,
            last_sign_in: e.last_sign_in,
            grace_days_left: e.grace_days_left,
        }
    }

    /// Does row `i`'s lowercased text contain `needle` (already lowercased)?
    pub fn matches(&self, i: u32, needle: &str) -> bool {
        let start = self.entries[i as usize].search as usize;
        let end = self
            .entries
            .get(i as usize + 1)
            .map(|e| e.search as usize)
            .unwrap_or(self.search.len());
        self.search
            .get(start..end)
            .is_some_and(|s| s.contains(needle))
    }
}
