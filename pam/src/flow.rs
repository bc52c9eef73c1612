//! One sign-in, as a state machine: ask the service what it needs, ask the person, answer
//! the service, and turn its last answer into a verdict. Every decision is the service's;
//! this only maps its answers to prompts, messages and a PAM result.

use zeroize::Zeroizing;

use crate::client::Trouble;
use crate::options::{self, Fail, Mode, Options, Unknown};
use crate::protocol::{Answer, Context, Mfa, Op, Request};
use crate::strings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Info,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskError {
    /// The application's conversation function failed (or gave no answer).
    Conversation,
    /// The answer is not UTF-8 text.
    NotText,
}

/// The application's side of the sign-in: prompts and messages.
pub trait Conversation {
    /// A prompt whose answer is not shown as it is typed (a password or a code).
    fn ask(&mut self, prompt: &str) -> Result<Zeroizing<String>, AskError>;
    /// Best effort: a message the application cannot show changes nothing.
    fn tell(&mut self, notice: Notice, text: &str);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Error,
    Warning,
}

/// The system log (auth facility). Never given a password or a code.
pub trait SystemLog {
    fn log(&mut self, priority: Priority, line: &str);
}

/// What the module gets from libpam besides the conversation.
pub trait Pam: Conversation + SystemLog {
    /// The username (libpam may prompt for it).
    fn username(&mut self) -> Result<String, String>;
    fn service(&self) -> Option<String>;
    fn rhost(&self) -> Option<String>;
    fn tty(&self) -> Option<String>;
    /// The password an earlier module of the stack read (PAM_AUTHTOK).
    fn earlier_password(&self) -> Option<Zeroizing<String>>;
    /// Hands a password typed here to the modules after this one (PAM_AUTHTOK).
    fn pass_password_on(&mut self, password: &str);
}

/// The service, asked one request at a time.
pub trait Verifier {
    fn exchange(&mut self, request: &Request) -> Result<Answer, Trouble>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    Refused,
    /// Step aside: the stack decides without this module.
    Ignore,
    ConversationFailed,
}

/// Context fields longer than this are cut (they only feed the audit line); the username
/// never is.
const MAX_CONTEXT: usize = 255;

/// The whole of `pam_sm_authenticate`: options, context, password, then the exchange.
pub fn run<V: Verifier>(
    pam: &mut dyn Pam,
    args: &[String],
    connect: impl FnOnce(&Options) -> V,
) -> Verdict {
    let opts = match options::parse(args.iter().map(String::as_str)) {
        Ok(o) => o,
        Err(problems) => {
            for p in problems {
                pam.log(
                    Priority::Error,
                    &format!("{p}; refusing every sign-in until the PAM configuration is fixed"),
                );
            }
            pam.tell(Notice::Error, strings::MISCONFIGURED);
            return Verdict::Refused;
        }
    };
    let username = match pam.username() {
        Ok(u) if !u.is_empty() => u,
        Ok(_) => {
            pam.log(Priority::Error, "no username was given; refusing");
            return Verdict::Refused;
        }
        Err(e) => {
            pam.log(
                Priority::Error,
                &format!("could not get the username ({e}); refusing"),
            );
            return Verdict::Refused;
        }
    };
    let ctx = Context {
        username,
        service: pam.service().map(cut),
        rhost: pam.rhost().map(cut),
        tty: pam.tty().map(cut),
    };
    let password = match opts.mode {
        Mode::CodeOnly => None,
        Mode::PasswordAndCode if opts.use_first_pass => match pam.earlier_password() {
            Some(p) => Some(p),
            None => {
                pam.log(
                    Priority::Error,
                    &format!(
                        "use_first_pass: no password from an earlier module for {}; refusing",
                        strings::printable(&ctx.username)
                    ),
                );
                return Verdict::Refused;
            }
        },
        Mode::PasswordAndCode => match pam.ask(strings::PASSWORD_PROMPT) {
            Ok(p) => {
                pam.pass_password_on(&p);
                Some(p)
            }
            Err(AskError::Conversation) => return Verdict::ConversationFailed,
            Err(AskError::NotText) => {
                pam.tell(Notice::Error, strings::GENERIC_REFUSAL);
                return Verdict::Refused;
            }
        },
    };
    let mut verifier = connect(&opts);
    SignIn {
        opts: &opts,
        ctx: &ctx,
        password: password.as_ref().map(|p| p.as_str()),
        pam,
        verifier: &mut verifier,
    }
    .run()
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_CONTEXT {
        let mut end = MAX_CONTEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Which request an answer is the answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Verify without a code: what is needed?
    Probe,
    /// Verify with the code the person typed.
    Code,
    /// Send me a code by email.
    EmailCode,
}

enum Step {
    Send {
        op: Op,
        code: Option<Zeroizing<String>>,
        stage: Stage,
    },
    Got {
        answer: Answer,
        stage: Stage,
    },
    /// Prompt for a code; with an address, Enter asks for an emailed code instead.
    AskCode {
        email_offer: Option<String>,
    },
    Done(Verdict),
}

struct SignIn<'a> {
    opts: &'a Options,
    ctx: &'a Context,
    password: Option<&'a str>,
    pam: &'a mut dyn Pam,
    verifier: &'a mut dyn Verifier,
}

impl SignIn<'_> {
    /// Probe → (ask → [email → ask] → verify) → done: at most two prompts and three
    /// requests, so the loop ends.
    fn run(mut self) -> Verdict {
        let mut step = Step::Send {
            op: Op::Verify,
            code: None,
            stage: Stage::Probe,
        };
        loop {
            step = match step {
                Step::Send { op, code, stage } => {
                    self.send(op, code.as_ref().map(|c| c.as_str()), stage)
                }
                Step::Got { answer, stage } => self.on_answer(answer, stage),
                Step::AskCode { email_offer } => self.ask_code(email_offer),
                Step::Done(verdict) => return verdict,
            }
        }
    }

    fn send(&mut self, op: Op, code: Option<&str>, stage: Stage) -> Step {
        let request = Request::new(op, self.opts.mode, self.ctx, self.password, code);
        match self.verifier.exchange(&request) {
            Ok(answer) => Step::Got { answer, stage },
            Err(trouble) => self.unreachable(trouble, stage),
        }
    }

    fn on_answer(&mut self, answer: Answer, stage: Stage) -> Step {
        use Stage::*;
        match (answer, stage) {
            (
                Answer::Accepted {
                    mfa,
                    grace_days_left,
                    recovery_codes_left,
                },
                Probe | Code,
            ) => {
                if mfa == Mfa::Grace {
                    self.pam
                        .tell(Notice::Info, &strings::grace(grace_days_left));
                }
                if let Some(n) = recovery_codes_left {
                    self.pam
                        .tell(Notice::Info, &strings::recovery_codes_left(n));
                }
                Step::Done(Verdict::Success)
            }
            (Answer::CodeRequired { email }, Probe) => Step::AskCode { email_offer: email },
            (
                Answer::Refused {
                    unknown_user: true, ..
                },
                Probe,
            ) => self.unknown_user(),
            (Answer::Refused { message, .. }, Probe | Code) => {
                self.refuse(message.as_deref().unwrap_or(strings::GENERIC_REFUSAL))
            }
            (Answer::Refused { message, .. }, EmailCode) => {
                let text = message.unwrap_or_else(|| strings::GENERIC_REFUSAL.to_string());
                self.pam.tell(Notice::Error, &strings::printable(&text));
                Step::AskCode { email_offer: None }
            }
            (Answer::CodeSent { email }, EmailCode) => {
                self.pam
                    .tell(Notice::Info, &strings::code_sent(email.as_deref()));
                Step::AskCode { email_offer: None }
            }
            (Answer::Throttled { retry_after }, EmailCode) => {
                self.pam
                    .tell(Notice::Error, &strings::throttled(retry_after));
                Step::AskCode { email_offer: None }
            }
            (Answer::Locked { until }, _) => self.refuse(&strings::locked(until.as_deref())),
            (Answer::EnrollRequired { message }, _) => {
                self.refuse(message.as_deref().unwrap_or(strings::ENROLL_REQUIRED))
            }
            (Answer::Error { status, message }, _) => {
                self.unreachable(Trouble::Service { status, message }, stage)
            }
            (other, stage) => self.unreachable(
                Trouble::Unexpected(format!("{other:?} to {stage:?}")),
                stage,
            ),
        }
    }

    fn ask_code(&mut self, email_offer: Option<String>) -> Step {
        if let Some(masked) = &email_offer {
            self.pam.tell(
                Notice::Info,
                &strings::email_offer(&strings::printable(masked)),
            );
        }
        let code = match self.pam.ask(strings::CODE_PROMPT) {
            Ok(c) => c,
            Err(AskError::Conversation) => return Step::Done(Verdict::ConversationFailed),
            Err(AskError::NotText) => return self.refuse(strings::GENERIC_REFUSAL),
        };
        let code = code.trim();
        if !code.is_empty() {
            return Step::Send {
                op: Op::Verify,
                code: Some(Zeroizing::new(code.to_string())),
                stage: Stage::Code,
            };
        }
        if email_offer.is_some() {
            return Step::Send {
                op: Op::EmailCode,
                code: None,
                stage: Stage::EmailCode,
            };
        }
        self.refuse(strings::NO_CODE)
    }

    fn unknown_user(&mut self) -> Step {
        match self.opts.unknown {
            Unknown::Ignore => Step::Done(Verdict::Ignore),
            Unknown::Deny => {
                // Prompt as for anyone else, so the prompts do not tell someone trying
                // names which ones exist.
                let _ = self.pam.ask(strings::CODE_PROMPT);
                self.refuse(strings::GENERIC_REFUSAL)
            }
        }
    }

    fn refuse(&mut self, message: &str) -> Step {
        self.pam.tell(Notice::Error, &strings::printable(message));
        Step::Done(Verdict::Refused)
    }

    fn unreachable(&mut self, trouble: Trouble, stage: Stage) -> Step {
        let what = format!(
            "verification service at {} (user {}, service {}): {trouble}",
            self.opts.socket.display(),
            strings::printable(&self.ctx.username),
            strings::printable(self.ctx.service.as_deref().unwrap_or("?")),
        );
        match self.opts.fail {
            // Once the service has answered this sign-in, it is reachable: later trouble
            // refuses, so a code prompt can never be skipped by making the service fail.
            Fail::Open if stage == Stage::Probe && trouble.lets_fail_open() => {
                self.pam.log(
                    Priority::Warning,
                    &format!("{what}; letting the user in without a second factor (fail=open)"),
                );
                Step::Done(Verdict::Success)
            }
            Fail::Open => {
                self.pam.log(
                    Priority::Error,
                    &format!(
                        "{what}; refusing (fail=open applies only when the service cannot be reached at all)"
                    ),
                );
                self.refuse(strings::UNREACHABLE)
            }
            Fail::Closed => {
                self.pam
                    .log(Priority::Error, &format!("{what}; refusing (fail=closed)"));
                self.refuse(strings::UNREACHABLE)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::{Value, json};
    use std::collections::VecDeque;
    use std::io;

    /// libpam and the application, scripted: answers to prompts in order; what was shown
    /// and logged is recorded.
    #[derive(Default)]
    struct FakePam {
        username: Option<String>,
        answers: VecDeque<Result<&'static str, AskError>>,
        prompts: Vec<String>,
        shown: Vec<(Notice, String)>,
        logged: Vec<(Priority, String)>,
        authtok: Option<String>,
        passed_on: Option<String>,
    }

    impl FakePam {
        fn new() -> Self {
            FakePam {
                username: Some("alice".into()),
                ..Default::default()
            }
        }
        fn answering(mut self, answers: &[&'static str]) -> Self {
            self.answers = answers.iter().map(|a| Ok(*a)).collect();
            self
        }
        fn shown(&self) -> Vec<String> {
            self.shown
                .iter()
                .map(|(n, t)| format!("{n:?}: {t}"))
                .collect()
        }
    }

    impl Conversation for FakePam {
        fn ask(&mut self, prompt: &str) -> Result<Zeroizing<String>, AskError> {
            self.prompts.push(prompt.to_string());
            self.answers
                .pop_front()
                .unwrap_or(Err(AskError::Conversation))
                .map(|a| Zeroizing::new(a.to_string()))
        }
        fn tell(&mut self, notice: Notice, text: &str) {
            self.shown.push((notice, text.to_string()));
        }
    }

    impl SystemLog for FakePam {
        fn log(&mut self, priority: Priority, line: &str) {
            self.logged.push((priority, line.to_string()));
        }
    }

    impl Pam for FakePam {
        fn username(&mut self) -> Result<String, String> {
            self.username.clone().ok_or_else(|| "PAM error 7".into())
        }
        fn service(&self) -> Option<String> {
            Some("sshd".into())
        }
        fn rhost(&self) -> Option<String> {
            Some("10.0.0.5".into())
        }
        fn tty(&self) -> Option<String> {
            Some("ssh".into())
        }
        fn earlier_password(&self) -> Option<Zeroizing<String>> {
            self.authtok.clone().map(Zeroizing::new)
        }
        fn pass_password_on(&mut self, password: &str) {
            self.passed_on = Some(password.to_string());
        }
    }

    /// The service, scripted: one reply per request, every request recorded.
    #[derive(Default)]
    struct FakeService {
        replies: VecDeque<Result<Value, Trouble>>,
        requests: Vec<Value>,
    }

    impl Verifier for &mut FakeService {
        fn exchange(&mut self, request: &Request) -> Result<Answer, Trouble> {
            let line = request.encode().unwrap();
            self.requests.push(serde_json::from_slice(&line).unwrap());
            let reply = self
                .replies
                .pop_front()
                .expect("a reply for every request")?;
            crate::protocol::parse_answer(reply.to_string().as_bytes())
                .map_err(|e| Trouble::NotAnAnswer(e.0))
        }
    }

    fn service(replies: Vec<Result<Value, Trouble>>) -> FakeService {
        FakeService {
            replies: replies.into(),
            requests: Vec::new(),
        }
    }

    fn sign_in(pam: &mut FakePam, args: &[&str], svc: &mut FakeService) -> Verdict {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        run(pam, &args, |_| svc)
    }

    fn code_required() -> Result<Value, Trouble> {
        Ok(
            json!({"result":"code_required","methods":["authenticator"],"message":"Type your code."}),
        )
    }

    fn accepted() -> Result<Value, Trouble> {
        Ok(json!({"result":"accepted","mfa":"verified","method":"authenticator","message":"ok"}))
    }

    fn down() -> Result<Value, Trouble> {
        Err(Trouble::Connect(io::Error::from_raw_os_error(
            libc::ECONNREFUSED,
        )))
    }

    #[test]
    fn a_code_is_asked_for_and_sent() {
        let mut pam = FakePam::new().answering(&[" 123456 "]);
        let mut svc = service(vec![code_required(), accepted()]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Success);
        assert_eq!(pam.prompts, ["Verification code: "]);
        assert!(pam.shown.is_empty());
        assert_eq!(
            svc.requests,
            [
                json!({"op":"verify","mode":"code-only","username":"alice","service":"sshd","rhost":"10.0.0.5","tty":"ssh"}),
                json!({"op":"verify","mode":"code-only","username":"alice","code":"123456","service":"sshd","rhost":"10.0.0.5","tty":"ssh"}),
            ]
        );
    }

    #[test]
    fn accepted_without_a_code_is_silent_except_for_grace() {
        for mfa in ["mfa_off", "not_configured", "integration", "something_new"] {
            let mut pam = FakePam::new();
            let mut svc = service(vec![Ok(json!({"result":"accepted","mfa":mfa}))]);
            assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Success, "{mfa}");
            assert!(pam.shown.is_empty() && pam.prompts.is_empty(), "{mfa}");
        }
        let mut pam = FakePam::new();
        let mut svc = service(vec![Ok(
            json!({"result":"accepted","mfa":"grace","grace_days_left":4}),
        )]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Success);
        assert_eq!(
            pam.shown(),
            [
                "Info: Multi-factor authentication is required: configure it in the console within 4 days."
            ]
        );
    }

    #[test]
    fn a_recovery_code_says_how_many_are_left() {
        let mut pam = FakePam::new().answering(&["ABCD-EFGH"]);
        let mut svc = service(vec![
            code_required(),
            Ok(
                json!({"result":"accepted","mfa":"verified","method":"recovery","recovery_codes_left":3}),
            ),
        ]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Success);
        assert_eq!(pam.shown(), ["Info: A recovery code was used; 3 are left."]);
    }

    #[test]
    fn a_refusal_shows_the_services_message() {
        let mut pam = FakePam::new().answering(&["000000"]);
        let mut svc = service(vec![
            code_required(),
            Ok(
                json!({"result":"refused","message":"Sign-in refused: the username, password or code is not right."}),
            ),
        ]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(
            pam.shown(),
            ["Error: Sign-in refused: the username, password or code is not right."]
        );
    }

    #[test]
    fn an_unknown_user_is_refused_after_the_same_prompt_or_ignored() {
        let unknown = || Ok(json!({"result":"refused","reason":"unknown_user","message":"x"}));
        let mut pam = FakePam::new().answering(&["123456"]);
        let mut svc = service(vec![unknown()]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(pam.prompts, ["Verification code: "]);
        assert_eq!(
            pam.shown(),
            [format!("Error: {}", strings::GENERIC_REFUSAL)]
        );
        assert_eq!(svc.requests.len(), 1, "the code is not sent");

        let mut pam = FakePam::new();
        let mut svc = service(vec![unknown()]);
        assert_eq!(
            sign_in(&mut pam, &["unknown=ignore"], &mut svc),
            Verdict::Ignore
        );
        assert!(pam.prompts.is_empty() && pam.shown.is_empty());
    }

    #[test]
    fn locked_and_enroll_required_are_told() {
        let mut pam = FakePam::new();
        let mut svc = service(vec![Ok(
            json!({"result":"locked","until":"2026-12-01T12:34:56Z","message":"Locked."}),
        )]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(
            pam.shown(),
            ["Error: This account is locked until 2026-12-01 12:34:56 UTC."]
        );

        let mut pam = FakePam::new().answering(&["123456"]);
        let mut svc = service(vec![
            code_required(),
            Ok(json!({"result":"locked","until":"2026-12-01T12:34:56Z"})),
        ]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(pam.shown.len(), 1);

        let mut pam = FakePam::new();
        let mut svc = service(vec![Ok(
            json!({"result":"enroll_required","message":"Configure MFA in the console first."}),
        )]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(pam.shown(), ["Error: Configure MFA in the console first."]);
    }

    #[test]
    fn enter_asks_for_an_emailed_code_then_prompts_once_more() {
        let mut pam = FakePam::new().answering(&["", "654321"]);
        let mut svc = service(vec![
            Ok(
                json!({"result":"code_required","methods":["authenticator","email"],"email":"a•••@example.com"}),
            ),
            Ok(
                json!({"result":"code_sent","email":"a•••@example.com","expires":"2026-12-01T12:44:56Z"}),
            ),
            accepted(),
        ]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Success);
        assert_eq!(pam.prompts, ["Verification code: ", "Verification code: "]);
        assert_eq!(
            pam.shown(),
            [
                "Info: Type the code from your authenticator app, or press Enter to get a code by email at a•••@example.com.",
                "Info: A code was sent to a•••@example.com.",
            ]
        );
        assert_eq!(svc.requests[1]["op"], "email-code");
        assert_eq!(svc.requests[1].get("code"), None);
        assert_eq!(svc.requests[2]["code"], "654321");
    }

    #[test]
    fn a_second_empty_answer_ends_it() {
        let mut pam = FakePam::new().answering(&["", ""]);
        let mut svc = service(vec![
            Ok(json!({"result":"code_required","email":"a•••@example.com"})),
            Ok(json!({"result":"throttled","retry_after":12})),
        ]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(pam.prompts.len(), 2);
        assert_eq!(
            pam.shown()[1..],
            [
                "Error: A code was sent a moment ago; ask for another in 12 seconds.",
                "Error: No code was entered.",
            ]
        );
        assert_eq!(svc.requests.len(), 2);
    }

    #[test]
    fn without_an_email_an_empty_answer_is_no_code() {
        let mut pam = FakePam::new().answering(&["  "]);
        let mut svc = service(vec![code_required()]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(pam.shown(), ["Error: No code was entered."]);
        assert_eq!(svc.requests.len(), 1);
    }

    #[test]
    fn a_conversation_that_fails_is_a_conversation_error() {
        let mut pam = FakePam::new();
        let mut svc = service(vec![code_required()]);
        assert_eq!(
            sign_in(&mut pam, &[], &mut svc),
            Verdict::ConversationFailed
        );
    }

    #[test]
    fn unreachable_fails_closed_with_the_one_message_and_a_log_line() {
        let mut pam = FakePam::new();
        let mut svc = service(vec![down()]);
        assert_eq!(
            sign_in(&mut pam, &["socket=/run/x.sock"], &mut svc),
            Verdict::Refused
        );
        assert_eq!(
            pam.shown(),
            ["Error: The verification service is not reachable; ask your administrator."]
        );
        assert_eq!(
            pam.logged,
            [(
                Priority::Error,
                "verification service at /run/x.sock (user alice, service sshd): connect: Connection refused (os error 111); refusing (fail=closed)".to_string()
            )]
        );
    }

    #[test]
    fn fail_open_lets_in_only_when_the_service_is_down() {
        let mut pam = FakePam::new();
        let mut svc = service(vec![down()]);
        assert_eq!(
            sign_in(&mut pam, &["fail=open"], &mut svc),
            Verdict::Success
        );
        assert!(pam.shown.is_empty());
        assert_eq!(pam.logged.len(), 1);
        assert_eq!(pam.logged[0].0, Priority::Warning);
        assert!(
            pam.logged[0]
                .1
                .ends_with("letting the user in without a second factor (fail=open)")
        );

        // Gone in the middle of the sign-in, after asking for a code: refused, so the
        // code prompt cannot be skipped by making the service fail.
        let mut pam = FakePam::new().answering(&["123456"]);
        let mut svc = service(vec![code_required(), Err(Trouble::Closed)]);
        assert_eq!(
            sign_in(&mut pam, &["fail=open"], &mut svc),
            Verdict::Refused
        );
        let mut pam = FakePam::new().answering(&["123456"]);
        let mut svc = service(vec![
            code_required(),
            Ok(json!({"result":"error","status":503,"message":"busy"})),
        ]);
        assert_eq!(
            sign_in(&mut pam, &["fail=open"], &mut svc),
            Verdict::Refused
        );

        // Up, with an answer this module does not know: not opened.
        let mut pam = FakePam::new();
        let mut svc = service(vec![Ok(json!({"result":"password_expired"}))]);
        assert_eq!(
            sign_in(&mut pam, &["fail=open"], &mut svc),
            Verdict::Refused
        );

        // Up, and refusing the request as bad: not opened.
        let mut pam = FakePam::new();
        let mut svc = service(vec![Ok(
            json!({"result":"error","status":400,"message":"username too long"}),
        )]);
        assert_eq!(
            sign_in(&mut pam, &["fail=open"], &mut svc),
            Verdict::Refused
        );
        assert_eq!(pam.shown(), [format!("Error: {}", strings::UNREACHABLE)]);
        assert!(pam.logged[0].1.contains("error 400: username too long"));

        // Up but overloaded: not opened either.
        let mut pam = FakePam::new();
        let mut svc = service(vec![Ok(
            json!({"result":"error","status":503,"message":"busy"}),
        )]);
        assert_eq!(
            sign_in(&mut pam, &["fail=open"], &mut svc),
            Verdict::Refused
        );
    }

    #[test]
    fn errors_and_answers_out_of_place_are_treated_as_unreachable() {
        for reply in [
            json!({"result":"error","status":503,"message":"database busy"}),
            json!({"result":"code_sent","email":"a•••@example.com"}),
            json!({"result":"password_expired"}),
        ] {
            let mut pam = FakePam::new();
            let mut svc = service(vec![Ok(reply.clone())]);
            assert_eq!(
                sign_in(&mut pam, &[], &mut svc),
                Verdict::Refused,
                "{reply}"
            );
            assert_eq!(pam.shown(), [format!("Error: {}", strings::UNREACHABLE)]);
            assert_eq!(pam.logged.len(), 1);
        }
        // Asked for a code again after one was sent.
        let mut pam = FakePam::new().answering(&["123456"]);
        let mut svc = service(vec![code_required(), code_required()]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert_eq!(pam.prompts.len(), 1);
    }

    #[test]
    fn bad_options_refuse_without_asking_the_service() {
        let mut pam = FakePam::new();
        let mut svc = service(vec![]);
        assert_eq!(
            sign_in(&mut pam, &["fail=open", "debug"], &mut svc),
            Verdict::Refused
        );
        assert!(svc.requests.is_empty());
        assert_eq!(pam.shown(), [format!("Error: {}", strings::MISCONFIGURED)]);
        assert_eq!(pam.logged.len(), 1);
        assert!(pam.logged[0].1.starts_with("unknown option \"debug\""));
    }

    #[test]
    fn password_and_code_prompts_for_the_password_and_passes_it_on() {
        let mut pam = FakePam::new().answering(&["s3cret", "123456"]);
        let mut svc = service(vec![code_required(), accepted()]);
        assert_eq!(
            sign_in(&mut pam, &["mode=password-and-code"], &mut svc),
            Verdict::Success
        );
        assert_eq!(pam.prompts, ["Password: ", "Verification code: "]);
        assert_eq!(pam.passed_on.as_deref(), Some("s3cret"));
        for r in &svc.requests {
            assert_eq!(r["password"], "s3cret");
            assert_eq!(r["mode"], "password-and-code");
        }
    }

    #[test]
    fn use_first_pass_takes_the_earlier_password_or_refuses() {
        let mut pam = FakePam::new();
        pam.authtok = Some("from-unix".into());
        let mut svc = service(vec![Ok(json!({"result":"accepted","mfa":"mfa_off"}))]);
        assert_eq!(
            sign_in(
                &mut pam,
                &["mode=password-and-code", "use_first_pass"],
                &mut svc
            ),
            Verdict::Success
        );
        assert!(pam.prompts.is_empty());
        assert_eq!(pam.passed_on, None);
        assert_eq!(svc.requests[0]["password"], "from-unix");

        let mut pam = FakePam::new();
        let mut svc = service(vec![]);
        assert_eq!(
            sign_in(
                &mut pam,
                &["mode=password-and-code", "use_first_pass"],
                &mut svc
            ),
            Verdict::Refused
        );
        assert!(svc.requests.is_empty());
        assert!(pam.logged[0].1.starts_with("use_first_pass: no password"));
    }

    #[test]
    fn no_username_is_refused() {
        let mut pam = FakePam::new();
        pam.username = None;
        let mut svc = service(vec![]);
        assert_eq!(sign_in(&mut pam, &[], &mut svc), Verdict::Refused);
        assert!(svc.requests.is_empty());
    }

    #[test]
    fn long_context_is_cut_on_a_character_boundary() {
        let s = cut("é".repeat(200));
        assert!(s.len() <= MAX_CONTEXT);
        assert_eq!(s.chars().count(), 127);
    }
}
