use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything this process creates (database, key file, outbox messages) is private.
    mfa_console::cli::restrict_umask();
    // Output piped into `head` ends quietly, as with other Unix tools.
    mfa_console::cli::default_sigpipe();
    mfa_console::cli::main()
}
