//! The `lumlab` binary: parse the command line, run the command, print one
//! clear line on error.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> std::process::ExitCode {
    // Training re-allocates the same large tensors every step: keep freed pages for reuse.
    lumlab::util::alloc::keep_freed_memory();
    match lumlab::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", lumlab::util::one_line_error(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
