use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything this process creates (database, key file, outbox messages) is private.
    mfa_console::cli::restrict_umask();
    mfa_console::cli::main()
}
