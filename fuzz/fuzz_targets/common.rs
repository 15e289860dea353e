// Shared by the parser targets: limits small enough that one input cannot spend
// libFuzzer's whole time budget, large enough to reach every code path.
use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use folio_common::model::{DocumentFormat, ParsedDocument};
use folio_ingest::parse::{parse, ParseLimits};

pub fn limits() -> ParseLimits {
    ParseLimits {
        max_input_bytes: 4 * 1024 * 1024,
        max_unzipped_bytes: 32 * 1024 * 1024,
        max_pages: 500,
        max_output_chars: 2_000_000,
        max_parse_time: Duration::from_secs(2),
        ..ParseLimits::default()
    }
}

/// pdf-extract panics on some malformed files; the PDF parser contains that with
/// `catch_unwind`. libFuzzer's panic hook would abort on the contained panic too,
/// so the hook is made silent: a panic that escapes the parser still aborts (the
/// fuzz harness catches it and reports a crash).
pub fn contain_library_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static DUMP_PATH: OnceLock<CString> = OnceLock::new();

/// Writes the input that overflowed the stack to `fuzz/artifacts/<target>/overflow-input`.
///
/// A stack overflow kills the process with SIGSEGV before libFuzzer can save the
/// input: its handler runs on the exhausted stack. This handler runs on an
/// alternate stack and uses only async-signal-safe calls.
extern "C" fn dump_input_on_segv(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    const MESSAGE: &[u8] = b"==folio-fuzz== SIGSEGV (stack overflow?): input written to fuzz/artifacts\n";
    // SAFETY: the pointer and length describe libFuzzer's current input, which
    // outlives the call that faulted; open/write/close/_exit are
    // async-signal-safe.
    unsafe {
        if let Some(path) = DUMP_PATH.get() {
            let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                let data = INPUT.load(Ordering::SeqCst);
                let len = INPUT_LEN.load(Ordering::SeqCst);
                if !data.is_null() {
                    libc::write(fd, data.cast(), len);
                }
                libc::close(fd);
            }
        }
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(139);
    }
}

/// Installs [`dump_input_on_segv`] (once) and records `data` as the input under test.
pub fn record_input(target: &str, data: &[u8]) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let path = format!("fuzz/artifacts/{target}/overflow-input");
        let _ = DUMP_PATH.set(CString::new(path).unwrap_or_default());
        const ALT_STACK: usize = 1 << 16;
        let stack: &'static mut [u8] = Box::leak(vec![0u8; ALT_STACK].into_boxed_slice());
        // SAFETY: the alternate stack is leaked, so it lives as long as the process.
        unsafe {
            let alt = libc::stack_t {
                ss_sp: stack.as_mut_ptr().cast(),
                ss_flags: 0,
                ss_size: ALT_STACK,
            };
            libc::sigaltstack(&alt, std::ptr::null_mut());
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = dump_input_on_segv as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
        }
    });
    INPUT.store(data.as_ptr().cast_mut(), Ordering::SeqCst);
    INPUT_LEN.store(data.len(), Ordering::SeqCst);
}

/// Parses and checks what every parser promises: pages cover the text in order,
/// heading and table hints point inside it.
pub fn parse_and_check(format: DocumentFormat, data: &[u8]) -> Option<ParsedDocument> {
    contain_library_panics();
    record_input(&format!("parse_{format:?}").to_lowercase(), data);
    let doc = parse(format, data, &limits()).ok()?;
    // Offsets are bytes and must fall on character boundaries.
    let text = &doc.text;
    let on_boundary = |at: usize| at <= text.len() && text.is_char_boundary(at);
    let mut at = 0;
    for page in &doc.pages {
        assert!(
            page.start >= at
                && page.start <= page.end
                && on_boundary(page.start)
                && on_boundary(page.end),
            "page {page:?} of {} bytes",
            text.len()
        );
        at = page.end;
    }
    for hint in &doc.headings {
        assert!(
            hint.start <= hint.end && on_boundary(hint.start) && on_boundary(hint.end),
            "heading hint {hint:?}"
        );
    }
    Some(doc)
}
