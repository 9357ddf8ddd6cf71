//! The `ammc` command-line tool.

fn main() -> std::process::ExitCode {
    ammc::cli::main()
}
