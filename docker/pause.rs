//! `lf-pause`: the namespace owner of a compose "pod".
//!
//! Each LearnFlow service and its daprd sidecar join the network namespace of one
//! long-lived container running this program, as a Kubernetes pod's containers join its
//! pause container. When the app container crashes and Docker restarts it, it comes back
//! in the same namespace as its sidecar (joining the app's own namespace, the sidecar
//! would be left behind in the old one and the flow would stall).
//!
//! It sleeps until SIGTERM or SIGINT and then exits 0. As PID 1 of its container it must
//! install handlers itself: the kernel ignores signals PID 1 has not asked for. Built by
//! docker/Dockerfile with plain `rustc` (std only, statically linked), like `lf-probe`.

use std::sync::atomic::{AtomicBool, Ordering};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

static STOP: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn pause() -> i32;
}

extern "C" fn on_stop(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        signal(SIGTERM, on_stop);
        signal(SIGINT, on_stop);
    }
    while !STOP.load(Ordering::SeqCst) {
        // SAFETY: pause(2) has no preconditions; it returns after any handled signal.
        unsafe {
            pause();
        }
    }
}
